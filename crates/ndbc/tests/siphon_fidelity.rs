//! Fidelity against independent parsers: every sample file (every realtime2 product and
//! latest_obs) is read by `tests/fidelity/independent.py` and every value compared with ours.
//!
//! That script uses Unidata siphon's own NDBC parsers (`siphon.simplewebservice.ndbc.NDBC`,
//! pandas underneath) for `.txt .spec .ocean .cwind .dart .supl .srad .rain .drift` and
//! latest_obs, and a plain whitespace-split reader applying the fill rules of NDBC's format page
//! for the files siphon does not read (`.data_spec .swdir .swdir2 .swr1 .swr2 .adcp .dmv`).
//! It needs `python3` with `siphon` installed (`scripts/test` installs it); without them this
//! test fails, it is never skipped.
//!
//! One deliberate difference: siphon puts an `hhmm` time (`GTIME`, `PTIME`, `WTIME`) on the row's
//! date even when it belongs to the day before (`2302` in the `00:00` row); ours is on the day
//! nearest the row's time. Such values must differ by exactly one day, with ours the nearer.

mod common;

use std::process::Command;

use chrono::NaiveDateTime;
use common::{DATA_DIR, files_under, path, read};
use ndbc::{Product, parse_latest_obs, parse_product};
use serde_json::{Map, Value, json};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fidelity/independent.py");

/// Run the independent reader on `(product, file)` pairs; file → rows.
fn independent(files: &[(String, String)]) -> Map<String, Value> {
    let mut cmd = Command::new("python3");
    cmd.arg(SCRIPT);
    for (product, rel) in files {
        cmd.arg(product).arg(path(rel));
    }
    let out = cmd.output().unwrap_or_else(|e| {
        panic!(
            "python3 is required for this test (with siphon: `python3 -m pip install siphon`): {e}"
        )
    });
    assert!(
        out.status.success(),
        "the independent reader failed (is siphon installed? `python3 -m pip install siphon`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("the reader prints JSON");
    match v {
        Value::Object(m) => m,
        other => panic!("expected a JSON object, got {other}"),
    }
}

/// Fields holding an `hhmm` time of day.
const CLOCK_FIELDS: [&str; 3] = ["gustTime", "lowestPressureTime", "highestWindTime"];

/// Compare one value; returns whether it was a one-day `hhmm` adjustment.
fn same(ours: &Value, theirs: &Value, key: &str, row_time: NaiveDateTime, ctx: &str) -> bool {
    if CLOCK_FIELDS.contains(&key) {
        let (Some(o), Some(t)) = (ours.as_str(), theirs.as_str()) else {
            assert_eq!(
                ours.is_null(),
                theirs.is_null(),
                "{ctx}: {key}: {ours} vs {t}",
                t = theirs
            );
            return false;
        };
        let o = NaiveDateTime::parse_from_str(o, "%Y-%m-%dT%H:%M:%S%.3fZ").expect("ISO time");
        let t = NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").expect("siphon time");
        if o == t {
            return false;
        }
        let day = chrono::TimeDelta::days(1);
        assert!(
            (o - t == day || t - o == day) && (o - row_time).abs() < (t - row_time).abs(),
            "{ctx}: {key}: ours {o} vs siphon {t} (row {row_time})"
        );
        return true;
    }
    match (ours, theirs) {
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{ctx}: {key}: length");
            let mut adjusted = false;
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                adjusted |= same(x, y, key, row_time, &format!("{ctx}: {key}[{i}]"));
            }
            adjusted
        }
        (Value::Object(a), Value::Object(b)) => {
            let mut ka: Vec<&String> = a.keys().collect();
            let mut kb: Vec<&String> = b.keys().collect();
            ka.sort();
            kb.sort();
            assert_eq!(ka, kb, "{ctx}: field names");
            let mut adjusted = false;
            for (k, x) in a {
                adjusted |= same(x, &b[k], k, row_time, &format!("{ctx}.{k}"));
            }
            adjusted
        }
        (Value::Number(x), Value::Number(y)) => {
            assert_eq!(x.as_f64(), y.as_f64(), "{ctx}: {key}");
            false
        }
        _ => {
            assert_eq!(ours, theirs, "{ctx}: {key}");
            false
        }
    }
}

fn row_time(v: &Value, ctx: &str) -> NaiveDateTime {
    let t = v["time"]
        .as_str()
        .unwrap_or_else(|| panic!("{ctx}: no time"));
    NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").expect("time")
}

#[test]
fn every_sample_file_matches_the_independent_readers() {
    let mut files: Vec<(String, String)> = files_under("realtime2", "")
        .into_iter()
        .map(|rel| {
            let name = rel.rsplit('/').next().unwrap_or(&rel).to_owned();
            let (_, product) = Product::split_file_name(&name).expect("a product file");
            (product.extension().to_owned(), rel)
        })
        .collect();
    files.push((
        "latest_obs".to_owned(),
        "latest_obs/latest_obs.txt".to_owned(),
    ));
    let theirs = independent(&files);

    let mut compared_values = 0usize;
    let mut adjusted = 0usize;
    for (product, rel) in &files {
        let key = path(rel).to_string_lossy().into_owned();
        let their_rows = theirs[&key]
            .as_array()
            .unwrap_or_else(|| panic!("{rel}: no rows from the reader"));
        let bytes = read(rel);
        let ours: Vec<Value> = if product == "latest_obs" {
            let parsed = parse_latest_obs(&bytes).expect("parses");
            assert_eq!(parsed.skipped, vec![], "{rel}");
            parsed
                .records
                .iter()
                .map(|o| {
                    json!({
                        "time": o.record.time.format("%Y-%m-%dT%H:%M:%S").to_string(),
                        "station": o.station,
                        "latitude": o.latitude,
                        "longitude": o.longitude,
                        "fields": o.record,
                    })
                })
                .collect()
        } else {
            let p = Product::from_extension(product).expect("product");
            let parsed = parse_product(p, &bytes).unwrap_or_else(|e| panic!("{rel}: {e}"));
            assert_eq!(parsed.skipped, vec![], "{rel}");
            parsed
                .records
                .iter()
                .map(|e| {
                    json!({
                        "time": e.time.format("%Y-%m-%dT%H:%M:%S").to_string(),
                        "fields": e.payload,
                    })
                })
                .collect()
        };
        assert_eq!(
            ours.len(),
            their_rows.len(),
            "{rel}: row count (ours vs independent)"
        );
        for (i, (o, t)) in ours.iter().zip(their_rows).enumerate() {
            let ctx = format!("{rel} row {}", i + 1);
            let time = row_time(o, &ctx);
            assert_eq!(o["time"], t["time"], "{ctx}: time");
            for k in ["station", "latitude", "longitude"] {
                assert_eq!(o.get(k), t.get(k), "{ctx}: {k}");
            }
            if same(&o["fields"], &t["fields"], "fields", time, &ctx) {
                adjusted += 1;
            }
            compared_values += count_leaves(&o["fields"]);
        }
    }
    eprintln!(
        "compared {compared_values} values in {} files under {DATA_DIR}; {adjusted} rows with an hhmm time on the day before/after",
        files.len()
    );
    assert!(
        compared_values > 500_000,
        "{compared_values} values compared"
    );
}

fn count_leaves(v: &Value) -> usize {
    match v {
        Value::Array(a) => a.iter().map(count_leaves).sum(),
        Value::Object(o) => o.values().map(count_leaves).sum(),
        _ => 1,
    }
}
