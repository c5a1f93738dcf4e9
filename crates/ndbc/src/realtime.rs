//! Parser for NDBC standard meteorological ("stdmet") text files: the 45-day
//! `realtime2/<ID>.txt` files and the historical `stdmet` archive files.
//!
//! # Layout
//!
//! The first non-blank line must be the column header, e.g.
//!
//! ```text
//! #YY  MM DD hh mm WDIR WSPD GST  WVHT   DPD   APD MWD   PRES  ATMP  WTMP  DEWP  VIS PTDY  TIDE
//! #yr  mo dy hr mn degT m/s  m/s     m   sec   sec degT   hPa  degC  degC  degC  nmi  hPa    ft
//! ```
//!
//! Columns are mapped **by name**, so files lacking columns still parse (an
//! absent column gives `None`) and unknown columns are counted but ignored.
//! The historical variants are accepted too: a header without `#`, `YYYY`
//! instead of `YY`, `WD` for `WDIR`, `BAR` for `PRES`, no `mm` minute column
//! (minute 0), and no units line. The year, month (`MM`), day (`DD`) and hour
//! (`hh`) columns are required, as is at least one of the 14 value columns.
//! Any later line that starts with `#` (the units line, a repeated header) is
//! skipped, as are blank lines. A two-digit year `yy` means `19yy` (NDBC used
//! two-digit years only up to 1998); otherwise the year must have four digits.
//!
//! Headers naming a column that belongs to another NDBC product (`GDR`/`GTIME`
//! of `.cwind`, `PTIME`/`WTIME` of `.supl`, `SwH`/`STEEPNESS`/... of `.spec`)
//! are rejected with [`ParseError::OtherProduct`]: those files reuse names such
//! as `WSPD`, `GST` and `PRES` with a different meaning (hourly peak gust,
//! lowest 1-minute pressure), so filling a [`Record`] from them would be wrong.
//!
//! # Missing values: realtime vs historical format
//!
//! The format is decided once per file from the header: **a header with a
//! `PTDY` column is a realtime file, a header without one is a historical
//! file.** (Every realtime2 stdmet file has `PTDY`; no historical stdmet file
//! has it. Neither the `#` prefix nor the units line tells them apart: archive
//! files since 2007 have both.)
//!
//! * Realtime: `MM` is missing; every number is taken literally, so a real
//!   gust of `99.0` m/s stays `Some(99.0)`.
//! * Historical: missing values are 9-filled per column, as listed on NDBC's
//!   measurement-description page, and become `None` when the parsed value
//!   equals the column's sentinel: `WDIR`/`MWD` 999, `WSPD`/`GST`/`VIS` 99,
//!   `WVHT`/`DPD`/`APD`/`TIDE` 99, `PRES` 9999, `ATMP`/`WTMP`/`DEWP` 999
//!   (so a real direction of 99° or a real pressure of 999.0 hPa is kept).
//!   `MM` is accepted as missing too. Historical files whose header ends in
//!   `TIDE` may omit that last field on rows written before the column was
//!   introduced (46035h2000.txt): such a row, if it ends with a newline, gets
//!   `tide_ft: None`.
//!
//! # Rows
//!
//! Fields are separated by any run of spaces/tabs; CRLF, trailing blanks,
//! blank lines and a missing final newline are tolerated. A row with the
//! wrong number of fields, a non-numeric or non-finite value, or an
//! impossible date/time becomes a [`RowError`] in [`Parsed::skipped`]; the
//! other rows are still returned. Numbers are `[+-]digits[.digits]` (a
//! leading or trailing `.` is fine, exponents and `inf`/`nan` are not) and
//! parse to exactly the same `f64` as `str::parse::<f64>`.

use chrono::{NaiveDateTime, NaiveTime};

use crate::engine::{
    DateCache, FieldFault, is_ws, parse_lines, parse_number, parse_small, parse_year,
};

