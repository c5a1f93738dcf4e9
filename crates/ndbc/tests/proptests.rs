//! Property tests: every parser (stdmet, every realtime2 product, latest_obs) never panics, and
//! generated valid rows round-trip exactly.

mod common;

use common::FIELDS;
use ndbc::{
    Payload, Product, parse_active_stations, parse_latest_obs, parse_product, parse_realtime,
};
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

    /// Any bytes, as any product: never panics.
    #[test]
    fn every_product_arbitrary_bytes_never_panic(
        product in 0..Product::ALL.len(),
        bytes in proptest::collection::vec(any::<u8>(), 0..4096),
    ) {
        let _ = parse_product(Product::ALL[product], &bytes);
        let _ = parse_latest_obs(&bytes);
    }

    /// Any lines after a real header of each product: never panics, and every data line is
    /// either an entry or a row error.
    #[test]
    fn every_product_arbitrary_lines_after_header(
        product in 0..Product::ALL.len(),
        lines in proptest::collection::vec(line(), 0..30),
    ) {
        let product = Product::ALL[product];
        let text = format!("{}\n{}", header_of(product), lines.join("\n"));
        let parsed = parse_product(product, text.as_bytes()).expect("valid header");
        prop_assert_eq!(parsed.records.len() + parsed.skipped.len(), data_line_count(&text));
        for e in &parsed.records {
            prop_assert_eq!(e.payload.kind(), product.kind());
        }
    }

    /// Spectral rows with a random number of bins, random fills and random spacing come back
    /// exactly (999 → None in the directional files, 9.999 separation → None).
    #[test]
    fn spectral_rows_round_trip(
        product in prop_oneof![
            Just(Product::DataSpec), Just(Product::Swdir), Just(Product::Swr1), Just(Product::Swr2)
        ],
        rows in proptest::collection::vec(
            (
                (2000i32..2100, 1u32..=12, 1u32..=28, 0u32..24, 0u32..60),
                prop_oneof![Just(None), (0i32..500).prop_map(Some)],
                proptest::collection::vec(prop_oneof![Just(None), (0i32..99_999).prop_map(Some)], 0..60),
            ),
            1..10,
        ),
        sep in sep(),
    ) {
        let header = header_of(product);
        let mut text = format!("{header}\n");
        for ((y, mo, d, h, mi), separation, values) in &rows {
            text.push_str(&format!("{y} {mo:02} {d:02} {h:02} {mi:02}"));
            if product == Product::DataSpec {
                match separation {
                    None => text.push_str(" 9.999"),
                    Some(n) => text.push_str(&format!(" {:.3}", f64::from(*n) / 1000.0)),
                }
            }
            for (i, v) in values.iter().enumerate() {
                let v = match v {
                    None if product == Product::DataSpec => "MM".to_owned(),
                    None => "999.00".to_owned(),
                    Some(n) => format!("{:.2}", f64::from(*n) / 100.0),
                };
                text.push_str(&format!("{sep}{v}{sep}({:.3})", 0.03 + 0.005 * i as f64));
            }
            text.push('\n');
        }
        let parsed = parse_product(product, text.as_bytes()).expect("valid file");
        prop_assert_eq!(&parsed.skipped, &vec![]);
        prop_assert_eq!(parsed.records.len(), rows.len());
        for (e, ((y, mo, d, h, mi), separation, values)) in parsed.records.iter().zip(&rows) {
            let time = chrono::NaiveDate::from_ymd_opt(*y, *mo, *d)
                .and_then(|d| d.and_hms_opt(*h, *mi, 0))
                .expect("valid date");
            prop_assert_eq!(e.time, time);
            let Payload::Spectrum(s) = &e.payload else { panic!("not a spectrum") };
            let want: Vec<Option<f64>> = values
                .iter()
                // 999.0 is a fill in the direction and r1/r2 files only; an energy density is
                // taken as written (the README's fill table).
                .map(|v| {
                    v.map(|n| f64::from(n) / 100.0)
                        .filter(|x| product == Product::DataSpec || *x != 999.0)
                })
                .collect();
            let got = [&s.energy_density_m2_per_hz, &s.mean_dir_deg, &s.r1, &s.r2]
                .into_iter()
                .flatten()
                .next()
                .expect("one array");
            prop_assert_eq!(got, &want);
            prop_assert_eq!(s.frequencies_hz.len(), values.len());
            if product == Product::DataSpec {
                prop_assert_eq!(s.separation_freq_hz, separation.map(|n| f64::from(n) / 1000.0));
            }
        }
    }

    /// ADCP rows with a random number of bins (and `MM`) come back exactly.
    #[test]
    fn adcp_rows_round_trip(
        rows in proptest::collection::vec(
            proptest::collection::vec(
                proptest::collection::vec(prop_oneof![1 => Just(None), 4 => (0i32..400).prop_map(Some)], 3),
                0..25,
            ),
            1..10,
        ),
    ) {
        let mut text = format!("{}\n", header_of(Product::Adcp));
        for bins in &rows {
            text.push_str("2022 06 05 12 04");
            for v in bins.iter().flatten() {
                text.push_str(&v.map_or(" MM".to_owned(), |n| format!(" {n}")));
            }
            text.push('\n');
        }
        let parsed = parse_product(Product::Adcp, text.as_bytes()).expect("valid file");
        prop_assert_eq!(&parsed.skipped, &vec![]);
        for (e, bins) in parsed.records.iter().zip(&rows) {
            let Payload::Currents(c) = &e.payload else { panic!("not currents") };
            let got: Vec<Vec<Option<f64>>> = c
                .bins
                .iter()
                .map(|b| vec![b.depth_m, b.dir_deg, b.speed_cm_per_s])
                .collect();
            let want: Vec<Vec<Option<f64>>> = bins
                .iter()
                .map(|b| b.iter().map(|v| v.map(f64::from)).collect())
                .collect();
            prop_assert_eq!(got, want);
        }
    }

    /// Continuous-wind rows with fills (999, 99.0, 9999) and random gust times come back exactly.
    #[test]
    fn cwind_rows_round_trip(
        rows in proptest::collection::vec(
            (0u32..24, 0u32..60, 0u32..360, 0u32..300, prop_oneof![Just(None), (0u32..360).prop_map(Some)],
             prop_oneof![Just(None), (0u32..500).prop_map(Some)], prop_oneof![Just(None), (0u32..60).prop_map(Some)]),
            1..20,
        ),
    ) {
        let mut text = format!("{}\n", header_of(Product::Cwind));
        for (h, m, dir, spd, gdr, gst, gmin) in &rows {
            let gdr = gdr.map_or("999".to_owned(), |v| format!("{v:03}"));
            let gst = gst.map_or("99.0".to_owned(), |v| format!("{:.1}", f64::from(v) / 10.0));
            let gtime = gmin.map_or("9999".to_owned(), |v| format!("{h:02}{v:02}"));
            text.push_str(&format!(
                "2018 08 01 {h:02} {m:02} {dir:03} {:4.1} {gdr} {gst} {gtime}\n",
                f64::from(*spd) / 10.0
            ));
        }
        let parsed = parse_product(Product::Cwind, text.as_bytes()).expect("valid file");
        prop_assert_eq!(&parsed.skipped, &vec![]);
        for (e, (h, _, dir, spd, gdr, gst, gmin)) in parsed.records.iter().zip(&rows) {
            let Payload::ContinuousWind(w) = &e.payload else { panic!("not cwind") };
            prop_assert_eq!(w.wind_dir_deg, Some(f64::from(*dir)));
            prop_assert_eq!(w.wind_speed_mps, Some(f64::from(*spd) / 10.0));
            prop_assert_eq!(w.gust_dir_deg, gdr.map(f64::from));
            prop_assert_eq!(w.gust_speed_mps, gst.map(|v| f64::from(v) / 10.0).filter(|v| *v != 99.0));
            prop_assert_eq!(
                w.gust_time.clone(),
                gmin.map(|v| format!("2018-08-01T{h:02}:{v:02}:00.000Z"))
            );
        }
    }
}

