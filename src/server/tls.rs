//! Built-in TLS (`--tls-cert`, `--tls-key`): the certificate and key loaded and checked at start,
//! and the life of a TLS connection.
//!
//! A TLS connection meets the same front door as a plain one: it already holds its admission
//! ticket (total and per-address caps), and until its first request it is *waiting*, so it is
//! closed to make room under a flood. Its TLS handshake and first request must both arrive
//! within the head timeout, counted from accept (a silent or slow client is closed and counted,
//! like a silent plain one). Bytes that are not a TLS handshake (a plain HTTP request on this
//! port, garbage) get a clean close: a plain request a `400` saying the port speaks HTTPS.
//! Then hyper-util's `auto` builder serves HTTP/2 or HTTP/1.1, as ALPN chose, with the same
//! limits as the plain hyper path, a bound on concurrent HTTP/2 streams, HTTP/2 keep-alive pings
//! and graceful shutdown. A connection with no request in flight for the head timeout is closed
//! (HTTP/2 has no idle timeout of its own). The lean stream writer is plain HTTP/1.1 only.

use std::convert::Infallible;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, Version};
use axum::response::IntoResponse;
use futures_util::future::BoxFuture;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

use super::head::{MAX_HEAD, MAX_HEADERS};
use super::in_flight::{self, InFlight, Tracked};
use super::{Connection, ConnectionContext, h2_stream, refuse, route};
use crate::api::ApiError;
use crate::api::raw_chunks::{self, RawChunks};

/// The first byte of a TLS handshake record (a ClientHello starts with it).
const HANDSHAKE_RECORD: u8 = 0x16;
/// HTTP/2 PING interval on an otherwise quiet connection: a peer that does not answer within
/// [`H2_PING_TIMEOUT`] is gone, and its connection is closed.
const H2_PING_INTERVAL: Duration = Duration::from_secs(20);
/// See [`H2_PING_INTERVAL`].
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// Where the certificate chain and private key are (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, the server's certificate first.
    pub cert: PathBuf,
    /// The private key of the server's certificate.
    pub key: PathBuf,
}

/// A loaded TLS configuration: ALPN `h2` and `http/1.1`, rustls on aws-lc-rs.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tls { alpn: [h2, http/1.1] }")
    }
}

impl Tls {
    /// Reads and checks the files: each error names the file and what is wrong with it (missing,
    /// not PEM, no certificate or key in it, a key that is not the certificate's).
    pub fn load(files: &TlsFiles) -> anyhow::Result<Self> {
        let (cert_path, key_path) = (files.cert.display(), files.key.display());
        let cert_pem = std::fs::read(&files.cert)
            .with_context(|| format!("--tls-cert {cert_path}: cannot read the file"))?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                anyhow::anyhow!("--tls-cert {cert_path}: not a PEM certificate chain: {e}")
            })?;
        anyhow::ensure!(
            !chain.is_empty(),
            "--tls-cert {cert_path}: no certificate in it (expected PEM \"BEGIN CERTIFICATE\" blocks)"
        );
        let key_pem = std::fs::read(&files.key)
            .with_context(|| format!("--tls-key {key_path}: cannot read the file"))?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            anyhow::anyhow!(
                "--tls-key {key_path}: no private key in it (expected PEM PKCS#8, PKCS#1 or SEC1): {e}"
            )
        })?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| match e {
                rustls::Error::InconsistentKeys(_) => anyhow::anyhow!(
                    "--tls-key {key_path} is not the key of the certificate in --tls-cert {cert_path}"
                ),
                e => anyhow::anyhow!("--tls-key {key_path} with --tls-cert {cert_path}: {e}"),
            })?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

/// How a TLS connection ended before its first request (the metric's reason), if it did.
fn closed_before_request(reason: &'static str) {
    metrics::counter!("http_connections_closed_before_request_total", "reason" => reason)
        .increment(1);
}