/// One row of a standard meteorological file. All values in the file's units; None = `MM` / missing / absent column.
///
/// Serializes (serde) to the SPEC §3 camelCase names (`windDirDeg`, `waveHeightM`, ...), `None`
/// as `null`, without the time (the stream carries it as `timestamp`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// Observation time (UTC), from the `YY MM DD hh mm` columns (minute 0 if there is no `mm` column).
    #[serde(skip)]
    pub time: NaiveDateTime,
    /// `WDIR` (or `WD` in old files): direction the wind is coming from, degrees clockwise from true north.
    pub wind_dir_deg: Option<f64>,
    /// `WSPD`: wind speed averaged over the sampling period, m/s.
    pub wind_speed_mps: Option<f64>,
    /// `GST`: peak 5- or 8-second gust speed, m/s.
    pub gust_mps: Option<f64>,
    /// `WVHT`: significant wave height, metres.
    pub wave_height_m: Option<f64>,
    /// `DPD`: dominant wave period, seconds.
    pub dominant_wave_period_s: Option<f64>,
    /// `APD`: average wave period, seconds.
    pub average_wave_period_s: Option<f64>,
    /// `MWD`: direction the dominant-period waves come from, degrees from true north.
    pub mean_wave_dir_deg: Option<f64>,
    /// `PRES` (or `BAR`): sea-level pressure, hPa.
    pub pressure_hpa: Option<f64>,
    /// `ATMP`: air temperature, °C.
    pub air_temp_c: Option<f64>,
    /// `WTMP`: sea-surface temperature, °C.
    pub water_temp_c: Option<f64>,
    /// `DEWP`: dew point, °C.
    pub dew_point_c: Option<f64>,
    /// `VIS`: station visibility, nautical miles.
    pub visibility_nmi: Option<f64>,
    /// `PTDY`: signed pressure tendency over 3 hours, hPa (`+0.6`, `-1.0`).
    pub pressure_tendency_hpa: Option<f64>,
    /// `TIDE`: water level above or below mean lower low water, feet.
    pub tide_ft: Option<f64>,
}

/// Result of parsing a whole file: good rows in file order (realtime2 = newest first) and the rows that were skipped.
///
/// `T` is [`Record`] for [`parse_realtime`], [`Entry`](crate::Entry) for
/// [`parse_product`](crate::parse_product) and [`LatestObs`](crate::LatestObs) for
/// [`parse_latest_obs`](crate::parse_latest_obs).
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<T = Record> {
    /// Successfully parsed rows, in file order.
    pub records: Vec<T>,
    /// Data rows that could not be read, in file order.
    pub skipped: Vec<RowError>,
}

impl<T> Default for Parsed<T> {
    fn default() -> Self {
        Parsed {
            records: Vec::new(),
            skipped: Vec::new(),
        }
    }
}

/// A data row that could not be read (kept going: one bad row never loses the others).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct RowError {
    /// 1-based line number in the input.
    pub line: usize,
    /// Human-readable description of what was wrong with the row.
    pub reason: String,
}

/// The file as a whole is not a standard meteorological file (empty, no/unknown header, no time columns, not text...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The input is empty or contains only blank lines.
    #[error("input is empty: no header line")]
    Empty,
    /// The header line contains bytes that are not printable ASCII (binary, compressed or non-text input).
    #[error("line {line}: not a text file (non-ASCII or control bytes in the header line)")]
    NotText {
        /// 1-based line number of the offending header line.
        line: usize,
    },
    /// The first non-blank line is not a column header (it neither starts with `#` nor with `YY`/`YYYY`).
    #[error(
        "line {line}: expected a standard meteorological header such as `#YY  MM DD hh mm WDIR WSPD ...`, found {found:?}"
    )]
    NoHeader {
        /// 1-based line number of the line found instead.
        line: usize,
        /// The start of that line (at most 60 characters).
        found: String,
    },
    /// The header lacks one of the required time columns.
    #[error("line {line}: header has no `{column}` time column")]
    MissingTimeColumn {
        /// 1-based line number of the header.
        line: usize,
        /// Name of the missing column (`YY`, `MM`, `DD` or `hh`).
        column: &'static str,
    },
    /// The header has none of the 14 standard meteorological value columns.
    #[error(
        "line {line}: header has none of the standard meteorological columns WDIR WSPD GST WVHT DPD APD MWD PRES ATMP WTMP DEWP VIS PTDY TIDE"
    )]
    NoValueColumns {
        /// 1-based line number of the header.
        line: usize,
    },
    /// The header names the same quantity twice (e.g. `WDIR` and `WD`), so the mapping is ambiguous.
    #[error("line {line}: header names column `{column}` more than once")]
    DuplicateColumn {
        /// 1-based line number of the header.
        line: usize,
        /// The repeated column name as written in the header.
        column: String,
    },
    /// The header has a column that identifies another NDBC file type (`.spec`, `.cwind`, `.supl`...).
    #[error(
        "line {line}: column `{column}` marks an NDBC {product} file, not a standard meteorological file"
    )]
    OtherProduct {
        /// 1-based line number of the header.
        line: usize,
        /// The column name that gave it away.
        column: String,
        /// The product that column belongs to.
        product: &'static str,
    },
    /// The header names none of the columns that identify the product being parsed.
    #[error("line {line}: header has none of the columns of an NDBC {product} file")]
    NoProductColumns {
        /// 1-based line number of the header.
        line: usize,
        /// The product that was expected.
        product: &'static str,
    },
}

