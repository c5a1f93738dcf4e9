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

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

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

/// Sets `TCP_NODELAY` on a listener: Linux gives it to every socket the listener accepts, one
/// system call fewer per connection than setting it on each.
pub fn send_without_delay(listener: &TcpListener) -> io::Result<()> {
    socket2::SockRef::from(listener).set_tcp_nodelay(true)
}

/// A TCP stream whose writes fail with `TimedOut` after being blocked for the write timeout.
pub type TimedStream = Timed<TcpStream>;

/// The write half of a stream connection, with the same write timeout.
pub type TimedWriter = Timed<WriteHalf>;

/// The write half of a split connection. Dropped, it leaves the closing to the read half:
/// tokio's own write half shuts its direction down first (a `shutdown` call per connection,
/// before the `close` that sends the same FIN, mostly to a peer that has closed already). An
/// explicit `shutdown` (the end of a stream) still sends it at once.
#[derive(Debug)]
pub struct WriteHalf(Option<OwnedWriteHalf>);

impl Drop for WriteHalf {
    fn drop(&mut self) {
        if let Some(half) = self.0.take() {
            half.forget();
        }
    }
}

impl WriteHalf {
    fn poll_with<T>(
        &mut self,
        io: impl FnOnce(Pin<&mut OwnedWriteHalf>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match self.0.as_mut() {
            Some(half) => io(Pin::new(half)),
            None => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}

impl AsyncWrite for WriteHalf {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_with(|half| half.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_with(|half| half.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.0.as_ref().is_some_and(|half| half.is_write_vectored())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_with(|half| half.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_with(|half| half.poll_shutdown(cx))
    }
}

/// A socket (or its write half) whose writes fail with `TimedOut` after being blocked for the
/// write timeout.
#[derive(Debug)]
pub struct Timed<S> {
    inner: S,
    timeout: Duration,
    /// Set while a write is blocked; allocated only for connections that ever block.
    stalled: Option<Pin<Box<Sleep>>>,
    /// Bytes already read from the socket (a request head), returned by the first reads.
    prefix: Option<Bytes>,
}

impl TimedStream {
    /// Splits the connection into its read half (to notice the client closing it) and its
    /// write half, which keeps the write timeout. Bytes put back with
    /// [`TimedStream::set_prefix`] are not carried over: split a stream connection only, which
    /// reads nothing after its request.
    pub fn split(self) -> (OwnedReadHalf, TimedWriter) {
        debug_assert!(self.prefix.is_none(), "split with unread bytes");
        let (read, write) = self.inner.into_split();
        let writer = Timed {
            inner: WriteHalf(Some(write)),
            timeout: self.timeout,
            stalled: None,
            prefix: None,
        };
        (read, writer)
    }

    /// Wraps a socket accepted by a listener from [`bind`], setting its send buffer if given.
    /// `TCP_NODELAY` comes from the listener on Linux; elsewhere it is set here.
    pub fn new(inner: TcpStream, timeout: Duration, send_buffer: Option<usize>) -> Self {
        #[cfg(not(target_os = "linux"))]
        let _ = inner.set_nodelay(true);
        if let Some(bytes) = send_buffer {
            let _ = socket2::SockRef::from(&inner).set_send_buffer_size(bytes);
        }
        Self {
            inner,
            timeout,
            stalled: None,
            prefix: None,
        }
    }

    /// The socket, for reads that bypass the prefix (reading a request head).
    pub fn socket(&mut self) -> &mut TcpStream {
        &mut self.inner
    }

    /// Appends what has already arrived on the socket to `buf` (up to its spare capacity, at
    /// least 1 KiB), without waiting for the reactor to report the socket readable: the reactor
    /// learns of a new socket's data only on its next turn. `WouldBlock` if nothing has arrived.
    pub fn read_arrived(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        use std::io::Read;
        let start = buf.len();
        buf.resize(start + (buf.capacity() - start).max(1024), 0);
        let read = (&*socket2::SockRef::from(&self.inner)).read(&mut buf[start..]);
        buf.truncate(start + *read.as_ref().unwrap_or(&0));
        read
    }

    /// Puts bytes already read back in front of what the next reads return.
    pub fn set_prefix(&mut self, prefix: Bytes) {
        self.prefix = (!prefix.is_empty()).then_some(prefix);
    }
}

impl TimedWriter {
    /// The write half, for writes that must not wait (`try_write`); `None` only while it is
    /// being dropped.
    pub fn half(&self) -> Option<&OwnedWriteHalf> {
        self.inner.0.as_ref()
    }
}

/// Waits until the peer closes the connection or sends anything (both end a stream: a stream
/// reads nothing after its request, so uploaded bytes are refused, never drained). Returns
/// `true` if the peer closed it, `false` if it sent bytes.
pub async fn closed_or_sent(read: &OwnedReadHalf) -> bool {
    loop {
        if read.readable().await.is_err() {
            return true;
        }
        let mut probe = [0u8; 1];
        match read.try_read(&mut probe) {
            Ok(0) => return true,
            Ok(_) => return false,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(_) => return true,
        }
    }
}

impl<S> Timed<S> {
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

impl<S: AsyncRead + Unpin> AsyncRead for Timed<S> {
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

impl<S: AsyncWrite + Unpin> AsyncWrite for Timed<S> {
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
    async fn accepted_sockets_send_without_delay() {
        // Bound by someone else, as a test or an embedding application does.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        send_without_delay(&listener).unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        let stream = TimedStream::new(accepted, Duration::from_secs(1), None);
        assert!(
            stream.inner.nodelay().unwrap(),
            "an accepted socket sends without delay (TCP_NODELAY)"
        );
    }

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

    /// A client connected to a split server socket.
    async fn split_pair() -> (TcpStream, OwnedReadHalf, TimedWriter) {
        let listener = bind("127.0.0.1:0".parse().unwrap(), false).unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (read, writer) = TimedStream::new(server, Duration::from_secs(5), None).split();
        (client, read, writer)
    }

    async fn read_with_timeout(client: &mut TcpStream, wait: Duration) -> Option<usize> {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 16];
        tokio::time::timeout(wait, client.read(&mut buf))
            .await
            .ok()
            .map(|read| read.unwrap())
    }

    #[tokio::test]
    async fn a_dropped_write_half_leaves_the_close_to_the_read_half() {
        let (mut client, read, writer) = split_pair().await;
        drop(writer);
        assert_eq!(
            read_with_timeout(&mut client, Duration::from_millis(300)).await,
            None,
            "no end of stream while the read half lives"
        );
        drop(read);
        assert_eq!(
            read_with_timeout(&mut client, Duration::from_secs(5)).await,
            Some(0),
            "closed once both halves are gone"
        );
    }

    #[tokio::test]
    async fn an_explicit_shutdown_of_the_write_half_ends_the_stream_at_once() {
        use tokio::io::AsyncWriteExt;
        let (mut client, _read, mut writer) = split_pair().await;
        writer.write_all(b"bye").await.unwrap();
        writer.shutdown().await.unwrap();
        assert_eq!(
            read_with_timeout(&mut client, Duration::from_secs(5)).await,
            Some(3)
        );
        assert_eq!(
            read_with_timeout(&mut client, Duration::from_secs(5)).await,
            Some(0),
            "FIN after the data, with the read half still open"
        );
    }

    #[tokio::test]
    async fn without_reuse_port_the_address_is_taken() {
        let first = bind("127.0.0.1:0".parse().unwrap(), false).unwrap();
        assert!(bind(first.local_addr().unwrap(), false).is_err());
        assert!(bind(first.local_addr().unwrap(), true).is_err());
    }
}
