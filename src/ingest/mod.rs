//! Ingest: turns NDBC files into stored observations and publishes what was new, after commit.

pub mod ndbc;
pub mod replay;

use crate::bus::{Bus, publish_stored};
use crate::domain::{Observation, StationId, StoredObservation};
use crate::store::{Store, StoreError};

/// What one file contributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileOutcome {
    /// Rows read from the file.
    pub parsed: usize,
    /// Rows skipped as unreadable.
    pub skipped: usize,
    /// Observations newly stored (or updated) and published.
    pub stored: usize,
}

/// Why a file could not be ingested.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file is not a standard meteorological file.
    #[error("unreadable file: {0}")]
    Parse(#[from] ::ndbc::ParseError),
    /// The store failed; nothing of this file was stored.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Parses a realtime2 file of `station`, stores its observations and publishes the new ones.
pub async fn ingest_file(
    store: &dyn Store,
    bus: &dyn Bus,
    station: &StationId,
    bytes: &[u8],
) -> Result<FileOutcome, IngestError> {
    let parsed = ::ndbc::parse_realtime(bytes)?;
    for row in &parsed.skipped {
        tracing::debug!(event = "ndbc_row_skipped", stationId = %station, line = row.line, reason = %row.reason, "skipped a row");
    }
    let observations: Vec<Observation> = parsed
        .records
        .iter()
        .map(|r| Observation::from_ndbc(station.clone(), r))
        .collect();
    let outcome = store_and_publish(store, bus, &observations).await?;
    metrics::counter!("ingest_observations_stored_total").increment(outcome as u64);
    metrics::counter!("ingest_rows_skipped_total").increment(parsed.skipped.len() as u64);
    Ok(FileOutcome {
        parsed: parsed.records.len(),
        skipped: parsed.skipped.len(),
        stored: outcome,
    })
}

/// Stores a batch and publishes what was new; returns how many observations that was.
pub async fn store_and_publish(
    store: &dyn Store,
    bus: &dyn Bus,
    observations: &[Observation],
) -> Result<usize, StoreError> {
    Ok(store_and_publish_stored(store, bus, observations)
        .await?
        .len())
}

/// Stores a batch and publishes what was new; returns what was stored.
pub async fn store_and_publish_stored(
    store: &dyn Store,
    bus: &dyn Bus,
    observations: &[Observation],
) -> Result<Vec<StoredObservation>, StoreError> {
    let stored = store.insert_observations(observations).await?;
    publish_stored(bus, stored.clone()).await;
    Ok(stored)
}
