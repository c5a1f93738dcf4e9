//! `POST /v1/observations`: the authenticated publish API for producers (SPEC §5).
//!
//! Bearer-token auth compared in constant time; no token configured → 403 `publish_disabled`.
//! The body is one observation or an array of at most [`MAX_BATCH`]; every item is validated and
//! all problems are reported at once, per field, by the same [`Observation::validate`] that
//! ingest applies (times at most [`MAX_AHEAD`](crate::domain::MAX_AHEAD) ahead). Valid batches
//! are stored, then broadcast like ingested data; re-publishing the same (station, timestamp) with the same values stores nothing.

use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use chrono::Utc;
use subtle::ConstantTimeEq;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, AppState, FieldError};
use crate::domain::{
    Entry, Fields, Observation, StationId, StoredEntry, VALUE_RANGES, checked_fields,
    parse_timestamp,
};
use crate::ingest::store_and_publish_entries;

/// Most observations in one request.
pub const MAX_BATCH: usize = 1000;
/// Largest request body, bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The whole body must arrive within this time of the handler starting to read it (1 MiB at
/// ~35 KB/s), so that a slow upload holds no connection and no memory for long.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(publish))
}

/// Response of a publish.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Published {
    /// Entries stored by this request (new or changed), with their seq.
    pub observations: Vec<StoredEntry>,
    /// How many were stored.
    pub stored: usize,
    /// How many were already stored with the same values (idempotent re-publish).
    pub unchanged: usize,
}

/// Proof that a request carries the publish token. As an extractor of the request head it runs
/// before the body is read, so unauthenticated bodies are never buffered.
#[derive(Debug)]
pub struct Authorized;

impl FromRequestParts<AppState> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authorize(state, &parts.headers).map(|()| Self)
    }
}

fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = state.publish_token.as_ref() else {
        return Err(ApiError::Forbidden(
            "publishing is disabled on this server (start it with --publish-token)".into(),
        ));
    };
    match super::auth::bearer(headers) {
        Some(p) if bool::from(p.as_bytes().ct_eq(token.expose().as_bytes())) => Ok(()),
        Some(_) => Err(ApiError::InvalidToken(
            "the bearer token is not valid".into(),
        )),
        None => Err(ApiError::Unauthorized(
            "send Authorization: Bearer <token>".into(),
        )),
    }
}

/// Parses and validates the body: every problem of every item, with its index and field.
pub fn parse_batch(body: &[u8]) -> Result<Vec<Entry>, ApiError> {
    let items = match serde_json::from_slice::<PublishBody>(body) {
        Ok(PublishBody::Many(items)) => items,
        Ok(PublishBody::One(object)) => vec![serde_json::Value::Object(object)],
        // Not one of the shapes: say whether it is JSON at all.
        Err(_) => {
            return Err(match serde_json::from_slice::<serde_json::Value>(body) {
                Err(e) => ApiError::BadRequest(format!("the body is not valid JSON: {e}")),
                Ok(_) => ApiError::BadRequest(
                    "the body must be an observation object or an array of them".into(),
                ),
            });
        }
    };
    if items.is_empty() {
        return Err(ApiError::BadRequest("the array is empty".into()));
    }
    if items.len() > MAX_BATCH {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_BATCH} observations per request"
        )));
    }
    let now = Utc::now();
    let mut observations = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        if !item.is_object() {
            errors.push(FieldError {
                index,
                field: None,
                message: "must be a JSON object".into(),
            });
            continue;
        }
        let shape = check_shape(index, &item);
        if !shape.is_empty() {
            errors.extend(shape);
            continue;
        }
        let entry = if is_observation(&item) {
            serde_json::from_value::<Observation>(item)
                .map(Entry::Observation)
                .map_err(|e| e.to_string())
        } else {
            // Another kind (SPEC §3a): the envelope was checked above; its other members are
            // its fields.
            serde_json::from_value::<Fields>(item)
                .map_err(|e| e.to_string())
                .and_then(|Fields(members)| Entry::from_members(members))
                .and_then(|entry| match entry {
                    // The kind's field names and types (SPEC §3a), as OpenAPI describes them.
                    Entry::Other(mut other) => {
                        other.fields = checked_fields(other.kind, other.fields)
                            .map_err(|e| format!("{} fields: {e}", other.kind))?;
                        Ok(Entry::Other(other))
                    }
                    observation => Ok(observation),
                })
        };
        match entry {
            Ok(o) => match o.validate(now) {
                Ok(()) => observations.push(o),
                Err(problems) => errors.extend(problems.into_iter().map(|p| FieldError {
                    index,
                    field: Some(p.field.to_owned()),
                    message: p.message,
                })),
            },
            Err(message) => errors.push(FieldError {
                index,
                field: None,
                message,
            }),
        }
    }
    if errors.is_empty() {
        Ok(observations)
    } else {
        Err(ApiError::Invalid(errors))
    }
}

