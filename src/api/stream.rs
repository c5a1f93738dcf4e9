//! `GET /v1/observations/stream`: the SSE endpoint (SPEC §4).
//!
//! A stream subscribes to the hub first, then replays from the store what the client missed,
//! then forwards live frames, skipping any seq it already sent: the hand-over has no gap (the
//! subscription predates the replay query) and no duplicate (seq order is total).
//!
//! Every stream has a position, a seq: every event up to it that the stream wants has been sent.
//! `connection`, `reset` and `heartbeat` events carry it as their `id:`, so a client that
//! reconnects with the last id it saw, whatever the event, loses nothing and gets nothing twice.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio_util::sync::CancellationToken;

use super::auth::Access;
use super::limits::{Refused, StreamGuard};
use super::params::{ClientAddr, Params};
use super::raw_chunks::RawChunks;
use super::{ApiError, AppState};
use crate::domain::{Seq, StationFilter, StationId};
use crate::hub::frame::{
    encode_connection, encode_reset, encode_shutdown, restamp, write_observation,
};
use crate::hub::{Frame, Hub};
use crate::metrics;
use crate::store::{AfterQuery, Store};

/// Rows per replay query (and per chunk written while replaying).
const REPLAY_PAGE: u32 = 500;
/// Times within [`CATCH_UP_WINDOW`] a stream that overflows its backlog is caught up from the
/// store in place; one more overflow in the window marks a slow client, which is disconnected.
const CATCH_UPS: u8 = 3;
/// See [`CATCH_UPS`].
const CATCH_UP_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);
/// Broadcasts slower than this log a warning.
const SLOW_BROADCAST: std::time::Duration = std::time::Duration::from_millis(200);
/// Live frames gathered into one write when a connection has a backlog.
const COALESCE: usize = 64;

pub(super) fn router() -> Router<AppState> {
    Router::new().route(
        "/v1/observations/stream",
        get(stream).head(head).options(options),
    )
}

/// Where a new stream starts.
#[derive(Debug, Clone, PartialEq)]
struct Resume {
    /// Replay observations with a seq above this one.
    after: Option<Seq>,
    /// ...measured at or after this time (`since=`).
    since: Option<DateTime<Utc>>,
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

