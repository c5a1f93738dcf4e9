//! The `buoycast` binary as a user runs it: `parse` on real files, and `run` with a replay
//! directory serving the stream, then stopping cleanly on SIGTERM; subscriber-auth flags checked
//! at start-up, and tokens kept out of the logs. Configuration: `PORT`, the `--listen` forms,
//! the config file and `config print`, secrets in `--help`, log formats on a terminal and in a
//! pipe, and every common start-up mistake's one-line message and exit code.

use buoycast_testkit::services;

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
fn parse_refuses_a_file_named_as_no_product_and_a_file_not_of_its_product() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Real stdmet data under a name that is no NDBC product.
    let unnamed = dir.path().join("41002.csv");
    std::fs::copy(format!("{NDBC}/realtime2/41002.txt"), &unnamed).expect("copy");
    // A wave summary under the stdmet name.
    let misnamed = dir.path().join("41002.txt");
    std::fs::copy(format!("{NDBC}/realtime2/41002.spec"), &misnamed).expect("copy");
    for file in [&unnamed, &misnamed] {
        let output = Command::new(BIN)
            .arg("parse")
            .arg(file)
            .output()
            .expect("runs");
        assert!(!output.status.success(), "{}", file.display());
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&file.display().to_string()),
            "the error names the file: {stderr}"
        );
    }
}

