//! `GET /openapi.json`: the OpenAPI 3.1 description of the REST API, the stream and its events.
//! Each route brings its own entry (registered with `utoipa-axum`'s `routes!`); this module holds
//! the document's frame ([`ApiDoc`]), the shared responses and what the derives cannot say.

use axum::Router;
use axum::http::header;
use axum::routing::get;
use bytes::Bytes;
use utoipa::openapi::content::Content;
use utoipa::openapi::header::Header;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ArrayBuilder, Object, OneOfBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, Number, OpenApi, ToResponse, ToSchema};

use super::AppState;
use super::auth::{TOKEN_COOKIE, TOKEN_QUERY};
use super::publish::{MAX_BATCH, PublishBody};
use crate::domain::{
    KindSet, MAX_AHEAD, Observation, Seq, Station, StationId, StoredObservation, VALUE_RANGES,
};
use crate::hub::frame::{
    ConnectionEvent, HeartbeatEvent, ResetEvent, ShutdownEvent, UnavailableEvent,
};

/// The shared `401` response (subscriber auth, the `/metrics` token), with its header.
#[derive(Debug)]
pub struct Unauthorized;

impl<'r> ToResponse<'r> for Unauthorized {
    fn response() -> (&'r str, RefOr<Response>) {
        let www_authenticate = Header::builder()
            .schema(Some(Object::with_type(Type::String)))
            .description(Some(
                "`Bearer realm=\"buoycast\"`, with `error=\"invalid_token\"` when a token was given but is not valid",
            ))
            .build();
        let response = error_response(
            "No valid token: subscriber auth is on and none was given or it is not valid (or `/metrics`\nneeds its token). The body says why; the token itself is never echoed.",
        )
        .header("WWW-Authenticate", www_authenticate)
        .build();
        ("Unauthorized", response.into())
    }
}

/// The shared `403` response of a read whose token does not grant a station.
#[derive(Debug)]
pub struct StationForbidden;

impl<'r> ToResponse<'r> for StationForbidden {
    fn response() -> (&'r str, RefOr<Response>) {
        let response = error_response(
            "The token is valid but its `stations` claim does not grant a station the request names, or grants none.",
        )
        .build();
        ("StationForbidden", response.into())
    }
}

/// A response with an [`ErrorBody`](super::ErrorBody) as its JSON body.
fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        Content::new(Some(Ref::from_schema_name(super::ErrorBody::name()))),
    )
}

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
    components(schemas(
        Observation, StoredObservation, Station, StationId, Seq,
        ConnectionEvent, HeartbeatEvent, ResetEvent, ShutdownEvent, UnavailableEvent, PublishBody,
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

/// `GET /openapi.json`, serving `description`: the base document ([`ApiDoc`]) merged with
/// every route's entry, as the routers registered them.
pub(super) fn router(description: utoipa::openapi::OpenApi) -> Router<AppState> {
    let json = Bytes::from(finish(description));
    Router::new().route(
        "/openapi.json",
        get(move || {
            let json = json.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], json) }
        }),
    )
}

/// The description as JSON, completed with what the derives cannot say.
fn finish(mut description: utoipa::openapi::OpenApi) -> String {
    description.info.version = env!("CARGO_PKG_VERSION").to_owned();
    PublishInput.modify(&mut description);
    KindsPattern.modify(&mut description);
    serde_json::to_value(&description)
        .map(|value| value.to_string())
        .unwrap_or_default()
}

/// Every `kinds` query parameter accepts what [`KindSet::parse`] accepts: `*`, or kind names
/// (case-sensitive, from [`Kind::ALL`]) separated by commas, with blanks around them.
struct KindsPattern;

/// The pattern of a `kinds=` value.
fn kinds_pattern() -> String {
    // Exactly the characters `str::trim` removes (Unicode `White_Space`), spelled the same in
    // the regex dialects of OpenAPI tools (ECMA-262, Python, Rust).
    const BLANK: &str =
        r"[\t\n\x0B\x0C\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*";
    let name = format!("({})", KindSet::ALL.names().join("|"));
    format!(r"^{BLANK}(\*|{name}({BLANK},{BLANK}{name})*){BLANK}$")
}

