//! Prometheus metrics: the recorder, bucket layout, names, and the HTTP middleware.
//!
//! The recorder is process-wide (the `metrics` facade has one global recorder); `/metrics`
//! renders it. Hot paths use counter handles resolved once ([`Hot`]), not name lookups.

use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::Response;
use futures_util::future::BoxFuture;
use metrics::{
    Counter, Histogram, counter, describe_counter, describe_gauge, describe_histogram, histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;

use crate::build_info;

/// Buckets of `sse_connection_duration_seconds` (SPEC §9).
pub const CONNECTION_DURATION_BUCKETS: [f64; 8] =
    [1.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0];
/// Buckets of `sse_broadcast_latency_ms` (SPEC §9).
pub const BROADCAST_LATENCY_BUCKETS: [f64; 8] = [1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0];
/// Buckets of `http_request_duration_seconds`.
pub const HTTP_DURATION_BUCKETS: [f64; 10] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the global recorder once (later calls return the same handle); `None` if another
/// recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("sse_connection_duration_seconds".into()),
                    &CONNECTION_DURATION_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("sse_broadcast_latency_ms".into()),
                        &BROADCAST_LATENCY_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("http_request_duration_seconds".into()),
                        &HTTP_DURATION_BUCKETS,
                    )
                })
                .ok()?;
            let handle = builder.install_recorder().ok()?;
            describe();
            process_collector().describe();
            metrics::gauge!(
                "buoycast_build_info",
                "version" => build_info::VERSION,
                "commit" => build_info::COMMIT,
                "features" => build_info::FEATURES,
            )
            .set(1.0);
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    describe_gauge!(
        "buoycast_build_info",
        "Always 1; the labels say which build runs (version, commit, features)."
    );
    describe_gauge!("sse_connections_total", "Open SSE streams.");
    describe_counter!(
        "sse_events_sent_total",
        "SSE events written to clients, by event type."
    );
    describe_histogram!(
        "sse_connection_duration_seconds",
        "How long SSE streams stay open."
    );
    describe_histogram!(
        "sse_broadcast_latency_ms",
        "Bus receipt to the last client's write, per observation."
    );
    describe_counter!("ingest_fetches_total", "NDBC station polls, by result.");
    describe_counter!(
        "ingest_observations_stored_total",
        "Observations newly stored by ingest."
    );
    describe_counter!(
        "ingest_rows_skipped_total",
        "Unreadable rows skipped by ingest."
    );
    describe_counter!(
        "ingest_rows_rejected_total",
        "Ingested rows refused by validation, by reason."
    );
    describe_counter!(
        "ingest_store_failures_total",
        "Failed store writes of ingest, by source (nothing of the batch was stored)."
    );
    describe_counter!("bus_publish_failures_total", "Failed publish attempts.");
    describe_counter!(
        "bus_messages_unpublished_total",
        "Stored observations not published (bus down or batch time out); servers repair them from the store."
    );
    describe_counter!(
        "bus_messages_received_total",
        "Valid bus messages received."
    );
    describe_counter!(
        "bus_invalid_messages_total",
        "Bus messages that failed validation."
    );
    describe_counter!(
        "bus_gaps_total",
        "Times the bus may have lost messages (reconnect, lag, seq gap)."
    );
    describe_counter!(
        "bus_gap_events_repaired_total",
        "Observations broadcast from the store to fill bus gaps."
    );
    describe_counter!("bus_reconnects_total", "Bus subscriber reconnects.");
    describe_counter!(
        "publish_observations_total",
        "Observations received by the publish API, by result."
    );
    describe_gauge!(
        "tokio_alive_tasks",
        "Tasks alive in the server's runtime (about one per open stream), read at scrape time."
    );
    describe_gauge!(
        "tokio_worker_threads",
        "Worker threads of the server's runtime (--worker-threads)."
    );
    describe_counter!(
        "http_requests_total",
        "HTTP requests, by method, route and status."
    );
    describe_histogram!(
        "http_request_duration_seconds",
        "Time to the response head, by method and route."
    );
}

/// The process metrics (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
/// `process_open_fds`, `process_max_fds`, ...), read from `/proc` at each scrape.
fn process_collector() -> &'static metrics_process::Collector {
    static COLLECTOR: LazyLock<metrics_process::Collector> =
        LazyLock::new(metrics_process::Collector::default);
    &COLLECTOR
}

/// Renders the current values (the `/metrics` body), process metrics read just before.
pub fn render() -> String {
    let Some(handle) = install() else {
        return String::new();
    };
    process_collector().collect();
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let runtime = runtime.metrics();
        metrics::gauge!("tokio_alive_tasks").set(runtime.num_alive_tasks() as f64);
        metrics::gauge!("tokio_worker_threads").set(runtime.num_workers() as f64);
    }
    handle.render()
}

/// Runs the recorder's periodic upkeep (histogram maintenance) until cancelled.
pub async fn run_upkeep(cancel: CancellationToken) {
    let Some(handle) = install() else { return };
    let mut ticker = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticker.tick() => handle.run_upkeep(),
        }
    }
}

