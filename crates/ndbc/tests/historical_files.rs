//! Integration tests: historical stdmet archive files (header variants, 9-filled missing values).

mod common;

use common::{assert_row, data_lines, getter, read};
use ndbc::{ParseError, parse_realtime};

// Expected rows: time | WDIR WSPD GST WVHT DPD APD MWD PRES ATMP WTMP DEWP VIS PTDY TIDE ("-" = missing)
const CASES: &[(&str, &str, &str)] = &[
    // `YY` two-digit year, `WD`/`BAR`, no `#`, no minute, zero-padded values, no units line.
    (
        "historical/stdmet/46035h1985.txt",
        "1985-09-13 20:00 | 169 9.9 12.1 3.4 11.1 7.8 - 983.2 9.3 - - - - -",
        "1985-12-31 23:00 | 186 6.0 7.6 1.9 10.0 7.2 - 1000.0 2.6 4.3 - - - -",
    ),
    // Values without a leading zero (`.81`, `.1`).
    (
        "historical/stdmet/46035h1996.txt",
        "1996-01-01 00:00 | 186 6.7 8.1 2.74 9.09 6.65 - 986.7 2.6 3.4 - - - -",
        "1996-12-31 23:00 | 25 2.1 3.2 0.81 12.5 6.47 - 1010.6 0.1 3.2 - - - -",
    ),
    // `YYYY` four-digit year; first row entirely 9-filled.
    (
        "historical/stdmet/46035h1999.txt",
        "1999-01-01 00:00 | - - - - - - - - - - - - - -",
        "1999-12-31 23:00 | 77 11.0 13.8 2.56 8.33 6.01 - 1036.5 -4.9 1.7 - - - -",
    ),
    // Header gains TIDE, but the first rows have only 16 fields (TIDE absent).
    (
        "historical/stdmet/46035h2000.txt",
        "2000-01-01 01:00 | 84 10.4 12.8 2.27 10.0 6.09 - 1036.4 -4.7 1.7 - - - -",
        "2000-12-31 23:00 | 16 10.6 12.8 - - - - 995.9 -0.7 2.9 - - - -",
    ),
    // `mm` minute column added, still `WD`/`BAR`, no `#`.
    (
        "historical/stdmet/46035h2005.txt",
        "2005-01-01 00:00 | 174 15.0 20.3 4.57 17.39 8.32 - 983.9 2.3 3.1 -0.1 - - -",
        "2005-12-31 23:00 | 359 10.9 13.3 2.5 9.09 5.75 - 989.0 -1.8 3.1 -4.7 - - -",
    ),
    // `#YY ... WDIR ... PRES` plus units line, no PTDY.
    (
        "historical/stdmet/46035h2007.txt",
        "2007-01-01 00:00 | 48 11.2 13.9 2.99 7.69 5.94 - 998.2 -6.5 2.8 -10.2 - - -",
        "2007-12-31 23:00 | 121 14.7 17.4 1.88 10.81 5.41 - 1013.3 -0.5 2.4 - - - -",
    ),
    // Units line says `mi`; the file starts with the previous year's last row.
    (
        "historical/stdmet/46035h2017.txt",
        "2016-12-31 23:50 | 230 14.5 18.1 7.39 13.79 9.74 125 985.7 2.7 3.9 - - - -",
        "2017-12-31 22:50 | - - - 6.69 12.9 9.39 28 982.7 - - - - - -",
    ),
    (
        "historical/stdmet/46097h201908qc.txt",
        "2019-08-01 00:00 | 231 1.6 - - - - - 1017.3 15.7 13.5 - - - -",
        "2019-08-31 23:50 | 160 2.7 - - - - - 1014.9 14.5 13.4 - - - -",
    ),
    (
        "historical/stdmet/tplm2_2022-01_monthly.txt",
        "2022-01-01 00:00 | 127 5.1 5.6 - - - - 1013.6 9.5 7.7 - - - -",
        "2022-01-31 23:00 | 30 5.6 6.2 - - - - 1027.9 0.4 1.7 - - - -",
    ),
    (
        "historical/stdmet/tplm2_2022-02_monthly.txt",
        "2022-02-01 00:00 | 22 4.8 5.5 - - - - 1028.9 0.1 1.7 - - - -",
        "2022-02-28 23:00 | 35 1.8 1.9 - - - - 1025.6 5.0 4.9 - - - -",
    ),
    (
        "historical/stdmet/tplm2_2022-03_monthly.txt",
        "2022-03-01 00:00 | 88 3.4 3.6 - - - - 1025.7 4.8 4.9 - - - -",
        "2022-03-31 23:00 | 141 11.5 12.1 - - - - 998.8 12.1 7.9 - - - -",
    ),
    (
        "historical/stdmet/tplm2_2022-04_monthly.txt",
        "2022-04-01 00:00 | 140 9.4 9.9 - - - - 998.9 13.3 7.8 - - - -",
        "2022-04-30 23:00 | 169 3.8 4.1 - - - - 1019.8 14.3 13.1 - - - -",
    ),
    (
        "historical/stdmet/tplm2_2022-05_monthly.txt",
        "2022-05-01 00:00 | 168 2.6 2.8 - - - - 1020.2 14.0 13.1 - - - -",
        "2022-05-31 23:00 | 160 4.3 4.5 - - - - 1015.2 27.1 21.6 - - - -",
    ),
    (
        "historical/stdmet/tplm2_2022-06_monthly.txt",
        "2022-06-01 00:00 | 171 4.2 4.3 - - - - 1015.2 26.9 22.5 - - - -",
        "2022-06-30 23:00 | 133 2.3 2.5 - - - - 1021.3 27.8 24.5 - - - -",
    ),
    (
        "historical/stdmet/tplm2_2022-07_monthly.txt",
        "2022-07-01 00:00 | 155 6.6 7.6 - - - - 1021.4 26.9 25.1 - - - -",
        "2022-07-31 23:00 | 223 5.7 6.2 - - - - 1020.2 24.5 - - - - -",
    ),
    (
        "historical/stdmet/tplm2h2020.txt",
        "2020-01-01 00:00 | 188 6.1 6.2 - - - - 1006.1 9.5 6.6 -0.3 - - -",
        "2020-12-31 23:00 | 339 6.7 7.3 - - - - 1026.7 5.2 5.3 1.0 - - -",
    ),
    (
        "historical/stdmet/tplm2h2021.txt",
        "2021-01-01 00:00 | 336 5.2 6.1 - - - - 1028.3 5.2 5.3 0.0 - - -",
        "2021-12-31 23:00 | 132 6.3 6.7 - - - - 1013.3 9.5 7.7 - - - -",
    ),
];

