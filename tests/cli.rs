//! The `buoycast` binary as a user runs it: `parse` on real files, and `run` with a replay
//! directory serving the stream, then stopping cleanly on SIGTERM.

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