    // Subscribe before anything is read from the store: nothing can fall between the two.
    let (live, subscribed) = state.hub.subscribe();
    let start = start_position(&state, &resume, filter.as_ref(), subscribed).await?;
    let conn = Connection {
        store: state.store.clone(),
        hub: state.hub.clone(),
        live,
        filter,
        since: resume.since,
        last: start.after,
        replay_left: state.max_replay,
        phase: Phase::Greeting {
            position: start.position,
            reset: start.reset,
            replay: start.replay,
        },
        max_replay: state.max_replay,
        catch_up_window: (std::time::Instant::now(), 0),
        abort: false,
        shutdown: state.shutdown.clone(),
        _guard: guard,
    };
    let body = futures_util::stream::unfold(conn, |mut conn| async move {
        match conn.next_chunk().await {
            Some(chunk) => Some((Ok(chunk), conn)),
            // A slow client's connection is aborted rather than ended cleanly, so that what is
            // buffered for it is dropped at once instead of trickling out first.
            None if std::mem::take(&mut conn.abort) => Some((
                Err(std::io::Error::other("client too slow; stream aborted")),
                conn,
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

/// Where a stream starts: the `connection` id, the replay start and, if the resume point cannot
/// be honoured, the `reset` frame to send.
struct Start {
    /// The `connection` event's id: the resume id, or where a fresh or `since=` stream starts.
    position: Seq,
    /// The seq the stream goes on after (the id of the `reset`, if there is one).
    after: Seq,
    reset: Option<Bytes>,
    /// Whether anything is to be read from the store first.
    replay: bool,
}

/// Where a stream starts; `subscribed` is the position its hub subscription starts after.
///
/// A `reset` moves the position: the `connection` id is what the client asked for (so a client
/// that reconnects before reading the `reset` is told again), the `reset`'s id is where the
/// stream goes on.
async fn start_position(
    state: &AppState,
    resume: &Resume,
    filter: Option<&StationFilter>,
    subscribed: Seq,
) -> Result<Start, ApiError> {
    let position = match (resume.after, resume.since) {
        (Some(after), _) => after,
        (None, Some(since)) => since_position(state.store.as_ref(), filter, since).await?,
        (None, None) => {
            // A fresh stream: live events only, every one after the subscription's position
            // (frames at or below it that are still arriving are skipped).
            return Ok(Start {
                position: subscribed,
                after: subscribed,
                reset: None,
                replay: false,
            });
        }
    };
    let after = position;
    let head = state.store.max_seq().await?.max(state.hub.last_seq());
    if after > head {
        return Ok(Start {
            position,
            replay: false,
            after: head,
            reset: Some(encode_reset(
                head,
                "unknown_event_id",
                "Last-Event-ID is ahead of this server's log (was the log reset?); continuing with new events",
            )),
        });
    }
    let query = AfterQuery {
        after,
        stations: filter.cloned(),
        since: resume.since,
        ..AfterQuery::default()
    };
    Ok(
        match state.store.replay_cutoff(&query, state.max_replay).await? {
            Some(cutoff) => Start {
                position,
                replay: true,
                after: cutoff,
                reset: Some(encode_reset(
                    cutoff,
                    "replay_limit",
                    &format!(
                        "more than {} events were missed; replaying the newest {} of them",
                        state.max_replay, state.max_replay
                    ),
                )),
            },
            None => Start {
                position,
                after,
                reset: None,
                replay: true,
            },
        },
    )
}

/// The position of a `since=` stream: the seq before the first observation it replays, or the
/// newest seq when none matches yet. Every observation the stream will send lies above it, and
/// none above it is left out (later ones measured before `since` are sent live), so a client
/// resuming from it before its first observation misses nothing and gets nothing twice.
async fn since_position(
    store: &dyn Store,
    filter: Option<&StationFilter>,
    since: DateTime<Utc>,
) -> Result<Seq, ApiError> {
    // Read first: a match committed after the query below has a higher seq than this.
    let head = store.max_seq().await?;
    let first = store
        .observations_after(&AfterQuery {
            after: Seq::ZERO,
            until: None,
            stations: filter.cloned(),
            since: Some(since),
            limit: 1,
        })
        .await?;
    Ok(first
        .first()
        .map_or(head, |stored| Seq::new(stored.seq.get().saturating_sub(1))))
}

enum Phase {
    /// Send the `connection` event with `position` as its id (and a `reset` if needed), then
    /// replay or go live.
    Greeting {
        position: Seq,
        reset: Option<Bytes>,
        replay: bool,
    },
    /// Reading missed events from the store.
    Replay,
    /// Forwarding hub frames.
    Live,
    /// Finished.
    Done,
}

/// Per-stream state, polled by the response body.
struct Connection {
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    live: broadcast::Receiver<Arc<Frame>>,
    filter: Option<StationFilter>,
    since: Option<DateTime<Utc>>,
    /// The stream's position: the highest seq sent (or skipped as not wanted) so far, or where
    /// the stream started. Every event up to it that the stream wants has been sent; heartbeats
    /// carry it as their id.
    last: Seq,
    /// Events the current replay may still read from the store.
    replay_left: u32,
    /// What each replay may read at most.
    max_replay: u32,
    /// Start of the current catch-up window and the catch-ups in it (see [`CATCH_UPS`]).
    catch_up_window: (std::time::Instant, u8),
    /// Set when the stream ends because the client is too slow: the connection is aborted.
    abort: bool,
    phase: Phase,
    shutdown: CancellationToken,
    _guard: StreamGuard,
}

impl Connection {
    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            match std::mem::replace(&mut self.phase, Phase::Done) {
                Phase::Greeting {
                    position,
                    reset,
                    replay,
                } => {
                    self.phase = if replay { Phase::Replay } else { Phase::Live };
                    metrics::hot().sent_connection.increment(1);
                    if reset.is_some() {
                        metrics::hot().sent_reset.increment(1);
                    }
                    let hello = encode_connection(Utc::now(), position);
                    return Some(match reset {
                        None => hello,
                        Some(reset) => [hello, reset].concat().into(),
                    });
                }
                Phase::Replay => {
                    if let Some(chunk) = self.replay_page().await? {
                        return Some(chunk);
                    }
                }
                Phase::Live => {
                    self.phase = Phase::Live;
                    if let Some(chunk) = self.live_chunk().await? {
                        return Some(chunk);
                    }
                }
                Phase::Done => return None,
            }
        }
    }

    /// One page of missed events; `Some(None)` when there was nothing to send, `None` to end.
    async fn replay_page(&mut self) -> Option<Option<Bytes>> {
        let limit = REPLAY_PAGE.min(self.replay_left);
        if limit == 0 {
            tracing::info!(
                event = "sse_client_too_slow",
                "stream keeps falling behind; closing it"
            );
            self.abort = true;
            return None;
        }
        if self.live.len() > self.hub.backlog() {
            // The live backlog overflowed again while this stream was replaying: it is falling
            // further behind, which counts as a catch-up (else a client slower than the event
            // rate would be fed from the store until its replay budget ran out). Everything the
            // backlog held is in the log, so it is dropped.
            if !self.may_catch_up() {
                tracing::info!(
                    event = "sse_client_too_slow",
                    "stream keeps falling behind; closing it"
                );
                self.abort = true;
                return None;
            }
            self.live = self.live.resubscribe();
        }
        let query = AfterQuery {
            after: self.last,
            until: None,
            stations: self.filter.clone(),
            since: self.since,
            limit,
        };
        let page = tokio::select! {
            () = self.shutdown.cancelled() => return Some(self.shutting_down()),
            page = self.store.observations_after(&query) => page,
        };
        let page = match page {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(event = "sse_replay_failed", error = %e, "store unavailable during replay; closing stream");
                return None;
            }
        };
        self.replay_left -= page.len() as u32;
        // A short page is the end of the log; an exhausted budget ends the replay too (the
        // resume point was chosen so that the budget covers it).
        let more = page.len() == limit as usize && self.replay_left > 0;
        self.phase = if more { Phase::Replay } else { Phase::Live };
        let Some(last) = page.last() else {
            return Some(None);
        };
        self.last = last.seq;
        metrics::hot().sent_observation.increment(page.len() as u64);
        let mut out = BytesMut::with_capacity(page.len() * 400);
        for stored in &page {
            write_observation(&mut out, Some(stored.seq), &stored.observation);
        }
        Some(Some(out.freeze()))
    }

    /// Live frames ready now (at least one, waiting if needed); `Some(None)` when all were skipped.
    async fn live_chunk(&mut self) -> Option<Option<Bytes>> {
        let first = tokio::select! {
            biased;
            () = self.shutdown.cancelled() => return Some(self.shutting_down()),
            received = self.live.recv() => received,
        };
        let (mut sent_observations, mut sent_heartbeats) = (0u64, 0u64);
        let mut chunk: Option<Bytes> = None;
        let mut buf: Option<BytesMut> = None;
        let mut next = first;
        for taken in 1..=COALESCE {
            match next {
                Ok(frame) => {
                    if frame.is_observation() && frame.take() {
                        broadcast_done(&frame);
                    }
                    if self.accept(&frame) {
                        let restamped;
                        let bytes = if frame.is_observation() {
                            sent_observations += 1;
                            &frame.bytes
                        } else {
                            sent_heartbeats += 1;
                            // A heartbeat carries this stream's position. It is the hub's (the
                            // shared bytes) unless the stream is ahead of it: resumed from a seq
                            // the hub has not broadcast yet, or given a frame the relay sent
                            // while the heartbeat was on its way to the shards.
                            if frame.position == Some(self.last) {
                                &frame.bytes
                            } else {
                                restamped = restamp(&frame.bytes, self.last);
                                &restamped
                            }
                        };
                        match (&mut buf, chunk.take()) {
                            (Some(buf), _) => buf.extend_from_slice(bytes),
                            (None, None) => chunk = Some(bytes.clone()),
                            (None, Some(prev)) => {
                                let mut b = BytesMut::with_capacity(prev.len() * 4 + bytes.len());
                                b.extend_from_slice(&prev);
                                b.extend_from_slice(bytes);
                                buf = Some(b);
                            }
                        }
                    }
                }
                Err(RecvError::Lagged(missed)) if self.may_catch_up() => {
                    // A burst larger than the backlog: the missed frames are all in the log.
                    tracing::debug!(
                        event = "sse_catch_up",
                        missed,
                        "stream overflowed its backlog; catching up from the store"
                    );
                    self.replay_left = self.max_replay;
                    self.phase = Phase::Replay;
                    break;
                }
                Err(RecvError::Lagged(missed)) => {
                    // A slow client: it keeps overflowing its backlog. Close the stream, dropping
                    // what is buffered for it; the client resumes with Last-Event-ID.
                    tracing::info!(
                        event = "sse_client_too_slow",
                        missed,
                        "stream keeps falling behind its backlog; closing it"
                    );
                    self.phase = Phase::Done;
                    self.abort = true;
                    return None;
                }
                Err(RecvError::Closed) => {
                    self.phase = Phase::Done;
                    break;
                }
            }
            if taken == COALESCE {
                break; // the rest waits for the next chunk: nothing is taken off the ring unread
            }
            next = match self.live.try_recv() {
                Ok(frame) => Ok(frame),
                Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => Err(RecvError::Closed),
            };
        }
        let hot = metrics::hot();
        hot.sent_observation.increment(sent_observations);
        hot.sent_heartbeat.increment(sent_heartbeats);
        Some(buf.map(BytesMut::freeze).or(chunk))
    }

    /// Whether one more catch-up is allowed in the current window (and counts it).
    fn may_catch_up(&mut self) -> bool {
        let (start, count) = &mut self.catch_up_window;
        if start.elapsed() > CATCH_UP_WINDOW {
            *start = std::time::Instant::now();
            *count = 0;
        }
        *count += 1;
        *count <= CATCH_UPS
    }

    /// Whether to send a live frame; advances the position past every stored frame.
    fn accept(&mut self, frame: &Frame) -> bool {
        if let Some(seq) = frame.seq {
            if seq <= self.last {
                return false; // already sent during replay
            }
            self.last = seq;
        }
        frame.wanted_by(self.filter.as_ref())
    }

    fn shutting_down(&mut self) -> Option<Bytes> {
        self.phase = Phase::Done;
        metrics::hot().sent_shutdown.increment(1);
        Some(encode_shutdown(Utc::now()))
    }
}

/// Called by the last receiver of an observation frame: latency from bus receipt to here.
fn broadcast_done(frame: &Frame) {
    let latency = frame.received.elapsed();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    metrics::hot().broadcast_latency.record(latency_ms);
    let station = frame
        .station
        .as_ref()
        .map(StationId::as_str)
        .unwrap_or_default();
    let clients = frame.audience.load(Ordering::Relaxed);
    if latency > SLOW_BROADCAST {
        tracing::warn!(parent: None, event = "observation_broadcasted", stationId = station, clientCount = clients, latencyMs = latency_ms, "slow broadcast");
    } else {
        tracing::info!(parent: None, event = "observation_broadcasted", stationId = station, clientCount = clients, latencyMs = latency_ms, "observation broadcast");
    }
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
