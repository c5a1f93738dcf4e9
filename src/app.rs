//! Startup: builds the store, bus, hub, API and ingest from settings, and runs them as sibling
//! tasks under one cancellation token.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::auth::{JwtConfig, JwtVerifier};
use crate::api::{self, AppState, CorsOrigins, limits::StreamLimiter};
use crate::bus::{Bus, BusError, MemoryBus, RedisBus};
use crate::config::Secret;
use crate::domain::{AddressRanges, TrustedProxies};
use crate::hub::{self, Hub, HubConfig};
use crate::ingest::ndbc::{NdbcConfig, NdbcSource};
use crate::ingest::replay::{self, ReplayConfig};
use crate::server::tls::{Tls, TlsFiles};
use crate::server::{self, FrontDoor};
use crate::store::{PgStore, SqliteStore, Store, StoreKind};

/// Open files kept free for the store, logs and outgoing requests when sizing the stream limit.
const RESERVED_FILES: u64 = 100;

/// Where observations come from in this process.
#[derive(Debug, Clone)]
pub enum IngestSource {
    /// Poll NDBC.
    Ndbc(NdbcConfig),
    /// Play a directory of files.
    Replay(ReplayConfig),
}

/// Everything [`Application::build`] needs (the command line maps onto it). Its `Debug` shows
/// no secret: URLs and tokens stay [`Secret`]s until the store, the bus or the API uses them.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `sqlite://FILE` (or a path with a `/` or a `.db` ending), or `postgres://…`; may hold a
    /// password.
    pub database_url: Secret,
    /// Redis URL for the distributed bus; may hold a password.
    pub redis_url: Option<Secret>,
    /// How long PostgreSQL and Redis get to answer at start-up before the build fails.
    pub connect_timeout: Duration,
    /// HTTP server, if this process serves.
    pub server: Option<ServerSettings>,
    /// Ingest, if this process ingests.
    pub ingest: Option<IngestSource>,
}

/// The HTTP side.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Address to bind (ignored when a listener is passed in).
    pub listen: SocketAddr,
    /// TLS certificate and key files: connections are then TLS, with HTTP/2 or HTTP/1.1 by ALPN.
    pub tls: Option<TlsFiles>,
    /// Most streams open at once on one HTTP/2 connection.
    pub h2_max_streams: u32,
    /// Bind with `SO_REUSEPORT`, so that several processes serve one address.
    pub reuse_port: bool,
    /// Serve stream requests through the lean path (`api::stream_wire`) instead of hyper.
    pub lean_streams: bool,
    /// Interval of heartbeat events.
    pub heartbeat: Duration,
    /// Stream limit; 0 = derived from the open-file limit.
    pub max_streams: usize,
    /// Most events replayed to one stream.
    pub max_replay: u32,
    /// Hub tuning.
    pub hub: HubConfig,
    /// Time streams and requests get to finish on shutdown.
    pub shutdown_grace: Duration,
    /// A connection whose peer accepts no data for this long is closed.
    pub write_timeout: Duration,
    /// Time a connection gets to send a request head (also hyper's keep-alive idle timeout).
    pub head_timeout: Duration,
    /// Most connections open at once; 0 = derived from the open-file limit (always kept below
    /// it, with descriptors reserved for the store, the bus and new requests).
    pub max_connections: usize,
    /// Most connections from one client address (0: no limit).
    pub max_connections_per_address: usize,
    /// Bearer token of the publish API; `None` disables it.
    pub publish_token: Option<Secret>,
    /// Subscriber auth (SPEC §5): reads need a JWT checked against this; `None`: open reads.
    pub subscriber_auth: Option<JwtConfig>,
    /// Bearer token `/metrics` requires; `None`: `/metrics` is open.
    pub metrics_token: Option<Secret>,
    /// Clients that may read `/metrics` without the token (empty: only the token decides).
    pub metrics_allow: AddressRanges,
    /// Longest long poll granted, seconds.
    pub max_wait_secs: u32,
    /// Most streams per client address (0: no limit).
    pub max_streams_per_client: usize,
    /// Proxies whose `X-Forwarded-For` is believed (empty: the client is the TCP peer).
    pub trusted_proxies: TrustedProxies,
    /// Cross-origin policy; `None` picks the mode's default.
    pub cors: Option<CorsOrigins>,
    /// Fixed `SO_SNDBUF` for client sockets (`None`: kernel autotuning). Smaller buffers find
    /// slow clients sooner and cost less memory per stream.
    pub send_buffer: Option<usize>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls: None,
            h2_max_streams: 256,
            reuse_port: false,
            lean_streams: true,
            heartbeat: Duration::from_secs(15),
            max_streams: 0,
            max_replay: 50_000,
            hub: HubConfig::default(),
            shutdown_grace: Duration::from_secs(5),
            write_timeout: Duration::from_secs(30),
            head_timeout: Duration::from_secs(10),
            max_connections: 0,
            max_connections_per_address: 2_000,
            send_buffer: None,
            publish_token: None,
            subscriber_auth: None,
            metrics_token: None,
            metrics_allow: AddressRanges::default(),
            max_streams_per_client: 500,
            max_wait_secs: 60,
            trusted_proxies: TrustedProxies::default(),
            cors: None,
        }
    }
}

