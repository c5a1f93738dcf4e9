//! The `ndbc` source: polls `<base>/data/realtime2/<STATION>.txt` for each station.
//!
//! Conditional requests (ETag / Last-Modified), a timeout per request, up to
//! [`FETCH_ATTEMPTS`] attempts with exponential backoff and jitter on network errors and 5xx,
//! bounded concurrency, and one poll per station per interval (spread with jitter).
//!
//! A station's validators are kept only once its rows are committed: after a failed store
//! write the next poll fetches the whole file again (not a 304), so nothing is left behind.
//! Station ids are NDBC's own (`<STATION>.txt`); anything else in the station list is skipped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{FileOutcome, IngestError, ingest_file};
use crate::bus::Bus;
use crate::domain::{KindSet, StationId};
use crate::retry::{Backoff, jitter};
use crate::store::Store;

/// Attempts per fetch before giving up until the next interval.
pub const FETCH_ATTEMPTS: u32 = 3;
/// Longest wait between two attempts of one fetch.
const FETCH_RETRY_MAX: Duration = Duration::from_secs(30);
/// How often station metadata is refreshed.
const METADATA_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// Settings of the NDBC source.
#[derive(Debug, Clone)]
pub struct NdbcConfig {
    /// Base URL, e.g. `https://www.ndbc.noaa.gov` (no trailing slash needed).
    pub base_url: String,
    /// Stations to poll.
    pub stations: Vec<StationId>,
    /// Follow every station NDBC reports through `latest_obs.txt` (besides `stations`).
    pub all_stations: bool,
    /// Kinds to fetch: the realtime2 files of each of them, per station.
    pub kinds: KindSet,
    /// Time between two polls of one station.
    pub interval: Duration,
    /// Fetches in flight at once.
    pub concurrency: usize,
    /// Time limit of one request, body included.
    pub timeout: Duration,
    /// First retry delay (doubled per attempt, with jitter).
    pub retry_base: Duration,
}

/// The result of one poll of one station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// A new file was read.
    Fetched(FileOutcome),
    /// The file has not changed since the last poll (304).
    NotModified,
    /// NDBC has no such file (404): the station reports no standard meteorological data.
    NotFound,
}

/// Why a poll failed (after its retries).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Network error, timeout, or a body cut short.
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// An unexpected status.
    #[error("unexpected status {0}")]
    Status(StatusCode),
    /// The file could not be stored.
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

impl FetchError {
    fn is_retryable(&self) -> bool {
        match self {
            Self::Http(_) => true,
            Self::Status(s) => s.is_server_error() || *s == StatusCode::TOO_MANY_REQUESTS,
            Self::Ingest(_) => false,
        }
    }
}

/// Cache validators of the last good response of a station.
#[derive(Debug, Clone, Default)]
struct Validators {
    etag: Option<String>,
    last_modified: Option<String>,
}

/// Polls NDBC.
#[derive(Debug)]
pub struct NdbcSource {
    config: NdbcConfig,
    client: reqwest::Client,
    validators: Mutex<HashMap<StationId, Validators>>,
    /// This process's name in the store's ingest leases (random per process), so that several
    /// ingest processes share the stations instead of all fetching each one.
    holder: String,
}

impl NdbcSource {
    /// A source with its own HTTP client. Stations whose ids are not NDBC ids (so that
    /// `<STATION>.txt` cannot be an NDBC file name) are skipped with a warning.
    pub fn new(mut config: NdbcConfig) -> anyhow::Result<Self> {
        config.stations.retain(|station| {
            let ndbc = StationId::parse_ndbc(station.as_str());
            if let Err(e) = &ndbc {
                tracing::warn!(event = "ndbc_station_skipped", stationId = %station, reason = %e, "not an NDBC station id; not polled");
            }
            ndbc.is_ok()
        });
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("buoycast/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            config,
            client,
            validators: Mutex::new(HashMap::new()),
            holder: format!(
                "ingest-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            ),
        })
    }

    /// The stations this source polls: those of its configuration that are NDBC ids.
    pub fn stations(&self) -> &[StationId] {
        &self.config.stations
    }