/// Data lines of a realtime2 sample file (not headers, not blank).
fn data_lines(file: &str) -> Vec<String> {
    std::fs::read_to_string(format!("{NDBC}/realtime2/{file}"))
        .expect("file")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// The time of a data line as the stream writes it (`2018-08-01T15:10:00.000Z`), from its
/// first five columns (and the seconds column of `.dart`).
fn line_timestamp(line: &str, seconds: bool) -> String {
    let c: Vec<&str> = line.split_whitespace().collect();
    let ss = if seconds { c[5] } else { "00" };
    format!("{}-{}-{}T{}:{}:{ss}.000Z", c[0], c[1], c[2], c[3], c[4])
}

#[test]
fn parse_reads_every_kind_by_file_name_and_joins_spectral_files() {
    const SPECTRAL: [&str; 5] = [
        "44013.data_spec",
        "44013.swdir",
        "44013.swdir2",
        "44013.swr1",
        "44013.swr2",
    ];
    let singles = [
        ("44013.txt", "observation"),
        ("41002.spec", "waveSummary"),
        ("41421.dart", "tsunami"),
        ("44029.ocean", "ocean"),
    ];
    let files: Vec<String> = singles
        .iter()
        .map(|(f, _)| *f)
        .chain(SPECTRAL)
        .map(|f| format!("{NDBC}/realtime2/{f}"))
        .collect();
    let output = Command::new(BIN)
        .arg("parse")
        .args(&files)
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    let entries: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();

    // Each kind: one entry per data line, of the file's station; spectra: one per time of
    // any of the five files.
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for e in &entries {
        *counts
            .entry(e["kind"].as_str().expect("kind").to_owned())
            .or_default() += 1;
        assert!(
            e["stationId"].is_string() && e["timestamp"].is_string(),
            "{e}"
        );
        assert!(e.get("seq").is_none(), "no seq outside the log: {e}");
    }
    let spectrum_times: std::collections::BTreeSet<String> = SPECTRAL
        .iter()
        .flat_map(|f| data_lines(f))
        .map(|l| line_timestamp(&l, false))
        .collect();
    let mut expected: std::collections::BTreeMap<String, usize> = singles
        .iter()
        .map(|(f, kind)| ((*kind).to_owned(), data_lines(f).len()))
        .collect();
    expected.insert("spectrum".to_owned(), spectrum_times.len());
    assert_eq!(counts, expected);

    // Oldest first, across all files.
    assert!(
        entries
            .windows(2)
            .all(|w| w[0]["timestamp"].as_str() <= w[1]["timestamp"].as_str()),
        "entries are printed oldest first"
    );
    // The newest tsunami entry is the first data line of the .dart file, seconds and all.
    let newest_dart = line_timestamp(&data_lines("41421.dart")[0], true);
    let tsunami = entries
        .iter()
        .rfind(|e| e["kind"] == "tsunami")
        .expect("a tsunami entry");
    assert_eq!(tsunami["stationId"], "41421");
    assert_eq!(tsunami["timestamp"], newest_dart.as_str());

    // A time in all five spectral files: one spectrum with every array, aligned on the bins.
    let row = &data_lines("44013.swdir")[0];
    let time = line_timestamp(row, false);
    let bins = row.matches('(').count();
    let spectrum = entries
        .iter()
        .find(|e| e["kind"] == "spectrum" && e["timestamp"] == time.as_str())
        .expect("a spectrum at the newest .swdir time");
    assert_eq!(spectrum["stationId"], "44013");
    for array in [
        "frequenciesHz",
        "energyDensityM2PerHz",
        "meanDirDeg",
        "principalDirDeg",
        "r1",
        "r2",
    ] {
        assert_eq!(
            spectrum[array].as_array().map(Vec::len),
            Some(bins),
            "{array}: {spectrum}"
        );
    }
}

#[test]
fn parse_takes_the_station_from_the_flag() {
    let file = format!("{NDBC}/realtime2/41421.dart");
    let output = Command::new(BIN)
        .args(["parse", "--station", "dart1", &file])
        .output()
        .expect("runs");
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    assert_eq!(text.lines().count(), data_lines("41421.dart").len());
    for line in text.lines() {
        let e: serde_json::Value = serde_json::from_str(line).expect("JSON");
        assert_eq!(e["stationId"], "DART1");
        assert_eq!(e["kind"], "tsunami");
    }
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

// ---- Configuration and start-up errors -------------------------------------------------------

/// The binary with a clean slate: no configuration from the environment of the test run, the
/// working directory a fresh temporary one (so that no stray file can be created in the
/// repository).
fn buoycast(dir: &std::path::Path) -> Command {
    let mut command = Command::new(BIN);
    command.current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("BUOYCAST_")
            || ["DATABASE_URL", "REDIS_URL", "PORT", "NO_COLOR", "RUST_LOG"]
                .contains(&name.as_str())
        {
            command.env_remove(name);
        }
    }
    command
}

/// Runs to completion; returns the exit code, stdout and stderr.
fn outcome(command: &mut Command) -> (Option<i32>, String, String) {
    let output = command.output().expect("runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `buoycast config print` with these arguments and variables: its TOML.
fn effective(args: &[&str], env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, stdout, stderr) = outcome(
        buoycast(dir.path())
            .args(["config", "print"])
            .args(args)
            .envs(env.iter().copied()),
    );
    assert_eq!(code, Some(0), "{stderr}");
    stdout
}

/// The line of one key in `config print`'s output.
fn setting<'a>(printed: &'a str, key: &str) -> &'a str {
    printed
        .lines()
        .find(|l| l.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no {key} in {printed}"))
}

/// A port free on every interface, below the kernel's range of ephemeral ports (which other
/// processes' outgoing connections take at any moment: a port from there may be taken between
/// this check and the server's bind).
fn listen_port() -> u16 {
    use rand::Rng;
    loop {
        let port = rand::rng().random_range(20_000..32_000);
        if std::net::TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
}

/// Starts `buoycast run` without ingest on a fresh SQLite file in `dir`, configured for a free
/// port of 127.0.0.1, and waits until `/health` answers there; the child is killed when
/// dropped. A port taken meanwhile by a parallel test is replaced by another.
struct Running(std::process::Child);

impl Running {
    fn start(dir: &std::path::Path, configure: impl Fn(&mut Command, u16)) -> Self {
        let mut refused = Vec::new();
        for _ in 0..10 {
            let port = listen_port();
            let mut command = buoycast(dir);
            command
                .args([
                    "run",
                    "--source",
                    "none",
                    "--database-url",
                    "sqlite://run.db",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            configure(&mut command, port);
            let mut child = command.spawn().expect("starts");
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                    use std::io::{Read, Write};
                    stream
                        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        .expect("write");
                    let mut answer = String::new();
                    let _ = stream.read_to_string(&mut answer);
                    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
                    return Self(child);
                }
                if let Some(status) = child.try_wait().expect("wait") {
                    let mut stderr = String::new();
                    let _ = std::io::Read::read_to_string(
                        child.stderr.as_mut().expect("stderr"),
                        &mut stderr,
                    );
                    if stderr.contains("Address already in use") {
                        refused.push(stderr);
                        break; // taken by a parallel test: try another port
                    }
                    panic!("exited with {status} before listening on {port}: {stderr}");
                }
                assert!(Instant::now() < deadline, "not listening on {port}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!("no free port in 10 attempts: {refused:?}");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path` on 127.0.0.1:`port`: the response body.
fn get_body(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

#[test]
fn the_runtime_has_the_worker_threads_asked_for_or_one_per_process_under_reuse_port() {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    for (args, expected) in [
        (&["--worker-threads", "3"][..], 3),
        (&["--reuse-port"][..], 1),
        (&["--reuse-port", "--worker-threads", "2"][..], 2),
        (&[][..], cpus),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::sync::Mutex::new(0);
        let _server = Running::start(dir.path(), |c, p| {
            *port.lock().unwrap() = p;
            c.args(["--listen", &p.to_string()]).args(args);
        });
        let port = *port.lock().unwrap();
        let metrics = get_body(port, "/metrics");
        let line = metrics
            .lines()
            .find(|l| l.starts_with("tokio_worker_threads "))
            .unwrap_or_else(|| panic!("no tokio_worker_threads in {metrics}"));
        assert_eq!(line, format!("tokio_worker_threads {expected}"), "{args:?}");
    }
    let (code, _, stderr) =
        outcome(buoycast(std::path::Path::new(".")).args(["run", "--worker-threads", "0"]));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--worker-threads"), "{stderr}");
}

#[test]
fn a_broadcast_is_logged_at_debug_even_when_no_stream_is_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::cell::Cell::new(0);
    let mut server = Running::start(dir.path(), |c, p| {
        port.set(p);
        c.args(["--listen", &p.to_string(), "--publish-token", "t0ken"])
            .env("RUST_LOG", "info,buoycast=debug")
            .stdout(Stdio::piped());
    });
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<serde_json::Value>();
    let stdout = server.0.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(value) = serde_json::from_str(&line)
                && lines_tx.send(value).is_err()
            {
                break;
            }
        }
    });
    let body = r#"{"stationId":"LOGS1","timestamp":"2026-11-30T00:00:00Z","waveHeightM":1.5}"#;
    let request = format!(
        "POST /v1/observations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0ken\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port.get())).expect("connect");
    std::io::Write::write_all(&mut stream, request.as_bytes()).expect("write");
    let mut answer = String::new();
    let _ = std::io::Read::read_to_string(&mut stream, &mut answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    let deadline = Instant::now() + Duration::from_secs(20);
    let line = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines_rx.recv_timeout(left) {
            Ok(l) if l["event"] == "observation_broadcasted" => break l,
            Ok(_) => {}
            Err(e) => panic!("no observation_broadcasted line with no stream open: {e}"),
        }
    };
    assert_eq!(line["level"], "debug", "{line}");
    assert_eq!(line["stationId"], "LOGS1", "{line}");
    assert_eq!(line["clientCount"], 0, "{line}");
    assert!(line["latencyMs"].as_f64().is_some(), "{line}");
}

#[test]
fn port_is_honoured_when_no_listen_address_is_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _server = Running::start(dir.path(), |c, port| {
        c.env("PORT", port.to_string());
    });
    // PORT listens on all interfaces; BUOYCAST_LISTEN and --listen beat it.
    let all = effective(&[], &[("PORT", "18415")]);
    assert_eq!(
        setting(&all, "listen"),
        "listen = \"0.0.0.0:18415\"  # env PORT"
    );
    let env = effective(
        &[],
        &[("PORT", "18415"), ("BUOYCAST_LISTEN", "127.0.0.1:9001")],
    );
    assert_eq!(
        setting(&env, "listen"),
        "listen = \"127.0.0.1:9001\"  # env BUOYCAST_LISTEN"
    );
    let flag = effective(&["--listen", "9002"], &[("PORT", "18415")]);
    assert_eq!(
        setting(&flag, "listen"),
        "listen = \"127.0.0.1:9002\"  # flag"
    );
    let none = effective(&[], &[]);
    assert_eq!(
        setting(&none, "listen"),
        "listen = \"127.0.0.1:8080\"  # default"
    );
}

#[test]
fn listen_takes_a_bare_port_a_host_name_and_the_usual_address_forms() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(Running::start(dir.path(), |c, port| {
        c.args(["--listen", &port.to_string()]);
    }));
    drop(Running::start(dir.path(), |c, port| {
        c.args(["--listen", &format!("localhost:{port}")]);
    }));
    for (given, want) in [
        ("8080", "127.0.0.1:8080"),
        (":8080", "0.0.0.0:8080"),
        ("localhost:8080", "127.0.0.1:8080"),
        ("[::]:8080", "[::]:8080"),
        ("0.0.0.0:8080", "0.0.0.0:8080"),
        ("127.0.0.1:8080", "127.0.0.1:8080"),
    ] {
        let printed = effective(&["--listen", given], &[]);
        assert_eq!(
            setting(&printed, "listen"),
            format!("listen = \"{want}\"  # flag")
        );
    }
}

#[test]
fn a_bad_listen_address_names_itself_and_the_forms_that_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    for bad in ["http://localhost:8080", "8080x", ":70000", "localhost"] {
        let (code, _, stderr) = outcome(buoycast(dir.path()).args(["run", "--listen", bad]));
        assert_eq!(code, Some(2), "{bad}: {stderr}");
        assert!(
            stderr.contains(&format!("'{bad}' for '--listen <ADDR>'")),
            "{stderr}"
        );
        assert!(stderr.contains("expected PORT (8080"), "{stderr}");
    }
    let (code, _, stderr) = outcome(buoycast(dir.path()).arg("run").env("PORT", "http"));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("PORT=`http` is not a port number"),
        "{stderr}"
    );
}

#[test]
fn the_config_file_sits_under_the_environment_and_the_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("buoycast.toml");
    std::fs::write(
        &file,
        r#"
listen = ":9000"
heartbeat_secs = 20
max_replay = 1000
stations = ["44009", "41002"]
reuse-port = true
database_url = "postgres://app:hunter2@db.internal:5432/buoy"
publish_token = "file-token-123"
"#,
    )
    .expect("write");
    let file = file.to_str().expect("path");
    let printed = effective(
        &["--config", file, "--max-replay", "7"],
        &[
            ("BUOYCAST_HEARTBEAT_SECS", "30"),
            ("BUOYCAST_MAX_REPLAY", "9"),
        ],
    );
    for (key, line) in [
        ("listen", "listen = \"0.0.0.0:9000\"  # config file"),
        (
            "heartbeat_secs",
            "heartbeat_secs = 30  # env BUOYCAST_HEARTBEAT_SECS",
        ),
        ("max_replay", "max_replay = 7  # flag"),
        ("stations", "stations = \"44009,41002\"  # config file"),
        ("reuse_port", "reuse_port = true  # config file"),
        ("hub_shards", "hub_shards = 16  # default"),
        (
            "database_url",
            "database_url = \"postgres://app:***@db.internal:5432/buoy\"  # config file",
        ),
        (
            "publish_token",
            "publish_token = \"[redacted]\"  # config file",
        ),
    ] {
        assert_eq!(setting(&printed, key), line);
    }
    assert!(
        printed.contains(&format!("# Config file: {file}.")),
        "{printed}"
    );
    assert!(!printed.contains("hunter2") && !printed.contains("file-token-123"));
    // The same through BUOYCAST_CONFIG.
    let printed = effective(&[], &[("BUOYCAST_CONFIG", file)]);
    assert_eq!(
        setting(&printed, "heartbeat_secs"),
        "heartbeat_secs = 20  # config file"
    );
}