/// Opens the store named by a URL (`postgres://…`, or SQLite: `sqlite:…` or a path, see
/// [`StoreKind`]) and applies its migrations. PostgreSQL gets `timeout` to answer. Errors are
/// one line naming the database (password redacted) and the cause.
pub async fn connect_store(url: &Secret, timeout: Duration) -> anyhow::Result<Arc<dyn Store>> {
    let kind = StoreKind::of(url.expose()).map_err(anyhow::Error::msg)?;
    let store: Arc<dyn Store> = match kind {
        StoreKind::Postgres => {
            let store = PgStore::connect_within(url.expose(), timeout)
                .await
                .map_err(anyhow::Error::msg)?;
            store.migrate().await.map_err(|e| {
                anyhow::anyhow!("migrating the PostgreSQL store {}: {e}", url.redacted())
            })?;
            Arc::new(store)
        }
        StoreKind::Sqlite => {
            let store = SqliteStore::connect(url.expose())
                .await
                .map_err(anyhow::Error::msg)?;
            store.migrate().await.map_err(|e| {
                anyhow::anyhow!("migrating the SQLite store {}: {e}", url.redacted())
            })?;
            Arc::new(store)
        }
    };
    Ok(store)
}

/// Opens the bus: Redis when a URL is given, else the in-process bus. Redis must answer within
/// `timeout` at start-up (an outage later is waited out).
pub async fn connect_bus(
    redis_url: Option<&Secret>,
    timeout: Duration,
) -> anyhow::Result<Arc<dyn Bus>> {
    match redis_url {
        Some(url) => {
            let message = |BusError::Unavailable(m)| anyhow::Error::msg(m);
            let bus = RedisBus::connect(url.expose()).map_err(message)?;
            bus.wait_until_reachable(timeout).await.map_err(message)?;
            Ok(Arc::new(bus))
        }
        None => Ok(Arc::new(MemoryBus::new())),
    }
}

/// Why the listen address could not be bound, in one line with the usual fix.
fn bind_error(addr: SocketAddr, error: &std::io::Error) -> String {
    let hint = match error.kind() {
        std::io::ErrorKind::AddrInUse => {
            "; another process listens there: stop it, or choose another port with --listen \
             (or --reuse-port for several buoycast processes)"
        }
        std::io::ErrorKind::PermissionDenied => {
            "; ports below 1024 need privileges: use a higher port (e.g. --listen 8080)"
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "; no interface of this host has that address: use 0.0.0.0 (all) or 127.0.0.1"
        }
        _ => "",
    };
    format!("cannot listen on {addr}: {error}{hint}")
}

