//! Integration tests: every real realtime2 sample file of every product (excerpts, snapshots
//! and latest_obs too) parses completely, one entry per data line, and the first and last rows
//! hold the values written in the file.

mod common;

use common::{data_lines, files_under, read};
use ndbc::{
    Entry, Kind, Payload, Product, Spectrum, join_spectra, parse_latest_obs, parse_product,
};
use serde_json::Value;

/// The product of a sample file, from its extension.
fn product_of(rel: &str) -> Product {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    Product::split_file_name(name)
        .unwrap_or_else(|| panic!("{rel}: no product for this file name"))
        .1
}

/// Parse `rel` with its product, requiring no skipped row and one entry per data line.
fn parse_all(rel: &str) -> Vec<Entry> {
    let bytes = read(rel);
    let product = product_of(rel);
    let parsed = parse_product(product, &bytes).unwrap_or_else(|e| panic!("{rel}: {e}"));
    assert_eq!(parsed.skipped, vec![], "{rel}: skipped rows");
    let text = String::from_utf8(bytes).expect("sample is UTF-8");
    assert_eq!(
        parsed.records.len(),
        data_lines(&text).len(),
        "{rel}: entries vs data lines"
    );
    for e in &parsed.records {
        assert_eq!(e.payload.kind(), product.kind(), "{rel}: kind");
    }
    parsed.records
}

#[test]
fn every_sample_file_parses_completely() {
    let files = files_under("realtime2", "");
    let mut seen = std::collections::HashSet::new();
    for rel in &files {
        let entries = parse_all(rel);
        assert!(!entries.is_empty(), "{rel}: no entries");
        // realtime2 files are newest first.
        for w in entries.windows(2) {
            assert!(
                w[0].time >= w[1].time,
                "{rel}: not newest first at {}",
                w[1].time
            );
        }
        seen.insert(product_of(rel));
    }
    for p in Product::ALL {
        assert!(seen.contains(&p), "no sample file for {p:?}");
    }
}

/// Compare an entry with `"YYYY-mm-dd HH:MM[:SS] | key=value key=value"`: the listed JSON
/// fields must have these values (numbers or strings), every other field must be `null`.
fn assert_entry(e: &Entry, expected: &str, ctx: &str) {
    let (time, fields) = expected.split_once('|').expect("expected needs a '|'");
    let time = time.trim();
    let fmt = if time.len() > 16 {
        "%Y-%m-%d %H:%M:%S"
    } else {
        "%Y-%m-%d %H:%M"
    };
    let want_time = chrono::NaiveDateTime::parse_from_str(time, fmt).expect("expected time");
    assert_eq!(e.time, want_time, "{ctx}: time");
    let json = serde_json::to_value(&e.payload).expect("serializes");
    let obj = json.as_object().expect("payload is a JSON object");
    let mut listed = Vec::new();
    for pair in fields.split_whitespace() {
        let (k, v) = pair.split_once('=').expect("key=value");
        listed.push(k);
        let got = obj
            .get(k)
            .unwrap_or_else(|| panic!("{ctx}: no field {k} in {json}"));
        match v.parse::<f64>() {
            Ok(n) => assert_eq!(got.as_f64(), Some(n), "{ctx}: {k}"),
            Err(_) => assert_eq!(got.as_str(), Some(v), "{ctx}: {k}"),
        }
    }
    for (k, v) in obj {
        if !listed.contains(&k.as_str()) {
            assert_eq!(v, &Value::Null, "{ctx}: {k} should be null");
        }
    }
}

