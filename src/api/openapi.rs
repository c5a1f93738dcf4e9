//! `GET /openapi.json`: the OpenAPI 3.1 description of the REST API, the stream and its events.

use std::sync::LazyLock;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::AppState;
use super::auth::{TOKEN_COOKIE, TOKEN_QUERY};
use crate::domain::{
    MAX_AHEAD, Observation, Seq, Station, StationId, StoredObservation, VALUE_RANGES,
};

/// Data of `event: connection`. Its SSE `id` is the stream's position: the resume id
/// (`Last-Event-ID` or `lastEventId`), for a fresh stream the newest seq it starts after, for
/// `since=` the seq before its first match. Resuming from it misses nothing and repeats nothing.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ConnectionEvent {
    /// Always `connected`.
    #[schema(example = "connected")]
    status: String,
    /// Server time.
    #[schema(format = DateTime)]
    timestamp: String,
}

/// Data of `event: heartbeat`. Its SSE `id` is the stream's position: every observation up to
/// that seq that matches the stream's filter has been sent. It never goes backwards.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct HeartbeatEvent {
    /// Server time.
    #[schema(format = DateTime)]
    timestamp: String,
}

/// Data of `event: reset`: the resume point could not be honoured in full. Its SSE `id` is the
/// position the stream goes on after (`oldestSeq - 1`).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub struct ResetEvent {
    /// Replay continues from this seq.
    oldest_seq: i64,
    /// `replay_limit` (more missed than the server replays) or `unknown_event_id`.
    reason: String,
    /// Human-readable explanation.
    message: String,
}

/// Data of `event: unavailable`, the only event of a transient refusal sent as an event stream
/// (after `retry:`; the response then ends and the client reconnects by itself). No `id`.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub struct UnavailableEvent {
    /// `unavailable` (bus or store down, starting or shutting down), `too_many_streams`,
    /// `too_many_streams_per_client` or `too_many_connections`.
    code: String,
    /// Human-readable explanation.
    message: String,
    /// The reconnection delay the `retry:` line sets (the retry delay with jitter).
    retry_after_ms: u64,
}

/// Data of `event: shutdown`, the last frame before the server closes the stream.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ShutdownEvent {
    /// Why the stream ends.
    reason: String,
    /// Server time.
    #[schema(format = DateTime)]
    timestamp: String,
}

/// No valid token: subscriber auth is on and none was given or it is not valid (or `/metrics`
/// needs its token). The body says why; the token itself is never echoed.
#[derive(Debug, utoipa::ToResponse)]
#[response(headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"buoycast\"`, with `error=\"invalid_token\"` when a token was given but is not valid")))]
#[allow(dead_code)]
pub struct Unauthorized(super::ErrorBody);

/// The token is valid but its `stations` claim does not grant a station the request names.
#[derive(Debug, utoipa::ToResponse)]
#[allow(dead_code)]
pub struct StationForbidden(super::ErrorBody);

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        let jwt = "Subscriber auth (off unless the server is started with a JWT key): a JWT \
                   (HS256, RS256, ES256, ...) with `exp`, and `aud`/`iss` when configured; its \
                   optional `stations` claim limits what it may read.";
        components.add_security_scheme(
            "subscriberJwt",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(jwt))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "subscriberCookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                TOKEN_COOKIE,
                "The subscriber JWT in a cookie.",
            ))),
        );
        components.add_security_scheme(
            "subscriberQuery",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                TOKEN_QUERY,
                "The subscriber JWT as a query parameter (an EventSource cannot set headers).",
            ))),
        );
        components.add_security_scheme(
            "metricsToken",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The token of `--metrics-token`, when one is set."))
                    .build(),
            ),
        );
    }
}

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "buoycast",
        description = "Live ocean-buoy observations over Server-Sent Events, with a polling fallback, history and an authenticated publish API. Errors have the body `{\"error\":{\"code\",\"message\"}}`.",
        license(name = "MIT OR Apache-2.0"),
    ),
    paths(
        super::stream::stream,
        super::observations::poll,
        super::observations::latest,
        super::observations::by_station,
        super::publish::publish,
        super::stations::list,
        super::stations::one,
        super::health::health,
        super::health::version,
        super::health::ready,
        super::health::metrics_text,
    ),
    components(schemas(
        Observation, StoredObservation, Station, StationId, Seq,
        ConnectionEvent, HeartbeatEvent, ResetEvent, ShutdownEvent, UnavailableEvent,
        super::ErrorBody, super::ErrorDetail, super::FieldError,
    ), responses(Unauthorized, StationForbidden)),
    modifiers(&BearerAuth),
    tags(
        (name = "stream", description = "Server-Sent Events"),
        (name = "observations", description = "Polling, history, latest values and publishing"),
        (name = "stations", description = "Station metadata"),
        (name = "operations", description = "Health, version, readiness and metrics"),
    ),
)]
pub struct ApiDoc;

