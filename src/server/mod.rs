//! The front door: the accept loop and everything a connection meets before the API.
//!
//! Every accepted connection gets a place from [`admission`] (a total cap below the open-file
//! limit, a cap per client address, and the oldest idle connection closed to make room), socket
//! options ([`socket`]), and a request-head timeout and size limit ([`head`]). Its first request
//! head is read here: a plain HTTP/1.1 stream `GET` goes to the lean writer ([`lean`]); every
//! other connection goes to hyper with the bytes already read, under the same head timeout
//! (which is also its keep-alive idle timeout), head-size and header-count limits. With
//! `--tls-cert`/`--tls-key` every connection is TLS instead ([`tls`]): the same admission, the
//! handshake and first request within the head timeout, then hyper with HTTP/2 or HTTP/1.1 by
//! ALPN (an event stream over HTTP/2 through [`h2_stream`]). Dependencies go one way: this
//! module uses the API's router; the API never imports the transport.

pub mod admission;
mod fanout;
pub mod fdtable;
mod h2_stream;
pub mod head;
mod in_flight;
mod lean;
pub mod socket;
pub mod tls;

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, Version, header};
use axum::response::IntoResponse;
use bytes::BytesMut;
use futures_util::FutureExt;
use futures_util::future::OptionFuture;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::api::request_id::X_REQUEST_ID;
use crate::api::stream::names_event_stream;
use crate::api::{ApiError, PeerAddr};
use crate::domain::TrustedProxies;
use crate::hub::Hub;
use admission::{Admission, Ticket};
use fanout::Fanout;
use head::{Head, MAX_HEAD, MAX_HEADERS};
use in_flight::{InFlight, Tracked};
use lean::{LeanStreams, OpenStream};
use socket::TimedStream;
pub use socket::bind;
use tls::Tls;

/// Limits and socket options of the front door.
#[derive(Debug, Clone)]
pub struct FrontDoor {
    /// Time a connection gets to send a complete request head; on hyper's side also the time
    /// an idle keep-alive connection is kept open between requests.
    pub head_timeout: Duration,
    /// A connection whose peer accepts no data for this long is closed.
    pub write_timeout: Duration,
    /// Fixed `SO_SNDBUF` of accepted sockets (`None`: the kernel's autotuning).
    pub send_buffer: Option<usize>,
    /// Most connections open at once (kept below the open-file limit).
    pub max_connections: usize,
    /// Most connections from one client address (0: no cap); trusted proxies are exempt.
    pub max_connections_per_address: usize,
    /// Proxies (`--trusted-proxies`): many clients behind one address.
    pub trusted_proxies: Arc<TrustedProxies>,
    /// Serve stream requests with the lean writer instead of hyper.
    pub lean_streams: bool,
    /// Time hyper's connections get to finish on shutdown.
    pub shutdown_grace: Duration,
    /// TLS for every connection (`None`: plain HTTP/1.1).
    pub tls: Option<Tls>,
    /// Most streams open at once on one HTTP/2 connection.
    pub h2_max_streams: u32,
}

/// Serves `router` on `listener` until `shutdown`, then drains hyper's connections for at most
/// the grace period. Connections run as tasks of `tasks` (streams end on `shutdown` themselves).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    hub: Arc<Hub>,
    door: FrontDoor,
    tasks: TaskTracker,
    shutdown: CancellationToken,
) {
    // Accepted sockets take `TCP_NODELAY` from the listener (Linux), whoever bound it.
    if let Err(e) = socket::send_without_delay(&listener) {
        tracing::warn!(event = "listener_nodelay_failed", error = %e, "TCP_NODELAY not set on the listener");
    }
    let admission = Admission::new(door.max_connections, door.max_connections_per_address);
    let graceful = GracefulShutdown::new();
    // The shard writers end once the last lean connection holding them has.
    let fanout = Fanout::start(hub, &tasks, shutdown.clone());
    let lean = LeanStreams::new(router.clone(), Some(fanout));
    let mut accept_errors = AcceptErrors::default();
    let refusals = Arc::new(Semaphore::new(REFUSALS_READ));
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                accept_errors.succeeded();
                accepted
            }
            Err(e) => {
                accept_errors.failed(&e).await;
                continue;
            }
        };
        let ticket = match admission.admit(peer.ip(), door.trusted_proxies.contains(peer.ip())) {
            Ok(ticket) => ticket,
            Err(refusal) => {
                metrics::counter!("http_connections_refused_total", "reason" => refusal.code())
                    .increment(1);
                if door.tls.is_some() {
                    // No plain answer on a TLS port (and no handshake for a refused client).
                    drop(stream);
                    continue;
                }
                // Answered by a task of its own, so the accept loop never waits on a refused
                // client.
                let io = TimedStream::new(stream, door.write_timeout, None);
                tasks.spawn(refuse_connection(io, refusals.clone()));
                continue;
            }
        };
        let connection = Connection {
            io: TimedStream::new(stream, door.write_timeout, door.send_buffer),
            peer,
            ticket,
        };
        let context = ConnectionContext {
            router: router.clone(),
            lean: door.lean_streams.then(|| lean.clone()),
            head_timeout: door.head_timeout,
            write_timeout: door.write_timeout,
            h2_max_streams: door.h2_max_streams,
            watcher: graceful.watcher(),
            shutdown: shutdown.clone(),
        };
        match &door.tls {
            Some(tls) => tasks.spawn(tls::serve(connection, context, tls.clone())),
            None => tasks.spawn(connection.run(context)),
        };
    }
    drop(listener);
    if tokio::time::timeout(door.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            event = "shutdown_drain_timeout",
            "connections still open after the grace period; closing"
        );
    }
}