/// (file, first row, last row) for the fixed-column products, written from the file text.
const FIXED: &[(&str, &str, &str)] = &[
    (
        "realtime2/41001.spec",
        "2022-08-13 17:40 | significantWaveHeightM=0.7 swellHeightM=0.6 swellPeriodS=5.0 windWaveHeightM=0.4 windWavePeriodS=3.7 swellDir=NW windWaveDir=SW averageWavePeriodS=4.5 meanWaveDirDeg=317",
        "2022-06-29 00:40 | significantWaveHeightM=1.0 swellHeightM=0.9 swellPeriodS=8.3 windWaveHeightM=0.2 windWavePeriodS=3.1 swellDir=ESE windWaveDir=SSE steepness=SWELL averageWavePeriodS=6.5 meanWaveDirDeg=102",
    ),
    (
        "realtime2/41002.spec",
        "2018-08-01 14:40 | significantWaveHeightM=1.2 swellHeightM=0.6 swellPeriodS=8.3 windWaveHeightM=1.0 windWavePeriodS=5.9 swellDir=SE windWaveDir=SSW steepness=STEEP averageWavePeriodS=4.5 meanWaveDirDeg=209",
        "2018-06-17 00:40 | significantWaveHeightM=0.9 swellHeightM=0.8 swellPeriodS=4.8 windWaveHeightM=0.4 windWavePeriodS=4.0 swellDir=NNE windWaveDir=NE steepness=VERY_STEEP averageWavePeriodS=4.6 meanWaveDirDeg=25",
    ),
    (
        "realtime2/41010.spec",
        "2020-06-08 03:40 | significantWaveHeightM=1.1 swellHeightM=1.0 swellPeriodS=5.6 windWaveHeightM=0.5 windWavePeriodS=3.6 swellDir=SSW windWaveDir=SE steepness=STEEP averageWavePeriodS=4.9 meanWaveDirDeg=196",
        "2020-04-24 00:40 | significantWaveHeightM=2.1 swellHeightM=0.5 swellPeriodS=10.0 windWaveHeightM=2.0 windWavePeriodS=5.9 swellDir=NE windWaveDir=SSE steepness=VERY_STEEP averageWavePeriodS=5.1 meanWaveDirDeg=166",
    ),
    (
        "realtime2/44013.spec",
        "2022-06-05 12:40 | significantWaveHeightM=0.5 swellHeightM=0.3 swellPeriodS=6.7 windWaveHeightM=0.4 windWavePeriodS=3.0 swellDir=E windWaveDir=WNW averageWavePeriodS=3.5 meanWaveDirDeg=100",
        "2022-04-21 00:40 | significantWaveHeightM=0.7 swellHeightM=0.6 swellPeriodS=9.1 windWaveHeightM=0.2 windWavePeriodS=2.6 swellDir=ESE windWaveDir=NW averageWavePeriodS=6.6 meanWaveDirDeg=113",
    ),
    (
        "realtime2/41024.ocean",
        "2022-08-13 17:30 | depthM=1.0 oceanTempC=17.5 salinityPsu=35.1",
        "2022-06-29 00:30 | depthM=1.0 oceanTempC=19.2 salinityPsu=35.2",
    ),
    (
        "realtime2/44029.ocean",
        "2022-06-05 12:04 | depthM=1.0 oceanTempC=13.1 salinityPsu=31.0",
        "2022-04-21 00:04 | depthM=1.0 oceanTempC=6.9 salinityPsu=31.7",
    ),
    (
        "realtime2/45183.ocean",
        "2018-08-01 15:00 | depthM=1.0 oxygenPercent=106.5 oxygenPpm=9.53 turbidityFtu=0 ph=8.38",
        "2018-06-17 00:00 | depthM=1.0 oxygenPercent=110.4 oxygenPpm=11.74 turbidityFtu=0 ph=8.01",
    ),
    (
        "realtime2/41008.cwind",
        "2018-08-01 14:50 | windDirDeg=158 windSpeedMps=6.0 gustDirDeg=150 gustSpeedMps=9.0 gustTime=2018-08-01T14:49:00.000Z",
        "2018-06-17 00:00 | windDirDeg=163 windSpeedMps=3.9",
    ),
    (
        "realtime2/TPLM2.cwind",
        "2022-06-05 13:00 | windDirDeg=28 windSpeedMps=7.7 gustDirDeg=30 gustSpeedMps=11.8 gustTime=2022-06-05T12:31:00.000Z",
        // The 23:02 gust of the 00:00 row is the evening before.
        "2022-04-21 00:00 | windDirDeg=134 windSpeedMps=3.1 gustDirDeg=130 gustSpeedMps=5.1 gustTime=2022-04-20T23:02:00.000Z",
    ),
    (
        "realtime2/41421.dart",
        "2018-08-01 12:00:00 | measurementType=1 waterColumnHeightM=5806.902",
        "2018-06-17 00:00:00 | measurementType=1 waterColumnHeightM=5807.018",
    ),
    (
        "realtime2/44013.supl",
        "2022-06-05 13:00 | highestWindSpeedMps=3 highestWindTime=2022-06-05T12:53:00.000Z",
        "2022-04-21 00:00 | highestWindSpeedMps=3 highestWindTime=2022-04-21T00:00:00.000Z",
    ),
    (
        "realtime2/PVGF1.supl",
        "2018-07-31 15:00 | lowestPressureHpa=1019.3 lowestPressureTime=2018-07-31T14:54:00.000Z highestWindSpeedMps=6 highestWindTime=2018-07-31T14:54:00.000Z",
        "2018-06-16 00:00 | lowestPressureHpa=1017.3 lowestPressureTime=2018-06-15T23:54:00.000Z highestWindSpeedMps=8 highestWindTime=2018-06-15T23:58:00.000Z",
    ),
    (
        "realtime2/45027.srad",
        "2018-08-01 15:00 | shortwaveLicorWm2=58.1",
        "2018-06-17 00:00 | shortwaveLicorWm2=195.7",
    ),
    (
        "realtime2/BDVF1.rain",
        "2018-08-01 14:00 | accumulationMm=0.0",
        "2018-06-17 00:00 | accumulationMm=0.0",
    ),
    (
        "realtime2/22101.drift",
        "2018-08-01 14:00 | latitude=37.24 longitude=126.02 windDirDeg=20 windSpeedMps=1.0 pressureHpa=1004.2 airTempC=24.9 waterTempC=22.1",
        "2018-06-17 00:00 | latitude=37.24 longitude=126.02 windDirDeg=150 windSpeedMps=1.0 pressureHpa=1012.3 airTempC=15.3 waterTempC=14.6",
    ),
    (
        "realtime2/44013.dmv",
        "2022-06-05 13:00 | windSpeed10mMps=3 windSpeed20mMps=4",
        "2022-04-21 00:00 | windSpeed10mMps=2 windSpeed20mMps=2",
    ),
    (
        "realtime2/41002.txt",
        "2018-08-01 15:10 | windDirDeg=160 windSpeedMps=6.0 gustMps=7.0 pressureHpa=1022.9 waterTempC=28.0",
        "2018-06-17 00:00 | windDirDeg=80 windSpeedMps=5.0 gustMps=6.0 pressureHpa=1017.6 waterTempC=26.6 pressureTendencyHpa=0.4",
    ),
];