/// Handles of the metrics touched per event or per connection, resolved once.
#[derive(Debug)]
pub struct Hot {
    /// `sse_events_sent_total{event_type="observation"}`.
    pub sent_observation: Counter,
    /// `sse_events_sent_total{event_type=<kind>}`, by [`crate::domain::Kind`] (observation first).
    pub sent_kind: [Counter; 12],
    /// `sse_events_sent_total{event_type="heartbeat"}`.
    pub sent_heartbeat: Counter,
    /// `sse_events_sent_total{event_type="connection"}`.
    pub sent_connection: Counter,
    /// `sse_events_sent_total{event_type="reset"}`.
    pub sent_reset: Counter,
    /// `sse_events_sent_total{event_type="shutdown"}`.
    pub sent_shutdown: Counter,
    /// `sse_connection_duration_seconds`.
    pub connection_duration: Histogram,
    /// `sse_broadcast_latency_ms`.
    pub broadcast_latency: Histogram,
}

/// The hot handles (resolved against the recorder installed at first use).
pub fn hot() -> &'static Hot {
    static HOT: LazyLock<Hot> = LazyLock::new(|| {
        install();
        let sent = |t: &'static str| counter!("sse_events_sent_total", "event_type" => t);
        Hot {
            sent_observation: sent("observation"),
            sent_kind: crate::domain::Kind::ALL.map(|kind| sent(kind.name())),
            sent_heartbeat: sent("heartbeat"),
            sent_connection: sent("connection"),
            sent_reset: sent("reset"),
            sent_shutdown: sent("shutdown"),
            connection_duration: histogram!("sse_connection_duration_seconds"),
            broadcast_latency: histogram!("sse_broadcast_latency_ms"),
        }
    });
    &HOT
}

/// The `method` label of a request: one of the methods of RFC 9110 (and `PATCH`), or `other`.
/// A method is any token a client cares to send; as a label it would be a new series each time.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// The layer counting requests and timing them to the response head ([`TrackHttp`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct TrackHttpLayer;

impl<S> tower::Layer<S> for TrackHttpLayer {
    type Service = TrackHttp<S>;

    fn layer(&self, inner: S) -> TrackHttp<S> {
        TrackHttp { inner }
    }
}

/// Counts requests and times them to the response head. Every label comes from a bounded set:
/// the method from [`method_label`], the route is the matched route template (`unmatched` when
/// none matched), the status a code this server chose. A service of its own rather than
/// `axum::middleware::from_fn`, which clones the inner service and boxes it again for every
/// request.
#[derive(Debug, Clone)]
pub struct TrackHttp<S> {
    inner: S,
}

impl<S> tower::Service<Request> for TrackHttp<S>
where
    S: tower::Service<Request, Response = Response>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let method = method_label(request.method());
        let matched = request.extensions().get::<MatchedPath>().cloned();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
            HttpSeries::record(
                method,
                route,
                response.status().as_u16(),
                started.elapsed().as_secs_f64(),
            );
            Ok(response)
        })
    }
}

/// The handles of `http_requests_total` and `http_request_duration_seconds`, by route, resolved
/// once per label set: a request then costs a map lookup by its route, not the recorder's
/// key building (labels allocated, hashed and looked up) twice. Every label set is bounded
/// (see [`TrackHttp`]), so the map is too.
#[derive(Debug, Default)]
struct HttpSeries {
    /// `http_request_duration_seconds{method}` of the route.
    durations: Vec<(&'static str, Histogram)>,
    /// `http_requests_total{method,status}` of the route.
    requests: Vec<(&'static str, u16, Counter)>,
}

impl HttpSeries {
    fn record(method: &'static str, route: &str, status: u16, seconds: f64) {
        static BY_ROUTE: LazyLock<RwLock<HashMap<Box<str>, HttpSeries>>> = LazyLock::new(|| {
            // Handles resolved before the recorder is installed would count nowhere.
            install();
            RwLock::default()
        });
        {
            let routes = BY_ROUTE.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(series) = routes.get(route)
                && series.record_known(method, status, seconds)
            {
                return;
            }
        }
        let mut routes = BY_ROUTE.write().unwrap_or_else(PoisonError::into_inner);
        let series = routes.entry(route.into()).or_default();
        if !series.durations.iter().any(|(m, _)| *m == method) {
            let owned = route.to_owned();
            let duration =
                histogram!("http_request_duration_seconds", "method" => method, "route" => owned);
            series.durations.push((method, duration));
        }
        if !series
            .requests
            .iter()
            .any(|(m, s, _)| *m == method && *s == status)
        {
            let (owned, code) = (route.to_owned(), status.to_string());
            let requests = counter!("http_requests_total", "method" => method, "route" => owned, "status" => code);
            series.requests.push((method, status, requests));
        }
        series.record_known(method, status, seconds);
    }

    /// Records with handles already resolved; `false` if one is missing.
    fn record_known(&self, method: &'static str, status: u16, seconds: f64) -> bool {
        let duration = self.durations.iter().find(|(m, _)| *m == method);
        let requests = self
            .requests
            .iter()
            .find(|(m, s, _)| *m == method && *s == status);
        let (Some((_, duration)), Some((_, _, requests))) = (duration, requests) else {
            return false;
        };
        requests.increment(1);
        duration.record(seconds);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_labels_are_the_known_methods_or_other() {
        for known in [
            "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
        ] {
            let method = Method::from_bytes(known.as_bytes()).unwrap();
            assert_eq!(method_label(&method), known);
        }
        for made_up in ["FOO123", "get", "PROPFIND", "X"] {
            let method = Method::from_bytes(made_up.as_bytes()).unwrap();
            assert_eq!(method_label(&method), "other", "{made_up}");
        }
    }
}
