//! What the two SQL backends share: the observation and station columns, the upsert statement
//! (built from each dialect's placeholders and null-safe comparison), batch normalisation, and
//! row decoding. Each backend file keeps only its dialect (placeholders, filters, time columns)
//! and its transaction rules.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::StoreError;
use crate::domain::{
    Entry, Fields, Kind, KindEntry, KindSet, Observation, Seq, Station, StationId, StoredEntry,
};
use crate::domain::{VALUE_COLUMNS, VALUE_COUNT};

/// Columns of a log row, in the order [`entry`] reads them.
pub(super) fn columns() -> String {
    format!(
        "seq, station_id, observed_at, {}, kind, fields",
        VALUE_COLUMNS.join(", ")
    )
}

/// A kind filter as the list of names a query binds; `None` for every kind.
pub(super) fn kind_names(kinds: KindSet) -> Option<Vec<String>> {
    (!kinds.is_all()).then(|| kinds.kinds().map(|k| k.name().to_owned()).collect())
}

/// What one log row binds besides its seq: station, kind, time, the observation values (all
/// `None` for other kinds) and the fields document (`None` for observations).
pub(super) struct RowValues<'a> {
    pub station: &'a str,
    pub kind: &'static str,
    pub values: [Option<f64>; VALUE_COUNT],
    pub fields: Option<String>,
}

impl<'a> RowValues<'a> {
    pub fn of(entry: &'a Entry) -> Self {
        match entry {
            Entry::Observation(o) => Self {
                station: o.station_id.as_str(),
                kind: Kind::Observation.name(),
                values: o.values(),
                fields: None,
            },
            Entry::Other(e) => Self {
                station: e.station_id.as_str(),
                kind: e.kind.name(),
                values: [None; VALUE_COUNT],
                fields: Some(e.fields.to_json()),
            },
        }
    }
}

/// Columns of a station row, in the order [`station`] reads them.
pub(super) const STATION_COLUMNS: &str =
    "id, name, latitude, longitude, elevation_m, station_type, owner, program";

/// Insert-or-update of one log row, returning a row only when something was written.
/// `placeholder(n)` is the dialect's n-th parameter (`?n`, `$n`); `distinct` its null-safe
/// "differs from" operator (`IS NOT`, `IS DISTINCT FROM`). Parameters: 1 the seq, 2 the station,
/// 3 the time, then the values in contract order, then the kind and the fields document.
pub(super) fn upsert(placeholder: fn(usize) -> String, distinct: &str) -> String {
    let params = (1..=VALUE_COUNT + 5)
        .map(placeholder)
        .collect::<Vec<_>>()
        .join(", ");
    let updated = VALUE_COLUMNS.iter().copied().chain(["fields"]);
    let set = updated
        .clone()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let changed = updated
        .map(|c| format!("observations.{c} {distinct} excluded.{c}"))
        .collect::<Vec<_>>()
        .join(" OR ");
    format!(
        "INSERT INTO observations ({}) VALUES ({params}) \
         ON CONFLICT (station_id, kind, observed_at) DO UPDATE SET seq = excluded.seq, {set} \
         WHERE {changed} RETURNING seq",
        columns(),
    )
}

/// Keeps the last occurrence of each (station, kind, timestamp) and orders oldest first.
pub(super) fn normalise_batch(batch: &[Entry]) -> Vec<&Entry> {
    let mut by_key: HashMap<(&StationId, Kind, DateTime<Utc>), &Entry> = HashMap::new();
    for e in batch {
        by_key.insert((e.station_id(), e.kind(), e.timestamp()), e);
    }
    let mut rows: Vec<_> = by_key.into_values().collect();
    rows.sort_by(|a, b| {
        (a.timestamp(), a.station_id(), a.kind()).cmp(&(b.timestamp(), b.station_id(), b.kind()))
    });
    rows
}

/// The entries of a batch of observations.
pub(super) fn observation_entries(batch: &[Observation]) -> Vec<Entry> {
    batch.iter().cloned().map(Entry::Observation).collect()
}

/// A station id read back from the store.
fn station_id(id: &str) -> Result<StationId, StoreError> {
    StationId::parse(id).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A log row (columns as [`columns`]); `timestamp` is the row's time, which each dialect
/// stores its own way.
pub(super) fn entry<'r, R>(row: &'r R, timestamp: DateTime<Utc>) -> Result<StoredEntry, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    Option<f64>: Decode<'r, R::Database> + Type<R::Database>,
{
    let seq: i64 = row.try_get(0)?;
    let station = station_id(&row.try_get::<String, _>(1)?)?;
    let kind: String = row.try_get(3 + VALUE_COUNT)?;
    let kind = Kind::from_name(&kind)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown kind {kind:?} at seq {seq}")))?;
    let entry = if kind == Kind::Observation {
        let mut values = [None; VALUE_COUNT];
        for (i, v) in values.iter_mut().enumerate() {
            *v = row.try_get(3 + i)?;
        }
        Entry::Observation(Observation::from_values(station, timestamp, values))
    } else {
        let fields: Option<String> = row.try_get(4 + VALUE_COUNT)?;
        let fields = Fields::parse(fields.as_deref().unwrap_or("{}"))
            .map_err(|e| StoreError::Corrupt(format!("seq {seq}: {e}")))?;
        Entry::Other(KindEntry {
            kind,
            station_id: station,
            timestamp,
            fields,
        })
    };
    Ok(StoredEntry {
        seq: Seq::new(seq),
        entry,
    })
}

/// A station row (columns as [`STATION_COLUMNS`]).
pub(super) fn station<'r, R>(row: &'r R) -> Result<Station, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    Option<f64>: Decode<'r, R::Database> + Type<R::Database>,
{
    let id: String = row.try_get(0)?;
    let mut station = Station::bare(station_id(&id)?);
    station.name = row.try_get(1)?;
    station.latitude = row.try_get(2)?;
    station.longitude = row.try_get(3)?;
    station.elevation_m = row.try_get(4)?;
    station.station_type = row.try_get(5)?;
    station.owner = row.try_get(6)?;
    station.program = row.try_get(7)?;
    Ok(station)
}
