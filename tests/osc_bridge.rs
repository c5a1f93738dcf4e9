//! The OSC bridge end to end: a server (in-process), the `buoycast bridge osc` binary, and a real
//! OSC receiver (`tests/support/osc_receiver.py`, decoding with python-osc) that reports every
//! datagram. Every field of every observation is checked, nulls included (omitted, and named in
//! `…/missing`), and resume across a server restart delivers each event once.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use buoycast::app::{Application, Settings};
use buoycast::domain::{Observation, StationId, VALUE_COUNT};
use serde_json::{Value, json};

use buoycast_testkit::{at, spawn_app};

const BIN: &str = env!("CARGO_BIN_EXE_buoycast");
const RECEIVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/osc_receiver.py");
const WAIT: Duration = Duration::from_secs(20);

/// The SPEC §3 names of the measured values, in contract order (written out here, independently
/// of the code under test, so that a renamed field fails the test).
const FIELDS: [&str; VALUE_COUNT] = [
    "waveHeightM",
    "windSpeedMps",
    "windDirDeg",
    "waterTempC",
    "pressureHpa",
    "gustMps",
    "dominantWavePeriodS",
    "averageWavePeriodS",
    "meanWaveDirDeg",
    "airTempC",
    "dewPointC",
    "visibilityNmi",
    "pressureTendencyHpa",
    "tideFt",
];

/// The python-osc receiver; killed when dropped.
struct Receiver {
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
    packets: mpsc::Receiver<Value>,
}

