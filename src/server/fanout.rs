//! Direct writes: one writer task per hub shard sends each new frame straight to the sockets of
//! the shard's parked streams.
//!
//! A stream connection that has caught up (it is forwarding live frames and has written all it
//! had) parks its stream and its socket's write half here and waits only for its client to
//! close the connection. When the hub signals the shard, its writer takes each parked stream's
//! ready frames ([`StreamEngine::try_next_chunk`]) and writes them with a non-blocking write: a
//! frame reaches a client with no task of its own woken, polled or scheduled. Whatever the
//! writer cannot finish at once is handed back to the connection's task with the bytes not yet
//! written: a socket whose buffer is full (the task then writes under the write timeout, as
//! before), a replay or catch-up from the store, the end of the stream, shutdown. The stream's
//! contract is the engine's, whoever drives it: the same ring, backlog bound, order and
//! heartbeats.
//!
//! [`StreamEngine::try_next_chunk`]: crate::hub::stream::StreamEngine::try_next_chunk

use std::io::IoSlice;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::lean::{chunk_header, push_chunk};
use super::socket::TimedWriter;
use crate::hub::Hub;
use crate::hub::stream::{LiveStream, TryChunk};

/// The writers of every shard.
#[derive(Debug)]
pub struct Fanout {
    inboxes: Box<[mpsc::UnboundedSender<Command>]>,
    next_id: AtomicU64,
}

/// A parked stream's way back to its connection task.
#[derive(Debug)]
pub struct Parking {
    shard: usize,
    id: u64,
    /// Resolves when the writer hands the stream back (boxed: the channel then keeps room for
    /// a pointer, not for a stream, while the stream is parked).
    pub back: oneshot::Receiver<Box<Returned>>,
}

/// A stream handed back to its connection task.
#[derive(Debug)]
pub struct Returned {
    pub stream: Box<LiveStream>,
    pub writer: TimedWriter,
    /// Bytes of a chunk the writer began but could not finish: to be written first.
    pub unwritten: Option<Bytes>,
}

#[derive(Debug)]
struct Parked {
    id: u64,
    stream: Box<LiveStream>,
    writer: TimedWriter,
    back: oneshot::Sender<Box<Returned>>,
}

#[derive(Debug)]
enum Command {
    Park(Box<Parked>),
    /// The connection is closed: drop its stream.
    Remove(u64),
}

impl Fanout {
    /// Starts one writer per shard of `hub` as tasks of `tasks`. They hand every stream back on
    /// `shutdown` (whose streams then say goodbye themselves) and end once the fan-out is
    /// dropped.
    pub fn start(hub: Arc<Hub>, tasks: &TaskTracker, shutdown: CancellationToken) -> Arc<Self> {
        let inboxes = (0..hub.shard_count())
            .map(|shard| {
                let (tx, rx) = mpsc::unbounded_channel();
                tasks.spawn(run(hub.clone(), shard, rx, shutdown.clone()));
                tx
            })
            .collect();
        Arc::new(Self {
            inboxes,
            next_id: AtomicU64::new(0),
        })
    }

    /// Parks `stream` with its `writer` until the shard's writer hands it back. `Err` gives
    /// both back if the writers are gone.
    pub fn park(
        &self,
        mut stream: Box<LiveStream>,
        writer: TimedWriter,
    ) -> Result<Parking, Box<(Box<LiveStream>, TimedWriter)>> {
        let shard = stream.engine().shard();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (back, returned) = oneshot::channel();
        let parked = Box::new(Parked {
            id,
            stream,
            writer,
            back,
        });
        match self.inboxes[shard].send(Command::Park(parked)) {
            Ok(()) => Ok(Parking {
                shard,
                id,
                back: returned,
            }),
            Err(mpsc::error::SendError(Command::Park(parked))) => {
                Err(Box::new((parked.stream, parked.writer)))
            }
            Err(_) => unreachable!("a park command comes back as sent"),
        }
    }

    /// Drops a parked stream whose connection is closed.
    pub fn remove(&self, parking: &Parking) {
        let _ = self.inboxes[parking.shard].send(Command::Remove(parking.id));
    }
}

