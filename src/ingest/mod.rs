//! Ingest: turns NDBC files into stored observations and publishes what was new, after commit.

pub mod ndbc;
pub mod replay;

use chrono::{DateTime, Utc};

use crate::bus::{Bus, publish_stored};
use crate::domain::{
    Entry, Fields, KindEntry, Observation, StationId, StoredEntry, StoredObservation,
};
use crate::store::{Store, StoreError};

/// Rejected rows of one file logged one by one; the rest are summed up in one line.
const REJECTS_LOGGED_PER_FILE: usize = 5;

/// What one file contributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileOutcome {
    /// Rows read from the file.
    pub parsed: usize,
    /// Rows skipped as unreadable.
    pub skipped: usize,
    /// Rows read but refused by validation (out-of-range values, times too far ahead).
    pub rejected: usize,
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

/// The rows of one station file that may be stored.
#[derive(Debug, Clone, Default)]
pub struct FileRows {
    /// Valid observations, in file order.
    pub observations: Vec<Observation>,
    /// Rows read from the file (valid or not).
    pub parsed: usize,
    /// Rows skipped as unreadable.
    pub skipped: usize,
    /// Rows refused by [`Observation::validate`].
    pub rejected: usize,
}

/// Parses a realtime2 standard meteorological file of `station` and validates every row against
/// `now`, as the publish API does. Unreadable rows are skipped, invalid ones rejected; both are
/// counted (`ingest_rows_skipped_total`, `ingest_rows_rejected_total{reason}`) and logged.
pub fn read_file(
    station: &StationId,
    bytes: &[u8],
    now: DateTime<Utc>,
) -> Result<FileRows, ::ndbc::ParseError> {
    let parsed = ::ndbc::parse_realtime(bytes)?;
    log_skipped(station, &parsed.skipped);
    let observations = parsed
        .records
        .iter()
        .map(|r| Observation::from_ndbc(station.clone(), r));
    let (observations, rejected) = accept(station, observations, now);
    Ok(FileRows {
        observations,
        parsed: parsed.records.len(),
        skipped: parsed.skipped.len(),
        rejected,
    })
}

/// The entries of one product file (or of the joined spectral files) that may be stored.
#[derive(Debug, Clone, Default)]
pub struct FileEntries {
    /// Valid entries, in file order.
    pub entries: Vec<Entry>,
    /// Rows read from the file (valid or not).
    pub parsed: usize,
    /// Rows skipped as unreadable.
    pub skipped: usize,
    /// Rows refused by validation.
    pub rejected: usize,
}

/// Parses one realtime2 file of `station` of any product (SPEC §3a). Unreadable rows are
/// skipped (counted, `ingest_rows_skipped_total`, and logged at debug with their reason), rows
/// of a time that cannot be (before 1970, an hour ahead of `now`) and observations with values
/// out of range are rejected and counted. A spectral file gives its own array only: join the
/// parsed rows of a station's five spectral files with [`read_spectra`] instead.
pub fn read_product_file(
    station: &StationId,
    product: ::ndbc::Product,
    bytes: &[u8],
    now: DateTime<Utc>,
) -> Result<FileEntries, ::ndbc::ParseError> {
    if product == ::ndbc::Product::Stdmet {
        let rows = read_file(station, bytes, now)?;
        return Ok(FileEntries {
            entries: rows
                .observations
                .into_iter()
                .map(Entry::Observation)
                .collect(),
            parsed: rows.parsed,
            skipped: rows.skipped,
            rejected: rows.rejected,
        });
    }
    let parsed = ::ndbc::parse_product(product, bytes)?;
    log_skipped(station, &parsed.skipped);
    Ok(entries_of(
        station,
        parsed.records,
        parsed.skipped.len(),
        now,
    ))
}

/// The spectrum entries of one station from the parsed rows of its spectral files
/// (`.data_spec`, `.swdir`, `.swdir2`, `.swr1`, `.swr2`; any of them may be missing), joined on
/// time (SPEC §3a).
pub fn read_spectra(
    station: &StationId,
    parts: impl IntoIterator<Item = ::ndbc::Entry>,
    now: DateTime<Utc>,
) -> FileEntries {
    let joined = ::ndbc::join_spectra(parts);
    entries_of(station, joined, 0, now)
}

/// Parses one spectral file of `station` (`.data_spec`, `.swdir`, `.swdir2`, `.swr1` or
/// `.swr2`): its rows, each with its own array only, to be joined with the station's other
/// spectral files by [`read_spectra`]. Unreadable rows are skipped, counted and logged as by
/// [`read_product_file`].
pub fn read_spectral_file(
    station: &StationId,
    product: ::ndbc::Product,
    bytes: &[u8],
) -> Result<Vec<::ndbc::Entry>, ::ndbc::ParseError> {
    let parsed = ::ndbc::parse_product(product, bytes)?;
    log_skipped(station, &parsed.skipped);
    Ok(parsed.records)
}

fn log_skipped(station: &StationId, skipped: &[::ndbc::RowError]) {
    for row in skipped {
        tracing::debug!(event = "ndbc_row_skipped", stationId = %station, line = row.line, reason = %row.reason, "skipped a row");
    }
    metrics::counter!("ingest_rows_skipped_total").increment(skipped.len() as u64);
}