/// Checks the type of every known field, so that each problem names its field: `stationId`
/// and `timestamp` are required strings that parse, the values are numbers or null.
fn check_shape(index: usize, item: &serde_json::Value) -> Vec<FieldError> {
    let problem = |field: &str, message: String| FieldError {
        index,
        field: Some(field.to_owned()),
        message,
    };
    let mut errors = Vec::new();
    match item.get("stationId") {
        None | Some(serde_json::Value::Null) => {
            errors.push(problem("stationId", "is required".into()))
        }
        Some(serde_json::Value::String(id)) => {
            if let Err(e) = StationId::parse(id) {
                errors.push(problem("stationId", e.to_string()));
            }
        }
        Some(_) => errors.push(problem("stationId", "must be a string".into())),
    }
    match item.get("timestamp") {
        None | Some(serde_json::Value::Null) => {
            errors.push(problem("timestamp", "is required".into()))
        }
        Some(serde_json::Value::String(t)) => {
            if parse_timestamp(t).is_none() {
                errors.push(problem(
                    "timestamp",
                    "must be an ISO 8601 time such as 2025-11-15T12:00:00Z".into(),
                ));
            }
        }
        Some(_) => errors.push(problem("timestamp", "must be a string".into())),
    }
    if !is_observation(item) {
        return errors;
    }
    for (name, _, _) in VALUE_RANGES {
        if let Some(v) = item.get(name)
            && !(v.is_number() || v.is_null())
        {
            errors.push(problem(name, "must be a number or null".into()));
        }
    }
    errors
}

/// Whether an item is an observation: no `kind`, or `kind: "observation"`.
fn is_observation(item: &serde_json::Value) -> bool {
    item.get("kind")
        .is_none_or(|kind| kind.as_str() == Some("observation"))
}

/// A request body: one observation or an array of them.
// Its items are read as JSON first, so that each problem is reported with its index and field.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum PublishBody {
    /// One observation.
    #[schema(value_type = Observation)]
    One(serde_json::Map<String, serde_json::Value>),
    /// Up to 1000 observations.
    #[schema(value_type = Vec<Observation>)]
    Many(Vec<serde_json::Value>),
}

/// Whether the request has one `Content-Type`, and it is `application/json` (any case, with or
/// without parameters such as `charset`).
fn is_json(headers: &HeaderMap) -> bool {
    let mut types = headers.get_all(header::CONTENT_TYPE).iter();
    let (Some(value), None) = (types.next(), types.next()) else {
        return false;
    };
    value.to_str().is_ok_and(|v| {
        v.split(';')
            .next()
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
    })
}

/// The whole body, at most [`MAX_BODY_BYTES`] (else `413`), within [`BODY_TIMEOUT`] (else `408`).
async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    let read = axum::body::to_bytes(body, MAX_BODY_BYTES);
    match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Err(_) => Err(ApiError::BodyTimeout(format!(
            "the body did not arrive within {} s",
            BODY_TIMEOUT.as_secs()
        ))),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => {
            let too_large =
                std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                })
                .any(|e| e.is::<http_body_util::LengthLimitError>());
            Err(if too_large {
                ApiError::PayloadTooLarge(format!("the body may be at most {MAX_BODY_BYTES} bytes"))
            } else {
                ApiError::BadRequest(format!("could not read the body: {e}"))
            })
        }
    }
}

/// Publish observations (authenticated): validated, stored, then streamed to every client.
#[utoipa::path(post, path = "/v1/observations", tag = "observations",
    request_body(content = PublishBody, description = "One observation or an array of at most 1000 (SPEC field names; `stationId` and `timestamp` required)", content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Something new was stored", body = Published),
        (status = 200, description = "Everything was already stored with these values", body = Published),
        (status = 400, description = "Malformed JSON or batch", body = super::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::ErrorBody),
        (status = 403, description = "Publishing is disabled (no token configured)", body = super::ErrorBody),
        (status = 408, description = "The body did not arrive within 30 s", body = super::ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = super::ErrorBody),
        (status = 415, description = "Not application/json", body = super::ErrorBody),
        (status = 422, description = "Invalid fields; `details` lists each", body = super::ErrorBody),
        (status = 503, description = "Store unavailable", body = super::ErrorBody),
    ))]
