//! The app in-process for a test: `spawn_app` on port 0 with a fresh SQLite file, optionally
//! over TLS, and `TestApp` to drive it (its URLs, a client, publishing as ingest does, streams).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use buoycast::app::{Application, IngestSource, ServerSettings, Settings};
use buoycast::bus::Bus;
use buoycast::domain::{Entry, Observation, StoredEntry};
use buoycast::ingest::{store_and_publish, store_and_publish_entries};
use buoycast::store::Store;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::certs::TestCerts;
use crate::sse::SseClient;

/// Logs go to the test output only when `TEST_LOG` is set.
pub fn init_logs() {
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
#[derive(Debug)]
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
    /// Stores and publishes `total` observations of station 44009 (minutes 0, 1, …) in batches
    /// of `batch`, from a task of their own, letting other tasks run between batches.
    pub fn publish_in_background(&self, total: i64, batch: usize) -> JoinHandle<()> {
        let (store, bus) = (self.store.clone(), self.bus.clone());
        tokio::spawn(async move {
            for chunk in (0..total).collect::<Vec<_>>().chunks(batch) {
                let batch: Vec<_> = chunk.iter().map(|i| crate::obs("44009", *i)).collect();
                store_and_publish(store.as_ref(), bus.as_ref(), &batch)
                    .await
                    .expect("publish");
                tokio::task::yield_now().await;
            }
        })
    }

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

    /// Stores and publishes entries of any kinds as ingest does; returns what was stored.
    pub async fn publish_entries(&self, entries: &[Entry]) -> Vec<StoredEntry> {
        store_and_publish_entries(self.store.as_ref(), self.bus.as_ref(), entries)
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