/// Number of value columns a [`Record`] can hold.
const N_VALUES: usize = 14;

/// Index of the `PTDY` column among the value columns.
const PTDY: u8 = 12;
/// Index of the `TIDE` column among the value columns.
const TIDE: u8 = 13;

/// Canonical names of the value columns, in [`Record`] field order.
const VALUE_NAMES: [&str; N_VALUES] = [
    "WDIR", "WSPD", "GST", "WVHT", "DPD", "APD", "MWD", "PRES", "ATMP", "WTMP", "DEWP", "VIS",
    "PTDY", "TIDE",
];

/// Historical 9-fill "missing" value for each value column (PTDY never occurs in historical files).
const SENTINELS: [f64; N_VALUES] = [
    999.0,
    99.0,
    99.0,
    99.0,
    99.0,
    99.0,
    999.0,
    9999.0,
    999.0,
    999.0,
    999.0,
    99.0,
    f64::NAN,
    99.0,
];

/// Column names that identify other NDBC products.
const OTHER_PRODUCTS: [(&str, &str); 13] = [
    ("GDR", "continuous winds (.cwind)"),
    ("GTIME", "continuous winds (.cwind)"),
    ("GSP", "continuous winds (.cwind)"),
    ("GMN", "continuous winds (.cwind)"),
    ("PTIME", "supplemental measurements (.supl)"),
    ("WTIME", "supplemental measurements (.supl)"),
    ("SwH", "spectral wave summary (.spec)"),
    ("SwP", "spectral wave summary (.spec)"),
    ("WWH", "spectral wave summary (.spec)"),
    ("WWP", "spectral wave summary (.spec)"),
    ("SwD", "spectral wave summary (.spec)"),
    ("WWD", "spectral wave summary (.spec)"),
    ("STEEPNESS", "spectral wave summary (.spec)"),
];

/// What a header column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Value(u8),
    Ignored,
}

/// Column layout decided from the header line.
#[derive(Debug, PartialEq, Eq)]
struct Layout {
    cols: Vec<Col>,
    /// Historical format: 9-filled missing values.
    historical: bool,
    /// Rows may omit the last (`TIDE`) field.
    tide_optional: bool,
}

/// Parse a whole standard meteorological file (realtime2 or historical stdmet).
///
/// Returns `Err` only if the file as a whole is unusable (see [`ParseError`]);
/// individual bad rows are reported in [`Parsed::skipped`]. Never panics.
pub fn parse_realtime(input: &[u8]) -> Result<Parsed, ParseError> {
    parse_stdmet(input, |r| r)
}

/// [`parse_realtime`] with each record wrapped by `wrap` as it is read (into an
/// [`Entry`](crate::Entry) for [`parse_product`](crate::parse_product)).
pub(crate) fn parse_stdmet<T>(
    input: &[u8],
    mut wrap: impl FnMut(Record) -> T,
) -> Result<Parsed<T>, ParseError> {
    let mut cache = DateCache::default();
    parse_lines(input, layout_from_tokens, |layout, line, terminated| {
        parse_row(line, layout, terminated, &mut cache).map(&mut wrap)
    })
}