#[test]
fn a_server_listens_where_its_config_file_says() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("buoycast.toml");
    let _server = Running::start(dir.path(), |c, port| {
        std::fs::write(
            &file,
            format!("listen = \"127.0.0.1:{port}\"\nsource = \"none\"\n"),
        )
        .expect("write");
        c.arg("--config").arg(&file);
    });
}

#[test]
fn config_file_mistakes_name_the_key_and_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.to_str().expect("path").to_owned()
    };
    for (file, message) in [
        (
            write("typo.toml", "lisen = \":8080\"\n"),
            "unknown key `lisen` in the config file".to_owned(),
        ),
        (
            write("unknown.toml", "colour_scheme = \"dark\"\n"),
            "unknown key `colour_scheme`".to_owned(),
        ),
        (
            write("negative.toml", "heartbeat_secs = -5\n"),
            "`-5` is negative; give a whole number of seconds from 1 to 3600 (`heartbeat_secs` in \
             the config file"
                .to_owned(),
        ),
        (write("syntax.toml", "listen = \n"), "line 1".to_owned()),
        (
            write("flag.toml", "reuse_port = \"yes\"\n"),
            "`reuse_port` in the config file".to_owned(),
        ),
        (
            "/nonexistent/buoycast.toml".to_owned(),
            "cannot read the config file".to_owned(),
        ),
    ] {
        let (code, _, stderr) = outcome(buoycast(dir.path()).args(["run", "--config", &file]));
        assert_eq!(code, Some(2), "{file}: {stderr}");
        assert!(stderr.contains(&message), "{file}: {stderr}");
        assert!(stderr.contains(&file), "{file}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    }
    let (_, _, stderr) = outcome(buoycast(dir.path()).args([
        "run",
        "--config",
        &write("typo2.toml", "lisen = 1\n"),
    ]));
    assert!(stderr.contains("did you mean `listen`?"), "{stderr}");
    // A bad flag beside a good file is the flag's fault, not the file's.
    let good = write("good.toml", "heartbeat_secs = 5\n");
    let (code, _, stderr) =
        outcome(buoycast(dir.path()).args(["run", "--config", &good, "--listen", "nowhere"]));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("'nowhere' for '--listen <ADDR>'"),
        "{stderr}"
    );
    assert!(!stderr.contains("config file"), "{stderr}");
}