/// A configured cap (0: as many as fit), lowered with a warning to what the open-file limit
/// allows.
fn capped(requested: usize, fit: usize, event: &'static str) -> usize {
    match requested {
        0 => fit,
        n if n > fit => {
            tracing::warn!(
                event,
                requested = n,
                allowed = fit,
                "the open-file limit allows fewer"
            );
            fit
        }
        n => n,
    }
}

/// Raises the open-file soft limit to the hard limit; returns the limit in force.
fn raise_open_files() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(event = "nofile_limit_unchanged", error = %e, "could not raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .map(|(soft, _)| soft)
                .unwrap_or(1024)
        }
    }
}

/// A built, not yet running, process.
#[derive(Debug)]
pub struct Application {
    listener: Option<TcpListener>,
    state: AppState,
    settings: Settings,
    cancel: CancellationToken,
    /// The front door's connection cap (below the open-file limit).
    max_connections: usize,
    /// TLS, loaded and checked at build time.
    tls: Option<Tls>,
}

impl Application {
    /// Connects everything. Pass a bound listener to serve on it (tests bind port 0); without
    /// one, the server binds `settings.server.listen`.
    pub async fn build(settings: Settings, listener: Option<TcpListener>) -> anyhow::Result<Self> {
        let server = settings.server.clone().unwrap_or_default();
        // Configuration errors first, before anything is connected.
        let subscriber_auth = server
            .subscriber_auth
            .as_ref()
            .map(JwtVerifier::new)
            .transpose()
            .context("subscriber auth")?;
        let tls = server.tls.as_ref().map(Tls::load).transpose()?;
        let store = connect_store(&settings.database_url, settings.connect_timeout).await?;
        let bus = connect_bus(settings.redis_url.as_ref(), settings.connect_timeout).await?;
        let listener = match (&settings.server, listener) {
            (None, _) => None,
            (Some(_), Some(l)) => Some(l),
            (Some(s), None) => Some(
                crate::server::bind(s.listen, s.reuse_port)
                    .map_err(|e| anyhow::Error::msg(bind_error(s.listen, &e)))?,
            ),
        };
        let files = raise_open_files();
        let fit = files.saturating_sub(RESERVED_FILES) as usize;
        let max_connections = capped(server.max_connections, fit, "max_connections_lowered");
        // The descriptor table grows now, once, instead of stalling accepts as it doubles.
        let wanted = max_connections as u64 + RESERVED_FILES;
        match crate::server::fdtable::presize(wanted, files) {
            Ok(slots) => tracing::debug!(event = "descriptor_table_presized", slots),
            Err(e) => tracing::warn!(
                event = "descriptor_table_not_presized",
                error = %e,
                "the descriptor table will grow as connections come"
            ),
        }
        let max_streams = capped(server.max_streams, max_connections, "max_streams_lowered");
        let hub = Arc::new(Hub::new(server.hub, store.max_seq().await?));
        let state = AppState::new(api::Shared {
            store,
            bus,
            hub,
            streams: Arc::new(StreamLimiter::new(
                max_streams,
                server.max_streams_per_client,
            )),
            trusted_proxies: Arc::new(server.trusted_proxies.clone()),
            max_wait_secs: server.max_wait_secs,
            max_replay: server.max_replay,
            publish_token: server.publish_token.clone(),
            subscriber_auth,
            metrics_token: server.metrics_token.clone(),
            metrics_allow: Arc::new(server.metrics_allow.clone()),
            shutdown: CancellationToken::new(),
        });
        let cancel = state.shutdown.clone();
        Ok(Self {
            listener,
            state,
            settings,
            cancel,
            max_connections,
            tls,
        })
    }

    /// The address the server listens on, if it serves.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The store (for tests and tools that publish beside the server).
    pub fn store(&self) -> Arc<dyn Store> {
        self.state.store.clone()
    }

    /// The bus.
    pub fn bus(&self) -> Arc<dyn Bus> {
        self.state.bus.clone()
    }

    /// The open-stream counter.
    pub fn streams(&self) -> Arc<StreamLimiter> {
        self.state.streams.clone()
    }

