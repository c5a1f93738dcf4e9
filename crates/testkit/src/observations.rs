//! Observations for tests: fixed times, values that tell observations apart, and comparable keys.

use buoycast::domain::{Observation, StationId, StoredObservation, VALUE_COUNT};
use chrono::{DateTime, TimeZone, Utc};

/// A time `minutes` after 2025-11-15 12:00 UTC.
pub fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 11, 15, 12, 0, 0)
        .single()
        .expect("valid time")
        + chrono::Duration::minutes(minutes)
}

/// An observation whose wave height encodes `n`, so tests can tell observations apart.
pub fn obs(station: &str, minutes: i64) -> Observation {
    let mut values = [None; VALUE_COUNT];
    values[0] = Some((minutes % 300) as f64 / 10.0);
    values[4] = Some(1013.2);
    Observation::from_values(
        StationId::parse(station).expect("station"),
        at(minutes),
        values,
    )
}

/// Stored observations as (seq, station, timestamp) for comparisons.
pub fn keys(stored: &[StoredObservation]) -> Vec<(i64, String)> {
    stored
        .iter()
        .map(|s| (s.seq.get(), s.observation.station_id.to_string()))
        .collect()
}
