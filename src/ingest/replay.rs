//! The `replay` source: a directory of realtime2 files of every kind played forward in time order.
//!
//! Every `<STATION>.<ext>` file of a product whose kind was asked for (`--kinds`) is parsed; a
//! station's spectral files (`.data_spec`, `.swdir`, `.swdir2`, `.swr1`, `.swr2`, any of them) are
//! joined into `spectrum` entries. All entries are merged and released in time order (then
//! station, then kind), the first at once and each later one after its time difference divided
//! by the speed factor (speed 0: no waiting). A pause longer than [`MAX_PAUSE`] of observation
//! time (files from different periods) is shortened to it, so a directory of files from several
//! years still plays without hours of silence. An `activestations.xml` in the directory is
//! loaded as station metadata.
//!
//! Only files named as NDBC names them are played, and their rows pass the same validation as
//! published ones; files of kinds not asked for are ignored, unreadable ones skipped with a
//! warning. A store write that fails is retried with [`STORE_RETRY`] until it succeeds (or the
//! replay is cancelled): the same rows, so nothing is skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::{read_product_file, read_spectra, read_spectral_file, store_and_publish_entries};
use crate::bus::Bus;
use crate::domain::{Entry, Kind, KindSet, Observation, StationId};
use crate::retry::Backoff;
use crate::store::Store;

/// Longest stretch of observation time without data that is played as it is.
pub const MAX_PAUSE: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// Settings of the replay source.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// Directory of realtime2 files (`<STATION>.<ext>`, e.g. `44013.txt`, `44013.swdir`).
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

/// Reads the standard meteorological files of the directory: valid observations sorted by time
/// (then station). [`load_entries`] with only the `observation` kind.
pub fn load_dir(dir: &Path) -> anyhow::Result<Vec<Observation>> {
    Ok(load_entries(dir, KindSet::OBSERVATION)?
        .into_iter()
        .filter_map(|entry| match entry {
            Entry::Observation(o) => Some(o),
            Entry::Other(_) => None,
        })
        .collect())
}

/// Reads every product file of the directory whose kind is in `kinds`: valid entries sorted by
/// time, then station, then kind. Spectral files are joined per station. Entries not named
/// `<STATION>.<ext>` of a known product, and files that cannot be parsed as their product, are
/// skipped with a warning; files of other kinds are ignored.
pub fn load_entries(dir: &Path, kinds: KindSet) -> anyhow::Result<Vec<Entry>> {
    let now = Utc::now();
    let mut entries = Vec::new();
    // The parsed rows of each station's spectral files, joined once all are read.
    let mut spectral: BTreeMap<StationId, Vec<::ndbc::Entry>> = BTreeMap::new();
    for (station, product, path) in product_files(dir, kinds)? {
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!(event = "replay_file_skipped", file = %path.display(), error = %e, "unreadable file");
                continue;
            }
        };
        if product.kind() == Kind::Spectrum {
            match read_spectral_file(&station, product, &bytes) {
                Ok(rows) => spectral.entry(station).or_default().extend(rows),
                Err(e) => {
                    tracing::warn!(event = "replay_file_skipped", file = %path.display(), error = %e, "not a {} file", product.extension());
                }
            }
            continue;
        }
        match read_product_file(&station, product, &bytes, now) {
            Ok(read) => entries.extend(read.entries),
            Err(e) => {
                tracing::warn!(event = "replay_file_skipped", file = %path.display(), error = %e, "not a {} file", product.extension());
            }
        }
    }
    for (station, parts) in spectral {
        entries.extend(read_spectra(&station, parts, now).entries);
    }
    entries.sort_by(|a, b| {
        (a.timestamp(), a.station_id(), a.kind()).cmp(&(b.timestamp(), b.station_id(), b.kind()))
    });
    Ok(entries)
}

/// The files of the directory to play, by name: station, product and path, in name order.
fn product_files(
    dir: &Path,
    kinds: KindSet,
) -> anyhow::Result<Vec<(StationId, ::ndbc::Product, PathBuf)>> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.as_deref() == Some(METADATA_FILE) {
            continue;
        }
        if !path.is_file() {
            tracing::warn!(event = "replay_file_skipped", file = %path.display(), "not a regular file");
            continue;
        }
        match name.as_deref().and_then(product_file) {
            Some((station, product)) if kinds.contains(product.kind()) => {
                files.push((station, product, path));
            }
            Some((_, product)) => {
                tracing::debug!(event = "replay_file_ignored", file = %path.display(), kind = %product.kind(), "a kind not replayed");
            }
            None => {
                tracing::warn!(event = "replay_file_skipped", file = %path.display(), "not a station file; only <STATION>.<product> files as NDBC names them are replayed");
            }
        }
    }
    Ok(files)
}

/// The station and product of a file named as NDBC names them: `<STATION>.<ext>`, an NDBC
/// station id and a known product's extension (any case).
pub fn product_file(name: &str) -> Option<(StationId, ::ndbc::Product)> {
    let (station, product) = ::ndbc::Product::split_file_name(name)?;
    Some((StationId::parse_ndbc(station).ok()?, product))
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

/// Plays the directory once; returns how many entries were newly stored.
pub async fn run(
    config: ReplayConfig,
    store: &dyn Store,
    bus: &dyn Bus,
    cancel: CancellationToken,
) -> anyhow::Result<usize> {
    load_metadata(&config.dir, store).await;
    let entries = load_entries(&config.dir, config.kinds)?;
    tracing::info!(event = "replay_started", entries = entries.len(), kinds = %config.kinds.names().join(","), dir = %config.dir.display(), speed = config.speed, "replay started");
    let Some(first) = entries.first().map(Entry::timestamp) else {
        return Ok(0);
    };
    let started = tokio::time::Instant::now();
    let mut stored = 0;
    // Observation time played so far, with long pauses shortened.
    let (mut played, mut previous) = (chrono::TimeDelta::zero(), first);
    // Rows already due are stored together (one transaction), up to BATCH rows at a time.
    let mut pending: &[Entry] = &[];
    let mut start = 0;
    for group in entries.chunk_by(|a, b| a.timestamp() == b.timestamp()) {
        let at = group[0].timestamp();
        played += (at - previous).min(MAX_PAUSE);
        previous = at;
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
            pending = &entries[start..end];
        } else {
            pending = &entries[end - group.len() - pending.len()..end];
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
    rows: &[Entry],
    cancel: &CancellationToken,
) -> Option<usize> {
    let Some(first) = rows.first().map(Entry::timestamp) else {
        return Some(0);
    };
    let mut failures = 0;
    loop {
        match store_and_publish_entries(store, bus, rows).await {
            Ok(stored) => {
                let new = stored.len();
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
                    "storing replayed entries failed; retrying the same rows"
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
