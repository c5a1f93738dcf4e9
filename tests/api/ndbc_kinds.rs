//! The `ndbc` source with every kind (SPEC §3a): each product file of a station fetched and
//! stored as its kind, the five spectral files joined (and a late one updating the spectrum),
//! products a station lacks left alone, and every station followed through `latest_obs.txt`.
//! A local HTTP server serves the sample files, with ETags and `304 Not Modified`.

use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use buoycast::bus::MemoryBus;
use buoycast::domain::{Entry, Kind, KindSet, StationId};
use buoycast::ingest::ndbc::{FetchOutcome, NdbcConfig, NdbcSource};
use buoycast::store::{AfterQuery, SqliteStore, Store};
use tokio_util::sync::CancellationToken;

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/ndbc/");

fn sample(path: &str) -> Vec<u8> {
    std::fs::read(format!("{SAMPLES}{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn id(raw: &str) -> StationId {
    StationId::parse(raw).expect("station")
}

/// Data lines of a file (not `#`, not blank).
fn data_lines(body: &[u8]) -> Vec<&[u8]> {
    body.split(|b| *b == b'\n')
        .filter(|l| !l.starts_with(b"#") && !l.iter().all(u8::is_ascii_whitespace))
        .collect()
}

/// The `YY MM DD hh mm` of each data line.
fn times(body: &[u8]) -> BTreeSet<String> {
    data_lines(body)
        .into_iter()
        .map(|l| {
            String::from_utf8_lossy(l)
                .split_whitespace()
                .take(5)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// Files by URL path, and every request's path.
#[derive(Default)]
struct Files {
    bodies: HashMap<String, Vec<u8>>,
    requests: Vec<String>,
}

struct FakeNdbc {
    base: String,
    files: Arc<Mutex<Files>>,
    _stop: tokio_util::sync::DropGuard,
}

impl FakeNdbc {
    async fn start() -> Self {
        let files = Arc::new(Mutex::new(Files::default()));
        let app = Router::new()
            .route("/data/{dir}/{file}", get(serve))
            .route("/{file}", get(serve_top))
            .with_state(files.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let stop = CancellationToken::new();
        let shutdown = stop.clone().cancelled_owned();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await;
        });
        Self {
            base,
            files,
            _stop: stop.drop_guard(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Files> {
        self.files.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn put(&self, path: &str, body: Vec<u8>) {
        self.lock().bodies.insert(path.to_owned(), body);
    }

    fn requests(&self, path: &str) -> usize {
        self.lock().requests.iter().filter(|p| *p == path).count()
    }

    fn source(&self, stations: &[&str], all_stations: bool, kinds: KindSet) -> Arc<NdbcSource> {
        Arc::new(
            NdbcSource::new(NdbcConfig {
                base_url: self.base.clone(),
                stations: stations.iter().map(|s| id(s)).collect(),
                all_stations,
                kinds,
                interval: Duration::from_secs(3600),
                concurrency: 4,
                timeout: Duration::from_secs(10),
                retry_base: Duration::from_millis(10),
            })
            .expect("source"),
        )
    }
}

fn etag(body: &[u8]) -> String {
    let mut h = std::hash::DefaultHasher::new();
    body.hash(&mut h);
    format!("\"{:016x}\"", h.finish())
}

async fn serve(
    State(files): State<Arc<Mutex<Files>>>,
    UrlPath((dir, file)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Response {
    answer(&files, format!("/data/{dir}/{file}"), &headers)
}

async fn serve_top(
    State(files): State<Arc<Mutex<Files>>>,
    UrlPath(file): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    answer(&files, format!("/{file}"), &headers)
}

fn answer(files: &Mutex<Files>, path: String, headers: &HeaderMap) -> Response {
    let mut files = files.lock().unwrap_or_else(PoisonError::into_inner);
    files.requests.push(path.clone());
    let Some(body) = files.bodies.get(&path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let tag = etag(body);
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == tag.as_bytes())
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    ([(header::ETAG, tag)], body.clone()).into_response()
}

async fn fresh_store() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().expect("dir");
    let store = SqliteStore::connect(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .expect("store");
    store.migrate().await.expect("migrate");
    (dir, Arc::new(store))
}

async fn kinds_stored(store: &dyn Store) -> HashMap<Kind, Vec<buoycast::domain::StoredEntry>> {
    let all = store
        .entries_after(&AfterQuery {
            limit: 1_000_000,
            kinds: KindSet::ALL,
            ..AfterQuery::default()
        })
        .await
        .expect("read");
    let mut by_kind: HashMap<Kind, Vec<_>> = HashMap::new();
    for e in all {
        by_kind.entry(e.entry.kind()).or_default().push(e);
    }
    by_kind
}

const SPECTRAL: [&str; 5] = ["data_spec", "swdir", "swdir2", "swr1", "swr2"];

/// Every product file of 44013 is fetched and stored as its kind, the five spectral files as
/// joined spectra; a product NDBC lacks (404) is not asked for again within a day; an unchanged
/// file is a 304 and stores nothing.
#[tokio::test]
async fn every_product_of_a_station_is_stored_as_its_kind() {
    let ndbc = FakeNdbc::start().await;
    for ext in ["txt", "spec", "dmv", "supl"].into_iter().chain(SPECTRAL) {
        ndbc.put(
            &format!("/data/realtime2/44013.{ext}"),
            sample(&format!("realtime2/44013.{ext}")),
        );
    }
    let (_dir, store) = fresh_store().await;
    let bus = MemoryBus::new();
    let source = ndbc.source(&["44013"], false, KindSet::ALL);
    let outcomes = source
        .poll_kinds(&id("44013"), true, store.as_ref(), &bus)
        .await;
    let fetched: BTreeSet<&str> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Ok(FetchOutcome::Fetched(_))))
        .map(|(p, _)| p.extension())
        .collect();
    assert_eq!(
        fetched,
        BTreeSet::from([
            "txt",
            "spec",
            "dmv",
            "supl",
            "data_spec",
            "swdir",
            "swdir2",
            "swr1",
            "swr2"
        ])
    );
    let missing: BTreeSet<&str> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Ok(FetchOutcome::NotFound)))
        .map(|(p, _)| p.extension())
        .collect();
    assert_eq!(
        missing,
        BTreeSet::from(["ocean", "cwind", "dart", "srad", "rain", "drift", "adcp"])
    );

    let by_kind = kinds_stored(store.as_ref()).await;
    let count = |kind| by_kind.get(&kind).map_or(0, Vec::len);
    assert_eq!(
        count(Kind::Observation),
        data_lines(&sample("realtime2/44013.txt")).len()
    );
    assert_eq!(
        count(Kind::WaveSummary),
        data_lines(&sample("realtime2/44013.spec")).len()
    );
    assert_eq!(
        count(Kind::Derived),
        data_lines(&sample("realtime2/44013.dmv")).len()
    );
    assert_eq!(
        count(Kind::Supplemental),
        data_lines(&sample("realtime2/44013.supl")).len()
    );
    let spectral_times: BTreeSet<String> = SPECTRAL
        .iter()
        .flat_map(|ext| times(&sample(&format!("realtime2/44013.{ext}"))))
        .collect();
    assert_eq!(
        count(Kind::Spectrum),
        spectral_times.len(),
        "one spectrum per time"
    );
    let complete = by_kind[&Kind::Spectrum]
        .iter()
        .filter(|s| {
            let Entry::Other(e) = &s.entry else {
                return false;
            };
            [
                "energyDensityM2PerHz",
                "meanDirDeg",
                "principalDirDeg",
                "r1",
                "r2",
            ]
            .iter()
            .all(|f| e.fields.get(f).is_some_and(serde_json::Value::is_array))
        })
        .count();
    assert!(complete > 1000, "spectra with all five arrays: {complete}");

    // Again: every file unchanged (304), the absent ones not asked for.
    let before = ndbc.requests("/data/realtime2/44013.ocean");
    let outcomes = source
        .poll_kinds(&id("44013"), true, store.as_ref(), &bus)
        .await;
    assert!(
        outcomes
            .iter()
            .all(|(_, o)| matches!(o, Ok(FetchOutcome::NotModified))),
        "{:?}",
        outcomes
            .iter()
            .map(|(p, o)| (p.extension(), o.as_ref().ok()))
            .collect::<Vec<_>>()
    );
    assert_eq!(outcomes.len(), 9);
    assert_eq!(ndbc.requests("/data/realtime2/44013.ocean"), before);
}

/// A spectral file that arrives late (here `.swr1` without its newest row first) completes the
/// spectrum of that time in a later poll: the entry is updated, under a new seq.
#[tokio::test]
async fn a_late_spectral_file_updates_the_spectrum() {
    let ndbc = FakeNdbc::start().await;
    for ext in SPECTRAL {
        ndbc.put(
            &format!("/data/realtime2/44013.{ext}"),
            sample(&format!("realtime2/44013.{ext}")),
        );
    }
    // The newest row of .swr1 is not there yet: files are newest first, so drop the first data
    // line.
    let full = sample("realtime2/44013.swr1");
    let text = String::from_utf8(full.clone()).expect("text");
    let mut lines: Vec<&str> = text.lines().collect();
    let first_data = lines
        .iter()
        .position(|l| !l.starts_with('#'))
        .expect("data");
    lines.remove(first_data);
    ndbc.put(
        "/data/realtime2/44013.swr1",
        (lines.join("\n") + "\n").into_bytes(),
    );

    let (_dir, store) = fresh_store().await;
    let bus = MemoryBus::new();
    let source = ndbc.source(&["44013"], false, KindSet::of(&[Kind::Spectrum]));
    source
        .poll_kinds(&id("44013"), false, store.as_ref(), &bus)
        .await;
    let newest = |by_kind: &HashMap<Kind, Vec<buoycast::domain::StoredEntry>>| {
        by_kind[&Kind::Spectrum]
            .iter()
            .max_by_key(|s| s.entry.timestamp())
            .cloned()
            .expect("a spectrum")
    };
    let before = newest(&kinds_stored(store.as_ref()).await);
    let Entry::Other(e) = &before.entry else {
        panic!("a spectrum")
    };
    assert_eq!(e.fields.get("r1"), Some(&serde_json::Value::Null));
    assert!(e.fields.get("r2").is_some_and(serde_json::Value::is_array));

    ndbc.put("/data/realtime2/44013.swr1", full);
    let outcomes = source
        .poll_kinds(&id("44013"), false, store.as_ref(), &bus)
        .await;
    let stored: usize = outcomes
        .iter()
        .filter_map(|(_, o)| match o {
            Ok(FetchOutcome::Fetched(f)) => Some(f.stored),
            _ => None,
        })
        .sum();
    assert_eq!(stored, 1, "only the completed spectrum is stored again");
    let after = newest(&kinds_stored(store.as_ref()).await);
    assert_eq!(after.entry.timestamp(), before.entry.timestamp());
    assert!(after.seq > before.seq, "republished under a new seq");
    let Entry::Other(e) = &after.entry else {
        panic!("a spectrum")
    };
    assert!(e.fields.get("r1").is_some_and(serde_json::Value::is_array));
}

/// `--stations all`: one `latest_obs.txt` per interval stores the newest observation and the
/// position of every station; an unchanged file stores nothing (304); a changed one stores
/// what changed; a station seen for the first time has its history fetched once.
#[tokio::test]
async fn every_station_is_followed_through_latest_obs() {
    let ndbc = FakeNdbc::start().await;
    let latest = sample("latest_obs/latest_obs.txt");
    ndbc.put("/data/latest_obs/latest_obs.txt", latest.clone());
    ndbc.put("/data/realtime2/44013.txt", sample("realtime2/44013.txt"));
    let (_dir, store) = fresh_store().await;
    let bus = MemoryBus::new();
    let source = ndbc.source(&[], true, KindSet::OBSERVATION);

    let named = source
        .poll_latest_obs(store.as_ref(), &bus)
        .await
        .expect("poll")
        .expect("a new file");
    let rows = data_lines(&latest).len();
    assert_eq!(named.len(), rows, "every station of the file");
    let first = kinds_stored(store.as_ref()).await[&Kind::Observation].len();
    assert!(first > rows * 9 / 10, "{first} of {rows} rows stored");
    let station = store
        .station(&id("44013"))
        .await
        .expect("read")
        .expect("known");
    assert_eq!(
        (station.latitude, station.longitude),
        (Some(42.346), Some(-70.651))
    );

    // Unchanged: 304, nothing stored.
    assert!(
        source
            .poll_latest_obs(store.as_ref(), &bus)
            .await
            .expect("poll")
            .is_none()
    );
    // One station reports a new row.
    let text = String::from_utf8(latest).expect("text").replace(
        "44013  42.346  -70.651 2018 07 30 18 50",
        "44013  42.346  -70.651 2018 07 30 19 50",
    );
    ndbc.put("/data/latest_obs/latest_obs.txt", text.into_bytes());
    source
        .poll_latest_obs(store.as_ref(), &bus)
        .await
        .expect("poll");
    assert_eq!(
        kinds_stored(store.as_ref()).await[&Kind::Observation].len(),
        first + 1
    );

    // The whole loop: first sight of every station fetches its history once.
    let (_dir2, store2) = fresh_store().await;
    let source = ndbc.source(&[], true, KindSet::OBSERVATION);
    let cancel = CancellationToken::new();
    let run = tokio::spawn(source.run(store2.clone(), Arc::new(MemoryBus::new()), cancel.clone()));
    let history = data_lines(&sample("realtime2/44013.txt")).len();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let n = store2
            .history(&buoycast::store::HistoryQuery {
                station: id("44013"),
                from: None,
                to: None,
                limit: 100_000,
                kinds: KindSet::OBSERVATION,
            })
            .await
            .expect("history")
            .len();
        if n >= history {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "44013's history: {n} of {history} rows"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cancel.cancel();
    let _ = run.await;
    assert_eq!(
        ndbc.requests("/data/realtime2/44013.txt"),
        1,
        "fetched once, at first sight"
    );
    assert_eq!(
        ndbc.requests("/data/realtime2/44013.spec"),
        0,
        "only the kinds asked for"
    );
}
