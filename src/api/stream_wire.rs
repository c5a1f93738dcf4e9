//! The lean path of `GET /v1/observations/stream`: such connections are answered without hyper.
//!
//! hyper keeps two 8 KiB buffers for every connection for its whole life (the read buffer and
//! the header write buffer), which alone is twice the per-stream memory budget of SPEC §10. A
//! stream needs neither after its request: the listener ([`crate::net::StreamListener`]) reads
//! the request head of each new connection; a plain HTTP/1.1 `GET` of the stream path is run
//! through the same axum router (every layer, extractor and error applies), and its response is
//! written here — the head and the first frames in one write, then each chunk of frames with
//! one write. The chunks are taken straight from the stream ([`RawChunks`]), past the body
//! wrappers of the layers, which would otherwise run per chunk. Any other request is handed to
//! hyper with the bytes already read.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;

use bytes::Bytes;
use futures_util::Stream;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, DATE, TRANSFER_ENCODING};
use axum::http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::net::{PeerAddr, TimedStream};

/// Longest request head the lean path reads; a longer one goes to hyper (which refuses it).
pub const MAX_HEAD: usize = 8192;
/// The path served here.
const STREAM_PATH: &str = "/v1/observations/stream";
/// Most request headers parsed here (more: hyper takes the request).
const MAX_HEADERS: usize = 64;
/// Largest error body written by the lean path.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The chunks of an event stream.
pub type Chunks = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// A response extension holding a stream's chunks, so that the lean path can take them without
/// the body wrappers of the layers; hyper reads the same chunks through the response body.
#[derive(Clone)]
pub struct RawChunks(Arc<Mutex<Option<Chunks>>>);

impl std::fmt::Debug for RawChunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawChunks")
    }
}

impl RawChunks {
    /// The extension and a body reading the same chunks (until the lean path takes them).
    pub fn new(chunks: impl Stream<Item = io::Result<Bytes>> + Send + 'static) -> (Self, Body) {
        let slot: Arc<Mutex<Option<Chunks>>> = Arc::new(Mutex::new(Some(Box::pin(chunks))));
        let reader = slot.clone();
        let body = Body::from_stream(futures_util::stream::poll_fn(move |cx| {
            let mut chunks = reader.lock().unwrap_or_else(PoisonError::into_inner);
            match chunks.as_mut() {
                Some(chunks) => chunks.as_mut().poll_next(cx),
                None => Poll::Ready(None),
            }
        }));
        (Self(slot), body)
    }

    /// Takes the chunks (once).
    pub fn take(&self) -> Option<Chunks> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// What the lean path needs: the API router and the tasks of the connections it serves.
#[derive(Debug, Clone)]
pub struct LeanStreams {
    router: Router,
    tasks: TaskTracker,
}

/// What a request head read so far is.
#[derive(Debug)]
pub enum Head {
    /// More bytes are needed.
    Incomplete,
    /// A stream request this path serves.
    Stream(Box<Request<Body>>),
    /// Anything else: hyper serves it.
    Other,
}

/// Reads a request head: a complete HTTP/1.1 `GET` of the stream path with no body and
/// nothing after the head becomes a request for the router.
pub fn classify(buf: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Head::Incomplete,
        Err(_) => return Head::Other,
    };
    let (Some("GET"), Some(1), Some(path)) = (parsed.method, parsed.version, parsed.path) else {
        return Head::Other;
    };
    if len != buf.len() || path.split('?').next() != Some(STREAM_PATH) {
        return Head::Other;
    }
    let mut request = Request::new(Body::empty());
    *request.method_mut() = Method::GET;
    *request.version_mut() = Version::HTTP_11;
    match path.parse() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => return Head::Other,
    }
    for h in parsed.headers.iter() {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) else {
            return Head::Other;
        };
        if name == TRANSFER_ENCODING || (name == CONTENT_LENGTH && value != "0") {
            return Head::Other; // a body: not a plain stream request
        }
        request.headers_mut().append(name, value);
    }
    Head::Stream(Box::new(request))
}

impl LeanStreams {
    /// Serves stream requests with `router`; their connections run as tasks of `tasks`.
    pub fn new(router: Router, tasks: TaskTracker) -> Self {
        Self { router, tasks }
    }

