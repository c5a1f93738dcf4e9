//! Integration tests: malformed and unusual input gives clear errors (or row errors) and never panics.

mod common;

use common::read;
use ndbc::{ParseError, RowError, parse_realtime};

const HEADER: &str = "#YY  MM DD hh mm WDIR WSPD GST  WVHT   DPD   APD MWD   PRES  ATMP  WTMP  DEWP  VIS PTDY  TIDE\n";
const UNITS: &str = "#yr  mo dy hr mn degT m/s  m/s     m   sec   sec degT   hPa  degC  degC  degC  nmi  hPa    ft\n";
const ROW1: &str = "2018 08 01 15 10 160  6.0  7.0    MM    MM    MM  MM 1022.9    MM  28.0    MM   MM   MM    MM\n";
const ROW2: &str = "2018 08 01 15 00 150  7.0  8.0    MM    MM    MM  MM 1023.0    MM  28.0    MM   MM +0.6    MM\n";

fn file(rows: &[&str]) -> String {
    let mut s = format!("{HEADER}{UNITS}");
    for r in rows {
        s.push_str(r);
    }
    s
}

#[test]
fn empty_input() {
    assert_eq!(parse_realtime(b""), Err(ParseError::Empty));
    assert_eq!(parse_realtime(b"\n\n  \r\n\t"), Err(ParseError::Empty));
    assert_eq!(
        ParseError::Empty.to_string(),
        "input is empty: no header line"
    );
}

#[test]
fn only_header_is_ok_and_empty() {
    let p = parse_realtime(format!("{HEADER}{UNITS}").as_bytes()).expect("ok");
    assert!(p.records.is_empty() && p.skipped.is_empty());
    let p = parse_realtime(HEADER.trim_end().as_bytes()).expect("ok without newline");
    assert!(p.records.is_empty() && p.skipped.is_empty());
}

#[test]
fn header_without_units_line() {
    let p = parse_realtime(format!("{HEADER}{ROW1}{ROW2}").as_bytes()).expect("ok");
    assert_eq!(p.records.len(), 2);
    assert_eq!(p.records[1].pressure_tendency_hpa, Some(0.6));
}

