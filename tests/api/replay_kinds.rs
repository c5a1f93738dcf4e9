//! The replay source on a directory of several kinds: copies of real files of `../shared/ndbc`
//! (stdmet, the five spectral files of one station, DART and ocean), played at speed 0 with
//! `kinds=*` and with a subset of kinds.
//!
//! Expected counts and times are read from the files as text (data lines, the time columns),
//! not through the parsers under test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use buoycast::bus::MemoryBus;
use buoycast::domain::{Entry, KindSet, Seq, StoredEntry};
use buoycast::ingest::replay::{self, ReplayConfig};
use buoycast::store::{AfterQuery, SqliteStore, Store};
use tokio_util::sync::CancellationToken;

/// The shared directory of real NDBC realtime2 files.
const REALTIME2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/ndbc/realtime2");

/// The five spectral files of station 44013, joined into `spectrum` entries.
const SPECTRAL: [&str; 5] = [
    "44013.data_spec",
    "44013.swdir",
    "44013.swdir2",
    "44013.swr1",
    "44013.swr2",
];

/// The files copied into the replay directory.
const FILES: [&str; 8] = [
    "44013.txt",
    SPECTRAL[0],
    SPECTRAL[1],
    SPECTRAL[2],
    SPECTRAL[3],
    SPECTRAL[4],
    "41421.dart",
    "44029.ocean",
];

/// The data lines of a sample file (not `#` headers, not blank).
fn data_lines(file: &str) -> Vec<String> {
    let path = Path::new(REALTIME2).join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// The time of a data line as `YYYY-MM-DDTHH:MM` (its first five columns).
fn line_time(line: &str) -> String {
    let c: Vec<&str> = line.split_whitespace().take(5).collect();
    format!("{}-{}-{}T{}:{}", c[0], c[1], c[2], c[3], c[4])
}

/// The time of an entry in the same form.
fn entry_time(entry: &Entry) -> String {
    entry.timestamp().format("%Y-%m-%dT%H:%M").to_string()
}

/// Plays a directory holding copies of [`FILES`] with `kinds`; returns everything in the log
/// (of any kind) in seq order, and what the replay said it stored.
async fn replay_files(kinds: KindSet) -> (Vec<StoredEntry>, usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    for file in FILES {
        std::fs::copy(Path::new(REALTIME2).join(file), dir.path().join(file))
            .expect("copy fixture");
    }
    let db = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", db.path().join("replay.db").display());
    let store = SqliteStore::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let bus = MemoryBus::new();
    let config = ReplayConfig {
        dir: dir.path().to_owned(),
        speed: 0.0,
        kinds,
    };
    let count = replay::run(config, &store, &bus, CancellationToken::new())
        .await
        .expect("replay");
    let log = store
        .entries_after(&AfterQuery {
            after: Seq::ZERO,
            limit: 1_000_000,
            kinds: KindSet::ALL,
            ..AfterQuery::default()
        })
        .await
        .expect("entries_after");
    (log, count)
}

/// How many entries of each kind (by name) the log holds, and of which stations.
fn by_kind(log: &[StoredEntry]) -> BTreeMap<&'static str, (usize, BTreeSet<String>)> {
    let mut kinds: BTreeMap<&'static str, (usize, BTreeSet<String>)> = BTreeMap::new();
    for stored in log {
        let slot = kinds.entry(stored.entry.kind().name()).or_default();
        slot.0 += 1;
        slot.1.insert(stored.entry.station_id().to_string());
    }
    kinds
}

fn stations(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn replay_plays_every_kind_of_a_directory_in_time_order() {
    let (log, count) = replay_files(KindSet::ALL).await;
    assert_eq!(count, log.len(), "the replay counts what it stored");

    // Each kind with as many entries as its files have data lines; spectra: one per time
    // found in any of the five spectral files.
    let spectrum_times: BTreeSet<String> = SPECTRAL
        .iter()
        .flat_map(|f| data_lines(f))
        .map(|l| line_time(&l))
        .collect();
    let expected = BTreeMap::from([
        (
            "observation",
            (data_lines("44013.txt").len(), stations(&["44013"])),
        ),
        ("spectrum", (spectrum_times.len(), stations(&["44013"]))),
        (
            "tsunami",
            (data_lines("41421.dart").len(), stations(&["41421"])),
        ),
        (
            "ocean",
            (data_lines("44029.ocean").len(), stations(&["44029"])),
        ),
    ]);
    assert_eq!(by_kind(&log), expected);
    let times: BTreeSet<String> = log
        .iter()
        .filter(|s| s.entry.kind().name() == "spectrum")
        .map(|s| entry_time(&s.entry))
        .collect();
    assert_eq!(
        times, spectrum_times,
        "a spectrum at each time of the files"
    );

    // The log is in time order: seqs 1, 2, … and never an earlier time after a later one.
    let seqs: Vec<i64> = log.iter().map(|s| s.seq.get()).collect();
    assert_eq!(seqs, (1..=log.len() as i64).collect::<Vec<_>>());
    assert!(
        log.windows(2)
            .all(|w| w[0].entry.timestamp() <= w[1].entry.timestamp()),
        "entries stored in time order"
    );
    let switches = log
        .windows(2)
        .filter(|w| w[0].entry.kind() != w[1].entry.kind())
        .count();
    assert!(
        switches > 100,
        "the kinds are merged, not played one file after the other"
    );

    // A time present in all five spectral files gives a spectrum with all five arrays, each
    // with as many bins as the `.swdir` row has `(freq)` columns.
    let swdir = data_lines("44013.swdir");
    let row = &swdir[0];
    let time = line_time(row);
    for file in SPECTRAL {
        assert!(
            data_lines(file).iter().any(|l| line_time(l) == time),
            "{file} has no row at {time}"
        );
    }
    let bins = row.matches('(').count();
    let Some(Entry::Other(spectrum)) = log
        .iter()
        .map(|s| &s.entry)
        .find(|e| e.kind().name() == "spectrum" && entry_time(e) == time)
    else {
        panic!("no spectrum at {time}");
    };
    let length = |name: &str| {
        spectrum
            .fields
            .get(name)
            .and_then(serde_json::Value::as_array)
            .map(Vec::len)
    };
    assert_eq!(length("frequenciesHz"), Some(bins));
    for array in [
        "energyDensityM2PerHz",
        "meanDirDeg",
        "principalDirDeg",
        "r1",
        "r2",
    ] {
        assert_eq!(
            length(array),
            Some(bins),
            "{array} of the spectrum at {time}"
        );
    }
}

#[tokio::test]
async fn replay_plays_only_the_kinds_asked_for() {
    let kinds = KindSet::parse("observation,tsunami").expect("kinds");
    let (log, count) = replay_files(kinds).await;
    assert_eq!(count, log.len());
    let expected = BTreeMap::from([
        (
            "observation",
            (data_lines("44013.txt").len(), stations(&["44013"])),
        ),
        (
            "tsunami",
            (data_lines("41421.dart").len(), stations(&["41421"])),
        ),
    ]);
    assert_eq!(by_kind(&log), expected, "no spectrum, no ocean");
    assert!(
        log.windows(2)
            .all(|w| w[0].entry.timestamp() <= w[1].entry.timestamp())
    );
}
