//! Ingest tests: the NDBC source against a local HTTP server that serves the real files of
//! `../shared/ndbc` (with scripted failures), the replay source on a directory of real files, and
//! ingest end to end through the SSE stream. Store faults are real: a second connection to the
//! SQLite file holds its write lock. Bad rows come from real files with rows edited in a temp dir.
//!
//! Expected values are derived from the files as text (rows, timestamps, values, station names),
//! not through the parser under test.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use buoycast::app::IngestSource;
use buoycast::bus::{Bus, BusError, BusMessage, MemoryBus, Subscription};
use buoycast::domain::{KindSet, Observation, Seq, StationId, StoredObservation};
use buoycast::ingest::ndbc::{FETCH_ATTEMPTS, FetchError, FetchOutcome, NdbcConfig, NdbcSource};
use buoycast::ingest::replay::{self, ReplayConfig};
use buoycast::ingest::{FileOutcome, IngestError, ingest_file};
use buoycast::store::{AfterQuery, SqliteStore, Store};
use chrono::{DateTime, TimeZone, Utc};
use futures_util::StreamExt;
use sqlx::Connection;
use tokio_util::sync::CancellationToken;

use buoycast_testkit::spawn_app_with;

/// The shared directory of real NDBC files.
const NDBC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/ndbc");
/// `Last-Modified` the fake server sends with every file.
const LAST_MODIFIED: &str = "Mon, 05 Feb 2024 12:00:00 GMT";
/// Generous bound for anything that should be quick.
const WAIT: Duration = Duration::from_secs(10);

fn realtime2(file: &str) -> PathBuf {
    Path::new(NDBC).join("realtime2").join(file)
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn id(raw: &str) -> StationId {
    StationId::parse(raw).expect("station id")
}

// ---------------------------------------------------------------------------------------------
// The files, read as text

/// One data row of a realtime2 file: its time and its 14 values in file column order
/// (WDIR WSPD GST WVHT DPD APD MWD PRES ATMP WTMP DEWP VIS PTDY TIDE), `MM` as `None`.
#[derive(Debug, Clone, PartialEq)]
struct TextRow {
    time: DateTime<Utc>,
    values: Vec<Option<f64>>,
}

/// The data rows of a realtime2 file, in file order (newest first).
fn text_rows(bytes: &[u8]) -> Vec<TextRow> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f.len(), 19, "fixture row {line:?}");
            let n = |i: usize| f[i].parse::<u32>().expect("time field");
            let time = Utc
                .with_ymd_and_hms(n(0) as i32, n(1), n(2), n(3), n(4), 0)
                .single()
                .expect("valid time");
            let values = f[5..]
                .iter()
                .map(|v| (*v != "MM").then(|| v.parse::<f64>().expect("number")))
                .collect();
            TextRow { time, values }
        })
        .collect()
}

fn file_rows(file: &str) -> Vec<TextRow> {
    let rows = text_rows(&read(&realtime2(file)));
    let times: BTreeSet<_> = rows.iter().map(|r| r.time).collect();
    assert_eq!(times.len(), rows.len(), "fixture {file}: one row per time");
    rows
}

/// An observation's values in file column order.
fn file_order(o: &Observation) -> Vec<Option<f64>> {
    vec![
        o.wind_dir_deg,
        o.wind_speed_mps,
        o.gust_mps,
        o.wave_height_m,
        o.dominant_wave_period_s,
        o.average_wave_period_s,
        o.mean_wave_dir_deg,
        o.pressure_hpa,
        o.air_temp_c,
        o.water_temp_c,
        o.dew_point_c,
        o.visibility_nmi,
        o.pressure_tendency_hpa,
        o.tide_ft,
    ]
}

/// Observations equal the text rows (any order of rows), station included.
fn assert_same_rows(station: &str, got: &[Observation], rows: &[TextRow]) {
    let mut got: Vec<TextRow> = got
        .iter()
        .map(|o| {
            assert_eq!(o.station_id.as_str(), station);
            TextRow {
                time: o.timestamp,
                values: file_order(o),
            }
        })
        .collect();
    let mut rows = rows.to_vec();
    got.sort_by_key(|r| r.time);
    rows.sort_by_key(|r| r.time);
    assert_eq!(got.len(), rows.len(), "{station}: number of rows");
    for (g, r) in got.iter().zip(&rows) {
        assert_eq!(g, r, "{station}");
    }
}

/// The value of an attribute of one station element of `activestations.xml`, read as text.
fn xml_attribute(station: &str, attribute: &str) -> String {
    let xml = std::fs::read_to_string(Path::new(NDBC).join("metadata/activestations.xml"))
        .expect("activestations.xml");
    let start = xml
        .find(&format!("<station id=\"{station}\""))
        .unwrap_or_else(|| panic!("{station} is in activestations.xml"));
    let element = &xml[start..start + xml[start..].find("/>").expect("element end")];
    let key = format!(" {attribute}=\"");
    let from = element.find(&key).expect("attribute") + key.len();
    element[from..from + element[from..].find('"').expect("quote")].to_owned()
}

// ---------------------------------------------------------------------------------------------
// Store and bus

async fn fresh_store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("ingest.db").display());
    let store = SqliteStore::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    (dir, store)
}

async fn stored(store: &dyn Store) -> Vec<StoredObservation> {
    store
        .observations_after(&AfterQuery {
            after: Seq::ZERO,
            limit: 1_000_000,
            ..AfterQuery::default()
        })
        .await
        .expect("observations_after")
}

/// The database file of a store made by [`fresh_store`].
fn db_file(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("ingest.db")
}

/// Another connection to a store's database holding its write lock (`BEGIN IMMEDIATE`), as
/// another process would: the store's writes wait for it (its busy timeout), then fail.
struct WriteLock(sqlx::SqliteConnection);

impl WriteLock {
    async fn hold(db: &Path) -> Self {
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .expect("second connection");
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut conn)
            .await
            .expect("take the write lock");
        Self(conn)
    }

    async fn release(mut self) {
        sqlx::query("ROLLBACK")
            .execute(&mut self.0)
            .await
            .expect("release the write lock");
        self.0.close().await.expect("close");
    }
}

