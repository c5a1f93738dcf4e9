//! The front door under hostile or broken clients, over raw sockets, each bounded in time:
//! silent and slow (slowloris) connections, idle keep-alive, an idle-connection flood under a
//! lowered open-file limit, huge and over-long heads, request smuggling, pipelining, a missing
//! `Host`, uploads on a stream, per-address caps, and shutdown with half-sent heads.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use buoycast_testkit::{TestApp, raw_request, spawn_app_with};

const STREAM: &str = "/v1/observations/stream";

/// An app whose connections get `head_timeout` to send a request head.
async fn app_with_head_timeout(head_timeout: Duration) -> TestApp {
    spawn_app_with(|s| s.server.as_mut().expect("server").head_timeout = head_timeout).await
}

/// Reads until the peer closes (`Ok(bytes)`) or `within` passes (`Err(bytes so far)`).
async fn read_until_closed(conn: &mut TcpStream, within: Duration) -> Result<Vec<u8>, Vec<u8>> {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(seen),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => return Err(seen),
        }
    }
}

/// Reads until `needle` has arrived (or panics after 10 s).
async fn read_until(conn: &mut TcpStream, needle: &[u8]) -> Vec<u8> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(needle.len()).any(|w| w == needle) {
        let n = tokio::time::timeout_at(deadline, conn.read(&mut buf))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{:?} did not arrive; got {:?}",
                    String::from_utf8_lossy(needle),
                    String::from_utf8_lossy(&seen)
                )
            })
            .expect("read");
        assert!(n > 0, "closed before {:?}", String::from_utf8_lossy(needle));
        seen.extend_from_slice(&buf[..n]);
    }
    seen
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

#[tokio::test]
async fn silent_connections_are_closed_after_the_head_timeout() {
    let app = app_with_head_timeout(Duration::from_secs(1)).await;
    let mut silent = TcpStream::connect(app.addr).await.expect("connect");
    let closed = read_until_closed(&mut silent, Duration::from_secs(5)).await;
    assert_eq!(closed, Ok(Vec::new()), "a silent connection stays open");
}