#[test]
fn garbage_bytes() {
    let err =
        parse_realtime(&[0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe, b'\n', b'1']).expect_err("binary");
    assert_eq!(err, ParseError::NotText { line: 1 });
    assert_eq!(
        err.to_string(),
        "line 1: not a text file (non-ASCII or control bytes in the header line)"
    );
    let err = parse_realtime(b"\n<html><body>404 Not Found</body></html>\n").expect_err("html");
    assert!(
        matches!(&err, ParseError::NoHeader { line: 2, found } if found.starts_with("<html>")),
        "{err:?}"
    );
    // A data row where the header should be.
    let err = parse_realtime(ROW1.as_bytes()).expect_err("no header");
    assert!(
        matches!(err, ParseError::NoHeader { line: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn header_problems() {
    assert_eq!(
        parse_realtime(b"#YY MM DD mm WDIR\n"),
        Err(ParseError::MissingTimeColumn {
            line: 1,
            column: "hh"
        })
    );
    assert_eq!(
        parse_realtime(b"#yr  mo dy hr mn degT m/s\n"),
        Err(ParseError::MissingTimeColumn {
            line: 1,
            column: "YY"
        })
    );
    assert_eq!(
        parse_realtime(b"#YY MM DD hh mm FOO BAR2\n"),
        Err(ParseError::NoValueColumns { line: 1 })
    );
    assert_eq!(
        parse_realtime(b"#YY MM DD hh mm PRES BAR\n"),
        Err(ParseError::DuplicateColumn {
            line: 1,
            column: "BAR".into()
        })
    );
    let err = parse_realtime(b"#YY  MM DD hh mm WDIR WSPD GDR GST GTIME\n").expect_err("cwind");
    assert_eq!(
        err.to_string(),
        "line 1: column `GDR` marks an NDBC continuous winds (.cwind) file, not a standard meteorological file"
    );
}

/// A file cut mid-row: the partial last row is a RowError, every earlier row survives.
#[test]
fn truncated_last_line() {
    let bytes = read("realtime2/41002.txt");
    let full = parse_realtime(&bytes).expect("full");
    let text = std::str::from_utf8(&bytes).expect("UTF-8");
    let last_line_no = text.lines().count();
    // Cut at several points inside the last row (it is 89 bytes + '\n').
    for cut in [2usize, 3, 5, 20, 40, 60, 80, 86] {
        let cut_bytes = &bytes[..bytes.len() - cut];
        let p = parse_realtime(cut_bytes).expect("parses");
        assert!(
            p.records[..] == full.records[..full.records.len() - 1],
            "cut {cut}"
        );
        assert_eq!(p.skipped.len(), 1, "cut {cut}");
        assert_eq!(
            p.skipped[0].line, last_line_no,
            "cut {cut}: {}",
            p.skipped[0]
        );
    }
    // Only the newline missing: nothing lost.
    let p = parse_realtime(&bytes[..bytes.len() - 1]).expect("parses");
    assert!(p == full, "only the final newline removed");
}

#[test]
fn wrong_column_count() {
    let short =
        "2018 08 01 14 50 150  7.0  8.0   1.2     6   4.5 209 1023.0    MM  28.0    MM   MM   MM\n";
    let long = "2018 08 01 14 40 150  7.0  8.0   1.2     6   4.5 209 1023.0    MM  28.0    MM   MM   MM MM MM\n";
    let p = parse_realtime(file(&[ROW1, short, long, ROW2]).as_bytes()).expect("ok");
    assert_eq!(p.records.len(), 2);
    assert_eq!(
        p.skipped,
        vec![
            RowError {
                line: 4,
                reason: "expected 19 fields, found 18".into()
            },
            RowError {
                line: 5,
                reason: "expected 19 fields, found 20".into()
            },
        ]
    );
    assert_eq!(
        p.skipped[0].to_string(),
        "line 4: expected 19 fields, found 18"
    );
}

#[test]
fn impossible_dates_and_times() {
    let feb30 = "2023 02 30 00 00 160  6.0  7.0    MM    MM    MM  MM 1022.9    MM  28.0    MM   MM   MM    MM\n";
    let h24 = "2023 02 28 24 00 160  6.0  7.0    MM    MM    MM  MM 1022.9    MM  28.0    MM   MM   MM    MM\n";
    let m60 = "2023 02 28 23 60 160  6.0  7.0    MM    MM    MM  MM 1022.9    MM  28.0    MM   MM   MM    MM\n";
    let month13 = "2023 13 01 00 00 160  6.0  7.0    MM    MM    MM  MM 1022.9    MM  28.0    MM   MM   MM    MM\n";
    let leap = "2024 02 29 00 00 160  6.0  7.0    MM    MM    MM  MM 1022.9    MM  28.0    MM   MM   MM    MM\n";
    let p = parse_realtime(file(&[feb30, h24, m60, month13, leap]).as_bytes()).expect("ok");
    assert_eq!(p.records.len(), 1, "only 2024-02-29 is a real date");
    let reasons: Vec<&str> = p.skipped.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "impossible date 2023-02-30",
            "impossible time 24:00",
            "impossible time 23:60",
            "impossible date 2023-13-01"
        ]
    );
    assert_eq!(p.skipped[0].line, 3);
}

#[test]
fn bad_values() {
    let word = "2018 08 01 15 10 160  6.0  7.0    MM    MM    MM  MM 1O22.9    MM  28.0    MM   MM   MM    MM\n";
    let huge = format!(
        "2018 08 01 15 10 160  6.0  7.0    MM    MM    MM  MM {}    MM  28.0    MM   MM   MM    MM\n",
        "9".repeat(400)
    );
    let nan = "2018 08 01 15 10 NaN  6.0  7.0    MM    MM    MM  MM 1022.9    MM  28.0    MM   MM   MM    MM\n";
    let inf = "2018 08 01 15 10 160  inf  7.0    MM    MM    MM  MM 1022.9    MM  28.0    MM   MM   MM    MM\n";
    let bad_time = "2018 08 0x 15 10 160  6.0  7.0    MM    MM    MM  MM 1022.9    MM  28.0    MM   MM   MM    MM\n";
    let latin1 = "2018 08 01 15 10 160  6.0  7.0    MM    MM    MM  MM 1022.9    MM  28\u{b0}    MM   MM   MM    MM\n";
    let p = parse_realtime(file(&[word, &huge, nan, inf, bad_time, latin1, ROW1]).as_bytes())
        .expect("ok");
    assert_eq!(p.records.len(), 1);
    let reasons: Vec<&str> = p.skipped.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(reasons[0], r#"field 13 (PRES): not a number: "1O22.9""#);
    assert!(
        reasons[1].starts_with("field 13 (PRES): number out of range"),
        "{}",
        reasons[1]
    );
    assert_eq!(reasons[2], r#"field 6 (WDIR): not a number: "NaN""#);
    assert_eq!(reasons[3], r#"field 7 (WSPD): not a number: "inf""#);
    assert_eq!(
        reasons[4],
        r#"field 3 (DD): not a 1- or 2-digit number: "0x""#
    );
    assert!(
        reasons[5].starts_with("field 15 (WTMP): not a number"),
        "{}",
        reasons[5]
    );

    // Raw ISO-8859-1 (non-UTF-8) byte in a row.
    let mut bytes = file(&[ROW1]).into_bytes();
    bytes.extend_from_slice(b"2018 08 01 15 00 150  7.0  8.0    MM    MM    MM  MM 1023.0    MM  28\xb0    MM   MM +0.6    MM\n");
    let p = parse_realtime(&bytes).expect("ok");
    assert_eq!(p.records.len(), 1);
    assert_eq!(p.skipped.len(), 1);
    assert_eq!(p.skipped[0].line, 4);
}

/// CRLF, tabs, trailing blanks, blank lines, a BOM and no final newline all give the same records.
#[test]
fn whitespace_tolerance() {
    let plain = parse_realtime(file(&[ROW1, ROW2]).as_bytes()).expect("plain");
    let crlf = file(&[ROW1, ROW2]).replace('\n', "\r\n");
    let tabs = file(&[ROW1, ROW2]).replace("  ", "\t");
    let messy = format!(
        "\u{feff}\n\n{HEADER}   \n{UNITS}\n{}  \t \n\n   {}",
        ROW1.trim_end(),
        ROW2.trim_end()
    );
    for variant in [crlf, tabs, messy] {
        let p = parse_realtime(variant.as_bytes()).expect("variant");
        assert_eq!(p, plain, "{variant:?}");
    }
    // The real 41002 file converted to CRLF.
    let bytes = read("realtime2/41002.txt");
    let crlf: Vec<u8> = bytes
        .iter()
        .flat_map(|&b| {
            if b == b'\n' {
                vec![b'\r', b'\n']
            } else {
                vec![b]
            }
        })
        .collect();
    assert_eq!(parse_realtime(&crlf), parse_realtime(&bytes));
}

/// Columns are mapped by name: a file with fewer columns, in another order, still parses.
#[test]
fn subset_and_reordered_columns() {
    let s = "#YY MM DD hh mm PTDY WSPD\n#yr mo dy hr mn hPa m/s\n2024 01 02 03 04 -0.0 12.5\n";
    let p = parse_realtime(s.as_bytes()).expect("ok");
    let r = &p.records[0];
    assert_eq!(r.time.to_string(), "2024-01-02 03:04:00");
    assert_eq!(r.wind_speed_mps, Some(12.5));
    assert_eq!(r.pressure_tendency_hpa, Some(-0.0));
    assert_eq!(r.wind_dir_deg, None);
    assert_eq!(r.tide_ft, None);
}

/// Bad rows of the other products are skipped with a reason naming the field; the rest is kept.
#[test]
fn product_rows_with_reasons() {
    use ndbc::{Payload, Product, parse_product};
    let cases: &[(Product, &str, &str)] = &[
        (
            Product::Cwind,
            "#YY  MM DD hh mm WDIR WSPD GDR GST GTIME\n2018 08 01 14 50 158 6.0 150 9.0 2460\n",
            "field 10 (GTIME): not an hhmm time: \"2460\"",
        ),
        (
            Product::Ocean,
            "#YY  MM DD hh mm   DEPTH  OTMP\n2022 06 05 12 04 1.0 13.1 7\n",
            "expected at most 7 fields, found more",
        ),
        (
            Product::Rain,
            "#YY  MM DD hh mm  ACCUM\n2018 02 30 14 00 0.0\n",
            "impossible date 2018-02-30",
        ),
        (
            Product::Srad,
            "#YY  MM DD hh mm  SRAD1  SWRAD  LWRAD\n2018 08 01\n",
            "expected at least 5 fields (the date and time), found 3",
        ),
        (
            Product::Swr1,
            "#YY  MM DD hh mm r1_1 (freq_1) r1_2 (freq_2)\n2022 06 05 12 50 0.19 (0.068) 0.25\n",
            "row ends with a value without its (frequency)",
        ),
        (
            Product::DataSpec,
            "#YY  MM DD hh mm Sep_Freq  < spec_1 (freq_1) >\n2022 06 05 12 50 0.25 0.1 (x)\n",
            "field 8 ((frequency)): not a number: \"(x)\"",
        ),
        (
            Product::Adcp,
            "#YY  MM DD hh mm DEP01 DIR01 SPD01\n2022 06 05 12 04 2 190 fast\n",
            "field 8 (SPD): not a number: \"fast\"",
        ),
    ];
    for (product, text, reason) in cases {
        let parsed = parse_product(*product, text.as_bytes()).expect("valid header");
        assert_eq!(parsed.records.len(), 0, "{product:?}");
        assert_eq!(parsed.skipped.len(), 1, "{product:?}");
        assert_eq!(parsed.skipped[0].line, 2, "{product:?}");
        assert_eq!(parsed.skipped[0].reason, *reason, "{product:?}");
    }
    // A row that stops early keeps its date and gives None for the rest.
    let p = parse_product(
        Product::Srad,
        b"#YY  MM DD hh mm  SRAD1  SWRAD  LWRAD\n2018 08 01 15 00 58.1\n",
    )
    .expect("valid");
    let Payload::SolarRadiation(s) = &p.records[0].payload else {
        panic!("srad")
    };
    assert_eq!(
        (
            s.shortwave_licor_wm2,
            s.shortwave_eppley_wm2,
            s.longwave_wm2
        ),
        (Some(58.1), None, None)
    );
}