#[test]
fn fixed_products_first_and_last_rows() {
    for (rel, first, last) in FIXED {
        let entries = parse_all(rel);
        let (Some(f), Some(l)) = (entries.first(), entries.last()) else {
            panic!("{rel}: empty");
        };
        assert_entry(f, first, &format!("{rel} first row"));
        assert_entry(l, last, &format!("{rel} last row"));
    }
}

#[test]
fn supl_calm_direction_is_null() {
    // 44013.supl line 173: `2022 06 04 08 30     MM    MM     0    //  0827`
    let entries = parse_all("realtime2/44013.supl");
    let e = entries
        .iter()
        .find(|e| e.time.to_string() == "2022-06-04 08:30:00")
        .expect("row 2022-06-04 08:30");
    assert_entry(
        e,
        "2022-06-04 08:30 | highestWindSpeedMps=0 highestWindTime=2022-06-04T08:27:00.000Z",
        "44013.supl calm",
    );
}

fn currents(e: &Entry) -> Vec<[Option<f64>; 3]> {
    let Payload::Currents(c) = &e.payload else {
        panic!("not currents");
    };
    c.bins
        .iter()
        .map(|b| [b.depth_m, b.dir_deg, b.speed_cm_per_s])
        .collect()
}

#[test]
fn adcp_bins_vary_per_row() {
    let entries = parse_all("realtime2/44029.adcp");
    let first = currents(&entries[0]);
    assert_eq!(entries[0].time.to_string(), "2022-06-05 12:04:00");
    assert_eq!(first.len(), 14);
    assert_eq!(first[0], [Some(2.0), Some(190.0), Some(24.0)]);
    assert_eq!(first[13], [Some(58.0), Some(50.0), Some(2.0)]);
    let last = currents(entries.last().expect("rows"));
    // `... 42 60 24 50 70 30 54 70 28`: the 46 m bin is not in this row.
    assert_eq!(last.len(), 12);
    assert_eq!(last[0], [Some(2.0), Some(120.0), Some(31.0)]);
    assert_eq!(last[9], [Some(42.0), Some(60.0), Some(24.0)]);
    assert_eq!(last[10], [Some(50.0), Some(70.0), Some(30.0)]);
    assert_eq!(last[11], [Some(54.0), Some(70.0), Some(28.0)]);
    let counts: std::collections::BTreeSet<usize> =
        entries.iter().map(|e| currents(e).len()).collect();
    assert!(counts.len() > 1, "bin counts vary: {counts:?}");
}