#[cfg(test)]
fn parse_header(line: &[u8], line_no: usize) -> Result<Layout, ParseError> {
    let tokens = crate::engine::header_tokens(line, line_no)?;
    layout_from_tokens(&tokens, line_no)
}

/// The column layout of a stdmet header's tokens (leading `#` removed).
fn layout_from_tokens(tokens: &[&str], line_no: usize) -> Result<Layout, ParseError> {
    let mut cols = Vec::with_capacity(tokens.len());
    let mut seen_time = [false; 5];
    let mut seen_value = [false; N_VALUES];
    for &tok in tokens {
        if let Some(&(_, product)) = OTHER_PRODUCTS.iter().find(|(name, _)| *name == tok) {
            return Err(ParseError::OtherProduct {
                line: line_no,
                column: tok.to_owned(),
                product,
            });
        }
        let col = column_for(tok);
        let seen = match col {
            Col::Year => &mut seen_time[0],
            Col::Month => &mut seen_time[1],
            Col::Day => &mut seen_time[2],
            Col::Hour => &mut seen_time[3],
            Col::Minute => &mut seen_time[4],
            Col::Value(k) => &mut seen_value[usize::from(k)],
            Col::Ignored => {
                cols.push(col);
                continue;
            }
        };
        if *seen {
            return Err(ParseError::DuplicateColumn {
                line: line_no,
                column: tok.to_owned(),
            });
        }
        *seen = true;
        cols.push(col);
    }
    for (seen, name) in seen_time[..4].iter().zip(["YY", "MM", "DD", "hh"]) {
        if !seen {
            return Err(ParseError::MissingTimeColumn {
                line: line_no,
                column: name,
            });
        }
    }
    if !seen_value.iter().any(|&s| s) {
        return Err(ParseError::NoValueColumns { line: line_no });
    }
    let historical = !seen_value[usize::from(PTDY)];
    let tide_optional = historical && cols.last() == Some(&Col::Value(TIDE));
    Ok(Layout {
        cols,
        historical,
        tide_optional,
    })
}

fn column_for(name: &str) -> Col {
    match name {
        "YY" | "YYYY" => Col::Year,
        "MM" => Col::Month,
        "DD" => Col::Day,
        "hh" => Col::Hour,
        "mm" => Col::Minute,
        "WD" => Col::Value(0),
        "BAR" => Col::Value(7),
        _ => VALUE_NAMES
            .iter()
            .position(|&n| n == name)
            .and_then(|k| u8::try_from(k).ok())
            .map_or(Col::Ignored, Col::Value),
    }
}

