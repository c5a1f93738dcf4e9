//! Integration tests: every real realtime2 standard meteorological file parses completely and correctly.

mod common;

use common::{assert_row, data_lines, getter, read};
use ndbc::{Parsed, Record, parse_realtime};

/// Parse `file`, require zero skipped rows and one record per data line, and check the first and last rows.
fn check(file: &str, expected_first_row: &str, expected_last_row: &str) -> Parsed {
    let bytes = read(file);
    let parsed = parse_realtime(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(parsed.skipped, vec![], "{file}: skipped rows");
    let text = String::from_utf8(bytes).expect("sample is UTF-8");
    assert_eq!(
        parsed.records.len(),
        data_lines(&text).len(),
        "{file}: record count vs data lines"
    );
    let first = parsed.records.first().expect("at least one record");
    let last = parsed.records.last().expect("at least one record");
    assert_row(first, expected_first_row, &format!("{file} first row"));
    assert_row(last, expected_last_row, &format!("{file} last row"));
    parsed
}

fn newest_first(file: &str, records: &[Record]) {
    for (i, w) in records.windows(2).enumerate() {
        assert!(
            w[0].time > w[1].time,
            "{file}: record {i} ({}) not newer than record {} ({})",
            w[0].time,
            i + 1,
            w[1].time
        );
    }
}

// Expected rows: time | WDIR WSPD GST WVHT DPD APD MWD PRES ATMP WTMP DEWP VIS PTDY TIDE ("-" = MM)
const CASES: &[(&str, &str, &str)] = &[
    (
        "realtime2/41002.txt",
        "2018-08-01 15:10 | 160 6.0 7.0 - - - - 1022.9 - 28.0 - - - -",
        "2018-06-17 00:00 | 80 5.0 6.0 - - - - 1017.6 - 26.6 - - 0.4 -",
    ),
    (
        "realtime2/41004.txt",
        "2017-04-18 16:50 | 280 3.0 4.0 0.8 8 5.2 153 1022.1 22.6 23.1 19.0 - 0.5 -",
        "2017-03-04 00:50 | 280 6.0 8.0 0.8 8 4.5 113 1029.5 16.7 21.0 4.3 - 1.5 -",
    ),
    (
        "realtime2/44013.txt",
        "2022-06-05 13:00 | 280 3.0 4.0 - - - - 1015.2 - 13.9 - - 1.6 -",
        "2022-04-21 00:00 | 90 2.0 3.0 - - - - 1029.6 - 7.0 - - 3.5 -",
    ),
    (
        "realtime2/44065.txt",
        "2024-02-08 22:10 | - 4.0 5.0 - - - - 1024.1 - 6.2 - - - -",
        "2023-12-25 00:00 | - 1.0 2.0 - - - - 1028.3 - 9.2 - - 0.6 -",
    ),
    (
        "realtime2/44088.txt",
        "2024-02-08 22:00 | - - - 1.9 11 7.6 73 - 7.4 8.8 - - - -",
        "2023-12-25 00:00 | - - - 0.7 11 7.5 97 - 11.1 11.7 - - - -",
    ),
    (
        "realtime2/44097.txt",
        "2024-02-08 22:26 | - - - 1.1 11 6.5 121 - - 5.4 - - - -",
        "2023-12-25 00:26 | - - - 0.9 6 4.8 173 - - 10.3 - - - -",
    ),
    (
        "realtime2/46097.txt",
        "2019-04-02 13:50 | 120 2.0 - - - - - 1007.7 10.7 11.1 - - - -",
        "2019-02-16 00:00 | 180 12.0 - - - - - 1001.0 6.1 10.9 - - - -",
    ),
    (
        "realtime2/TPLM2.txt",
        "2022-08-13 18:00 | 10 4.1 5.1 - - - - 1020.8 23.3 - - - -1.0 -",
        "2022-06-29 00:00 | 170 4.1 4.6 - - - - 1023.2 23.8 24.0 - - 0.6 -",
    ),
    (
        "realtime2/excerpts/46254.txt",
        "2026-08-17 05:56 | - - - 0.8 15 5.2 281 - - 21.0 - - - -",
        "2026-08-16 11:26 | - - - 0.6 5 5.1 278 - - 20.6 - - - -",
    ),
    (
        "realtime2/excerpts/LJAC1.txt",
        "2026-08-17 06:18 | 340 1.5 2.6 - - - - 1016.5 - 21.0 - - - -",
        "2026-08-17 02:36 | 360 2.6 3.1 - - - - 1014.7 21.3 18.3 - - - -",
    ),
    (
        "realtime2/snapshots/44065_fetched_2024-02-05.txt",
        "2024-02-05 22:40 | - 9.0 10.0 - - - - 1012.9 - 5.9 - - - -",
        "2023-12-22 00:00 | - 11.0 13.0 - - - - 1028.4 - 10.0 - - 0.6 -",
    ),
    (
        "realtime2/unidentified/realtimedata_2025-11-13.txt",
        "2025-11-13 00:40 | 190 3.0 5.0 - - - - 1024.8 20.1 - 10.7 - - -",
        "2025-09-29 00:00 | 40 4.0 5.0 - - - - 1014.0 28.3 - 21.4 - 0.0 -",
    ),
];

#[test]
fn every_realtime_txt_file_is_covered() {
    let mut on_disk = common::files_under("realtime2", ".txt");
    let mut listed: Vec<String> = CASES.iter().map(|c| c.0.to_owned()).collect();
    on_disk.sort();
    listed.sort();
    assert_eq!(
        listed, on_disk,
        "CASES must list every realtime2 .txt sample"
    );
}

#[test]
fn all_realtime_files_parse_completely_newest_first() {
    for &(file, first, last) in CASES {
        let parsed = check(file, first, last);
        newest_first(file, &parsed.records);
    }
}

/// Compare every field of every row with an independent whitespace split of the file text.
#[test]
fn cross_check_against_naive_split() {
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
        assert_eq!(header[..5], ["YY", "MM", "DD", "hh", "mm"], "{file}");
        let rows = data_lines(&text);
        assert_eq!(rows.len(), parsed.records.len(), "{file}");
        for ((line_no, line), rec) in rows.iter().zip(&parsed.records) {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f.len(), header.len(), "{file}:{line_no}");
            let time = chrono::NaiveDateTime::parse_from_str(&f[..5].join(" "), "%Y %m %d %H %M")
                .expect("time");
            assert_eq!(rec.time, time, "{file}:{line_no}");
            for (name, raw) in header.iter().zip(&f).skip(5) {
                let get = getter(name).unwrap_or_else(|| panic!("{file}: unknown column {name}"));
                let want = if *raw == "MM" {
                    None
                } else {
                    Some(raw.parse::<f64>().expect("number"))
                };
                assert_eq!(get(rec), want, "{file}:{line_no} {name} raw {raw:?}");
            }
        }
    }
}