#[test]
fn secrets_never_show_in_help_or_config_print() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, help, _) = outcome(
        buoycast(dir.path())
            .args(["run", "--help"])
            .env("BUOYCAST_PUBLISH_TOKEN", "publish-s3cret")
            .env("BUOYCAST_METRICS_TOKEN", "metrics-s3cret")
            .env("BUOYCAST_JWT_SECRET", "jwt-s3cret")
            .env("DATABASE_URL", "postgres://app:db-s3cret@db/buoy")
            .env("REDIS_URL", "redis://:redis-s3cret@cache:6379")
            .env("BUOYCAST_STATIONS", "44009"),
    );
    assert_eq!(code, Some(0));
    assert!(help.contains("BUOYCAST_PUBLISH_TOKEN") && help.contains("DATABASE_URL"));
    assert!(!help.contains("s3cret"), "{help}");
    assert!(
        help.contains("[env: BUOYCAST_STATIONS=44009]"),
        "other values still show"
    );
    let printed = effective(
        &["--metrics-token", "metrics-s3cret"],
        &[
            (
                "DATABASE_URL",
                "postgres://app:db-s3cret@db/buoy?sslmode=require",
            ),
            ("REDIS_URL", "redis://:redis-s3cret@cache:6379"),
        ],
    );
    assert!(!printed.contains("s3cret"), "{printed}");
    assert_eq!(
        setting(&printed, "redis_url"),
        "redis_url = \"redis://:***@cache:6379\"  # env REDIS_URL"
    );
}