/// The value of one series of the process's metrics (`name{labels}`), 0 when absent.
fn metric(series: &str) -> f64 {
    buoycast::metrics::render()
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// A [`MemoryBus`] that also keeps every message published.
///
/// A first poll publishes thousands of messages without yielding, more than the memory bus
/// buffers for a subscriber (which then only sees a gap), so the log is kept here instead.
#[derive(Debug, Default)]
struct RecordingBus {
    inner: MemoryBus,
    published: Mutex<Vec<BusMessage>>,
}

impl RecordingBus {
    fn published(&self) -> Vec<BusMessage> {
        self.published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait::async_trait]
impl Bus for RecordingBus {
    async fn publish(&self, message: &BusMessage) -> Result<(), BusError> {
        self.published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(message.clone());
        self.inner.publish(message).await
    }

    async fn subscribe(&self) -> Result<Subscription, BusError> {
        self.inner.subscribe().await
    }

    async fn ping(&self) -> Result<(), BusError> {
        self.inner.ping().await
    }
}

/// Published messages carry seqs, strictly increasing, and observation times, increasing.
fn assert_published_in_order(messages: &[BusMessage]) {
    let seqs: Vec<Seq> = messages
        .iter()
        .map(|m| m.seq.expect("published after storing, with its seq"))
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "seqs not increasing");
    assert!(
        messages
            .windows(2)
            .all(|w| w[0].entry.timestamp() < w[1].entry.timestamp()),
        "one station's rows are published oldest first"
    );
}

fn published_as_stored(messages: &[BusMessage]) -> Vec<StoredObservation> {
    messages
        .iter()
        .map(|m| StoredObservation {
            seq: m.seq.expect("seq"),
            observation: m.observation().expect("an observation").clone(),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A fake NDBC server

/// How the fake server answers one request for a station file.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// 200 with ETag and Last-Modified; 304 when `If-None-Match` matches.
    Serve,
    /// 404.
    NotFound,
    /// 500.
    ServerError,
    /// Content-Length of the whole file, half of it sent, then the connection is closed.
    Truncated,
    /// No response at all.
    HangHeaders,
    /// Headers and half of the body, then nothing.
    HangBody,
    /// 200 with a correct Content-Length, the body cut in the middle of a data row.
    CutMidRow,
}

#[derive(Debug)]
struct Plan {
    file: PathBuf,
    /// Modes of the next requests, then `then` for every later one.
    script: VecDeque<Mode>,
    then: Mode,
    /// Delay of the first response.
    delay_first: Duration,
}

#[derive(Debug, Default)]
struct Shared {
    plans: HashMap<String, Plan>,
    /// Headers of every request, by station (or `activestations.xml`).
    requests: HashMap<String, Vec<HeaderMap>>,
}

type SharedState = Arc<Mutex<Shared>>;

struct FakeNdbc {
    addr: SocketAddr,
    shared: SharedState,
    stop: CancellationToken,
}

impl Drop for FakeNdbc {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Data rows of the cut body: rows before the cut, which lands in the middle of the next one.
const CUT_AFTER_ROWS: usize = 100;

/// The ETag of a body.
fn etag(body: &[u8]) -> String {
    let mut h = std::hash::DefaultHasher::new();
    body.hash(&mut h);
    format!("\"{:016x}-{}\"", h.finish(), body.len())
}

/// The first [`CUT_AFTER_ROWS`] data rows of a file and half of the next one.
fn cut_mid_row(body: &[u8]) -> Vec<u8> {
    let mut data_rows = 0;
    let mut start = 0;
    for line in body.split_inclusive(|b| *b == b'\n') {
        if !line.starts_with(b"#") {
            if data_rows == CUT_AFTER_ROWS {
                return body[..start + line.len() / 2].to_vec();
            }
            data_rows += 1;
        }
        start += line.len();
    }
    panic!("fixture has too few rows");
}

impl FakeNdbc {
    async fn start() -> Self {
        let shared = SharedState::default();
        let app = Router::new()
            .route("/data/realtime2/{file}", get(station_file))
            .route("/activestations.xml", get(active_stations))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let stop = CancellationToken::new();
        let shutdown = stop.clone().cancelled_owned();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await;
        });
        Self { addr, shared, stop }
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Serves `file` (under `realtime2/`) as `<station>.txt`: `script` first, then `then`.
    fn plan(&self, station: &str, file: &str, script: &[Mode], then: Mode) {
        self.lock().plans.insert(
            station.to_owned(),
            Plan {
                file: realtime2(file),
                script: script.iter().copied().collect(),
                then,
                delay_first: Duration::ZERO,
            },
        );
    }

    fn serve(&self, station: &str, file: &str) {
        self.plan(station, file, &[], Mode::Serve);
    }

    /// Serves the file at `path` (e.g. one written by the test) as `<station>.txt`.
    fn serve_path(&self, station: &str, path: &Path) {
        self.plan(station, "TPLM2.txt", &[], Mode::Serve);
        self.lock().plans.get_mut(station).expect("planned").file = path.to_owned();
    }

    fn set_file(&self, station: &str, file: &str) {
        self.lock().plans.get_mut(station).expect("planned").file = realtime2(file);
    }

    fn delay_first(&self, station: &str, delay: Duration) {
        self.lock()
            .plans
            .get_mut(station)
            .expect("planned")
            .delay_first = delay;
    }

    fn requests(&self, key: &str) -> Vec<HeaderMap> {
        self.lock().requests.get(key).cloned().unwrap_or_default()
    }

    fn source(&self, stations: &[&str], timeout: Duration) -> NdbcSource {
        NdbcSource::new(self.config(stations, timeout, Duration::from_secs(3600))).expect("source")
    }

    fn config(&self, stations: &[&str], timeout: Duration, interval: Duration) -> NdbcConfig {
        NdbcConfig {
            base_url: format!("{}/", self.base_url()),
            stations: stations.iter().map(|s| id(s)).collect(),
            all_stations: false,
            kinds: KindSet::OBSERVATION,
            interval,
            concurrency: 2,
            timeout,
            retry_base: Duration::from_millis(10),
        }
    }
}

fn header_value(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn station_file(
    State(shared): State<SharedState>,
    UrlPath(file): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let Some(station) = file.strip_suffix(".txt").map(str::to_owned) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (mode, path, delay) = {
        let mut shared = shared.lock().unwrap_or_else(PoisonError::into_inner);
        let requests = shared.requests.entry(station.clone()).or_default();
        requests.push(headers.clone());
        let first = requests.len() == 1;
        let Some(plan) = shared.plans.get_mut(&station) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let mode = plan.script.pop_front().unwrap_or(plan.then);
        let delay = if first {
            plan.delay_first
        } else {
            Duration::ZERO
        };
        (mode, plan.file.clone(), delay)
    };
    tokio::time::sleep(delay).await;
    let body = tokio::fs::read(&path).await.expect("fixture file");
    let tag = etag(&body);
    let ok = || {
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/plain")
            .header(header::ETAG, tag.as_str())
            .header(header::LAST_MODIFIED, LAST_MODIFIED)
    };
    let full_length = body.len();
    let half = Bytes::from(body[..full_length / 2].to_vec());
    let response = match mode {
        Mode::Serve if header_value(&headers, header::IF_NONE_MATCH) == Some(tag.as_str()) => {
            return (StatusCode::NOT_MODIFIED, [(header::ETAG, tag.clone())]).into_response();
        }
        Mode::Serve => ok().body(Body::from(body)),
        Mode::NotFound => return StatusCode::NOT_FOUND.into_response(),
        Mode::ServerError => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Mode::Truncated => {
            // The pause lets the headers and the first half reach the client before the
            // connection is closed, so it is the body that comes up short.
            let cut = futures_util::stream::once(async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err::<Bytes, _>(std::io::Error::other("connection cut by the test"))
            });
            let chunks = futures_util::stream::iter([Ok(half)]).chain(cut);
            ok().header(header::CONTENT_LENGTH, full_length)
                .body(Body::from_stream(chunks))
        }
        Mode::HangHeaders => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return StatusCode::OK.into_response();
        }
        Mode::HangBody => {
            let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(half)])
                .chain(futures_util::stream::pending());
            ok().header(header::CONTENT_LENGTH, full_length)
                .body(Body::from_stream(chunks))
        }
        Mode::CutMidRow => {
            let cut = cut_mid_row(&body);
            Response::builder()
                .status(StatusCode::OK)
                .header(header::ETAG, etag(&cut))
                .body(Body::from(cut))
        }
    };
    response.expect("response")
}

