//! CORS: which browser origins may call the API.
//!
//! Default: in embedded mode any origin may read (GET/HEAD, the stream included; a subscriber
//! token in `Authorization` too) but not
//! publish; in distributed mode only same-origin pages (no CORS headers at all). An explicit
//! allow-list (`--cors-origins https://a.example,https://b.example`) may also publish.

use std::time::Duration;

use axum::http::{HeaderValue, Method, header};
use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use super::request_id::X_REQUEST_ID;
use super::stream::LAST_EVENT_ID;

/// The `Vary` of every response when cross-origin access is allowed: the request headers a
/// CORS answer depends on. Written once here; tower-http's layer would join the names into a new
/// value for every response.
const VARY: &str = "origin, access-control-request-method, access-control-request-headers";

/// The CORS layers: the policy, and around it the constant `Vary`.
pub type Cors =
    ServiceBuilder<Stack<CorsLayer, Stack<SetResponseHeaderLayer<HeaderValue>, Identity>>>;

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

    /// The layers enforcing the policy, if any cross-origin access is allowed.
    pub fn layer(&self) -> Option<Cors> {
        let policy = self.policy()?;
        Some(
            ServiceBuilder::new()
                .layer(SetResponseHeaderLayer::appending(
                    header::VARY,
                    HeaderValue::from_static(VARY),
                ))
                .layer(policy.vary([])),
        )
    }

    fn policy(&self) -> Option<CorsLayer> {
        let read = [Method::GET, Method::HEAD, Method::OPTIONS];
        // `Authorization` carries subscriber tokens (a cross-origin read sends it without
        // cookies: no credentials are allowed here).
        let base = CorsLayer::new()
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, LAST_EVENT_ID])
            .expose_headers([X_REQUEST_ID, header::RETRY_AFTER, header::WWW_AUTHENTICATE])
            .max_age(Duration::from_secs(600));
        match self {
            Self::SameOrigin => None,
            Self::AnyRead => Some(base.allow_origin(AllowOrigin::any()).allow_methods(read)),
            Self::List(origins) => Some(
                base.allow_origin(AllowOrigin::list(origins.clone()))
                    .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS, Method::POST]),
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

    /// A preflight may send the stream's and the token's headers, and a cross-origin reader
    /// sees the request id, under both policies.
    #[tokio::test]
    async fn preflights_allow_the_resume_and_token_headers() {
        use axum::body::Body;
        use axum::http::{Request, Response};
        use tower::{ServiceExt, service_fn};

        let inner = service_fn(|_: Request<Body>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Body::empty()))
        });
        for policy in [
            CorsOrigins::AnyRead,
            CorsOrigins::parse(Some("https://a.example"), false).expect("an origin list"),
        ] {
            let preflight = Request::builder()
                .method(Method::OPTIONS)
                .uri("/v1/observations/stream")
                .header("origin", "https://a.example")
                .header("access-control-request-method", "GET")
                .header(
                    "access-control-request-headers",
                    "last-event-id, authorization",
                )
                .body(Body::empty())
                .expect("a request");
            let read = Request::builder()
                .uri("/v1/observations/stream")
                .header("origin", "https://a.example")
                .body(Body::empty())
                .expect("a request");
            let layers = policy.layer().expect("a cross-origin policy");
            let answer = layers.clone().service(inner).oneshot(preflight).await;
            let answer = answer.expect("infallible");
            let allowed = answer.headers()["access-control-allow-headers"]
                .to_str()
                .expect("text");
            assert_eq!(
                allowed, "content-type,authorization,last-event-id",
                "{policy:?}"
            );
            let answer = layers
                .service(inner)
                .oneshot(read)
                .await
                .expect("infallible");
            let exposed = answer.headers()["access-control-expose-headers"]
                .to_str()
                .expect("text");
            assert_eq!(
                exposed, "x-request-id,retry-after,www-authenticate",
                "{policy:?}"
            );
        }
    }

    /// The layers answer exactly as tower-http's CORS layer with its default `Vary` does, for
    /// preflight and plain requests, with and without an origin, on both policies.
    #[tokio::test]
    async fn answers_as_the_default_cors_layer() {
        use axum::body::Body;
        use axum::http::{Request, Response};
        use tower::{Layer, ServiceExt, service_fn};

        let inner = service_fn(|_: Request<Body>| async {
            Ok::<_, std::convert::Infallible>(
                Response::builder()
                    .header("content-type", "text/plain")
                    .body(Body::empty())
                    .expect("a response"),
            )
        });
        let policies = [
            CorsOrigins::AnyRead,
            CorsOrigins::parse(Some("https://a.example"), false).expect("an origin list"),
        ];
        for policy in policies {
            for (method, origin) in [
                (Method::GET, Some("https://a.example")),
                (Method::GET, Some("https://b.example")),
                (Method::GET, None),
                (Method::OPTIONS, Some("https://a.example")),
                (Method::OPTIONS, None),
                (Method::POST, Some("https://a.example")),
            ] {
                let request = || {
                    let mut builder = Request::builder()
                        .method(method.clone())
                        .uri("/v1/observations")
                        .header("access-control-request-method", "GET");
                    if let Some(origin) = origin {
                        builder = builder.header("origin", origin);
                    }
                    builder.body(Body::empty()).expect("a request")
                };
                let ours = policy
                    .layer()
                    .expect("a cross-origin policy")
                    .service(inner)
                    .oneshot(request())
                    .await
                    .expect("infallible");
                let reference = policy
                    .policy()
                    .expect("a cross-origin policy")
                    .layer(inner)
                    .oneshot(request())
                    .await
                    .expect("infallible");
                assert_eq!(ours.status(), reference.status(), "{method} {origin:?}");
                assert_eq!(ours.headers(), reference.headers(), "{method} {origin:?}");
                assert!(ours.headers().contains_key(header::VARY));
            }
        }
    }
}
