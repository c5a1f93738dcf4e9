//! The publish API: auth, validation, storage and broadcast, idempotence, limits.

use std::time::Duration;

use serde_json::json;

use buoycast_testkit::{spawn_app, spawn_app_with};

const TOKEN: &str = "s3cret-token";

async fn app_with_token() -> buoycast_testkit::TestApp {
    spawn_app_with(|s| s.server.as_mut().expect("server").publish_token = Some(TOKEN.into())).await
}

fn observation(minute: u32) -> serde_json::Value {
    json!({
        "stationId": "44009",
        "timestamp": format!("2025-11-15T12:{minute:02}:00Z"),
        "waveHeightM": 1.2,
        "windSpeedMps": null,
        "pressureHpa": 1013.5
    })
}

#[tokio::test]
async fn published_observations_are_stored_and_streamed() {
    let app = app_with_token().await;
    let mut stream = app.stream("/v1/observations/stream", &[]).await;
    stream
        .next_of("connection", Duration::from_secs(5))
        .await
        .expect("connected");
    let response = app
        .client
        .post(app.url("/v1/observations"))
        .bearer_auth(TOKEN)
        .json(&json!([observation(0), observation(10)]))
        .send()
        .await
        .expect("publish");
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(
        (body["stored"].as_u64(), body["unchanged"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(body["observations"][0]["seq"], 1);
    assert_eq!(
        body["observations"][1]["timestamp"],
        "2025-11-15T12:10:00.000Z"
    );
    let events = stream.observations(2, Duration::from_secs(5)).await;
    assert_eq!(events[0].id, Some(1));
    assert_eq!(events[0].json()["waveHeightM"], 1.2);
    assert!(events[0].json()["windSpeedMps"].is_null());

    // The same again is idempotent: 200, nothing stored, nothing streamed.
    let again = app
        .client
        .post(app.url("/v1/observations"))
        .bearer_auth(TOKEN)
        .json(&observation(0))
        .send()
        .await
        .expect("publish");
    assert_eq!(again.status(), 200);
    let body: serde_json::Value = again.json().await.expect("JSON");
    assert_eq!(
        (body["stored"].as_u64(), body["unchanged"].as_u64()),
        (Some(0), Some(1))
    );
    // A corrected value is stored again with a new seq.
    let mut corrected = observation(0);
    corrected["waveHeightM"] = json!(1.4);
    let fixed: serde_json::Value = app
        .client
        .post(app.url("/v1/observations"))
        .bearer_auth(TOKEN)
        .json(&corrected)
        .send()
        .await
        .expect("publish")
        .json()
        .await
        .expect("JSON");
    assert_eq!(fixed["observations"][0]["seq"], 3);
    let event = stream
        .next_of("observation", Duration::from_secs(5))
        .await
        .expect("event");
    assert_eq!(
        (event.id, event.json()["waveHeightM"].as_f64()),
        (Some(3), Some(1.4))
    );
}

#[tokio::test]
async fn publishing_needs_the_token() {
    let disabled = spawn_app().await;
    let response = disabled
        .client
        .post(disabled.url("/v1/observations"))
        .json(&observation(0))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 403);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "publish_disabled");

    let app = app_with_token().await;
    for auth in [
        None,
        Some("wrong"),
        Some("s3cret-toke"),
        Some("s3cret-token-and-more"),
    ] {
        let mut request = app
            .client
            .post(app.url("/v1/observations"))
            .json(&observation(0));
        if let Some(token) = auth {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("post");
        assert_eq!(response.status(), 401, "{auth:?}");
        let challenge = if auth.is_some() {
            r#"Bearer realm="buoycast", error="invalid_token""#
        } else {
            r#"Bearer realm="buoycast""#
        };
        assert_eq!(response.headers()["www-authenticate"], challenge);
    }
    assert_eq!(
        app.store.max_seq().await.expect("seq").get(),
        0,
        "nothing was stored"
    );
}

#[tokio::test]
async fn invalid_bodies_get_field_level_errors() {
    let app = app_with_token().await;
    let post = |body: String, content_type: &'static str| {
        app.client
            .post(app.url("/v1/observations"))
            .bearer_auth(TOKEN)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let bad = json!([observation(0), {"stationId": "44009", "timestamp": "2025-11-15T12:00:00Z", "windDirDeg": 720}, {"timestamp": "2025-11-15T12:00:00Z"}]);
    let response = post(bad.to_string(), "application/json")
        .await
        .expect("post");
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "invalid_observation");
    let details = body["error"]["details"].as_array().expect("details");
    assert_eq!(details.len(), 2);
    assert_eq!(
        (details[0]["index"].as_u64(), details[0]["field"].as_str()),
        (Some(1), Some("windDirDeg"))
    );
    assert_eq!(
        (details[1]["index"].as_u64(), details[1]["field"].as_str()),
        (Some(2), Some("stationId"))
    );
    assert_eq!(
        app.store.max_seq().await.expect("seq").get(),
        0,
        "an invalid batch stores nothing"
    );

    let response = post("{not json".into(), "application/json")
        .await
        .expect("post");
    assert_eq!(response.status(), 400);
    let response = post(observation(0).to_string(), "text/plain")
        .await
        .expect("post");
    assert_eq!(response.status(), 415);
    let huge = format!("[{}]", vec![observation(0).to_string(); 20_000].join(","));
    let response = post(huge, "application/json").await.expect("post");
    assert_eq!(response.status(), 413);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn only_application_json_is_taken() {
    let app = app_with_token().await;
    let post = |content_types: &[&str], minute: u32| {
        let mut request = app
            .client
            .post(app.url("/v1/observations"))
            .bearer_auth(TOKEN)
            .body(observation(minute).to_string());
        for content_type in content_types {
            request = request.header("content-type", *content_type);
        }
        request.send()
    };
    for refused in [
        &["application/jsonx"][..],
        &["application/jsonp"],
        &["application/json-patch+json"],
        &["application/json, text/plain"],
        &["application/json", "text/plain"],
        &["text/json"],
        &[""],
        &[],
    ] {
        let response = post(refused, 1).await.expect("post");
        assert_eq!(response.status(), 415, "{refused:?}");
    }
    assert_eq!(app.store.max_seq().await.expect("seq").get(), 0);
    for (minute, taken) in [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        " application/json ;charset=UTF-8",
    ]
    .into_iter()
    .enumerate()
    {
        let response = post(&[taken], minute as u32).await.expect("post");
        assert_eq!(response.status(), 201, "{taken:?}");
    }
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_gets_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = app_with_token().await;
    let mut conn = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    conn.write_all(
        format!(
            "POST /v1/observations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n["
        )
        .as_bytes(),
    )
    .await
    .expect("send");
    // One byte a second: the body would take a day.
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while started.elapsed() < Duration::from_secs(45) {
        let _ = conn.write_all(b" ").await;
        match tokio::time::timeout(Duration::from_secs(1), conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(_) => {}
        }
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 408"),
        "after {:?}: {text}",
        started.elapsed()
    );
    assert!(
        started.elapsed() >= Duration::from_secs(29),
        "answered after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn times_more_than_an_hour_ahead_are_refused() {
    let app = app_with_token().await;
    let post = |minutes_ahead: i64| {
        let timestamp = chrono::Utc::now() + chrono::Duration::minutes(minutes_ahead);
        let body = json!({
            "stationId": "44009",
            "timestamp": timestamp.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "windSpeedMps": 3.5
        });
        app.client
            .post(app.url("/v1/observations"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };

    let response = post(120).await.expect("post");
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.expect("JSON");
    let details = &body["error"]["details"];
    assert_eq!(details[0]["field"], "timestamp", "{body}");
    assert!(
        details[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("ahead")),
        "{body}"
    );
    assert_eq!(app.store.max_seq().await.expect("seq").get(), 0);

    // Within the bound (clocks may disagree a little): stored.
    let response = post(30).await.expect("post");
    assert_eq!(response.status(), 201);
    assert_eq!(app.store.max_seq().await.expect("seq").get(), 1);
}

/// A tmpfs of `size` on a temporary directory (needs root, as here and in CI); unmounted on drop.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("running mount");
        assert!(mounted.success(), "mounting a tmpfs (needs root) failed");
        Self(dir)
    }

    fn resize(&self, size: &str) {
        let resized = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.0.path())
            .status()
            .expect("running mount");
        assert!(resized.success(), "resizing the tmpfs failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

/// The disk fills up under 1000-row publishes, then space comes back: every 201 is readable at
/// once, `/ready` is 503 (with the reason as a code) while writes fail, and no seq repeats.
#[tokio::test]
async fn a_full_disk_is_never_acknowledged_and_publishing_recovers_without_a_restart() {
    let fs = Tmpfs::mount("2m");
    let db = fs.0.path().join("full.db");
    let app = spawn_app_with(|s| {
        s.database_url = format!("sqlite://{}", db.display()).into();
        s.server.as_mut().expect("server").publish_token = Some(TOKEN.into());
    })
    .await;
    let post = |body: serde_json::Value| {
        app.client
            .post(app.url("/v1/observations"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    let epoch = chrono::DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z")
        .expect("epoch")
        .to_utc();
    let (mut hour, mut failures_in_a_row, mut last_seq) = (0u32, 0, 0);
    while failures_in_a_row < 2 {
        let rows: Vec<_> = (0..1000u32)
            .map(|i| {
                let minute = hour * 1000 + i;
                json!({
                    "stationId": "FILL1",
                    "timestamp": (epoch + chrono::Duration::minutes(i64::from(minute)))
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    "waveHeightM": 1.0 + f64::from(i % 10) / 10.0,
                })
            })
            .collect();
        let response = post(json!(rows)).await.expect("publish");
        match response.status().as_u16() {
            201 => {
                failures_in_a_row = 0;
                let body: serde_json::Value = response.json().await.expect("JSON");
                last_seq = body["observations"][999]["seq"].as_i64().expect("seq");
            }
            503 => failures_in_a_row += 1,
            other => panic!("unexpected status {other}"),
        }
        hour += 1;
        assert!(hour < 400, "the disk never filled up");
    }
    let (status, ready) = app.get_json("/ready").await;
    assert_eq!(status, 503, "ready while writes fail: {ready}");
    assert_eq!(ready["checks"]["store"]["status"], "down", "{ready}");
    assert_eq!(ready["checks"]["store"]["error"], "full", "{ready}");

    fs.resize("64m");
    let mut seqs = Vec::new();
    for minute in 0..3 {
        let one = json!({"stationId": "LOST1", "timestamp": format!("2025-11-15T12:{minute:02}:00Z"), "waveHeightM": 1.5});
        let response = post(one).await.expect("publish");
        assert_eq!(response.status(), 201, "a publish once space is back");
        let body: serde_json::Value = response.json().await.expect("JSON");
        let seq = body["observations"][0]["seq"].as_i64().expect("seq");
        assert!(
            seq > last_seq,
            "seq {seq} reused (last acknowledged {last_seq})"
        );
        last_seq = seq;
        seqs.push(seq);
        let (status, history) = app.get_json("/v1/observations/by-station/LOST1").await;
        assert_eq!(status, 200);
        let stored: Vec<i64> = history["observations"]
            .as_array()
            .expect("observations")
            .iter()
            .map(|o| o["seq"].as_i64().expect("seq"))
            .collect();
        assert!(
            stored.contains(&seq),
            "acknowledged seq {seq} is not readable: {history}"
        );
    }
    let (status, ready) = app.get_json("/ready").await;
    assert_eq!(status, 200, "{ready}");
}
