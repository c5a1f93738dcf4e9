//! The stream engine: what one SSE stream sends, independent of HTTP (SPEC §4).
//!
//! A stream subscribes to the hub first, then replays from the store what the client missed,
//! then forwards live frames, skipping any seq it already sent: the hand-over has no gap (the
//! subscription predates the replay query) and no duplicate (seq order is total).
//!
//! Every stream has a position, a seq: every event up to it that the stream wants has been sent.
//! `connection`, `reset` and `heartbeat` events carry it as their `id:`, so a client that
//! reconnects with the last id it saw, whatever the event, loses nothing and gets nothing twice.
//! A stream that overflows its backlog is caught up from the store in place a few times a
//! minute; one that keeps overflowing is a slow client and is ended.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio_util::sync::CancellationToken;

use super::frame::{encode_connection, encode_reset, encode_shutdown, restamp, write_entry};
use super::{Frame, Hub};
use crate::domain::{Kind, KindSet, Seq, StationFilter};
use crate::metrics;
use crate::store::{AfterQuery, Store, StoreError};

/// Rows per replay query (and per chunk written while replaying).
const REPLAY_PAGE: u32 = 500;
/// Times within [`CATCH_UP_WINDOW`] a stream that overflows its backlog is caught up from the
/// store in place; one more overflow in the window marks a slow client, which is disconnected.
const CATCH_UPS: u8 = 3;
/// See [`CATCH_UPS`].
const CATCH_UP_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);
/// Live frames gathered into one write when a connection has a backlog.
const COALESCE: usize = 64;

/// Where a new stream starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Resume {
    /// Replay observations with a seq above this one.
    pub after: Option<Seq>,
    /// ...measured at or after this time (`since=`).
    pub since: Option<DateTime<Utc>>,
}

/// Where a stream starts: the `connection` id, the replay start and, if the resume point cannot
/// be honoured, the `reset` frame to send.
#[derive(Debug)]
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
    store: &dyn Store,
    hub: &Hub,
    max_replay: u32,
    resume: &Resume,
    filter: Option<&StationFilter>,
    kinds: KindSet,
    subscribed: Seq,
) -> Result<Start, StoreError> {
    let position = match (resume.after, resume.since) {
        (Some(after), _) => after,
        (None, Some(since)) => since_position(store, filter, kinds, since).await?,
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
    let head = store.max_seq().await?.max(hub.last_seq());
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
        kinds,
        ..AfterQuery::default()
    };
    Ok(match store.replay_cutoff(&query, max_replay).await? {
        Some(cutoff) => Start {
            position,
            replay: true,
            after: cutoff,
            reset: Some(encode_reset(
                cutoff,
                "replay_limit",
                &format!(
                    "more than {} events were missed; replaying the newest {} of them",
                    max_replay, max_replay
                ),
            )),
        },
        None => Start {
            position,
            after,
            reset: None,
            replay: true,
        },
    })
}

/// The position of a `since=` stream: the seq before the first observation it replays, or the
/// newest seq when none matches yet. Every observation the stream will send lies above it, and
/// none above it is left out (later ones measured before `since` are sent live), so a client
/// resuming from it before its first observation misses nothing and gets nothing twice.
async fn since_position(
    store: &dyn Store,
    filter: Option<&StationFilter>,
    kinds: KindSet,
    since: DateTime<Utc>,
) -> Result<Seq, StoreError> {
    // Read first: a match committed after the query below has a higher seq than this.
    let head = store.max_seq().await?;
    let first = store
        .entries_after(&AfterQuery {
            after: Seq::ZERO,
            until: None,
            stations: filter.cloned(),
            since: Some(since),
            limit: 1,
            kinds,
        })
        .await?;
    Ok(first
        .first()
        .map_or(head, |stored| Seq::new(stored.seq.get().saturating_sub(1))))
}

/// Where a stream is in its life.
#[derive(Debug)]
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

