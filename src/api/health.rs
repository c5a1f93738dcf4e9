//! Liveness (`/health`), the build (`/version`), readiness (`/ready`: store readable and able to commit, bus reachable,
//! not shutting down) and
//! the Prometheus scrape endpoint (`/metrics`).

use std::future::Future;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::check_metrics_token;
use super::client_addr::ClientAddr;
use super::{ApiError, AppState};
use crate::store::{Store, StoreFault};

/// How long a dependency check may take before it counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(version))
        .routes(routes!(ready))
        .routes(routes!(metrics_text))
}

/// Body of `/health`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok` while the process serves requests.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Body of `/version`: which build runs.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Version {
    /// The release version.
    #[schema(example = "0.1.0")]
    pub version: &'static str,
    /// The short git commit it was built from, or `unknown`.
    #[schema(example = "62113ae")]
    pub commit: &'static str,
    /// The cargo features it was built with.
    pub features: Vec<&'static str>,
}

/// Body of `/ready`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// `ready`, `unavailable` or `shutting_down`.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// Each dependency.
    pub checks: Checks,
    /// Open streams and the limit.
    pub streams: StreamCounts,
}

/// Dependency checks of `/ready`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Checks {
    /// The store (SQLite or PostgreSQL).
    pub store: Check,
    /// The bus (in-process or Redis).
    pub bus: Check,
}

/// One dependency check.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Check {
    /// `up` or `down`.
    #[schema(example = "up")]
    pub status: &'static str,
    /// Why it is down, as a code. The store: `full`, `read_only`, `locked`, `unreachable`,
    /// `io`, `corrupt`, `timeout` or `other`; the bus: `unreachable` or `timeout`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "full")]
    pub error: Option<&'static str>,
}

/// Stream counts of `/ready`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct StreamCounts {
    /// Streams open now.
    pub open: usize,
    /// Most streams this server accepts.
    pub max: usize,
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    security((), ("metricsToken" = [])),
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, description = "`--metrics-allow` is set, no token is configured, and the client is not listed", body = super::ErrorBody),
    ))]
async fn metrics_text(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    // An allowed address needs no token; otherwise the token decides, and with no token
    // configured an allow-list alone closes `/metrics` to everyone else.
    let allowed = !state.metrics_allow.is_empty() && state.metrics_allow.contains(client.ip());
    if !allowed {
        if state.metrics_token.is_none() && !state.metrics_allow.is_empty() {
            return Err(ApiError::AddressNotAllowed(
                "/metrics is open only to the addresses of --metrics-allow".into(),
            ));
        }
        check_metrics_token(state.metrics_token.as_ref(), &headers)?;
    }
    metrics::gauge!("sse_connections_total").set(state.streams.open() as f64);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(),
    ))
}

/// Liveness: 200 while the process runs.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "The process is alive", body = Health)))]
async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The build: version, commit and features (the labels of `buoycast_build_info`).
#[utoipa::path(get, path = "/version", tag = "operations",
    responses((status = 200, description = "The running build", body = Version)))]
async fn version() -> Json<Version> {
    use crate::build_info::{COMMIT, FEATURES, VERSION};
    Json(Version {
        version: VERSION,
        commit: COMMIT,
        features: FEATURES.split(',').filter(|f| !f.is_empty()).collect(),
    })
}

/// Runs a check within [`CHECK_TIMEOUT`]; an error becomes its code.
async fn check(f: impl Future<Output = Result<(), &'static str>>) -> Check {
    match tokio::time::timeout(CHECK_TIMEOUT, f).await {
        Ok(Ok(())) => Check {
            status: "up",
            error: None,
        },
        Ok(Err(code)) => Check {
            status: "down",
            error: Some(code),
        },
        Err(_) => Check {
            status: "down",
            error: Some(StoreFault::Timeout.code()),
        },
    }
}

/// The store is up when it answers a read and can commit a write.
async fn store_check(store: &dyn Store) -> Result<(), &'static str> {
    store.ping().await.map_err(|e| StoreFault::of(&e).code())?;
    store.check_writable().await.map_err(StoreFault::code)
}

/// Readiness: 200 when the store answers a read and can commit a write (no write failed within
/// the last 30 s without one succeeding since, and a probe write commits), the bus answers, and
/// the server is not shutting down.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Ready),
        (status = 503, description = "A dependency is down, or the server is shutting down", body = Ready),
    ))]
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Ready>) {
    let bus = async { state.bus.ping().await.map_err(|_| "unreachable") };
    let (store, bus) = tokio::join!(check(store_check(state.store.as_ref())), check(bus));
    let shutting_down = state.shutdown.is_cancelled();
    let ready = store.status == "up" && bus.status == "up" && !shutting_down;
    let status = match (ready, shutting_down) {
        (true, _) => "ready",
        (false, true) => "shutting_down",
        (false, false) => "unavailable",
    };
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let streams = StreamCounts {
        open: state.streams.open(),
        max: state.streams.max(),
    };
    (
        code,
        Json(Ready {
            status,
            checks: Checks { store, bus },
            streams,
        }),
    )
}