/// Runs `buoycast run` (no ingest, a free port) that must stop at start-up: exit code and
/// stderr.
fn start_fails(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let (code, _, stderr) = outcome(
        buoycast(dir)
            .args(["run", "--source", "none", "--listen"])
            .arg(format!("127.0.0.1:{}", free_port()))
            .args(args),
    );
    (code, stderr)
}

#[test]
fn a_database_url_that_is_no_store_is_refused_without_creating_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, stderr) = start_fails(dir.path(), &["--database-url", "foo"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "buoycast: --database-url `foo` is neither a URL nor a SQLite file path; for a SQLite \
         file write sqlite://foo.db or ./foo, otherwise use sqlite://FILE (embedded) or \
         postgres://USER:PASSWORD@HOST:PORT/DB (distributed)"
    );
    let created: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").collect();
    assert!(created.is_empty(), "files were created: {created:?}");

    let (code, stderr) = start_fails(
        dir.path(),
        &["--database-url", "mysql://app:hunter2@db:3306/buoy"],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("--database-url mysql://app:***@db:3306/buoy: unknown scheme `mysql`"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"));

    // What a bare word would have been, written as a path, works.
    let (code, stderr) = start_fails(dir.path(), &["--database-url", "./foo", "--listen", "x"]);
    assert_eq!(code, Some(2), "only the listen address is wrong: {stderr}");
}

#[test]
fn a_sqlite_file_that_cannot_be_opened_is_named_once_with_the_cause() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-dir/buoycast.db");
    let (code, stderr) = start_fails(
        dir.path(),
        &["--database-url", &format!("sqlite://{}", missing.display())],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot open the SQLite database {}",
            missing.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("unable to open database file"), "{stderr}");
    assert!(stderr.contains("does not exist: create it"), "{stderr}");
    assert_eq!(stderr.matches("unable to open").count(), 1, "{stderr}");

    let (code, stderr) = start_fails(
        dir.path(),
        &[
            "--database-url",
            &format!("sqlite://{}", dir.path().display()),
        ],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("that is a directory"), "{stderr}");
}

#[test]
fn an_unreachable_postgresql_is_named_with_the_cause_and_the_time_waited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port(); // closed: nothing listens there
    let url = format!("postgres://app:hunter2@127.0.0.1:{port}/buoy");
    let started = Instant::now();
    let (code, stderr) = start_fails(
        dir.path(),
        &["--database-url", &url, "--connect-timeout-secs", "1"],
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot reach PostgreSQL at 127.0.0.1:{port} (database buoy, user app) after 1."
        )),
        "{stderr}"
    );
    assert!(stderr.contains("Connection refused"), "{stderr}");
    assert!(
        !stderr.contains("hunter2") && !stderr.contains("pool timed out"),
        "{stderr}"
    );
}

