//! The live server against its own OpenAPI description, checked by a real third-party tool:
//! `schemathesis` (PyPI) generates requests from `/openapi.json` and checks every response
//! (status codes, schemas, headers, no server errors). The README's test command installs it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_buoycast");
const NDBC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/ndbc");

/// Kills the server when the test ends, however it ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn schemathesis(base: &str, token: &str) -> (bool, String) {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis.toml");
    let output = Command::new("schemathesis")
        .args([
            "--config-file",
            config,
            "run",
            &format!("{base}/openapi.json"),
            "--checks",
            "all",
        ])
        .args([
            "-H",
            &format!("Authorization: Bearer {token}"),
            "--max-examples",
            "25",
            "--seed",
            "1",
        ])
        // The stream never ends; it is covered by the SSE tests.
        .args(["--exclude-path", "/v1/observations/stream"])
        .env("NO_COLOR", "1")
        .output()
        .expect(
            "schemathesis must be installed (./scripts/test installs it: pip install schemathesis)",
        );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The realtime2 files the server replays: station 44013's observations and spectra (so reads
/// with `kinds=` return entries of several kinds, each checked against its own schema) and
/// another station's tsunami and ocean entries.
const REPLAYED: [&str; 8] = [
    "44013.txt",
    "44013.data_spec",
    "44013.swdir",
    "44013.swdir2",
    "44013.swr1",
    "44013.swr2",
    "41421.dart",
    "44029.ocean",
];

/// A server on a free port, replaying every kind of [`REPLAYED`] with station metadata;
/// `extra` flags added.
fn start_server(dir: &std::path::Path, extra: &[&str]) -> (Server, String) {
    let replay = dir.join("replay");
    std::fs::create_dir(&replay).expect("mkdir");
    for file in REPLAYED {
        std::fs::copy(format!("{NDBC}/realtime2/{file}"), replay.join(file)).expect("copy");
    }
    std::fs::copy(
        format!("{NDBC}/metadata/activestations.xml"),
        replay.join("activestations.xml"),
    )
    .expect("copy");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let child = Command::new(BIN)
        .args([
            "run",
            "--source",
            "replay",
            "--replay-speed",
            "0",
            "--kinds",
            "*",
            "--max-wait-secs",
            "1",
        ])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .arg("--replay-dir")
        .arg(&replay)
        .arg("--database-url")
        .arg(format!("sqlite://{}", dir.join("db.sqlite").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    let server = Server(child);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "server did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (server, base)
}

#[test]
fn the_api_conforms_to_its_openapi_description() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, base) = start_server(dir.path(), &["--publish-token", "conformance-token"]);
    let (ok, report) = schemathesis(&base, "conformance-token");
    assert!(ok, "schemathesis found problems:\n{report}");
    assert!(
        report.contains("Tested: 10"),
        "schemathesis did not test every operation:\n{report}"
    );
}

/// With subscriber auth on, a token limited to one station: the 401 and 403 answers (and
/// everything else) match the description too.
#[test]
fn the_api_conforms_with_subscriber_auth_on() {
    const SECRET: &str = "conformance secret, 32 bytes or more";
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, base) = start_server(
        dir.path(),
        &[
            "--jwt-secret",
            SECRET,
            "--metrics-token",
            "scrape",
            // Publishing on, so that its own token check (401) is what answers a JWT there.
            "--publish-token",
            "conformance-token",
        ],
    );
    let claims = serde_json::json!({
        "exp": chrono::Utc::now().timestamp() + 3600,
        "stations": ["44013"],
    });
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()).expect("key"),
    )
    .expect("token");
    let (ok, report) = schemathesis(&base, &token);
    assert!(ok, "schemathesis found problems:\n{report}");
    assert!(
        report.contains("Tested: 10"),
        "schemathesis did not test every operation:\n{report}"
    );
}