async fn active_stations(State(shared): State<SharedState>, headers: HeaderMap) -> Response {
    shared
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .requests
        .entry("activestations.xml".into())
        .or_default()
        .push(headers);
    let body = tokio::fs::read(Path::new(NDBC).join("metadata/activestations.xml"))
        .await
        .expect("activestations.xml");
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"))],
        body,
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// NDBC source

#[tokio::test]
async fn first_poll_stores_and_publishes_every_row_in_order() {
    let server = FakeNdbc::start().await;
    server.serve("44013", "44013.txt");
    let (_dir, store) = fresh_store().await;
    let bus = RecordingBus::default();
    let rows = file_rows("44013.txt");
    let n = rows.len();

    let outcome = server
        .source(&["44013"], WAIT)
        .poll_station(&id("44013"), &store, &bus)
        .await
        .expect("poll");

    assert_eq!(
        outcome,
        FetchOutcome::Fetched(FileOutcome {
            parsed: n,
            skipped: 0,
            rejected: 0,
            stored: n
        })
    );
    let published = bus.published();
    assert_published_in_order(&published);
    assert_eq!(
        published
            .iter()
            .map(|m| m.seq.expect("seq").get())
            .collect::<Vec<_>>(),
        (1..=n as i64).collect::<Vec<_>>()
    );
    let observations: Vec<_> = published
        .iter()
        .map(|m| m.observation().expect("an observation").clone())
        .collect();
    assert_same_rows("44013", &observations, &rows);
    // Oldest first: the reverse of the file.
    assert_eq!(
        observations.iter().map(|o| o.timestamp).collect::<Vec<_>>(),
        rows.iter().rev().map(|r| r.time).collect::<Vec<_>>()
    );
    assert_eq!(stored(&store).await, published_as_stored(&published));

    let requests = server.requests("44013");
    assert_eq!(requests.len(), 1);
    assert_eq!(header_value(&requests[0], header::IF_NONE_MATCH), None);
}

#[tokio::test]
async fn second_poll_is_conditional_and_not_modified() {
    let server = FakeNdbc::start().await;
    server.serve("44013", "44013.txt");
    let (_dir, store) = fresh_store().await;
    let bus = RecordingBus::default();
    let source = server.source(&["44013"], WAIT);
    let station = id("44013");

    let first = source
        .poll_station(&station, &store, &bus)
        .await
        .expect("poll");
    assert!(matches!(first, FetchOutcome::Fetched(o) if o.stored > 0));
    let (max, published) = (store.max_seq().await.expect("max"), bus.published().len());

    let second = source
        .poll_station(&station, &store, &bus)
        .await
        .expect("poll");
    assert_eq!(second, FetchOutcome::NotModified);
    assert_eq!(store.max_seq().await.expect("max"), max);
    assert_eq!(bus.published().len(), published, "nothing published");

    let requests = server.requests("44013");
    assert_eq!(requests.len(), 2);
    let tag = etag(&read(&realtime2("44013.txt")));
    assert_eq!(
        header_value(&requests[1], header::IF_NONE_MATCH),
        Some(tag.as_str())
    );
    assert_eq!(
        header_value(&requests[1], header::IF_MODIFIED_SINCE),
        Some(LAST_MODIFIED)
    );
}

#[tokio::test]
async fn changed_file_stores_only_what_is_new() {
    let server = FakeNdbc::start().await;
    let (old_file, new_file) = ("snapshots/44065_fetched_2024-02-05.txt", "44065.txt");
    server.serve("44065", old_file);
    let (_dir, store) = fresh_store().await;
    let bus = RecordingBus::default();
    let source = server.source(&["44065"], WAIT);
    let station = id("44065");

    let (old, new) = (file_rows(old_file), file_rows(new_file));
    let old_by_time: HashMap<_, _> = old.iter().map(|r| (r.time, r.values.clone())).collect();
    // New times, plus times in both files whose values differ (updates).
    let expected: Vec<TextRow> = new
        .iter()
        .filter(|r| old_by_time.get(&r.time) != Some(&r.values))
        .cloned()
        .collect();
    let added = new
        .iter()
        .filter(|r| !old_by_time.contains_key(&r.time))
        .count();
    assert!(added > 0 && added < new.len(), "fixture: the files overlap");
    let union: BTreeSet<_> = old.iter().chain(&new).map(|r| r.time).collect();

    let first = source
        .poll_station(&station, &store, &bus)
        .await
        .expect("poll");
    assert!(matches!(first, FetchOutcome::Fetched(o) if o.stored == old.len()));
    let before = bus.published().len();
    let max = store.max_seq().await.expect("max");

    server.set_file("44065", new_file);
    let second = source
        .poll_station(&station, &store, &bus)
        .await
        .expect("poll");
    assert_eq!(
        second,
        FetchOutcome::Fetched(FileOutcome {
            parsed: new.len(),
            skipped: 0,
            rejected: 0,
            stored: expected.len()
        })
    );
    let published = bus.published()[before..].to_vec();
    assert_published_in_order(&published);
    assert!(published[0].seq.expect("seq") > max);
    let observations: Vec<_> = published
        .iter()
        .map(|m| m.observation().expect("an observation").clone())
        .collect();
    assert_same_rows("44065", &observations, &expected);
    assert_eq!(stored(&store).await.len(), union.len());

    // The server was asked conditionally and answered with the new file.
    let requests = server.requests("44065");
    let old_tag = etag(&read(&realtime2(old_file)));
    assert_eq!(
        header_value(&requests[1], header::IF_NONE_MATCH),
        Some(old_tag.as_str())
    );
    assert_eq!(
        source
            .poll_station(&station, &store, &bus)
            .await
            .expect("poll"),
        FetchOutcome::NotModified
    );
}

#[tokio::test]
async fn not_found_is_not_retried() {
    let server = FakeNdbc::start().await;
    server.plan("41002", "41002.txt", &[], Mode::NotFound);
    let (_dir, store) = fresh_store().await;
    let bus = RecordingBus::default();
    let source = server.source(&["41002", "41001"], WAIT);

    let outcome = source
        .poll_station(&id("41002"), &store, &bus)
        .await
        .expect("poll");
    assert_eq!(outcome, FetchOutcome::NotFound);
    assert_eq!(server.requests("41002").len(), 1);
    // A station the server has never heard of.
    let outcome = source
        .poll_station(&id("41001"), &store, &bus)
        .await
        .expect("poll");
    assert_eq!(outcome, FetchOutcome::NotFound);
    assert_eq!(server.requests("41001").len(), 1);
    assert_eq!(store.max_seq().await.expect("max"), Seq::ZERO);
    assert!(bus.published().is_empty());
}

#[tokio::test]
async fn server_errors_are_retried_until_the_file_comes() {
    let server = FakeNdbc::start().await;
    server.plan(
        "41004",
        "41004.txt",
        &[Mode::ServerError, Mode::ServerError],
        Mode::Serve,
    );
    let (_dir, store) = fresh_store().await;
    let bus = RecordingBus::default();
    let n = file_rows("41004.txt").len();

    let outcome = server
        .source(&["41004"], WAIT)
        .poll_station(&id("41004"), &store, &bus)
        .await
        .expect("poll");
    assert_eq!(
        outcome,
        FetchOutcome::Fetched(FileOutcome {
            parsed: n,
            skipped: 0,
            rejected: 0,
            stored: n
        })
    );
    assert_eq!(server.requests("41004").len(), 3);
    assert_eq!(bus.published().len(), n);
}

#[tokio::test]
async fn persistent_server_errors_give_up_after_the_last_attempt() {
    let server = FakeNdbc::start().await;
    server.plan("41004", "41004.txt", &[], Mode::ServerError);
    let (_dir, store) = fresh_store().await;
    let bus = RecordingBus::default();

    let started = Instant::now();
    let error = server
        .source(&["41004"], WAIT)
        .poll_station(&id("41004"), &store, &bus)
        .await
        .expect_err("always 500");
    assert!(
        matches!(error, FetchError::Status(s) if s.as_u16() == 500),
        "{error:?}"
    );
    assert_eq!(server.requests("41004").len(), FETCH_ATTEMPTS as usize);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "short retry_base"
    );
    assert_eq!(store.max_seq().await.expect("max"), Seq::ZERO);
    assert!(bus.published().is_empty());
}

