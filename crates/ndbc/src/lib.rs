//! Parsers for NOAA National Data Buoy Center (NDBC) files: standard
//! meteorological observation files (`realtime2/<ID>.txt` and the
//! historical `stdmet` archive) and the `activestations.xml` station list.
//!
//! Both parsers work on byte slices, never panic on any input, and report
//! problems as values: a malformed file is an `Err`, a malformed data row is
//! kept in [`Parsed::skipped`] while every other row is still returned.

pub mod realtime;
pub mod stations;

pub use realtime::{ParseError, Parsed, Record, RowError, parse_realtime};
pub use stations::{StationMeta, StationsError, parse_active_stations};
