//! The lean path of `GET /v1/observations/stream`: such connections are answered without hyper.
//!
//! hyper keeps two 8 KiB buffers for every connection for its whole life (the read buffer and
//! the header write buffer), which alone is twice the per-stream memory budget of SPEC §10. A
//! stream needs neither after its request: the front door ([`super`]) reads
//! the request head of each new connection; a plain HTTP/1.1 `GET` of the stream path is run
//! through the same axum router (every layer, extractor and error applies), and its response is
//! written here — the head and the first frames in one write, then each chunk of frames with
//! one write. The chunks are taken straight from the stream ([`RawChunks`]), past the body
//! wrappers of the layers, which would otherwise run per chunk. Any other request is handed to
//! hyper with the bytes already read.

use std::cell::Cell;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, DATE, TRANSFER_ENCODING};
use axum::http::{Request, Response, StatusCode};
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;

use super::admission::Ticket;
use super::fanout::{Fanout, Returned};
use super::socket::{TimedStream, TimedWriter, closed_or_sent};
use crate::api::PeerAddr;
use crate::api::raw_chunks::{Chunks, RawChunks};
use crate::hub::stream::{LiveStream, TryChunk};

/// Largest error body written by the lean path.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// What the lean path needs: the API router, and the shard writers its caught-up streams park
/// with.
#[derive(Debug, Clone)]
pub struct LeanStreams {
    router: Router,
    fanout: Option<Arc<Fanout>>,
}

impl LeanStreams {
    /// Serves stream requests with `router`; their streams park with `fanout` once caught up
    /// (without it, each stream's task writes every chunk).
    pub fn new(router: Router, fanout: Option<Arc<Fanout>>) -> Self {
        Self { router, fanout }
    }

    /// Answers one stream request on `io`: the stream to forward when the answer is an event
    /// stream (its head and first frames not yet written), or `None` once any other answer has
    /// been written whole. The connection's place (`ticket`) goes with the stream.
    // Not an `async fn` (here and below): an `async fn` keeps room for its arguments twice, as
    // they come and as its locals; a stream's task carries that room for its whole life.
    pub fn open(
        self,
        mut io: TimedStream,
        peer: SocketAddr,
        mut request: Box<Request<Body>>,
        ticket: Ticket,
    ) -> impl Future<Output = Option<OpenStream>> + Send {
        let Self { router, fanout } = self;
        request.extensions_mut().insert(ConnectInfo(PeerAddr(peer)));
        async move {
            let response = match router.oneshot(*request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            let streaming = response.status() == StatusCode::OK
                && response
                    .headers()
                    .get(CONTENT_TYPE)
                    .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
            if !streaming {
                // Boxed: a refusal's answer is rare, and its room would be carried by every
                // connection's task.
                ended(Box::pin(write_response(&mut io, response)).await);
                return None;
            }
            // Only what the stream needs is kept (not the response's headers and extensions).
            let (first, source) = into_head_and_chunks(response);
            Some(OpenStream {
                io,
                first,
                source,
                fanout,
                ticket,
            })
        }
    }
}

/// An event stream answered and not yet written: what forwarding it needs, and nothing else.
/// The connection's task goes on as the stream's (a task of its own was one more spawn,
/// allocation and copy of its state per connection); what the front door needed before is
/// gone by then, so the task holds little more than the forwarding.
pub struct OpenStream {
    io: TimedStream,
    first: Vec<u8>,
    source: Source,
    fanout: Option<Arc<Fanout>>,
    ticket: Ticket,
}

impl std::fmt::Debug for OpenStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenStream")
            .field("io", &self.io)
            .field("ticket", &self.ticket)
            .finish_non_exhaustive()
    }
}

impl OpenStream {
    /// Forwards the stream until it ends; the connection's place is held as long.
    pub fn forward(self) -> impl Future<Output = ()> + Send {
        let Self {
            io,
            first,
            source,
            fanout,
            ticket,
        } = self;
        forward_stream(io, first, source, fanout).map(move |result| {
            ended(result);
            drop(ticket);
        })
    }
}