/// What [`StreamEngine::try_next_chunk`] found.
#[derive(Debug)]
pub enum TryChunk {
    /// Live frames to write.
    Ready(Bytes),
    /// Nothing to write until the shard is signalled again.
    Empty,
    /// The stream needs [`StreamEngine::next_chunk`]: it replays or catches up from the store,
    /// ends, or is shutting down.
    Wait,
}

/// One stream's engine: greeting, replay from the store, live frames from the hub with
/// catch-up, and the slow-client rule. Polled for chunks by the transport; knows nothing of HTTP.
#[derive(Debug)]
pub struct StreamEngine {
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    live: broadcast::Receiver<Arc<Frame>>,
    /// The hub shard `live` is on.
    shard: usize,
    filter: Option<StationFilter>,
    /// The kinds the stream sends.
    kinds: KindSet,
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
}

impl StreamEngine {
    /// Opens a stream after `resume` for `filter` and `kinds`: subscribes to the hub first, then
    /// reads from the store where it starts (nothing can fall between the two).
    pub async fn open(
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        resume: &Resume,
        filter: Option<StationFilter>,
        kinds: KindSet,
        max_replay: u32,
        shutdown: CancellationToken,
    ) -> Result<Self, StoreError> {
        let (live, subscribed, shard) = hub.subscribe();
        let start = start_position(
            store.as_ref(),
            &hub,
            max_replay,
            resume,
            filter.as_ref(),
            kinds,
            subscribed,
        )
        .await?;
        Ok(Self {
            store,
            hub,
            live,
            shard,
            filter,
            kinds,
            since: resume.since,
            last: start.after,
            replay_left: max_replay,
            phase: Phase::Greeting {
                position: start.position,
                reset: start.reset,
                replay: start.replay,
            },
            max_replay,
            catch_up_window: (std::time::Instant::now(), 0),
            abort: false,
            shutdown,
        })
    }

    /// Whether the stream ended because its client is too slow (once): the transport then
    /// aborts the connection instead of ending it cleanly.
    pub fn take_abort(&mut self) -> bool {
        std::mem::take(&mut self.abort)
    }

    /// The hub shard whose frames this stream forwards ([`Hub::signal`] is raised for each).
    pub fn shard(&self) -> usize {
        self.shard
    }

    /// Whether the stream forwards live frames (its greeting and any replay are done).
    pub fn is_live(&self) -> bool {
        matches!(self.phase, Phase::Live)
    }

    /// The live frames that are ready now, without waiting: what a writer serving many streams
    /// at once takes for each when the stream's shard is signalled. Anything but live
    /// forwarding (a replay or catch-up from the store, the end) is left to
    /// [`StreamEngine::next_chunk`]: [`TryChunk::Wait`]. Shutdown is the caller's to watch
    /// (once for all its streams, not once per stream): it then hands each stream to
    /// `next_chunk`, which ends it with the shutdown frame.
    pub fn try_next_chunk(&mut self) -> TryChunk {
        loop {
            if !self.is_live() {
                return TryChunk::Wait;
            }
            let first = match self.live.try_recv() {
                Ok(frame) => Ok(frame),
                Err(TryRecvError::Empty) => return TryChunk::Empty,
                Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                Err(TryRecvError::Closed) => Err(RecvError::Closed),
            };
            match self.collect(first) {
                Some(Some(chunk)) => return TryChunk::Ready(chunk),
                // Every frame was skipped: look again.
                Some(None) => {}
                // The stream ends: `next_chunk` says how.
                None => return TryChunk::Wait,
            }
        }
    }