#[tokio::test]
async fn slowloris_heads_are_closed_on_the_stream_and_the_rest_paths() {
    let app = app_with_head_timeout(Duration::from_secs(1)).await;
    for first_line in [
        format!("GET {STREAM} HTTP/1.1\r\n"),
        "GET /v1/stations HTTP/1.1\r\n".to_owned(),
    ] {
        let mut conn = TcpStream::connect(app.addr).await.expect("connect");
        conn.write_all(first_line.as_bytes()).await.expect("send");
        let started = Instant::now();
        // One header byte every 200 ms: the head never completes.
        let mut closed = false;
        for byte in b"X-Slow: abcdefghijklmnopqrstuvwxyz"
            .iter()
            .cycle()
            .take(40)
        {
            if conn.write_all(&[*byte]).await.is_err() {
                closed = true;
                break;
            }
            let mut probe = [0u8; 64];
            match tokio::time::timeout(Duration::from_millis(200), conn.read(&mut probe)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    closed = true;
                    break;
                }
                Ok(Ok(_)) | Err(_) => {}
            }
        }
        assert!(
            closed,
            "{first_line:?}: a trickled head kept the connection for 8 s"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{first_line:?}: closed only after {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_head_timeout() {
    let app = app_with_head_timeout(Duration::from_secs(1)).await;
    let mut conn = TcpStream::connect(app.addr).await.expect("connect");
    conn.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("send");
    read_until(&mut conn, b"\"ok\"").await;
    let closed = read_until_closed(&mut conn, Duration::from_secs(5)).await;
    assert!(closed.is_ok(), "an idle keep-alive connection stays open");
}

#[tokio::test]
async fn heads_over_8_kib_and_too_many_headers_get_431_on_both_paths() {
    let app = spawn_app_with(|_| {}).await;
    let big = "a".repeat(9 * 1024);
    let many: String = (0..100).map(|i| format!("X-H{i}: v\r\n")).collect();
    for path in [STREAM, "/health"] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
        let response = raw_request(app.addr, request.as_bytes()).await;
        assert_eq!(response.status, 431, "{path}: a 9 KiB head");
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{many}\r\n");
        let response = raw_request(app.addr, request.as_bytes()).await;
        assert_eq!(response.status, 431, "{path}: 100 headers");
        let body = String::from_utf8_lossy(&response.body);
        assert!(
            body.contains("request_header_fields_too_large"),
            "{path}: {body}"
        );
        assert_eq!(
            response.header("x-request-id").len(),
            1,
            "{path}: a request id"
        );
    }
    // A malformed head gets the JSON error too, and a request id; and both are counted.
    for malformed in [
        &b"GET / HTTP/1.2\r\nHost: x\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
    ] {
        let response = raw_request(app.addr, malformed).await;
        assert_eq!(
            response.status,
            400,
            "{}",
            String::from_utf8_lossy(malformed)
        );
        let body = String::from_utf8_lossy(&response.body);
        assert!(body.contains("\"bad_request\""), "{body}");
        assert_eq!(response.header("x-request-id").len(), 1);
    }
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for reason in ["too_many_headers", "malformed_head", "head_too_large"] {
        assert!(
            metrics.contains(&format!("reason=\"{reason}\"")),
            "{reason} is counted: {metrics}"
        );
    }
}

#[tokio::test]
async fn a_request_without_host_or_with_a_bad_one_is_refused_on_both_paths() {
    let app = spawn_app_with(|_| {}).await;
    for path in [STREAM, "/health"] {
        for hosts in [
            "",
            "Host: a\r\nHost: b\r\n",
            "Host: a b\r\n",
            "Host: a/b\r\n",
            "Host: x@evil\r\n",
        ] {
            let request =
                format!("GET {path} HTTP/1.1\r\n{hosts}Accept: */*\r\nConnection: close\r\n\r\n");
            let response = raw_request(app.addr, request.as_bytes()).await;
            assert_eq!(response.status, 400, "{path} with {hosts:?}");
            let body = String::from_utf8_lossy(&response.body);
            assert!(
                body.contains("\"bad_request\""),
                "{path} with {hosts:?}: {body}"
            );
        }
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: example.com:8080\r\nConnection: close\r\n\r\n");
        let response = raw_request(app.addr, request.as_bytes()).await;
        assert_eq!(response.status, 200, "{path} with a host and port");
    }
}

#[tokio::test]
async fn a_smuggled_request_behind_a_stream_get_is_never_served() {
    let app = spawn_app_with(|_| {}).await;
    // Content-Length and Transfer-Encoding together, with a second request hidden in the body.
    let smuggle = format!(
        "GET {STREAM} HTTP/1.1\r\nHost: x\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n\
         0\r\n\r\nGET /v1/stations HTTP/1.1\r\nHost: x\r\n\r\n"
    );
    let mut conn = TcpStream::connect(app.addr).await.expect("connect");
    conn.write_all(smuggle.as_bytes()).await.expect("send");
    let seen = match read_until_closed(&mut conn, Duration::from_secs(5)).await {
        Ok(seen) | Err(seen) => seen,
    };
    let text = String::from_utf8_lossy(&seen);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert_eq!(count(&seen, b"HTTP/1.1 "), 1, "a second response: {text}");
    assert!(
        !text.contains("\"stations\""),
        "the hidden request was served: {text}"
    );
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let app = spawn_app_with(|_| {}).await;
    let mut conn = TcpStream::connect(app.addr).await.expect("connect");
    conn.write_all(
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/stations HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /no/such HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await
    .expect("send");
    let seen = read_until_closed(&mut conn, Duration::from_secs(5))
        .await
        .expect("closed after the last request");
    let text = String::from_utf8_lossy(&seen);
    let statuses: Vec<&str> = text
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &text[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, ["200", "200", "404"], "{text}");
    let (ok, stations) = (
        text.find("\"ok\"").expect("health"),
        text.find("\"stations\"").expect("stations"),
    );
    assert!(ok < stations, "answered out of order");
}

#[tokio::test]
async fn a_stream_client_that_uploads_after_its_request_is_disconnected() {
    let app = spawn_app_with(|_| {}).await;
    let mut conn = TcpStream::connect(app.addr).await.expect("connect");
    conn.write_all(
        format!("GET {STREAM} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n").as_bytes(),
    )
    .await
    .expect("send");
    read_until(&mut conn, b"event: connection").await;
    // Then it sends more and more bytes: the server closes instead of reading them.
    let junk = vec![b'x'; 64 * 1024];
    let mut sent = 0usize;
    let closed_after = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if conn.write_all(&junk).await.is_err() {
                return sent;
            }
            sent += junk.len();
            let mut probe = [0u8; 4096];
            if let Ok(Ok(0) | Err(_)) =
                tokio::time::timeout(Duration::from_millis(20), conn.read(&mut probe)).await
            {
                return sent;
            }
        }
    })
    .await
    .expect("the connection was closed");
    assert!(
        closed_after < 64 * 1024 * 1024,
        "{closed_after} bytes accepted before the close"
    );
}