/// Parse one data row (leading whitespace already removed).
fn parse_row(
    line: &[u8],
    layout: &Layout,
    terminated: bool,
    cache: &mut DateCache,
) -> Result<Record, String> {
    let cols = &layout.cols[..];
    let mut values = [None; N_VALUES];
    let (mut year, mut month, mut day, mut hour, mut minute) = (0i32, 0u32, 0u32, 0u32, 0u32);
    let mut fault: Option<(FieldFault, usize, &[u8])> = None;
    let mut n = 0usize;

    let len = line.len();
    let mut pos = 0usize;
    loop {
        while pos < len && is_ws(line[pos]) {
            pos += 1;
        }
        if pos >= len {
            break;
        }
        let start = pos;
        while pos < len && !is_ws(line[pos]) {
            pos += 1;
        }
        let field = &line[start..pos];
        let idx = n;
        n += 1;
        let Some(&col) = cols.get(idx) else {
            continue; // too many fields: reported below once counted
        };
        if fault.is_some() {
            continue;
        }
        let res = match col {
            Col::Value(k) => parse_value(field, usize::from(k), layout.historical)
                .map(|v| values[usize::from(k)] = v),
            Col::Year => parse_year(field).map(|y| year = y),
            Col::Month => parse_small(field).map(|v| month = v),
            Col::Day => parse_small(field).map(|v| day = v),
            Col::Hour => parse_small(field).map(|v| hour = v),
            Col::Minute => parse_small(field).map(|v| minute = v),
            Col::Ignored => Ok(()),
        };
        if let Err(f) = res {
            fault = Some((f, idx, field));
        }
    }

    let expected = cols.len();
    let tide_dropped = layout.tide_optional && terminated && n + 1 == expected;
    if n != expected && !tide_dropped {
        return Err(format!("expected {expected} fields, found {n}"));
    }
    if let Some((f, idx, field)) = fault {
        let name = match cols.get(idx) {
            Some(Col::Value(k)) => VALUE_NAMES[usize::from(*k)],
            Some(Col::Year) => "YY",
            Some(Col::Month) => "MM",
            Some(Col::Day) => "DD",
            Some(Col::Hour) => "hh",
            Some(Col::Minute) => "mm",
            _ => "?",
        };
        let shown: String = String::from_utf8_lossy(field).chars().take(40).collect();
        let what = f.describe();
        return Err(format!("field {} ({name}): {what}: {shown:?}", idx + 1));
    }

    let Some(date) = cache.get(year, month, day) else {
        return Err(format!("impossible date {year:04}-{month:02}-{day:02}"));
    };
    let Some(time) = NaiveTime::from_hms_opt(hour, minute, 0) else {
        return Err(format!("impossible time {hour:02}:{minute:02}"));
    };
    let [
        wind_dir_deg,
        wind_speed_mps,
        gust_mps,
        wave_height_m,
        dominant_wave_period_s,
        average_wave_period_s,
        mean_wave_dir_deg,
        pressure_hpa,
        air_temp_c,
        water_temp_c,
        dew_point_c,
        visibility_nmi,
        pressure_tendency_hpa,
        tide_ft,
    ] = values;
    Ok(Record {
        time: NaiveDateTime::new(date, time),
        wind_dir_deg,
        wind_speed_mps,
        gust_mps,
        wave_height_m,
        dominant_wave_period_s,
        average_wave_period_s,
        mean_wave_dir_deg,
        pressure_hpa,
        air_temp_c,
        water_temp_c,
        dew_point_c,
        visibility_nmi,
        pressure_tendency_hpa,
        tide_ft,
    })
}

