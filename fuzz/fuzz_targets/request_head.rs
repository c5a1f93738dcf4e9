//! Fuzz target: the front door's request-head classifier must never panic, and a head it hands
//! to the lean stream path must be a complete, body-less HTTP/1.1 `GET` of the stream path.
#![no_main]

use buoycast::server::head::{Head, MAX_HEAD, classify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let data = &data[..data.len().min(2 * MAX_HEAD)];
    if let Head::Stream(request) = classify(data) {
        assert_eq!(request.method(), "GET");
        assert_eq!(request.uri().path(), "/v1/observations/stream");
        assert!(request.headers().contains_key("host"));
        assert!(!request.headers().contains_key("transfer-encoding"));
        assert!(
            request
                .headers()
                .get("content-length")
                .is_none_or(|v| v == "0"),
            "a stream request with a body"
        );
        assert!(data.ends_with(b"\r\n\r\n") || data.ends_with(b"\n\n"), "bytes after the head");
    }
});
