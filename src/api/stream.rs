//! `GET /v1/observations/stream`: the HTTP edge of the SSE endpoint (SPEC §4) — `Accept`, the
//! resume point from `Last-Event-ID` or the query, the stream limits, transient refusals, headers.
//! What a stream sends is the hub's stream engine ([`crate::hub::stream`]).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::auth::Access;
use super::client_addr::ClientAddr;
use super::limits::Refused;
use super::observations::StationsQuery;
use super::query::{EventId, Kinds, RawQuery, Stations, Time};
use super::raw_chunks::RawChunks;
use super::request_id::X_REQUEST_ID;
use super::{ApiError, AppState};
use crate::domain::{KindSet, Seq, StationFilter};
use crate::hub::stream::{LiveStream, Resume, StreamEngine};

/// Header names of the stream, made once (a name given as text is parsed at every use); the
/// CORS policy allows `Last-Event-ID`.
pub(super) const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
pub(super) const X_ACCEL_BUFFERING: HeaderName = HeaderName::from_static("x-accel-buffering");

/// The stream's `GET` with its description; `HEAD` and `OPTIONS` answer at the same path.
pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stream).map(|r| r.head(head).options(options)))
}

fn check_accept(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(());
    };
    // What every `EventSource` sends, without taking the list apart.
    if is_event_stream(accept.as_bytes()) {
        return Ok(());
    }
    let accept = accept
        .to_str()
        .map_err(|_| ApiError::BadRequest("Accept header is not valid text".into()))?;
    let allowed = accept.split(',').any(|item| {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        !refused
            && ["text/event-stream", "text/*", "*/*"]
                .iter()
                .any(|m| media.eq_ignore_ascii_case(m))
    });
    if allowed || accept.trim().is_empty() {
        Ok(())
    } else {
        Err(ApiError::NotAcceptable(
            "this endpoint produces text/event-stream; send Accept: text/event-stream".into(),
        ))
    }
}

/// What a stream request asks for: where it starts, which stations and which kinds.
#[derive(Debug)]
struct StreamRequest {
    resume: Resume,
    stations: Option<StationFilter>,
    kinds: KindSet,
}

/// Where the stream starts, which stations and which kinds it carries, from `Last-Event-ID` and
/// the query.
fn read_request(headers: &HeaderMap, query: &RawQuery) -> Result<StreamRequest, ApiError> {
    let header_id = match headers.get(LAST_EVENT_ID) {
        None => None,
        Some(v) => {
            let raw = v
                .to_str()
                .map_err(|_| ApiError::BadRequest("Last-Event-ID is not valid text".into()))?;
            if raw.trim().is_empty() {
                None
            } else {
                Some(Seq::parse(raw).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "Last-Event-ID: expected a non-negative integer event id, got {:?}",
                        raw.chars().take(40).collect::<String>()
                    ))
                })?)
            }
        }
    };
    // The header (sent by EventSource on reconnect, with the URL it first used) wins: the query is
    // then read as a station and kind filter only, so a stale or bad `lastEventId` or `since`
    // there cannot make a reconnection fail. A resume id in the query likewise makes `since`
    // ignored, unread.
    let resume_id = match header_id {
        Some(id) => Some(id),
        None => query
            .read::<ResumeIdQuery>()?
            .last_event_id
            .map(|EventId(seq)| seq),
    };
    if let Some(after) = resume_id {
        let StationsQuery { stations, kinds } = query.read()?;
        return Ok(StreamRequest {
            resume: Resume {
                after: Some(after),
                since: None,
            },
            stations: Stations::filter(stations),
            kinds: Kinds::set(kinds),
        });
    }
    let StreamQuery {
        since,
        stations,
        kinds,
        ..
    } = query.read()?;
    Ok(StreamRequest {
        resume: Resume {
            after: None,
            since: since.map(|Time(t)| t),
        },
        stations: Stations::filter(stations),
        kinds: Kinds::set(kinds),
    })
}

/// Headers of a stream response: the four of [`sse_headers`], and those the layers add.
const RESPONSE_HEADERS: usize = 12;

fn sse_headers(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    h.insert(X_ACCEL_BUFFERING, HeaderValue::from_static("no"));
}

