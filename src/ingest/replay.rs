//! The `replay` source: a directory of realtime2 files played forward in time order.
//!
//! Every `<STATION>.txt` in the directory is parsed; all rows are merged and released in
//! observation-time order, the first at once and each later one after its time difference
//! divided by the speed factor (speed 0: no waiting). A pause longer than [`MAX_PAUSE`] of
//! observation time (files from different periods) is shortened to it, so a directory of files
//! from several years still plays without hours of silence. An `activestations.xml` in the
//! directory is loaded as station metadata.
//!
//! Only files named as NDBC names them (`<STATION>.txt`) are played, and their rows pass the same
//! validation as published ones. A store write that fails is retried with [`STORE_RETRY`] until
//! it succeeds (or the replay is cancelled): the same rows, so nothing is skipped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::{read_file, store_and_publish};
use crate::bus::Bus;
use crate::domain::{KindSet, Observation, StationId};
use crate::retry::Backoff;
use crate::store::Store;

/// Longest stretch of observation time without data that is played as it is.
pub const MAX_PAUSE: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// Settings of the replay source.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// Directory of `<STATION>.txt` files.
    pub dir: PathBuf,
    /// Observation time passes this many times faster than real time; 0 = as fast as possible.
    pub speed: f64,
    /// Kinds to play (their files in the directory).
    pub kinds: KindSet,
}

/// The station metadata file a replay directory may hold beside the station files.
const METADATA_FILE: &str = "activestations.xml";

/// Waits between attempts of a store write that failed: 0.5 s doubling, at most 30 s.
pub const STORE_RETRY: Backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));

/// Reads every station file of the directory: valid observations sorted by time (then
/// station). Entries not named `<STATION>.txt`, and files that are not standard meteorological
/// files, are skipped with a warning.
pub fn load_dir(dir: &Path) -> anyhow::Result<Vec<Observation>> {
    let now = Utc::now();
    let mut observations = Vec::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    let mut files: Vec<(StationId, PathBuf)> = Vec::new();
    for path in paths {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.as_deref() == Some(METADATA_FILE) {
            continue;
        }
        match name.as_deref().map(StationId::from_ndbc_file_name) {
            Some(Ok(station)) if path.is_file() => files.push((station, path)),
            Some(Err(e)) => {
                tracing::warn!(event = "replay_file_skipped", file = %path.display(), reason = %e, "not a station file; only <STATION>.txt is replayed")
            }
            _ => {
                tracing::warn!(event = "replay_file_skipped", file = %path.display(), "not a regular file")
            }
        }
    }
    for (station, path) in files {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        match read_file(&station, &bytes, now) {
            Ok(rows) => observations.extend(rows.observations),
            Err(e) => {
                tracing::warn!(event = "replay_file_skipped", file = %path.display(), error = %e, "not a standard meteorological file");
            }
        }
    }
    observations.sort_by(|a, b| (a.timestamp, &a.station_id).cmp(&(b.timestamp, &b.station_id)));
    Ok(observations)
}

/// Loads `activestations.xml` from the directory, if there is one.
async fn load_metadata(dir: &Path, store: &dyn Store) {
    let path = dir.join(METADATA_FILE);
    let Ok(bytes) = tokio::fs::read(&path).await else {
        return;
    };
    match ::ndbc::parse_active_stations(&bytes) {
        Ok(stations) => match store.upsert_stations(&stations).await {
            Ok(n) => tracing::info!(
                event = "stations_loaded",
                count = n,
                "station metadata loaded"
            ),
            Err(e) => {
                tracing::warn!(event = "stations_load_failed", error = %e, "storing station metadata failed")
            }
        },
        Err(e) => {
            tracing::warn!(event = "stations_load_failed", error = %e, "unreadable activestations.xml")
        }
    }
}

