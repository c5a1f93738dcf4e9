//! Accepted sockets: `TCP_NODELAY`, an optional fixed send buffer, and a write timeout that
//! closes a connection whose peer has accepted no byte for a while (a stuck client holds no
//! stream place and no memory forever).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// A listener whose connections set `TCP_NODELAY` and time out stalled writes.
#[derive(Debug)]
pub struct StreamListener {
    inner: TcpListener,
    write_timeout: Duration,
    /// `SO_SNDBUF` of accepted sockets; `None` leaves the kernel's autotuning on.
    send_buffer: Option<usize>,
}

impl StreamListener {
    /// Wraps a bound listener.
    pub fn new(inner: TcpListener, write_timeout: Duration, send_buffer: Option<usize>) -> Self {
        Self {
            inner,
            write_timeout,
            send_buffer,
        }
    }
}

impl axum::serve::Listener for StreamListener {
    type Io = TimedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    if let Some(bytes) = self.send_buffer {
                        let _ = socket2::SockRef::from(&stream).set_send_buffer_size(bytes);
                    }
                    return (TimedStream::new(stream, self.write_timeout), addr);
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
}

impl TimedStream {
    fn new(inner: TcpStream, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            stalled: None,
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
