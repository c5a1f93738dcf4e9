//! `GET /v1/observations/stream`: the HTTP edge of the SSE endpoint (SPEC §4) — `Accept`, the
//! resume point from `Last-Event-ID` or the query, the stream limits, transient refusals, headers.
//! What a stream sends is the hub's stream engine ([`crate::hub::stream`]).

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::auth::Access;
use super::limits::Refused;
use super::params::{ClientAddr, Params};
use super::raw_chunks::RawChunks;
use super::{ApiError, AppState};
use crate::domain::Seq;
use crate::hub::stream::{Resume, StreamEngine};

pub(super) fn router() -> Router<AppState> {
    Router::new().route(
        "/v1/observations/stream",
        get(stream).head(head).options(options),
    )
}

fn check_accept(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(());
    };
    let accept = accept
        .to_str()
        .map_err(|_| ApiError::BadRequest("Accept header is not valid text".into()))?;
    let allowed = accept.split(',').any(|item| {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        !refused && matches!(media.as_str(), "text/event-stream" | "text/*" | "*/*")
    });
    if allowed || accept.trim().is_empty() {
        Ok(())
    } else {
        Err(ApiError::NotAcceptable(
            "this endpoint produces text/event-stream; send Accept: text/event-stream".into(),
        ))
    }
}

fn resume_point(headers: &HeaderMap, params: &Params) -> Result<Resume, ApiError> {
    let header_id = match headers.get("last-event-id") {
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
    // The header (sent by EventSource on reconnect, with the URL it first used) wins: the query's
    // `lastEventId` and `since` are then not read at all, so a stale or bad value there cannot
    // make a reconnection fail.
    if let Some(after) = header_id {
        return Ok(Resume {
            after: Some(after),
            since: None,
        });
    }
    let after = params.seq("lastEventId")?;
    let since = params.time("since")?;
    Ok(Resume {
        after,
        since: if after.is_some() { None } else { since },
    })
}

fn sse_headers(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
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
    params: Params,
) -> Result<Response, ApiError> {
    check_accept(&headers)?;
    resume_point(&headers, &params)?;
    access.filter(params.stations()?)?;
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

/// Query of the stream (documentation of what [`Params`] reads).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[allow(dead_code)]
pub struct StreamQuery {
    /// Comma-separated station ids (at most 200); all stations when absent.
    #[param(
        example = "44009,46042",
        pattern = r"^\s*[A-Za-z0-9_-]{0,32}\s*(,\s*[A-Za-z0-9_-]{0,32}\s*){0,199}$"
    )]
    stations: Option<String>,
    /// Replay observations measured at or after this time, then go live (ignored with a resume id).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Resume after this event id, for clients that cannot send `Last-Event-ID`.
    #[param(minimum = 0, maximum = 9223372036854775807i64)]
    last_event_id: Option<i64>,
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
    headers: HeaderMap,
    params: Params,
) -> Response {
    let event_stream_client = names_event_stream(&headers);
    match open_stream(state, access, client, headers, params).await {
        Ok(response) => response,
        Err(e) if event_stream_client => e.into_event_stream_response(),
        Err(e) => e.into_response(),
    }
}

/// Whether `Accept` names `text/event-stream` (as every SSE client sends; curl's `*/*` does not).
pub fn names_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
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
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    check_accept(&headers)?;
    let resume = resume_point(&headers, &params)?;
    // With subscriber auth, the token's stations bound the filter (and are it, when none is asked).
    let filter = access.filter(params.stations()?)?;
    check_serving(&state)?;
    if !state.bus.is_connected() {
        return Err(ApiError::Unavailable {
            message: "live updates are unavailable: the bus is disconnected".into(),
            retry_after_secs: 5,
        });
    }
    let request_id = headers
        .get("x-request-id")
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
        requestId = %guard.request_id,
        "stream opened"
    );

    let engine = StreamEngine::open(
        state.store.clone(),
        state.hub.clone(),
        &resume,
        filter,
        state.max_replay,
        state.shutdown.clone(),
    )
    .await?;
    // The guard (the stream's place under the limits) lives as long as the body.
    let body = futures_util::stream::unfold((engine, guard), |(mut engine, guard)| async move {
        match engine.next_chunk().await {
            Some(chunk) => Some((Ok(chunk), (engine, guard))),
            // A slow client's connection is aborted rather than ended cleanly, so that what is
            // buffered for it is dropped at once instead of trickling out first.
            None if engine.take_abort() => Some((
                Err(std::io::Error::other("client too slow; stream aborted")),
                (engine, guard),
            )),
            None => None,
        }
    });
    let (raw, body) = RawChunks::new(body);
    let mut response = Response::new(body);
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
            h.insert(*k, HeaderValue::from_str(v).unwrap());
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
    fn last_event_id_header_wins() {
        let p = Params::default();
        let r = resume_point(&headers(&[("last-event-id", "42")]), &p).unwrap();
        assert_eq!(r.after, Some(Seq::new(42)));
        assert!(resume_point(&headers(&[("last-event-id", "abc")]), &p).is_err());
        // The header wins even over query values that are invalid.
        let bad_query = Params::from_pairs([("lastEventId", "x"), ("since", "yesterday")]);
        let r = resume_point(&headers(&[("last-event-id", "7")]), &bad_query).unwrap();
        assert_eq!((r.after, r.since), (Some(Seq::new(7)), None));
        assert!(resume_point(&HeaderMap::new(), &bad_query).is_err());
        assert_eq!(
            resume_point(&headers(&[("last-event-id", " ")]), &p)
                .unwrap()
                .after,
            None
        );
    }
}