/// The header line of a real file of each product.
fn header_of(product: Product) -> &'static str {
    match product {
        Product::Stdmet => HEADER.lines().next().unwrap_or_default(),
        Product::Spec => "#YY  MM DD hh mm WVHT  SwH  SwP  WWH  WWP SwD WWD  STEEPNESS  APD MWD",
        Product::DataSpec => {
            "#YY  MM DD hh mm Sep_Freq  < spec_1 (freq_1) spec_2 (freq_2) spec_3 (freq_3) ... >"
        }
        Product::Swdir => {
            "#YY  MM DD hh mm alpha1_1 (freq_1) alpha1_2 (freq_2) alpha1_3 (freq_3) ... >"
        }
        Product::Swdir2 => {
            "#YY  MM DD hh mm alpha2_1 (freq_1) alpha2_2 (freq_2) alpha2_3 (freq_3) ... >"
        }
        Product::Swr1 => "#YY  MM DD hh mm r1_1 (freq_1) r1_2 (freq_2) r1_3 (freq_3) ... >",
        Product::Swr2 => "#YY  MM DD hh mm r2_1 (freq_1) r2_2 (freq_2) r2_3 (freq_3) ... >",
        Product::Ocean => {
            "#YY  MM DD hh mm   DEPTH  OTMP   COND   SAL   O2% O2PPM  CLCON  TURB    PH    EH"
        }
        Product::Cwind => "#YY  MM DD hh mm WDIR WSPD GDR GST GTIME",
        Product::Dart => "#YY  MM DD hh mm ss T   HEIGHT",
        Product::Supl => "#YY  MM DD hh mm   PRES PTIME  WSPD  WDIR WTIME",
        Product::Srad => "#YY  MM DD hh mm  SRAD1  SWRAD  LWRAD",
        Product::Rain => "#YY  MM DD hh mm  ACCUM",
        Product::Drift => "#YY  MM DD hhmm     LAT      LON WDIR WSPD GST   PRES PTDY ATMP WTMP",
        Product::Adcp => "#YY  MM DD hh mm DEP01 DIR01 SPD01 DEP02 DIR02 SPD02 DEP03 DIR03 SPD03",
        Product::Dmv => "#YY  MM DD hh mm CHILL  HEAT   ICE WSPD10 WSPD20",
    }
}

/// Data lines after the first (header) line: not blank, not starting with `#`.
fn data_line_count(text: &str) -> usize {
    text.split('\n')
        .skip(1)
        .filter(|l| {
            let t = l.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\r' | '\x0b' | '\x0c'));
            !t.is_empty() && !t.starts_with('#')
        })
        .count()
}
