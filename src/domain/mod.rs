//! Domain types: parsed at the edge, so raw strings never reach the store, the bus or the hub.

mod address_ranges;
mod entry;
mod observation;
mod seq;
mod station;
mod station_id;
mod timestamp;

pub use address_ranges::{AddressRanges, AddressRangesError, TrustedProxies};
pub(crate) use entry::WithSeq;
pub use entry::{
    Entry, Fields, FieldsError, Kind, KindEntry, KindSet, KindSetError, MAX_FIELDS_BYTES,
    StoredEntry, checked_fields, stored_schema_name, take_member,
};
pub use observation::{
    MAX_AHEAD, Observation, ObservationKind, StoredObservation, VALUE_COLUMNS, VALUE_COUNT,
    VALUE_NAMES, VALUE_RANGES, Violation, ViolationReason,
};
pub use seq::Seq;
pub use station::Station;
pub use station_id::{MAX_FILTER_STATIONS, StationFilter, StationId, StationIdError};
pub(crate) use timestamp::wire as timestamp_wire;
pub use timestamp::{format_timestamp, parse_timestamp, write_timestamp};
