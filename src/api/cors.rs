//! CORS: which browser origins may call the API.
//!
//! Default: in embedded mode any origin may read (GET/HEAD, the stream included; a subscriber
//! token in `Authorization` too) but not
//! publish; in distributed mode only same-origin pages (no CORS headers at all). An explicit
//! allow-list (`--cors-origins https://a.example,https://b.example`) may also publish.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The configured policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Any origin may read; none may publish.
    AnyRead,
    /// These origins may read and publish.
    List(Vec<HeaderValue>),
    /// No cross-origin access.
    SameOrigin,
}

impl CorsOrigins {
    /// Parses `--cors-origins`: `*`, `none`, or a comma-separated list of origins; unset picks the
    /// mode's default (`distributed`: same-origin only).
    pub fn parse(raw: Option<&str>, distributed: bool) -> Result<Self, String> {
        let Some(raw) = raw.map(str::trim) else {
            return Ok(if distributed {
                Self::SameOrigin
            } else {
                Self::AnyRead
            });
        };
        match raw {
            "*" => Ok(Self::AnyRead),
            "" | "none" => Ok(Self::SameOrigin),
            list => list
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(|o| {
                    let ok = (o.starts_with("http://") || o.starts_with("https://"))
                        && !o.ends_with('/');
                    ok.then(|| HeaderValue::from_str(o).ok())
                        .flatten()
                        .ok_or_else(|| {
                            format!(
                                "--cors-origins: {o:?} is not an origin like https://example.org"
                            )
                        })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Self::List),
        }
    }

    /// The layer enforcing the policy, if any cross-origin access is allowed.
    pub fn layer(&self) -> Option<CorsLayer> {
        let read = [Method::GET, Method::HEAD, Method::OPTIONS];
        // `Authorization` carries subscriber tokens (a cross-origin read sends it without
        // cookies: no credentials are allowed here).
        let base = CorsLayer::new()
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                HeaderName::from_static("last-event-id"),
            ])
            .expose_headers([
                HeaderName::from_static("x-request-id"),
                header::RETRY_AFTER,
                header::WWW_AUTHENTICATE,
            ])
            .max_age(Duration::from_secs(600));
        match self {
            Self::SameOrigin => None,
            Self::AnyRead => Some(base.allow_origin(AllowOrigin::any()).allow_methods(read)),
            Self::List(origins) => Some(
                base.allow_origin(AllowOrigin::list(origins.clone()))
                    .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS, Method::POST])
                    .allow_headers([
                        header::CONTENT_TYPE,
                        header::AUTHORIZATION,
                        HeaderName::from_static("last-event-id"),
                    ]),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_flag() {
        assert_eq!(CorsOrigins::parse(None, false), Ok(CorsOrigins::AnyRead));
        assert_eq!(CorsOrigins::parse(None, true), Ok(CorsOrigins::SameOrigin));
        assert_eq!(
            CorsOrigins::parse(Some("*"), true),
            Ok(CorsOrigins::AnyRead)
        );
        assert_eq!(
            CorsOrigins::parse(Some("none"), false),
            Ok(CorsOrigins::SameOrigin)
        );
        let list =
            CorsOrigins::parse(Some("https://a.example, http://localhost:3000"), true).unwrap();
        assert!(matches!(list, CorsOrigins::List(ref v) if v.len() == 2));
        assert!(CorsOrigins::parse(Some("a.example"), true).is_err());
        assert!(CorsOrigins::parse(Some("https://a.example/"), true).is_err());
    }
}
