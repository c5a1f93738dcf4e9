//! Request ids: the `x-request-id` a client sends is kept only when it is short visible ASCII;
//! anything else is dropped here, so the request-id layer generates one as for a request that
//! sent none. The id is echoed in the response and logged on every line about the request.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::HeaderName;

/// The request-id header.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest request id kept, in bytes (= characters: only ASCII is kept).
pub const MAX_REQUEST_ID_LEN: usize = 64;

/// Whether a client's request id is kept: 1 to [`MAX_REQUEST_ID_LEN`] visible ASCII characters
/// (0x21–0x7E), so it cannot grow responses and log lines nor carry bytes a log reader or an
/// HTTP client would choke on.
pub fn acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_REQUEST_ID_LEN
        && bytes.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// Removes the request's `x-request-id` unless it is exactly one acceptable value (of several,
/// none is trusted to be the one the client meant), before the request-id layer looks at it.
pub fn drop_unacceptable(mut request: Request) -> Request {
    let headers = request.headers_mut();
    let mut ids = headers.get_all(&X_REQUEST_ID).iter();
    let keep = match (ids.next(), ids.next()) {
        (None, _) => return request,
        (Some(one), None) => acceptable(one),
        (Some(_), Some(_)) => false,
    };
    if !keep {
        headers.remove(&X_REQUEST_ID);
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &[u8], kept: bool) {
        let value = HeaderValue::from_bytes(raw).unwrap();
        assert_eq!(
            acceptable(&value),
            kept,
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }

    #[test]
    fn short_visible_ascii_ids_are_kept() {
        check(b"my-trace-42", true);
        check(b"7fc27495-e196-4dd1-8ea3-96d798fa8844", true);
        check(b"!~{}[]:;=/\\", true);
        check(&[b'a'; MAX_REQUEST_ID_LEN], true);
    }

    #[test]
    fn long_empty_spaced_and_non_ascii_ids_are_not() {
        check(&[b'a'; MAX_REQUEST_ID_LEN + 1], false);
        check(&vec![b'x'; 400 * 1024], false);
        check(b"", false);
        check(b"two words", false);
        check(b"tab\there", false);
        check("café".as_bytes(), false);
        check(b"\xff\xfe", false);
    }

    #[test]
    fn only_a_single_acceptable_id_survives() {
        let request = |ids: &[&str]| {
            let mut r = Request::new(axum::body::Body::empty());
            for id in ids {
                r.headers_mut()
                    .append(&X_REQUEST_ID, HeaderValue::from_str(id).unwrap());
            }
            r
        };
        let kept = drop_unacceptable(request(&["abc"]));
        assert_eq!(kept.headers()[&X_REQUEST_ID], "abc");
        let two = drop_unacceptable(request(&["abc", "def"]));
        assert!(two.headers().get(&X_REQUEST_ID).is_none());
        let spaced = drop_unacceptable(request(&["a b"]));
        assert!(spaced.headers().get(&X_REQUEST_ID).is_none());
        let none = drop_unacceptable(request(&[]));
        assert!(none.headers().get(&X_REQUEST_ID).is_none());
    }
}