async fn publish(
    State(state): State<AppState>,
    _authorized: Authorized,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    if !is_json(&headers) {
        return Err(ApiError::UnsupportedMediaType(
            "send Content-Type: application/json".into(),
        ));
    }
    let body = read_body(body).await?;
    let batch = parse_batch(&body)?;
    let stored =
        store_and_publish_entries(state.store.as_ref(), state.bus.as_ref(), &batch).await?;
    metrics::counter!("publish_observations_total", "result" => "stored")
        .increment(stored.len() as u64);
    let unchanged = crate::store::normalised_len(&batch) - stored.len();
    metrics::counter!("publish_observations_total", "result" => "unchanged")
        .increment(unchanged as u64);
    let status = if stored.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(Published {
            stored: stored.len(),
            unchanged,
            observations: stored,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_problem_with_its_index_and_field() {
        let body = br#"[
            {"stationId":"44009","timestamp":"2025-11-15T12:00:00Z","waveHeightM":1.2},
            {"stationId":"44009","timestamp":"2025-11-15T12:00:00Z","waveHeightM":-4,"windDirDeg":400},
            {"timestamp":"2025-11-15T12:00:00Z"},
            {"stationId":"bad id!","timestamp":"2025-11-15T12:00:00Z"},
            7
        ]"#;
        let Err(ApiError::Invalid(errors)) = parse_batch(body) else {
            panic!("expected errors")
        };
        let summary: Vec<(usize, Option<&str>)> = errors
            .iter()
            .map(|e| (e.index, e.field.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [
                (1, Some("waveHeightM")),
                (1, Some("windDirDeg")),
                (2, Some("stationId")),
                (3, Some("stationId")),
                (4, None)
            ]
        );
    }

    #[test]
    fn wrong_types_name_their_field() {
        let body = br#"{"stationId":7,"timestamp":"soon","waveHeightM":"high","tideFt":null}"#;
        let Err(ApiError::Invalid(errors)) = parse_batch(body) else {
            panic!("expected errors")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_deref()).collect();
        assert_eq!(
            fields,
            [Some("stationId"), Some("timestamp"), Some("waveHeightM")]
        );
    }

    #[test]
    fn accepts_an_object_or_an_array() {
        let one = br#"{"stationId":"44009","timestamp":"2025-11-15T12:00:00Z"}"#;
        assert_eq!(parse_batch(one).unwrap().len(), 1);
        assert!(matches!(parse_batch(b"[]"), Err(ApiError::BadRequest(_))));
        assert!(matches!(
            parse_batch(b"{nope"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse_batch(b"\"x\""),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn entries_of_other_kinds_keep_their_fields_and_bad_kinds_name_their_item() {
        let body = br#"[
            {"kind":"observation","stationId":"44009","timestamp":"2025-11-15T12:00:00Z","waveHeightM":1.0},
            {"kind":"tsunami","stationId":"41421","timestamp":"2025-11-15T12:00:15Z","measurementType":3,"waterColumnHeightM":5783.4}
        ]"#;
        let batch = parse_batch(body).unwrap();
        assert_eq!(batch[0].kind(), crate::domain::Kind::Observation);
        let Entry::Other(tsunami) = &batch[1] else {
            panic!("a tsunami entry")
        };
        assert_eq!(
            tsunami.fields.to_json(),
            r#"{"measurementType":3,"waterColumnHeightM":5783.4}"#
        );
        let body = br#"[
            {"kind":"waves","stationId":"44009","timestamp":"2025-11-15T12:00:00Z"},
            {"kind":"rain","stationId":"44009"},
            {"kind":"rain","stationId":"44009","timestamp":"2999-01-01T00:00:00Z","accumulationMm":1}
        ]"#;
        let Err(ApiError::Invalid(errors)) = parse_batch(body) else {
            panic!("invalid items are a 422")
        };
        let found: Vec<(usize, Option<&str>)> = errors
            .iter()
            .map(|e| (e.index, e.field.as_deref()))
            .collect();
        assert_eq!(
            found,
            [(0, None), (1, Some("timestamp")), (2, Some("timestamp"))]
        );
        assert!(
            errors[0].message.contains("unknown kind \"waves\""),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn fields_of_other_kinds_must_be_the_kinds_fields_with_their_types() {
        let ok = br#"{"kind":"ocean","stationId":"44029","timestamp":"2025-11-15T12:00:00Z","salinityPsu":31.5}"#;
        let batch = parse_batch(ok).unwrap();
        let Entry::Other(ocean) = &batch[0] else {
            panic!("an ocean entry")
        };
        assert_eq!(
            ocean.fields.get("salinityPsu"),
            Some(&serde_json::json!(31.5))
        );
        assert_eq!(
            ocean.fields.get("depthM"),
            Some(&serde_json::Value::Null),
            "missing fields are null, as from NDBC files"
        );
        for bad in [
            &br#"{"kind":"ocean","stationId":"44029","timestamp":"2025-11-15T12:00:00Z","depthM":"deep"}"#[..],
            br#"{"kind":"ocean","stationId":"44029","timestamp":"2025-11-15T12:00:00Z","saltiness":3}"#,
            br#"{"kind":"spectrum","stationId":"44013","timestamp":"2025-11-15T12:00:00Z","r1":[0.5]}"#,
        ] {
            let Err(ApiError::Invalid(errors)) = parse_batch(bad) else {
                panic!("{} is refused", String::from_utf8_lossy(bad))
            };
            assert!(errors[0].message.contains(" fields: "), "{}", errors[0].message);
        }
    }
}
