//! Distributed mode against real Redis and PostgreSQL servers: the Redis bus (delivery,
//! validation, reconnects after an outage and after a silent peer), and what clients see while
//! Redis or PostgreSQL is down (SPEC §4, §10 reliability).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use buoycast::app::{Application, IngestSource, ServerSettings, Settings};
use buoycast::bus::{Bus, BusEvent, BusMessage, REDIS_CHANNEL, RedisBus, Subscription};
use buoycast::domain::{KindSet, Observation, Seq, StationId, VALUE_COUNT};
use buoycast::ingest::ndbc::{NdbcConfig, NdbcSource};
use buoycast::ingest::store_and_publish;
use buoycast::store::{PgStore, Store};
use buoycast_testkit::services::{PostgresServer, RedisServer};
use buoycast_testkit::{SseClient, SseEvent};
use chrono::{DateTime, TimeZone, Utc};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

/// Generous bound for anything that should happen within a few seconds.
const WAIT: Duration = Duration::from_secs(20);
const NDBC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/ndbc/realtime2");

/// A time `minutes` after 2025-11-15 12:00 UTC.
fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 11, 15, 12, 0, 0)
        .single()
        .expect("valid time")
        + chrono::Duration::minutes(minutes)
}

/// Observations of station 44009 at minutes `range`, told apart by their wave height.
fn batch(range: std::ops::Range<i64>) -> Vec<Observation> {
    range
        .map(|m| {
            let mut values = [None; VALUE_COUNT];
            values[0] = Some((m % 300) as f64 / 10.0);
            values[4] = Some(1013.2);
            Observation::from_values(StationId::parse("44009").expect("id"), at(m), values)
        })
        .collect()
}

/// Next event of a bus subscription within `wait`.
async fn next(sub: &mut Subscription, wait: Duration) -> Option<BusEvent> {
    tokio::time::timeout(wait, sub.next()).await.ok().flatten()
}

/// Waits for a `Gap` (skipping nothing else: a gap must come before any message).
async fn expect_gap(sub: &mut Subscription, what: &str) {
    match next(sub, WAIT).await {
        Some(BusEvent::Gap) => {}
        other => panic!("{what}: expected a gap, got {other:?}"),
    }
}

