//! An event stream over HTTP/2: its frames go through a small queue of their own, so that a
//! client that stops reading one stream cannot hold it for ever while its connection's other
//! streams flow.
//!
//! Over HTTP/1.1 a client that stops reading fills its socket: the write stalls, the write
//! timeout closes the connection, and a client that reads but too slowly overflows the hub's
//! backlog. Over HTTP/2 one stream's flow-control window closes while the socket keeps draining
//! for the others, and hyper stops polling that stream's body: the stream would neither see its
//! backlog overflow nor time out. So a task of the stream's own reads its chunks into a queue
//! the body takes from: at most [`QUEUED`] bytes wait there (beyond it the chunks are not read,
//! so the hub's bounded backlog fills, as a full socket buffer does on HTTP/1.1); a queue that
//! nothing is taken from for the write timeout ends the stream, aborted (the client sees
//! `RST_STREAM` and resumes with `Last-Event-ID`), and the stream's place and its hub
//! subscription are released at once.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::api::raw_chunks::Chunks;

/// Most bytes of frames waiting for one HTTP/2 stream's client to take them.
const QUEUED: usize = 64 * 1024;

/// The body of an event stream over HTTP/2: `chunks` read by a task of their own into a bounded
/// queue; ended, aborted, when nothing is taken for `stall`. `keep` lives as long as the body.
pub(super) fn body<K: Send + Unpin + 'static>(chunks: Chunks, stall: Duration, keep: K) -> Body {
    let shared = Arc::new(Shared {
        pipe: Mutex::new(Pipe {
            queue: VecDeque::new(),
            queued: 0,
            waiting_since: Instant::now(),
            end: End::Open,
            reader: None,
        }),
        room: Notify::new(),
    });
    let pump = tokio::spawn(pump(chunks, shared.clone(), stall));
    Body::from_stream(Taker {
        shared,
        _pump: AbortOnDrop(pump.abort_handle()),
        _keep: keep,
    })
}

#[derive(Debug)]
struct Shared {
    pipe: Mutex<Pipe>,
    /// Notified when the body takes a chunk (room in the queue, and the stall clock restarts).
    room: Notify,
}

#[derive(Debug)]
struct Pipe {
    queue: VecDeque<Bytes>,
    queued: usize,
    /// Since when the oldest queued data has waited without anything being taken.
    waiting_since: Instant,
    end: End,
    /// The body's task, waiting for a chunk.
    reader: Option<Waker>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Open,
    /// The stream ended: what is queued is delivered, then the body ends.
    Finished,
    /// The client stopped reading, or the stream failed: the body fails (`RST_STREAM`).
    Aborted,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pipe> {
        self.pipe.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, bytes: Bytes) {
        let mut pipe = self.lock();
        if pipe.queue.is_empty() {
            pipe.waiting_since = Instant::now();
        }
        pipe.queued += bytes.len();
        pipe.queue.push_back(bytes);
        if let Some(reader) = pipe.reader.take() {
            reader.wake();
        }
    }

    fn end(&self, end: End) {
        let mut pipe = self.lock();
        pipe.end = end;
        if end == End::Aborted {
            pipe.queue.clear();
            pipe.queued = 0;
        }
        if let Some(reader) = pipe.reader.take() {
            reader.wake();
        }
    }

    /// Whether the queue is full, and when its data will have waited for `stall` (if any waits).
    fn state(&self, stall: Duration) -> (bool, Option<Instant>) {
        let pipe = self.lock();
        (
            pipe.queued >= QUEUED,
            (!pipe.queue.is_empty()).then(|| pipe.waiting_since + stall),
        )
    }

    fn stalled(&self, stall: Duration) -> bool {
        let pipe = self.lock();
        !pipe.queue.is_empty() && pipe.waiting_since.elapsed() >= stall
    }
}

