//! The store: the durable, totally ordered log of observations, behind one small trait.
//!
//! `seq` is assigned inside the write transaction and is strictly increasing in commit order,
//! so "everything after seq N" is a complete answer once N has been seen.

mod health;
mod postgres;
mod sql;
mod sqlite;
mod url;
mod writer_thread;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{
    Entry, KindSet, Observation, Seq, Station, StationFilter, StationId, StoredEntry,
    StoredObservation,
};

use health::WRITE_PROBE;
pub use health::{FAILURE_MEMORY, StoreFault, WriteHealth};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use url::StoreKind;

/// How many rows a batch amounts to once repeated (station, kind, timestamp) keys are merged.
pub fn normalised_len(batch: &[Entry]) -> usize {
    sql::normalise_batch(batch).len()
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or answered with an error.
    #[error("store unavailable: {0}")]
    Unavailable(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("store migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row held data the domain types reject (should never happen for rows we wrote).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database could not be opened at start-up; the message names it (password redacted),
    /// the cause and, where there is one, the fix.
    #[error("{0}")]
    Open(String),
}

/// "Observations after seq N", optionally narrowed.
#[derive(Debug, Clone, Default)]
pub struct AfterQuery {
    /// Exclusive lower bound.
    pub after: Seq,
    /// Inclusive upper bound, if any.
    pub until: Option<Seq>,
    /// Only these stations.
    pub stations: Option<StationFilter>,
    /// Only observations measured at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// At most this many rows.
    pub limit: u32,
    /// Only these kinds (by default `observation` alone).
    pub kinds: KindSet,
}

/// History of one station, newest first.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    /// The station.
    pub station: StationId,
    /// Inclusive lower bound on the measurement time.
    pub from: Option<DateTime<Utc>>,
    /// Inclusive upper bound on the measurement time.
    pub to: Option<DateTime<Utc>>,
    /// At most this many rows.
    pub limit: u32,
    /// Only these kinds.
    pub kinds: KindSet,
}

/// Station metadata to record (from NDBC `activestations.xml`).
pub type StationMeta = ndbc::StationMeta;

/// The ordered log and the station registry.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Cheap read round trip, for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Whether a write would commit now, for readiness checks: `Err` with the kind of fault
    /// when a real write failed within [`FAILURE_MEMORY`] and none has succeeded since, or when
    /// a small probe write (committed, changing nothing) fails.
    async fn check_writable(&self) -> Result<(), StoreFault>;

    /// Stores a batch of entries of any kinds: new (station, kind, timestamp) keys are inserted,
    /// rows whose values (or fields document) changed are updated and get a new seq, identical
    /// rows are left alone. Returns what was stored, in seq order (empty when nothing was new).
    /// Rows are applied oldest first.
    async fn insert_entries(&self, batch: &[Entry]) -> Result<Vec<StoredEntry>, StoreError>;

    /// [`Store::insert_entries`] for a batch of observations.
    async fn insert_observations(
        &self,
        batch: &[Observation],
    ) -> Result<Vec<StoredObservation>, StoreError> {
        let stored = self
            .insert_entries(&sql::observation_entries(batch))
            .await?;
        Ok(stored
            .into_iter()
            .filter_map(StoredEntry::into_observation)
            .collect())
    }

    /// Entries of the query's kinds with `seq > after` (and the other conditions), oldest first.
    async fn entries_after(&self, query: &AfterQuery) -> Result<Vec<StoredEntry>, StoreError>;

    /// Observations with `seq > after` (and the other conditions), oldest first, whatever the
    /// query's kinds.
    async fn observations_after(
        &self,
        query: &AfterQuery,
    ) -> Result<Vec<StoredObservation>, StoreError> {
        let query = AfterQuery {
            kinds: KindSet::OBSERVATION,
            ..query.clone()
        };
        let entries = self.entries_after(&query).await?;
        Ok(entries
            .into_iter()
            .filter_map(StoredEntry::into_observation)
            .collect())
    }

    /// If more than `max` observations match `query` (ignoring its limit), the seq after which
    /// exactly the newest `max` of them lie; `None` when all of them fit.
    async fn replay_cutoff(&self, query: &AfterQuery, max: u32) -> Result<Option<Seq>, StoreError>;

    /// The highest seq stored ([`Seq::ZERO`] for an empty log).
    async fn max_seq(&self) -> Result<Seq, StoreError>;

    /// One station's entries of the query's kinds, newest first (by time, then kind).
    async fn history_entries(&self, query: &HistoryQuery) -> Result<Vec<StoredEntry>, StoreError>;

    /// One station's observations, newest first, whatever the query's kinds.
    async fn history(&self, query: &HistoryQuery) -> Result<Vec<StoredObservation>, StoreError> {
        let query = HistoryQuery {
            kinds: KindSet::OBSERVATION,
            ..query.clone()
        };
        let entries = self.history_entries(&query).await?;
        Ok(entries
            .into_iter()
            .filter_map(StoredEntry::into_observation)
            .collect())
    }

    /// The newest entry of each kind of `kinds` of each station (or of the named ones), by
    /// station id, then kind.
    async fn latest_entries(
        &self,
        stations: Option<&StationFilter>,
        kinds: KindSet,
    ) -> Result<Vec<StoredEntry>, StoreError>;

    /// The newest observation of each station (or of the named ones), by station id.
    async fn latest(
        &self,
        stations: Option<&StationFilter>,
    ) -> Result<Vec<StoredObservation>, StoreError> {
        let entries = self.latest_entries(stations, KindSet::OBSERVATION).await?;
        Ok(entries
            .into_iter()
            .filter_map(StoredEntry::into_observation)
            .collect())
    }

    /// Records station metadata; returns how many rows were written.
    async fn upsert_stations(&self, stations: &[StationMeta]) -> Result<usize, StoreError>;

    /// Stations that have observations, with their metadata where known, by id.
    async fn stations(&self) -> Result<Vec<Station>, StoreError>;

    /// One station (with metadata or observations), if known.
    async fn station(&self, id: &StationId) -> Result<Option<Station>, StoreError>;

    /// Takes (or renews) the ingest lease of a station for `ttl`: `true` when `holder` now holds
    /// it, `false` when another holder's lease has not expired yet. Several ingest processes use
    /// it so that each station is fetched by one of them per interval; duplicate work would be
    /// harmless anyway (stored rows are unique), so a lease is an economy, not a lock.
    async fn try_acquire_lease(
        &self,
        station: &StationId,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;
}

/// Stations with observations, joined with their metadata (a station without any is bare).
pub(crate) fn join_metadata(
    latest: Vec<StoredObservation>,
    metadata: Vec<Station>,
) -> Vec<Station> {
    let mut metadata: std::collections::HashMap<StationId, Station> =
        metadata.into_iter().map(|s| (s.id.clone(), s)).collect();
    latest
        .into_iter()
        .map(|o| {
            let mut station = metadata
                .remove(&o.observation.station_id)
                .unwrap_or_else(|| Station::bare(o.observation.station_id.clone()));
            station.latest = Some(o);
            station
        })
        .collect()
}

/// One station from its metadata and newest observation; `None` when neither exists.
pub(crate) fn one_station(
    id: &StationId,
    metadata: Option<Station>,
    latest: Option<StoredObservation>,
) -> Option<Station> {
    let mut station = match (metadata, &latest) {
        (Some(station), _) => station,
        (None, Some(_)) => Station::bare(id.clone()),
        (None, None) => return None,
    };
    station.latest = latest;
    Some(station)
}

/// The query for a station's newest observation.
pub(crate) fn newest(id: &StationId) -> HistoryQuery {
    HistoryQuery {
        station: id.clone(),
        from: None,
        to: None,
        limit: 1,
        kinds: KindSet::OBSERVATION,
    }
}
