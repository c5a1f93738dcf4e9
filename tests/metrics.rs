//! `/metrics` values are right: streams opened and closed, events sent, latency and duration
//! histograms with the contract's buckets, HTTP request counts. Its own test binary, so that the
//! process-wide recorder sees only this test's server.

#[path = "api/helpers.rs"]
mod helpers;

use std::time::Duration;

use helpers::{obs, spawn_app};

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
    helpers::eventually(wait, "a stream to close", || app.hub_streams() == 2).await;
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
}
