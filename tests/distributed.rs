//! The distributed deployment as processes: real Redis and PostgreSQL, two `buoycast serve` and
//! two `buoycast ingest` (replaying real NDBC files at the same time), and SSE clients on both
//! servers. Redis is killed and restarted, then a server is killed and its clients move to the
//! other one with `Last-Event-ID`: every client must end with the store's whole log, each
//! event once, in seq order.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use buoycast_testkit::SseClient;
use buoycast_testkit::services::{PostgresServer, RedisServer, free_port};
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const BIN: &str = env!("CARGO_BIN_EXE_buoycast");
const NDBC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/ndbc/realtime2");
/// Three stations of the same weeks: ~10 observations per hour of observation time.
const REPLAY_FILES: [&str; 3] = ["44065.txt", "44088.txt", "44097.txt"];
/// One hour of observation time per second: a steady ~10 events/s.
const REPLAY_SPEED: &str = "3600";
/// Bound of each wait for progress.
const WAIT: Duration = Duration::from_secs(30);

/// A `buoycast` child process, killed when dropped; its output goes to a log file.
struct Proc {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &str, dir: &Path, args: &[&str]) -> Self {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Self {
            name: name.to_owned(),
            child: Some(child),
            log,
        }
    }

    /// SIGKILL: a crash, as far as everyone else can tell.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits (at most 15 s) for a clean exit.
    fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Fails the test if the process has exited on its own.
    fn assert_running(&mut self) {
        if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
            panic!("{} exited ({status}):\n{}", self.name, self.tail());
        }
    }

    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What one client saw.
#[derive(Debug, Default)]
struct Seen {
    /// Observation events: (id, data).
    events: Vec<(i64, Value)>,
    /// When each heartbeat arrived.
    heartbeats: Vec<Instant>,
    /// Each stream it opened: (server index, the Last-Event-ID it sent).
    connects: Vec<(usize, i64)>,
}

type Shared = Arc<Mutex<Seen>>;