/// Historical 9-fill sentinel for a column, written independently of the parser's table.
fn sentinel(name: &str) -> f64 {
    match name {
        "WD" | "WDIR" | "MWD" | "ATMP" | "WTMP" | "DEWP" => 999.0,
        "BAR" | "PRES" => 9999.0,
        "WSPD" | "GST" | "VIS" | "WVHT" | "DPD" | "APD" | "TIDE" => 99.0,
        other => panic!("no sentinel for {other}"),
    }
}

#[test]
fn every_historical_stdmet_file_is_covered() {
    let on_disk = common::files_under("historical/stdmet", ".txt");
    let mut listed: Vec<String> = CASES.iter().map(|c| c.0.to_owned()).collect();
    listed.sort();
    assert_eq!(listed, on_disk);
}

#[test]
fn historical_files_parse_completely_with_9_fill() {
    for &(file, first, last) in CASES {
        let bytes = read(file);
        let parsed = parse_realtime(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(parsed.skipped, vec![], "{file}");
        let text = String::from_utf8(bytes).expect("UTF-8");
        let rows = data_lines(&text);
        assert_eq!(parsed.records.len(), rows.len(), "{file}");
        assert_row(&parsed.records[0], first, &format!("{file} first"));
        assert_row(
            parsed.records.last().expect("rows"),
            last,
            &format!("{file} last"),
        );
        for r in &parsed.records {
            assert_eq!(
                r.pressure_tendency_hpa, None,
                "{file}: historical files have no PTDY"
            );
        }
    }
}

/// Independent whitespace split of every row, applying the per-column 9-fill rule.
#[test]
fn historical_cross_check() {
    for &(file, _, _) in CASES {
        let bytes = read(file);
        let parsed = parse_realtime(&bytes).expect("parses");
        let text = String::from_utf8(bytes).expect("UTF-8");
        let header: Vec<&str> = text
            .lines()
            .next()
            .expect("header")
            .trim_start_matches('#')
            .split_whitespace()
            .collect();
        let time_cols = if header.contains(&"mm") { 5 } else { 4 };
        for ((line_no, line), rec) in data_lines(&text).iter().zip(&parsed.records) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let y: i32 = f[0].parse().expect("year");
            let y = if f[0].len() == 2 { 1900 + y } else { y };
            let minute: u32 = if time_cols == 5 {
                f[4].parse().expect("mm")
            } else {
                0
            };
            let time = chrono::NaiveDate::from_ymd_opt(
                y,
                f[1].parse().expect("MM"),
                f[2].parse().expect("DD"),
            )
            .and_then(|d| d.and_hms_opt(f[3].parse().expect("hh"), minute, 0))
            .expect("valid time");
            assert_eq!(rec.time, time, "{file}:{line_no}");
            for (i, name) in header.iter().enumerate().skip(time_cols) {
                let get = getter(name).unwrap_or_else(|| panic!("{file}: unknown column {name}"));
                let want = f.get(i).and_then(|raw| {
                    let v: f64 = raw.parse().expect("number");
                    (v != sentinel(name)).then_some(v)
                });
                assert_eq!(get(rec), want, "{file}:{line_no} {name}");
            }
        }
    }
}