/// The next message, skipping gaps (a subscriber may report one at any time).
async fn expect_message(sub: &mut Subscription) -> BusMessage {
    loop {
        match next(sub, WAIT).await {
            Some(BusEvent::Message(m)) => return *m,
            Some(BusEvent::Gap) => {}
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

/// Publishes a raw payload on the channel, as a foreign producer would.
async fn publish_raw(redis: &RedisServer, payload: &str) {
    let client = redis::Client::open(redis.url()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    let _: i64 = redis::cmd("PUBLISH")
        .arg(REDIS_CHANNEL)
        .arg(payload)
        .query_async(&mut conn)
        .await
        .expect("PUBLISH");
}

async fn eventually<F, Fut>(wait: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + wait;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn redis_bus_delivers_validates_and_resubscribes_after_a_long_outage() {
    buoycast_testkit::init_logs();
    let mut redis = RedisServer::start();
    let subscriber = RedisBus::connect(&redis.url()).expect("bus");
    let publisher = RedisBus::connect(&redis.url()).expect("bus");
    assert!(!subscriber.is_connected(), "nothing subscribed yet");
    let mut sub = subscriber.subscribe().await.expect("subscribe");
    expect_gap(&mut sub, "first subscription").await;
    assert!(subscriber.is_connected());
    assert!(
        subscriber.subscribe().await.is_err(),
        "one subscriber per bus"
    );
    publisher.ping().await.expect("ping");

    let stored = BusMessage {
        seq: Some(Seq::new(41)),
        entry: batch(0..1).remove(0).into(),
    };
    publisher.publish(&stored).await.expect("publish");
    assert_eq!(expect_message(&mut sub).await, stored);

    // Invalid payloads are reported and skipped; the subscription goes on.
    publish_raw(&redis, "not json").await;
    publish_raw(
        &redis,
        r#"{"seq":1,"stationId":"44009","timestamp":"2025-11-15T12:00:00Z","windDirDeg":720}"#,
    )
    .await;
    for _ in 0..2 {
        assert!(matches!(
            next(&mut sub, WAIT).await,
            Some(BusEvent::Invalid(_))
        ));
    }
    // A message without seq (a producer that did not store it) is still a message.
    publish_raw(
        &redis,
        r#"{"stationId":"burl1","timestamp":"2025-11-15T12:00:00Z","windSpeedMps":3.5}"#,
    )
    .await;
    let foreign = expect_message(&mut sub).await;
    assert_eq!(foreign.seq, None);
    assert_eq!(foreign.entry.station_id().as_str(), "BURL1");

    // Entries of other kinds (SPEC §3a) cross the bus whole; a bad kind or fields are invalid.
    let spectrum = r#"{"seq":42,"kind":"spectrum","stationId":"44013","timestamp":"2025-11-15T12:40:00.000Z","separationFreqHz":0.1,"frequenciesHz":[0.033,0.038],"energyDensityM2PerHz":[0.5,null],"r1":null}"#;
    publish_raw(&redis, spectrum).await;
    let message = expect_message(&mut sub).await;
    assert_eq!(message.entry.kind().name(), "spectrum");
    assert_eq!(serde_json::to_string(&message).expect("json"), spectrum);
    for bad in [
        r#"{"seq":43,"kind":"waves","stationId":"44013","timestamp":"2025-11-15T12:40:00Z"}"#,
        r#"{"seq":43,"kind":"rain","stationId":"44013","timestamp":"2025-11-15T12:40:00Z","stationId2":1,"seq":"x"}"#,
        r#"{"seq":43,"kind":"rain","timestamp":"2025-11-15T12:40:00Z"}"#,
    ] {
        publish_raw(&redis, bad).await;
        assert!(
            matches!(next(&mut sub, WAIT).await, Some(BusEvent::Invalid(_))),
            "{bad}"
        );
    }

    // An outage longer than the connection manager's default retries (~6 s) ...
    redis.stop();
    eventually(WAIT, "the subscriber to notice the outage", || async {
        !subscriber.is_connected()
    })
    .await;
    let started = tokio::time::Instant::now();
    let failed = publisher.publish(&stored).await;
    assert!(failed.is_err(), "publishing to a stopped Redis fails");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "and fails fast: {:?}",
        started.elapsed()
    );
    assert!(publisher.ping().await.is_err());
    tokio::time::sleep(Duration::from_secs(8)).await;
    // ... and the subscriber resubscribes by itself, telling the relay to repair.
    redis.restart();
    expect_gap(&mut sub, "resubscription").await;
    assert!(subscriber.is_connected());
    let after = BusMessage {
        seq: Some(Seq::new(42)),
        entry: batch(1..2).remove(0).into(),
    };
    let mut delivered = false;
    for _ in 0..10 {
        if publisher.publish(&after).await.is_ok() {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(delivered, "publishing works again after the restart");
    assert_eq!(expect_message(&mut sub).await, after);
    publisher.ping().await.expect("ping after restart");
}

#[tokio::test]
async fn a_redis_that_stops_answering_is_detected_by_ping_and_replaced() {
    buoycast_testkit::init_logs();
    let redis = RedisServer::start();
    let bus = RedisBus::connect(&redis.url()).expect("bus");
    let publisher = RedisBus::connect(&redis.url()).expect("bus");
    let mut sub = bus.subscribe().await.expect("subscribe");
    expect_gap(&mut sub, "first subscription").await;

    // Frozen: the TCP connection stays open but nothing answers.
    redis.pause();
    eventually(WAIT, "PINGs to find the connection dead", || async {
        !bus.is_connected()
    })
    .await;
    assert!(
        tokio::time::timeout(Duration::from_secs(5), bus.ping())
            .await
            .expect("ping has its own timeout")
            .is_err()
    );
    redis.resume();
    expect_gap(&mut sub, "subscription on a new connection").await;
    assert!(bus.is_connected());
    let message = BusMessage {
        seq: Some(Seq::new(1)),
        entry: batch(0..1).remove(0).into(),
    };
    let mut received = None;
    for _ in 0..10 {
        let _ = publisher.publish(&message).await;
        if let Some(BusEvent::Message(m)) = next(&mut sub, Duration::from_millis(500)).await {
            received = Some(*m);
            break;
        }
    }
    assert_eq!(
        received,
        Some(message),
        "messages flow on the new connection"
    );
}

/// A server process in distributed mode, in this test process.
struct Server {
    addr: SocketAddr,
    shutdown: CancellationToken,
    client: reqwest::Client,
}

impl Server {
    async fn spawn(database_url: &str, redis_url: &str) -> Self {
        Self::spawn_with_token(database_url, redis_url, None).await
    }

    /// A server whose publish API takes `publish_token`, if any.
    async fn spawn_with_token(
        database_url: &str,
        redis_url: &str,
        publish_token: Option<&str>,
    ) -> Self {
        buoycast_testkit::init_logs();
        let settings = Settings {
            database_url: database_url.into(),
            redis_url: Some(redis_url.into()),
            connect_timeout: Duration::from_secs(10),
            server: Some(ServerSettings {
                heartbeat: Duration::from_secs(1),
                shutdown_grace: Duration::from_secs(2),
                publish_token: publish_token.map(Into::into),
                ..ServerSettings::default()
            }),
            ingest: None::<IngestSource>,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let app = Application::build(settings, Some(listener))
            .await
            .expect("build app");
        let addr = app.local_addr().expect("address");
        let shutdown = app.shutdown_token();
        tokio::spawn(app.run_until_stopped());
        let server = Self {
            addr,
            shutdown,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        };
        eventually(WAIT, "the server to be ready", || async {
            server.get("/ready").await.0 == 200
        })
        .await;
        server
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn get(&self, path: &str) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
        match self.client.get(self.url(path)).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                (status, headers, response.json().await.unwrap_or_default())
            }
            Err(_) => (0, Default::default(), serde_json::Value::Null),
        }
    }

    async fn stream(&self, headers: &[(&str, &str)]) -> SseClient {
        SseClient::connect(&self.client, &self.url("/v1/observations/stream"), headers).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Observation events of a stream until `n` have arrived, with the heartbeats seen meanwhile.
async fn read_observations(stream: &mut SseClient, n: usize) -> (Vec<SseEvent>, usize) {
    let (mut observations, mut heartbeats) = (Vec::new(), 0);
    while observations.len() < n {
        match stream.next_event(WAIT).await {
            Some(e) if e.event == "observation" => observations.push(e),
            Some(e) if e.event == "heartbeat" => heartbeats += 1,
            Some(_) => {}
            None => panic!(
                "stream ended or stalled after {} of {n} observations",
                observations.len()
            ),
        }
    }
    (observations, heartbeats)
}

fn ids(events: &[SseEvent]) -> Vec<i64> {
    events.iter().map(|e| e.id.expect("an id")).collect()
}

#[tokio::test]
async fn with_redis_down_new_streams_get_503_and_open_streams_resume_without_loss() {
    let mut redis = RedisServer::start();
    let pg = PostgresServer::start();
    let db = pg.create_database().await;
    let server = Server::spawn(&db, &redis.url()).await;
    // The ingest side, as a separate process would have it.
    let store = PgStore::connect(&db).await.expect("store");
    let bus = RedisBus::connect(&redis.url()).expect("bus");

    let mut open = server.stream(&[("Last-Event-ID", "0")]).await;
    assert_eq!(open.status, 200);
    assert_eq!(
        store_and_publish(&store, &bus, &batch(0..5))
            .await
            .expect("store"),
        5
    );
    let (first, _) = read_observations(&mut open, 5).await;
    assert_eq!(ids(&first), vec![1, 2, 3, 4, 5]);

    redis.stop();
    eventually(WAIT, "new streams to be refused", || async {
        server.stream(&[]).await.status == 503
    })
    .await;
    let refused = server.stream(&[]).await;
    assert_eq!(refused.status, 503);
    assert!(refused.headers.contains_key("retry-after"), "Retry-After");
    let body: serde_json::Value = serde_json::from_str(&refused.body_text).expect("JSON body");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    let (status, _, ready) = server.get("/ready").await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["checks"]["bus"]["status"], "down", "{ready}");
    assert_eq!(ready["checks"]["store"]["status"], "up", "{ready}");

    // Ingest goes on: stored, the publish fails (logged), nothing is lost.
    assert_eq!(
        store_and_publish(&store, &bus, &batch(5..10))
            .await
            .expect("store"),
        5
    );
    // The open stream keeps its heartbeats while the bus is down; the stored observations may
    // already reach it from the store (the relay audits the store's head every few seconds).
    let (mut heartbeats, mut during) = (0, Vec::new());
    let quiet_until = tokio::time::Instant::now() + Duration::from_millis(2500);
    while let Some(e) = open
        .next_event(quiet_until.saturating_duration_since(tokio::time::Instant::now()))
        .await
    {
        match e.event.as_str() {
            "heartbeat" => heartbeats += 1,
            "observation" => during.push(e),
            other => panic!("unexpected {other} event during the outage: {e:?}"),
        }
    }
    assert!(heartbeats >= 2, "{heartbeats} heartbeats during the outage");

    redis.restart();
    // What the outage held back is repaired from the store, then live delivery goes on.
    let (rest, _) = read_observations(&mut open, 5 - during.len()).await;
    during.extend(rest);
    assert_eq!(ids(&during), vec![6, 7, 8, 9, 10]);
    let mut published = 0;
    for _ in 0..10 {
        published = store_and_publish(&store, &bus, &batch(10..15))
            .await
            .expect("store");
        if published > 0 {
            break;
        }
    }
    assert_eq!(published, 5);
    let (live, _) = read_observations(&mut open, 5).await;
    assert_eq!(ids(&live), vec![11, 12, 13, 14, 15]);
    // Exactly once: nothing more follows (heartbeats only).
    let quiet_until = tokio::time::Instant::now() + Duration::from_millis(1500);
    while let Some(e) = open
        .next_event(quiet_until.saturating_duration_since(tokio::time::Instant::now()))
        .await
    {
        assert_ne!(e.event, "observation", "duplicate or extra event {e:?}");
    }
    let again = server.stream(&[]).await;
    assert_eq!(again.status, 200, "{}", again.body_text);
    assert_eq!(server.get("/ready").await.0, 200);
}

#[tokio::test]
async fn with_redis_down_a_large_publish_is_acknowledged_and_streams_get_it_once_redis_is_back() {
    const TOKEN: &str = "outage-token";
    const N: i64 = 1000;
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("outage.db").display());
    let server = Server::spawn_with_token(&db, &redis.url(), Some(TOKEN)).await;
    let mut open = server.stream(&[("Last-Event-ID", "0")]).await;
    assert_eq!(open.status, 200);
    open.next_of("connection", WAIT).await.expect("connected");

    redis.stop();
    let observations = batch(0..N);
    let post = server
        .client
        .post(server.url("/v1/observations"))
        .bearer_auth(TOKEN)
        .json(&observations)
        .send();
    // Every publish fails. Retrying each message (~0.6 s) would hold the answer for over ten
    // minutes; the batch as a whole gets a few seconds.
    let response = tokio::time::timeout(Duration::from_secs(15), post)
        .await
        .expect("the publish is answered while Redis is down")
        .expect("response");
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["stored"], N, "{body}");

    // Committed and readable while the bus is down.
    let (status, _, page) = server
        .get(&format!("/v1/observations?after=0&limit={N}"))
        .await;
    assert_eq!(status, 200, "{page}");
    let stored = page["observations"].as_array().expect("observations");
    assert_eq!(stored.len(), N as usize);
    assert_eq!(page["lastSeq"], N);

    // Once Redis is back, the open stream has every event exactly once, in seq order (some may
    // come from the store during the outage: the relay audits the store's head).
    redis.restart();
    let (events, _) = read_observations(&mut open, N as usize).await;
    assert_eq!(ids(&events), (1..=N).collect::<Vec<_>>());
    for (event, sent) in events.iter().zip(&observations) {
        let json = event.json();
        assert_eq!(json["stationId"], sent.station_id.as_str());
        assert_eq!(
            json["timestamp"],
            buoycast::domain::format_timestamp(sent.timestamp)
        );
    }
    let quiet_until = tokio::time::Instant::now() + Duration::from_millis(1500);
    while let Some(e) = open
        .next_event(quiet_until.saturating_duration_since(tokio::time::Instant::now()))
        .await
    {
        assert_ne!(e.event, "observation", "duplicate or extra event {e:?}");
    }
}

/// Messages on the bus that are not valid observations (a foreign producer's mistakes) are
/// skipped and counted by the server's relay: the stream goes on with the next valid message,
/// with nothing from the bad ones, and the server stays ready.
#[tokio::test]
async fn invalid_bus_messages_are_skipped_and_counted_and_the_stream_goes_on() {
    const TOKEN: &str = "invalid-token";
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("invalid.db").display());
    let server = Server::spawn_with_token(&db, &redis.url(), Some(TOKEN)).await;
    let mut open = server.stream(&[]).await;
    assert_eq!(open.status, 200);
    open.next_of("connection", WAIT).await.expect("connected");
    let invalid = [
        "not json",
        r#"{"stationId":"44009"}"#,
        r#"{"seq":"x","stationId":"44009","timestamp":"2026-01-01T00:00:00Z"}"#,
    ];
    for payload in invalid {
        publish_raw(&redis, payload).await;
    }
    let response = server
        .client
        .post(server.url("/v1/observations"))
        .bearer_auth(TOKEN)
        .json(&batch(0..1))
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 201);
    let (events, _) = read_observations(&mut open, 1).await;
    assert_eq!(ids(&events), [1]);
    // The recorder is process-wide (other tests of this binary count too): at least these.
    let metrics = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let counted: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("bus_invalid_messages_total "))
        .expect("bus_invalid_messages_total")
        .trim()
        .parse()
        .expect("a number");
    assert!(counted >= invalid.len() as f64, "{counted}");
    assert_eq!(server.get("/ready").await.0, 200);
}

/// A tiny NDBC: serves `data/realtime2/41004.txt` (the first rows of the real file) and counts
/// the requests.
async fn spawn_ndbc(rows: usize) -> (String, Arc<AtomicUsize>) {
    let text = std::fs::read_to_string(format!("{NDBC}/41004.txt")).expect("fixture");
    let body: String = text
        .lines()
        .take(2 + rows)
        .map(|l| format!("{l}\n"))
        .collect();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/data/realtime2/41004.txt",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            async move { body }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), hits)
}

#[tokio::test]
async fn with_postgres_down_rest_gets_503_live_delivery_continues_and_ingest_retries() {
    let redis = RedisServer::start();
    let mut pg = PostgresServer::start();
    let db = pg.create_database().await;
    let server = Server::spawn(&db, &redis.url()).await;
    let (ndbc_url, hits) = spawn_ndbc(30).await;
    let ingest_store: Arc<dyn Store> = Arc::new(PgStore::connect(&db).await.expect("store"));
    let ingest_bus: Arc<dyn Bus> = Arc::new(RedisBus::connect(&redis.url()).expect("bus"));
    let mut open = server.stream(&[("Last-Event-ID", "0")]).await;
    assert_eq!(open.status, 200);
    // A frame that is not stored reaches a stream only once its replay is over: after it,
    // the stream no longer needs the store.
    let unstored = BusMessage {
        seq: None,
        entry: batch(0..1).remove(0).into(),
    };
    ingest_bus.publish(&unstored).await.expect("publish");
    let live = open.next_of("observation", WAIT).await.expect("live event");
    assert_eq!(live.id, None);

    pg.stop();
    let source = Arc::new(
        NdbcSource::new(NdbcConfig {
            base_url: ndbc_url,
            stations: vec![StationId::parse("41004").expect("id")],
            all_stations: false,
            kinds: KindSet::OBSERVATION,
            interval: Duration::from_millis(700),
            concurrency: 1,
            timeout: Duration::from_secs(5),
            retry_base: Duration::from_millis(50),
        })
        .expect("source"),
    );
    let stop_ingest = CancellationToken::new();
    let ingest = tokio::spawn(source.run(
        ingest_store.clone(),
        ingest_bus.clone(),
        stop_ingest.clone(),
    ));

    // REST reads answer 503 with the JSON error body; readiness names the store.
    for path in [
        "/v1/observations/by-station/41004",
        "/v1/observations?after=0",
    ] {
        let (status, headers, body) = server.get(path).await;
        assert_eq!(status, 503, "{path}: {body}");
        assert_eq!(body["error"]["code"], "unavailable", "{path}: {body}");
        assert!(headers.contains_key("retry-after"), "{path}");
    }
    let (status, _, ready) = server.get("/ready").await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["checks"]["store"]["status"], "down", "{ready}");
    assert_eq!(ready["checks"]["bus"]["status"], "up", "{ready}");

    // Live delivery goes on: new streams open, and what the bus carries reaches them.
    let mut fresh = server.stream(&[]).await;
    assert_eq!(fresh.status, 200, "{}", fresh.body_text);
    ingest_bus.publish(&unstored).await.expect("publish");
    for stream in [&mut open, &mut fresh] {
        let event = stream
            .next_of("observation", WAIT)
            .await
            .expect("live event");
        assert_eq!(event.id, None, "not stored, so no id");
        assert_eq!(event.json()["stationId"], "44009");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "no station is fetched while its lease cannot be taken"
    );

    // PostgreSQL is back: the next interval's poll stores and publishes everything.
    pg.restart();
    let (events, _) = read_observations(&mut open, 30).await;
    assert_eq!(ids(&events), (1..=30).collect::<Vec<_>>());
    assert!(hits.load(Ordering::SeqCst) >= 1);
    let (status, _, history) = server
        .get("/v1/observations/by-station/41004?limit=1000")
        .await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(history["observations"].as_array().map(Vec::len), Some(30));
    eventually(WAIT, "readiness", || async {
        server.get("/ready").await.0 == 200
    })
    .await;
    stop_ingest.cancel();
    let _ = tokio::time::timeout(WAIT, ingest).await;
}

