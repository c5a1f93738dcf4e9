//! The `ndbc` source: polls `<base>/data/realtime2/<STATION>.<ext>` for each station and each
//! product of the configured kinds (SPEC §3a), and, with `--stations all`, follows every station
//! through `<base>/data/latest_obs/latest_obs.txt`.
//!
//! **Every station** (`all_stations`): one conditional GET of `latest_obs.txt` per interval gives
//! the newest standard meteorological row of every reporting station (stored as observations)
//! and its position (stored in the station table). A station seen there for the first time has
//! its own files fetched once, for history; afterwards only the kinds other than `observation`
//! are polled per station (`latest_obs.txt` carries the observations).
//!
//! **Spectra:** a station's five spectral files are fetched like the others; the rows of each
//! are kept in memory, and whenever one of them changes the five are joined on time and stored,
//! so a spectrum whose late file arrives in a later poll is updated (new seq, republished).
//! **Absent products:** a 404 for a station's file of a kind other than `observation` (most
//! stations publish only some products) is remembered for [`ABSENT_RETRY`] before that file is
//! asked for again.
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

use ::ndbc::Product;

use super::{FileEntries, FileOutcome, IngestError, ingest_file, read_product_file, read_spectra};
use crate::bus::Bus;
use crate::domain::{KindSet, Observation, StationId};
use crate::retry::{Backoff, jitter};
use crate::store::Store;

/// Attempts per fetch before giving up until the next interval.
pub const FETCH_ATTEMPTS: u32 = 3;
/// Longest wait between two attempts of one fetch.
const FETCH_RETRY_MAX: Duration = Duration::from_secs(30);
/// How often station metadata is refreshed.
const METADATA_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// How long a station's product file that NDBC does not have (404) is left alone.
pub const ABSENT_RETRY: Duration = Duration::from_secs(24 * 3600);
/// Lease key of the `latest_obs.txt` poll, so that one ingest process fetches it per interval.
const LATEST_OBS_LEASE: &str = "LATEST-OBS";

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

/// Cache validators of the last good response of a file.
#[derive(Debug, Clone, Default)]
struct Validators {
    etag: Option<String>,
    last_modified: Option<String>,
}

/// What the source remembers of one station's files.
#[derive(Debug, Default)]
struct StationFiles {
    /// The rows of each spectral file last read (joined into spectra on every change).
    spectral: HashMap<Product, Vec<::ndbc::Entry>>,
    /// Products NDBC answered 404 for, and when.
    absent: HashMap<Product, std::time::Instant>,
}

/// A file fetched: its body and validators, or why there is none.
enum Fetched {
    Body(bytes::Bytes, Validators),
    NotModified,
    NotFound,
}

/// Polls NDBC.
#[derive(Debug)]
pub struct NdbcSource {
    config: NdbcConfig,
    client: reqwest::Client,
    validators: Mutex<HashMap<(StationId, Product), Validators>>,
    /// Per station: the parsed rows of its spectral files and the products NDBC lacks.
    stations: Mutex<HashMap<StationId, StationFiles>>,
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
            stations: Mutex::new(HashMap::new()),
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

    /// Polls one station's standard meteorological file once, with retries: fetches, parses,
    /// stores and publishes; the outcome is logged and counted (`ingest_fetches_total{result}`).
    pub async fn poll_station(
        &self,
        station: &StationId,
        store: &dyn Store,
        bus: &dyn Bus,
    ) -> Result<FetchOutcome, FetchError> {
        self.poll_product(station, Product::Stdmet, store, bus)
            .await
    }