    /// Cancelling this token shuts the process down gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Runs the server, relay, heartbeats and ingest until the shutdown token is cancelled (or
    /// the ingest of a replay ends when there is no server), then drains.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            listener,
            state,
            settings,
            cancel,
            max_connections,
            tls,
        } = self;
        let server_settings = settings.server.clone().unwrap_or_default();
        let tasks = TaskTracker::new();

        crate::metrics::install();
        tasks.spawn(crate::metrics::run_upkeep(cancel.clone()));
        if listener.is_some() {
            let subscription = state.bus.subscribe().await?;
            tasks.spawn(hub::run_relay(
                state.hub.clone(),
                state.store.clone(),
                subscription,
                cancel.clone(),
            ));
            tasks.spawn(hub::run_heartbeats(
                state.hub.clone(),
                server_settings.heartbeat,
                cancel.clone(),
            ));
        }
        match settings.ingest.clone() {
            Some(IngestSource::Ndbc(config)) => {
                let source = Arc::new(NdbcSource::new(config)?);
                tasks.spawn(source.run(state.store.clone(), state.bus.clone(), cancel.clone()));
            }
            Some(IngestSource::Replay(config)) => {
                let (store, bus, cancel) = (state.store.clone(), state.bus.clone(), cancel.clone());
                tasks.spawn(async move {
                    if let Err(e) = replay::run(config, store.as_ref(), bus.as_ref(), cancel).await
                    {
                        tracing::error!(
                            event = "replay_source_failed",
                            error = format!("{e:#}"),
                            "replay stopped"
                        );
                    }
                });
            }
            None => {}
        }
        tasks.close();

        match listener {
            Some(listener) => {
                let addr = listener.local_addr()?;
                tracing::info!(event = "server_started", address = %addr, tls = tls.is_some(), maxStreams = state.streams.max(), "listening");
                let cors = server_settings.cors.clone().unwrap_or_else(|| {
                    if settings.redis_url.is_some() {
                        CorsOrigins::SameOrigin
                    } else {
                        CorsOrigins::AnyRead
                    }
                });
                let router = api::router(state.clone(), &cors);
                let door = FrontDoor {
                    head_timeout: server_settings.head_timeout,
                    write_timeout: server_settings.write_timeout,
                    send_buffer: server_settings.send_buffer,
                    max_connections,
                    max_connections_per_address: server_settings.max_connections_per_address,
                    trusted_proxies: Arc::new(server_settings.trusted_proxies.clone()),
                    lean_streams: server_settings.lean_streams,
                    shutdown_grace: server_settings.shutdown_grace,
                    tls,
                    h2_max_streams: server_settings.h2_max_streams,
                };
                // Connections run as tasks of `tasks`: the drain below waits for them. The accept
                // loop runs on a worker thread, not on this one (the runtime's `block_on`): a
                // connection task it spawns then starts on the same worker, with no cross-thread
                // wake-up per connection.
                let accept = tokio::spawn(server::serve(
                    listener,
                    router,
                    state.hub.clone(),
                    door,
                    tasks.clone(),
                    cancel.clone(),
                ));
                if let Err(e) = accept.await {
                    tracing::error!(event = "accept_loop_failed", error = %e, "the accept loop ended abnormally");
                }
            }
            None => cancel.cancelled().await,
        }
        cancel.cancel();
        if tokio::time::timeout(server_settings.shutdown_grace, tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                event = "shutdown_tasks_timeout",
                "background tasks still running after the grace period"
            );
        }
        tracing::info!(event = "server_stopped", "stopped");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_never_print_their_secrets() {
        let settings = Settings {
            database_url: "postgres://app:db-s3cret@db/buoy".into(),
            redis_url: Some("redis://:redis-s3cret@cache:6379".into()),
            connect_timeout: Duration::from_secs(1),
            server: Some(ServerSettings {
                publish_token: Some("publish-s3cret".into()),
                metrics_token: Some("metrics-s3cret".into()),
                ..ServerSettings::default()
            }),
            ingest: None,
        };
        let printed = format!("{settings:?} {settings:#?}");
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(printed.contains("[redacted]"), "{printed}");
    }
}