impl Modify for KindsPattern {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let pattern = kinds_pattern();
        let parameters = openapi
            .paths
            .paths
            .values_mut()
            .filter_map(|item| item.get.as_mut()?.parameters.as_mut())
            .flatten()
            .filter_map(|p| match p {
                RefOr::T(p) if p.name == "kinds" => Some(p),
                _ => None,
            });
        for parameter in parameters {
            if let Some(RefOr::T(Schema::Object(schema))) = parameter.schema.as_mut() {
                schema.pattern = Some(pattern.clone());
            }
        }
    }
}

/// The publish API accepts what validation accepts: adds `ObservationInput` (the observation
/// schema with each value's range from [`VALUE_RANGES`]) and makes the request body one of it
/// or an array of 1 to [`MAX_BATCH`] of it.
struct PublishInput;

/// The schema name of a published observation.
const OBSERVATION_INPUT: &str = "ObservationInput";

impl Modify for PublishInput {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let Some(RefOr::T(Schema::Object(observation))) =
            components.schemas.get(&*Observation::name())
        else {
            return;
        };
        let mut input = observation.clone();
        for (name, lo, hi) in VALUE_RANGES {
            if let Some(RefOr::T(Schema::Object(property))) = input.properties.get_mut(name) {
                property.minimum = Some(Number::Float(lo));
                property.maximum = Some(Number::Float(hi));
            }
        }
        input.description = Some(format!(
            "An observation to publish: `stationId` and `timestamp` (after 1970, at most {} minutes ahead of the server's clock) are required; values must lie in the given ranges.",
            MAX_AHEAD.num_minutes()
        ));
        components
            .schemas
            .insert(OBSERVATION_INPUT.to_owned(), input.into());
        // Every body declared as `PublishBody`.
        let publish_body = RefOr::Ref(Ref::from_schema_name(PublishBody::name()));
        let bodies = openapi
            .paths
            .paths
            .values_mut()
            .filter_map(|item| match item.post.as_mut()?.request_body.as_mut()? {
                RefOr::T(body) => Some(body),
                RefOr::Ref(_) => None,
            })
            .flat_map(|body| body.content.values_mut())
            .filter_map(|content| match content {
                RefOr::T(content) if content.schema.as_ref() == Some(&publish_body) => {
                    Some(content)
                }
                _ => None,
            });
        for content in bodies {
            let one = Ref::from_schema_name(OBSERVATION_INPUT);
            let many = ArrayBuilder::new()
                .items(one.clone())
                .min_items(Some(1))
                .max_items(Some(MAX_BATCH));
            content.schema = Some(RefOr::T(Schema::OneOf(
                OneOfBuilder::new().item(one).item(many).build(),
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::domain::{Kind, stored_schema_name};

    #[test]
    fn describes_every_endpoint_and_the_error_shape() {
        let (_, description) = super::super::described_routes().split_for_parts();
        let doc: serde_json::Value = serde_json::from_str(&finish(description)).unwrap();
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

    /// The document as JSON.
    fn document() -> serde_json::Value {
        let (_, description) = super::super::described_routes().split_for_parts();
        serde_json::from_str(&finish(description)).unwrap()
    }

    /// The property names of `schema`, following `$ref`s into the document's components and
    /// the items of `allOf`.
    fn properties(doc: &serde_json::Value, schema: &serde_json::Value) -> BTreeSet<String> {
        if let Some(target) = schema["$ref"].as_str() {
            let name = target.trim_start_matches("#/components/schemas/");
            let resolved = &doc["components"]["schemas"][name];
            assert!(resolved.is_object(), "{target} is not in the document");
            return properties(doc, resolved);
        }
        let mut names: BTreeSet<String> = schema["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        for part in schema["allOf"].as_array().into_iter().flatten() {
            names.extend(properties(doc, part));
        }
        names
    }

    /// The `$ref`s of every `oneOf` of the document that refers to `target` among others.
    fn one_ofs_with(value: &serde_json::Value, target: &str, found: &mut Vec<Vec<String>>) {
        match value {
            serde_json::Value::Object(members) => {
                if let Some(items) = members.get("oneOf").and_then(|v| v.as_array()) {
                    let refs: Vec<String> = items
                        .iter()
                        .filter_map(|i| i["$ref"].as_str().map(str::to_owned))
                        .collect();
                    // (A `oneOf` of one reference and `null` is an optional member.)
                    if refs.len() > 1 && refs.iter().any(|r| r == target) {
                        found.push(refs);
                    }
                }
                members
                    .values()
                    .for_each(|v| one_ofs_with(v, target, found));
            }
            serde_json::Value::Array(items) => {
                items.iter().for_each(|v| one_ofs_with(v, target, found));
            }
            _ => {}
        }
    }

    /// A real payload of `kind`, from the sample files of `../shared/ndbc/realtime2` (a spectrum
    /// joined from station 44013's five spectral files).
    fn sample(kind: Kind) -> ndbc::Payload {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/ndbc/realtime2");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        let mut rows = Vec::new();
        for name in names {
            let Some((station, product)) = ndbc::Product::split_file_name(&name) else {
                continue;
            };
            if product.kind() != kind || (kind == Kind::Spectrum && station != "44013") {
                continue;
            }
            let bytes = std::fs::read(dir.join(&name)).unwrap();
            rows.extend(ndbc::parse_product(product, &bytes).unwrap().records);
            if kind != Kind::Spectrum {
                break;
            }
        }
        let first = ndbc::join_spectra(rows).into_iter().next();
        first
            .unwrap_or_else(|| panic!("no sample file of {kind}"))
            .payload
    }

    #[test]
    fn kinds_parameters_accept_what_kind_sets_parse() {
        let doc = document();
        let pattern = regex::Regex::new(&kinds_pattern()).unwrap();
        let mut described = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for parameter in item["get"]["parameters"].as_array().into_iter().flatten() {
                if parameter["name"] == "kinds" {
                    assert_eq!(
                        parameter["schema"]["pattern"],
                        kinds_pattern().as_str(),
                        "{path}"
                    );
                    described += 1;
                }
            }
        }
        assert_eq!(described, 4, "the stream and the three reads take kinds=");
        for text in [
            "*",
            " * ",
            "observation",
            "spectrum, observation,spectrum",
            "\tocean ,\ncurrents ",
            "",
            "ocean,",
            ",ocean",
            "Spectrum",
            "spectra",
            "observation*",
            "\u{a0}ocean\u{3000}",
            "\u{feff}ocean",
            "\u{1c}ocean",
        ] {
            assert_eq!(
                pattern.is_match(text),
                KindSet::parse(text).is_ok(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn every_kind_has_a_stored_schema_with_its_fields() {
        let doc = document();
        let envelope: BTreeSet<String> = ["seq", "kind", "stationId", "timestamp"]
            .map(String::from)
            .into();
        for kind in Kind::ALL.into_iter().filter(|k| *k != Kind::Observation) {
            let payload = sample(kind);
            assert_eq!(payload.kind(), kind);
            let fields: BTreeSet<String> = serde_json::to_value(&payload)
                .unwrap()
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            assert!(!fields.is_empty(), "{kind}: no fields");
            let name = stored_schema_name(kind);
            let schema = &doc["components"]["schemas"][&name];
            assert!(schema.is_object(), "{name} missing");
            let described = properties(&doc, schema);
            let expected: BTreeSet<String> = fields.union(&envelope).cloned().collect();
            assert_eq!(
                described, expected,
                "{name}: properties differ from {kind}'s fields"
            );
            // `kind` is fixed to the kind's name by one of the parts.
            let fixed: Vec<&serde_json::Value> = schema["allOf"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|part| part["properties"]["kind"]["enum"].as_array())
                .flatten()
                .collect();
            assert_eq!(fixed, [&serde_json::json!(kind.name())], "{name}: kind");
        }
        // A stored entry is one of these schemas, one per kind, wherever it is returned.
        let expected: Vec<String> = Kind::ALL
            .map(|k| format!("#/components/schemas/{}", stored_schema_name(k)))
            .to_vec();
        let mut found = Vec::new();
        one_ofs_with(&doc, "#/components/schemas/StoredObservation", &mut found);
        assert!(!found.is_empty(), "no stored entry in {doc}");
        for refs in found {
            assert_eq!(refs, expected);
        }
    }
}
