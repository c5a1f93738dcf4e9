//! `/metrics` values are right: streams opened and closed, events sent, latency and duration
//! histograms with the contract's buckets, HTTP request counts. Its own test binary, so that the
//! process-wide recorder sees only this test's server.

use std::time::Duration;

use buoycast_testkit::{eventually, obs, raw_request, spawn_app};

/// The value of one sample line (`name{labels} value`), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_streams_events_and_requests() {
    let app = spawn_app().await;
    let wait = Duration::from_secs(5);
    let mut streams = Vec::new();
    for _ in 0..3 {
        let mut s = app.stream("/v1/observations/stream", &[]).await;
        s.next_of("connection", wait).await.expect("connected");
        streams.push(s);
    }
    app.publish(&(0..5).map(|i| obs("44009", i)).collect::<Vec<_>>())
        .await;
    for s in &mut streams {
        s.observations(5, wait).await;
    }
    drop(streams.pop());
    eventually(wait, "a stream to close", || app.hub_streams() == 2).await;
    let _ = app
        .client
        .get(app.url("/no/such/thing"))
        .send()
        .await
        .expect("404 request");

    let response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.expect("text");

    assert_eq!(sample(&text, "sse_connections_total"), Some(2.0), "{text}");
    assert_eq!(
        sample(&text, "sse_events_sent_total{event_type=\"observation\"}"),
        Some(15.0)
    );
    assert_eq!(
        sample(&text, "sse_events_sent_total{event_type=\"connection\"}"),
        Some(3.0)
    );
    assert!(
        text.contains("# TYPE sse_connection_duration_seconds histogram"),
        "{text}"
    );
    assert_eq!(
        sample(&text, "sse_connection_duration_seconds_count"),
        Some(1.0)
    );
    for le in ["1", "10", "30", "60", "300", "600", "1800", "3600", "+Inf"] {
        assert!(
            sample(
                &text,
                &format!("sse_connection_duration_seconds_bucket{{le=\"{le}\"}}")
            )
            .is_some(),
            "bucket {le} of sse_connection_duration_seconds"
        );
    }
    assert!(text.contains("# TYPE sse_broadcast_latency_ms histogram"));
    assert_eq!(
        sample(&text, "sse_broadcast_latency_ms_count"),
        Some(5.0),
        "one sample per observation"
    );
    for le in ["1", "5", "10", "25", "50", "100", "250", "500", "+Inf"] {
        assert!(
            sample(
                &text,
                &format!("sse_broadcast_latency_ms_bucket{{le=\"{le}\"}}")
            )
            .is_some(),
            "bucket {le} of sse_broadcast_latency_ms"
        );
    }
    assert_eq!(
        sample(
            &text,
            "http_requests_total{method=\"GET\",route=\"/v1/observations/stream\",status=\"200\"}"
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"
        ),
        Some(1.0)
    );
    assert_eq!(sample(&text, "bus_messages_received_total"), Some(5.0));

    // The runtime's task gauge counts the streams' tasks: it falls when they end.
    let tasks_open = sample(&text, "tokio_alive_tasks").expect("tokio_alive_tasks");
    drop(streams);
    eventually(wait, "the streams to close", || app.hub_streams() == 0).await;
    let tasks =
        || async { sample(&scrape(&app).await, "tokio_alive_tasks").expect("tokio_alive_tasks") };
    let deadline = tokio::time::Instant::now() + wait;
    let mut tasks_closed = tasks().await;
    while tasks_closed > tasks_open - 2.0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        tasks_closed = tasks().await;
    }
    assert!(
        tasks_closed <= tasks_open - 2.0,
        "tasks with 2 streams open: {tasks_open}, after they closed: {tasks_closed}"
    );
}

/// The `/metrics` text.
async fn scrape(app: &buoycast_testkit::TestApp) -> String {
    app.client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text")
}

/// The values of one label in the series of the `http_*` metrics.
fn http_label_values(text: &str, label: &str) -> std::collections::BTreeSet<String> {
    let key = format!("{label}=\"");
    text.lines()
        .filter(|l| l.starts_with("http_"))
        .filter_map(|l| {
            let start = l.find(&key)? + key.len();
            let len = l[start..].find('"')?;
            Some(l[start..start + len].to_owned())
        })
        .collect()
}

/// Requests with made-up methods and paths, on the hyper path and the lean stream path, add no
/// series of their own: methods are the known ones or `other`, routes are templates or
/// `unmatched`.
#[tokio::test]
async fn client_chosen_methods_and_paths_are_not_metric_labels() {
    let app = spawn_app().await;
    let rounds = 100;
    for i in 0..rounds {
        for (method, path) in [
            (format!("FOO{i}"), "/".to_owned()),
            (format!("BAR{i}"), format!("/no/such/{i}")),
            (format!("BAZ{i}"), format!("/v1/stations/X{i}")),
            (format!("QUX{i}"), "/v1/observations/stream".to_owned()),
        ] {
            let request =
                format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let response = raw_request(app.addr, request.as_bytes()).await;
            assert!(
                [404, 405].contains(&response.status),
                "{method} {path}: {}",
                response.status
            );
        }
        // The lean stream path: an invalid resume point is refused there.
        let request =
            format!("GET /v1/observations/stream?lastEventId=nope{i} HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(raw_request(app.addr, request.as_bytes()).await.status, 400);
    }

    let text = scrape(&app).await;
    for made_up in ["FOO", "BAR", "BAZ", "QUX", "/no/such", "X1", "nope"] {
        assert!(!text.contains(made_up), "{made_up} in /metrics:\n{text}");
    }
    let known = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE", "other",
    ];
    let methods = http_label_values(&text, "method");
    assert!(
        methods.iter().all(|m| known.contains(&m.as_str())),
        "{methods:?}"
    );
    let routes = http_label_values(&text, "route");
    let templates = [
        "/",
        "/client/buoycast.js",
        "/client/buoycast.d.ts",
        "/dashboard.js",
        "/dashboard.css",
        "/health",
        "/ready",
        "/metrics",
        "/openapi.json",
        "/v1/observations",
        "/v1/observations/latest",
        "/v1/observations/by-station/{station_id}",
        "/v1/observations/stream",
        "/v1/stations",
        "/v1/stations/{station_id}",
        "unmatched",
    ];
    assert!(
        routes.iter().all(|r| templates.contains(&r.as_str())),
        "{routes:?}"
    );
    // Each kind of request was counted, under the bounded labels.
    for (series, count) in [
        (
            "http_requests_total{method=\"other\",route=\"/\",status=\"405\"}",
            rounds,
        ),
        (
            "http_requests_total{method=\"other\",route=\"unmatched\",status=\"404\"}",
            rounds,
        ),
        (
            "http_requests_total{method=\"other\",route=\"/v1/stations/{station_id}\",status=\"405\"}",
            rounds,
        ),
        (
            "http_requests_total{method=\"other\",route=\"/v1/observations/stream\",status=\"405\"}",
            rounds,
        ),
        (
            "http_requests_total{method=\"GET\",route=\"/v1/observations/stream\",status=\"400\"}",
            rounds,
        ),
    ] {
        assert_eq!(
            sample(&text, series),
            Some(count as f64),
            "{series}\n{text}"
        );
    }
    // 500 requests with 400 distinct methods: the whole page stays small.
    assert!(text.len() < 64 * 1024, "/metrics is {} bytes", text.len());
}