/// The writer of one shard.
async fn run(
    hub: Arc<Hub>,
    shard: usize,
    mut inbox: mpsc::UnboundedReceiver<Command>,
    shutdown: CancellationToken,
) {
    // Boxed as they arrive: each stays in its allocation however the list grows or shrinks.
    let mut parked: Vec<Box<Parked>> = Vec::new();
    let mut stopping = false;
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled(), if !stopping => {
                // Every stream now ends with its shutdown frame, written by its own task.
                stopping = true;
                for stream in parked.drain(..) {
                    hand_back(*stream, None);
                }
            }
            command = inbox.recv() => match command {
                None => return,
                Some(Command::Park(stream)) => {
                    let mut stream = stream;
                    // Frames may have arrived since the stream last looked.
                    let delivered = if stopping {
                        Delivered::HandBack(None)
                    } else {
                        deliver(&mut stream)
                    };
                    match delivered {
                        Delivered::Keep => parked.push(stream),
                        Delivered::HandBack(unwritten) => hand_back(*stream, unwritten),
                    }
                }
                Some(Command::Remove(id)) => {
                    if let Some(i) = parked.iter().position(|p| p.id == id) {
                        parked.swap_remove(i);
                    }
                }
            },
            () = hub.signal(shard).notified() => {
                // Streams stay where they are (no move per stream and pass); one handed back is
                // swapped out.
                let mut i = 0;
                while i < parked.len() {
                    // A pass over hundreds of sockets yields to other tasks now and then (the
                    // runtime's budget), as that many stream tasks would: a publish, a new
                    // connection or another shard's writer does not wait for the whole pass.
                    tokio::task::consume_budget().await;
                    match deliver(&mut parked[i]) {
                        Delivered::Keep => i += 1,
                        Delivered::HandBack(unwritten) => {
                            hand_back(*parked.swap_remove(i), unwritten);
                        }
                    }
                }
            }
        }
    }
}

/// What became of a parked stream.
enum Delivered {
    /// Everything ready is written: it stays parked.
    Keep,
    /// It goes back to its task, with the bytes of a chunk not yet written.
    HandBack(Option<Bytes>),
}

/// Writes what `stream` has ready.
fn deliver(stream: &mut Parked) -> Delivered {
    loop {
        match stream.stream.engine().try_next_chunk() {
            TryChunk::Empty => return Delivered::Keep,
            TryChunk::Wait => return Delivered::HandBack(None),
            TryChunk::Ready(chunk) => {
                if let Err(written) = try_write_chunk(&stream.writer, &chunk) {
                    let mut framed = Vec::with_capacity(chunk.len() + 20);
                    push_chunk(&mut framed, &chunk);
                    return Delivered::HandBack(Some(Bytes::from(framed).slice(written..)));
                }
            }
        }
    }
}

fn hand_back(stream: Parked, unwritten: Option<Bytes>) {
    let Parked {
        stream,
        writer,
        back,
        ..
    } = stream;
    // A task that has gone (its connection closed) no longer takes it: the stream ends here.
    let _ = back.send(Box::new(Returned {
        stream,
        writer,
        unwritten,
    }));
}

/// Writes `data` as one HTTP/1.1 chunk without waiting; if it did not all go out, how many bytes
/// of the framed chunk did (0 if the socket takes none or fails: its task then meets the error).
fn try_write_chunk(writer: &TimedWriter, data: &[u8]) -> Result<(), usize> {
    let mut header = [0u8; 18];
    let n = chunk_header(data.len(), &mut header);
    let slices = [
        IoSlice::new(&header[..n]),
        IoSlice::new(data),
        IoSlice::new(b"\r\n"),
    ];
    // `sendmsg` rather than `writev`: a socket call skips the file layer's work (position lock,
    // vectored file write) that a socket does not need. Not through tokio's readiness: a
    // `WouldBlock` here leaves the socket marked writable, and the task's own write then finds
    // out (one more call, on the slow path only) and waits as usual.
    let total = n + data.len() + 2;
    let Some(half) = writer.half() else {
        return Err(0);
    };
    match socket2::SockRef::from(half.as_ref() as &TcpStream).send_vectored(&slices) {
        Ok(written) if written == total => Ok(()),
        Ok(written) => Err(written),
        // `WouldBlock`, or a failure the task meets again when it writes the chunk itself.
        Err(_) => Err(0),
    }
}
