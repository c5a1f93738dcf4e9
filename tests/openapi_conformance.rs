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

fn schemathesis(base: &str) -> (bool, String) {
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
            "Authorization: Bearer conformance-token",
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

#[test]
fn the_api_conforms_to_its_openapi_description() {
    let dir = tempfile::tempdir().expect("tempdir");
    let replay = dir.path().join("replay");
    std::fs::create_dir(&replay).expect("mkdir");
    std::fs::copy(
        format!("{NDBC}/realtime2/44013.txt"),
        replay.join("44013.txt"),
    )
    .expect("copy");
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
            "--max-wait-secs",
            "1",
        ])
        .args([
            "--publish-token",
            "conformance-token",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--replay-dir")
        .arg(&replay)
        .arg("--database-url")
        .arg(format!(
            "sqlite://{}",
            dir.path().join("db.sqlite").display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    let _server = Server(child);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "server did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let (ok, report) = schemathesis(&base);
    assert!(ok, "schemathesis found problems:\n{report}");
    assert!(
        report.contains("Tested: 9"),
        "schemathesis did not test every operation:\n{report}"
    );
}