fn lock(seen: &Shared) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An `EventSource`-like client: reads its stream, and on any end reconnects with
/// `Last-Event-ID` to the first server (in order of preference) that accepts it.
async fn run_client(bases: Vec<String>, seen: Shared, stop: CancellationToken) {
    let http = reqwest::Client::new();
    while !stop.is_cancelled() {
        for (server, base) in bases.iter().enumerate() {
            let last = lock(&seen).events.last().map_or(0, |e| e.0);
            let url = format!("{base}/v1/observations/stream");
            let last_id = last.to_string();
            let Ok(mut stream) =
                SseClient::try_connect(&http, &url, &[("Last-Event-ID", &last_id)]).await
            else {
                continue; // server down: try the next one
            };
            if stream.status != 200 {
                continue; // 503 while the bus is down, for instance
            }
            lock(&seen).connects.push((server, last));
            loop {
                let event = tokio::select! {
                    () = stop.cancelled() => return,
                    event = stream.read_event() => event,
                };
                let Some(event) = event else { break };
                match event.event.as_str() {
                    "observation" => {
                        let id = event.id.expect("stored observations carry their seq as id");
                        lock(&seen).events.push((id, event.json()));
                    }
                    "heartbeat" => lock(&seen).heartbeats.push(Instant::now()),
                    _ => {}
                }
            }
            break; // the stream ended: start over with the preferred server
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

/// The store's whole log, read through the polling endpoint: (seq, observation).
async fn full_log(http: &reqwest::Client, base: &str) -> Vec<(i64, Value)> {
    let mut log = Vec::new();
    let mut after = 0;
    loop {
        let page: Value = http
            .get(format!("{base}/v1/observations?after={after}&limit=1000"))
            .send()
            .await
            .expect("poll")
            .json()
            .await
            .expect("JSON page");
        let observations = page["observations"].as_array().expect("observations");
        if observations.is_empty() {
            return log;
        }
        for o in observations {
            let mut o = o.clone();
            let seq = o["seq"].as_i64().expect("seq");
            o.as_object_mut().expect("object").remove("seq");
            log.push((seq, o));
        }
        after = page["lastSeq"].as_i64().expect("lastSeq");
    }
}

async fn wait_ready(http: &reqwest::Client, base: &str, proc: &mut Proc) {
    let deadline = Instant::now() + WAIT;
    loop {
        proc.assert_running();
        if let Ok(r) = http.get(format!("{base}/ready")).send().await
            && r.status() == 200
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} not ready:\n{}",
            proc.name,
            proc.tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `check` holds for every client's record, or fails with `what`.
async fn until(clients: &[Shared], what: &str, check: impl Fn(&Seen) -> bool) {
    let deadline = Instant::now() + WAIT;
    while !clients.iter().all(|c| check(&lock(c))) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {:?}",
            clients
                .iter()
                .map(|c| (lock(c).events.len(), lock(c).connects.clone()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_gets_every_event_once_in_order_through_redis_and_server_failures() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let replay = dir.path().join("replay");
    std::fs::create_dir(&replay).expect("mkdir");
    for file in REPLAY_FILES {
        std::fs::copy(format!("{NDBC}/{file}"), replay.join(file)).expect("copy fixture");
    }
    let mut redis = RedisServer::start();
    let pg = PostgresServer::start();
    let db = pg.create_database().await;
    let redis_url = redis.url();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");

    let ports = [free_port(), free_port()];
    let bases: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let mut servers: Vec<Proc> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let listen = format!("127.0.0.1:{port}");
            Proc::spawn(
                &format!("serve{i}"),
                dir.path(),
                &[
                    "serve",
                    "--listen",
                    &listen,
                    "--database-url",
                    &db,
                    "--redis-url",
                    &redis_url,
                    "--heartbeat-secs",
                    "1",
                    "--shutdown-grace-secs",
                    "1",
                ],
            )
        })
        .collect();
    for (server, base) in servers.iter_mut().zip(&bases) {
        wait_ready(&http, base, server).await;
    }

    // Two clients per server; each prefers its own server and falls back to the other.
    let stop = CancellationToken::new();
    let clients: Vec<Shared> = (0..4).map(|_| Shared::default()).collect();
    let mut tasks = Vec::new();
    for (i, seen) in clients.iter().enumerate() {
        let home = i / 2;
        let order = vec![bases[home].clone(), bases[1 - home].clone()];
        tasks.push(tokio::spawn(run_client(order, seen.clone(), stop.clone())));
    }
    until(&clients, "every client to connect", |s| {
        !s.connects.is_empty()
    })
    .await;

    let replay_dir = replay.display().to_string();
    let mut ingests: Vec<Proc> = (0..2)
        .map(|i| {
            Proc::spawn(
                &format!("ingest{i}"),
                dir.path(),
                &[
                    "ingest",
                    "--database-url",
                    &db,
                    "--redis-url",
                    &redis_url,
                    "--source",
                    "replay",
                    "--replay-dir",
                    &replay_dir,
                    "--replay-speed",
                    REPLAY_SPEED,
                ],
            )
        })
        .collect();

    // 1. A steady stream: clients of both servers see the same ids in the same order.
    until(&clients, "50 events on every client", |s| {
        s.events.len() >= 50
    })
    .await;
    let snapshot: Vec<Vec<i64>> = clients
        .iter()
        .map(|c| lock(c).events.iter().map(|e| e.0).collect())
        .collect();
    let common = snapshot.iter().map(Vec::len).min().unwrap_or(0);
    for ids in &snapshot[1..] {
        assert_eq!(
            ids[..common],
            snapshot[0][..common],
            "clients of both servers see the same sequence"
        );
    }
    let phase1 = started.elapsed();

    // 2. Redis down for 5 s: open streams keep their heartbeats, new ones are refused.
    let killed = Instant::now();
    redis.stop();
    let deadline = Instant::now() + Duration::from_secs(4);
    let refused = loop {
        let stream =
            SseClient::connect(&http, &format!("{}/v1/observations/stream", bases[0]), &[]).await;
        if stream.status == 503 {
            break stream;
        }
        assert!(
            Instant::now() < deadline,
            "new streams still accepted with Redis down"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(refused.headers.contains_key("retry-after"));
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(killed.elapsed())).await;
    redis.restart();
    let restarted = Instant::now();
    for seen in &clients {
        let beats = lock(seen)
            .heartbeats
            .iter()
            .filter(|t| **t > killed && **t < restarted)
            .count();
        assert!(
            beats >= 3,
            "only {beats} heartbeats during the Redis outage"
        );
    }
    let counts: Vec<usize> = clients.iter().map(|c| lock(c).events.len()).collect();
    for (seen, before) in clients.iter().zip(counts) {
        let seen = seen.clone();
        until(
            std::slice::from_ref(&seen),
            "delivery to resume after Redis is back",
            move |s| s.events.len() >= before + 30,
        )
        .await;
    }
    let phase2 = started.elapsed();

    // 3. Server 0 dies: its clients resume on server 1 with their Last-Event-ID.
    servers[0].kill();
    let counts: Vec<usize> = clients.iter().map(|c| lock(c).events.len()).collect();
    until(
        &clients[..2],
        "server 0's clients to move to server 1",
        |s| s.connects.last().is_some_and(|c| c.0 == 1),
    )
    .await;
    for (seen, before) in clients.iter().zip(counts) {
        let seen = seen.clone();
        until(
            std::slice::from_ref(&seen),
            "delivery after the server failure",
            move |s| s.events.len() >= before + 30,
        )
        .await;
    }
    for seen in &clients[..2] {
        let seen = lock(seen);
        let resumed = seen.connects.last().expect("a connection").1;
        assert!(resumed > 0, "resumed with Last-Event-ID {resumed}");
    }
    let phase3 = started.elapsed();

    // 4. Ingest stops; every client catches up with the store's whole log, exactly.
    for ingest in &mut ingests {
        ingest.assert_running();
        ingest.terminate();
    }
    servers[1].assert_running();
    let log = full_log(&http, &bases[1]).await;
    let head = log.last().expect("a non-empty log").0;
    until(&clients, "every client to reach the head of the log", |s| {
        s.events.last().is_some_and(|e| e.0 >= head)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await; // anything extra would show now
    stop.cancel();
    for task in tasks {
        let _ = task.await;
    }
    let seqs: Vec<i64> = log.iter().map(|e| e.0).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "the log is in seq order"
    );
    for (i, seen) in clients.iter().enumerate() {
        let seen = lock(seen);
        let ids: Vec<i64> = seen.events.iter().map(|e| e.0).collect();
        assert_eq!(ids.len(), seqs.len(), "client {i}: event count");
        assert_eq!(ids, seqs, "client {i}: every event once, in seq order");
        assert!(
            seen.events == log,
            "client {i}: events carry the stored observations"
        );
    }
    let total = started.elapsed();
    eprintln!(
        "distributed: {} events; steady stream after {phase1:?}, Redis outage repaired by \
         {phase2:?}, failover done by {phase3:?}, total {total:?}",
        log.len()
    );
    assert!(total < Duration::from_secs(90), "took {total:?}");
}