fn ended(result: io::Result<()>) {
    if let Err(e) = result {
        tracing::debug!(event = "stream_connection_ended", error = %e, "stream connection ended");
    }
}

/// The status line and headers, without the final blank line.
fn head(response: &Response<Body>, out: &mut Vec<u8>) {
    let status = response.status();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    if !response.headers().contains_key(DATE) {
        // RFC 9110 §6.6.1: an origin server with a clock sends Date.
        out.extend_from_slice(b"date: ");
        push_date(out);
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in response.headers() {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING || name == CONNECTION {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// Length of an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
const DATE_LEN: usize = 29;

/// Appends the current HTTP date. It changes once a second: each worker thread formats it once
/// per second and copies it otherwise, as hyper does for its own responses.
fn push_date(out: &mut Vec<u8>) {
    thread_local! {
        static DATE: Cell<(u64, [u8; DATE_LEN])> = const { Cell::new((u64::MAX, [0; DATE_LEN])) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with(|cached| {
        let (at, date) = cached.get();
        if at == second {
            out.extend_from_slice(&date);
            return;
        }
        let formatted = httpdate::fmt_http_date(now);
        if let Ok(date) = <[u8; DATE_LEN]>::try_from(formatted.as_bytes()) {
            cached.set((second, date));
        }
        out.extend_from_slice(formatted.as_bytes());
    });
}

/// An error answer (or anything but an event stream): written whole, then the connection closes.
pub(super) async fn write_response(
    io: &mut TimedStream,
    response: Response<Body>,
) -> io::Result<()> {
    let mut out = Vec::with_capacity(512);
    head(&response, &mut out);
    let mut body = Vec::new();
    let mut data = response.into_body().into_data_stream();
    while let Some(chunk) = data.next().await {
        let chunk = chunk.map_err(io::Error::other)?;
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ERROR_BODY {
            return Err(io::Error::other(
                "response body too large for the lean path",
            ));
        }
    }
    out.extend_from_slice(
        format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&body);
    io.write_all(&out).await?;
    io.shutdown().await
}

/// The event stream: the head with the first chunk in one write, then one write per chunk of
/// frames, until the stream ends (terminating chunk), fails (the connection is dropped without
/// one, so the client sees the abort) or the client goes away. Once the stream has caught up,
/// it parks with the shard writers ([`Fanout`]) between the chunks it has to write itself.
fn forward_stream(
    io: TimedStream,
    first: Vec<u8>,
    source: Source,
    fanout: Option<Arc<Fanout>>,
) -> impl Future<Output = io::Result<()>> + Send {
    // Taken apart before the future is made, which then holds the parts only.
    let (read, mut writer) = io.split();
    let mut first = Some(first);
    let (mut live, mut chunks) = match source {
        Source::Live(live) => (Some(live), None),
        Source::Chunks(chunks) => (None, Some(chunks)),
    };
    async move {
        let mut fanout = fanout.as_deref();
        // Chunks written by this task. A stream parks only after its greeting and one more chunk,
        // so that setting up a connection costs no trip through the writers.
        let mut writes = 0u32;
        loop {
            // A stream parks only once it has caught up: while frames are waiting for it, this task
            // writes them itself, many in one write (a stream whose client lags behind would
            // otherwise go back and forth between the writer, which finds its socket full, and
            // this task).
            let ready = match (fanout, live.as_mut()) {
                (Some(_), Some(stream)) if writes >= 2 => stream.engine().try_next_chunk(),
                _ => TryChunk::Wait,
            };
            if let TryChunk::Ready(chunk) = ready {
                write_chunk(&mut writer, &chunk).await?;
                writes = writes.saturating_add(1);
                continue;
            }
            if let Some(writers) = fanout
                && matches!(ready, TryChunk::Empty)
                && let Some(stream) = live.take()
            {
                let mut parking = match writers.park(stream, writer) {
                    Ok(parking) => parking,
                    Err(both) => {
                        let (stream, back) = *both;
                        // The writers are gone (the server is stopping): go on alone.
                        (live, writer, fanout) = (Some(stream), back, None);
                        continue;
                    }
                };
                let returned = tokio::select! {
                    biased;
                    returned = &mut parking.back => returned,
                    closed = closed_or_sent(&read) => {
                        writers.remove(&parking);
                        return closed_result(closed);
                    }
                };
                let Ok(returned) = returned else {
                    // The writer dropped the stream: it has ended.
                    return Ok(());
                };
                let Returned {
                    stream,
                    writer: back,
                    unwritten,
                } = *returned;
                (live, writer) = (Some(stream), back);
                if let Some(rest) = unwritten {
                    writer.write_all(rest.as_ref()).await?;
                }
            }
            let next = tokio::select! {
                biased;
                next = next_of(live.as_mut(), chunks.as_mut()) => next,
                closed = closed_or_sent(&read) => return closed_result(closed),
            };
            if !write_next(&mut writer, &mut first, next).await? {
                return Ok(());
            }
            writes = writes.saturating_add(1);
        }
    }
}

/// The next chunk of whichever source the stream has.
async fn next_of(
    live: Option<&mut Box<LiveStream>>,
    chunks: Option<&mut Chunks>,
) -> Option<io::Result<Bytes>> {
    match (live, chunks) {
        (Some(live), _) => live.next().await,
        (None, Some(chunks)) => chunks.next().await,
        (None, None) => None,
    }
}

/// How a stream ends when its client closes the connection or sends bytes after its request
/// (nothing is read after a stream request: such bytes are refused, not drained, and the
/// connection is closed).
fn closed_result(closed: bool) -> io::Result<()> {
    if closed {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bytes sent after a stream request",
        ))
    }
}

/// Writes the next chunk (after the head, if it is still to be written); `false` once the stream
/// has ended cleanly (terminating chunk written, write side shut down).
async fn write_next(
    writer: &mut TimedWriter,
    first: &mut Option<Vec<u8>>,
    next: Option<io::Result<Bytes>>,
) -> io::Result<bool> {
    match next {
        Some(Ok(bytes)) if bytes.is_empty() => Ok(true),
        Some(Ok(bytes)) => {
            match first.take() {
                Some(mut out) => {
                    push_chunk(&mut out, &bytes);
                    writer.write_all(&out).await?;
                }
                None => write_chunk(writer, &bytes).await?,
            }
            Ok(true)
        }
        Some(Err(e)) => Err(e),
        None => {
            let mut out = first.take().unwrap_or_default();
            out.extend_from_slice(b"0\r\n\r\n");
            writer.write_all(&out).await?;
            writer.shutdown().await?;
            Ok(false)
        }
    }
}

/// Where a stream response's chunks come from.
enum Source {
    /// The stream itself, past the layers' body wrappers (boxed: it moves between this task
    /// and the shard writers as a pointer).
    Live(Box<LiveStream>),
    /// Any other event-stream body (a refusal's `unavailable` event).
    Chunks(Chunks),
}

/// The response head (to be completed by the first chunk) and the stream's chunks. The response
/// itself (its header map and extensions) is dropped here.
fn into_head_and_chunks(response: Response<Body>) -> (Vec<u8>, Source) {
    // Room for the head and the first chunk (`retry:` and the `connection` event), so that
    // adding the chunk does not reallocate.
    let mut first = Vec::with_capacity(1024);
    head(&response, &mut first);
    let raw = response
        .extensions()
        .get::<RawChunks>()
        .and_then(RawChunks::take);
    let source = match raw {
        Some(stream) => Source::Live(Box::new(stream)),
        None => Source::Chunks(Box::pin(
            response
                .into_body()
                .into_data_stream()
                .map(|r| r.map_err(io::Error::other)),
        )),
    };
    // The connection is closed after a refusal's short body: it says so, or a client's (or a
    // proxy's) connection pool sends its next request on it and gets a reset, which a proxy
    // answers with a 502 that ends an `EventSource` for good.
    let connection: &[u8] = match source {
        Source::Live(_) => b"connection: keep-alive\r\n",
        Source::Chunks(_) => b"connection: close\r\n",
    };
    first.extend_from_slice(connection);
    first.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
    (first, source)
}

/// `len` as a chunk-size line (`1A3\r\n`) in `buf`; returns its length.
pub(super) fn chunk_header(len: usize, buf: &mut [u8; 18]) -> usize {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let digits = (usize::BITS - len.leading_zeros()).div_ceil(4).max(1) as usize;
    for (i, slot) in buf[..digits].iter_mut().enumerate() {
        *slot = HEX[(len >> (4 * (digits - 1 - i))) & 0xF];
    }
    buf[digits..digits + 2].copy_from_slice(b"\r\n");
    digits + 2
}

pub(super) fn push_chunk(out: &mut Vec<u8>, data: &[u8]) {
    let mut header = [0u8; 18];
    let n = chunk_header(data.len(), &mut header);
    out.extend_from_slice(&header[..n]);
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Chunks up to this size are copied into one buffer and written with one plain `write`; larger
/// ones (coalesced backlogs, replay pages) go out with one vectored write, uncopied.
const COPY_UP_TO: usize = 16 * 1024;

/// One chunk in one write; a partial write, rare with a socket buffer that has room, sends the
/// rest contiguously.
async fn write_chunk(io: &mut TimedWriter, data: &[u8]) -> io::Result<()> {
    if data.len() <= COPY_UP_TO {
        let mut out = Vec::with_capacity(data.len() + 20);
        push_chunk(&mut out, data);
        return io.write_all(&out).await;
    }
    let mut header = [0u8; 18];
    let n = chunk_header(data.len(), &mut header);
    let total = n + data.len() + 2;
    let slices = [
        IoSlice::new(&header[..n]),
        IoSlice::new(data),
        IoSlice::new(b"\r\n"),
    ];
    let written = io.write_vectored(&slices).await?;
    if written == total {
        return Ok(());
    }
    if written == 0 {
        return Err(io::ErrorKind::WriteZero.into());
    }
    let mut rest = Vec::with_capacity(total);
    push_chunk(&mut rest, data);
    io.write_all(&rest[written..]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_event_stream_says_its_connection_closes() {
        let response = Response::builder()
            .header(CONTENT_TYPE, "text/event-stream")
            .body(Body::from(
                "retry: 5000\n\nevent: unavailable\ndata: {}\n\n",
            ))
            .expect("response");
        let (first, source) = into_head_and_chunks(response);
        assert!(matches!(source, Source::Chunks(_)));
        let head = String::from_utf8(first).expect("ASCII head");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(
            head.ends_with("\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n"),
            "{head}"
        );
        assert!(!head.contains("keep-alive"), "{head}");
    }

    #[test]
    fn chunk_headers_are_hex() {
        let mut b = [0u8; 18];
        let n = chunk_header(0x1a3, &mut b);
        assert_eq!(&b[..n], b"1A3\r\n");
        let mut out = Vec::new();
        push_chunk(&mut out, b"hello");
        assert_eq!(out, b"5\r\nhello\r\n");
        for len in [
            0,
            1,
            9,
            10,
            15,
            16,
            255,
            256,
            4095,
            65536,
            1 << 40,
            usize::MAX,
        ] {
            let n = chunk_header(len, &mut b);
            assert_eq!(&b[..n], format!("{len:X}\r\n").as_bytes(), "{len}");
        }
    }
}
