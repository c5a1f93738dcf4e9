//! Reading a new connection's request head: whether it is a plain HTTP/1.1 stream request the
//! lean path serves, needs more bytes, is too large, or goes to hyper.

use axum::body::Body;
use axum::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Version};

/// Longest request head accepted on any path (SPEC §12); hyper gets the same limit.
pub const MAX_HEAD: usize = 8 * 1024;
/// Most request headers accepted on any path.
pub const MAX_HEADERS: usize = 64;
/// The path the lean writer serves.
const STREAM_PATH: &str = "/v1/observations/stream";

/// What a request head read so far is.
#[derive(Debug)]
pub enum Head {
    /// More bytes are needed.
    Incomplete,
    /// A stream request this path serves.
    Stream(Box<Request<Body>>),
    /// Anything else: hyper serves it.
    Other,
    /// Framing that request smuggling relies on (`Content-Length` with `Transfer-Encoding`):
    /// refused with 400 and the connection closed, whatever the path.
    Ambiguous,
    /// More headers than [`MAX_HEADERS`]: refused with 431 and the connection closed.
    TooManyHeaders,
    /// Not an HTTP/1.x request head (a malformed line, name or version): refused with 400 and
    /// the connection closed.
    Malformed,
    /// An HTTP/1.1 stream `GET` with a body, or with bytes after its head (a pipelined
    /// request): a stream reads nothing after its request (its response never ends, so nothing
    /// after it would be answered), so it is refused with 400 and the connection closed.
    StreamWithBody,
}

/// Reads a request head: a complete HTTP/1.1 `GET` of the stream path with one valid `Host`, no
/// body and nothing after the head becomes a request for the router; the same with a body or
/// bytes after it is [`Head::StreamWithBody`]; a head httparse refuses is
/// [`Head::TooManyHeaders`] or [`Head::Malformed`]; anything else (a bad `Host` too, which
/// hyper's side answers with 400) goes to hyper.
pub fn classify(buf: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Head::Incomplete,
        Err(httparse::Error::TooManyHeaders) => return Head::TooManyHeaders,
        Err(_) => return Head::Malformed,
    };
    let has = |name: &str| {
        parsed
            .headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case(name))
    };
    if has("content-length") && has("transfer-encoding") {
        return Head::Ambiguous;
    }
    let (Some("GET"), Some(1), Some(path)) = (parsed.method, parsed.version, parsed.path) else {
        return Head::Other;
    };
    if path.split('?').next() != Some(STREAM_PATH) {
        return Head::Other;
    }
    if len != buf.len() {
        return Head::StreamWithBody;
    }
    let mut request = Request::new(Body::empty());
    // Sized once for the headers it gets and the request id the layers add when it has none
    // (grown header by header, it was reallocated; sized for its own headers only, the id's
    // insert grew it).
    *request.headers_mut() = HeaderMap::with_capacity(parsed.headers.len() + 1);
    *request.method_mut() = Method::GET;
    *request.version_mut() = Version::HTTP_11;
    match path.parse() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => return Head::Other,
    }
    for h in parsed.headers.iter() {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) else {
            return Head::Other;
        };
        if name == TRANSFER_ENCODING || (name == CONTENT_LENGTH && value != "0") {
            return Head::StreamWithBody;
        }
        request.headers_mut().append(name, value);
    }
    if host_problem(request.headers(), Version::HTTP_11).is_some() {
        return Head::Other; // hyper's side answers it with 400
    }
    Head::Stream(Box::new(request))
}