/// Reads the stream's chunks into the queue until the stream ends or its client stalls.
async fn pump(mut chunks: Chunks, shared: Arc<Shared>, stall: Duration) {
    let end = loop {
        let (full, stall_at) = shared.state(stall);
        let next = match (full, stall_at) {
            (true, Some(at)) => {
                tokio::select! {
                    () = shared.room.notified() => continue,
                    () = tokio::time::sleep_until(at) => None,
                }
            }
            (_, Some(at)) => {
                tokio::select! {
                    next = chunks.next() => Some(next),
                    () = tokio::time::sleep_until(at) => None,
                }
            }
            (_, None) => Some(chunks.next().await),
        };
        match next {
            None if shared.stalled(stall) => {
                tracing::info!(
                    event = "sse_client_too_slow",
                    transport = "h2",
                    "an HTTP/2 stream's client took nothing within the write timeout; closing it"
                );
                break End::Aborted;
            }
            None => {}
            Some(Some(Ok(bytes))) if bytes.is_empty() => {}
            Some(Some(Ok(bytes))) => shared.push(bytes),
            Some(Some(Err(e))) => {
                tracing::debug!(event = "stream_connection_ended", error = %e, "stream aborted");
                break End::Aborted;
            }
            Some(None) => break End::Finished,
        }
    };
    // The stream's place and hub subscription are released now, not when the client reads again.
    drop(chunks);
    shared.end(end);
}

/// Aborts the pump when the body is dropped (stream reset by the client, connection closed).
#[derive(Debug)]
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The body's side: takes the queued chunks.
struct Taker<K> {
    shared: Arc<Shared>,
    _pump: AbortOnDrop,
    _keep: K,
}

impl<K: Unpin> Stream for Taker<K> {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let shared = &self.get_mut().shared;
        let mut pipe = shared.lock();
        if let Some(bytes) = pipe.queue.pop_front() {
            pipe.queued -= bytes.len();
            pipe.waiting_since = Instant::now();
            drop(pipe);
            shared.room.notify_one();
            return Poll::Ready(Some(Ok(bytes)));
        }
        match pipe.end {
            End::Open => {
                pipe.reader = Some(cx.waker().clone());
                Poll::Pending
            }
            End::Finished => Poll::Ready(None),
            End::Aborted => Poll::Ready(Some(Err(io::Error::other(
                "client stopped reading; stream aborted",
            )))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn chunks(items: Vec<io::Result<Bytes>>) -> Chunks {
        Box::pin(futures_util::stream::iter(items).chain(futures_util::stream::pending()))
    }

    #[tokio::test]
    async fn a_reading_client_gets_every_chunk_in_order() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<io::Result<Bytes>>();
        let stream: Chunks = Box::pin(tokio_stream_from(rx));
        let mut body = body(stream, Duration::from_secs(5), ());
        for i in 0..100u32 {
            tx.send(Ok(Bytes::from(i.to_string()))).unwrap();
            let frame = body.frame().await.unwrap().unwrap();
            assert_eq!(frame.into_data().unwrap(), Bytes::from(i.to_string()));
        }
        drop(tx);
        assert!(body.frame().await.is_none(), "ends when the stream ends");
    }

    #[tokio::test]
    async fn a_client_that_takes_nothing_is_aborted_after_the_stall_time() {
        let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        struct Flag(Arc<std::sync::atomic::AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let flag = Flag(dropped.clone());
        let inner = chunks(vec![
            Ok(Bytes::from_static(b"a")),
            Ok(Bytes::from_static(b"b")),
        ]);
        let watched: Chunks = Box::pin(inner.map(move |c| {
            let _held = &flag;
            c
        }));
        let mut body = body(watched, Duration::from_millis(400), ());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!dropped.load(std::sync::atomic::Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert!(
            dropped.load(std::sync::atomic::Ordering::SeqCst),
            "the stream (its place, its subscription) is released while the client stalls"
        );
        assert!(body.frame().await.unwrap().is_err(), "the body fails");
    }

    fn tokio_stream_from(
        mut rx: tokio::sync::mpsc::UnboundedReceiver<io::Result<Bytes>>,
    ) -> impl Stream<Item = io::Result<Bytes>> + Send {
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }
}