    /// Polls one product file of a station once (spectral files: stored joined with the
    /// station's other spectral files), with retries; logged and counted like
    /// [`Self::poll_station`].
    pub async fn poll_product(
        &self,
        station: &StationId,
        product: Product,
        store: &dyn Store,
        bus: &dyn Bus,
    ) -> Result<FetchOutcome, FetchError> {
        let mut attempt = 1;
        loop {
            match self.try_poll_product(station, product, store, bus).await {
                Err(e) if e.is_retryable() && attempt < FETCH_ATTEMPTS => {
                    let delay =
                        Backoff::new(self.config.retry_base, FETCH_RETRY_MAX).delay(attempt);
                    tracing::info!(event = "ndbc_fetch_retry", stationId = %station, file = product.extension(), attempt, error = %e, delayMs = delay.as_millis() as u64, "fetch failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => {
                    log_product_outcome(station, product, &other);
                    return other;
                }
            }
        }
    }

    /// Polls every product file of the configured kinds of a station once (`observations`:
    /// whether to include its standard meteorological file). Products NDBC lacks are skipped
    /// for [`ABSENT_RETRY`]. Returns the outcome of each file polled.
    pub async fn poll_kinds(
        &self,
        station: &StationId,
        observations: bool,
        store: &dyn Store,
        bus: &dyn Bus,
    ) -> Vec<(Product, Result<FetchOutcome, FetchError>)> {
        let mut outcomes = Vec::new();
        for product in self.products(observations) {
            if self.known_absent(station, product) {
                continue;
            }
            let outcome = self.poll_product(station, product, store, bus).await;
            if product != Product::Stdmet && matches!(outcome, Ok(FetchOutcome::NotFound)) {
                self.lock_stations()
                    .entry(station.clone())
                    .or_default()
                    .absent
                    .insert(product, std::time::Instant::now());
            }
            outcomes.push((product, outcome));
        }
        outcomes
    }

    /// The product files of the configured kinds, `.txt` first (or left out).
    fn products(&self, observations: bool) -> Vec<Product> {
        self.config
            .kinds
            .kinds()
            .flat_map(|kind| kind.products().iter().copied())
            .filter(|p| observations || *p != Product::Stdmet)
            .collect()
    }

    fn known_absent(&self, station: &StationId, product: Product) -> bool {
        self.lock_stations()
            .get(station)
            .and_then(|s| s.absent.get(&product))
            .is_some_and(|since| since.elapsed() < ABSENT_RETRY)
    }

    /// One attempt of [`Self::poll_product`].
    async fn try_poll_product(
        &self,
        station: &StationId,
        product: Product,
        store: &dyn Store,
        bus: &dyn Bus,
    ) -> Result<FetchOutcome, FetchError> {
        let key = (station.clone(), product);
        let url = self.url(&format!("data/realtime2/{station}.{}", product.extension()));
        let (body, validators) = match self.fetch(&url, &key).await? {
            Fetched::NotModified => return Ok(FetchOutcome::NotModified),
            Fetched::NotFound => return Ok(FetchOutcome::NotFound),
            Fetched::Body(body, validators) => (body, validators),
        };
        let outcome = if product == Product::Stdmet {
            ingest_file(store, bus, station, &body).await?
        } else if product.kind() == ::ndbc::Kind::Spectrum {
            self.ingest_spectral(station, product, &body, store, bus)
                .await?
        } else {
            let rows = read_product_file(station, product, &body, chrono::Utc::now())
                .map_err(IngestError::from)?;
            store_rows(rows, store, bus)
                .await
                .map_err(IngestError::from)?
        };
        // Remembered only once stored: a failed store is fetched again in full next time.
        self.lock_validators().insert(key, validators);
        Ok(FetchOutcome::Fetched(outcome))
    }

    /// Stores the spectra of a station after one of its spectral files changed: the file's rows
    /// replace those kept for it, and the rows of all its spectral files are joined.
    async fn ingest_spectral(
        &self,
        station: &StationId,
        product: Product,
        body: &[u8],
        store: &dyn Store,
        bus: &dyn Bus,
    ) -> Result<FileOutcome, IngestError> {
        let parsed = ::ndbc::parse_product(product, body)?;
        let skipped = parsed.skipped.len();
        metrics::counter!("ingest_rows_skipped_total").increment(skipped as u64);
        let parts: Vec<::ndbc::Entry> = {
            let mut stations = self.lock_stations();
            let files = stations.entry(station.clone()).or_default();
            // Kept even if storing fails below: the next poll fetches the file in full again
            // (its validators are kept only after the store) and sets it again.
            files.spectral.insert(product, parsed.records);
            files.spectral.values().flatten().cloned().collect()
        };
        let mut rows = read_spectra(station, parts, chrono::Utc::now());
        rows.skipped = skipped;
        store_rows(rows, store, bus)
            .await
            .map_err(IngestError::from)
    }

    /// A conditional GET of `url` with the validators kept under `key`.
    async fn fetch(&self, url: &str, key: &(StationId, Product)) -> Result<Fetched, FetchError> {
        let known = self.lock_validators().get(key).cloned().unwrap_or_default();
        let mut request = self.client.get(url);
        if let Some(etag) = &known.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(modified) = &known.last_modified {
            request = request.header(IF_MODIFIED_SINCE, modified);
        }
        let response = request.send().await?;
        match response.status() {
            StatusCode::NOT_MODIFIED => return Ok(Fetched::NotModified),
            StatusCode::NOT_FOUND => return Ok(Fetched::NotFound),
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
        Ok(Fetched::Body(body, validators))
    }

    fn lock_stations(&self) -> std::sync::MutexGuard<'_, HashMap<StationId, StationFiles>> {
        self.stations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Polls `<base>/data/latest_obs/latest_obs.txt` once: stores the newest observation of every
    /// station in it and every station's position; returns the stations it names (`None` when
    /// the file has not changed since the last poll).
    pub async fn poll_latest_obs(
        &self,
        store: &dyn Store,
        bus: &dyn Bus,
    ) -> Result<Option<Vec<StationId>>, FetchError> {
        let key = (latest_obs_key(), Product::Stdmet);
        let url = self.url("data/latest_obs/latest_obs.txt");
        let (body, validators) = match self.fetch(&url, &key).await? {
            Fetched::NotModified => return Ok(None),
            Fetched::NotFound => return Err(FetchError::Status(StatusCode::NOT_FOUND)),
            Fetched::Body(body, validators) => (body, validators),
        };
        let parsed = ::ndbc::parse_latest_obs(&body).map_err(IngestError::from)?;
        metrics::counter!("ingest_rows_skipped_total").increment(parsed.skipped.len() as u64);
        let now = chrono::Utc::now();
        let mut stations = Vec::with_capacity(parsed.records.len());
        let mut positions = Vec::with_capacity(parsed.records.len());
        let mut observations = Vec::with_capacity(parsed.records.len());
        let mut rejected = 0usize;
        for row in &parsed.records {
            let Ok(station) = StationId::parse_ndbc(&row.station) else {
                rejected += 1;
                continue;
            };
            // Only the position: the other columns are left as the station list set them.
            positions.push(::ndbc::StationMeta {
                id: station.as_str().to_owned(),
                name: None,
                latitude: row.latitude,
                longitude: row.longitude,
                elevation_m: None,
                owner: None,
                program: None,
                station_type: None,
                has_met: true,
                has_currents: false,
                has_water_quality: false,
                is_dart: false,
            });
            let observation = Observation::from_ndbc(station.clone(), &row.record);
            match observation.validate(now) {
                Ok(()) => observations.push(observation),
                Err(_) => rejected += 1,
            }
            stations.push(station);
        }
        store
            .upsert_stations(&positions)
            .await
            .map_err(IngestError::from)?;
        let stored = super::store_and_publish(store, bus, &observations)
            .await
            .map_err(IngestError::from)?;
        metrics::counter!("ingest_observations_stored_total").increment(stored as u64);
        tracing::info!(
            event = "ndbc_latest_obs_fetched",
            stations = stations.len(),
            stored,
            rejected,
            skipped = parsed.skipped.len(),
            "latest observations of every station ingested"
        );
        self.lock_validators().insert(key, validators);
        Ok(Some(stations))
    }

    fn lock_validators(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(StationId, Product), Validators>> {
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

    /// Polls every station once per interval until cancelled (and, with `all_stations`,
    /// `latest_obs.txt` once per interval, every station it names fetched once at first sight).
    pub async fn run(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        cancel: CancellationToken,
    ) {
        let poller = Poller {
            source: self.clone(),
            store,
            bus,
            cancel,
            permits: Arc::new(Semaphore::new(self.config.concurrency.max(1))),
        };
        let mut tasks = JoinSet::new();
        let n = self.config.stations.len().max(1) as u32;
        for (i, station) in self.config.stations.iter().cloned().enumerate() {
            // Spread the stations over the interval so they are not all fetched at once.
            let first = self
                .config
                .interval
                .mul_f64(f64::from(i as u32) / f64::from(n))
                .min(Duration::from_secs(30));
            tasks.spawn(poller.clone().station_loop(station, first, true));
        }
        if self.config.all_stations {
            tasks.spawn(poller.clone().latest_obs_loop());
        }
        tasks.spawn(poller.metadata_loop());
        while tasks.join_next().await.is_some() {}
    }
}

/// What the polling loops share.
#[derive(Clone)]
struct Poller {
    source: Arc<NdbcSource>,
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    cancel: CancellationToken,
    /// Fetches in flight at once, over every loop.
    permits: Arc<Semaphore>,
}

impl Poller {
    /// Polls one station's files of the configured kinds (its `.txt` too when `observations`)
    /// every interval, after `first`, until cancelled.
    async fn station_loop(self, station: StationId, first: Duration, observations: bool) {
        let mut wait = first;
        loop {
            tokio::select! {
                () = self.cancel.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = jitter(self.source.config.interval, 0.1);
            // One ingest process per station and interval (duplicates would be harmless).
            if !self
                .source
                .acquire_lease(&station, self.store.as_ref())
                .await
            {
                continue;
            }
            self.poll(&station, observations).await;
        }
    }

    /// Polls one station's files once, within the concurrency bound; `false` when cancelled.
    async fn poll(&self, station: &StationId, observations: bool) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        tokio::select! {
            () = self.cancel.cancelled() => false,
            _ = self.source.poll_kinds(station, observations, self.store.as_ref(), self.bus.as_ref()) => true,
        }
    }

    /// Follows every station through `latest_obs.txt`: one poll per interval; a station named
    /// for the first time has its files fetched once (history), and then, when kinds other
    /// than `observation` are configured, those files polled every interval.
    async fn latest_obs_loop(self) {
        let others = self.source.products(false);
        let lease = latest_obs_key();
        let mut seen: std::collections::HashSet<StationId> =
            self.source.config.stations.iter().cloned().collect();
        let mut stations = JoinSet::new();
        let mut wait = Duration::ZERO;
        loop {
            tokio::select! {
                () = self.cancel.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = jitter(self.source.config.interval, 0.1);
            if !self.source.acquire_lease(&lease, self.store.as_ref()).await {
                continue;
            }
            let polled = tokio::select! {
                () = self.cancel.cancelled() => return,
                polled = self.source.poll_latest_obs(self.store.as_ref(), self.bus.as_ref()) => polled,
            };
            let named = match polled {
                Ok(Some(named)) => named,
                Ok(None) => continue,
                Err(e) => {
                    metrics::counter!("ingest_fetches_total", "result" => "error").increment(1);
                    tracing::warn!(event = "ndbc_latest_obs_failed", error = %e, "latest_obs.txt poll failed; trying again next interval");
                    continue;
                }
            };
            let new: Vec<StationId> = named
                .into_iter()
                .filter(|s| seen.insert(s.clone()))
                .collect();
            if !new.is_empty() {
                tracing::info!(
                    event = "ndbc_stations_discovered",
                    count = new.len(),
                    "new stations in latest_obs.txt; fetching their history"
                );
            }
            for station in new {
                let poller = self.clone();
                let follow = !others.is_empty();
                stations.spawn(async move {
                    // History at first sight (its `.txt` and every configured kind) ...
                    if !poller.poll(&station, true).await {
                        return;
                    }
                    // ... then the other kinds every interval (`latest_obs.txt` carries the
                    // observations).
                    if follow {
                        let first = jitter(poller.source.config.interval, 0.1);
                        poller.station_loop(station, first, false).await;
                    }
                });
            }
            while stations.try_join_next().is_some() {}
        }
    }

    /// Refreshes station metadata daily until cancelled.
    async fn metadata_loop(self) {
        loop {
            match self.source.refresh_metadata(self.store.as_ref()).await {
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
                () = self.cancel.cancelled() => return,
                () = tokio::time::sleep(METADATA_INTERVAL) => {}
            }
        }
    }
}

/// The key under which `latest_obs.txt`'s validators are kept.
fn latest_obs_key() -> StationId {
    StationId::parse(LATEST_OBS_LEASE).unwrap_or_else(|_| unreachable!("a valid id"))
}

/// Stores and publishes the rows of one file; what it contributed.
async fn store_rows(
    rows: FileEntries,
    store: &dyn Store,
    bus: &dyn Bus,
) -> Result<FileOutcome, crate::store::StoreError> {
    let stored = super::store_and_publish_entries(store, bus, &rows.entries)
        .await?
        .len();
    metrics::counter!("ingest_entries_stored_total").increment(stored as u64);
    Ok(FileOutcome {
        parsed: rows.parsed,
        skipped: rows.skipped,
        rejected: rows.rejected,
        stored,
    })
}

/// Logs and counts the outcome of one product file's poll (the `.txt` file as
/// [`log_outcome`]).
fn log_product_outcome(
    station: &StationId,
    product: Product,
    result: &Result<FetchOutcome, FetchError>,
) {
    if product == Product::Stdmet {
        return log_outcome(station, result);
    }
    let file = product.extension();
    match result {
        Ok(FetchOutcome::Fetched(o)) => {
            metrics::counter!("ingest_fetches_total", "result" => "fetched").increment(1);
            tracing::info!(event = "ndbc_fetched", stationId = %station, file, parsed = o.parsed, skipped = o.skipped, rejected = o.rejected, stored = o.stored, "station file ingested");
        }
        Ok(FetchOutcome::NotModified) => {
            metrics::counter!("ingest_fetches_total", "result" => "not_modified").increment(1);
            tracing::debug!(event = "ndbc_not_modified", stationId = %station, file, "station file unchanged");
        }
        Ok(FetchOutcome::NotFound) => {
            metrics::counter!("ingest_fetches_total", "result" => "not_found").increment(1);
            tracing::debug!(event = "ndbc_not_found", stationId = %station, file, "NDBC has no such file for this station; asked again in a day");
        }
        Err(_) => log_outcome(station, result),
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