/// The description as JSON, built once.
pub fn json() -> &'static str {
    static JSON: LazyLock<String> = LazyLock::new(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        let mut value = serde_json::to_value(&doc).unwrap_or_default();
        describe_publish_input(&mut value);
        value.to_string()
    });
    &JSON
}

/// The publish API accepts what validation accepts: adds `ObservationInput` (the observation
/// schema with each value's range from [`VALUE_RANGES`]) and makes the request body one of it
/// or an array of 1 to 1000 of it.
fn describe_publish_input(doc: &mut serde_json::Value) {
    let schemas = &mut doc["components"]["schemas"];
    let mut input = schemas["Observation"].clone();
    for (name, lo, hi) in VALUE_RANGES {
        let property = &mut input["properties"][name];
        if property.is_object() {
            property["minimum"] = serde_json::json!(lo);
            property["maximum"] = serde_json::json!(hi);
        }
    }
    input["description"] = serde_json::json!(format!(
        "An observation to publish: `stationId` and `timestamp` (after 1970, at most {} minutes ahead of the server's clock) are required; values must lie in the given ranges.",
        MAX_AHEAD.num_minutes()
    ));
    schemas["ObservationInput"] = input;
    let reference = serde_json::json!({ "$ref": "#/components/schemas/ObservationInput" });
    let body = &mut doc["paths"]["/v1/observations"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    *body = serde_json::json!({
        "oneOf": [reference, { "type": "array", "items": reference, "minItems": 1, "maxItems": 1000 }]
    });
}

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(openapi_json))
}

async fn openapi_json() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], json())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_every_endpoint_and_the_error_shape() {
        let doc: serde_json::Value = serde_json::from_str(json()).unwrap();
        assert_eq!(doc["info"]["title"], "buoycast");
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        for path in [
            "/v1/observations/stream",
            "/v1/observations",
            "/v1/observations/latest",
            "/v1/observations/by-station/{station_id}",
            "/v1/stations",
            "/v1/stations/{station_id}",
            "/health",
            "/version",
            "/ready",
            "/metrics",
        ] {
            assert!(doc["paths"][path].is_object(), "{path} missing");
        }
        assert!(doc["paths"]["/v1/observations"]["post"].is_object());
        let observation = &doc["components"]["schemas"]["Observation"]["properties"];
        for field in [
            "stationId",
            "timestamp",
            "waveHeightM",
            "pressureTendencyHpa",
            "tideFt",
        ] {
            assert!(observation[field].is_object(), "{field} missing");
        }
        assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
        for scheme in [
            "subscriberJwt",
            "subscriberCookie",
            "subscriberQuery",
            "metricsToken",
        ] {
            assert!(
                doc["components"]["securitySchemes"][scheme].is_object(),
                "{scheme} missing"
            );
        }
        for path in [
            "/v1/observations/stream",
            "/v1/observations",
            "/v1/observations/latest",
            "/v1/observations/by-station/{station_id}",
            "/v1/stations",
            "/v1/stations/{station_id}",
        ] {
            let get = &doc["paths"][path]["get"];
            assert!(get["responses"]["401"].is_object(), "{path}: no 401");
            let schemes: Vec<_> = get["security"].as_array().unwrap().iter().collect();
            assert!(
                schemes.iter().any(|s| s.as_object().unwrap().is_empty()),
                "{path}: auth must stay optional (off by default)"
            );
            assert!(
                schemes.iter().any(|s| s["subscriberJwt"].is_array()),
                "{path}"
            );
        }
        assert!(doc["paths"]["/v1/stations/{station_id}"]["get"]["responses"]["403"].is_object());
    }
}