/// Serves one accepted connection over TLS: handshake, then HTTP/2 or HTTP/1.1 by ALPN.
pub(super) async fn serve(connection: Connection, context: ConnectionContext, tls: Tls) {
    let Connection {
        mut io,
        peer,
        mut ticket,
    } = connection;
    let deadline = Instant::now() + context.head_timeout;
    let evicted = ticket.evicted().cloned().unwrap_or_default();

    // What the client sends first: a TLS handshake, or something else (a plain request).
    let mut first = [0u8; 1];
    let peeked = tokio::select! {
        biased;
        () = context.shutdown.cancelled() => return closed_before_request("shutdown"),
        () = evicted.cancelled() => return closed_before_request("evicted"),
        () = tokio::time::sleep_until(deadline) => return closed_before_request("head_timeout"),
        peeked = io.socket().peek(&mut first) => peeked,
    };
    match peeked {
        Ok(0) | Err(_) => return,
        Ok(_) if first[0] == HANDSHAKE_RECORD => {}
        Ok(_) if first[0].is_ascii_uppercase() => {
            closed_before_request("plain_http_on_tls");
            let error = ApiError::BadRequest(
                "this port speaks HTTPS: send the request over TLS (https://)".into(),
            );
            return refuse(io, error.into_response(), true).await;
        }
        Ok(_) => return closed_before_request("tls_handshake_failed"),
    }

    let handshake = tokio::select! {
        biased;
        () = context.shutdown.cancelled() => return closed_before_request("shutdown"),
        () = evicted.cancelled() => return closed_before_request("evicted"),
        () = tokio::time::sleep_until(deadline) => {
            return closed_before_request("tls_handshake_timeout");
        }
        handshake = tls.acceptor.accept(io) => handshake,
    };
    let stream = match handshake {
        Ok(stream) => stream,
        Err(e) => {
            tracing::debug!(event = "tls_handshake_failed", error = %e, "TLS handshake failed");
            return closed_before_request("tls_handshake_failed");
        }
    };

    let (activity, mut requests) = in_flight::channel();
    let service = {
        let router = context.router.clone();
        let write_timeout = context.write_timeout;
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let router = router.clone();
            let guard = InFlight::start(activity.clone());
            // Boxed: hyper keeps an HTTP/2 stream's task for the stream's life, sized for the
            // largest state of its future; the router's future is large and done once the
            // response is made, so it lives in a box freed then.
            let respond: BoxFuture<'static, Response<Body>> =
                Box::pin(respond(router, peer, request, guard, write_timeout));
            async move { Ok::<_, Infallible>(respond.await) }
        })
    };
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(context.head_timeout)
        .max_headers(MAX_HEADERS)
        .max_buf_size(MAX_HEAD);
    http.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEAD as u32)
        .max_concurrent_streams(context.h2_max_streams)
        .keep_alive_interval(H2_PING_INTERVAL)
        .keep_alive_timeout(H2_PING_TIMEOUT);
    let connection = context
        .watcher
        .watch(http.serve_connection(TokioIo::new(stream), service));
    tokio::pin!(connection);

    // Waiting (evictable, bounded by the head deadline) until the first request; then, whenever
    // no request is in flight, waiting again (evictable) and closed after the head timeout.
    let mut started = false;
    let mut idle_until: Option<Instant> = None;
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
            // Closed to make room: before the first request (counted here as such), or idle
            // between two.
            () = super::evicted(&ticket) => {
                if !started {
                    closed_before_request("evicted");
                }
                break;
            }
            () = tokio::time::sleep_until(deadline), if !started => {
                closed_before_request("head_timeout");
                break;
            }
            changed = requests.changed(), if watching => {
                if changed.is_err() {
                    watching = false;
                    continue;
                }
                let now = *requests.borrow_and_update();
                if now.started > 0 {
                    started = true;
                }
                if started {
                    if now.in_flight == 0 {
                        ticket.waiting_again();
                    } else {
                        ticket.request_started();
                    }
                }
                idle_until = (now.in_flight == 0).then(|| Instant::now() + context.head_timeout);
            }
            () = sleep_until_some(idle_until), if started && idle_until.is_some() => {
                metrics::counter!("http_connections_idle_closed_total").increment(1);
                break;
            }
        }
    }
    drop(ticket);
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// One request through [`route`]; an event stream over HTTP/2 is fed through
/// [`h2_stream::body`], which ends it when its client stops reading. The in-flight guard lives
/// as long as the response body.
async fn respond(
    router: Router,
    peer: std::net::SocketAddr,
    request: Request<Incoming>,
    guard: InFlight,
    write_timeout: Duration,
) -> Response<Body> {
    let h2 = request.version() == Version::HTTP_2;
    let response = route(router, peer, request).await;
    let raw = h2
        .then(|| {
            response
                .extensions()
                .get::<RawChunks>()
                .and_then(RawChunks::take)
        })
        .flatten();
    let (parts, body) = response.into_parts();
    let body = match raw {
        Some(stream) => h2_stream::body(raw_chunks::chunks(stream), write_timeout, guard),
        None => Tracked::body(body, guard),
    };
    Response::from_parts(parts, body)
}