impl Receiver {
    fn start() -> Self {
        let mut child = Command::new("python3")
            .arg(RECEIVER)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs (the OSC tests need python3 with python-osc)");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let port = first
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "the OSC receiver did not start (is python-osc installed? \
                     `pip install python-osc`); it said {first:?}"
                )
            });
        let (tx, packets) = mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let value: Value = serde_json::from_str(&line).expect("receiver prints JSON");
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        Self {
            stdin: child.stdin.take(),
            child,
            port,
            packets,
        }
    }

    /// The next datagram, or `None` after `wait`.
    fn next(&self, wait: Duration) -> Option<Value> {
        let packet = self.packets.recv_timeout(wait).ok()?;
        assert!(
            packet.get("error").is_none(),
            "the receiver could not decode a datagram: {packet}"
        );
        Some(packet)
    }

    /// The next observation bundle (within [`WAIT`], however many status messages come first);
    /// status messages seen on the way are appended to `statuses`.
    fn next_bundle(&self, statuses: &mut Vec<String>) -> Value {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let packet = self.next(left).unwrap_or_else(|| {
                panic!("no OSC bundle within the time limit (statuses: {statuses:?})")
            });
            if packet["bundle"] == true {
                return packet;
            }
            let [address, tags, args] = &packet["messages"][0].as_array().expect("message")[..]
            else {
                panic!("malformed message {packet}")
            };
            assert_eq!(address, "/buoy/status", "{packet}");
            assert_eq!(tags, "s", "{packet}");
            statuses.push(args[0].as_str().expect("status word").to_owned());
        }
    }

    /// Waits for a `…/status` message with this word.
    fn wait_status(&self, word: &str) {
        let mut seen = Vec::new();
        while !seen.iter().any(|s| s == word) {
            let packet = self
                .next(WAIT)
                .unwrap_or_else(|| panic!("no /buoy/status {word} (statuses seen: {seen:?})"));
            assert_ne!(packet["bundle"], true, "a bundle before {word}: {packet}");
            seen.push(
                packet["messages"][0][2][0]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            );
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bridge binary; killed when dropped.
struct Bridge(Child);

impl Bridge {
    fn start(server: SocketAddr, receiver_port: u16, extra: &[&str]) -> Self {
        let quiet = std::env::var_os("TEST_LOG").is_none();
        let child = Command::new(BIN)
            .args([
                "bridge",
                "osc",
                "--url",
                &format!("http://{server}"),
                "--target",
                &format!("127.0.0.1:{receiver_port}"),
                "--log-format",
                "pretty",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(if quiet {
                Stdio::null()
            } else {
                Stdio::inherit()
            })
            .stderr(if quiet {
                Stdio::null()
            } else {
                Stdio::inherit()
            })
            .spawn()
            .expect("the bridge starts");
        Self(child)
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn observation(station: &str, minutes: i64, values: [Option<f64>; VALUE_COUNT]) -> Observation {
    Observation::from_values(
        StationId::parse(station).expect("station"),
        at(minutes),
        values,
    )
}

/// Asserts that `bundle` is exactly the OSC form of `observation` with `seq`.
fn check_bundle(bundle: &Value, seq: i64, observation: &Observation) {
    let station = observation.station_id.as_str();
    // Float arguments compared as float32 (what was sent): JSON parsing of the receiver's
    // doubles may be one f64 ulp off, which the conversion to f32 removes.
    let messages: Vec<Value> = bundle["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            let tags: Vec<char> = m[1].as_str().unwrap_or("").chars().collect();
            let args: Vec<Value> = m[2]
                .as_array()
                .expect("args")
                .iter()
                .zip(tags.iter().chain(std::iter::repeat(&'?')))
                .map(|(arg, tag)| match (tag, arg.as_f64()) {
                    ('f', Some(x)) => json!(f64::from(x as f32)),
                    _ => arg.clone(),
                })
                .collect();
            json!([m[0], m[1], args])
        })
        .collect();
    let timestamp = buoycast::domain::format_timestamp(observation.timestamp);
    let mut want = Vec::new();
    let mut missing = Vec::new();
    for (name, value) in FIELDS.iter().zip(observation.values()) {
        match value {
            // Sent as float32: the receiver sees the float32 nearest to the value.
            Some(v) => want.push(json!([
                format!("/buoy/{station}/{name}"),
                "f",
                [f64::from(v as f32)]
            ])),
            None => missing.push(*name),
        }
    }
    want.push(json!([
        format!("/buoy/{station}/missing"),
        "s".repeat(missing.len()),
        missing
    ]));
    // Last, so that receivers can trigger on it with every value of the bundle stored.
    want.push(json!([
        "/buoy/observation",
        "sis",
        [station, seq, timestamp]
    ]));
    assert_eq!(
        messages,
        want,
        "bundle of seq {seq} ({station})\n got: {}\nwant: {}",
        serde_json::to_string_pretty(&messages).unwrap_or_default(),
        serde_json::to_string_pretty(&want).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_field_of_every_observation_arrives_as_osc_with_nulls_omitted_and_named() {
    let app = spawn_app().await;
    let full = observation(
        "44009",
        0,
        [
            Some(1.2),
            Some(7.5),
            Some(245.0),
            Some(18.3),
            Some(1013.7),
            Some(9.1),
            Some(8.0),
            Some(5.6),
            Some(130.0),
            Some(16.2),
            Some(11.9),
            Some(10.0),
            Some(-1.3),
            Some(0.4),
        ],
    );
    let empty = observation("46042", 0, [None; VALUE_COUNT]);
    let filtered_out = observation("41002", 0, [Some(2.0); VALUE_COUNT]);
    // Published before the bridge starts: replayed because it starts after id 0.
    assert_eq!(app.publish(std::slice::from_ref(&full)).await, 1);
    assert_eq!(app.publish(std::slice::from_ref(&empty)).await, 1);
    assert_eq!(app.publish(std::slice::from_ref(&filtered_out)).await, 1);

    let receiver = Receiver::start();
    let _bridge = Bridge::start(
        app.addr,
        receiver.port,
        &["--stations", "44009,46042", "--last-event-id", "0"],
    );
    let mut statuses = Vec::new();
    check_bundle(&receiver.next_bundle(&mut statuses), 1, &full);
    check_bundle(&receiver.next_bundle(&mut statuses), 2, &empty);
    assert_eq!(statuses, ["connected"]);

    // Live: mixed nulls, negative and fractional values; the 41002 one (seq 5) is filtered out.
    let mixed = observation(
        "44009",
        10,
        [
            Some(0.0),
            None,
            Some(0.0),
            Some(-1.8),
            None,
            None,
            Some(12.5),
            None,
            None,
            Some(-20.4),
            Some(-25.0),
            None,
            Some(4.2),
            Some(-3.3),
        ],
    );
    let pressure_only = observation("46042", 10, {
        let mut v = [None; VALUE_COUNT];
        v[4] = Some(1001.1);
        v
    });
    app.publish(std::slice::from_ref(&mixed)).await;
    app.publish(&[observation("41002", 10, [Some(1.0); VALUE_COUNT])])
        .await;
    app.publish(std::slice::from_ref(&pressure_only)).await;
    check_bundle(&receiver.next_bundle(&mut statuses), 4, &mixed);
    check_bundle(&receiver.next_bundle(&mut statuses), 6, &pressure_only);
    assert_eq!(statuses, ["connected"], "no reconnection on the way");
    if let Some(extra) = receiver.next(Duration::from_millis(500)) {
        panic!("nothing else may arrive, got {extra}");
    }
}

/// A server on a given listener with a given SQLite file (so that it can be restarted).
async fn start_server(
    database_url: &str,
    listener: tokio::net::TcpListener,
) -> (
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
    std::sync::Arc<dyn buoycast::store::Store>,
    std::sync::Arc<dyn buoycast::bus::Bus>,
) {
    let mut settings = Settings {
        database_url: database_url.into(),
        redis_url: None,
        connect_timeout: Duration::from_secs(10),
        server: Some(Default::default()),
        ingest: None,
    };
    if let Some(server) = settings.server.as_mut() {
        server.shutdown_grace = Duration::from_secs(1);
    }
    let app = Application::build(settings, Some(listener))
        .await
        .expect("server builds");
    let (cancel, store, bus) = (app.shutdown_token(), app.store(), app.bus());
    (cancel, tokio::spawn(app.run_until_stopped()), store, bus)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bridge_resumes_across_a_server_restart_without_loss_or_repeat() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = format!("sqlite://{}", dir.path().join("bridge.db").display());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let (cancel, handle, store, bus) = start_server(&database_url, listener).await;

    let receiver = Receiver::start();
    let _bridge = Bridge::start(addr, receiver.port, &["--idle-timeout-secs", "5"]);
    receiver.wait_status("connected");

    let wave = |station: &str, minutes: i64| {
        let mut v = [None; VALUE_COUNT];
        v[0] = Some(minutes as f64 / 10.0);
        observation(station, minutes, v)
    };
    let mut expected = Vec::new();
    for minutes in 0..3 {
        let o = wave("44009", minutes);
        buoycast::ingest::store_and_publish(store.as_ref(), bus.as_ref(), std::slice::from_ref(&o))
            .await
            .expect("publish");
        expected.push(o);
    }
    let mut statuses = Vec::new();
    for (i, o) in expected.iter().enumerate() {
        check_bundle(&receiver.next_bundle(&mut statuses), i as i64 + 1, o);
    }

    // Stop the server; while it is down, two observations are stored (as another writer would).
    cancel.cancel();
    handle
        .await
        .expect("joined")
        .expect("server stopped cleanly");
    drop((store, bus));
    receiver.wait_status("reconnecting");
    let offline =
        buoycast::app::connect_store(&database_url.as_str().into(), Duration::from_secs(10))
            .await
            .expect("store");
    for minutes in 3..5 {
        let o = wave("46042", minutes);
        offline
            .insert_observations(std::slice::from_ref(&o))
            .await
            .expect("insert");
        expected.push(o);
    }
    drop(offline);

    // Same address, same file: the bridge reconnects with Last-Event-ID 3 and gets 4 and 5, then
    // the live ones.
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("rebind the same port");
    let (cancel, handle, store, bus) = start_server(&database_url, listener).await;
    for minutes in 5..7 {
        let o = wave("44009", minutes);
        buoycast::ingest::store_and_publish(store.as_ref(), bus.as_ref(), std::slice::from_ref(&o))
            .await
            .expect("publish");
        expected.push(o);
    }
    for (i, o) in expected.iter().enumerate().skip(3) {
        check_bundle(&receiver.next_bundle(&mut statuses), i as i64 + 1, o);
    }
    assert!(
        statuses.iter().any(|s| s == "connected"),
        "reconnected: {statuses:?}"
    );
    while let Some(extra) = receiver.next(Duration::from_millis(500)) {
        assert_ne!(extra["bundle"], true, "a repeated observation: {extra}");
    }
    cancel.cancel();
    let _ = handle.await;
}

/// A bridge that has received no observation yet resumes from the `connection` id: what was
/// stored while the server was down reaches it, and nothing from before it joined.
#[tokio::test(flavor = "multi_thread")]
async fn a_bridge_that_saw_nothing_resumes_from_where_it_joined() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = format!("sqlite://{}", dir.path().join("bridge.db").display());
    let wave = |minutes: i64| {
        let mut v = [None; VALUE_COUNT];
        v[0] = Some(minutes as f64 / 10.0);
        observation("44009", minutes, v)
    };
    let store_offline = |observations: Vec<Observation>| {
        let database_url = database_url.clone();
        async move {
            let store = buoycast::app::connect_store(&database_url.into(), Duration::from_secs(10))
                .await
                .expect("store");
            store
                .insert_observations(&observations)
                .await
                .expect("insert");
        }
    };
    // Seqs 1 and 2 exist before the bridge joins: it must never get them.
    store_offline(vec![wave(0), wave(1)]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let (cancel, handle, store, bus) = start_server(&database_url, listener).await;
    let receiver = Receiver::start();
    let _bridge = Bridge::start(addr, receiver.port, &["--idle-timeout-secs", "5"]);
    receiver.wait_status("connected");

    cancel.cancel();
    handle
        .await
        .expect("joined")
        .expect("server stopped cleanly");
    drop((store, bus));
    receiver.wait_status("reconnecting");
    let missed = vec![wave(2), wave(3)];
    store_offline(missed.clone()).await;

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("rebind the same port");
    let (cancel, handle, store, bus) = start_server(&database_url, listener).await;
    // A failed check stops the server too (else the test runtime waits for it forever).
    let _stop = cancel.clone().drop_guard();
    let mut statuses = Vec::new();
    for (seq, o) in [3, 4].into_iter().zip(&missed) {
        check_bundle(&receiver.next_bundle(&mut statuses), seq, o);
    }
    let live = wave(4);
    buoycast::ingest::store_and_publish(store.as_ref(), bus.as_ref(), std::slice::from_ref(&live))
        .await
        .expect("publish");
    check_bundle(&receiver.next_bundle(&mut statuses), 5, &live);
    while let Some(extra) = receiver.next(Duration::from_millis(500)) {
        assert_ne!(extra["bundle"], true, "a repeated observation: {extra}");
    }
    cancel.cancel();
    let _ = handle.await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bridge_sends_its_token_to_a_server_with_subscriber_auth() {
    const SECRET: &str = "a shared secret of at least 32 bytes, for tests";
    let app = buoycast_testkit::spawn_app_with(|s| {
        if let Some(server) = s.server.as_mut() {
            server.subscriber_auth = Some(buoycast::api::auth::JwtConfig {
                key: buoycast::api::auth::JwtKey::Secret(SECRET.into()),
                audience: None,
                issuer: None,
            });
        }
    })
    .await;
    let claims = json!({ "exp": chrono::Utc::now().timestamp() + 600, "stations": ["44009"] });
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()).expect("key"),
    )
    .expect("token");
    let granted = observation("44009", 0, [Some(1.5); VALUE_COUNT]);
    app.publish(&[observation("46042", 0, [Some(2.5); VALUE_COUNT])])
        .await;
    app.publish(std::slice::from_ref(&granted)).await;

    // Without a token the server's 401 is final: the bridge stops with an error.
    let mut refused = Command::new(BIN)
        .args(["bridge", "osc", "--url", &format!("http://{}", app.addr)])
        .args(["--target", "127.0.0.1:9", "--last-event-id", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the bridge starts");
    let status = tokio::task::spawn_blocking(move || {
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut refused.stderr.take().expect("stderr"), &mut stderr)
            .expect("stderr");
        (refused.wait().expect("exit"), stderr)
    });
    let (status, stderr) = tokio::time::timeout(WAIT, status)
        .await
        .expect("the bridge stops")
        .expect("join");
    assert!(!status.success());
    assert!(stderr.contains("401"), "{stderr}");

    // With it, the stream carries what the token grants (station 44009 only).
    let receiver = Receiver::start();
    let _bridge = Bridge::start(
        app.addr,
        receiver.port,
        &["--token", &token, "--last-event-id", "0"],
    );
    let mut statuses = Vec::new();
    check_bundle(&receiver.next_bundle(&mut statuses), 2, &granted);
    assert_eq!(statuses, ["connected"]);
}

/// With `--kinds`, entries of other kinds arrive under `/buoy/<id>/<kind>/…`: numbers as floats,
/// arrays one message per item with its index, the null fields named in `…/missing`, and the
/// closing `/buoy/<kind>`; kinds not asked for (here observations) are not sent.
#[tokio::test(flavor = "multi_thread")]
async fn other_kinds_arrive_per_value_and_per_array_item() {
    use buoycast::domain::{Entry, Fields, Kind, KindEntry};
    let app = spawn_app().await;
    let entry = |kind, station: &str, fields: &str| {
        Entry::Other(KindEntry {
            kind,
            station_id: StationId::parse(station).expect("station"),
            timestamp: at(0),
            fields: Fields::parse(fields).expect("fields"),
        })
    };
    app.publish_entries(&[
        entry(
            Kind::Tsunami,
            "41421",
            r#"{"measurementType":3,"waterColumnHeightM":5783.412}"#,
        ),
        Entry::Observation(observation("44013", 0, [Some(1.0); VALUE_COUNT])),
        entry(
            Kind::Spectrum,
            "44013",
            r#"{"separationFreqHz":null,"frequenciesHz":[0.02,0.0325],"energyDensityM2PerHz":[0.0,1.25],"r1":[null,0.5]}"#,
        ),
    ])
    .await;
    let receiver = Receiver::start();
    let _bridge = Bridge::start(
        app.addr,
        receiver.port,
        &["--kinds", "tsunami,spectrum", "--last-event-id", "0"],
    );
    let mut statuses = Vec::new();
    let tsunami = receiver.next_bundle(&mut statuses);
    assert_eq!(
        tsunami["messages"],
        json!([
            ["/buoy/41421/tsunami/measurementType", "f", [3.0]],
            [
                "/buoy/41421/tsunami/waterColumnHeightM",
                "f",
                [5783.412_f32]
            ],
            ["/buoy/41421/tsunami/missing", "", []],
            [
                "/buoy/tsunami",
                "sis",
                ["41421", 1, "2025-11-15T12:00:00.000Z"]
            ],
        ]),
        "{tsunami}"
    );
    let spectrum = receiver.next_bundle(&mut statuses);
    assert_eq!(
        spectrum["messages"],
        json!([
            ["/buoy/44013/spectrum/frequenciesHz", "if", [0, 0.02_f32]],
            ["/buoy/44013/spectrum/frequenciesHz", "if", [1, 0.0325_f32]],
            ["/buoy/44013/spectrum/energyDensityM2PerHz", "if", [0, 0.0]],
            ["/buoy/44013/spectrum/energyDensityM2PerHz", "if", [1, 1.25]],
            ["/buoy/44013/spectrum/r1", "if", [1, 0.5]],
            ["/buoy/44013/spectrum/missing", "s", ["separationFreqHz"]],
            [
                "/buoy/spectrum",
                "sis",
                ["44013", 3, "2025-11-15T12:00:00.000Z"]
            ],
        ]),
        "{spectrum}"
    );
    assert_eq!(statuses, ["connected"]);
    if let Some(extra) = receiver.next(Duration::from_millis(500)) {
        panic!("the observation (another kind) may not arrive, got {extra}");
    }
}