#[inline]
fn parse_value(field: &[u8], k: usize, historical: bool) -> Result<Option<f64>, FieldFault> {
    if field == b"MM" {
        return Ok(None);
    }
    let v = parse_number(field)?;
    if historical && v == SENTINELS[k] {
        return Ok(None);
    }
    Ok(Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    const HEADER: &str = "#YY  MM DD hh mm WDIR WSPD GST  WVHT   DPD   APD MWD   PRES  ATMP  WTMP  DEWP  VIS PTDY  TIDE\n#yr  mo dy hr mn degT m/s  m/s     m   sec   sec degT   hPa  degC  degC  degC  nmi  hPa    ft\n";

    fn dt(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .and_then(|d| d.and_hms_opt(h, mi, 0))
            .expect("valid test date")
    }

    #[test]
    fn number_parser_matches_std() {
        for s in [
            "0",
            "-0.0",
            "+0.6",
            "-1.0",
            "1022.9",
            ".9",
            "-.2",
            "5.",
            "09.9",
            "0983.2",
            "123456789012345",
            "1234567890123456789",
            "0.1234567890123456789",
            "99.00",
            "00000000000000000000000000001.5",
        ] {
            let ours = parse_number(s.as_bytes()).expect(s);
            let std: f64 = s.parse().expect(s);
            assert_eq!(ours.to_bits(), std.to_bits(), "{s}");
        }
        for s in [
            "", "-", "+", ".", "1.2.3", "1e5", "inf", "NaN", "--1", "1-", "MM", "1,5",
        ] {
            assert!(parse_number(s.as_bytes()).is_err(), "{s}");
        }
        let huge = "9".repeat(400);
        assert!(matches!(
            parse_number(huge.as_bytes()),
            Err(FieldFault::NotFinite)
        ));
    }

    #[test]
    fn header_variants() {
        let h = parse_header(
            b"YY MM DD hh WD   WSPD GST  WVHT  DPD   APD  MWD  BAR    ATMP  WTMP  DEWP  VIS",
            1,
        )
        .expect("1985 header");
        assert!(h.historical);
        assert_eq!(h.cols[4], Col::Value(0));
        assert_eq!(h.cols[11], Col::Value(7));
        let h = parse_header(HEADER.lines().next().unwrap_or_default().as_bytes(), 1)
            .expect("realtime header");
        assert!(!h.historical);
        assert!(!h.tide_optional);
        let h = parse_header(b"# YY MM DD hh mm WSPD", 1).expect("spaced #");
        assert_eq!(h.cols[0], Col::Year);
        assert_eq!(
            parse_header(b"#YY MM DD hh WDIR WD", 3),
            Err(ParseError::DuplicateColumn {
                line: 3,
                column: "WD".into()
            })
        );
        assert_eq!(
            parse_header(b"#YY MM DD mm WDIR", 1),
            Err(ParseError::MissingTimeColumn {
                line: 1,
                column: "hh"
            })
        );
    }

    #[test]
    fn realtime_literal_99_kept_historical_nulled() {
        let rt = format!(
            "{HEADER}2018 08 01 15 10 999 99.0 99.0 99.00 99 99.0 999 9999.0 999.0 999.0 999.0 99.0 +0.0 99.00\n"
        );
        let p = parse_realtime(rt.as_bytes()).expect("parse");
        let r = &p.records[0];
        assert_eq!(r.gust_mps, Some(99.0));
        assert_eq!(r.pressure_hpa, Some(9999.0));
        assert_eq!(r.tide_ft, Some(99.0));

        let hist = "#YY  MM DD hh mm WDIR WSPD GST  WVHT   DPD   APD MWD   PRES  ATMP  WTMP  DEWP  VIS  TIDE\n\
                    2019 08 01 00 00 99 99.0 99.0 99.00 99.00 99.00 999 999.0 999.0 999.0 MM 99.0 99.00\n";
        let p = parse_realtime(hist.as_bytes()).expect("parse");
        let r = &p.records[0];
        assert_eq!(r.wind_dir_deg, Some(99.0), "99 degrees is a real direction");
        assert_eq!(r.pressure_hpa, Some(999.0), "999 hPa is a real pressure");
        assert_eq!(r.wind_speed_mps, None);
        assert_eq!(r.mean_wave_dir_deg, None);
        assert_eq!(r.air_temp_c, None);
        assert_eq!(r.dew_point_c, None);
        assert_eq!(r.tide_ft, None);
        assert_eq!(r.time, dt(2019, 8, 1, 0, 0));
    }

    #[test]
    fn two_digit_year_and_no_minute() {
        let s = "YY MM DD hh WD   WSPD\n85 09 13 20 169 09.9\n";
        let p = parse_realtime(s.as_bytes()).expect("parse");
        assert_eq!(p.records[0].time, dt(1985, 9, 13, 20, 0));
        assert_eq!(p.records[0].wind_speed_mps, Some(9.9));
        let s = "YY MM DD hh WSPD\n985 09 13 20 1.0\n";
        let p = parse_realtime(s.as_bytes()).expect("parse");
        assert_eq!(p.skipped.len(), 1);
        assert!(p.skipped[0].reason.contains("year"), "{}", p.skipped[0]);
        // Found by proptest: a long digit run in the year column used to overflow.
        let s = "YY MM DD hh WSPD\n2150000000 09 13 20 1.0\n99999999999999999999 1 1 1 1\n";
        let p = parse_realtime(s.as_bytes()).expect("parse");
        assert_eq!(p.skipped.len(), 2);
    }

    #[test]
    fn optional_tide_only_when_terminated() {
        let h = "YYYY MM DD hh WD WSPD TIDE\n";
        let p =
            parse_realtime(format!("{h}2000 01 01 01 84 10.4\n2000 01 01 02 84 10.4").as_bytes())
                .expect("parse");
        assert_eq!(p.records.len(), 1);
        assert_eq!(p.records[0].tide_ft, None);
        assert_eq!(p.skipped.len(), 1);
        assert_eq!(p.skipped[0].line, 3);
    }
}
