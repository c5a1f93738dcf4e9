//! Parsers for NOAA National Data Buoy Center (NDBC) files: standard
//! meteorological observation files (`realtime2/<ID>.txt` and the
//! historical `stdmet` archive) and the `activestations.xml` station list.
//!
//! Both parsers work on byte slices, never panic on any input, and report
//! problems as values: a malformed file is an `Err`, a malformed data row is
//! kept in [`Parsed::skipped`] while every other row is still returned.
//!
//! ```
//! let text = "#YY  MM DD hh mm WDIR WSPD GST  WVHT   DPD   APD MWD   PRES  ATMP  WTMP  DEWP  VIS PTDY  TIDE\n\
//!             #yr  mo dy hr mn degT m/s  m/s     m   sec   sec degT   hPa  degC  degC  degC  nmi  hPa    ft\n\
//!             2018 08 01 15 00 150  7.0  8.0    MM    MM    MM  MM 1023.0    MM  28.0    MM   MM +0.6    MM\n";
//! let parsed = ndbc::parse_realtime(text.as_bytes()).expect("a stdmet file");
//! let row = &parsed.records[0];
//! assert_eq!(row.time.to_string(), "2018-08-01 15:00:00");
//! assert_eq!(row.wind_speed_mps, Some(7.0));
//! assert_eq!(row.wave_height_m, None); // `MM`
//! assert_eq!(row.pressure_tendency_hpa, Some(0.6));
//! assert!(parsed.skipped.is_empty());
//! ```

mod engine;
pub mod kind;
pub mod latest_obs;
pub mod payload;
mod products;
pub mod realtime;
pub mod spectrum;
pub mod stations;

pub use kind::{Kind, Product, UnknownKind};
pub use latest_obs::{LatestObs, parse_latest_obs};
pub use payload::{
    ContinuousWind, CurrentBin, Currents, Derived, Drift, Entry, Ocean, Payload, Rain,
    SolarRadiation, Supplemental, Tsunami, WaveSummary,
};
pub use products::parse_product;
pub use realtime::{ParseError, Parsed, Record, RowError, parse_realtime};
pub use spectrum::{Spectrum, join_spectra};
pub use stations::{StationMeta, StationsError, parse_active_stations};
