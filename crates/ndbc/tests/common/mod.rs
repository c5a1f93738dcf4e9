//! Shared helpers for the integration tests: locating and reading the NDBC sample files.
#![allow(dead_code)]

use std::path::PathBuf;

/// Directory holding the shared NDBC sample files (`/work/shared/ndbc` beside the repo).
pub const DATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/ndbc");

/// Absolute path of a sample file, given relative to [`DATA_DIR`].
pub fn path(rel: &str) -> PathBuf {
    PathBuf::from(DATA_DIR).join(rel)
}

/// Read a sample file, panicking with a helpful message if it is absent.
pub fn read(rel: &str) -> Vec<u8> {
    let p = path(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read sample file {}: {e}", p.display()))
}

/// All files under `DATA_DIR/rel_dir` (recursively) whose name ends with `suffix`, as paths relative to DATA_DIR, sorted.
pub fn files_under(rel_dir: &str, suffix: &str) -> Vec<String> {
    let root = PathBuf::from(DATA_DIR);
    let mut out = Vec::new();
    let mut stack = vec![root.join(rel_dir)];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries {
            let p = entry.expect("dir entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                let rel = p.strip_prefix(&root).expect("under root");
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// Reads one value field of a record.
pub type Getter = fn(&ndbc::Record) -> Option<f64>;

/// Field names of `ndbc::Record` values, in struct order, with a getter each.
pub const FIELDS: [(&str, Getter); 14] = [
    ("WDIR", |r| r.wind_dir_deg),
    ("WSPD", |r| r.wind_speed_mps),
    ("GST", |r| r.gust_mps),
    ("WVHT", |r| r.wave_height_m),
    ("DPD", |r| r.dominant_wave_period_s),
    ("APD", |r| r.average_wave_period_s),
    ("MWD", |r| r.mean_wave_dir_deg),
    ("PRES", |r| r.pressure_hpa),
    ("ATMP", |r| r.air_temp_c),
    ("WTMP", |r| r.water_temp_c),
    ("DEWP", |r| r.dew_point_c),
    ("VIS", |r| r.visibility_nmi),
    ("PTDY", |r| r.pressure_tendency_hpa),
    ("TIDE", |r| r.tide_ft),
];

/// Getter for a header column name (old names `WD`/`BAR` included); None for non-value columns.
pub fn getter(name: &str) -> Option<Getter> {
    let canonical = match name {
        "WD" => "WDIR",
        "BAR" => "PRES",
        other => other,
    };
    FIELDS
        .iter()
        .find(|(n, _)| *n == canonical)
        .map(|(_, g)| *g)
}

/// Compact expected-row notation: `"2018-08-01 15:10 | 160 6.0 7.0 - - - - 1022.9 - 28.0 - - - -"`,
/// the 14 values in Record field order (WDIR WSPD GST WVHT DPD APD MWD PRES ATMP WTMP DEWP VIS PTDY TIDE), `-` = None.
pub fn assert_row(rec: &ndbc::Record, expected: &str, ctx: &str) {
    let (time, values) = expected.split_once('|').expect("expected row needs a '|'");
    let time = chrono::NaiveDateTime::parse_from_str(time.trim(), "%Y-%m-%d %H:%M")
        .expect("expected time as YYYY-mm-dd HH:MM");
    assert_eq!(rec.time, time, "{ctx}: time");
    let values: Vec<&str> = values.split_whitespace().collect();
    assert_eq!(values.len(), 14, "{ctx}: expected row must list 14 values");
    for ((name, get), want) in FIELDS.iter().zip(values) {
        let want = if want == "-" {
            None
        } else {
            Some(want.parse::<f64>().expect("expected value"))
        };
        assert_eq!(get(rec), want, "{ctx}: {name}");
    }
}

/// Data lines of a file: non-blank lines not starting with `#`, after the first (header) line, with 1-based numbers.
pub fn data_lines(text: &str) -> Vec<(usize, &str)> {
    text.lines()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| (i + 1, l))
        .collect()
}