    /// The next chunk of frames to write; `None` when the stream ends.
    pub async fn next_chunk(&mut self) -> Option<Bytes> {
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
            kinds: self.kinds,
        };
        let page = tokio::select! {
            () = self.shutdown.cancelled() => return Some(self.shutting_down()),
            page = self.store.entries_after(&query) => page,
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
        let mut out = BytesMut::with_capacity(page.len() * 400);
        for stored in &page {
            count_sent(stored.entry.kind(), 1);
            write_entry(&mut out, Some(stored.seq), &stored.entry);
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
        self.collect(first)
    }

    /// `first` and the frames behind it that are ready now (at most [`COALESCE`]) as one chunk;
    /// `Some(None)` when all were skipped, `None` to end.
    fn collect(&mut self, first: Result<Arc<Frame>, RecvError>) -> Option<Option<Bytes>> {
        let (mut sent_observations, mut sent_heartbeats) = (0u64, 0u64);
        let mut chunk: Option<Bytes> = None;
        let mut buf: Option<BytesMut> = None;
        let mut next = first;
        for taken in 1..=COALESCE {
            match next {
                Ok(frame) => {
                    if frame.is_entry() && frame.take() {
                        broadcast_done(&frame);
                    }
                    if self.accept(&frame) {
                        let restamped;
                        let bytes = if let Some(kind) = frame.kind {
                            if kind == Kind::Observation {
                                sent_observations += 1;
                            } else {
                                count_sent(kind, 1);
                            }
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
        frame.wanted_by(self.filter.as_ref(), self.kinds)
    }

    fn shutting_down(&mut self) -> Option<Bytes> {
        self.phase = Phase::Done;
        metrics::hot().sent_shutdown.increment(1);
        Some(encode_shutdown(Utc::now()))
    }
}

/// A stream's engine with what must last as long as the stream (its place under the limits).
/// Dropped when the stream ends, whichever task holds it then.
pub struct LiveStream {
    engine: StreamEngine,
    _held: Box<dyn Send>,
}

impl std::fmt::Debug for LiveStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveStream")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl LiveStream {
    /// `engine`, keeping `held` until the stream is dropped.
    pub fn new(engine: StreamEngine, held: impl Send + 'static) -> Self {
        Self {
            engine,
            _held: Box::new(held),
        }
    }

    /// The engine.
    pub fn engine(&mut self) -> &mut StreamEngine {
        &mut self.engine
    }

    /// The next chunk; an error when the stream ends because its client is too slow (the
    /// transport then aborts the connection instead of ending it cleanly, so that what is
    /// buffered for it is dropped at once instead of trickling out first); `None` at the end.
    pub async fn next(&mut self) -> Option<std::io::Result<Bytes>> {
        match self.engine.next_chunk().await {
            Some(chunk) => Some(Ok(chunk)),
            None if self.engine.take_abort() => Some(Err(std::io::Error::other(
                "client too slow; stream aborted",
            ))),
            None => None,
        }
    }
}

/// Counts `n` events of `kind` sent (`sse_events_sent_total`).
fn count_sent(kind: Kind, n: u64) {
    metrics::hot().sent_kind[kind as usize].increment(n);
}

/// Called by the last receiver of an entry's frame: latency from bus receipt to here.
fn broadcast_done(frame: &Frame) {
    let latency = frame.received.elapsed();
    metrics::hot()
        .broadcast_latency
        .record(latency.as_secs_f64() * 1000.0);
    frame.log_broadcast(latency);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Observation, StationId, VALUE_COUNT};
    use crate::hub::HubConfig;
    use crate::store::SqliteStore;

    fn obs(station: &str, minute: i64) -> Observation {
        let mut values = [None; VALUE_COUNT];
        values[0] = Some(minute as f64 / 10.0);
        let at = chrono::DateTime::from_timestamp(1_764_000_000 + minute * 60, 0).unwrap();
        Observation::from_values(StationId::parse(station).unwrap(), at, values)
    }

    async fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        (dir, Arc::new(store))
    }

    /// `(event, id)` of every frame in a chunk, in order.
    fn frames(chunk: &Bytes) -> Vec<(String, Option<i64>)> {
        std::str::from_utf8(chunk)
            .unwrap()
            .split("\n\n")
            .filter(|block| !block.is_empty())
            .map(|block| {
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name).map(str::to_owned))
                };
                if field("retry: ").is_some() {
                    return ("retry".to_owned(), None);
                }
                (
                    field("event: ").unwrap_or_default(),
                    field("id: ").map(|id| id.parse().unwrap()),
                )
            })
            .collect()
    }