/// Refused connections whose request head is read at once (each holds its descriptor for at
/// most [`REFUSAL_HEAD_TIMEOUT`]); beyond them, a refused connection is answered `503` at once.
const REFUSALS_READ: usize = 64;

/// How long a refused connection's request head is waited for.
const REFUSAL_HEAD_TIMEOUT: Duration = Duration::from_secs(1);

/// Refuses a connection the caps do not admit. If the request head arrives quickly, and it is a
/// stream request whose `Accept` names `text/event-stream`, the refusal is an event stream that
/// tells the client when to come back (an `EventSource` gives up for good on a `503`, SPEC §4);
/// otherwise `503` with `Retry-After`. The head is read for a bounded number of refused
/// connections at a time: under a flood, the rest are answered `503` without waiting.
async fn refuse_connection(mut io: TimedStream, refusals: Arc<Semaphore>) {
    let error = ApiError::TooManyConnections;
    let Ok(_permit) = refusals.try_acquire_owned() else {
        refuse(io, error.into_response(), false).await;
        return;
    };
    let mut buf = BytesMut::with_capacity(1024);
    let head = tokio::time::timeout(REFUSAL_HEAD_TIMEOUT, async {
        loop {
            match io.socket().read_buf(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {
                    if let Some(head) = classified(&mut buf) {
                        return Some(head);
                    }
                }
            }
        }
    })
    .await;
    let answer = match head {
        Ok(Some(FirstHead::Read(_, Head::Stream(request))))
            if names_event_stream(request.headers()) =>
        {
            error.into_event_stream_response()
        }
        // Closed before sending a whole head: nothing to answer.
        Ok(None) => return,
        _ => error.into_response(),
    };
    refuse(io, answer, true).await;
}

/// Answers a connection with `answer` and closes it. With `linger`, a bounded amount of what the
/// client still sends is read and discarded first, so that it reads the answer, not a reset.
async fn refuse(mut io: TimedStream, mut answer: Response<Body>, linger: bool) {
    // Every response carries a request id; these never reach the layer that sets one.
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        answer.headers_mut().insert(X_REQUEST_ID, id);
    }
    if lean::write_response(&mut io, answer).await.is_ok() && linger {
        self::linger(&mut io).await;
    }
}

/// Backs off after failed `accept` calls (out of descriptors, mostly) and logs them at most
/// once a second, with how many there were.
#[derive(Debug, Default)]
struct AcceptErrors {
    in_a_row: u32,
    unlogged: u64,
    last_logged: Option<tokio::time::Instant>,
}

impl AcceptErrors {
    fn succeeded(&mut self) {
        self.in_a_row = 0;
    }

    async fn failed(&mut self, error: &io::Error) {
        metrics::counter!("http_accept_errors_total").increment(1);
        self.in_a_row = self.in_a_row.saturating_add(1);
        self.unlogged += 1;
        let now = tokio::time::Instant::now();
        if self
            .last_logged
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
        {
            tracing::warn!(event = "accept_failed", error = %error, count = self.unlogged, "accept failed");
            self.unlogged = 0;
            self.last_logged = Some(now);
        }
        // 5 ms, doubling to 1 s while the errors go on.
        let wait = Duration::from_millis(5 << self.in_a_row.min(8).saturating_sub(1));
        tokio::time::sleep(wait.min(Duration::from_secs(1))).await;
    }
}