    /// This source's lease holder id.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Takes the station's lease for one interval; `false` (logged) when another ingest
    /// process holds it or the store cannot be asked (the next interval tries again).
    pub async fn acquire_lease(&self, station: &StationId, store: &dyn Store) -> bool {
        match store
            .try_acquire_lease(station, &self.holder, self.config.interval)
            .await
        {
            Ok(true) => true,
            Ok(false) => {
                tracing::debug!(event = "ndbc_lease_held", stationId = %station, "another ingest process polls this station in this interval");
                false
            }
            Err(e) => {
                tracing::warn!(event = "ndbc_lease_failed", stationId = %station, error = %e, "store unavailable; polling again next interval");
                false
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.config.base_url.trim_end_matches('/'))
    }

    /// Polls one station once, with retries: fetches, parses, stores and publishes; the outcome
    /// is logged and counted (`ingest_fetches_total{result}`).
    pub async fn poll_station(
        &self,
        station: &StationId,
        store: &dyn Store,
        bus: &dyn Bus,
    ) -> Result<FetchOutcome, FetchError> {
        let mut attempt = 1;
        loop {
            match self.try_poll_station(station, store, bus).await {
                Err(e) if e.is_retryable() && attempt < FETCH_ATTEMPTS => {
                    let delay =
                        Backoff::new(self.config.retry_base, FETCH_RETRY_MAX).delay(attempt);
                    tracing::info!(event = "ndbc_fetch_retry", stationId = %station, attempt, error = %e, delayMs = delay.as_millis() as u64, "fetch failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => {
                    log_outcome(station, &other);
                    return other;
                }
            }
        }
    }

    /// One attempt of [`Self::poll_station`].
    async fn try_poll_station(
        &self,
        station: &StationId,
        store: &dyn Store,
        bus: &dyn Bus,
    ) -> Result<FetchOutcome, FetchError> {
        let url = self.url(&format!("data/realtime2/{station}.txt"));
        let known = self
            .lock_validators()
            .get(station)
            .cloned()
            .unwrap_or_default();
        let mut request = self.client.get(&url);
        if let Some(etag) = &known.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(modified) = &known.last_modified {
            request = request.header(IF_MODIFIED_SINCE, modified);
        }
        let response = request.send().await?;
        match response.status() {
            StatusCode::NOT_MODIFIED => return Ok(FetchOutcome::NotModified),
            StatusCode::NOT_FOUND => return Ok(FetchOutcome::NotFound),
            s if !s.is_success() => return Err(FetchError::Status(s)),
            _ => {}
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let validators = Validators {
            etag: header(ETAG),
            last_modified: header(LAST_MODIFIED),
        };
        let body = response.bytes().await?;
        let outcome = ingest_file(store, bus, station, &body)
            .await
            .map_err(FetchError::from)?;
        // Remembered only once stored: a failed store is fetched again in full next time.
        self.lock_validators().insert(station.clone(), validators);
        Ok(FetchOutcome::Fetched(outcome))
    }

    fn lock_validators(&self) -> std::sync::MutexGuard<'_, HashMap<StationId, Validators>> {
        self.validators
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Fetches and stores station metadata from `<base>/activestations.xml`.
    pub async fn refresh_metadata(&self, store: &dyn Store) -> anyhow::Result<usize> {
        let response = self
            .client
            .get(self.url("activestations.xml"))
            .send()
            .await?;
        let response = response.error_for_status()?;
        let body = response.bytes().await?;
        let stations = ::ndbc::parse_active_stations(&body)?;
        Ok(store.upsert_stations(&stations).await?)
    }

    /// Polls every station once per interval until cancelled.
    pub async fn run(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        cancel: CancellationToken,
    ) {
        let permits = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let mut tasks = JoinSet::new();
        let n = self.config.stations.len().max(1) as u32;
        for (i, station) in self.config.stations.iter().cloned().enumerate() {
            // Spread the stations over the interval so they are not all fetched at once.
            let first = self
                .config
                .interval
                .mul_f64(f64::from(i as u32) / f64::from(n))
                .min(Duration::from_secs(30));
            let (source, store, bus, cancel, permits) = (
                self.clone(),
                store.clone(),
                bus.clone(),
                cancel.clone(),
                permits.clone(),
            );
            tasks.spawn(async move {
                let mut wait = first;
                loop {
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(wait) => {}
                    }
                    wait = jitter(source.config.interval, 0.1);
                    // One ingest process per station and interval (duplicates would be harmless).
                    if !source.acquire_lease(&station, store.as_ref()).await {
                        continue;
                    }
                    let Ok(_permit) = permits.acquire().await else {
                        return;
                    };
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        _ = source.poll_station(&station, store.as_ref(), bus.as_ref()) => {}
                    }
                }
            });
        }
        let metadata = {
            let (source, store, cancel) = (self.clone(), store.clone(), cancel.clone());
            async move {
                loop {
                    match source.refresh_metadata(store.as_ref()).await {
                        Ok(n) => tracing::info!(
                            event = "stations_loaded",
                            count = n,
                            "station metadata refreshed"
                        ),
                        Err(e) => {
                            tracing::warn!(event = "stations_load_failed", error = %e, "fetching station metadata failed")
                        }
                    }
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(METADATA_INTERVAL) => {}
                    }
                }
            }
        };
        tasks.spawn(metadata);
        while tasks.join_next().await.is_some() {}
    }
}

fn log_outcome(station: &StationId, result: &Result<FetchOutcome, FetchError>) {
    let label = match result {
        Ok(FetchOutcome::Fetched(_)) => "fetched",
        Ok(FetchOutcome::NotModified) => "not_modified",
        Ok(FetchOutcome::NotFound) => "not_found",
        Err(FetchError::Ingest(IngestError::Store(_))) => "store_failed",
        Err(_) => "error",
    };
    metrics::counter!("ingest_fetches_total", "result" => label).increment(1);
    match result {
        Ok(FetchOutcome::Fetched(o)) => {
            tracing::info!(event = "ndbc_fetched", stationId = %station, parsed = o.parsed, skipped = o.skipped, rejected = o.rejected, stored = o.stored, "station file ingested")
        }
        Ok(FetchOutcome::NotModified) => {
            tracing::debug!(event = "ndbc_not_modified", stationId = %station, "station file unchanged")
        }
        Ok(FetchOutcome::NotFound) => {
            tracing::warn!(event = "ndbc_not_found", stationId = %station, "NDBC has no realtime2 file for this station")
        }
        Err(FetchError::Ingest(IngestError::Store(e))) => {
            metrics::counter!("ingest_store_failures_total", "source" => "ndbc").increment(1);
            tracing::error!(event = "ndbc_store_failed", stationId = %station, error = %e, "storing the station file failed; nothing of it was stored, the next poll fetches it again")
        }
        Err(e) => {
            tracing::warn!(event = "ndbc_fetch_failed", stationId = %station, error = %e, "station poll failed")
        }
    }
}