/// Why a request's `Host` is refused (RFC 9112 §3.2), if it is: an HTTP/1.1 request needs one,
/// no request may have two, and its value is a host with an optional port (no path, no
/// user, no spaces); empty is allowed (a target without an authority).
pub fn host_problem(headers: &HeaderMap, version: Version) -> Option<&'static str> {
    let mut hosts = headers.get_all(axum::http::header::HOST).iter();
    let Some(host) = hosts.next() else {
        return (version == Version::HTTP_11).then_some("an HTTP/1.1 request needs a Host header");
    };
    if hosts.next().is_some() {
        return Some("a request has one Host header, not several");
    }
    let valid = host.is_empty()
        || (!host.as_bytes().contains(&b'@')
            && axum::http::uri::Authority::try_from(host.as_bytes()).is_ok_and(|a| {
                // A port is digits (a name after the colon parses as an authority too).
                a.as_str()
                    .rsplit_once(':')
                    .filter(|(_, port)| !port.contains(']'))
                    .is_none_or(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            }));
    (!valid).then_some("the Host header is not a host and port")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_stream_gets_take_the_lean_path() {
        let get = b"GET /v1/observations/stream?stations=44009 HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 5\r\n\r\n";
        let Head::Stream(request) = classify(get) else {
            panic!("a stream GET");
        };
        assert_eq!(request.uri().query(), Some("stations=44009"));
        assert_eq!(request.headers()["last-event-id"], "5");
        assert!(matches!(classify(&get[..get.len() - 2]), Head::Incomplete));
        for other in [
            &b"GET /v1/observations HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"HEAD /v1/observations/stream HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST /v1/observations/stream HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
            b"GET /v1/observations/stream HTTP/1.0\r\n\r\n",
            b"GET /v1/observations HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            b"GET /v1/observations/stream HTTP/1.1\r\nAccept: */*\r\n\r\n",
        ] {
            assert!(
                matches!(classify(other), Head::Other),
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }

    #[test]
    fn a_stream_get_with_a_body_or_bytes_after_it_is_refused() {
        for head in [
            &b"GET /v1/observations/stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"GET /v1/observations/stream HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n",
            b"GET /v1/observations/stream HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n1",
            b"GET /v1/observations/stream HTTP/1.1\r\nHost: x\r\n\r\nX",
            b"GET /v1/observations/stream HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                matches!(classify(head), Head::StreamWithBody),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
        let empty = b"GET /v1/observations/stream HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
        assert!(
            matches!(classify(empty), Head::Stream(_)),
            "an empty body is no body"
        );
    }

    #[test]
    fn malformed_heads_and_too_many_headers_are_told_apart() {
        for malformed in [
            &b"garbage\r\n\r\n"[..],
            b"GET / HTTP/1.2\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET / HTTP/1.1\r\nHo\x00st: x\r\n\r\n",
        ] {
            assert!(
                matches!(classify(malformed), Head::Malformed),
                "{}",
                String::from_utf8_lossy(malformed)
            );
        }
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: y\r\n")).collect();
        let head = format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n");
        assert!(matches!(classify(head.as_bytes()), Head::TooManyHeaders));
    }

    #[test]
    fn hosts_are_one_host_and_port() {
        let headers = |hosts: &[&str]| {
            let mut map = HeaderMap::new();
            for h in hosts {
                map.append(axum::http::header::HOST, HeaderValue::from_str(h).unwrap());
            }
            map
        };
        for ok in [
            &["x"][..],
            &["example.com:8080"],
            &["[::1]:80"],
            &["10.0.0.1"],
            &[""],
        ] {
            assert_eq!(host_problem(&headers(ok), Version::HTTP_11), None, "{ok:?}");
        }
        for bad in [
            &["a", "b"][..],
            &["a b"],
            &["a/b"],
            &["x@evil"],
            &["a:port"],
            &[],
        ] {
            assert!(
                host_problem(&headers(bad), Version::HTTP_11).is_some(),
                "{bad:?}"
            );
        }
        assert_eq!(
            host_problem(&headers(&[]), Version::HTTP_10),
            None,
            "HTTP/1.0 may omit it"
        );
        let two = b"GET /v1/observations/stream HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
        assert!(
            matches!(classify(two), Head::Other),
            "left to hyper's side, which refuses it"
        );
    }

    #[test]
    fn content_length_with_transfer_encoding_is_refused_on_any_path() {
        for head in [
            &b"GET /v1/observations/stream HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"POST /v1/observations HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\ncontent-length: 0\r\n\r\n",
        ] {
            assert!(matches!(classify(head), Head::Ambiguous), "{}", String::from_utf8_lossy(head));
        }
    }
}