/// Plays the directory once; returns how many observations were newly stored.
pub async fn run(
    config: ReplayConfig,
    store: &dyn Store,
    bus: &dyn Bus,
    cancel: CancellationToken,
) -> anyhow::Result<usize> {
    load_metadata(&config.dir, store).await;
    let observations = load_dir(&config.dir)?;
    tracing::info!(event = "replay_started", observations = observations.len(), dir = %config.dir.display(), speed = config.speed, "replay started");
    let Some(first) = observations.first().map(|o| o.timestamp) else {
        return Ok(0);
    };
    let started = tokio::time::Instant::now();
    let mut stored = 0;
    // Observation time played so far, with long pauses shortened.
    let (mut played, mut previous) = (chrono::TimeDelta::zero(), first);
    // Rows already due are stored together (one transaction), up to BATCH rows at a time.
    let mut pending: &[Observation] = &[];
    let mut start = 0;
    for group in observations.chunk_by(|a, b| a.timestamp == b.timestamp) {
        played += (group[0].timestamp - previous).min(MAX_PAUSE);
        previous = group[0].timestamp;
        let due = started + offset(first, first + played, config.speed);
        let end = start + group.len();
        if due > tokio::time::Instant::now() || pending.len() >= BATCH {
            let Some(new) = flush(store, bus, pending, &cancel).await else {
                return Ok(stored);
            };
            stored += new;
            tokio::select! {
                () = cancel.cancelled() => return Ok(stored),
                () = tokio::time::sleep_until(due) => {}
            }
            pending = &observations[start..end];
        } else {
            pending = &observations[end - group.len() - pending.len()..end];
        }
        start = end;
        if cancel.is_cancelled() {
            return Ok(stored);
        }
    }
    let Some(new) = flush(store, bus, pending, &cancel).await else {
        return Ok(stored);
    };
    stored += new;
    tracing::info!(event = "replay_finished", stored, "replay finished");
    Ok(stored)
}

/// Most rows stored in one transaction when several are due at once.
const BATCH: usize = 1000;

/// Stores and publishes a run of due rows; returns how many were new, or `None` when cancelled.
/// A failed write stored nothing, so the same rows are written again after a [`STORE_RETRY`]
/// wait, until the store takes them.
async fn flush(
    store: &dyn Store,
    bus: &dyn Bus,
    rows: &[Observation],
    cancel: &CancellationToken,
) -> Option<usize> {
    let Some(first) = rows.first().map(|o| o.timestamp) else {
        return Some(0);
    };
    let mut failures = 0;
    loop {
        match store_and_publish(store, bus, rows).await {
            Ok(new) => {
                metrics::counter!("ingest_observations_stored_total").increment(new as u64);
                if failures > 0 {
                    tracing::info!(
                        event = "replay_store_recovered",
                        failures,
                        rows = rows.len(),
                        "the store takes writes again; replay goes on"
                    );
                }
                return Some(new);
            }
            Err(e) => {
                failures += 1;
                metrics::counter!("ingest_store_failures_total", "source" => "replay").increment(1);
                let delay = STORE_RETRY.delay(failures);
                tracing::warn!(
                    event = "replay_store_failed",
                    rows = rows.len(),
                    from = %crate::domain::format_timestamp(first),
                    attempt = failures,
                    delayMs = delay.as_millis() as u64,
                    error = %e,
                    "storing replayed observations failed; retrying the same rows"
                );
                tokio::select! {
                    () = cancel.cancelled() => return None,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// Real time after the start at which an observation taken at `at` is released.
fn offset(first: DateTime<Utc>, at: DateTime<Utc>, speed: f64) -> Duration {
    if speed <= 0.0 || !speed.is_finite() {
        return Duration::ZERO;
    }
    let secs = (at - first).num_milliseconds().max(0) as f64 / 1000.0 / speed;
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::parse_timestamp;

    #[test]
    fn offsets_scale_with_speed() {
        let a = parse_timestamp("2025-01-01T00:00:00Z").unwrap();
        let b = parse_timestamp("2025-01-01T00:10:00Z").unwrap();
        assert_eq!(offset(a, b, 60.0), Duration::from_secs(10));
        assert_eq!(offset(a, b, 0.0), Duration::ZERO);
        assert_eq!(offset(b, a, 60.0), Duration::ZERO);
    }
}
