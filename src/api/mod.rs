//! The HTTP API: one router built from each feature module's routes.

mod assets;
pub mod auth;
mod client_addr;
mod cors;
mod error;
mod health;
pub mod limits;
mod observations;
mod openapi;
pub use client_addr::PeerAddr;
mod publish;
mod query;
pub mod raw_chunks;
pub mod request_id;
mod stations;
pub mod stream;

use std::sync::Arc;

use axum::Router;
use tokio_util::sync::CancellationToken;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use cors::CorsOrigins;
pub use error::{ApiError, ErrorBody, ErrorDetail, FieldError};

use crate::bus::Bus;
use crate::config::Secret;
use crate::domain::TrustedProxies;
use crate::hub::Hub;
use crate::store::Store;
use limits::StreamLimiter;

/// Largest page a list endpoint returns.
pub const MAX_LIMIT: u32 = 1000;
/// Page size when a request names none.
pub const DEFAULT_LIMIT: u32 = 100;

/// What every handler can reach. Extractors and handlers clone it for every request: it is one
/// reference count (a clone of every field was a dozen, and an allocation per secret).
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// The state every handler of this server shares.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The contents of [`AppState`].
#[derive(Debug)]
pub struct Shared {
    /// The ordered log.
    pub store: Arc<dyn Store>,
    /// The notification path (for publishing and readiness).
    pub bus: Arc<dyn Bus>,
    /// This server's fan-out point.
    pub hub: Arc<Hub>,
    /// Counts open streams against the limit.
    pub streams: Arc<StreamLimiter>,
    /// Most events replayed to one resuming stream.
    pub max_replay: u32,
    /// Bearer token of the publish API; `None` disables it.
    pub publish_token: Option<Secret>,
    /// Verifies subscriber tokens; `None`: reads need no token.
    pub subscriber_auth: Option<auth::JwtVerifier>,
    /// Bearer token `/metrics` requires; `None`: `/metrics` is open.
    pub metrics_token: Option<Secret>,
    /// Clients that may read `/metrics` without the token.
    pub metrics_allow: Arc<crate::domain::AddressRanges>,
    /// Longest long poll this server grants (requests may ask for up to 60 s).
    pub max_wait_secs: u32,
    /// Proxies whose `X-Forwarded-For` is believed (empty: the client is the TCP peer).
    pub trusted_proxies: Arc<TrustedProxies>,
    /// Cancelled when the server shuts down: streams end, new ones are refused.
    pub shutdown: CancellationToken,
}

/// Every described route: each is registered together with its OpenAPI entry (`routes!`), so
/// the description lists exactly what is served.
fn described_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(stream::router())
        .merge(observations::router())
        .merge(publish::router())
        .merge(stations::router())
        .merge(health::router())
}

/// The whole API: the described routes, their description at `/openapi.json`, and the
/// dashboard's static files (which are not part of the API).
///
/// The layers every request passes (CORS, the request id, the request span) wrap the routes
/// once, from outside: added with `Router::layer`, each wrapped every route on its own, and a
/// request then cloned a boxed service (recursively) and boxed a future at every layer on its
/// way in (10 clones and 5 futures per stream request; 4 and 4 now). Only the HTTP metrics stay
/// on the routes, as they need the matched route's template.
pub fn router(state: AppState, cors: &CorsOrigins) -> Router {
    let (api, description) = described_routes().split_for_parts();
    let routes = api
        .merge(openapi::router(description))
        .merge(assets::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(crate::metrics::TrackHttpLayer)
        .with_state(state);
    let layered = tower::ServiceBuilder::new()
        .option_layer(cors.layer())
        // The trace layer's body wrapper as a plain body (the CORS layer answers preflights
        // with empty bodies of the type it is given).
        .map_response(axum::response::IntoResponse::into_response)
        // A missing, overlong or non-ASCII id is replaced by a generated one. (A plain function
        // of the request: no future boxed, no service cloned per request.)
        .layer(tower::util::MapRequestLayer::new(
            request_id::drop_unacceptable,
        ))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                // Refusals (503 at the stream limit, ...) are logged by the handlers with their
                // reason; the generic failure line stays at debug.
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .service(routes);
    Router::new().fallback_service(layered)
}

/// The span every request-scoped log line is emitted in: it carries the request id. It records
/// the path only, never the query: a subscriber token may be in it (`access_token`).
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = request
        .headers()
        .get(request_id::X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let method = crate::metrics::method_label(request.method());
    // Plain `&str` fields: recorded as they are, not formatted through `Display`.
    tracing::info_span!(
        "request",
        requestId = id,
        method = method,
        path = request.uri().path()
    )
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