/// Real values that equal another column's sentinel survive: 99 degrees, 999.0 hPa.
#[test]
fn real_99_degrees_and_999_hpa_are_kept() {
    let p = parse_realtime(&read("historical/stdmet/46035h2007.txt")).expect("parses");
    assert!(p.records.iter().any(|r| r.wind_dir_deg == Some(99.0)));
    assert!(p.records.iter().any(|r| r.pressure_hpa == Some(999.0)));
    let p = parse_realtime(&read("historical/stdmet/46035h2017.txt")).expect("parses");
    assert!(p.records.iter().any(|r| r.mean_wave_dir_deg == Some(99.0)));
}

/// 46035h2000: TIDE appears in the header, rows gain the 17th field in August 2000.
#[test]
fn tide_column_appears_mid_file_2000() {
    let bytes = read("historical/stdmet/46035h2000.txt");
    let p = parse_realtime(&bytes).expect("parses");
    assert_eq!(p.records.len(), 8781);
    let text = String::from_utf8(bytes).expect("UTF-8");
    let short = data_lines(&text)
        .iter()
        .filter(|(_, l)| l.split_whitespace().count() == 16)
        .count();
    assert_eq!(short, 5109);
    let r = p
        .records
        .iter()
        .find(|r| r.time.to_string() == "2000-08-01 00:00:00")
        .expect("row");
    assert_row(
        r,
        "2000-08-01 00:00 | 86 9.4 - - - - - 1002.8 7.8 9.5 - - - -",
        "46035h2000",
    );
    assert!(p.records.iter().all(|r| r.tide_ft.is_none()));
}

/// 46035h1996 has duplicated timestamps and one backwards step: all rows are kept, in file order.
#[test]
fn duplicates_are_kept_in_file_order_1996() {
    let p = parse_realtime(&read("historical/stdmet/46035h1996.txt")).expect("parses");
    let distinct: std::collections::HashSet<_> = p.records.iter().map(|r| r.time).collect();
    let dups = p.records.len() - distinct.len();
    let back = p
        .records
        .windows(2)
        .filter(|w| w[0].time > w[1].time)
        .count();
    assert_eq!(dups, 24, "duplicated timestamps");
    assert_eq!(back, 1, "backwards steps");
}

/// Other NDBC products are refused rather than half-mapped.
#[test]
fn other_products_are_rejected() {
    let mut files = common::files_under("realtime2", "");
    files.retain(|f| !f.ends_with(".txt"));
    files.extend(common::files_under("historical/cwind", ".txt"));
    files.push("historical/swden/44004w2000_excerpt.txt".into());
    files.push("historical/swden/46042w1996.txt.gz".into());
    assert!(files.len() >= 25, "{files:?}");
    for file in files {
        let err = parse_realtime(&read(&file)).expect_err(&file);
        let other = |column: &str| matches!(&err, ParseError::OtherProduct { line: 1, column: c, .. } if c == column);
        let ok = if file.ends_with(".spec") {
            other("SwH")
        } else if file.ends_with(".cwind") || file.starts_with("historical/cwind/") {
            other("GDR")
        } else if file.ends_with(".supl") {
            other("PTIME")
        } else if file.ends_with(".drift") {
            err == ParseError::MissingTimeColumn {
                line: 1,
                column: "hh",
            }
        } else if file.ends_with(".gz") {
            err == ParseError::NotText { line: 1 }
        } else {
            err == ParseError::NoValueColumns { line: 1 }
        };
        assert!(ok, "{file}: unexpected error {err:?}");
        assert!(err.to_string().starts_with("line 1:"), "{file}: {err}");
    }
}