/// Parsed rows as entries of `station`, validated against `now`.
fn entries_of(
    station: &StationId,
    rows: Vec<::ndbc::Entry>,
    skipped: usize,
    now: DateTime<Utc>,
) -> FileEntries {
    let parsed = rows.len();
    let mut entries = Vec::with_capacity(parsed);
    let mut rejected = 0;
    for row in rows {
        let Some(entry) = to_entry(station, row) else {
            rejected += 1;
            continue;
        };
        match entry.validate(now) {
            Ok(()) => entries.push(entry),
            Err(problems) => {
                metrics::counter!("ingest_rows_rejected_total", "reason" => problems[0].reason.as_str())
                    .increment(1);
                tracing::debug!(event = "ingest_row_rejected", stationId = %station, kind = %entry.kind(), detail = %problems[0], "row refused by validation; skipped");
                rejected += 1;
            }
        }
    }
    FileEntries {
        entries,
        parsed,
        skipped,
        rejected,
    }
}

/// One parsed row as an entry of `station`: an observation keeps its typed values, another
/// kind its payload as the fields document. `None` (logged) if the payload cannot be one.
pub fn to_entry(station: &StationId, row: ::ndbc::Entry) -> Option<Entry> {
    let timestamp = row.time.and_utc();
    match &row.payload {
        ::ndbc::Payload::Observation(record) => Some(Entry::Observation(Observation::from_ndbc(
            station.clone(),
            record,
        ))),
        payload => match Fields::of(payload) {
            Ok(fields) => Some(Entry::Other(KindEntry {
                kind: payload.kind(),
                station_id: station.clone(),
                timestamp,
                fields,
            })),
            Err(e) => {
                tracing::warn!(event = "ingest_row_rejected", stationId = %station, kind = %payload.kind(), error = %e, "row cannot be stored; skipped");
                None
            }
        },
    }
}

/// Keeps the observations of `station` that pass validation; returns them and how many were
/// rejected. Each rejected row is counted by its first problem; the first few of a file are
/// logged one by one (station, time, field, reason), the rest in one summary line.
fn accept(
    station: &StationId,
    observations: impl Iterator<Item = Observation>,
    now: DateTime<Utc>,
) -> (Vec<Observation>, usize) {
    let mut valid = Vec::new();
    let mut rejected = 0;
    for o in observations {
        let Err(problems) = o.validate(now) else {
            valid.push(o);
            continue;
        };
        let first = &problems[0];
        metrics::counter!("ingest_rows_rejected_total", "reason" => first.reason.as_str())
            .increment(1);
        if rejected < REJECTS_LOGGED_PER_FILE {
            let detail = problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            tracing::warn!(
                event = "ingest_row_rejected",
                stationId = %station,
                timestamp = %crate::domain::format_timestamp(o.timestamp),
                field = first.field,
                reason = first.reason.as_str(),
                detail = %detail,
                "row refused by validation; skipped"
            );
        }
        rejected += 1;
    }
    if rejected > REJECTS_LOGGED_PER_FILE {
        tracing::warn!(
            event = "ingest_rows_rejected",
            stationId = %station,
            rejected,
            logged = REJECTS_LOGGED_PER_FILE,
            "more rows of this file refused by validation; skipped"
        );
    }
    (valid, rejected)
}

/// Parses a realtime2 file of `station`, stores its valid observations and publishes the new
/// ones. `Err(IngestError::Store)` means nothing of the file was stored.
pub async fn ingest_file(
    store: &dyn Store,
    bus: &dyn Bus,
    station: &StationId,
    bytes: &[u8],
) -> Result<FileOutcome, IngestError> {
    let rows = read_file(station, bytes, Utc::now())?;
    let stored = store_and_publish(store, bus, &rows.observations).await?;
    metrics::counter!("ingest_observations_stored_total").increment(stored as u64);
    Ok(FileOutcome {
        parsed: rows.parsed,
        skipped: rows.skipped,
        rejected: rows.rejected,
        stored,
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

/// Stores a batch and publishes what was new; returns what was stored. Publishing happens only
/// after the commit, and its failures are not returned (the store has the data; servers repair
/// from it): an `Err` is always the store's, and then nothing of the batch was stored.
pub async fn store_and_publish_stored(
    store: &dyn Store,
    bus: &dyn Bus,
    observations: &[Observation],
) -> Result<Vec<StoredObservation>, StoreError> {
    let stored = store.insert_observations(observations).await?;
    publish_stored(bus, stored.iter().cloned().map(StoredEntry::from).collect()).await;
    Ok(stored)
}

/// [`store_and_publish_stored`] for entries of any kinds.
pub async fn store_and_publish_entries(
    store: &dyn Store,
    bus: &dyn Bus,
    entries: &[Entry],
) -> Result<Vec<StoredEntry>, StoreError> {
    let stored = store.insert_entries(entries).await?;
    publish_stored(bus, stored.clone()).await;
    Ok(stored)
}
