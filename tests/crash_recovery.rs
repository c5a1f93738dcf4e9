//! The `buoycast` binary killed with SIGKILL at random points of a replay plus publish load,
//! again and again. After every restart the SQLite file passes `integrity_check`, every
//! acknowledged publish is stored exactly once under the seq it was acknowledged with, and no
//! seq is ever acknowledged twice.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::json;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

const BIN: &str = env!("CARGO_BIN_EXE_buoycast");
const REALTIME2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/ndbc/realtime2");
const TOKEN: &str = "crash-test-token";
/// Kill-and-restart rounds.
const ROUNDS: usize = 8;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn start(db: &Path, port: u16) -> Child {
    Command::new(BIN)
        .args(["run", "--source", "replay", "--replay-speed", "200000"])
        .arg("--replay-dir")
        .arg(REALTIME2)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--database-url")
        .arg(format!("sqlite://{}", db.display()))
        .args(["--publish-token", TOKEN])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting buoycast")
}

async fn wait_healthy(client: &reqwest::Client, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await;
        if health.is_ok_and(|r| r.status() == 200) {
            return;
        }
        assert!(Instant::now() < deadline, "the server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the file holds for the publisher's station: timestamp → seqs (more than one would be a
/// duplicate), and the integrity check's answer.
async fn inspect(db: &Path) -> (String, BTreeMap<i64, Vec<i64>>, i64) {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", db.display()))
        .expect("url")
        .busy_timeout(Duration::from_secs(10));
    let mut c = SqliteConnection::connect_with(&options)
        .await
        .expect("opening the file after the kill");
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut c)
        .await
        .expect("integrity_check");
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT observed_at, seq FROM observations WHERE station_id = 'KILL1' ORDER BY seq",
    )
    .fetch_all(&mut c)
    .await
    .expect("reading the publisher's rows");
    let counter: i64 = sqlx::query_scalar("SELECT value FROM seq_counter WHERE id = 1")
        .fetch_one(&mut c)
        .await
        .expect("seq counter");
    let _ = c.close().await;
    let mut by_time: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (t, seq) in rows {
        by_time.entry(t).or_default().push(seq);
    }
    (check, by_time, counter)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_no_acknowledged_write_and_reuses_no_seq() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("crash.db");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    // Acknowledged publishes: observation time (Unix ms) → seq.
    let acknowledged: Arc<Mutex<BTreeMap<i64, i64>>> = Arc::default();
    let mut minute: i64 = 0;
    let epoch = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
        .expect("epoch")
        .to_utc();
    let mut highest_counter = 0;
    for round in 0..ROUNDS {
        let port = free_port();
        let mut child = start(&db, port);
        wait_healthy(&client, port).await;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Two publishers of single observations, each with its own minutes.
        let publishers: Vec<_> = (0..2)
            .map(|p| {
                let (client, acknowledged, stop) =
                    (client.clone(), Arc::clone(&acknowledged), Arc::clone(&stop));
                let first = minute + p * 1_000_000;
                tokio::spawn(async move {
                    let mut m = first;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let at = epoch + chrono::Duration::minutes(m);
                        let body = json!({
                            "stationId": "KILL1",
                            "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                            "waveHeightM": 1.0,
                        });
                        let sent = client
                            .post(format!("http://127.0.0.1:{port}/v1/observations"))
                            .bearer_auth(TOKEN)
                            .json(&body)
                            .send()
                            .await;
                        if let Ok(response) = sent
                            && response.status() == 201
                            && let Ok(body) = response.json::<serde_json::Value>().await
                        {
                            let seq = body["observations"][0]["seq"].as_i64().expect("seq");
                            let previous = acknowledged
                                .lock()
                                .expect("lock")
                                .insert(at.timestamp_millis(), seq);
                            assert!(previous.is_none(), "one time acknowledged twice");
                        }
                        m += 1;
                    }
                })
            })
            .collect();
        let wait = rand::rng().random_range(150..900);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        child.kill().expect("SIGKILL");
        child.wait().expect("reaping");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for p in publishers {
            p.await.expect("publisher");
        }
        minute += 10_000;

        let (check, stored, counter) = inspect(&db).await;
        assert_eq!(check, "ok", "round {round}: integrity_check");
        assert!(
            counter >= highest_counter,
            "round {round}: the seq counter went down"
        );
        highest_counter = counter;
        eprintln!(
            "round {round}: counter {counter}, {} acknowledged publishes",
            acknowledged.lock().expect("lock").len()
        );
        let acknowledged = acknowledged.lock().expect("lock").clone();
        assert!(
            !acknowledged.is_empty(),
            "round {round}: nothing was acknowledged"
        );
        let mut seqs = std::collections::HashSet::new();
        for (t, seq) in &acknowledged {
            assert!(
                seqs.insert(*seq),
                "round {round}: seq {seq} acknowledged twice"
            );
            assert_eq!(
                stored.get(t),
                Some(&vec![*seq]),
                "round {round}: acknowledged publish at {t} (seq {seq}) is lost or changed"
            );
            assert!(
                *seq <= counter,
                "round {round}: seq {seq} above the counter {counter}"
            );
        }
    }
}