fn spectrum(e: &Entry) -> &Spectrum {
    let Payload::Spectrum(s) = &e.payload else {
        panic!("not a spectrum");
    };
    s
}

/// The one array a single spectral file sets.
fn array(s: &Spectrum) -> &[Option<f64>] {
    let set: Vec<&Vec<Option<f64>>> = [
        &s.energy_density_m2_per_hz,
        &s.mean_dir_deg,
        &s.principal_dir_deg,
        &s.r1,
        &s.r2,
    ]
    .into_iter()
    .flatten()
    .collect();
    assert_eq!(set.len(), 1, "exactly one array set");
    set[0]
}

/// (file, separation of first and last row, [(bin, value)] of the first row, of the last row).
type SpectralCase = (
    &'static str,
    [Option<f64>; 2],
    &'static [(usize, Option<f64>)],
    &'static [(usize, Option<f64>)],
);

const SPECTRAL: &[SpectralCase] = &[
    (
        "realtime2/44013.data_spec",
        [Some(0.25), Some(0.25)],
        &[(0, Some(0.0)), (44, Some(0.017)), (45, Some(0.008))],
        &[(0, Some(0.0)), (44, Some(0.0)), (45, Some(0.0))],
    ),
    (
        "realtime2/44013.swdir",
        [None, None],
        &[(0, None), (44, Some(312.0)), (45, Some(328.0))],
        &[(0, None), (44, Some(328.0)), (45, None)],
    ),
    (
        "realtime2/44013.swdir2",
        [None, None],
        &[(0, None), (44, Some(320.0)), (45, Some(332.0))],
        &[(0, None), (44, Some(288.0)), (45, None)],
    ),
    (
        "realtime2/44013.swr1",
        [None, None],
        &[(6, None), (7, Some(0.19)), (45, Some(0.65))],
        &[(7, Some(0.30)), (44, Some(0.61)), (45, None)],
    ),
    (
        "realtime2/44013.swr2",
        [None, None],
        &[(6, None), (7, Some(0.18)), (45, Some(0.10))],
        &[(7, Some(0.68)), (44, Some(0.25)), (45, None)],
    ),
    (
        "realtime2/excerpts/41010.data_spec",
        [Some(0.225), Some(0.25)],
        &[(5, Some(0.0)), (6, Some(0.060)), (7, Some(0.218))],
        &[(7, Some(0.0)), (8, Some(0.011)), (9, Some(0.021))],
    ),
    (
        "realtime2/excerpts/41010.swdir",
        [None, None],
        &[(5, None), (6, Some(36.0)), (7, Some(52.0))],
        &[(6, None), (7, Some(0.0)), (8, Some(12.0))],
    ),
    (
        "realtime2/excerpts/41010.swdir2",
        [None, None],
        &[(5, None), (6, Some(32.0)), (7, Some(12.0))],
        &[(6, None), (7, Some(28.0)), (8, Some(16.0))],
    ),
    (
        "realtime2/excerpts/41010.swr1",
        [None, None],
        &[(5, None), (6, Some(0.37)), (7, Some(0.19))],
        &[(6, None), (7, Some(0.23)), (8, Some(0.18))],
    ),
    (
        "realtime2/excerpts/41010.swr2",
        [None, None],
        &[(5, None), (6, Some(0.50)), (7, Some(0.33))],
        &[(6, None), (7, Some(0.12)), (8, Some(0.16))],
    ),
];