#[tokio::test]
async fn truncated_body_is_retried_and_never_stored() {
    let server = FakeNdbc::start().await;
    server.plan("TPLM2", "TPLM2.txt", &[Mode::Truncated], Mode::Serve);
    let (_dir, store) = fresh_store().await;
    let bus = RecordingBus::default();
    let rows = file_rows("TPLM2.txt");
    let n = rows.len();

    let outcome = server
        .source(&["TPLM2"], WAIT)
        .poll_station(&id("TPLM2"), &store, &bus)
        .await
        .expect("poll");
    // Every row is new to the store on the good attempt: the cut one stored nothing.
    assert_eq!(
        outcome,
        FetchOutcome::Fetched(FileOutcome {
            parsed: n,
            skipped: 0,
            rejected: 0,
            stored: n
        })
    );
    assert_eq!(server.requests("TPLM2").len(), 2);
    let published = bus.published();
    assert_eq!(published.len(), n);
    assert_eq!(published[0].seq, Some(Seq::new(1)));
    let observations: Vec<_> = published
        .iter()
        .map(|m| m.observation().expect("an observation").clone())
        .collect();
    assert_same_rows("TPLM2", &observations, &rows);
}

#[tokio::test]
async fn always_truncated_body_stores_nothing() {
    let server = FakeNdbc::start().await;
    server.plan("TPLM2", "TPLM2.txt", &[], Mode::Truncated);
    let (_dir, store) = fresh_store().await;
    let bus = RecordingBus::default();

    let error = server
        .source(&["TPLM2"], WAIT)
        .poll_station(&id("TPLM2"), &store, &bus)
        .await
        .expect_err("never a whole body");
    assert!(
        matches!(&error, FetchError::Http(e) if e.is_body() || e.is_decode()),
        "the body came up short: {error:?}"
    );
    assert_eq!(server.requests("TPLM2").len(), FETCH_ATTEMPTS as usize);
    assert_eq!(store.max_seq().await.expect("max"), Seq::ZERO);
    assert!(bus.published().is_empty());
}

#[tokio::test]
async fn body_cut_mid_row_keeps_the_complete_rows() {
    let server = FakeNdbc::start().await;
    server.plan("44013", "44013.txt", &[], Mode::CutMidRow);
    let (_dir, store) = fresh_store().await;
    let bus = RecordingBus::default();
    let complete = file_rows("44013.txt")[..CUT_AFTER_ROWS].to_vec();

    let outcome = server
        .source(&["44013"], WAIT)
        .poll_station(&id("44013"), &store, &bus)
        .await
        .expect("poll");
    assert_eq!(
        outcome,
        FetchOutcome::Fetched(FileOutcome {
            parsed: CUT_AFTER_ROWS,
            skipped: 1,
            rejected: 0,
            stored: CUT_AFTER_ROWS
        })
    );
    assert_eq!(server.requests("44013").len(), 1);
    let observations: Vec<_> = stored(&store)
        .await
        .into_iter()
        .map(|s| s.observation)
        .collect();
    assert_same_rows("44013", &observations, &complete);
    assert_eq!(bus.published().len(), CUT_AFTER_ROWS);
}

