//! `latest_obs/latest_obs.txt`: the newest standard-meteorological row of every station in one
//! file, each with the station id and position (`#STN LAT LON YYYY MM DD hh mm WDIR ...`).
//! Columns are mapped by name with the shared engine's table reader; `MM` is `None` (this is a
//! realtime file: numbers are taken literally, no 9-fill).

use crate::engine::{Column, DateCache, Row, Table, Value, parse_lines};
use crate::realtime::{ParseError, Parsed, Record};

/// One station's latest observation.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestObs {
    /// `STN`: station id as written (e.g. `"41002"`, `"BURL1"`).
    pub station: String,
    /// `LAT`: decimal degrees north.
    pub latitude: f64,
    /// `LON`: decimal degrees east.
    pub longitude: f64,
    /// The observation.
    pub record: Record,
}

/// The columns after `STN LAT LON`, in [`Record`] field order.
static LATEST_OBS: Table = Table {
    product: "latest observations (latest_obs.txt)",
    columns: &[
        Column::text(&["STN"]),
        Column::number(&["LAT"]),
        Column::number(&["LON"]),
        Column::number(&["WDIR", "WD"]),
        Column::number(&["WSPD"]),
        Column::number(&["GST"]),
        Column::number(&["WVHT"]),
        Column::number(&["DPD"]),
        Column::number(&["APD"]),
        Column::number(&["MWD"]),
        Column::number(&["PRES", "BAR"]),
        Column::number(&["ATMP"]),
        Column::number(&["WTMP"]),
        Column::number(&["DEWP"]),
        Column::number(&["VIS"]),
        Column::number(&["PTDY"]),
        Column::number(&["TIDE"]),
    ],
    signature: &["STN"],
};

/// Parse `latest_obs.txt`. A row without a station id or position is skipped with its reason.
/// Never panics.
pub fn parse_latest_obs(bytes: &[u8]) -> Result<Parsed<LatestObs>, ParseError> {
    let mut cache = DateCache::default();
    let mut r = Row::default();
    parse_lines(
        bytes,
        |tokens, line| LATEST_OBS.layout(tokens, line),
        |layout, line, _| {
            layout.row(line, &mut cache, &mut r)?;
            let Value::Text(station) = r.values[0] else {
                return Err("no station id (STN)".to_owned());
            };
            let (Some(latitude), Some(longitude)) = (r.num(1), r.num(2)) else {
                return Err("no station position (LAT, LON)".to_owned());
            };
            Ok(LatestObs {
                station: station.to_owned(),
                latitude,
                longitude,
                record: Record {
                    time: r.time,
                    wind_dir_deg: r.num(3),
                    wind_speed_mps: r.num(4),
                    gust_mps: r.num(5),
                    wave_height_m: r.num(6),
                    dominant_wave_period_s: r.num(7),
                    average_wave_period_s: r.num(8),
                    mean_wave_dir_deg: r.num(9),
                    pressure_hpa: r.num(10),
                    air_temp_c: r.num(11),
                    water_temp_c: r.num(12),
                    dew_point_c: r.num(13),
                    visibility_nmi: r.num(14),
                    pressure_tendency_hpa: r.num(15),
                    tide_ft: r.num(16),
                },
            })
        },
    )
}