#[tokio::test]
async fn a_stream_get_with_bytes_in_the_same_write_is_refused_and_closed() {
    let app = spawn_app_with(|_| {}).await;
    for extra in [
        "\r\nX",
        "Content-Length: 5\r\n\r\nhello",
        "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "\r\nGET /v1/stations HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let mut conn = TcpStream::connect(app.addr).await.expect("connect");
        // The head and what follows it in one write: they arrive together.
        conn.write_all(
            format!("GET {STREAM} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n{extra}")
                .as_bytes(),
        )
        .await
        .expect("send");
        // Then it goes on uploading: the server must not keep the connection for it.
        let _ = conn.write_all(&[b'x'; 4096]).await;
        let seen = read_until_closed(&mut conn, Duration::from_secs(5))
            .await
            .unwrap_or_else(|seen| panic!("still open: {}", String::from_utf8_lossy(&seen)));
        let text = String::from_utf8_lossy(&seen);
        assert!(text.starts_with("HTTP/1.1 400"), "{extra:?}: {text}");
        assert!(text.contains("nothing may follow it"), "{extra:?}: {text}");
        assert_eq!(
            count(&seen, b"HTTP/1.1 "),
            1,
            "{extra:?}: a second response: {text}"
        );
    }
}

#[tokio::test]
async fn one_address_holds_at_most_its_share_of_connections() {
    let app = spawn_app_with(|s| {
        let server = s.server.as_mut().expect("server");
        server.max_connections_per_address = 5;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(TcpStream::connect(app.addr).await.expect("connect"));
    }
    // The server has taken the five (a request on a sixth shows it).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = raw_request(app.addr, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), [&b"5"[..]]);
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let served = raw_request(app.addr, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(served.status, 200, "places free again once closed");
}

#[tokio::test]
async fn an_http_1_0_stream_is_not_announced_as_kept_alive() {
    for lean_streams in [true, false] {
        let app =
            spawn_app_with(|s| s.server.as_mut().expect("server").lean_streams = lean_streams)
                .await;
        let response = raw_request(
            app.addr,
            format!("GET {STREAM} HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!(response.status, 200);
        let connection = response.header("connection");
        assert!(
            connection
                .iter()
                .all(|v| !v.eq_ignore_ascii_case(b"keep-alive")),
            "lean {lean_streams}: an HTTP/1.0 body without a length ends with the connection: {connection:?}"
        );
        assert!(
            response.header("transfer-encoding").is_empty(),
            "no chunked in HTTP/1.0"
        );
    }
}

#[tokio::test]
async fn a_trusted_proxy_is_not_held_to_one_address_share_of_connections() {
    let app = spawn_app_with(|s| {
        let server = s.server.as_mut().expect("server");
        server.max_connections_per_address = 3;
        server.trusted_proxies =
            buoycast::domain::TrustedProxies::parse("127.0.0.2/32").expect("ranges");
    })
    .await;
    let from = |last: u8| async move {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::from(([127, 0, 0, last], 0)))
            .expect("bind a source address");
        socket.connect(app.addr).await.expect("connect")
    };
    // Six connections of the proxy, each for another client, all open at once.
    let mut proxied = Vec::new();
    for i in 0..6u8 {
        let mut conn = from(2).await;
        conn.write_all(
            format!("GET /health HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.{i}\r\n\r\n")
                .as_bytes(),
        )
        .await
        .expect("send");
        let answer = read_until(&mut conn, b"\r\n\r\n").await;
        assert!(
            answer.starts_with(b"HTTP/1.1 200"),
            "connection {i} through the proxy: {}",
            String::from_utf8_lossy(&answer)
        );
        proxied.push(conn);
    }
    // An address that is not a proxy still gets its share only.
    let mut own = Vec::new();
    for _ in 0..3 {
        own.push(from(3).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = from(3).await;
    fourth
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("send");
    let refused = read_until(&mut fourth, b"\r\n\r\n").await;
    assert!(
        refused.starts_with(b"HTTP/1.1 503"),
        "{}",
        String::from_utf8_lossy(&refused)
    );
}

#[tokio::test]
async fn an_event_stream_client_refused_at_the_door_is_told_to_come_back() {
    let app = spawn_app_with(|s| {
        let server = s.server.as_mut().expect("server");
        server.max_connections_per_address = 2;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(TcpStream::connect(app.addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // An EventSource gives up for good on a 503: it is answered with an event stream instead.
    let refused = raw_request(
        app.addr,
        b"GET /v1/observations/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n",
    )
    .await;
    assert_eq!(refused.status, 200);
    assert_eq!(refused.header("content-type"), [&b"text/event-stream"[..]]);
    let body = String::from_utf8(refused.body.clone()).expect("UTF-8");
    let retry: u64 = body
        .strip_prefix("retry: ")
        .and_then(|rest| rest.split('\n').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no retry line first: {body:?}"));
    assert!((3750..=6250).contains(&retry), "retry {retry}");
    assert!(body.contains("event: unavailable\ndata: {"), "{body:?}");
    assert!(
        body.contains("\"code\":\"too_many_connections\""),
        "{body:?}"
    );
    assert!(
        body.contains(&format!("\"retryAfterMs\":{retry}")),
        "{body:?}"
    );
    // Anything else is still a 503 (curl, a REST read, a stream request accepting anything).
    let plain = raw_request(
        app.addr,
        b"GET /v1/observations/stream HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
    )
    .await;
    assert_eq!(plain.status, 503);
    drop(held);
}

#[tokio::test]
async fn half_sent_heads_do_not_hold_up_shutdown() {
    let app = spawn_app_with(|s| {
        let server = s.server.as_mut().expect("server");
        server.shutdown_grace = Duration::from_secs(20);
        server.head_timeout = Duration::from_secs(30);
    })
    .await;
    let mut halves = Vec::new();
    for _ in 0..3 {
        let mut conn = TcpStream::connect(app.addr).await.expect("connect");
        conn.write_all(b"GET /health HTTP/1.1\r\nHost")
            .await
            .expect("send");
        halves.push(conn);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    app.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), app.handle)
        .await
        .expect("stopped well within the 20 s grace period")
        .expect("joined")
        .expect("stopped cleanly");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );
}

/// The binary, with at most `files` open files (soft and hard), serving on `port`.
fn start_with_file_limit(files: u32, port: u16, db: &std::path::Path) -> Child {
    Command::new("prlimit")
        .arg(format!("--nofile={files}:{files}"))
        .arg(env!("CARGO_BIN_EXE_buoycast"))
        .args(["run", "--source", "none", "--publish-token", "flood-token"])
        .args(["--head-timeout-secs", "30"])
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--database-url")
        .arg(format!("sqlite://{}", db.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting buoycast under prlimit (util-linux)")
}

async fn get(client: &reqwest::Client, addr: SocketAddr, path: &str) -> reqwest::Result<u16> {
    client
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .map(|r| r.status().as_u16())
}

/// Kills the child process when dropped (a failed assertion must not leave it running).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server limited to 400 open files, up and answering; a client that opens a connection per
/// request.
async fn flood_server() -> (Killed, tempfile::TempDir, SocketAddr, reqwest::Client) {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let server = Killed(start_with_file_limit(
        400,
        port,
        &dir.path().join("flood.db"),
    ));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&client, addr, "/health").await.ok() != Some(200) {
        assert!(Instant::now() < deadline, "the server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (server, dir, addr, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_cannot_stop_health_a_new_stream_or_a_rest_read() {
    let (_server, _dir, addr, client) = flood_server().await;
    // More connections than the process may open files, all from one address, each after one
    // answered request: idle keep-alive connections, not silent ones.
    let mut idle = Vec::new();
    for _ in 0..500u32 {
        let Ok(mut conn) = TcpStream::connect(addr).await else {
            continue;
        };
        if conn
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .is_err()
        {
            continue;
        }
        let mut buf = [0u8; 1024];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(2), conn.read(&mut buf)).await
            && n > 0
        {
            idle.push(conn);
        }
    }
    assert!(
        idle.len() > 300,
        "idle keep-alive connections: {}",
        idle.len()
    );
    for round in 0..5 {
        assert_eq!(
            get(&client, addr, "/health").await.ok(),
            Some(200),
            "round {round}: /health"
        );
        assert_eq!(
            get(&client, addr, "/v1/observations?after=0").await.ok(),
            Some(200),
            "round {round}: a REST read"
        );
    }
    let mut stream = TcpStream::connect(addr).await.expect("stream");
    stream
        .write_all(
            format!("GET {STREAM} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
                .as_bytes(),
        )
        .await
        .expect("stream request");
    read_until(&mut stream, b"event: connection").await;
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_flood_cannot_stop_health_an_open_stream_or_a_rest_read() {
    let (_server, _dir, addr, client) = flood_server().await;
    // A stream opened before the flood.
    let mut stream = TcpStream::connect(addr).await.expect("stream");
    stream
        .write_all(
            format!("GET {STREAM} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
                .as_bytes(),
        )
        .await
        .expect("stream request");
    read_until(&mut stream, b"event: connection").await;

    // Twice as many idle connections as the process may open files, from several addresses.
    let mut idle = Vec::new();
    for i in 0..800u32 {
        let source = std::net::Ipv4Addr::new(127, 0, 0, 2 + (i % 8) as u8);
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::from((source, 0)))
            .expect("bind a source address");
        if let Ok(conn) = socket.connect(addr).await {
            idle.push(conn);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    for round in 0..5 {
        assert_eq!(
            get(&client, addr, "/health").await.ok(),
            Some(200),
            "round {round}: /health"
        );
        assert_eq!(
            get(&client, addr, "/v1/observations?after=0").await.ok(),
            Some(200),
            "round {round}: a REST read"
        );
    }
    // The open stream still delivers.
    let published = client
        .post(format!("http://{addr}/v1/observations"))
        .bearer_auth("flood-token")
        .json(&serde_json::json!({"stationId": "FLOOD", "timestamp": "2025-11-15T12:00:00Z", "waveHeightM": 1.0}))
        .send()
        .await
        .expect("publish during the flood");
    assert_eq!(published.status(), 201);
    read_until(&mut stream, b"\"stationId\":\"FLOOD\"").await;
    drop(idle);
}