fn check_serving(state: &AppState) -> Result<(), ApiError> {
    if state.shutdown.is_cancelled() {
        return Err(ApiError::Unavailable {
            message: "the server is shutting down; reconnect to another instance".into(),
            retry_after_secs: 2,
        });
    }
    Ok(())
}

async fn head(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    query: RawQuery,
) -> Result<Response, ApiError> {
    check_accept(&headers)?;
    let request = read_request(&headers, &query)?;
    access.filter(request.stations)?;
    check_serving(&state)?;
    let mut response = StatusCode::OK.into_response();
    sse_headers(&mut response);
    Ok(response)
}

async fn options() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::ALLOW,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    response
}

/// The query's resume id alone: with one, `since` is not read at all.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResumeIdQuery {
    last_event_id: Option<EventId>,
}

/// Query of the stream. Its parameters are checked in this order; with a `Last-Event-ID`
/// header only `stations` is read ([`StationsQuery`]).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Resume after this event id, for clients that cannot send `Last-Event-ID`.
    #[param(value_type = Option<i64>, minimum = 0, maximum = 9223372036854775807i64)]
    #[expect(
        dead_code,
        reason = "documents the parameter; `ResumeIdQuery` reads it"
    )]
    last_event_id: Option<EventId>,
    /// Replay observations measured at or after this time, then go live (ignored with a resume id).
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<Time>,
    /// Comma-separated station ids (at most 200); all stations when absent.
    #[param(
        value_type = Option<String>,
        example = "44009,46042",
        pattern = r"^\s*[A-Za-z0-9_-]{0,32}\s*(,\s*[A-Za-z0-9_-]{0,32}\s*){0,199}$"
    )]
    stations: Option<Stations>,
    /// Kinds to send, comma-separated (`observation,spectrum`), or `*` for all; `observation`
    /// when absent, so existing clients see no other event (SPEC §3a). Each kind is its own
    /// event name.
    /// (The pattern of known names is added by `openapi::KindsPattern`.)
    #[param(value_type = Option<String>, example = "observation,spectrum")]
    kinds: Option<Kinds>,
}

/// The live stream of observations (Server-Sent Events).
///
/// Frames: `retry: 2000`, then `event: connection` (data `ConnectionEvent`), then
/// `event: observation` with `id: <seq>` (data `Observation`), `event: heartbeat` every 15 s
/// (data `HeartbeatEvent`), `event: reset` when a resume point cannot be honoured in full (data
/// `ResetEvent`), and `event: shutdown` (data `ShutdownEvent`) before the server closes it.
///
/// `connection`, `reset` and `heartbeat` carry the stream's position as their `id:` (every
/// observation up to that seq that matches the filter has been sent), so a client resuming with
/// the last id it received, of any event, misses nothing and gets nothing twice. `connection`:
/// the resume id; for a fresh stream the newest seq it starts after; for `since=` the seq before
/// the first match. `reset`: the seq the stream goes on after (`oldestSeq - 1`).
///
/// A transient refusal (a stream limit, the bus or the store down, shutting down) of a request
/// whose `Accept` names `text/event-stream` is a `200` event stream: `retry: <ms>` and one
/// `event: unavailable` (data `UnavailableEvent`), then the end, so an `EventSource` reconnects
/// by itself. Other requests get `503`/`429` with `Retry-After`.
#[utoipa::path(get, path = "/v1/observations/stream", tag = "stream",
    params(
        StreamQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event id (sent by EventSource on reconnect)"),
    ),
    security((), ("subscriberJwt" = []), ("subscriberCookie" = []), ("subscriberQuery" = [])),
    responses(
        (status = 200, description = "An endless text/event-stream of SSE frames; or, for a transient refusal of a request whose Accept names text/event-stream, `retry:` and one `unavailable` event, then the end", content_type = "text/event-stream", body = String),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::StationForbidden),
        (status = 400, description = "Invalid parameter or header", body = super::ErrorBody),
        (status = 406, description = "Accept excludes text/event-stream", body = super::ErrorBody),
        (status = 429, description = "Too many streams from this client address (Retry-After)", body = super::ErrorBody),
        (status = 503, description = "Stream limit reached, bus down or shutting down (Retry-After)", body = super::ErrorBody),
    ))]