#[tokio::test]
async fn hanging_server_times_out() {
    let server = FakeNdbc::start().await;
    server.plan("44013", "44013.txt", &[], Mode::HangHeaders);
    server.plan("TPLM2", "TPLM2.txt", &[], Mode::HangBody);
    let (_dir, store) = fresh_store().await;
    let bus = RecordingBus::default();
    let timeout = Duration::from_millis(300);
    let source = server.source(&["44013", "TPLM2"], timeout);

    for station in ["44013", "TPLM2"] {
        let started = Instant::now();
        let error = tokio::time::timeout(WAIT, source.poll_station(&id(station), &store, &bus))
            .await
            .unwrap_or_else(|_| panic!("{station}: the request timeout did not fire"))
            .expect_err("hangs");
        let elapsed = started.elapsed();
        assert!(
            matches!(&error, FetchError::Http(e) if e.is_timeout()),
            "{station}: {error:?}"
        );
        assert_eq!(server.requests(station).len(), FETCH_ATTEMPTS as usize);
        assert!(
            elapsed >= timeout * FETCH_ATTEMPTS && elapsed < Duration::from_secs(4),
            "{station}: {elapsed:?}"
        );
    }
    assert_eq!(store.max_seq().await.expect("max"), Seq::ZERO);
    assert!(bus.published().is_empty());
}

#[tokio::test]
async fn unreadable_file_is_an_error_and_not_retried() {
    let server = FakeNdbc::start().await;
    // A spectral file where the standard meteorological file should be.
    server.serve("41002", "41002.spec");
    let (_dir, store) = fresh_store().await;
    let bus = RecordingBus::default();
    let source = server.source(&["41002"], WAIT);

    for _ in 0..2 {
        let error = source
            .poll_station(&id("41002"), &store, &bus)
            .await
            .expect_err("not stdmet");
        assert!(
            matches!(error, FetchError::Ingest(IngestError::Parse(_))),
            "{error:?}"
        );
    }
    let requests = server.requests("41002");
    assert_eq!(requests.len(), 2, "one request per poll");
    // The validators of a file that could not be stored are not kept.
    assert_eq!(header_value(&requests[1], header::IF_NONE_MATCH), None);
    assert_eq!(store.max_seq().await.expect("max"), Seq::ZERO);

    let direct = ingest_file(&store, &bus, &id("41002"), &read(&realtime2("41002.spec"))).await;
    assert!(matches!(direct, Err(IngestError::Parse(_))), "{direct:?}");
    assert!(bus.published().is_empty());
}

#[tokio::test]
async fn refresh_metadata_stores_the_station_list() {
    let server = FakeNdbc::start().await;
    let (_dir, store) = fresh_store().await;
    let xml = read(&Path::new(NDBC).join("metadata/activestations.xml"));
    let listed = String::from_utf8_lossy(&xml)
        .matches("<station id=")
        .count();

    let written = server
        .source(&["44009"], WAIT)
        .refresh_metadata(&store)
        .await
        .expect("refresh");
    assert_eq!(written, listed);
    assert_eq!(server.requests("activestations.xml").len(), 1);

    let station = store
        .station(&id("44009"))
        .await
        .expect("station")
        .expect("44009 from its metadata");
    assert_eq!(
        station.name.as_deref(),
        Some(xml_attribute("44009", "name").as_str())
    );
    assert_eq!(station.latitude, xml_attribute("44009", "lat").parse().ok());
    assert_eq!(
        station.longitude,
        xml_attribute("44009", "lon").parse().ok()
    );
    assert_eq!(station.latest, None);
    let thomas = store
        .station(&id("TPLM2"))
        .await
        .expect("station")
        .expect("tplm2, listed in lower case");
    assert_eq!(
        thomas.name.as_deref(),
        Some(xml_attribute("tplm2", "name").as_str())
    );
}

