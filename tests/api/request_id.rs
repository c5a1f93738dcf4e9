//! Request ids over real sockets: an acceptable `x-request-id` is echoed; an overlong or
//! non-ASCII one is replaced by a generated id, on the hyper path and the lean stream path.

use buoycast_testkit::{RawResponse, raw_request, spawn_app};

const STREAM: &str = "/v1/observations/stream";

/// A request for `path` carrying `id` as its `x-request-id`, byte for byte.
fn request_with_id(path: &str, id: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nConnection: close\r\nx-request-id: "
    )
    .into_bytes();
    request.extend_from_slice(id);
    request.extend_from_slice(b"\r\n\r\n");
    request
}

/// The one `x-request-id` of a response.
fn echoed(response: &RawResponse) -> Vec<u8> {
    let ids = response.header("x-request-id");
    assert_eq!(ids.len(), 1, "one x-request-id: {response:?}");
    ids[0].to_vec()
}

/// A generated id: a UUID in its hyphenated lower-case form.
fn assert_generated(id: &[u8], what: &str) {
    let text = String::from_utf8_lossy(id);
    let uuid_like = id.len() == 36
        && id.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit() && !b.is_ascii_uppercase(),
        });
    assert!(uuid_like, "{what}: a generated id, got {text:?}");
}

#[tokio::test]
async fn overlong_and_non_ascii_request_ids_are_replaced_on_both_paths() {
    let app = spawn_app().await;
    // A head over 8 KiB is refused on every path (431) and nothing of it is echoed.
    let huge = vec![b'a'; 400_000];
    for path in ["/health", STREAM] {
        let response = raw_request(app.addr, &request_with_id(path, &huge)).await;
        assert_eq!(response.status, 431, "{path}, a 400 KB head");
        let echoed: usize = response.headers.iter().map(|(_, v)| v.len()).sum();
        assert!(
            echoed + response.body.len() < 2048,
            "{path}: the refusal echoes nothing of the head"
        );
    }
    let overlong_for_lean = vec![b'b'; 4000];
    let cases: [(&str, &str, &[u8]); 5] = [
        ("lean stream, 4000 bytes", STREAM, &overlong_for_lean),
        ("hyper, 65 bytes", "/health", &[b'c'; 65]),
        ("hyper, non-ASCII", "/health", "caf\u{e9}-42".as_bytes()),
        ("lean stream, non-ASCII", STREAM, "caf\u{e9}-42".as_bytes()),
        ("lean stream, raw 0xFF", STREAM, b"id-\xff\xfe"),
    ];
    let mut seen = Vec::new();
    for (what, path, id) in cases {
        let response = raw_request(app.addr, &request_with_id(path, id)).await;
        assert_eq!(response.status, 200, "{what}");
        let got = echoed(&response);
        assert_generated(&got, what);
        assert!(!seen.contains(&got), "{what}: a fresh id each time");
        seen.push(got);
    }
}

#[tokio::test]
async fn acceptable_request_ids_are_echoed_on_both_paths() {
    let app = spawn_app().await;
    let longest: Vec<u8> = (0..64).map(|i| b'!' + (i * 7 % 94) as u8).collect();
    for path in ["/health", STREAM, "/no/such/thing"] {
        for id in [&b"my-trace-42"[..], &longest] {
            let response = raw_request(app.addr, &request_with_id(path, id)).await;
            assert_eq!(echoed(&response), id, "{path}");
        }
    }
}
