//! Domain types: parsed at the edge, so raw strings never reach the store, the bus or the hub.

mod observation;
mod seq;
mod station;
mod station_id;
mod timestamp;
mod trusted_proxies;

pub use observation::{
    MAX_AHEAD, Observation, StoredObservation, VALUE_COLUMNS, VALUE_COUNT, VALUE_RANGES, Violation,
    ViolationReason,
};
pub use seq::Seq;
pub use station::Station;
pub use station_id::{MAX_FILTER_STATIONS, StationFilter, StationId, StationIdError};
pub use timestamp::{format_timestamp, parse_timestamp};
pub use trusted_proxies::{TrustedProxies, TrustedProxiesError};
