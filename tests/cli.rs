//! The `buoycast` binary as a user runs it: `parse` on real files, and `run` with a replay
//! directory serving the stream, then stopping cleanly on SIGTERM; subscriber-auth flags checked
//! at start-up, and tokens kept out of the logs.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_buoycast");
const NDBC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/ndbc");

#[test]
fn parse_prints_one_json_line_per_row_oldest_first() {
    let file = format!("{NDBC}/realtime2/41002.txt");
    let output = Command::new(BIN)
        .args(["parse", &file])
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    let rows = std::fs::read_to_string(&file).expect("file");
    let data_lines = rows
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), data_lines);
    // The newest row of the file (its first data line) is printed last.
    let newest: serde_json::Value = serde_json::from_str(lines[lines.len() - 1]).expect("JSON");
    assert_eq!(newest["stationId"], "41002");
    assert_eq!(newest["timestamp"], "2018-08-01T15:10:00.000Z");
    assert_eq!(newest["windDirDeg"], 160.0);
    assert_eq!(newest["windSpeedMps"], 6.0);
    assert_eq!(newest["pressureHpa"], 1022.9);
    assert_eq!(newest["waterTempC"], 28.0);
    assert!(newest["waveHeightM"].is_null());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{data_lines} observations, 0 rows skipped")),
        "{stderr}"
    );
}

#[test]
fn parse_rejects_a_file_that_is_not_standard_meteorological_data() {
    let file = format!("{NDBC}/realtime2/41002.spec");
    let output = Command::new(BIN)
        .args(["parse", &file])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    assert!(!output.stderr.is_empty());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[tokio::test]
async fn run_with_a_replay_directory_streams_observations_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let replay = dir.path().join("replay");
    std::fs::create_dir(&replay).expect("mkdir");
    for station in ["44013", "TPLM2"] {
        std::fs::copy(
            format!("{NDBC}/realtime2/{station}.txt"),
            replay.join(format!("{station}.txt")),
        )
        .expect("copy");
    }
    let port = free_port();
    let mut child = Command::new(BIN)
        .args([
            "run",
            "--source",
            "replay",
            "--replay-speed",
            "6000",
            "--listen",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--replay-dir")
        .arg(&replay)
        .arg("--database-url")
        .arg(format!("sqlite://{}", dir.path().join("run.db").display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");

    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/v1/observations/stream");
    let deadline = Instant::now() + Duration::from_secs(20);
    let response = loop {
        match client
            .get(&url)
            .header("x-request-id", "tour-42")
            .send()
            .await
        {
            Ok(r) => break r,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("server did not come up: {e}"),
        }
    };
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-request-id"],
        "tour-42",
        "the request id is echoed"
    );
    let generated = client
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await
        .expect("health");
    let id = generated.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    assert_eq!(
        id.len(),
        36,
        "a UUID is generated when the client sends none: {id}"
    );
    let mut body = response;
    let mut text = String::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        while text.matches("event: observation").count() < 3 {
            match body.chunk().await {
                Ok(Some(chunk)) => text.push_str(&String::from_utf8_lossy(&chunk)),
                _ => break,
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no observations within 20 s: {text}");
    assert!(
        text.starts_with("retry: 2000\n\nid: ") && text.contains("\nevent: connection\n"),
        "{text}"
    );
    assert!(text.contains("\"stationId\":\"44013\"") || text.contains("\"stationId\":\"TPLM2\""));

    // SIGTERM: the stream gets its shutdown event and the process exits 0.
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let rest = tokio::time::timeout(Duration::from_secs(10), async {
        let mut rest = String::new();
        while let Ok(Some(chunk)) = body.chunk().await {
            rest.push_str(&String::from_utf8_lossy(&chunk));
        }
        rest
    })
    .await
    .expect("stream ended after SIGTERM");
    assert!(rest.contains("event: shutdown"), "{rest}");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "process did not exit"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
    // Logs are JSON lines with the contract's field names and the request id.
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(&l.expect("read")).expect("every log line is JSON"))
        .collect();
    for line in &lines {
        for field in ["time", "level", "event", "msg"] {
            assert!(line.get(field).is_some(), "log line lacks {field}: {line}");
        }
    }
    let find = |event: &str| {
        lines
            .iter()
            .find(|l| l["event"] == event && l["requestId"] == "tour-42")
            .unwrap_or_else(|| panic!("no {event} line with the request id in {lines:?}"))
    };
    assert_eq!(find("sse_client_connected")["connectionCount"], 1);
    let closed = find("sse_client_disconnected");
    assert_eq!(closed["connectionCount"], 0);
    assert!(closed["connectionDurationMs"].as_u64().is_some());
}

/// Runs `buoycast serve` with extra flags and returns its exit status and stderr (for flags
/// that must stop it at start-up).
fn serve_fails(extra: &[&str]) -> (std::process::ExitStatus, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url"])
        .arg(format!(
            "sqlite://{}",
            dir.path().join("db.sqlite").display()
        ))
        .args(extra)
        .env_remove("BUOYCAST_JWT_SECRET")
        .output()
        .expect("runs");
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn unusable_subscriber_auth_settings_stop_the_server_at_start_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a key").expect("write");
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, r#"{"keys":[]}"#).expect("write");
    let (garbage, jwks) = (
        garbage.to_str().expect("path"),
        jwks.to_str().expect("path"),
    );
    for (flags, message) in [
        (vec!["--jwt-secret", "short"], "at least 32 bytes"),
        (
            vec!["--jwt-public-key", "/nonexistent/key.pem"],
            "--jwt-public-key: reading",
        ),
        (vec!["--jwt-public-key", garbage], "not a PEM public key"),
        (vec!["--jwt-jwks", jwks], "no signing key"),
        (vec!["--jwt-audience", "readers"], "need a key"),
        (
            vec![
                "--jwt-secret",
                "0123456789abcdef0123456789abcdef",
                "--jwt-jwks",
                jwks,
            ],
            "cannot be used with",
        ),
    ] {
        let (status, stderr) = serve_fails(&flags);
        assert!(!status.success(), "{flags:?} must fail");
        assert!(stderr.contains(message), "{flags:?}: {stderr}");
        assert!(
            !stderr.contains("0123456789abcdef"),
            "the secret is never printed"
        );
    }
}

#[tokio::test]
async fn subscriber_tokens_never_reach_the_logs() {
    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
        ])
        .arg(format!(
            "sqlite://{}",
            dir.path().join("db.sqlite").display()
        ))
        .args(["--jwt-secret", SECRET])
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({ "exp": chrono::Utc::now().timestamp() + 600 }),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()).expect("key"),
    )
    .expect("token");
    let bad = format!("{token}x");
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(format!("{base}/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (path, want) in [
        (format!("/v1/observations?access_token={token}"), 200),
        (format!("/v1/observations?access_token={bad}"), 401),
        (format!("/v1/observations/stream?access_token={bad}"), 401),
    ] {
        let response = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), want, "{path}");
    }
    let mut stream = client
        .get(format!(
            "{base}/v1/observations/stream?access_token={token}"
        ))
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), 200);
    let first = stream.chunk().await.expect("read").expect("a frame");
    assert!(String::from_utf8_lossy(&first).contains("event: connection"));
    drop(stream);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let output = child.wait_with_output().expect("exits");
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        logs.contains("/v1/observations"),
        "requests are logged: {logs}"
    );
    let signature = token.rsplit('.').next().expect("signature");
    assert!(
        !logs.contains(signature),
        "a token reached the logs:\n{logs}"
    );
    assert!(!logs.contains(SECRET), "the secret reached the logs");
}
