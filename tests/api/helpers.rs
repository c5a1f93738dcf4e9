//! Test helpers: `spawn_app` on port 0 with a fresh SQLite file, observation builders, and a
//! small SSE client over a real HTTP connection.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use buoycast::app::{Application, IngestSource, ServerSettings, Settings};
use buoycast::bus::Bus;
use buoycast::domain::{Observation, StationId, StoredObservation, VALUE_COUNT};
use buoycast::ingest::store_and_publish;
use buoycast::store::Store;
use chrono::{DateTime, TimeZone, Utc};
use futures_util::StreamExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Logs go to the test output only when `TEST_LOG` is set.
fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            buoycast::telemetry::init(buoycast::config::LogFormat::Pretty);
        }
    });
}

/// A running server.
pub struct TestApp {
    pub addr: SocketAddr,
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub shutdown: CancellationToken,
    pub streams: Arc<buoycast::api::limits::StreamLimiter>,
    pub handle: JoinHandle<anyhow::Result<()>>,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// Starts a server with test-friendly settings (no ingest).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server after letting the test adjust the settings.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    init_logs();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings {
        database_url: format!("sqlite://{}", dir.path().join("test.db").display()),
        redis_url: None,
        server: Some(ServerSettings {
            shutdown_grace: Duration::from_secs(2),
            ..ServerSettings::default()
        }),
        ingest: None::<IngestSource>,
    };
    adjust(&mut settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let app = Application::build(settings, Some(listener))
        .await
        .expect("build app");
    let addr = app.local_addr().expect("address");
    let (store, bus, shutdown) = (app.store(), app.bus(), app.shutdown_token());
    let streams = app.streams();
    let handle = tokio::spawn(app.run_until_stopped());
    TestApp {
        addr,
        store,
        bus,
        shutdown,
        streams,
        handle,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        _dir: dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stores and publishes observations as ingest does.
    pub async fn publish(&self, observations: &[Observation]) -> usize {
        store_and_publish(self.store.as_ref(), self.bus.as_ref(), observations)
            .await
            .expect("store and publish")
    }

    /// Streams the server counts as open (from `/ready`, synchronously via the state).
    pub fn hub_streams(&self) -> usize {
        self.streams.open()
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// Opens a stream with extra request headers.
    pub async fn stream(&self, path: &str, headers: &[(&str, &str)]) -> SseClient {
        SseClient::connect(&self.client, &self.url(path), headers).await
    }
}

/// A time `minutes` after 2025-11-15 12:00 UTC.
pub fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 11, 15, 12, 0, 0)
        .single()
        .expect("valid time")
        + chrono::Duration::minutes(minutes)
}

/// An observation whose wave height encodes `n`, so tests can tell observations apart.
pub fn obs(station: &str, minutes: i64) -> Observation {
    let mut values = [None; VALUE_COUNT];
    values[0] = Some((minutes % 300) as f64 / 10.0);
    values[4] = Some(1013.2);
    Observation::from_values(
        StationId::parse(station).expect("station"),
        at(minutes),
        values,
    )
}

/// One SSE event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub id: Option<i64>,
    pub event: String,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).expect("event data is JSON")
    }
}

/// A minimal SSE client (text/event-stream framing per the HTML spec) over reqwest.
pub struct SseClient {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub retry: Option<u64>,
    body: Option<futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>>,
    buf: String,
    pub body_text: String,
}

impl SseClient {
    pub async fn connect(client: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> Self {
        let mut request = client.get(url).timeout(Duration::from_secs(3600));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.expect("stream request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        if status != 200 {
            let body_text = response.text().await.unwrap_or_default();
            return Self {
                status,
                headers,
                retry: None,
                body: None,
                buf: String::new(),
                body_text,
            };
        }
        Self {
            status,
            headers,
            retry: None,
            body: Some(response.bytes_stream().boxed()),
            buf: String::new(),
            body_text: String::new(),
        }
    }

    /// The next complete event, or `None` on end of stream or after `wait`.
    pub async fn next_event(&mut self, wait: Duration) -> Option<SseEvent> {
        tokio::time::timeout(wait, self.read_event())
            .await
            .ok()
            .flatten()
    }

    /// The next event of the given type, skipping others (heartbeats, ...).
    pub async fn next_of(&mut self, kind: &str, wait: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self.next_event(left).await?;
            if event.event == kind {
                return Some(event);
            }
        }
    }

    /// Reads `n` observation events (ignoring others); panics if they do not come in time.
    pub async fn observations(&mut self, n: usize, wait: Duration) -> Vec<SseEvent> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            match self.next_of("observation", wait).await {
                Some(e) => out.push(e),
                None => panic!(
                    "expected {n} observations, got {} before timeout or end",
                    out.len()
                ),
            }
        }
        out
    }

    async fn read_event(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(event) = self.parse_one() {
                return Some(event);
            }
            let chunk = self.body.as_mut()?.next().await?.ok()?;
            self.buf
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8 stream"));
        }
    }

    /// Takes one dispatched event off the buffer (a block ending in a blank line).
    fn parse_one(&mut self) -> Option<SseEvent> {
        loop {
            let end = self.buf.find("\n\n")?;
            let block: String = self.buf.drain(..end + 2).collect();
            let (mut id, mut event, mut data) = (None, String::from("message"), Vec::new());
            for line in block.lines() {
                let (field, value) = line
                    .split_once(':')
                    .map_or((line, ""), |(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)));
                match field {
                    "id" => id = Some(value.parse().expect("numeric id")),
                    "event" => event = value.to_owned(),
                    "data" => data.push(value.to_owned()),
                    "retry" => self.retry = value.parse().ok(),
                    _ => {}
                }
            }
            if !data.is_empty() {
                return Some(SseEvent {
                    id,
                    event,
                    data: data.join("\n"),
                });
            }
        }
    }
}

/// Waits until `check` holds (polling), or panics after `wait`.
pub async fn eventually<F: FnMut() -> bool>(wait: Duration, what: &str, mut check: F) {
    let deadline = tokio::time::Instant::now() + wait;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Stored observations as (seq, station, timestamp) for comparisons.
pub fn keys(stored: &[StoredObservation]) -> Vec<(i64, String)> {
    stored
        .iter()
        .map(|s| (s.seq.get(), s.observation.station_id.to_string()))
        .collect()
}