    /// A stream of observations of every station after `resume`, replaying at most 1,000.
    async fn open(
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        resume: &Resume,
        shutdown: CancellationToken,
    ) -> StreamEngine {
        StreamEngine::open(
            store,
            hub,
            resume,
            None,
            KindSet::OBSERVATION,
            1000,
            shutdown,
        )
        .await
        .unwrap()
    }

    async fn next(engine: &mut StreamEngine) -> Vec<(String, Option<i64>)> {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), engine.next_chunk())
            .await
            .expect("a chunk in time")
            .expect("the stream goes on");
        frames(&chunk)
    }

    #[tokio::test]
    async fn a_resumed_stream_replays_then_goes_live_with_no_gap_or_duplicate() {
        let (_dir, store) = store().await;
        let stored = store
            .insert_observations(&(0..5).map(|m| obs("44009", m)).collect::<Vec<_>>())
            .await
            .unwrap();
        let hub = Arc::new(Hub::new(HubConfig::default(), Seq::new(5)));
        let resume = Resume {
            after: Some(Seq::new(2)),
            since: None,
        };
        let mut engine = open(
            store.clone(),
            hub.clone(),
            &resume,
            CancellationToken::new(),
        )
        .await;
        assert_eq!(
            next(&mut engine).await,
            [("retry".into(), None), ("connection".into(), Some(2))]
        );
        let replayed = next(&mut engine).await;
        assert_eq!(
            replayed,
            [3, 4, 5].map(|s| ("observation".to_owned(), Some(s)))
        );
        // Live: a frame the replay already sent is skipped; the next one is sent.
        hub.broadcast(Frame::observation(
            Some(Seq::new(5)),
            &stored[4].observation,
        ));
        let later = store.insert_observations(&[obs("44009", 9)]).await.unwrap();
        hub.broadcast(Frame::observation(
            Some(later[0].seq),
            &later[0].observation,
        ));
        assert_eq!(next(&mut engine).await, [("observation".into(), Some(6))]);
        assert!(!engine.take_abort());
    }

    #[tokio::test]
    async fn a_resume_point_ahead_of_the_log_is_reset_to_the_newest_seq() {
        let (_dir, store) = store().await;
        store.insert_observations(&[obs("44009", 1)]).await.unwrap();
        let hub = Arc::new(Hub::new(HubConfig::default(), Seq::new(1)));
        let resume = Resume {
            after: Some(Seq::new(900)),
            since: None,
        };
        let mut engine = open(store, hub, &resume, CancellationToken::new()).await;
        // The connection keeps the id the client sent; the reset says where the stream goes on.
        assert_eq!(
            next(&mut engine).await,
            [
                ("retry".into(), None),
                ("connection".into(), Some(900)),
                ("reset".into(), Some(1))
            ]
        );
    }

    #[tokio::test]
    async fn a_stream_that_keeps_overflowing_its_backlog_is_ended_as_too_slow() {
        let (_dir, store) = store().await;
        let hub = Arc::new(Hub::new(
            HubConfig {
                backlog: 4,
                ..HubConfig::default()
            },
            Seq::ZERO,
        ));
        let resume = Resume {
            after: None,
            since: None,
        };
        let mut engine = open(
            store.clone(),
            hub.clone(),
            &resume,
            CancellationToken::new(),
        )
        .await;
        assert_eq!(
            next(&mut engine).await,
            [("retry".into(), None), ("connection".into(), Some(0))]
        );
        // Each round overflows the 4-frame backlog; the first CATCH_UPS are caught up from the
        // store, the next one ends the stream.
        let mut minute = 0;
        let mut ended = false;
        for _ in 0..=CATCH_UPS {
            let batch: Vec<Observation> = (0..12)
                .map(|_| {
                    minute += 1;
                    obs("44009", minute)
                })
                .collect();
            for s in store.insert_observations(&batch).await.unwrap() {
                hub.broadcast(Frame::observation(Some(s.seq), &s.observation));
            }
            // Read until the engine has taken in this round (or ended).
            loop {
                match tokio::time::timeout(
                    std::time::Duration::from_millis(200),
                    engine.next_chunk(),
                )
                .await
                {
                    Ok(Some(_)) => continue,
                    Ok(None) => {
                        ended = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            if ended {
                break;
            }
        }
        assert!(ended, "the stream was never ended");
        assert!(
            engine.take_abort(),
            "a slow client's stream is aborted, not ended cleanly"
        );
        assert!(!engine.take_abort(), "once");
    }

    /// Every frame of a stream until it ends (bounded), as `(event, id)`.
    async fn until_end(engine: &mut StreamEngine) -> Vec<(String, Option<i64>)> {
        let mut all = Vec::new();
        for _ in 0..100 {
            match tokio::time::timeout(std::time::Duration::from_secs(5), engine.next_chunk())
                .await
                .expect("a chunk in time")
            {
                Some(chunk) => all.extend(frames(&chunk)),
                None => return all,
            }
        }
        panic!("the stream did not end: {all:?}");
    }

    #[tokio::test]
    async fn a_stream_shut_down_while_replaying_ends_with_a_shutdown_event() {
        let (_dir, store) = store().await;
        store
            .insert_observations(&(0..5).map(|m| obs("44009", m)).collect::<Vec<_>>())
            .await
            .unwrap();
        let hub = Arc::new(Hub::new(HubConfig::default(), Seq::new(5)));
        let shutdown = CancellationToken::new();
        let resume = Resume {
            after: Some(Seq::ZERO),
            since: None,
        };
        let mut engine = open(store, hub, &resume, shutdown.clone()).await;
        assert_eq!(
            next(&mut engine).await,
            [("retry".into(), None), ("connection".into(), Some(0))]
        );
        shutdown.cancel();
        // The replay may or may not have read its page before it saw the shutdown; either way
        // the stream's last event is `shutdown`, and nothing follows it.
        let rest = until_end(&mut engine).await;
        assert_eq!(
            rest.last().map(|(e, _)| e.as_str()),
            Some("shutdown"),
            "{rest:?}"
        );
        assert_eq!(rest.iter().filter(|(e, _)| e == "shutdown").count(), 1);
        assert!(
            rest.iter()
                .all(|(e, _)| e == "observation" || e == "shutdown")
        );
        assert!(!engine.take_abort(), "a shutdown is a clean end");
    }

    #[tokio::test]
    async fn a_backlog_overflow_during_the_replay_is_caught_up_with_no_gap_or_duplicate() {
        let (_dir, store) = store().await;
        let hub = Arc::new(Hub::new(
            HubConfig {
                backlog: 4,
                ..HubConfig::default()
            },
            Seq::ZERO,
        ));
        let resume = Resume {
            after: Some(Seq::ZERO),
            since: None,
        };
        let mut engine = open(
            store.clone(),
            hub.clone(),
            &resume,
            CancellationToken::new(),
        )
        .await;
        // Before the stream has sent anything, 12 events are stored and broadcast: three times
        // its 4-frame backlog.
        let batch: Vec<Observation> = (0..12).map(|m| obs("44009", m)).collect();
        for s in store.insert_observations(&batch).await.unwrap() {
            hub.broadcast(Frame::observation(Some(s.seq), &s.observation));
        }
        assert_eq!(
            next(&mut engine).await,
            [("retry".into(), None), ("connection".into(), Some(0))]
        );
        let mut seqs: Vec<i64> = next(&mut engine)
            .await
            .into_iter()
            .map(|(event, id)| {
                assert_eq!(event, "observation");
                id.unwrap()
            })
            .collect();
        let later = store
            .insert_observations(&[obs("44009", 20)])
            .await
            .unwrap();
        hub.broadcast(Frame::observation(
            Some(later[0].seq),
            &later[0].observation,
        ));
        for (event, id) in next(&mut engine).await {
            assert_eq!(event, "observation");
            seqs.push(id.unwrap());
        }
        assert_eq!(seqs, (1..=13).collect::<Vec<_>>());
        assert!(!engine.take_abort());
    }
}
