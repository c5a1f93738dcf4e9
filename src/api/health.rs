//! Liveness (`/health`), readiness (`/ready`: store and bus reachable, not shutting down) and
//! the Prometheus scrape endpoint (`/metrics`).

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;

/// How long a dependency check may take before it counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics_text))
}

async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    metrics::gauge!("sse_connections_total").set(state.streams.open() as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        crate::metrics::render(),
    )
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let store = tokio::time::timeout(CHECK_TIMEOUT, state.store.ping()).await;
    let bus = tokio::time::timeout(CHECK_TIMEOUT, state.bus.ping()).await;
    let describe = |ok: bool, err: Option<String>| match err {
        None if ok => json!({ "status": "up" }),
        None => json!({ "status": "down", "error": "timed out" }),
        Some(e) => json!({ "status": "down", "error": e }),
    };
    let store_ok = matches!(store, Ok(Ok(())));
    let bus_ok = matches!(bus, Ok(Ok(())));
    let store_err = match store {
        Ok(Err(e)) => Some(e.to_string()),
        _ => None,
    };
    let bus_err = match bus {
        Ok(Err(e)) => Some(e.to_string()),
        _ => None,
    };
    let shutting_down = state.shutdown.is_cancelled();
    let ready = store_ok && bus_ok && !shutting_down;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else if shutting_down { "shutting_down" } else { "unavailable" },
            "checks": { "store": describe(store_ok, store_err), "bus": describe(bus_ok, bus_err) },
            "streams": { "open": state.streams.open(), "max": state.streams.max() },
        })),
    )
}