/// What every connection task shares.
#[derive(Debug)]
struct ConnectionContext {
    router: Router,
    lean: Option<LeanStreams>,
    head_timeout: Duration,
    /// Over TLS, how long an HTTP/2 event stream may keep frames its client takes none of.
    write_timeout: Duration,
    h2_max_streams: u32,
    watcher: Watcher,
    shutdown: CancellationToken,
}

/// An accepted connection and its place.
#[derive(Debug)]
struct Connection {
    io: TimedStream,
    peer: SocketAddr,
    ticket: Ticket,
}

/// How reading the first request head ended.
enum FirstHead {
    /// A complete head for the router; the bytes read so far (the head, maybe more).
    Read(BytesMut, Head),
    /// A head refused before routing (the metric's reason, the answer): more than [`MAX_HEAD`]
    /// bytes without a complete head, or ambiguous framing.
    Refused(&'static str, ApiError),
    /// Closed, timed out, evicted or shut down before a complete head: just close.
    Gone(&'static str),
}

impl Connection {
    /// The connection's task: its first request, then, for a stream on the lean path, the
    /// stream, in the same task. The two steps are chained (`then`), not nested, so the
    /// stream's long life carries no room for the first step's state.
    fn run(self, context: ConnectionContext) -> impl Future<Output = ()> + Send {
        self.first_request(context)
            .then(|stream| OptionFuture::from(stream.map(OpenStream::forward)))
            .map(drop)
    }

    /// Reads and answers the first request; a stream on the lean path is returned to be
    /// forwarded, anything else is served here (hyper serves the rest of the connection).
    #[expect(
        clippy::manual_async_fn,
        reason = "an `async fn` keeps room for its arguments twice, and this future sets the size of a stream's task"
    )]
    fn first_request(
        mut self,
        mut context: ConnectionContext,
    ) -> impl Future<Output = Option<OpenStream>> + Send {
        async move {
            match self.first_head(&context).await {
                FirstHead::Gone(why) => {
                    if why != "closed" {
                        metrics::counter!("http_connections_closed_before_request_total", "reason" => why)
                            .increment(1);
                    }
                    None
                }
                FirstHead::Refused(reason, error) => {
                    metrics::counter!("http_connections_closed_before_request_total", "reason" => reason)
                        .increment(1);
                    Box::pin(refuse(self.io, error.into_response(), true)).await;
                    None
                }
                FirstHead::Read(bytes, head) => {
                    self.ticket.request_started();
                    match (head, context.lean.take()) {
                        (Head::Stream(request), Some(lean)) => {
                            lean.open(self.io, self.peer, request, self.ticket).await
                        }
                        _ => {
                            self.io.set_prefix(bytes.freeze());
                            // Boxed: hyper's connection state is the largest this task would
                            // hold.
                            Box::pin(serve_hyper(self.io, self.peer, self.ticket, context)).await;
                            None
                        }
                    }
                }
            }
        }
    }

