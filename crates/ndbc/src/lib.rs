//! Parsers for NOAA National Data Buoy Center (NDBC) files: every realtime2 product
//! (`realtime2/<ID>.<ext>`), the network-wide `latest_obs.txt`, the historical `stdmet` archive
//! and the `activestations.xml` station list.
//!
//! | [`Product`] (extension) | [`Kind`] (SSE event name) | [`Payload`] |
//! |---|---|---|
//! | `txt` | `observation` | [`Record`] |
//! | `spec` | `waveSummary` | [`WaveSummary`] |
//! | `data_spec`, `swdir`, `swdir2`, `swr1`, `swr2` | `spectrum` | [`Spectrum`] (joined by [`join_spectra`]) |
//! | `ocean` | `ocean` | [`Ocean`] |
//! | `cwind` | `continuousWind` | [`ContinuousWind`] |
//! | `dart` | `tsunami` | [`Tsunami`] |
//! | `supl` | `supplemental` | [`Supplemental`] |
//! | `srad` | `solarRadiation` | [`SolarRadiation`] |
//! | `rain` | `rain` | [`Rain`] |
//! | `drift` | `drift` | [`Drift`] |
//! | `adcp` | `currents` | [`Currents`] |
//! | `dmv` | `derived` | [`Derived`] |
//!
//! Every product is read by one shared column/row engine (line splitting, field tokenizer,
//! number parser, `MM`/fill handling, date/time columns), table-driven per product; the crate
//! README lists which fill values become `None` for each product.
//!
//! All parsers work on byte slices, never panic on any input, and report problems as values: a
//! malformed file is an `Err`, a malformed data row is kept in [`Parsed::skipped`] while every
//! other row is still returned. The crate does no I/O of its own.
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
//!
//! // Any product, chosen by file name; payloads serialize to the SPEC's JSON field names.
//! use ndbc::{Payload, Product};
//! let (station, product) = Product::split_file_name("41008.cwind").expect("a product file");
//! assert_eq!((station, product.kind().name()), ("41008", "continuousWind"));
//! let cwind = "#YY  MM DD hh mm WDIR WSPD GDR GST GTIME\n\
//!              #yr  mo dy hr mn degT m/s degT m/s hhmm\n\
//!              2018 08 01 00 00 158  6.0 150  9.0 2349\n\
//!              2018 07 31 23 50 147  5.9 999 99.0 9999\n";
//! let parsed = ndbc::parse_product(product, cwind.as_bytes()).expect("a cwind file");
//! let Payload::ContinuousWind(w) = &parsed.records[0].payload else { unreachable!() };
//! // The 23:49 gust of the 00:00 row was the evening before.
//! assert_eq!(w.gust_time.as_deref(), Some("2018-07-31T23:49:00.000Z"));
//! let Payload::ContinuousWind(w) = &parsed.records[1].payload else { unreachable!() };
//! assert_eq!((w.gust_dir_deg, w.gust_speed_mps, w.gust_time.as_ref()), (None, None, None)); // 999, 99.0, 9999
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
