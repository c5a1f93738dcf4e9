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
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[path = "../support/sse.rs"]
mod sse;
#[allow(unused_imports)] // not every test binary that includes this file uses both
pub use sse::{SseClient, SseEvent};

/// Logs go to the test output only when `TEST_LOG` is set.
fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            buoycast::telemetry::install(buoycast::telemetry::Output {
                format: buoycast::config::LogFormat::Pretty,
                colour: false,
            });
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
    /// The test CA and server certificate when the server speaks TLS.
    pub tls: Option<TestCerts>,
    _dir: tempfile::TempDir,
}

/// A test CA and a server certificate it signed (for `127.0.0.1` and `localhost`), as PEM files
/// in a directory of their own.
pub struct TestCerts {
    pub ca_pem: String,
    /// The CA's certificate.
    pub ca: std::path::PathBuf,
    /// The server's certificate.
    pub cert: std::path::PathBuf,
    /// The server's private key.
    pub key: std::path::PathBuf,
    pub dir: tempfile::TempDir,
}

impl TestCerts {
    pub fn generate() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "buoycast test CA");
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().expect("server key");
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("server params");
        params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        let cert = params.signed_by(&key, &issuer).expect("server certificate");
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write PEM");
            path
        };
        Self {
            ca_pem: ca_cert.pem(),
            ca: write("ca.pem", &ca_cert.pem()),
            cert: write("cert.pem", &cert.pem()),
            key: write("key.pem", &key.serialize_pem()),
            dir,
        }
    }

    pub fn files(&self) -> buoycast::server::tls::TlsFiles {
        buoycast::server::tls::TlsFiles {
            cert: self.cert.clone(),
            key: self.key.clone(),
        }
    }

    /// A reqwest client that trusts only the test CA (HTTP/2 when ALPN chooses it).
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).expect("CA")])
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client")
    }
}

/// Starts a server with test-friendly settings (no ingest).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server after letting the test adjust the settings.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn(adjust, None).await
}

/// Starts a server that speaks TLS (ALPN `h2` and `http/1.1`) with a fresh test CA, after
/// letting the test adjust the settings; its `client` trusts that CA.
pub async fn spawn_tls_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn(adjust, Some(TestCerts::generate())).await
}

async fn spawn(adjust: impl FnOnce(&mut Settings), tls: Option<TestCerts>) -> TestApp {
    init_logs();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings {
        database_url: format!("sqlite://{}", dir.path().join("test.db").display()).into(),
        redis_url: None,
        connect_timeout: Duration::from_secs(10),
        server: Some(ServerSettings {
            shutdown_grace: Duration::from_secs(2),
            ..ServerSettings::default()
        }),
        ingest: None::<IngestSource>,
    };
    adjust(&mut settings);
    if let (Some(certs), Some(server)) = (&tls, settings.server.as_mut()) {
        server.tls = Some(certs.files());
    }
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
        client: match &tls {
            Some(certs) => certs.client(),
            None => reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        },
        tls,
        _dir: dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
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

/// A response read off a raw connection: the status, the header lines as (lower-case name,
/// raw value bytes), and whatever body arrived.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The values of a header.
    pub fn header(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
            .collect()
    }
}

/// Sends `request` as written (any method, any header bytes) on a new connection and reads the
/// response head; the body is read to the end unless the response is an event stream, whose
/// connection stays open (then only what came with the head).
pub async fn raw_request(addr: SocketAddr, request: &[u8]) -> RawResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    conn.write_all(request).await.expect("send request");
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout_at(deadline, conn.read(&mut chunk))
            .await
            .expect("response head in time")
            .expect("read");
        assert!(
            n > 0,
            "connection closed before a response head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = &buf[..head_end - 4];
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = String::from_utf8_lossy(lines.next().expect("status line")).into_owned();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line {status_line:?}"));
    let headers: Vec<(String, Vec<u8>)> = lines
        .filter_map(|l| {
            let colon = l.iter().position(|&b| b == b':')?;
            let name = String::from_utf8_lossy(&l[..colon]).to_ascii_lowercase();
            let value = l[colon + 1..].trim_ascii().to_vec();
            Some((name, value))
        })
        .collect();
    let mut body = buf[head_end..].to_vec();
    let streaming = headers
        .iter()
        .any(|(n, v)| n == "content-type" && v.starts_with(b"text/event-stream"));
    if !streaming {
        let _ = tokio::time::timeout_at(deadline, conn.read_to_end(&mut body)).await;
    }
    RawResponse {
        status,
        headers,
        body,
    }
}