#[test]
fn spectral_files_first_and_last_rows() {
    for (rel, sep, first, last) in SPECTRAL {
        let entries = parse_all(rel);
        let f = spectrum(&entries[0]);
        let l = spectrum(entries.last().expect("rows"));
        for (s, sep, bins, which) in [(f, sep[0], first, "first"), (l, sep[1], last, "last")] {
            assert_eq!(s.separation_freq_hz, sep, "{rel} {which}: Sep_Freq");
            assert_eq!(s.frequencies_hz.len(), 46, "{rel} {which}: bins");
            assert_eq!(s.frequencies_hz[0], 0.033, "{rel} {which}");
            assert_eq!(s.frequencies_hz[7], 0.068, "{rel} {which}");
            assert_eq!(s.frequencies_hz[45], 0.485, "{rel} {which}");
            let a = array(s);
            assert_eq!(a.len(), 46, "{rel} {which}: values");
            for &(i, v) in *bins {
                assert_eq!(a[i], v, "{rel} {which}: bin {i}");
            }
        }
    }
}

#[test]
fn five_spectral_files_join() {
    let mut all = Vec::new();
    for ext in ["data_spec", "swdir", "swdir2", "swr1", "swr2"] {
        all.extend(parse_all(&format!("realtime2/44013.{ext}")));
    }
    let joined = join_spectra(all);
    // .data_spec has 1075 rows, the directional files 1069, all at the same times.
    assert_eq!(joined.len(), 1075);
    for w in joined.windows(2) {
        assert!(w[0].time < w[1].time, "sorted by time, one per time");
    }
    let newest = joined.last().expect("rows");
    assert_eq!(newest.time.to_string(), "2022-06-05 12:50:00");
    let s = spectrum(newest);
    assert_eq!(s.separation_freq_hz, Some(0.25));
    assert_eq!(s.frequencies_hz.len(), 46);
    for a in [
        &s.energy_density_m2_per_hz,
        &s.mean_dir_deg,
        &s.principal_dir_deg,
        &s.r1,
        &s.r2,
    ] {
        assert_eq!(a.as_ref().map(Vec::len), Some(46));
    }
    assert_eq!(s.r1.as_ref().map(|r| r[7]), Some(Some(0.19)));
    let json = serde_json::to_value(&newest.payload).expect("json");
    for k in [
        "separationFreqHz",
        "frequenciesHz",
        "energyDensityM2PerHz",
        "meanDirDeg",
        "principalDirDeg",
        "r1",
        "r2",
    ] {
        assert!(json.get(k).is_some_and(|v| !v.is_null()), "{k} in {json}");
    }
    assert!(joined.iter().all(|e| e.payload.kind() == Kind::Spectrum));
}

#[test]
fn latest_obs_every_station() {
    let bytes = read("latest_obs/latest_obs.txt");
    let parsed = parse_latest_obs(&bytes).expect("latest_obs parses");
    assert_eq!(parsed.skipped, vec![]);
    let text = String::from_utf8(bytes).expect("UTF-8");
    assert_eq!(parsed.records.len(), data_lines(&text).len());
    let first = &parsed.records[0];
    // `22101  37.24   126.02  2018 07 30 21 00 190   1.0    MM   MM  MM   MM  MM 1005.3    MM  23.9  21.4    MM   MM     MM`
    assert_eq!(first.station, "22101");
    assert_eq!((first.latitude, first.longitude), (37.24, 126.02));
    common::assert_row(
        &first.record,
        "2018-07-30 21:00 | 190 1.0 - - - - - 1005.3 23.9 21.4 - - - -",
        "latest_obs first",
    );
    let last_line = data_lines(&text).last().expect("rows").1.to_owned();
    let last = parsed.records.last().expect("rows");
    let fields: Vec<&str> = last_line.split_whitespace().collect();
    assert_eq!(last.station, fields[0], "{last_line}");
    assert_eq!(last.latitude, fields[1].parse::<f64>().expect("lat"));
    assert_eq!(last.longitude, fields[2].parse::<f64>().expect("lon"));
}

#[test]
fn wrong_product_is_an_error() {
    let cwind = read("realtime2/41008.cwind");
    assert!(parse_product(Product::Supl, &cwind).is_err());
    assert!(parse_product(Product::Swdir, &read("realtime2/44013.swr1")).is_err());
    assert!(parse_product(Product::Ocean, &read("realtime2/41002.txt")).is_err());
}
