//! Property tests: the realtime parser never panics, and generated valid rows round-trip exactly.

mod common;

use common::FIELDS;
use ndbc::{parse_active_stations, parse_realtime};
use proptest::prelude::*;

const HEADER: &str = "#YY  MM DD hh mm WDIR WSPD GST  WVHT   DPD   APD MWD   PRES  ATMP  WTMP  DEWP  VIS PTDY  TIDE\n#yr  mo dy hr mn degT m/s  m/s     m   sec   sec degT   hPa  degC  degC  degC  nmi  hPa    ft\n";

/// Tokens that look like what appears in real files, plus troublemakers.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("MM".to_owned()),
        Just("99.0".to_owned()),
        Just("-0.0".to_owned()),
        Just("+".to_owned()),
        Just(".".to_owned()),
        Just("#".to_owned()),
        Just("NaN".to_owned()),
        Just("1e308".to_owned()),
        Just("\u{b0}".to_owned()),
        (0u32..3000).prop_map(|n| n.to_string()),
        (-5000i32..5000).prop_map(|n| format!("{:+.1}", f64::from(n) / 10.0)),
        "[0-9]{1,30}(\\.[0-9]{0,30})?",
        "[ -~]{1,8}",
    ]
}

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(token(), 0..25).prop_map(|t| t.join(" ")),
        "[ -~\t\r]{0,120}",
        proptest::collection::vec(any::<u8>(), 0..60)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

/// One value column: None (written `MM`) or a number with one decimal.
fn value() -> impl Strategy<Value = Option<i32>> {
    prop_oneof![1 => Just(None), 3 => (-20000i32..20000).prop_map(Some)]
}

fn sep() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just(" "),
        Just("  "),
        Just("    "),
        Just("\t"),
        Just(" \t ")
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = parse_realtime(&bytes);
    }

    #[test]
    fn stations_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_active_stations(&bytes);
    }

    /// Station elements with random attribute values: never panics; kept stations are valid.
    #[test]
    fn stations_random_attributes(
        attrs in proptest::collection::vec(
            ("(id|lat|lon|elev|name|met|dart|type)", "[ -~]{0,12}"),
            0..10,
        )
    ) {
        let mut xml = String::from("<stations><station");
        for (k, v) in &attrs {
            let v = v.replace('&', "&amp;").replace('<', "&lt;").replace('"', "&quot;");
            xml.push_str(&format!(" {k}=\"{v}\""));
        }
        xml.push_str("/></stations>");
        // Duplicate attribute names are an XML error; anything else parses.
        if let Ok(st) = parse_active_stations(xml.as_bytes()) {
            for s in st {
                prop_assert!(s.latitude.abs() <= 90.0 && s.longitude.abs() <= 180.0);
                prop_assert!(!s.id.is_empty());
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[ -~\t\r\n]{0,2000}") {
        let _ = parse_realtime(text.as_bytes());
    }

    /// Any lines after a valid header: never panics, and every data line is either a record or a row error.
    #[test]
    fn arbitrary_lines_after_header(lines in proptest::collection::vec(line(), 0..40)) {
        let text = format!("{HEADER}{}", lines.join("\n"));
        let parsed = parse_realtime(text.as_bytes()).expect("valid header");
        let data_lines = text
            .split('\n')
            .skip(2)
            .filter(|l| {
                let t = l.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\r' | '\x0b' | '\x0c'));
                !t.is_empty() && !t.starts_with('#')
            })
            .count();
        prop_assert_eq!(parsed.records.len() + parsed.skipped.len(), data_lines);
        for r in &parsed.records {
            for (_, get) in FIELDS {
                if let Some(v) = get(r) {
                    prop_assert!(v.is_finite());
                }
            }
        }
    }

    /// Valid rows with random one-decimal values and random `MM` come back exactly.
    #[test]
    fn valid_rows_round_trip(
        rows in proptest::collection::vec(
            (
                (1970i32..2100, 1u32..=12, 1u32..=28, 0u32..24, 0u32..60),
                proptest::collection::vec(value(), 14),
                proptest::collection::vec(sep(), 19),
            ),
            1..30,
        ),
        crlf in any::<bool>(),
        final_newline in any::<bool>(),
    ) {
        let mut text = HEADER.to_owned();
        for (i, ((y, mo, d, h, mi), values, seps)) in rows.iter().enumerate() {
            let mut fields = vec![
                format!("{y}"),
                format!("{mo:02}"),
                format!("{d:02}"),
                format!("{h:02}"),
                format!("{mi:02}"),
            ];
            for (k, v) in values.iter().enumerate() {
                fields.push(match v {
                    None => "MM".to_owned(),
                    // PTDY is written with an explicit sign, like NDBC does.
                    Some(n) if k == 12 => format!("{:+.1}", f64::from(*n) / 10.0),
                    Some(n) => format!("{:.1}", f64::from(*n) / 10.0),
                });
            }
            for (f, s) in fields.iter().zip(seps) {
                text.push_str(f);
                text.push_str(s);
            }
            if i + 1 < rows.len() || final_newline {
                text.push_str(if crlf { "\r\n" } else { "\n" });
            }
        }
        let parsed = parse_realtime(text.as_bytes()).expect("valid file");
        prop_assert_eq!(&parsed.skipped, &vec![]);
        prop_assert_eq!(parsed.records.len(), rows.len());
        for (rec, ((y, mo, d, h, mi), values, _)) in parsed.records.iter().zip(&rows) {
            let time = chrono::NaiveDate::from_ymd_opt(*y, *mo, *d)
                .and_then(|d| d.and_hms_opt(*h, *mi, 0))
                .expect("valid date");
            prop_assert_eq!(rec.time, time);
            for ((name, get), v) in FIELDS.iter().zip(values) {
                let want = v.map(|n| f64::from(n) / 10.0);
                prop_assert_eq!(get(rec), want, "{}", name);
            }
        }
    }
}