#[test]
fn spot_checks_41002() {
    let p = parse_realtime(&read("realtime2/41002.txt")).expect("parses");
    assert_eq!(p.records.len(), 6560);
    let r0 = &p.records[0];
    assert_eq!(r0.time.to_string(), "2018-08-01 15:10:00");
    assert_eq!(r0.wind_dir_deg, Some(160.0));
    assert_eq!(r0.wind_speed_mps, Some(6.0));
    assert_eq!(r0.gust_mps, Some(7.0));
    assert_eq!(r0.wave_height_m, None);
    assert_eq!(r0.pressure_hpa, Some(1022.9));
    assert_eq!(r0.water_temp_c, Some(28.0));
    assert_eq!(r0.pressure_tendency_hpa, None);
    assert_eq!(p.records[1].pressure_tendency_hpa, Some(0.6));
    // Third row is a wave-report row.
    let r2 = &p.records[2];
    assert_eq!(r2.wave_height_m, Some(1.2));
    assert_eq!(r2.dominant_wave_period_s, Some(6.0));
    assert_eq!(r2.average_wave_period_s, Some(4.5));
    assert_eq!(r2.mean_wave_dir_deg, Some(209.0));
}

#[test]
fn spot_checks_tplm2_negative_tendency() {
    let p = parse_realtime(&read("realtime2/TPLM2.txt")).expect("parses");
    assert_eq!(p.records[0].pressure_tendency_hpa, Some(-1.0));
    assert!(p.records.iter().all(|r| r.wave_height_m.is_none()));
}

#[test]
fn negative_zero_tendency_41004() {
    let p = parse_realtime(&read("realtime2/41004.txt")).expect("parses");
    let neg_zero = p
        .records
        .iter()
        .filter_map(|r| r.pressure_tendency_hpa)
        .filter(|v| *v == 0.0 && v.is_sign_negative())
        .count();
    assert!(neg_zero > 0, "41004 has -0.0 PTDY values");
}

/// 44088 is a wave-only station: wind, pressure, dew point, visibility, tendency and tide are MM on every row
/// (air and water temperature are reported, though).
#[test]
fn spot_checks_44088_no_wind_or_pressure() {
    let p = parse_realtime(&read("realtime2/44088.txt")).expect("parses");
    assert_eq!(p.records.len(), 2201);
    for r in &p.records {
        assert_eq!(
            (
                r.wind_dir_deg,
                r.wind_speed_mps,
                r.gust_mps,
                r.pressure_hpa,
                r.dew_point_c,
                r.visibility_nmi,
                r.pressure_tendency_hpa,
                r.tide_ft
            ),
            (None, None, None, None, None, None, None, None),
            "{}",
            r.time
        );
    }
    assert_eq!(
        p.records
            .iter()
            .filter(|r| r.wave_height_m.is_some())
            .count(),
        2198
    );
    assert!(p.records.iter().filter(|r| r.air_temp_c.is_some()).count() > 2000);
}

/// The older snapshot of 44065 overlaps the newer file: identical timestamps carry identical records.
#[test]
fn snapshot_overlap_44065_is_consistent() {
    let new = parse_realtime(&read("realtime2/44065.txt")).expect("parses");
    let old =
        parse_realtime(&read("realtime2/snapshots/44065_fetched_2024-02-05.txt")).expect("parses");
    let by_time: std::collections::HashMap<_, _> =
        new.records.iter().map(|r| (r.time, r)).collect();
    let mut overlap = 0;
    for r in &old.records {
        if let Some(n) = by_time.get(&r.time) {
            overlap += 1;
            assert_eq!(*n, r, "{}", r.time);
        }
    }
    assert!(overlap > 5000, "overlap {overlap}");
}

/// latest_obs.txt is not a per-station file but has a stdmet-compatible header (`#STN LAT LON YYYY ...`).
#[test]
fn latest_obs_maps_by_name() {
    let bytes = read("latest_obs/latest_obs.txt");
    let p = parse_realtime(&bytes).expect("parses");
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(p.records.len() + p.skipped.len(), data_lines(&text).len());
    assert_eq!(p.skipped, vec![]);
    let r = &p.records[0];
    assert_row(
        r,
        "2018-07-30 21:00 | 190 1.0 - - - - - 1005.3 23.9 21.4 - - - -",
        "22101",
    );
}
