//! Built-in TLS and HTTP/2 (`--tls-cert`/`--tls-key`): ALPN, streams multiplexed on one HTTP/2
//! connection, a stalled HTTP/2 stream beside a flowing one, the front door's limits over TLS
//! (silent and slow handshakes, plain HTTP on the TLS port, eviction), curl, and the flags.

use std::sync::Arc;
use std::time::Duration;

use buoycast::hub::HubConfig;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use buoycast_testkit::{SseClient, TestApp, TestCerts, eventually, obs, spawn_tls_app_with};

const WAIT: Duration = Duration::from_secs(10);
const STREAM: &str = "/v1/observations/stream";

async fn spawn_tls() -> TestApp {
    spawn_tls_app_with(|_| {}).await
}

/// A TLS connection to the app that trusts only its test CA, offering `alpn`.
async fn tls_connect(app: &TestApp, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
    let certs = app.tls.as_ref().expect("a TLS app");
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(certs.ca_pem.as_bytes()).expect("CA PEM"))
        .expect("CA");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(app.addr).await.expect("connect");
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").expect("name"), tcp)
        .await
        .expect("TLS handshake")
}

/// One HTTP/2 connection (ALPN `h2`), with a per-stream window of `stream_window` bytes and a
/// connection window large enough that one unread stream never holds up the others.
async fn h2_connection(app: &TestApp, stream_window: u32) -> SendRequest<Empty<Bytes>> {
    let tls = tls_connect(app, &[b"h2", b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (send, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(stream_window)
        .initial_connection_window_size(32 << 20)
        .handshake(TokioIo::new(tls))
        .await
        .expect("HTTP/2 handshake");
    tokio::spawn(connection);
    send
}

/// Opens a stream on an HTTP/2 connection.
async fn h2_stream(
    app: &TestApp,
    send: &mut SendRequest<Empty<Bytes>>,
    headers: &[(&str, &str)],
) -> SseClient {
    let mut request = hyper::Request::get(format!("https://127.0.0.1:{}{STREAM}", app.addr.port()))
        .header("accept", "text/event-stream");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    send.ready().await.expect("connection ready");
    let response = send
        .send_request(request.body(Empty::new()).expect("request"))
        .await
        .expect("response");
    let (parts, body) = response.into_parts();
    let chunks = futures_util::stream::unfold(body, |mut body| async move {
        loop {
            match body.frame().await? {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        return Some((Ok(data), body));
                    }
                }
                Err(e) => return Some((Err(e.to_string()), body)),
            }
        }
    });
    SseClient::from_body(
        parts.status.as_u16(),
        parts.headers,
        parts.version,
        chunks.boxed(),
    )
}

fn ids(events: &[buoycast_testkit::SseEvent]) -> Vec<i64> {
    events.iter().map(|e| e.id.expect("id")).collect()
}

/// The value of a counter with `label` in `/metrics` (0 when absent).
async fn counter(app: &TestApp, name: &str, label: &str) -> f64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn alpn_negotiates_h2_and_http11_when_only_that_is_offered() {
    let app = spawn_tls().await;
    let h2 = tls_connect(&app, &[b"h2", b"http/1.1"]).await;
    assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));

    let mut h1 = tls_connect(&app, &[b"http/1.1"]).await;
    assert_eq!(h1.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    h1.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("request");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(WAIT, h1.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // Over HTTP/1.1 on TLS, the Host rule and the head limit hold as on the plain port.
    let mut no_host = tls_connect(&app, &[b"http/1.1"]).await;
    no_host
        .write_all(b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
        .await
        .expect("request");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(WAIT, no_host.read_to_end(&mut answer)).await;
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // reqwest offers h2 and gets it; REST answers as on the plain port.
    let response = app
        .client
        .get(app.url("/v1/stations"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn an_h2_stream_has_no_connection_headers_streams_and_resumes_without_gap() {
    let app = spawn_tls().await;
    let mut send = h2_connection(&app, 65_535).await;
    let mut client = h2_stream(&app, &mut send, &[]).await;
    assert_eq!(client.status, 200);
    assert_eq!(client.version, reqwest::Version::HTTP_2);
    let h = &client.headers;
    assert_eq!(h["content-type"], "text/event-stream");
    assert_eq!(h["cache-control"], "no-cache");
    assert_eq!(h["x-accel-buffering"], "no");
    for name in ["connection", "keep-alive", "transfer-encoding"] {
        assert!(!h.contains_key(name), "{name} is not an HTTP/2 header");
    }
    client.next_of("connection", WAIT).await.expect("connected");
    app.publish(&[obs("44009", 0), obs("46042", 1), obs("44009", 2)])
        .await;
    let first = ids(&client.observations(3, WAIT).await);
    assert_eq!(first, vec![1, 2, 3]);
    drop(client);

    // Missed while away: resumed on the same connection with Last-Event-ID, no gap, no repeat.
    app.publish(&[obs("44009", 3), obs("41002", 4)]).await;
    let mut resumed = h2_stream(&app, &mut send, &[("last-event-id", "3")]).await;
    let connection = resumed
        .next_of("connection", WAIT)
        .await
        .expect("connected");
    assert_eq!(connection.id, Some(3));
    app.publish(&[obs("44009", 5)]).await;
    assert_eq!(ids(&resumed.observations(3, WAIT).await), vec![4, 5, 6]);
    let heartbeatless = resumed
        .next_of("observation", Duration::from_millis(300))
        .await;
    assert!(heartbeatless.is_none(), "nothing twice: {heartbeatless:?}");
}

#[tokio::test]
async fn twelve_streams_on_one_h2_connection_all_receive_each_event() {
    let app = spawn_tls().await;
    let send = h2_connection(&app, 65_535).await;
    let mut clients = Vec::new();
    for _ in 0..12 {
        let mut send = send.clone();
        clients.push(h2_stream(&app, &mut send, &[]).await);
    }
    for client in &mut clients {
        client.next_of("connection", WAIT).await.expect("connected");
    }
    assert_eq!(app.hub_streams(), 12, "twelve streams, one connection");
    app.publish(&[obs("44009", 0)]).await;
    let started = tokio::time::Instant::now();
    for client in &mut clients {
        let event = client
            .next_of("observation", WAIT)
            .await
            .expect("every stream gets it");
        assert_eq!(event.id, Some(1));
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "all twelve within a second"
    );
}

/// A stream whose client stops reading fills its window and then its queue; it is aborted after
/// the write timeout and its place freed, while another stream on the same connection gets every
/// event in order.
#[tokio::test]
async fn a_stalled_h2_stream_is_ended_while_another_on_its_connection_keeps_flowing() {
    let app = spawn_tls_app_with(|s| {
        let server = s.server.as_mut().expect("server");
        server.hub = HubConfig {
            shards: 2,
            backlog: 1024,
        };
        server.write_timeout = Duration::from_secs(1);
    })
    .await;
    let mut send = h2_connection(&app, 65_535).await;
    let mut stalled = h2_stream(&app, &mut send, &[]).await;
    stalled
        .next_of("connection", WAIT)
        .await
        .expect("connected");
    let mut flowing = h2_stream(&app, &mut send, &[]).await;
    flowing
        .next_of("connection", WAIT)
        .await
        .expect("connected");
    assert_eq!(app.hub_streams(), 2);

    let total = 5_000i64;
    let publisher = app.publish_in_background(total, 50);
    let got = ids(&flowing
        .observations(total as usize, Duration::from_secs(60))
        .await);
    publisher.await.expect("publisher");
    assert_eq!(
        got,
        (1..=total).collect::<Vec<_>>(),
        "the flowing stream got everything"
    );
    eventually(WAIT, "the stalled stream's place freed", || {
        app.hub_streams() == 1
    })
    .await;

    // Reading again, the stalled client gets a gap-free prefix, then the reset.
    let mut prefix = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = stalled.read_event().await {
            if event.event == "observation" {
                prefix.push(event.id.expect("id"));
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stalled stream was ended");
    assert!(
        stalled.error.is_some(),
        "it was aborted (RST_STREAM), not ended cleanly"
    );
    assert!((prefix.len() as i64) < total, "cut off before the end");
    assert!(
        prefix.iter().zip(1..).all(|(id, n)| *id == n),
        "a prefix of the log, no gap: {:?}",
        &prefix[..prefix.len().min(5)]
    );
    // The connection is still good for new streams.
    let mut again = h2_stream(&app, &mut send, &[]).await;
    again.next_of("connection", WAIT).await.expect("connected");
}

/// A client that keeps reading one HTTP/2 stream, but slower than events arrive, overflows its
/// backlog and is cut off (the hub's bound, as over HTTP/1.1); what it got is gap-free, and it
/// resumes from its last id on the same connection.
#[tokio::test]
async fn a_slow_h2_reader_overflows_its_backlog_is_cut_off_and_resumes() {
    let app = spawn_tls_app_with(|s| {
        s.server.as_mut().expect("server").hub = HubConfig {
            shards: 1,
            backlog: 32,
        };
    })
    .await;
    let mut send = h2_connection(&app, 16 * 1024).await;
    let mut slow = h2_stream(&app, &mut send, &[]).await;
    slow.next_of("connection", WAIT).await.expect("connected");
    let total = 20_000i64;
    let publisher = app.publish_in_background(total, 500);
    // One event every millisecond at most: far below the publishing rate.
    let mut got = Vec::new();
    let read_all = async {
        while let Some(event) = slow.read_event().await {
            if event.event == "observation" {
                got.push(event.id.expect("id"));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    assert!(
        tokio::time::timeout(Duration::from_secs(90), read_all)
            .await
            .is_ok(),
        "the slow stream was never cut off"
    );
    publisher.await.expect("publisher");
    assert!(slow.error.is_some(), "aborted, not ended cleanly");
    assert!(
        !got.is_empty() && (got.len() as i64) < total,
        "cut off after {} events",
        got.len()
    );
    assert!(
        got.iter().zip(1..).all(|(id, n)| *id == n),
        "no gap before the cut"
    );
    let last = *got.last().expect("an id");
    let mut resumed = h2_stream(&app, &mut send, &[("last-event-id", &last.to_string())]).await;
    let rest = ids(&resumed.observations((total - last) as usize, WAIT).await);
    assert_eq!(rest, (last + 1..=total).collect::<Vec<_>>());
}

#[tokio::test]
async fn shutdown_ends_h2_streams_with_a_final_event_and_stops_the_server() {
    let app = spawn_tls().await;
    let mut send = h2_connection(&app, 65_535).await;
    let mut client = h2_stream(&app, &mut send, &[]).await;
    client.next_of("connection", WAIT).await.expect("connected");
    app.shutdown.cancel();
    let last = client
        .next_of("shutdown", WAIT)
        .await
        .expect("shutdown event");
    assert_eq!(last.json()["reason"], "server shutting down");
    assert_eq!(client.next_event(WAIT).await, None, "then the stream ends");
    assert!(client.error.is_none(), "cleanly: {:?}", client.error);
    let stopped = tokio::time::timeout(WAIT, app.handle).await;
    assert!(
        matches!(stopped, Ok(Ok(Ok(())))),
        "server stopped cleanly: {stopped:?}"
    );
}

/// HTTP/2 has no idle timeout of its own: a connection with no request in flight for the head
/// timeout is closed, and one with an open stream is not, however quiet.
/// One `GET /health` over `conn`; the response head.
async fn health_over(conn: &mut TlsStream<TcpStream>) -> String {
    conn.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("send");
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(WAIT, conn.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(n > 0, "closed before an answer");
        answer.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn an_idle_keep_alive_tls_connection_makes_room_for_a_new_one() {
    let app = spawn_tls_app_with(|s| s.server.as_mut().expect("server").max_connections = 3).await;
    // Every place holds a connection that has been answered and now idles.
    let mut idle = Vec::new();
    for _ in 0..3 {
        let mut conn = tls_connect(&app, &[b"http/1.1"]).await;
        assert!(health_over(&mut conn).await.starts_with("HTTP/1.1 200"));
        idle.push(conn);
    }
    // A new connection is served: the idle one that waited longest is closed for it.
    let mut fresh = tls_connect(&app, &[b"http/1.1"]).await;
    assert!(health_over(&mut fresh).await.starts_with("HTTP/1.1 200"));
    let mut buf = [0u8; 16];
    let first = tokio::time::timeout(WAIT, idle[0].read(&mut buf)).await;
    assert!(
        matches!(first, Ok(Ok(0) | Err(_))),
        "the longest idle connection is closed: {first:?}"
    );
}

#[tokio::test]
async fn an_idle_h2_connection_is_closed_but_a_quiet_stream_is_not() {
    let app = spawn_tls_app_with(|s| {
        let server = s.server.as_mut().expect("server");
        server.head_timeout = Duration::from_secs(1);
        server.heartbeat = Duration::from_secs(60);
    })
    .await;
    let mut send = h2_connection(&app, 65_535).await;
    let mut client = h2_stream(&app, &mut send, &[]).await;
    client.next_of("connection", WAIT).await.expect("connected");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    app.publish(&[obs("44009", 0)]).await;
    let event = client
        .next_of("observation", WAIT)
        .await
        .expect("still live");
    assert_eq!(event.id, Some(1));
    assert!(
        !send.is_closed(),
        "the connection stays while a stream is open"
    );
    drop(client);
    eventually(Duration::from_secs(5), "the idle connection closed", || {
        send.is_closed()
    })
    .await;
}

#[tokio::test]
async fn silent_and_slow_tls_clients_are_closed_after_the_head_timeout_and_counted() {
    let app = spawn_tls_app_with(|s| {
        s.server.as_mut().expect("server").head_timeout = Duration::from_secs(1);
    })
    .await;
    let before = counter(
        &app,
        "http_connections_closed_before_request_total",
        "tls_handshake_timeout",
    )
    .await;
    let mut silent = TcpStream::connect(app.addr).await.expect("connect");
    // A handshake begun and never finished: the first bytes of a TLS record, then nothing.
    let mut slow = TcpStream::connect(app.addr).await.expect("connect");
    slow.write_all(&[0x16, 0x03, 0x01, 0x00, 0xc8, 0x01])
        .await
        .expect("partial ClientHello");
    let started = tokio::time::Instant::now();
    for socket in [&mut silent, &mut slow] {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf))
            .await
            .expect("closed by the server");
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "closed, not answered: {read:?}"
        );
    }
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "not before the head timeout"
    );
    let after = counter(
        &app,
        "http_connections_closed_before_request_total",
        "tls_handshake_timeout",
    )
    .await;
    assert!(
        after > before,
        "a slow handshake is counted: {before} → {after}"
    );
    let health = app
        .client
        .get(app.url("/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn plain_http_and_garbage_on_the_tls_port_are_closed_cleanly() {
    let app = spawn_tls_app_with(|s| {
        s.server.as_mut().expect("server").head_timeout = Duration::from_secs(2);
    })
    .await;
    let plain =
        buoycast_testkit::raw_request(app.addr, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(plain.status, 400);
    assert!(
        String::from_utf8_lossy(&plain.body).contains("HTTPS"),
        "{}",
        String::from_utf8_lossy(&plain.body)
    );
    for garbage in [
        &b"\x00\x01\x02\x03garbage\r\n\r\n"[..],
        b"\x16\x03\x01\x00\x05hello",
        b"\x16\xff\xff\xff\xff\xff\xff\xff\xff",
    ] {
        let mut socket = TcpStream::connect(app.addr).await.expect("connect");
        socket.write_all(garbage).await.expect("send");
        let mut answer = Vec::new();
        let read = tokio::time::timeout(WAIT, socket.read_to_end(&mut answer)).await;
        assert!(read.is_ok(), "closed at once, not left open");
        assert!(
            !answer.starts_with(b"HTTP/"),
            "no HTTP answer to a broken handshake"
        );
    }
    let health = app
        .client
        .get(app.url("/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200, "the server is still serving");
    assert!(
        counter(
            &app,
            "http_connections_closed_before_request_total",
            "plain_http_on_tls"
        )
        .await
            >= 1.0
    );
}

#[tokio::test]
async fn a_flood_of_silent_tls_connections_makes_room_for_a_real_client() {
    let app = spawn_tls_app_with(|s| {
        s.server.as_mut().expect("server").max_connections = 4;
    })
    .await;
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(TcpStream::connect(app.addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A fifth connection: the oldest silent one is closed to make room.
    let response = app
        .client
        .get(app.url("/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(WAIT, silent[0].read(&mut buf))
        .await
        .expect("the oldest silent connection was closed");
    assert!(matches!(read, Ok(0) | Err(_)));
}

#[tokio::test]
async fn the_stream_limits_count_h2_streams() {
    let app = spawn_tls_app_with(|s| {
        s.server.as_mut().expect("server").max_streams_per_client = 3;
    })
    .await;
    let send = h2_connection(&app, 65_535).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut send = send.clone();
        let mut client = h2_stream(&app, &mut send, &[]).await;
        client.next_of("connection", WAIT).await.expect("connected");
        open.push(client);
    }
    let mut send4 = send.clone();
    let mut refused = h2_stream(&app, &mut send4, &[]).await;
    if refused.status == 200 {
        // An event-stream client is told to retry, in the stream itself.
        let first = refused.next_event(WAIT).await.expect("an event");
        assert_eq!(first.event, "unavailable", "a fourth stream is refused");
    }
    assert_eq!(
        app.hub_streams(),
        3,
        "a fourth stream from one address is refused"
    );
    drop(open.pop());
    eventually(WAIT, "a place freed", || app.hub_streams() == 2).await;
    let mut send5 = send.clone();
    let mut accepted = h2_stream(&app, &mut send5, &[]).await;
    accepted
        .next_of("connection", WAIT)
        .await
        .expect("connected");
}

// --- The binary: flags, and curl --http2 -----------------------------------------------------

const BIN: &str = env!("CARGO_BIN_EXE_buoycast");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn run_binary(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    let db = format!("sqlite://{}", dir.join("db").display());
    let listen = format!("127.0.0.1:{}", free_port());
    std::process::Command::new(BIN)
        .args(["serve", "--database-url", &db, "--listen", &listen])
        .args(args)
        .output()
        .expect("runs")
}

#[test]
fn tls_flags_come_in_pairs_and_bad_files_are_named() {
    let certs = TestCerts::generate();
    let dir = certs.dir.path();
    let cert = certs.cert.to_str().expect("path");
    let key = certs.key.to_str().expect("path");
    let fails = |args: &[&str], says: &[&str]| {
        let output = run_binary(args, dir);
        assert!(!output.status.success(), "{args:?} must fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        for s in says {
            assert!(stderr.contains(s), "{args:?}: {stderr}");
        }
    };
    fails(&["--tls-cert", cert], &["--tls-key"]);
    fails(&["--tls-key", key], &["--tls-cert"]);
    let missing = dir.join("missing.pem");
    let missing = missing.to_str().expect("path");
    fails(
        &["--tls-cert", missing, "--tls-key", key],
        &["--tls-cert", missing],
    );
    fails(
        &["--tls-cert", cert, "--tls-key", missing],
        &["--tls-key", missing],
    );
    // A key in place of the certificate, a certificate in place of the key.
    fails(
        &["--tls-cert", key, "--tls-key", key],
        &["--tls-cert", key, "no certificate"],
    );
    fails(
        &["--tls-cert", cert, "--tls-key", cert],
        &["--tls-key", cert, "no private key"],
    );
    // Another key than the certificate's.
    let other = TestCerts::generate();
    let other_key = other.key.to_str().expect("path");
    fails(
        &["--tls-cert", cert, "--tls-key", other_key],
        &["is not the key of the certificate", other_key, cert],
    );
}

#[tokio::test]
async fn curl_negotiates_h2_and_streams() {
    let curl = "/usr/bin/curl";
    assert!(
        std::path::Path::new(curl).exists(),
        "curl is needed (scripts/test installs it)"
    );
    let certs = TestCerts::generate();
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let db = format!("sqlite://{}", dir.path().join("db").display());
    let _server = KillOnDrop(
        std::process::Command::new(BIN)
            .args(["run", "--source", "none", "--publish-token", "curl-test"])
            .args([
                "--database-url",
                &db,
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .args(["--tls-cert", certs.cert.to_str().expect("path")])
            .args(["--tls-key", certs.key.to_str().expect("path")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the server starts"),
    );
    let client = certs.client();
    let base = format!("https://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = client.get(format!("{base}/health")).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let output = std::process::Command::new(curl)
        .args(["--http2", "--cacert", certs.ca.to_str().expect("path")])
        .args(["-sS", "-N", "-D", "-", "--max-time", "4"])
        .args(["-w", "\nhttp_version=%{http_version}\n"])
        .arg(format!("{base}{STREAM}"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("curl runs");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let published = client
        .post(format!("{base}/v1/observations"))
        .bearer_auth("curl-test")
        .json(&serde_json::json!([{
            "stationId": "44009",
            "timestamp": "2025-11-15T12:00:00.000Z",
            "waveHeightM": 1.5
        }]))
        .send()
        .await
        .expect("publish");
    assert!(published.status().is_success(), "{}", published.status());
    let output = tokio::task::spawn_blocking(move || output.wait_with_output())
        .await
        .expect("join")
        .expect("curl output");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.starts_with("HTTP/2 200"), "{text}");
    assert!(text.contains("content-type: text/event-stream"), "{text}");
    assert!(text.contains("event: connection"), "{text}");
    assert!(text.contains("event: observation"), "{text}");
    assert!(text.contains("\"stationId\":\"44009\""), "{text}");
    assert!(text.contains("http_version=2"), "{text}");
}

/// A child process killed when dropped, so that a failing test leaves no server behind.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