    /// Reads until the first request head is complete, within the head timeout and size.
    async fn first_head(&mut self, context: &ConnectionContext) -> FirstHead {
        let mut buf = BytesMut::with_capacity(1024);
        // Most clients send their request with the handshake's last packet: it is usually here
        // already, and reading it now saves a trip through the reactor.
        match self.io.read_arrived(&mut buf) {
            Ok(0) => return FirstHead::Gone("closed"),
            Ok(_) => {
                if let Some(done) = classified(&mut buf) {
                    return done;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return FirstHead::Gone("closed"),
        }
        let deadline = tokio::time::Instant::now() + context.head_timeout;
        loop {
            let read = tokio::select! {
                biased;
                () = context.shutdown.cancelled() => return FirstHead::Gone("shutdown"),
                () = evicted(&self.ticket) => return FirstHead::Gone("evicted"),
                () = tokio::time::sleep_until(deadline) => return FirstHead::Gone("head_timeout"),
                read = self.io.socket().read_buf(&mut buf) => read,
            };
            match read {
                Ok(0) | Err(_) => return FirstHead::Gone("closed"),
                Ok(_) => {
                    if let Some(done) = classified(&mut buf) {
                        return done;
                    }
                }
            }
        }
    }
}

/// What the bytes read so far make of the first head: `None` while more are needed.
fn classified(buf: &mut BytesMut) -> Option<FirstHead> {
    match head::classify(buf) {
        Head::Incomplete if buf.len() >= MAX_HEAD => {
            Some(FirstHead::Refused("head_too_large", ApiError::HeadTooLarge))
        }
        Head::Incomplete => None,
        Head::Ambiguous => {
            let error = ApiError::BadRequest(
                "Content-Length and Transfer-Encoding must not be sent together".into(),
            );
            Some(FirstHead::Refused("ambiguous_framing", error))
        }
        Head::TooManyHeaders => Some(FirstHead::Refused(
            "too_many_headers",
            ApiError::HeadTooLarge,
        )),
        Head::Malformed => Some(FirstHead::Refused(
            "malformed_head",
            ApiError::BadRequest("the request head is not valid HTTP/1.1".into()),
        )),
        Head::StreamWithBody => {
            let error = ApiError::BadRequest(
                "a stream request has no body, and nothing may follow it on its connection".into(),
            );
            Some(FirstHead::Refused("stream_with_body", error))
        }
        head => Some(FirstHead::Read(std::mem::take(buf), head)),
    }
}

/// After refusing a request whose rest is still arriving, reads and discards a bounded amount
/// for a moment before closing, so that the peer reads the answer instead of a reset.
async fn linger(io: &mut TimedStream) {
    let mut sink = vec![0u8; 16 * 1024];
    let mut left: usize = 1024 * 1024;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while left > 0 {
        match tokio::time::timeout_at(deadline, io.socket().read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
            _ => return,
        }
    }
}

/// Resolves when the connection is closed to make room (never once its request started).
async fn evicted(ticket: &Ticket) {
    match ticket.evicted() {
        Some(token) => token.cancelled().await,
        None => std::future::pending().await,
    }
}

/// Serves a connection with hyper: the router behind the head timeout (also the keep-alive
/// idle timeout), the head-size and header-count limits, and graceful shutdown.
async fn serve_hyper(
    io: TimedStream,
    peer: SocketAddr,
    mut ticket: Ticket,
    context: ConnectionContext,
) {
    let router = context.router;
    let (activity, mut requests) = in_flight::channel();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let router = router.clone();
        let guard = InFlight::start(activity.clone());
        async move {
            let (parts, body) = route(router, peer, request).await.into_parts();
            Ok::<_, Infallible>(Response::from_parts(parts, Tracked::body(body, guard)))
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(context.head_timeout)
        .max_headers(MAX_HEADERS)
        .max_header_size(MAX_HEAD);
    let connection = context
        .watcher
        .watch(http.serve_connection(TokioIo::new(io), service));
    tokio::pin!(connection);
    // While no request is in flight the connection waits for its place again: a full house
    // closes it to make room (an idle keep-alive connection; hyper's own timer closes it after
    // the head timeout otherwise).
    let mut watching = true;
    loop {
        tokio::select! {
            biased;
            ended = &mut connection => {
                if let Err(e) = ended {
                    tracing::debug!(event = "http_connection_ended", error = %e, "connection ended");
                }
                break;
            }
            // Counted where it was chosen.
            () = evicted(&ticket) => break,
            changed = requests.changed(), if watching => {
                if changed.is_err() {
                    watching = false;
                    continue;
                }
                if requests.borrow_and_update().in_flight == 0 {
                    ticket.waiting_again();
                } else {
                    ticket.request_started();
                }
            }
        }
    }
    drop(ticket);
}

/// One request through the router, with the peer address; an HTTP/1.1 request without `Host` is
/// refused (RFC 9112 §3.2); an HTTP/2 request names its host in `:authority` instead. (The first request of a connection with both `Content-Length` and
/// `Transfer-Encoding` never gets here: it is refused outright. On a later request hyper reads
/// such a body as chunked and closes the connection after it, as RFC 9112 §6.3 requires.)
async fn route(router: Router, peer: SocketAddr, mut request: Request<Incoming>) -> Response<Body> {
    let version = request.version();
    let headers = request.headers();
    if version != Version::HTTP_2
        && let Some(problem) = head::host_problem(headers, version)
    {
        return ApiError::BadRequest(problem.into()).into_response();
    }
    let closing = headers
        .get(header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));
    request.extensions_mut().insert(ConnectInfo(PeerAddr(peer)));
    let mut response = match router.oneshot(request.map(Body::new)).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    if closing || version < Version::HTTP_11 || version == Version::HTTP_2 {
        // hyper answers `close` itself; a handler's `keep-alive` would contradict it. Over
        // HTTP/1.0 hyper decides (a body without a length, such as a stream's, ends with the
        // connection). HTTP/2 has no connection-specific header fields at all (RFC 9113 §8.2.2).
        let headers = response.headers_mut();
        headers.remove(header::CONNECTION);
        if version == Version::HTTP_2 {
            for name in [
                "keep-alive",
                "proxy-connection",
                "transfer-encoding",
                "upgrade",
            ] {
                headers.remove(name);
            }
        }
    }
    response
}