    /// The tasks of the connections this path serves (wait for them on shutdown).
    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    /// Answers one stream request on `io` and forwards the stream until it ends.
    pub async fn serve(&self, mut io: TimedStream, peer: SocketAddr, mut request: Request<Body>) {
        request.extensions_mut().insert(ConnectInfo(PeerAddr(peer)));
        let response = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let streaming = response.status() == StatusCode::OK
            && response
                .headers()
                .get(CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        if streaming {
            // The stream outlives this future, which is sized for the router's: it gets a task of
            // its own, sized for forwarding only (~1.5 KiB less per open stream).
            self.tasks.spawn(async move {
                ended(forward_stream(&mut io, response).await);
            });
        } else {
            ended(write_whole(&mut io, response).await);
        }
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
        out.extend_from_slice(httpdate::fmt_http_date(std::time::SystemTime::now()).as_bytes());
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

/// An error answer (or anything but an event stream): written whole, then the connection closes.
async fn write_whole(io: &mut TimedStream, response: Response<Body>) -> io::Result<()> {
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
/// one, so the client sees the abort) or the client goes away.
async fn forward_stream(io: &mut TimedStream, response: Response<Body>) -> io::Result<()> {
    let mut first = Vec::with_capacity(512);
    head(&response, &mut first);
    first.extend_from_slice(b"connection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n");
    let raw = response
        .extensions()
        .get::<RawChunks>()
        .and_then(RawChunks::take);
    let mut data: Chunks = match raw {
        Some(chunks) => chunks,
        None => Box::pin(
            response
                .into_body()
                .into_data_stream()
                .map(|r| r.map_err(io::Error::other)),
        ),
    };
    let mut first = Some(first);
    loop {
        let next = tokio::select! {
            biased;
            next = data.next() => next,
            closed = io.peer_closed() => {
                if closed {
                    return Ok(());
                }
                continue;
            }
        };
        match next {
            Some(Ok(bytes)) if bytes.is_empty() => {}
            Some(Ok(bytes)) => match first.take() {
                Some(mut out) => {
                    push_chunk(&mut out, &bytes);
                    io.write_all(&out).await?;
                }
                None => write_chunk(io, &bytes).await?,
            },
            Some(Err(e)) => return Err(e),
            None => {
                let mut out = first.take().unwrap_or_default();
                out.extend_from_slice(b"0\r\n\r\n");
                io.write_all(&out).await?;
                return io.shutdown().await;
            }
        }
    }
}

/// `len` as a chunk-size line (`1A3\r\n`) in `buf`; returns its length.
fn chunk_header(len: usize, buf: &mut [u8; 18]) -> usize {
    let digits = format!("{len:X}");
    let n = digits.len();
    buf[..n].copy_from_slice(digits.as_bytes());
    buf[n..n + 2].copy_from_slice(b"\r\n");
    n + 2
}

fn push_chunk(out: &mut Vec<u8>, data: &[u8]) {
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
async fn write_chunk(io: &mut TimedStream, data: &[u8]) -> io::Result<()> {
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
    fn only_plain_stream_gets_take_the_lean_path() {
        let get = b"GET /v1/observations/stream?stations=44009 HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 5\r\n\r\n";
        let Head::Stream(request) = classify(get) else {
            panic!("a stream GET");
        };
        assert_eq!(request.uri().query(), Some("stations=44009"));
        assert_eq!(request.headers()["last-event-id"], "5");
        assert!(matches!(classify(&get[..get.len() - 2]), Head::Incomplete));
        for other in [
            &b"GET /v1/observations HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"HEAD /v1/observations/stream HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST /v1/observations/stream HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
            b"GET /v1/observations/stream HTTP/1.0\r\n\r\n",
            b"GET /v1/observations/stream HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET /v1/observations/stream HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            b"garbage\r\n\r\n",
        ] {
            assert!(
                matches!(classify(other), Head::Other),
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }

    #[test]
    fn chunk_headers_are_hex() {
        let mut b = [0u8; 18];
        let n = chunk_header(0x1a3, &mut b);
        assert_eq!(&b[..n], b"1A3\r\n");
        let mut out = Vec::new();
        push_chunk(&mut out, b"hello");
        assert_eq!(out, b"5\r\nhello\r\n");
    }
}