#[tokio::test]
async fn two_ingest_processes_share_a_station_by_lease() {
    let pg = PostgresServer::start();
    let redis = RedisServer::start();
    let db = pg.create_database().await;
    let (ndbc_url, hits) = spawn_ndbc(5).await;
    let interval = Duration::from_millis(1000);
    let stop = CancellationToken::new();
    let mut holders = Vec::new();
    let mut tasks = Vec::new();
    // Two ingest "processes": own store pools, own buses, own lease holder ids.
    for _ in 0..2 {
        let store: Arc<dyn Store> = Arc::new(PgStore::connect(&db).await.expect("store"));
        store.migrate().await.expect("migrate");
        let bus: Arc<dyn Bus> = Arc::new(RedisBus::connect(&redis.url()).expect("bus"));
        let source = Arc::new(
            NdbcSource::new(NdbcConfig {
                base_url: ndbc_url.clone(),
                stations: vec![StationId::parse("41004").expect("id")],
                all_stations: false,
                kinds: KindSet::OBSERVATION,
                interval,
                concurrency: 1,
                timeout: Duration::from_secs(5),
                retry_base: Duration::from_millis(50),
            })
            .expect("source"),
        );
        holders.push(source.holder().to_owned());
        tasks.push(tokio::spawn(source.run(store, bus, stop.clone())));
    }
    assert_ne!(holders[0], holders[1], "each process has its own holder id");
    // Both poll at once, then about once a second each: without leases ~8 fetches in 3.5 s.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    stop.cancel();
    for task in tasks {
        let _ = tokio::time::timeout(WAIT, task).await;
    }
    let fetched = hits.load(Ordering::SeqCst);
    assert!(
        (3..=5).contains(&fetched),
        "{fetched} fetches: one per interval expected"
    );
    let store = PgStore::connect(&db).await.expect("store");
    assert_eq!(
        store.max_seq().await.expect("max"),
        Seq::new(5),
        "stored once"
    );
}