#[test]
fn a_postgresql_that_answers_with_an_error_is_named_at_once() {
    let pg = services::PostgresServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let (code, stderr) = start_fails(
        dir.path(),
        &[
            "--database-url",
            &pg.url("no_such_db"),
            "--connect-timeout-secs",
            "30",
        ],
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "an error answer is not retried for the whole timeout"
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(&format!(
            "PostgreSQL at 127.0.0.1:{} (database no_such_db, user postgres) refused the \
             connection: database \"no_such_db\" does not exist",
            pg.port()
        )),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_redis_is_named_with_the_cause_and_the_time_waited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let (code, stderr) = start_fails(
        dir.path(),
        &[
            "--database-url",
            "sqlite://run.db",
            "--redis-url",
            &format!("redis://:hunter2@127.0.0.1:{port}"),
            "--connect-timeout-secs",
            "1",
        ],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(&format!("cannot reach Redis at 127.0.0.1:{port} after 1.")),
        "{stderr}"
    );
    assert!(stderr.contains("Connection refused"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");

    let (code, stderr) = start_fails(dir.path(), &["--redis-url", "http://:hunter2@cache"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("--redis-url http://:***@cache: not a Redis URL"),
        "{stderr}"
    );
}

#[test]
fn negative_and_zero_speeds_and_intervals_are_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (args, env, message) in [
        (
            vec!["--replay-speed", "-1"],
            None,
            "'-1' for '--replay-speed <REPLAY_SPEED>': `-1` is negative",
        ),
        (
            vec!["--heartbeat-secs", "0"],
            None,
            "'0' for '--heartbeat-secs <HEARTBEAT_SECS>': `0` is too small",
        ),
        (
            vec!["--poll-interval-secs", "-5"],
            None,
            "'-5' for '--poll-interval-secs <POLL_INTERVAL_SECS>': `-5` is negative",
        ),
        (
            vec!["--fetch-timeout-secs", "0"],
            None,
            "`0` is too small; give a whole number of seconds, at least 1",
        ),
        (
            vec![],
            Some(("BUOYCAST_HEARTBEAT_SECS", "-1")),
            "'-1' for '--heartbeat-secs <HEARTBEAT_SECS>': `-1` is negative",
        ),
        (
            vec![],
            Some(("BUOYCAST_REPLAY_SPEED", "fast")),
            "`fast` is not a number",
        ),
    ] {
        let mut command = buoycast(dir.path());
        command.arg("run").args(&args);
        if let Some((name, value)) = env {
            command.env(name, value);
        }
        let (code, _, stderr) = outcome(&mut command);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[test]
fn an_empty_replay_directory_is_warned_about_and_the_server_still_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A directory that is not there is an error, though.
    let missing = dir.path().join("no-such-replay");
    let (code, _, stderr) = outcome(
        buoycast(dir.path())
            .args(["run", "--source", "replay", "--replay-dir"])
            .arg(&missing),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!(
            "buoycast: --replay-dir {}: no such directory",
            missing.display()
        )
    );
    let replay = dir.path().join("replay");
    std::fs::create_dir(&replay).expect("mkdir");
    std::fs::write(replay.join("README.md"), "no station files here").expect("write");
    let port = free_port();
    let mut child = buoycast(dir.path())
        .args([
            "run",
            "--source",
            "replay",
            "--database-url",
            "sqlite://run.db",
        ])
        .arg("--replay-dir")
        .arg(&replay)
        .args(["--listen", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    let warning = loop {
        let line = lines.next().expect("a log line").expect("read");
        let value: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        if value["event"] == "replay_dir_empty" {
            break value;
        }
        seen.push(line);
        assert!(seen.len() < 50, "no warning in {seen:?}");
    };
    assert_eq!(warning["level"], "warn");
    assert!(
        warning["msg"]
            .as_str()
            .expect("msg")
            .contains("holds no <STATION>.txt files"),
        "{warning}"
    );
    // A warning, not an exit: the server comes up.
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(child.try_wait().expect("wait").is_none(), "exited");
        assert!(Instant::now() < deadline, "not listening");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
}

/// The logs of `run` starting with a database it cannot open (so that it logs and exits at
/// once), its stdout a terminal when `terminal`.
fn startup_logs(terminal: bool, args: &[&str], env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = if terminal {
        // `script` runs the binary on a pseudo-terminal and copies what it writes.
        let mut line = format!("{BIN} run --database-url sqlite:///nonexistent/x.db");
        for arg in args {
            line.push(' ');
            line.push_str(arg);
        }
        let mut script = Command::new("script");
        script
            .current_dir(dir.path())
            .args(["-qec", &line, "/dev/null"])
            .env("TERM", "xterm");
        for (name, _) in std::env::vars() {
            if name.starts_with("BUOYCAST_") || ["NO_COLOR", "RUST_LOG"].contains(&name.as_str()) {
                script.env_remove(name);
            }
        }
        script
    } else {
        let mut command = buoycast(dir.path());
        command
            .args(["run", "--database-url", "sqlite:///nonexistent/x.db"])
            .args(args);
        command
    };
    let (_, stdout, _) = outcome(command.envs(env.iter().copied()));
    stdout
}

#[test]
fn logs_are_pretty_and_coloured_on_a_terminal_and_json_without_colours_elsewhere() {
    const ESC: &str = "\u{1b}[";
    let piped = startup_logs(false, &[], &[]);
    let first = piped.lines().next().expect("a log line");
    let json: serde_json::Value = serde_json::from_str(first).expect("JSON when piped");
    assert_eq!(json["event"], "fatal");
    let pretty_piped = startup_logs(false, &["--log-format", "pretty"], &[]);
    assert!(pretty_piped.contains("ERROR"), "{pretty_piped}");
    assert!(
        !pretty_piped.contains(ESC),
        "no ANSI codes in a pipe: {pretty_piped:?}"
    );

    let terminal = startup_logs(true, &[], &[]);
    assert!(
        terminal.contains("ERROR") && !terminal.contains("\"level\""),
        "{terminal:?}"
    );
    assert!(
        terminal.contains(ESC),
        "colours on a terminal: {terminal:?}"
    );
    let no_color = startup_logs(true, &[], &[("NO_COLOR", "1")]);
    assert!(
        no_color.contains("ERROR") && !no_color.contains(ESC),
        "{no_color:?}"
    );
    let json_terminal = startup_logs(true, &["--log-format", "json"], &[]);
    assert!(
        json_terminal.contains("\"level\":\"error\""),
        "{json_terminal:?}"
    );
}

#[test]
fn a_listen_address_in_use_is_named_with_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let (code, _, stderr) = outcome(buoycast(dir.path()).args([
        "run",
        "--source",
        "none",
        "--database-url",
        "sqlite://run.db",
        "--listen",
        &port.to_string(),
    ]));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot listen on 127.0.0.1:{port}: Address already in use"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("choose another port with --listen"),
        "{stderr}"
    );
}

#[test]
fn a_redis_lost_after_start_is_logged_with_its_address_and_the_cause() {
    let mut redis = services::RedisServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = listen_port();
    let mut child = buoycast(dir.path())
        .args([
            "serve",
            "--database-url",
            "sqlite://serve.db",
            "--redis-url",
        ])
        .arg(redis.url())
        .args(["--listen", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<serde_json::Value>();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(value) = serde_json::from_str(&line)
                && lines_tx.send(value).is_err()
            {
                break;
            }
        }
    });
    let next = |what: &str, matches: &dyn Fn(&serde_json::Value) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left) {
                Ok(line) if matches(&line) => return line,
                Ok(_) => {}
                Err(e) => panic!("no {what}: {e}"),
            }
        }
    };
    next("subscription", &|l| l["event"] == "redis_subscribed");
    redis.stop();
    // A lost connection is an error, with its text under `message` (SPEC §9).
    let lost = next("disconnection error", &|l| {
        l["event"] == "redis_subscriber_error" && l["msg"] == "Redis subscriber disconnected"
    });
    assert_eq!(lost["level"], "error", "{lost}");
    assert_eq!(
        lost["message"], "connection to Redis lost; reconnecting",
        "{lost}"
    );
    // The first warnings may name how the connection ended (reset, closed) depending on timing;
    // once Redis is gone, the retries are refused.
    let line = next("unreachable warning naming the refusal", &|l| {
        l["event"] == "redis_subscriber_error"
            && l["cause"]
                .as_str()
                .is_some_and(|c| c.contains("Connection refused"))
    });
    let address = format!("127.0.0.1:{}", redis.port());
    assert_eq!(line["address"], address.as_str(), "{line}");
    assert_eq!(line["level"], "error", "{line}");
    assert!(
        line["message"]
            .as_str()
            .is_some_and(|m| m.contains(&address) && m.contains("Connection refused")),
        "the text is under `message`: {line}"
    );
    child.kill().expect("kill");
    child.wait().expect("wait");
}