async fn stream(
    state: State<AppState>,
    access: Access,
    client: ClientAddr,
    query: RawQuery,
    // The request itself, for its headers (the `HeaderMap` extractor copies them all).
    request: Request,
) -> Response {
    let headers = request.headers();
    let event_stream_client = names_event_stream(headers);
    match open_stream(state, access, client, headers, query).await {
        Ok(response) => response,
        Err(e) if event_stream_client => e.into_event_stream_response(),
        Err(e) => e.into_response(),
    }
}

/// Whether an `Accept` value is exactly `text/event-stream` (in any case), as `EventSource` sends.
fn is_event_stream(value: &[u8]) -> bool {
    value.eq_ignore_ascii_case(b"text/event-stream")
}

/// Whether `Accept` names `text/event-stream` (as every SSE client sends; curl's `*/*` does not).
pub fn names_event_stream(headers: &HeaderMap) -> bool {
    let accept = headers.get_all(header::ACCEPT);
    if accept.iter().any(|v| is_event_stream(v.as_bytes())) {
        return true;
    }
    accept
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            item.split(';')
                .next()
                .is_some_and(|media| media.trim().eq_ignore_ascii_case("text/event-stream"))
        })
}

async fn open_stream(
    State(state): State<AppState>,
    access: Access,
    ClientAddr(client): ClientAddr,
    headers: &HeaderMap,
    query: RawQuery,
) -> Result<Response, ApiError> {
    check_accept(headers)?;
    let StreamRequest {
        resume,
        stations,
        kinds,
    } = read_request(headers, &query)?;
    // With subscriber auth, the token's stations bound the filter (and are it, when none is asked).
    let filter = access.filter(stations)?;
    check_serving(&state)?;
    if !state.bus.is_connected() {
        return Err(ApiError::Unavailable {
            message: "live updates are unavailable: the bus is disconnected".into(),
            retry_after_secs: 5,
        });
    }
    let request_id = headers
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let guard = match state.streams.acquire(client.ip(), request_id) {
        Ok(guard) => guard,
        Err(Refused::Total(max)) => {
            tracing::warn!(
                event = "sse_client_refused",
                reason = "too_many_streams",
                limit = max,
                "stream refused"
            );
            return Err(ApiError::TooManyStreams {
                message: format!("this server is at its limit of {max} streams"),
                retry_after_secs: 5,
            });
        }
        Err(Refused::PerClient(max)) => {
            tracing::info!(event = "sse_client_refused", reason = "too_many_streams_per_client", limit = max, client = %client.ip(), "stream refused");
            return Err(ApiError::TooManyStreamsPerClient {
                message: format!("at most {max} streams per client address"),
                retry_after_secs: 10,
            });
        }
    };
    tracing::info!(
        event = "sse_client_connected",
        connectionCount = guard.count,
        requestId = guard.request_id.as_str(),
        "stream opened"
    );

    let engine = StreamEngine::open(
        state.store.clone(),
        state.hub.clone(),
        &resume,
        filter,
        kinds,
        state.max_replay,
        state.shutdown.clone(),
    )
    .await?;
    // The guard (the stream's place under the limits) lives as long as the stream.
    let live = LiveStream::new(engine, guard);
    let (raw, body) = RawChunks::new(live);
    let mut response = Response::new(body);
    // Sized for its headers and those the layers add (request id, CORS, `Vary`): it then
    // grows once, not twice.
    *response.headers_mut() = HeaderMap::with_capacity(RESPONSE_HEADERS);
    response.extensions_mut().insert(raw);
    sse_headers(&mut response);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn accept_header_rules() {
        for ok in [
            "text/event-stream",
            "*/*",
            "text/*",
            "application/json, text/event-stream;q=0.5",
            "TEXT/Event-Stream",
            "",
        ] {
            assert!(check_accept(&headers(&[("accept", ok)])).is_ok(), "{ok}");
        }
        assert!(check_accept(&HeaderMap::new()).is_ok());
        for bad in ["application/json", "text/html", "text/event-stream;q=0"] {
            assert!(check_accept(&headers(&[("accept", bad)])).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_event_stream_client_is_one_whose_accept_names_the_type() {
        for named in [
            &[("accept", "text/event-stream")][..],
            &[("accept", "TEXT/Event-Stream")],
            &[("accept", "application/json, text/event-stream;q=0.9")],
            &[("accept", " text/event-stream ; charset=utf-8")],
            &[
                ("accept", "application/json"),
                ("accept", "text/event-stream"),
            ],
        ] {
            assert!(names_event_stream(&headers(named)), "{named:?}");
        }
        for not in [
            &[][..],
            &[("accept", "*/*")],
            &[("accept", "text/*")],
            &[("accept", "text/event-streams")],
            &[("accept", "application/json")],
        ] {
            assert!(!names_event_stream(&headers(not)), "{not:?}");
        }
    }

    #[test]
    fn last_event_id_header_wins() {
        let none = RawQuery::default();
        let r = read_request(&headers(&[("last-event-id", "42")]), &none)
            .unwrap()
            .resume;
        assert_eq!(r.after, Some(Seq::new(42)));
        assert!(read_request(&headers(&[("last-event-id", "abc")]), &none).is_err());
        // The header wins even over query values that are invalid; the filter is still read.
        let bad_query = RawQuery::parse("lastEventId=x&since=yesterday&stations=44009").unwrap();
        let request = read_request(&headers(&[("last-event-id", "7")]), &bad_query).unwrap();
        let r = request.resume;
        assert_eq!((r.after, r.since), (Some(Seq::new(7)), None));
        assert_eq!(request.stations.map(|s| s.len()), Some(1));
        assert!(read_request(&HeaderMap::new(), &bad_query).is_err());
        let bad_stations = RawQuery::parse("stations=a;b").unwrap();
        assert!(read_request(&headers(&[("last-event-id", "7")]), &bad_stations).is_err());
        let r = read_request(&headers(&[("last-event-id", " ")]), &none)
            .unwrap()
            .resume;
        assert_eq!(r.after, None);
    }

    #[test]
    fn kinds_default_to_observation_and_are_read_with_a_resume_header_too() {
        let none = RawQuery::default();
        assert_eq!(
            read_request(&HeaderMap::new(), &none).unwrap().kinds,
            KindSet::OBSERVATION
        );
        let q = RawQuery::parse("kinds=spectrum,tsunami").unwrap();
        let fresh = read_request(&HeaderMap::new(), &q).unwrap().kinds;
        let resumed = read_request(&headers(&[("last-event-id", "7")]), &q)
            .unwrap()
            .kinds;
        assert_eq!(fresh, resumed);
        assert_eq!(fresh.names(), ["spectrum", "tsunami"]);
        let all = RawQuery::parse("kinds=*").unwrap();
        assert!(
            read_request(&HeaderMap::new(), &all)
                .unwrap()
                .kinds
                .is_all()
        );
        let bad = RawQuery::parse("kinds=waves").unwrap();
        let Err(ApiError::BadRequest(message)) = read_request(&HeaderMap::new(), &bad) else {
            panic!("an unknown kind is a 400");
        };
        assert!(
            message.starts_with("kinds: unknown kind `waves`"),
            "{message}"
        );
    }

    #[test]
    fn a_resume_id_in_the_query_outranks_since() {
        let q = RawQuery::parse("since=2025-11-15T12:00:00Z&lastEventId=5").unwrap();
        let r = read_request(&HeaderMap::new(), &q).unwrap().resume;
        assert_eq!((r.after, r.since), (Some(Seq::new(5)), None));
        let q = RawQuery::parse("since=2025-11-15T12:00:00Z").unwrap();
        let r = read_request(&HeaderMap::new(), &q).unwrap().resume;
        assert!(r.after.is_none() && r.since.is_some());
        // With a resume id, `since` is ignored, however it is written (as under the header).
        let q = RawQuery::parse("lastEventId=5&since=yesterday").unwrap();
        let r = read_request(&HeaderMap::new(), &q).unwrap().resume;
        assert_eq!((r.after, r.since), (Some(Seq::new(5)), None));
        let q = RawQuery::parse("lastEventId=x&since=2025-11-15T12:00:00Z").unwrap();
        assert!(
            read_request(&HeaderMap::new(), &q).is_err(),
            "a bad id alone is a 400"
        );
    }
}
