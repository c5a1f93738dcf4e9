//! What the two SQL backends share: the observation and station columns, the upsert statement
//! (built from each dialect's placeholders and null-safe comparison), batch normalisation, and
//! row decoding. Each backend file keeps only its dialect (placeholders, filters, time columns)
//! and its transaction rules.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::StoreError;
use crate::domain::{Observation, Seq, Station, StationId, StoredObservation};
use crate::domain::{VALUE_COLUMNS, VALUE_COUNT};

/// Columns of an observation row, in the order [`observation`] reads them.
pub(super) fn columns() -> String {
    format!("seq, station_id, observed_at, {}", VALUE_COLUMNS.join(", "))
}

/// Columns of a station row, in the order [`station`] reads them.
pub(super) const STATION_COLUMNS: &str =
    "id, name, latitude, longitude, elevation_m, station_type, owner, program";

/// Insert-or-update of one observation, returning a row only when something was written.
/// `placeholder(n)` is the dialect's n-th parameter (`?n`, `$n`); `distinct` its null-safe
/// "differs from" operator (`IS NOT`, `IS DISTINCT FROM`). Parameters: 1 the seq, 2 the station,
/// 3 the time, then the values in contract order.
pub(super) fn upsert(placeholder: fn(usize) -> String, distinct: &str) -> String {
    let values = (0..VALUE_COUNT)
        .map(|i| placeholder(i + 4))
        .collect::<Vec<_>>();
    let set = VALUE_COLUMNS
        .map(|c| format!("{c} = excluded.{c}"))
        .join(", ");
    let changed = VALUE_COLUMNS
        .map(|c| format!("observations.{c} {distinct} excluded.{c}"))
        .join(" OR ");
    format!(
        "INSERT INTO observations ({}) VALUES ({}, {}, {}, {}) \
         ON CONFLICT (station_id, observed_at) DO UPDATE SET seq = excluded.seq, {set} \
         WHERE {changed} RETURNING seq",
        columns(),
        placeholder(1),
        placeholder(2),
        placeholder(3),
        values.join(", ")
    )
}

/// Keeps the last occurrence of each (station, timestamp) and orders oldest first.
pub(super) fn normalise_batch(batch: &[Observation]) -> Vec<&Observation> {
    let mut by_key: HashMap<(&StationId, DateTime<Utc>), &Observation> = HashMap::new();
    for o in batch {
        by_key.insert((&o.station_id, o.timestamp), o);
    }
    let mut rows: Vec<_> = by_key.into_values().collect();
    rows.sort_by(|a, b| (a.timestamp, &a.station_id).cmp(&(b.timestamp, &b.station_id)));
    rows
}

/// A station id read back from the store.
fn station_id(id: &str) -> Result<StationId, StoreError> {
    StationId::parse(id).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// An observation row (columns as [`columns`]); `timestamp` is the row's time, which each
/// dialect stores its own way.
pub(super) fn observation<'r, R>(
    row: &'r R,
    timestamp: DateTime<Utc>,
) -> Result<StoredObservation, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<f64>: Decode<'r, R::Database> + Type<R::Database>,
{
    let seq: i64 = row.try_get(0)?;
    let station: String = row.try_get(1)?;
    let mut values = [None; VALUE_COUNT];
    for (i, v) in values.iter_mut().enumerate() {
        *v = row.try_get(3 + i)?;
    }
    Ok(StoredObservation {
        seq: Seq::new(seq),
        observation: Observation::from_values(station_id(&station)?, timestamp, values),
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
