//! Shared helpers of buoycast's integration tests (a dev-dependency only, never published):
//! the app in-process on port 0 (`spawn_app`), observations to publish, raw HTTP requests, an
//! SSE client (`sse`), and real Redis and PostgreSQL servers (`services`).
//!
//! Every test binary takes what it needs from here; none includes another's files.

mod app;
mod certs;
mod observations;
mod raw_http;
pub mod services;
pub mod sse;

use std::time::Duration;

pub use app::{TestApp, init_logs, spawn_app, spawn_app_with, spawn_tls_app_with};
pub use certs::TestCerts;
pub use observations::{at, keys, obs};
pub use raw_http::{RawResponse, raw_request};
pub use sse::{SseClient, SseEvent};

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
