//! The SSE endpoint: framing, fan-out, resume without gap or duplicate, filters, limits.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use buoycast::hub::HubConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use buoycast_testkit::{SseEvent, obs, spawn_app_with};

/// Defines a test run once against each stream path: `lean` (the lean HTTP/1.1 path, the
/// default) and `hyper` (`--hyper-streams`).
macro_rules! on_both_paths {
    ($(#[doc = $doc:expr])* async fn $name:ident($lean:ident) $body:block) => {
        $(#[doc = $doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn check($lean: bool) $body

            #[tokio::test]
            async fn lean() {
                check(true).await;
            }

            #[tokio::test]
            async fn hyper() {
                check(false).await;
            }
        }
    };
}

/// Defines a test run once on each path a stream can take: the two plain HTTP/1.1 paths of
/// [`on_both_paths!`], and `h2`: TLS with HTTP/2 (ALPN `h2`), every stream of the test on one
/// connection.
macro_rules! on_all_paths {
    ($(#[doc = $doc:expr])* async fn $name:ident($path:ident) $body:block) => {
        $(#[doc = $doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn check($path: StreamPath) $body

            #[tokio::test]
            async fn lean() {
                check(StreamPath::Lean).await;
            }

            #[tokio::test]
            async fn hyper() {
                check(StreamPath::Hyper).await;
            }

            #[tokio::test]
            async fn h2() {
                check(StreamPath::H2).await;
            }
        }
    };
}

/// The path a stream takes through the front door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamPath {
    /// Plain HTTP/1.1, the lean writer.
    Lean,
    /// Plain HTTP/1.1 through hyper (`--hyper-streams`).
    Hyper,
    /// TLS and HTTP/2.
    H2,
}

impl From<bool> for StreamPath {
    fn from(lean: bool) -> Self {
        if lean { Self::Lean } else { Self::Hyper }
    }
}

/// A server whose streams take `path`, adjusted by `adjust`.
async fn spawn_on_path(
    path: impl Into<StreamPath>,
    adjust: impl FnOnce(&mut buoycast::app::Settings),
) -> buoycast_testkit::TestApp {
    let path = path.into();
    let adjust = |s: &mut buoycast::app::Settings| {
        s.server.as_mut().expect("server").lean_streams = path == StreamPath::Lean;
        adjust(s);
    };
    if path == StreamPath::H2 {
        let app = buoycast_testkit::spawn_tls_app_with(adjust).await;
        let probe = app
            .client
            .get(app.url("/health"))
            .send()
            .await
            .expect("health");
        assert_eq!(
            probe.version(),
            reqwest::Version::HTTP_2,
            "ALPN chose HTTP/2"
        );
        return app;
    }
    spawn_app_with(adjust).await
}

const WAIT: Duration = Duration::from_secs(10);
const STREAM: &str = "/v1/observations/stream";

fn ids(events: &[SseEvent]) -> Vec<i64> {
    events
        .iter()
        .map(|e| e.id.expect("observation with id"))
        .collect()
}

on_both_paths! {
    async fn a_stream_starts_with_retry_and_connection_and_has_sse_headers(lean) {
        let app = spawn_on_path(lean, |_| {}).await;
        let mut client = app.stream(STREAM, &[]).await;
        assert_eq!(client.status, 200);
        let h = &client.headers;
        assert_eq!(h["content-type"], "text/event-stream");
        assert_eq!(h["cache-control"], "no-cache");
        assert_eq!(h["connection"], "keep-alive");
        assert_eq!(h["x-accel-buffering"], "no");
        let first = client.next_event(WAIT).await.expect("connection event");
        assert_eq!(client.retry, Some(2000));
        assert_eq!(first.event, "connection");
        assert_eq!(
            first.id,
            Some(0),
            "the position of a stream on an empty log"
        );
        let data = first.json();
        assert_eq!(data["status"], "connected");
        assert!(data["timestamp"].as_str().expect("present").ends_with('Z'));
    }
}

on_all_paths! {
    async fn observations_carry_the_seq_as_id_and_the_contract_fields(lean) {
        let app = spawn_on_path(lean, |_| {}).await;
        let mut client = app.stream(STREAM, &[]).await;
        client.next_of("connection", WAIT).await.expect("connected");
        app.publish(&[obs("44009", 0)]).await;
        let event = client
            .next_of("observation", WAIT)
            .await
            .expect("observation");
        assert_eq!(event.id, Some(1));
        let data = event.json();
        assert_eq!(data["stationId"], "44009");
        assert_eq!(data["timestamp"], "2025-11-15T12:00:00.000Z");
        assert_eq!(data["waveHeightM"], 0.0);
        assert_eq!(data["pressureHpa"], 1013.2);
        assert!(data["windSpeedMps"].is_null());
        assert!(
            data.get("tideFt").is_some(),
            "every standard column is present"
        );
    }
}

on_all_paths! {
    async fn fifty_clients_receive_the_same_events_in_order_exactly_once(lean) {
        let app = spawn_on_path(lean, |_| {}).await;
        let mut clients = Vec::new();
        for _ in 0..50 {
            let mut c = app.stream(STREAM, &[]).await;
            c.next_of("connection", WAIT).await.expect("connected");
            clients.push(c);
        }
        let total = 300;
        let publisher = {
            let (store, bus) = (app.store.clone(), app.bus.clone());
            tokio::spawn(async move {
                for i in 0..total {
                    let station = ["44009", "46042", "41002"][i as usize % 3];
                    buoycast::ingest::store_and_publish(
                        store.as_ref(),
                        bus.as_ref(),
                        &[obs(station, i)],
                    )
                    .await
                    .expect("publish");
                }
            })
        };
        let readers: Vec<_> = clients
            .into_iter()
            .map(|mut c| tokio::spawn(async move { ids(&c.observations(total as usize, WAIT).await) }))
            .collect();
        publisher.await.expect("publisher");
        let expected: Vec<i64> = (1..=total).collect();
        for reader in readers {
            assert_eq!(reader.await.expect("reader"), expected);
        }
    }
}

on_all_paths! {
    async fn resume_with_last_event_id_while_publishing_has_no_gap_and_no_duplicate(lean) {
        let app = spawn_on_path(lean, |_| {}).await;
        let total = 600i64;
        // Connected (and subscribed) before anything is published, so it starts at seq 1.
        let mut client = app.stream(STREAM, &[]).await;
        client.next_of("connection", WAIT).await.expect("connected");
        let running = Arc::new(AtomicBool::new(true));
        let publisher = {
            let (store, bus, running) = (app.store.clone(), app.bus.clone(), running.clone());
            tokio::spawn(async move {
                for i in 0..total {
                    buoycast::ingest::store_and_publish(
                        store.as_ref(),
                        bus.as_ref(),
                        &[obs("44009", i)],
                    )
                    .await
                    .expect("publish");
                    if i % 10 == 0 {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
                running.store(false, Ordering::SeqCst);
            })
        };
        let mut seen = Vec::new();
        let mut reconnects = 0;
        // Read a few events, drop the connection, reconnect from the last id, several times, while
        // the publisher keeps going.
        loop {
            let batch = client.observations(25, WAIT).await;
            seen.extend(ids(&batch));
            drop(client);
            reconnects += 1;
            let last = seen.last().copied().expect("some events").to_string();
            if seen.len() as i64 >= total - 100 || !running.load(Ordering::SeqCst) {
                client = app.stream(STREAM, &[("last-event-id", &last)]).await;
                break;
            }
            tokio::time::sleep(Duration::from_millis(15)).await;
            // Alternate between the header and the query parameter.
            client = if reconnects % 2 == 0 {
                app.stream(STREAM, &[("last-event-id", &last)]).await
            } else {
                app.stream(&format!("{STREAM}?lastEventId={last}"), &[])
                    .await
            };
        }
        publisher.await.expect("publisher");
        let rest = total as usize - seen.len();
        seen.extend(ids(&client.observations(rest, WAIT).await));
        assert!(reconnects >= 3, "the test reconnected {reconnects} times");
        assert_eq!(seen, (1..=total).collect::<Vec<_>>());
    }
}

on_all_paths! {
    async fn since_replays_history_from_a_time_then_goes_live(lean) {
        let app = spawn_on_path(lean, |_| {}).await;
        app.publish(&(0..10).map(|i| obs("44009", i * 10)).collect::<Vec<_>>())
            .await;
        // 12:50 onwards: minutes 50..90 → seqs 6..=10.
        let mut client = app
            .stream(&format!("{STREAM}?since=2025-11-15T12:50:00Z"), &[])
            .await;
        let replayed = client.observations(5, WAIT).await;
        assert_eq!(ids(&replayed), vec![6, 7, 8, 9, 10]);
        app.publish(&[obs("44009", 200)]).await;
        assert_eq!(
            client.next_of("observation", WAIT).await.and_then(|e| e.id),
            Some(11)
        );
    }
}

on_all_paths! {
    async fn station_filter_applies_to_replay_and_live(lean) {
        let app = spawn_on_path(lean, |_| {}).await;
        app.publish(&[obs("44009", 0), obs("46042", 1), obs("41002", 2)])
            .await;
        let mut client = app
            .stream(&format!("{STREAM}?stations=46042,41002&lastEventId=0"), &[])
            .await;
        let replayed = client.observations(2, WAIT).await;
        assert_eq!(ids(&replayed), vec![2, 3]);
        app.publish(&[obs("44009", 3), obs("41002", 4)]).await;
        let live = client
            .next_of("observation", WAIT)
            .await
            .expect("live event");
        assert_eq!(
            (live.id, live.json()["stationId"].clone()),
            (Some(5), "41002".into())
        );
    }
}

on_all_paths! {
    async fn a_resume_point_beyond_the_replay_bound_says_reset(lean) {
        let app = spawn_on_path(lean, |s| s.server.as_mut().expect("server").max_replay = 10).await;
        app.publish(&(0..30).map(|i| obs("44009", i)).collect::<Vec<_>>())
            .await;
        let mut client = app.stream(STREAM, &[("last-event-id", "5")]).await;
        let hello = client.next_of("connection", WAIT).await.expect("connected");
        assert_eq!(
            hello.id,
            Some(5),
            "the connection id is the resume point asked for"
        );
        let reset = client.next_event(WAIT).await.expect("reset event");
        assert_eq!(reset.event, "reset");
        assert_eq!(
            reset.id,
            Some(20),
            "the reset id is where the stream goes on"
        );
        assert_eq!(reset.json()["oldestSeq"], 21);
        assert_eq!(reset.json()["reason"], "replay_limit");
        assert_eq!(
            ids(&client.observations(10, WAIT).await),
            (21..=30).collect::<Vec<_>>()
        );

        // An id the log has never reached (say, from before a wipe) also says so.
        let mut ahead = app.stream(STREAM, &[("last-event-id", "999")]).await;
        let hello = ahead.next_of("connection", WAIT).await.expect("connected");
        assert_eq!(hello.id, Some(999));
        let reset = ahead.next_event(WAIT).await.expect("reset event");
        assert_eq!(
            (reset.event.as_str(), reset.json()["reason"].as_str()),
            ("reset", Some("unknown_event_id"))
        );
        assert_eq!(reset.id, Some(30), "the log's head, below the id asked for");
        assert_eq!(reset.json()["oldestSeq"], 31);
        app.publish(&[obs("44009", 100)]).await;
        assert_eq!(
            ahead.next_of("observation", WAIT).await.and_then(|e| e.id),
            Some(31)
        );
    }
}

on_all_paths! {
    async fn heartbeats_arrive_at_the_configured_interval(lean) {
        let app = spawn_on_path(lean, |s| {
            s.server.as_mut().expect("server").heartbeat = Duration::from_millis(300)
        })
        .await;
        let mut client = app.stream(STREAM, &[]).await;
        let started = std::time::Instant::now();
        for _ in 0..2 {
            let beat = client
                .next_of("heartbeat", Duration::from_secs(3))
                .await
                .expect("heartbeat");
            assert!(beat.json()["timestamp"].is_string());
        }
        assert!(started.elapsed() >= Duration::from_millis(500));
    }
}

on_both_paths! {
    async fn invalid_requests_get_json_errors(lean) {
        let app = spawn_on_path(lean, |_| {}).await;
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], u16, &'a str);
        let cases: [Case; 6] = [
            (STREAM, &[("last-event-id", "abc")], 400, "bad_request"),
            (
                "/v1/observations/stream?lastEventId=-3",
                &[],
                400,
                "bad_request",
            ),
            (
                "/v1/observations/stream?stations=44009;DROP",
                &[],
                400,
                "bad_request",
            ),
            (
                "/v1/observations/stream?since=yesterday",
                &[],
                400,
                "bad_request",
            ),
            (
                STREAM,
                &[("accept", "application/json")],
                406,
                "not_acceptable",
            ),
            ("/v1/nothing-here", &[], 404, "not_found"),
        ];
        for (path, headers, status, code) in cases {
            let client = app.stream(path, headers).await;
            assert_eq!(client.status, status, "{path} {headers:?}");
            assert_eq!(client.headers["content-type"], "application/json");
            let body: serde_json::Value =
                serde_json::from_str(&client.body_text).expect("JSON error body");
            assert_eq!(body["error"]["code"], code, "{path}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );
        }
        let response = app.client.post(app.url(STREAM)).send().await.expect("POST");
        assert_eq!(response.status(), 405);
        let allow = response.headers()["allow"]
            .to_str()
            .expect("allow")
            .to_owned();
        assert!(allow.contains("GET") && allow.contains("HEAD"), "{allow}");
        let body: serde_json::Value = response.json().await.expect("JSON");
        assert_eq!(body["error"]["code"], "method_not_allowed");
    }
}

on_both_paths! {
    /// An `EventSource` gives up for good on any status but 200 (SPEC §4): a transient refusal
    /// of a request whose `Accept` names `text/event-stream` is an event stream that ends.
    async fn a_full_stream_limit_tells_an_event_stream_client_to_come_back(lean) {
        let app = spawn_on_path(lean, |s| s.server.as_mut().expect("server").max_streams = 1).await;
        let mut open = app.stream(STREAM, &[]).await;
        open.next_of("connection", WAIT).await.expect("connected");
        let accept = [("accept", "text/event-stream")];
        let mut retries = BTreeSet::new();
        for _ in 0..5 {
            let mut refused = app.stream(STREAM, &accept).await;
            assert_eq!(refused.status, 200, "{}", refused.body_text);
            assert_eq!(refused.headers["content-type"], "text/event-stream");
            let told = refused.next_event(WAIT).await.expect("one event");
            let retry = refused.retry.expect("a retry line");
            assert!((3750..=6250).contains(&retry), "retry {retry}");
            retries.insert(retry);
            assert_eq!(told.event, "unavailable");
            assert_eq!(told.id, None, "the refusal must not move the client's resume point");
            let data = told.json();
            assert_eq!(data["code"], "too_many_streams");
            assert_eq!(data["retryAfterMs"], retry);
            assert!(data["message"].as_str().is_some_and(|m| !m.is_empty()));
            assert!(refused.next_event(WAIT).await.is_none(), "the refusal must end");
        }
        assert!(retries.len() > 1, "no jitter in {retries:?}");
        // The header form and a list naming it count too; an Accept that does not name it (curl's
        // `*/*`) keeps the 503.
        let listed = app.stream(STREAM, &[("accept", "application/json, Text/Event-Stream;q=0.9")]).await;
        assert_eq!(listed.status, 200);
        let plain = app.stream(STREAM, &[("accept", "*/*")]).await;
        assert_eq!(plain.status, 503);
        // A permanent error stays an HTTP error for an event-stream client.
        let bad = app.stream(&format!("{STREAM}?stations=not%20a%20station"), &accept).await;
        assert_eq!(bad.status, 400);
    }
}

on_both_paths! {
    /// A refusal's event stream ends, and what its head says about the connection holds: a
    /// proxy's or client's pool sends its next request on a connection kept alive, and a reset
    /// there is a 502 that ends an `EventSource` for good.
    async fn a_refusal_event_stream_tells_the_truth_about_its_connection(lean) {
        let app = spawn_on_path(lean, |s| s.server.as_mut().expect("server").max_streams = 1).await;
        let mut open = app.stream(STREAM, &[]).await;
        open.next_of("connection", WAIT).await.expect("connected");
        let mut conn = tokio::net::TcpStream::connect(app.addr).await.expect("connect");
        conn.write_all(
            format!("GET {STREAM} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
                .as_bytes(),
        )
        .await
        .expect("request");
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        // Up to the end of the body: the last chunk, or `Content-Length` bytes after the head.
        let ended = |seen: &[u8]| {
            let text = String::from_utf8_lossy(seen).to_ascii_lowercase();
            let Some((head, body)) = text.split_once("\r\n\r\n") else {
                return false;
            };
            match head.split("\r\n").find_map(|line| line.strip_prefix("content-length: ")) {
                Some(length) => body.len() >= length.trim().parse::<usize>().expect("length"),
                None => body.ends_with("\r\n0\r\n\r\n"),
            }
        };
        while !ended(&seen) {
            let n = tokio::time::timeout(WAIT, conn.read(&mut buf))
                .await
                .expect("the refusal ends")
                .expect("read");
            assert!(n > 0, "closed before the end: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
        assert!(text.starts_with("http/1.1 200"), "{text}");
        assert!(text.contains("event: unavailable"), "{text}");
        // What comes next on the connection: the answer to a second request, or the end.
        conn.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .ok();
        let mut next = Vec::new();
        while let Ok(Ok(n)) = tokio::time::timeout(WAIT, conn.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            next.extend_from_slice(&buf[..n]);
            if next.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        if text.contains("\r\nconnection: close\r\n") {
            assert!(next.is_empty(), "closed as announced: {}", String::from_utf8_lossy(&next));
        } else {
            assert!(
                next.starts_with(b"HTTP/1.1 200"),
                "a connection not announced as closing must serve the next request; head was {text:?}, then {:?}",
                String::from_utf8_lossy(&next)
            );
        }
    }
}

on_both_paths! {
    async fn the_stream_limit_answers_503_with_retry_after(lean) {
        let app = spawn_on_path(lean, |s| s.server.as_mut().expect("server").max_streams = 2).await;
        let mut open = Vec::new();
        for _ in 0..2 {
            let mut c = app.stream(STREAM, &[]).await;
            c.next_of("connection", WAIT).await.expect("connected");
            open.push(c);
        }
        let refused = app.stream(STREAM, &[]).await;
        assert_eq!(refused.status, 503);
        assert!(refused.headers.contains_key("retry-after"));
        assert!(
            refused.body_text.contains("too_many_streams"),
            "{}",
            refused.body_text
        );
        drop(open.pop());
        // The place is released once the server notices the closed connection.
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let mut again = app.stream(STREAM, &[]).await;
            if again.status == 200 {
                assert!(again.next_of("connection", WAIT).await.is_some());
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "stream place never released"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

on_both_paths! {
    /// Both a stream that has only been greeted and one that has caught up with an event (on
    /// the lean path, parked with its shard's writer) end with the shutdown event.
    async fn shutdown_ends_streams_with_a_final_event_and_refuses_new_ones(lean) {
        let app = spawn_on_path(lean, |_| {}).await;
        let mut greeted = app.stream(STREAM, &[]).await;
        greeted.next_of("connection", WAIT).await.expect("connected");
        let mut caught_up = app.stream(STREAM, &[("last-event-id", "0")]).await;
        caught_up.next_of("connection", WAIT).await.expect("connected");
        app.publish(&[obs("44009", 0)]).await;
        caught_up.observations(1, WAIT).await;
        app.shutdown.cancel();
        for client in [&mut greeted, &mut caught_up] {
            let last = client
                .next_of("shutdown", WAIT)
                .await
                .expect("shutdown event");
            assert_eq!(last.json()["reason"], "server shutting down");
            assert_eq!(
                client.next_event(WAIT).await,
                None,
                "the stream ends after the shutdown event"
            );
        }
        let stopped = tokio::time::timeout(WAIT, app.handle).await;
        assert!(
            matches!(stopped, Ok(Ok(Ok(())))),
            "server stopped cleanly: {stopped:?}"
        );
    }
}

on_both_paths! {
    /// A client that stops reading is disconnected (its backlog overflows, or its socket stays full
    /// past the write timeout), while a reading client gets every event in order.
    async fn a_slow_client_is_disconnected_and_fast_clients_keep_up(lean) {
        let app = spawn_on_path(lean, |s| {
            let server = s.server.as_mut().expect("server");
            server.hub = HubConfig {
                shards: 2,
                backlog: 64,
            };
            server.write_timeout = Duration::from_secs(1);
        })
        .await;
        // The slow client: a raw socket with a small receive buffer that reads nothing.
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("rcvbuf");
        let mut slow = socket.connect(app.addr).await.expect("connect");
        slow.write_all(
            format!("GET {STREAM} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n").as_bytes(),
        )
        .await
        .expect("request");
        let mut fast = app.stream(STREAM, &[]).await;
        fast.next_of("connection", WAIT).await.expect("connected");
        buoycast_testkit::eventually(WAIT, "two open streams", || app.hub_streams() == 2).await;

        // Enough data to fill the slow socket's buffers many times over (~400 bytes per event).
        let total = 20_000i64;
        let publisher = app.publish_in_background(total, 50);
        let got = ids(&fast
            .observations(total as usize, Duration::from_secs(30))
            .await);
        publisher.await.expect("publisher");
        assert_eq!(
            got,
            (1..=total).collect::<Vec<_>>(),
            "the fast client got everything, in order"
        );

        // The server closed the slow stream: draining the socket reaches end of file, and what it
        // did receive is a prefix of the log (ids strictly increasing, no gap).
        let mut received = Vec::new();
        let drained =
            tokio::time::timeout(Duration::from_secs(30), slow.read_to_end(&mut received)).await;
        assert!(drained.is_ok(), "the slow stream was not closed");
        let text = String::from_utf8_lossy(&received);
        let slow_ids: Vec<i64> = text
            .lines()
            .filter_map(|l| l.strip_prefix("id: "))
            .map(|v| v.trim().parse().expect("id"))
            .collect();
        assert!(
            (slow_ids.len() as i64) < total,
            "the slow client was cut off before the end"
        );
        assert!(
            slow_ids.windows(2).all(|w| w[1] == w[0] + 1),
            "what it got has no gap"
        );
        buoycast_testkit::eventually(WAIT, "one open stream", || app.hub_streams() == 1).await;
    }
}

/// Decodes an HTTP/1.1 chunked body from `raw` (which starts at the body) as far as it is
/// complete; panics on malformed framing. Returns the data and how many bytes were decoded.
fn dechunk(raw: &[u8]) -> (Vec<u8>, usize) {
    let (mut data, mut at) = (Vec::new(), 0);
    loop {
        let Some(eol) = raw[at..].windows(2).position(|w| w == b"\r\n") else {
            return (data, at);
        };
        let size_line = std::str::from_utf8(&raw[at..at + eol]).expect("chunk size line is text");
        let size = usize::from_str_radix(size_line, 16)
            .unwrap_or_else(|_| panic!("bad chunk size line {size_line:?}"));
        let start = at + eol + 2;
        if raw.len() < start + size + 2 {
            return (data, at);
        }
        assert_eq!(
            &raw[start + size..start + size + 2],
            b"\r\n",
            "chunk ends with CRLF"
        );
        data.extend_from_slice(&raw[start..start + size]);
        at = start + size + 2;
    }
}

on_both_paths! {
    /// A client that stops reading until the server's socket buffer is full, then reads on,
    /// gets every event once, in order, in well-formed chunks: a write the server could not
    /// finish at once is finished before anything else is written (on the lean path, a caught-up
    /// stream is written by its shard's writer, and such a write goes back to the stream's task
    /// half done).
    async fn a_client_that_pauses_until_its_socket_is_full_loses_nothing(lean) {
        let app = spawn_on_path(lean, |s| {
            // Small socket buffers on both sides, so that the burst below fills them.
            s.server.as_mut().expect("server").send_buffer = Some(8 * 1024);
        })
        .await;
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("rcvbuf");
        let mut client = socket.connect(app.addr).await.expect("connect");
        client
            .write_all(
                format!("GET {STREAM} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .expect("request");
        let mut raw = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let read_ids = |raw: &[u8]| -> Vec<i64> {
            let body = raw
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(&raw[..0], |p| &raw[p + 4..]);
            let (data, _) = dechunk(body);
            String::from_utf8_lossy(&data)
                .split("\n\n")
                .filter(|block| block.contains("event: observation"))
                .filter_map(|block| block.lines().find_map(|l| l.strip_prefix("id: ")))
                .map(|id| id.trim().parse().expect("id"))
                .collect()
        };
        // The greeting, then one event: the stream is caught up (and parked, on the lean path).
        app.publish(&[obs("46042", 0)]).await;
        let deadline = tokio::time::Instant::now() + WAIT;
        while read_ids(&raw).is_empty() {
            let n = tokio::time::timeout_at(deadline, client.read(&mut buf))
                .await
                .expect("the first event in time")
                .expect("read");
            assert!(n > 0, "stream ended");
            raw.extend_from_slice(&buf[..n]);
        }
        // A burst of ~800 KB while the client reads nothing: the socket fills.
        let burst = 2_000i64;
        let total = burst + 1;
        app.publish_in_background(burst, 100)
            .await
            .expect("publisher");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while read_ids(&raw).len() < total as usize {
            let n = tokio::time::timeout_at(deadline, client.read(&mut buf))
                .await
                .expect("every event in time")
                .expect("read");
            assert!(n > 0, "stream ended after {} events", read_ids(&raw).len());
            raw.extend_from_slice(&buf[..n]);
        }
        assert_eq!(read_ids(&raw), (1..=total).collect::<Vec<_>>());
    }
}

on_all_paths! {
    async fn resume_of_ten_thousand_missed_events_is_complete_and_ordered(lean) {
        let app = spawn_on_path(lean, |_| {}).await;
        let batch: Vec<_> = (0..10_000)
            .map(|i| obs(["44009", "46042"][i as usize % 2], i))
            .collect();
        app.publish(&batch).await;
        let mut client = app.stream(STREAM, &[("last-event-id", "0")]).await;
        let got = ids(&client.observations(10_000, WAIT).await);
        assert_eq!(got, (1..=10_000).collect::<Vec<_>>());
        let unique: BTreeSet<_> = got.iter().collect();
        assert_eq!(unique.len(), 10_000);
    }
}

on_both_paths! {
    /// A client that keeps reading, but slower than events arrive, overflows its backlog and is
    /// disconnected; what it received is gap-free, and it can resume from its last id.
    async fn a_client_slower_than_the_event_rate_is_cut_off_and_resumes(lean) {
        let app = spawn_on_path(lean, |s| {
            let server = s.server.as_mut().expect("server");
            server.hub = HubConfig {
                shards: 1,
                backlog: 32,
            };
            server.send_buffer = Some(16 * 1024);
        })
        .await;
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("rcvbuf");
        let mut slow = socket.connect(app.addr).await.expect("connect");
        slow.write_all(format!("GET {STREAM} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .expect("request");
        buoycast_testkit::eventually(WAIT, "an open stream", || app.hub_streams() == 1).await;
        let total = 20_000i64;
        let publisher = app.publish_in_background(total, 500);
        // Read 4 KiB every 10 ms (~400 KB/s, well below the publishing rate) until end of file.
        let mut received = Vec::new();
        let mut buf = vec![0u8; 4096];
        let read_all = async {
            loop {
                match slow.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => received.extend_from_slice(&buf[..n]),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        assert!(
            tokio::time::timeout(Duration::from_secs(60), read_all)
                .await
                .is_ok(),
            "slow stream never closed"
        );
        publisher.await.expect("publisher");
        let text = String::from_utf8_lossy(&received);
        let mut got: Vec<i64> = text
            .lines()
            .filter_map(|l| l.strip_prefix("id: "))
            .filter_map(|v| v.trim().parse().ok())
            .collect();
        got.pop(); // the connection was aborted: the last frame may be cut short
        assert!(
            !got.is_empty() && (got.len() as i64) < total,
            "cut off after {} events",
            got.len()
        );
        assert!(
            got.windows(2).all(|w| w[1] == w[0] + 1),
            "no gap before the cut"
        );
        // Resuming from the last id it saw delivers exactly the rest.
        let last = *got.last().expect("an id");
        let mut resumed = app
            .stream(STREAM, &[("last-event-id", &last.to_string())])
            .await;
        let rest = ids(&resumed.observations((total - last) as usize, WAIT).await);
        assert_eq!(rest, (last + 1..=total).collect::<Vec<_>>());
    }
}

on_both_paths! {
    async fn each_client_address_has_its_own_stream_limit(lean) {
        let app =
            spawn_on_path(lean, |s| s.server.as_mut().expect("server").max_streams_per_client = 2).await;
        let from = |ip: [u8; 4]| {
            reqwest::Client::builder()
                .local_address(std::net::IpAddr::from(ip))
                .build()
                .expect("client")
        };
        let first = from([127, 0, 0, 1]);
        let url = app.url(STREAM);
        let mut open = Vec::new();
        for _ in 0..2 {
            let mut s = buoycast_testkit::SseClient::connect(&first, &url, &[]).await;
            s.next_of("connection", WAIT).await.expect("connected");
            open.push(s);
        }
        let refused = buoycast_testkit::SseClient::connect(&first, &url, &[]).await;
        assert_eq!(refused.status, 429);
        assert!(refused.headers.contains_key("retry-after"));
        assert!(
            refused.body_text.contains("too_many_streams_per_client"),
            "{}",
            refused.body_text
        );
        // Another address is not affected.
        let mut other = buoycast_testkit::SseClient::connect(&from([127, 0, 0, 2]), &url, &[]).await;
        assert_eq!(other.status, 200);
        assert!(other.next_of("connection", WAIT).await.is_some());
    }
}

/// A client connecting from `ip` (a loopback address of the test box).
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(ip))
        .build()
        .expect("client")
}

/// Opens a stream with `x-forwarded-for: forwarded`; its status, and the client when it is open.
async fn stream_forwarded_for(
    client: &reqwest::Client,
    url: &str,
    forwarded: &str,
) -> (u16, buoycast_testkit::SseClient) {
    let mut s =
        buoycast_testkit::SseClient::connect(client, url, &[("x-forwarded-for", forwarded)]).await;
    if s.status == 200 {
        s.next_of("connection", WAIT).await.expect("connected");
    }
    (s.status, s)
}

/// With no trusted proxies, a made-up `X-Forwarded-For` does not make a client a new address
/// for the per-client stream limit (on both transports).
#[tokio::test]
async fn forwarded_for_is_ignored_without_trusted_proxies() {
    for lean_streams in [true, false] {
        let app = spawn_app_with(|s| {
            let server = s.server.as_mut().expect("server");
            server.max_streams_per_client = 2;
            server.lean_streams = lean_streams;
        })
        .await;
        let url = app.url(STREAM);
        let client = client_from([127, 0, 0, 1]);
        let mut open = Vec::new();
        for i in 1..=2 {
            let (status, s) = stream_forwarded_for(&client, &url, &format!("198.51.100.{i}")).await;
            assert_eq!(status, 200, "lean {lean_streams}");
            open.push(s);
        }
        let (status, _) = stream_forwarded_for(&client, &url, "198.51.100.3").await;
        assert_eq!(
            status, 429,
            "lean {lean_streams}: a spoofed address is no new client"
        );
    }
}

/// Behind a trusted proxy, the client is the rightmost forwarded address that is not a trusted
/// proxy: what the client wrote to the left of it does not make it another client, and a peer
/// that is not trusted is its own client whatever it forwards (on both transports).
#[tokio::test]
async fn the_rightmost_untrusted_forwarded_address_is_the_client_behind_trusted_proxies() {
    for lean_streams in [true, false] {
        let app = spawn_app_with(|s| {
            let server = s.server.as_mut().expect("server");
            server.max_streams_per_client = 2;
            server.lean_streams = lean_streams;
            server.trusted_proxies =
                buoycast::domain::TrustedProxies::parse("127.0.0.1/32, 10.0.0.0/8")
                    .expect("ranges");
        })
        .await;
        let url = app.url(STREAM);
        let proxy = client_from([127, 0, 0, 1]);
        let mut open = Vec::new();
        // Two streams of 203.0.113.7, one through a second trusted hop, each with a different
        // spoofed entry on the left.
        for forwarded in ["1.1.1.1, 203.0.113.7", "2.2.2.2, 203.0.113.7, 10.0.0.9"] {
            let (status, s) = stream_forwarded_for(&proxy, &url, forwarded).await;
            assert_eq!(status, 200, "lean {lean_streams}: {forwarded}");
            open.push(s);
        }
        for spoofed in ["3.3.3.3, 203.0.113.7", "203.0.113.8,203.0.113.7"] {
            let (status, _) = stream_forwarded_for(&proxy, &url, spoofed).await;
            assert_eq!(
                status, 429,
                "lean {lean_streams}: {spoofed} is 203.0.113.7 again"
            );
        }
        // Another client behind the proxy has places of its own.
        let (status, s) = stream_forwarded_for(&proxy, &url, "203.0.113.7, 203.0.113.9").await;
        assert_eq!(status, 200, "lean {lean_streams}: 203.0.113.9");
        open.push(s);
        // A peer that is not a trusted proxy is the client, whatever it forwards.
        let direct = client_from([127, 0, 0, 2]);
        for i in 1..=2 {
            let (status, s) = stream_forwarded_for(&direct, &url, &format!("198.51.100.{i}")).await;
            assert_eq!(status, 200, "lean {lean_streams}");
            open.push(s);
        }
        let (status, _) = stream_forwarded_for(&direct, &url, "198.51.100.3").await;
        assert_eq!(
            status, 429,
            "lean {lean_streams}: 127.0.0.2 is at its limit"
        );
    }
}

on_all_paths! {
    /// An observation that was stored but whose publish never arrived (a lost bus message with
    /// nothing after it) still reaches the streams: the relay audits the store's head.
    async fn a_stored_observation_whose_publish_was_lost_is_delivered_anyway(lean) {
        let app = spawn_on_path(lean, |_| {}).await;
        let mut client = app.stream(STREAM, &[]).await;
        client.next_of("connection", WAIT).await.expect("connected");
        app.publish(&[obs("44009", 0)]).await;
        assert_eq!(
            client.next_of("observation", WAIT).await.and_then(|e| e.id),
            Some(1)
        );
        // Stored, never published.
        app.store
            .insert_observations(&[obs("44009", 1)])
            .await
            .expect("stored");
        let event = client
            .next_of("observation", Duration::from_secs(15))
            .await
            .expect("repaired");
        assert_eq!(event.id, Some(2));
    }
}

// --- Stream positions: the ids of `connection` and `heartbeat` (SPEC §4) ----------------------

/// A server whose streams take the lean path or hyper, with heartbeats every `heartbeat`.
async fn spawn_on(path: impl Into<StreamPath>, heartbeat: Duration) -> buoycast_testkit::TestApp {
    spawn_on_path(path, |s| {
        s.server.as_mut().expect("server").heartbeat = heartbeat
    })
    .await
}

/// Heartbeats that do not get in the way of a test.
const RARE_BEATS: Duration = Duration::from_secs(15);
/// Heartbeats a test waits for.
const QUICK_BEATS: Duration = Duration::from_millis(100);

/// Publishes one observation per station, measured `first`, `first + 1`, ... minutes in.
async fn publish_each(app: &buoycast_testkit::TestApp, stations: &[&str], first: i64) {
    let batch: Vec<_> = stations
        .iter()
        .zip(first..)
        .map(|(station, minute)| obs(station, minute))
        .collect();
    app.publish(&batch).await;
}

/// Reads events until a heartbeat whose id is at least `id`; panics on any other event.
async fn heartbeat_reaching(client: &mut buoycast_testkit::SseClient, id: i64) -> SseEvent {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let event = client
            .next_event(left)
            .await
            .unwrap_or_else(|| panic!("no heartbeat with id {id} before the timeout"));
        assert_eq!(event.event, "heartbeat", "unexpected {event:?}");
        let beat = event.id.expect("a heartbeat carries the stream position");
        if beat >= id {
            return event;
        }
    }
}

on_all_paths! {
    /// A client that connects, sees no observation and reconnects with the `connection` id gets
    /// exactly what was published in between, once each, in order.
    async fn a_client_that_saw_nothing_resumes_from_its_connection_id(lean) {
        let app = spawn_on(lean, RARE_BEATS).await;
        // Two stored before the client connects, and broadcast (the watcher has them).
        let mut watcher = app.stream(STREAM, &[]).await;
        watcher.next_of("connection", WAIT).await.expect("connected");
        app.publish(&[obs("44009", 0), obs("44009", 1)]).await;
        assert_eq!(ids(&watcher.observations(2, WAIT).await), vec![1, 2]);

        let mut client = app.stream(STREAM, &[]).await;
        let hello = client.next_of("connection", WAIT).await.expect("connected");
        assert_eq!(hello.id, Some(2), "a fresh stream starts after the newest seq");
        drop(client);
        app.publish(&(2..7).map(|i| obs("44009", i)).collect::<Vec<_>>()).await;

        let mut again = app.stream(STREAM, &[("last-event-id", "2")]).await;
        let hello = again.next_of("connection", WAIT).await.expect("connected");
        assert_eq!(hello.id, Some(2), "a resumed stream starts at its resume point");
        assert_eq!(ids(&again.observations(5, WAIT).await), vec![3, 4, 5, 6, 7]);
        app.publish(&[obs("44009", 7)]).await;
        let next = again.next_of("observation", WAIT).await.expect("live event");
        assert_eq!(next.id, Some(8), "nothing is sent twice");
    }
}

on_all_paths! {
    /// While observations keep being published, the `connection` id of a fresh stream is exactly
    /// the point after which it delivers: its first observation is the next seq, and a stream
    /// resumed from that id starts with the same one.
    async fn the_connection_id_is_exact_while_publishing(lean) {
        let app = spawn_on(lean, RARE_BEATS).await;
        let running = Arc::new(AtomicBool::new(true));
        let publisher = {
            let (store, bus, running) = (app.store.clone(), app.bus.clone(), running.clone());
            tokio::spawn(async move {
                let mut minute = 0;
                while running.load(Ordering::SeqCst) {
                    buoycast::ingest::store_and_publish(
                        store.as_ref(),
                        bus.as_ref(),
                        &[obs("44009", minute)],
                    )
                    .await
                    .expect("publish");
                    minute += 1;
                    tokio::task::yield_now().await;
                }
            })
        };
        for _ in 0..20 {
            let mut fresh = app.stream(STREAM, &[]).await;
            let start = fresh
                .next_of("connection", WAIT)
                .await
                .and_then(|e| e.id)
                .expect("a connection id");
            let first = fresh.next_of("observation", WAIT).await.and_then(|e| e.id);
            assert_eq!(first, Some(start + 1), "the fresh stream went on from {start}");
            drop(fresh);
            let mut resumed = app
                .stream(STREAM, &[("last-event-id", &start.to_string())])
                .await;
            let first = resumed.next_of("observation", WAIT).await.and_then(|e| e.id);
            assert_eq!(first, Some(start + 1), "the stream resumed from {start}");
        }
        running.store(false, Ordering::SeqCst);
        publisher.await.expect("publisher");
    }
}

on_all_paths! {
    /// The same with a station filter: the resumed stream replays only the missed observations of
    /// its stations.
    async fn a_filtered_client_that_saw_nothing_resumes_from_its_connection_id(lean) {
        let app = spawn_on(lean, RARE_BEATS).await;
        let mut watcher = app.stream(STREAM, &[]).await;
        watcher.next_of("connection", WAIT).await.expect("connected");
        app.publish(&[obs("44009", 0), obs("46042", 1)]).await;
        assert_eq!(ids(&watcher.observations(2, WAIT).await), vec![1, 2]);

        let filtered = format!("{STREAM}?stations=44009");
        let mut client = app.stream(&filtered, &[]).await;
        let hello = client.next_of("connection", WAIT).await.expect("connected");
        assert_eq!(hello.id, Some(2));
        drop(client);
        // Seqs 3 to 7.
        publish_each(&app, &["46042", "44009", "46042", "44009", "44009"], 2).await;

        let mut again = app.stream(&filtered, &[("last-event-id", "2")]).await;
        let replayed = again.observations(3, WAIT).await;
        assert_eq!(ids(&replayed), vec![4, 6, 7]);
        assert!(replayed.iter().all(|e| e.json()["stationId"] == "44009"));
        publish_each(&app, &["46042", "44009"], 7).await;
        let next = again.next_of("observation", WAIT).await.expect("live event");
        assert_eq!(next.id, Some(9), "nothing is sent twice");
    }
}

on_all_paths! {
    /// A client filtered to one station, while only other stations publish, gets heartbeats that
    /// carry the newest seq; resuming from one replays nothing, and the next observation of its
    /// station arrives once.
    async fn a_narrow_filter_resumes_from_its_heartbeat_id(lean) {
        let app = spawn_on(lean, QUICK_BEATS).await;
        let filtered = format!("{STREAM}?stations=44009");
        let mut client = app.stream(&filtered, &[]).await;
        let hello = client.next_of("connection", WAIT).await.expect("connected");
        assert_eq!(hello.id, Some(0), "an empty log: the stream starts after 0");
        let others: Vec<_> = (0..50).map(|i| obs("46042", i)).collect();
        app.publish(&others).await;
        let beat = heartbeat_reaching(&mut client, 50).await;
        assert_eq!(beat.id, Some(50), "the heartbeat carries the newest seq");
        drop(client);

        let mut again = app.stream(&filtered, &[("last-event-id", "50")]).await;
        let hello = again.next_of("connection", WAIT).await.expect("connected");
        assert_eq!(hello.id, Some(50));
        app.publish(&[obs("44009", 100)]).await;
        let first = again.next_event(WAIT).await.expect("an event");
        let first = if first.event == "heartbeat" {
            assert_eq!(first.id, Some(50));
            again.next_of("observation", WAIT).await.expect("an observation")
        } else {
            first
        };
        assert_eq!(
            (first.event.as_str(), first.id),
            ("observation", Some(51)),
            "nothing was replayed before the new observation"
        );
        app.publish(&[obs("46042", 100)]).await;
        let beat = heartbeat_reaching(&mut again, 52).await;
        assert_eq!(beat.id, Some(52), "and it came once (no observation before this heartbeat)");
    }
}

on_all_paths! {
    /// Heartbeat ids never go backwards and never claim more than was delivered: on an unfiltered
    /// stream each one equals the id of the last event before it, even while publishing.
    async fn heartbeat_ids_follow_the_stream_position(lean) {
        let app = spawn_on(lean, Duration::from_millis(50)).await;
        app.publish(&[obs("44009", 0)]).await;
        let mut client = app.stream(STREAM, &[]).await;
        let mut position = client
            .next_of("connection", WAIT)
            .await
            .and_then(|e| e.id)
            .expect("a connection id");
        let running = Arc::new(AtomicBool::new(true));
        let publisher = {
            let (store, bus, running) = (app.store.clone(), app.bus.clone(), running.clone());
            tokio::spawn(async move {
                let mut minute = 1;
                while running.load(Ordering::SeqCst) {
                    buoycast::ingest::store_and_publish(
                        store.as_ref(),
                        bus.as_ref(),
                        &[obs(["44009", "46042"][minute as usize % 2], minute)],
                    )
                    .await
                    .expect("publish");
                    minute += 1;
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
            })
        };
        let (mut beats, mut observations) = (Vec::new(), 0);
        while beats.len() < 10 || observations < 20 {
            let event = client.next_event(WAIT).await.expect("an event");
            match event.event.as_str() {
                "observation" => {
                    let id = event.id.expect("an id");
                    assert_eq!(id, position + 1, "no gap");
                    position = id;
                    observations += 1;
                }
                "heartbeat" => {
                    let id = event.id.expect("a heartbeat id");
                    assert_eq!(id, position, "the heartbeat claims exactly what was sent");
                    beats.push(id);
                }
                other => panic!("unexpected {other} event"),
            }
        }
        running.store(false, Ordering::SeqCst);
        publisher.await.expect("publisher");
        assert!(beats.windows(2).all(|w| w[0] <= w[1]), "{beats:?}");
    }
}

on_all_paths! {
    /// A stream resumed from a seq the store has but the hub has not broadcast yet never sends a
    /// heartbeat id below its own position.
    async fn heartbeats_never_go_below_a_resume_point_ahead_of_the_hub(lean) {
        let app = spawn_on(lean, QUICK_BEATS).await;
        let mut watcher = app.stream(STREAM, &[]).await;
        watcher.next_of("connection", WAIT).await.expect("connected");
        app.publish(&[obs("44009", 0), obs("44009", 1)]).await;
        assert_eq!(ids(&watcher.observations(2, WAIT).await), vec![1, 2]);
        // Stored, not published: the hub is at 2 until the relay's audit finds seq 3.
        app.store
            .insert_observations(&[obs("44009", 2)])
            .await
            .expect("stored");
        let mut client = app.stream(STREAM, &[("last-event-id", "3")]).await;
        let hello = client.next_of("connection", WAIT).await.expect("connected");
        assert_eq!(hello.id, Some(3));
        for _ in 0..3 {
            let beat = client.next_of("heartbeat", WAIT).await.expect("heartbeat");
            assert_eq!(beat.id, Some(3), "the heartbeat keeps the stream's position");
        }
        app.publish(&[obs("44009", 3)]).await;
        let next = client.next_of("observation", WAIT).await.expect("live event");
        assert_eq!(next.id, Some(4));
    }
}

on_all_paths! {
    /// A `since=` stream starts at the seq before its first match: resuming from the `connection`
    /// id delivers the same observations, nothing less and nothing more.
    async fn a_since_stream_starts_before_its_first_match(lean) {
        let app = spawn_on(lean, RARE_BEATS).await;
        let stations = ["44009", "46042"];
        let batch: Vec<_> = (0..10).map(|i| obs(stations[i as usize % 2], i * 10)).collect();
        app.publish(&batch).await;
        // 44009 at 12:40 onwards: minutes 40, 60, 80 → seqs 5, 7, 9.
        let path = format!("{STREAM}?stations=44009&since=2025-11-15T12:40:00Z");
        let mut client = app.stream(&path, &[]).await;
        let hello = client.next_of("connection", WAIT).await.expect("connected");
        assert_eq!(hello.id, Some(4), "the seq before the first match");
        assert_eq!(ids(&client.observations(3, WAIT).await), vec![5, 7, 9]);
        drop(client);
        let mut again = app
            .stream(&format!("{STREAM}?stations=44009"), &[("last-event-id", "4")])
            .await;
        assert_eq!(ids(&again.observations(3, WAIT).await), vec![5, 7, 9]);
        app.publish(&[obs("44009", 200)]).await;
        let next = again.next_of("observation", WAIT).await.expect("live event");
        assert_eq!(next.id, Some(11));

        // Nothing matches yet: the stream starts at the newest seq.
        let late = format!("{STREAM}?since=2025-11-16T00:00:00Z");
        let mut client = app.stream(&late, &[]).await;
        let hello = client.next_of("connection", WAIT).await.expect("connected");
        assert_eq!(hello.id, Some(11));
    }
}
