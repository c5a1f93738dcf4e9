//! The listening socket (optionally shared with other processes through `SO_REUSEPORT`) and
//! accepted sockets: `TCP_NODELAY`, an optional fixed send buffer, and a write timeout that
//! closes a connection whose peer has accepted no byte for a while (a stuck client holds no
//! stream place and no memory forever).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Sleep;

use crate::api::stream_wire::{self, Head, LeanStreams};

/// Pending connections the kernel queues before `accept` (SOMAXCONN caps it).
const BACKLOG: u32 = 4096;

/// Binds a listener on `addr`. With `reuse_port`, several processes may bind the same address
/// (`SO_REUSEPORT`) and the kernel spreads new connections over them: how one box runs more
/// streams than one process may hold files for.
pub fn bind(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    if reuse_port {
        socket.set_reuseport(true)?;
    }
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Time a new connection gets to send its request head before it is handed to hyper anyway.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection whose first request is for hyper, with the bytes already read from it.
type Handed = (TimedStream, SocketAddr);

/// A listener whose connections set `TCP_NODELAY` and time out stalled writes. With the lean
/// stream path on, it reads each new connection's request head first: stream requests are
/// served by [`LeanStreams`], every other connection is handed to hyper.
#[derive(Debug)]
pub struct StreamListener {
    inner: TcpListener,
    write_timeout: Duration,
    /// `SO_SNDBUF` of accepted sockets; `None` leaves the kernel's autotuning on.
    send_buffer: Option<usize>,
    /// The lean stream path, when on.
    lean: Option<LeanStreams>,
    /// Connections whose head was read and that go to hyper.
    handed_tx: mpsc::Sender<Handed>,
    handed_rx: mpsc::Receiver<Handed>,
}

impl StreamListener {
    /// Wraps a bound listener.
    pub fn new(inner: TcpListener, write_timeout: Duration, send_buffer: Option<usize>) -> Self {
        let (handed_tx, handed_rx) = mpsc::channel(1024);
        Self {
            inner,
            write_timeout,
            send_buffer,
            lean: None,
            handed_tx,
            handed_rx,
        }
    }

    /// Serves stream requests through the lean path.
    pub fn with_lean_streams(mut self, lean: LeanStreams) -> Self {
        self.lean = Some(lean);
        self
    }
}

/// Reads the request head of a new connection and sends it down the lean path or to hyper.
async fn sniff(
    mut io: TimedStream,
    peer: SocketAddr,
    lean: LeanStreams,
    hyper: mpsc::Sender<Handed>,
) {
    let mut buf = Vec::with_capacity(1024);
    let deadline = tokio::time::Instant::now() + HEAD_TIMEOUT;
    while buf.len() < stream_wire::MAX_HEAD {
        let read = tokio::time::timeout_at(deadline, io.inner.read_buf(&mut buf)).await;
        match read {
            Ok(Ok(0)) | Ok(Err(_)) => return, // gone before sending a request
            Ok(Ok(_)) => match stream_wire::classify(&buf) {
                Head::Incomplete => continue,
                Head::Stream(request) => {
                    drop(buf);
                    lean.serve(io, peer, *request).await;
                    return;
                }
                Head::Other => break,
            },
            Err(_) => break, // slow head: hyper applies its own rules
        }
    }
    io.prefix = (!buf.is_empty()).then(|| Bytes::from(buf));
    let _ = tokio::time::timeout(HEAD_TIMEOUT, hyper.send((io, peer))).await;
}

impl axum::serve::Listener for StreamListener {
    type Io = TimedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let accepted = tokio::select! {
                Some(handed) = self.handed_rx.recv() => return handed,
                accepted = self.inner.accept() => accepted,
            };
            match accepted {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    if let Some(bytes) = self.send_buffer {
                        let _ = socket2::SockRef::from(&stream).set_send_buffer_size(bytes);
                    }
                    let io = TimedStream::new(stream, self.write_timeout);
                    match &self.lean {
                        None => return (io, addr),
                        Some(lean) => {
                            let task = sniff(io, addr, lean.clone(), self.handed_tx.clone());
                            lean.tasks().spawn(task);
                        }
                    }
                }
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: wait, go on.
                    tracing::warn!(event = "accept_failed", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// The peer address of an accepted connection, as handlers see it (`ConnectInfo<PeerAddr>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, StreamListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, StreamListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

/// A TCP stream whose writes fail with `TimedOut` after being blocked for the write timeout.
#[derive(Debug)]
pub struct TimedStream {
    inner: TcpStream,
    timeout: Duration,
    /// Set while a write is blocked; allocated only for connections that ever block.
    stalled: Option<Pin<Box<Sleep>>>,
    /// Bytes already read from the socket (a request head), returned by the first reads.
    prefix: Option<Bytes>,
}

impl TimedStream {
    fn new(inner: TcpStream, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            stalled: None,
            prefix: None,
        }
    }

    /// Waits until the socket is readable; true if the peer has closed it (bytes it sends are
    /// discarded: a stream reads nothing after its request).
    pub async fn peer_closed(&self) -> bool {
        if self.inner.readable().await.is_err() {
            return true;
        }
        let mut sink = [0u8; 256];
        match self.inner.try_read(&mut sink) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(_) => true,
        }
    }

    /// Called when the socket is not writable: starts or checks the stall clock.
    fn poll_stall(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let timeout = self.timeout;
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        ready!(sleep.as_mut().poll(cx));
        Poll::Ready(io::Error::new(
            io::ErrorKind::TimedOut,
            "peer accepted no data within the write timeout",
        ))
    }

    fn progressed(&mut self) {
        self.stalled = None;
    }
}

impl AsyncRead for TimedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(prefix) = self.prefix.as_mut() {
            let n = prefix.len().min(buf.remaining());
            buf.put_slice(&prefix.split_to(n));
            if prefix.is_empty() {
                self.prefix = None;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TimedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.poll_stall(cx).map(Err),
            done => {
                self.progressed();
                done
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.poll_stall(cx).map(Err),
            done => {
                self.progressed();
                done
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reuse_port_lets_two_listeners_share_an_address() {
        let first = bind("127.0.0.1:0".parse().unwrap(), true).unwrap();
        let addr = first.local_addr().unwrap();
        let second = bind(addr, true).unwrap();
        assert_eq!(second.local_addr().unwrap(), addr);
        // Both accept: connect until each listener has taken one (the kernel hashes by the
        // client's address and port, so a few connections reach both).
        let (mut a, mut b) = (0, 0);
        let mut clients = Vec::new();
        for _ in 0..64 {
            clients.push(TcpStream::connect(addr).await.unwrap());
            tokio::select! {
                r = first.accept() => { r.unwrap(); a += 1; }
                r = second.accept() => { r.unwrap(); b += 1; }
            }
            if a > 0 && b > 0 {
                break;
            }
        }
        assert!(
            a > 0 && b > 0,
            "connections spread over both listeners: {a} / {b}"
        );
    }

    #[tokio::test]
    async fn without_reuse_port_the_address_is_taken() {
        let first = bind("127.0.0.1:0".parse().unwrap(), false).unwrap();
        assert!(bind(first.local_addr().unwrap(), false).is_err());
        assert!(bind(first.local_addr().unwrap(), true).is_err());
    }
}
