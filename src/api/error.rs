//! The API's one error type, mapped to `{"error":{"code","message"}}` in one place.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;

/// The body of every error response.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// An error: a stable machine-readable code and a human-readable message.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable code, e.g. `bad_request`, `unauthorized`, `forbidden`, `not_found`, `unavailable`,
    /// `too_many_streams`.
    #[schema(example = "bad_request")]
    pub code: String,
    /// What to do about it.
    pub message: String,
    /// Per-field problems (publish API validation only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<FieldError>>,
}

/// One problem with a published observation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Position of the observation in the request (0 for a single object).
    pub index: usize,
    /// The JSON field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// Everything an HTTP handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A parameter, header or body is invalid.
    #[error("{0}")]
    BadRequest(String),
    /// Credentials are missing.
    #[error("{0}")]
    Unauthorized(String),
    /// A token was given but is not valid (bad signature, expired, wrong audience, ...).
    #[error("{0}")]
    InvalidToken(String),
    /// The operation is not enabled on this server.
    #[error("{0}")]
    Forbidden(String),
    /// The token does not grant a station the request asks for.
    #[error("{0}")]
    StationNotGranted(String),
    /// The client's address is not one this endpoint is open to.
    #[error("{0}")]
    AddressNotAllowed(String),
    /// The body is larger than the limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The body is not of a supported type.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body did not arrive within its time.
    #[error("{0}")]
    BodyTimeout(String),
    /// The front door refuses a new connection: its address holds its share of connections, or
    /// every place holds a request. Written without routing the request (as an event stream to an
    /// event-stream client whose head arrives at once, else as `503`).
    #[error("too many connections; try again")]
    TooManyConnections,
    /// The request head is larger than the front door accepts.
    #[error("the request head is larger than 8 KiB or has more than 64 headers")]
    HeadTooLarge,
    /// The body is well-formed but its content is invalid; one entry per problem.
    #[error("{} invalid field(s)", .0.len())]
    Invalid(Vec<FieldError>),
    /// Nothing at this path.
    #[error("{0}")]
    NotFound(String),
    /// The method is not served at this path (the router adds the `Allow` header).
    #[error("method not allowed at this path")]
    MethodNotAllowed,
    /// The `Accept` header excludes what the endpoint produces.
    #[error("{0}")]
    NotAcceptable(String),
    /// A dependency is down, or the server is shutting down; try again after the given seconds.
    #[error("{message}")]
    Unavailable {
        message: String,
        retry_after_secs: u32,
    },
    /// Too many open streams; try again after the given seconds.
    #[error("{message}")]
    TooManyStreams {
        message: String,
        retry_after_secs: u32,
    },
    /// Too many open streams from this client address; try again after the given seconds.
    #[error("{message}")]
    TooManyStreamsPerClient {
        message: String,
        retry_after_secs: u32,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApiError {
    /// After how many seconds a transient refusal may be retried; `None` for an error that
    /// retrying will not cure.
    pub fn retry_after_secs(&self) -> Option<u32> {
        match self {
            Self::Unavailable {
                retry_after_secs, ..
            }
            | Self::TooManyStreams {
                retry_after_secs, ..
            }
            | Self::TooManyStreamsPerClient {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            Self::Store(_) | Self::TooManyConnections => Some(5),
            _ => None,
        }
    }

    /// The stable code and the message sent to the client (a store error is logged here in
    /// full and answered without internals).
    fn code_and_message(&self) -> (&'static str, String) {
        let (_, code) = self.parts();
        let message = match self {
            Self::Store(e) => {
                let kind = crate::store::StoreFault::of(e).code();
                tracing::error!(event = "store_error", kind, error = %e, "store request failed");
                format!("the store is unavailable ({kind}); try again shortly")
            }
            other => other.to_string(),
        };
        (code, message)
    }

    /// The answer to a client whose `Accept` names `text/event-stream` (SPEC §4): a transient
    /// refusal is `200 text/event-stream` with `retry:` (the retry delay with ±25 % jitter, so
    /// refused clients do not come back together), one `unavailable` event and the end of the
    /// response, because an `EventSource` gives up for good on any other status. Permanent
    /// errors are answered as usual.
    pub fn into_event_stream_response(self) -> Response {
        let Some(secs) = self.retry_after_secs() else {
            return self.into_response();
        };
        let (code, message) = self.code_and_message();
        let base = u64::from(secs.max(1)) * 1000;
        let retry_ms = rand::random_range(base * 3 / 4..=base * 5 / 4);
        let body = crate::hub::frame::encode_unavailable(code, &message, retry_ms);
        let mut response = Response::new(axum::body::Body::from(body));
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert(
            super::stream::X_ACCEL_BUFFERING,
            HeaderValue::from_static("no"),
        );
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        response
    }

    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::Unauthorized(_) | Self::InvalidToken(_) => {
                (StatusCode::UNAUTHORIZED, "unauthorized")
            }
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "publish_disabled"),
            Self::StationNotGranted(_) | Self::AddressNotAllowed(_) => {
                (StatusCode::FORBIDDEN, "forbidden")
            }
            Self::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::BodyTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            Self::HeadTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "request_header_fields_too_large",
            ),
            Self::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_observation"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::NotAcceptable(_) => (StatusCode::NOT_ACCEPTABLE, "not_acceptable"),
            Self::Unavailable { .. } | Self::Store(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            Self::TooManyStreams { .. } => (StatusCode::SERVICE_UNAVAILABLE, "too_many_streams"),
            Self::TooManyConnections => (StatusCode::SERVICE_UNAVAILABLE, "too_many_connections"),
            Self::TooManyStreamsPerClient { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "too_many_streams_per_client")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _) = self.parts();
        let (code, message) = self.code_and_message();
        let details = match &self {
            Self::Invalid(details) => Some(details.clone()),
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message,
                details,
            },
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            Self::Unauthorized(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="buoycast""#),
                );
            }
            Self::InvalidToken(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="buoycast", error="invalid_token""#),
                );
            }
            _ => {}
        }
        if let Some(secs) = self.retry_after_secs() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