#[tokio::test]
async fn a_failed_store_write_is_fetched_again_in_full_and_then_stored() {
    buoycast::metrics::install();
    let server = FakeNdbc::start().await;
    server.serve("TPLM2", "TPLM2.txt");
    let (dir, store) = fresh_store().await;
    let bus = RecordingBus::default();
    let source = server.source(&["TPLM2"], WAIT);
    let station = id("TPLM2");
    let rows = file_rows("TPLM2.txt");
    let n = rows.len();

    // Another process holds the database's write lock: the store write fails.
    let lock = WriteLock::hold(&db_file(&dir)).await;
    let error = source
        .poll_station(&station, &store, &bus)
        .await
        .expect_err("the store cannot write");
    assert!(
        matches!(error, FetchError::Ingest(IngestError::Store(_))),
        "{error:?}"
    );
    assert_eq!(
        server.requests("TPLM2").len(),
        1,
        "a store failure is not a fetch retry"
    );
    assert_eq!(store.max_seq().await.expect("max"), Seq::ZERO);
    assert!(
        bus.published().is_empty(),
        "nothing published before a commit"
    );
    assert!(metric(r#"ingest_store_failures_total{source="ndbc"}"#) >= 1.0);
    assert!(metric(r#"ingest_fetches_total{result="store_failed"}"#) >= 1.0);

    // The lock is gone: the next poll asks unconditionally, gets the file and stores it all.
    lock.release().await;
    let second = source
        .poll_station(&station, &store, &bus)
        .await
        .expect("poll");
    assert_eq!(
        second,
        FetchOutcome::Fetched(FileOutcome {
            parsed: n,
            skipped: 0,
            rejected: 0,
            stored: n
        })
    );
    let requests = server.requests("TPLM2");
    assert_eq!(requests.len(), 2);
    assert_eq!(header_value(&requests[1], header::IF_NONE_MATCH), None);
    assert_eq!(header_value(&requests[1], header::IF_MODIFIED_SINCE), None);
    let published = bus.published();
    assert_published_in_order(&published);
    assert_eq!(
        published
            .iter()
            .map(|m| m.seq.expect("seq").get())
            .collect::<Vec<_>>(),
        (1..=n as i64).collect::<Vec<_>>(),
        "the failed write used up no seq"
    );
    assert_eq!(stored(&store).await, published_as_stored(&published));
    let observations: Vec<_> = published
        .iter()
        .map(|m| m.observation().expect("an observation").clone())
        .collect();
    assert_same_rows("TPLM2", &observations, &rows);

    // Committed now, so its validators are kept.
    assert_eq!(
        source
            .poll_station(&station, &store, &bus)
            .await
            .expect("poll"),
        FetchOutcome::NotModified
    );
}

#[tokio::test]
async fn a_changed_file_whose_store_write_failed_is_not_taken_for_unchanged() {
    let server = FakeNdbc::start().await;
    let (old_file, new_file) = ("snapshots/44065_fetched_2024-02-05.txt", "44065.txt");
    server.serve("44065", old_file);
    let (dir, store) = fresh_store().await;
    let bus = RecordingBus::default();
    let source = server.source(&["44065"], WAIT);
    let station = id("44065");
    let first = source
        .poll_station(&station, &store, &bus)
        .await
        .expect("poll");
    assert!(matches!(first, FetchOutcome::Fetched(o) if o.stored > 0));
    let max = store.max_seq().await.expect("max");

    // NDBC has a new file, and the store cannot write it.
    server.set_file("44065", new_file);
    let lock = WriteLock::hold(&db_file(&dir)).await;
    let error = source
        .poll_station(&station, &store, &bus)
        .await
        .expect_err("the store cannot write");
    assert!(
        matches!(error, FetchError::Ingest(IngestError::Store(_))),
        "{error:?}"
    );
    assert_eq!(store.max_seq().await.expect("max"), max);
    lock.release().await;

    // The next poll still sends the old file's validators, so it gets the new file, not a 304.
    let third = source
        .poll_station(&station, &store, &bus)
        .await
        .expect("poll");
    assert!(
        matches!(third, FetchOutcome::Fetched(o) if o.stored > 0),
        "{third:?}"
    );
    let old_tag = etag(&read(&realtime2(old_file)));
    let requests = server.requests("44065");
    assert_eq!(requests.len(), 3);
    for request in &requests[1..] {
        assert_eq!(
            header_value(request, header::IF_NONE_MATCH),
            Some(old_tag.as_str())
        );
    }
    let union: BTreeSet<_> = file_rows(old_file)
        .iter()
        .chain(&file_rows(new_file))
        .map(|r| r.time)
        .collect();
    assert_eq!(
        stored(&store).await.len(),
        union.len(),
        "every row of both files"
    );
    assert_eq!(
        source
            .poll_station(&station, &store, &bus)
            .await
            .expect("poll"),
        FetchOutcome::NotModified
    );
}

/// A copy of a real file with two bad rows: a row one day ahead of now on top (newest first),
/// and the third row's wind speed made negative. Returns the rows expected to be kept.
fn write_file_with_bad_rows(path: &Path, source: &str) -> Vec<TextRow> {
    let text = String::from_utf8(read(&realtime2(source))).expect("UTF-8 fixture");
    let lines: Vec<&str> = text.lines().collect();
    let (header, data) = lines.split_at(2);
    let first: Vec<&str> = data[0].split_whitespace().collect();
    let ahead = (Utc::now() + chrono::Duration::days(1))
        .format("%Y %m %d %H %M")
        .to_string();
    let future = format!("{ahead} {}", first[5..].join(" "));
    let mut negative: Vec<&str> = data[2].split_whitespace().collect();
    assert_ne!(negative[6], "MM", "fixture: the third row has a wind speed");
    negative[6] = "-3.0";
    let negative = negative.join(" ");
    let mut out: Vec<&str> = header.to_vec();
    out.push(&future);
    out.extend(&data[..2]);
    out.push(&negative);
    out.extend(&data[3..]);
    std::fs::write(path, out.join("\n") + "\n").expect("write the crafted file");
    let mut kept = file_rows(source);
    kept.remove(2);
    kept
}

/// The stored rows hold no negative wind speed and no time ahead of now.
fn assert_no_bad_values(stored: &[StoredObservation]) {
    let now = Utc::now();
    for s in stored {
        let o = &s.observation;
        assert!(o.wind_speed_mps.is_none_or(|w| w >= 0.0), "{o:?}");
        assert!(o.timestamp <= now, "{o:?}");
    }
}

#[tokio::test]
async fn rows_that_fail_validation_are_not_stored_from_ndbc() {
    buoycast::metrics::install();
    let files = tempfile::tempdir().expect("temp dir");
    let path = files.path().join("TPLM2.txt");
    let kept = write_file_with_bad_rows(&path, "TPLM2.txt");
    let server = FakeNdbc::start().await;
    server.serve_path("TPLM2", &path);
    let (_dir, store) = fresh_store().await;
    let bus = RecordingBus::default();

    let outcome = server
        .source(&["TPLM2"], WAIT)
        .poll_station(&id("TPLM2"), &store, &bus)
        .await
        .expect("poll");
    assert_eq!(
        outcome,
        FetchOutcome::Fetched(FileOutcome {
            parsed: kept.len() + 2,
            skipped: 0,
            rejected: 2,
            stored: kept.len()
        })
    );
    let stored = stored(&store).await;
    assert_no_bad_values(&stored);
    let observations: Vec<_> = stored.into_iter().map(|s| s.observation).collect();
    assert_same_rows("TPLM2", &observations, &kept);
    assert_eq!(bus.published().len(), kept.len());
    assert!(metric(r#"ingest_rows_rejected_total{reason="out_of_range"}"#) >= 1.0);
    assert!(metric(r#"ingest_rows_rejected_total{reason="future_timestamp"}"#) >= 1.0);
}

#[tokio::test]
async fn station_ids_that_are_not_ndbc_ids_are_never_polled() {
    let server = FakeNdbc::start().await;
    server.serve("44013", "excerpts/LJAC1.txt");
    let (_dir, store) = fresh_store().await;
    let store: Arc<dyn Store> = Arc::new(store);
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let config = server.config(
        &["44013", "44065_fetched", "BURL1"],
        WAIT,
        Duration::from_millis(200),
    );
    let source = Arc::new(NdbcSource::new(config).expect("source"));
    assert_eq!(source.stations(), [id("44013"), id("BURL1")]);

    let stop = CancellationToken::new();
    let task = tokio::spawn(source.run(store.clone(), bus, stop.clone()));
    // Once both NDBC stations have been polled twice, a third would have been polled too.
    let deadline = Instant::now() + WAIT;
    while server.requests("44013").len() < 2 || server.requests("BURL1").len() < 2 {
        assert!(Instant::now() < deadline, "the stations were not polled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    tokio::time::timeout(WAIT, task)
        .await
        .expect("stops")
        .expect("join");
    assert!(server.requests("44065_FETCHED").is_empty());
    assert!(server.requests("44065_fetched").is_empty());
    let stations = store.stations().await.expect("stations");
    assert_eq!(
        stations.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        vec!["44013"]
    );
}

// ---------------------------------------------------------------------------------------------
// Replay source

/// A temporary replay directory holding copies of real files under the given names.
fn replay_dir(files: &[(&str, PathBuf)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, source) in files {
        std::fs::copy(source, dir.path().join(name)).expect("copy fixture");
    }
    dir
}

/// Two stations observing the same 45 days, at :00/:30 and at :26/:56.
const REPLAYED: [(&str, &str); 2] = [("44088", "44088.txt"), ("44097", "44097.txt")];

#[tokio::test]
async fn replay_plays_a_directory_in_time_order_once() {
    let mut files: Vec<(&str, PathBuf)> = Vec::new();
    let names: Vec<String> = REPLAYED.iter().map(|(s, _)| format!("{s}.txt")).collect();
    for ((_, file), name) in REPLAYED.iter().zip(&names) {
        files.push((name.as_str(), realtime2(file)));
    }
    files.push((
        "activestations.xml",
        Path::new(NDBC).join("metadata/activestations.xml"),
    ));
    let dir = replay_dir(&files);
    let (_db, store) = fresh_store().await;
    let bus = RecordingBus::default();
    let expected: Vec<(&str, Vec<TextRow>)> = REPLAYED
        .iter()
        .map(|(station, file)| (*station, file_rows(file)))
        .collect();
    let total: usize = expected.iter().map(|(_, rows)| rows.len()).sum();
    let config = ReplayConfig {
        dir: dir.path().to_owned(),
        speed: 0.0,
        kinds: KindSet::OBSERVATION,
    };
    let stored_count = replay::run(config.clone(), &store, &bus, CancellationToken::new())
        .await
        .expect("replay");
    assert_eq!(stored_count, total);

    let published = bus.published();
    assert_eq!(published.len(), total);
    let seqs: Vec<i64> = published
        .iter()
        .map(|m| m.seq.expect("seq").get())
        .collect();
    assert_eq!(seqs, (1..=total as i64).collect::<Vec<_>>());
    assert!(
        published
            .windows(2)
            .all(|w| w[0].entry.timestamp() <= w[1].entry.timestamp()),
        "published in observation-time order"
    );
    let switches = published
        .windows(2)
        .filter(|w| w[0].entry.station_id() != w[1].entry.station_id())
        .count();
    assert!(
        switches > 1000,
        "the stations' rows are merged, not played one file after the other"
    );
    for (station, rows) in &expected {
        let mine: Vec<_> = published
            .iter()
            .filter(|m| m.entry.station_id().as_str() == *station)
            .map(|m| m.observation().expect("an observation").clone())
            .collect();
        assert_same_rows(station, &mine, rows);
    }
    assert_eq!(stored(&store).await, published_as_stored(&published));

    // Metadata came from the directory's activestations.xml.
    let station = store
        .station(&id("44088"))
        .await
        .expect("station")
        .expect("44088");
    assert_eq!(
        station.name.as_deref(),
        Some(xml_attribute("44088", "name").as_str())
    );
    assert_eq!(
        station.latest.map(|l| l.observation.timestamp),
        Some(expected[0].1[0].time)
    );

    // Played again: nothing new.
    let again = replay::run(config, &store, &bus, CancellationToken::new())
        .await
        .expect("replay");
    assert_eq!(again, 0);
    assert_eq!(bus.published().len(), total);
    assert_eq!(store.max_seq().await.expect("max"), Seq::new(total as i64));
}

#[tokio::test]
async fn replay_skips_files_that_are_not_station_files() {
    let dir = replay_dir(&[
        ("TPLM2.txt", realtime2("TPLM2.txt")),
        // Real data under a name that is not a station id.
        ("not a station.txt", realtime2("44013.txt")),
        // A real file under a name that is a producer's id but not NDBC's file naming.
        (
            "44065_fetched_2024-02-05.txt",
            realtime2("snapshots/44065_fetched_2024-02-05.txt"),
        ),
        // A station name holding another NDBC product.
        ("41002.txt", realtime2("41002.spec")),
        // Not a .txt file at all.
        ("41004.spec", realtime2("41004.txt")),
    ]);
    std::fs::write(dir.path().join("README.txt"), "Not an NDBC file.\n").expect("write");
    let rows = file_rows("TPLM2.txt");

    let loaded = replay::load_dir(dir.path()).expect("load_dir");
    assert_same_rows("TPLM2", &loaded, &rows);

    let (_db, store) = fresh_store().await;
    let bus = RecordingBus::default();
    let config = ReplayConfig {
        dir: dir.path().to_owned(),
        speed: 0.0,
        kinds: KindSet::OBSERVATION,
    };
    let count = replay::run(config, &store, &bus, CancellationToken::new())
        .await
        .expect("replay");
    assert_eq!(count, rows.len());
    let stations = store.stations().await.expect("stations");
    assert_eq!(
        stations.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        vec!["TPLM2"]
    );
    // Without activestations.xml there is no metadata, and that is fine.
    assert_eq!(stations[0].name, None);
}

#[tokio::test]
async fn replay_retries_a_failed_store_write_and_resumes_where_it_failed() {
    const FAILURES: &str = r#"ingest_store_failures_total{source="replay"}"#;
    buoycast::metrics::install();
    let files = replay_dir(&[("TPLM2.txt", realtime2("TPLM2.txt"))]);
    let rows = file_rows("TPLM2.txt");
    let n = rows.len();
    let (db, store) = fresh_store().await;
    let store = Arc::new(store);
    let bus = Arc::new(RecordingBus::default());
    let failures_before = metric(FAILURES);

    // Another process holds the database's write lock from before the replay starts.
    let lock = WriteLock::hold(&db_file(&db)).await;
    let config = ReplayConfig {
        dir: files.path().to_owned(),
        speed: 0.0,
        kinds: KindSet::OBSERVATION,
    };
    let replay = tokio::spawn({
        let (store, bus) = (store.clone(), bus.clone());
        async move {
            replay::run(
                config,
                store.as_ref(),
                bus.as_ref(),
                CancellationToken::new(),
            )
            .await
        }
    });
    // The first write fails (at once, or after the store's busy timeout).
    let deadline = Instant::now() + Duration::from_secs(120);
    while metric(FAILURES) <= failures_before {
        assert!(
            !replay.is_finished(),
            "the replay ended: {:?}",
            replay.await
        );
        assert!(Instant::now() < deadline, "no store write failed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !replay.is_finished(),
        "a failed write does not end the replay"
    );
    assert_eq!(store.max_seq().await.expect("max"), Seq::ZERO);
    assert!(bus.published().is_empty());

    // The lock is released: the same rows are written, and the replay plays to its end.
    lock.release().await;
    let count = tokio::time::timeout(Duration::from_secs(60), replay)
        .await
        .expect("the replay goes on once the store works")
        .expect("join")
        .expect("replay");
    assert_eq!(count, n);
    let published = bus.published();
    assert_eq!(
        published
            .iter()
            .map(|m| m.seq.expect("seq").get())
            .collect::<Vec<_>>(),
        (1..=n as i64).collect::<Vec<_>>(),
        "nothing skipped, nothing twice"
    );
    let observations: Vec<_> = published
        .iter()
        .map(|m| m.observation().expect("an observation").clone())
        .collect();
    assert_same_rows("TPLM2", &observations, &rows);
    assert_eq!(
        stored(store.as_ref()).await,
        published_as_stored(&published)
    );
}

#[tokio::test]
async fn replay_skips_rows_that_fail_validation() {
    buoycast::metrics::install();
    let files = tempfile::tempdir().expect("temp dir");
    let kept = write_file_with_bad_rows(&files.path().join("TPLM2.txt"), "TPLM2.txt");

    let loaded = replay::load_dir(files.path()).expect("load_dir");
    assert_same_rows("TPLM2", &loaded, &kept);

    let (_db, store) = fresh_store().await;
    let bus = RecordingBus::default();
    let config = ReplayConfig {
        dir: files.path().to_owned(),
        speed: 0.0,
        kinds: KindSet::OBSERVATION,
    };
    let count = replay::run(config, &store, &bus, CancellationToken::new())
        .await
        .expect("replay");
    assert_eq!(count, kept.len());
    let stored = stored(&store).await;
    assert_no_bad_values(&stored);
    assert_eq!(stored.len(), kept.len());
    assert!(metric(r#"ingest_rows_rejected_total{reason="out_of_range"}"#) >= 1.0);
    assert!(metric(r#"ingest_rows_rejected_total{reason="future_timestamp"}"#) >= 1.0);
}

#[tokio::test]
async fn replay_of_a_missing_directory_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_db, store) = fresh_store().await;
    let bus = RecordingBus::default();
    let config = ReplayConfig {
        dir: dir.path().join("absent"),
        speed: 0.0,
        kinds: KindSet::OBSERVATION,
    };
    assert!(
        replay::run(config, &store, &bus, CancellationToken::new())
            .await
            .is_err()
    );
}

// ---------------------------------------------------------------------------------------------
// End to end

#[tokio::test]
async fn ndbc_ingest_reaches_an_open_stream() {
    ingest_through_a_stream(&[
        ("LJAC1", "excerpts/LJAC1.txt"),
        ("46254", "excerpts/46254.txt"),
    ])
    .await;
}

/// A first poll of a whole 45-day file: a burst of over a thousand observations.
#[tokio::test]
async fn ndbc_ingest_of_whole_files_reaches_an_open_stream() {
    ingest_through_a_stream(&[("TPLM2", "TPLM2.txt"), ("41004", "41004.txt")]).await;
}

/// Polls the stations through a server with an SSE stream opened before anything is stored;
/// the stream must deliver every row of the files once, with increasing ids equal to the seqs.
async fn ingest_through_a_stream(stations: &[(&str, &str)]) {
    let server = FakeNdbc::start().await;
    for (station, file) in stations {
        server.serve(station, file);
        server.delay_first(station, Duration::from_millis(300));
    }
    let expected: BTreeSet<(String, DateTime<Utc>)> = stations
        .iter()
        .flat_map(|(station, file)| {
            file_rows(file)
                .into_iter()
                .map(move |r| (station.to_string(), r.time))
        })
        .collect();
    let names: Vec<&str> = stations.iter().map(|(s, _)| *s).collect();
    let config = server.config(&names, WAIT, Duration::from_millis(500));
    let app = spawn_app_with(|s| s.ingest = Some(IngestSource::Ndbc(config))).await;

    let mut stream = app.stream("/v1/observations/stream", &[]).await;
    assert_eq!(stream.status, 200);
    assert_eq!(
        app.store.max_seq().await.expect("max"),
        Seq::ZERO,
        "the stream opened before anything was stored"
    );

    // Everything, or whatever came before 3 s of silence.
    let mut events = Vec::new();
    while events.len() < expected.len() {
        match stream.next_of("observation", Duration::from_secs(3)).await {
            Some(event) => events.push(event),
            None => break,
        }
    }
    let ids: Vec<i64> = events.iter().map(|e| e.id.expect("event id")).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    // The ids are the stored seqs of the ingested observations: none missing.
    let stored = stored(app.store.as_ref()).await;
    let seqs: Vec<i64> = stored.iter().map(|s| s.seq.get()).collect();
    let received: BTreeSet<i64> = ids.iter().copied().collect();
    let missing: Vec<i64> = seqs
        .iter()
        .copied()
        .filter(|s| !received.contains(s))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} stored observations never reached the stream, e.g. seqs {:?}",
        missing.len(),
        seqs.len(),
        &missing[..missing.len().min(10)]
    );
    assert_eq!(ids, seqs);
    let got: BTreeSet<(String, DateTime<Utc>)> = events
        .iter()
        .map(|e| {
            let json = e.json();
            let time = DateTime::parse_from_rfc3339(json["timestamp"].as_str().expect("time"))
                .expect("RFC 3339")
                .with_timezone(&Utc);
            (
                json["stationId"].as_str().expect("station").to_owned(),
                time,
            )
        })
        .collect();
    assert_eq!(got, expected);

    // Later polls are conditional and bring nothing new.
    assert!(
        stream
            .next_of("observation", Duration::from_millis(1200))
            .await
            .is_none()
    );
    for (station, _) in stations {
        let requests = server.requests(station);
        assert!(requests.len() >= 2, "{station} polled again");
        assert!(
            requests[1..]
                .iter()
                .all(|h| header_value(h, header::IF_NONE_MATCH).is_some()),
            "{station}"
        );
    }

    app.shutdown.cancel();
    tokio::time::timeout(WAIT, app.handle)
        .await
        .expect("shut down in time")
        .expect("join")
        .expect("clean exit");
}
