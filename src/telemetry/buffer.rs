//! Log output gathered in memory and written in batches.
//!
//! Every connection logs when its stream opens and closes; written one `write` each, at 1,000
//! new connections a second that was 2,000 system calls a second on the connect path. Lines
//! are appended to a buffer instead, and written out by a thread of its own every
//! [`FLUSH_EVERY`], at once when [`FLUSH_AT`] bytes are waiting, and at once for warnings and
//! errors (with everything before them, in order). [`flush`] writes what is left; the binary
//! calls it before it exits and from the panic hook, so only a process killed outright (SIGKILL)
//! can lose the last [`FLUSH_EVERY`] of info lines.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// Longest time an info line waits in the buffer.
pub const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// Bytes waiting that are written at once.
pub const FLUSH_AT: usize = 64 * 1024;

/// Where the buffered lines go.
type Sink = Box<dyn Write + Send>;

#[derive(Debug, Default)]
struct Pending {
    /// Lines waiting.
    bytes: Vec<u8>,
    /// The last batch's buffer, emptied: it takes the place of `bytes` when a batch is taken,
    /// so that lines are gathered and written without an allocation once both have grown
    /// (a new buffer per batch was an allocation of the batch's size every 20 ms).
    spare: Vec<u8>,
}

/// Largest buffer kept for the next batch (a burst's larger one is freed).
const KEEP: usize = 4 * FLUSH_AT;

struct Shared {
    pending: Mutex<Pending>,
    /// Held while a batch is written, so batches reach the sink in the order they were taken.
    sink: Mutex<Sink>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    /// Writes everything waiting to the sink.
    fn flush(&self) -> io::Result<()> {
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        let mut batch = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            if pending.bytes.is_empty() {
                return Ok(());
            }
            let spare = std::mem::take(&mut pending.spare);
            std::mem::replace(&mut pending.bytes, spare)
        };
        let written = sink.write_all(&batch).and_then(|()| sink.flush());
        if batch.capacity() <= KEEP {
            batch.clear();
            self.pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .spare = batch;
        }
        written
    }
}

/// A `MakeWriter` for tracing-subscriber that buffers lines as described above.
#[derive(Debug, Clone)]
pub struct Buffered {
    shared: Arc<Shared>,
}

impl Buffered {
    /// Buffers lines for `sink`; no flushing thread (see [`Buffered::spawn_flusher`]).
    pub fn new(sink: Sink) -> Self {
        Self {
            shared: Arc::new(Shared {
                pending: Mutex::new(Pending::default()),
                sink: Mutex::new(sink),
            }),
        }
    }

    /// Starts the thread that writes the buffer every [`FLUSH_EVERY`]. It holds only a weak
    /// reference: it ends when the last `Buffered` is dropped.
    pub fn spawn_flusher(&self) -> io::Result<()> {
        let shared = Arc::downgrade(&self.shared);
        std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(move || {
                while let Some(shared) = shared.upgrade() {
                    let _ = shared.flush();
                    drop(shared);
                    std::thread::sleep(FLUSH_EVERY);
                }
            })
            .map(drop)
    }

    /// Writes everything waiting.
    pub fn flush(&self) -> io::Result<()> {
        self.shared.flush()
    }
}

/// One event's line on its way into the buffer.
#[derive(Debug)]
pub struct Line<'a> {
    shared: &'a Shared,
    urgent: bool,
}

impl Write for Line<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let full = {
            let mut pending = self
                .shared
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            pending.bytes.extend_from_slice(bytes);
            pending.bytes.len() >= FLUSH_AT
        };
        if full {
            self.shared.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Line<'_> {
    fn drop(&mut self) {
        if self.urgent {
            let _ = self.shared.flush();
        }
    }
}

impl<'a> MakeWriter<'a> for Buffered {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line {
            shared: &self.shared,
            urgent: false,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        Line {
            shared: &self.shared,
            urgent: *meta.level() <= Level::WARN,
        }
    }
}

/// The process's log output, once installed.
static INSTALLED: OnceLock<Buffered> = OnceLock::new();

/// The buffered standard output every log line goes to, with its flushing thread (started
/// once) and a panic hook that flushes before the default hook reports.
pub fn stdout() -> Buffered {
    INSTALLED
        .get_or_init(|| {
            let buffered = Buffered::new(Box::new(io::stdout()));
            if buffered.spawn_flusher().is_err() {
                // No thread: every line is written at once instead.
                return Buffered::new(Box::new(Unbuffered(io::stdout())));
            }
            let hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                flush();
                hook(info);
            }));
            buffered
        })
        .clone()
}

/// Writes every log line still waiting (before the process exits).
pub fn flush() {
    if let Some(buffered) = INSTALLED.get() {
        let _ = buffered.flush();
    }
}

/// A sink that is flushed after every line: the fallback when no flushing thread can start.
struct Unbuffered(io::Stdout);

impl Write for Unbuffered {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.write(bytes)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(
                self.0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone(),
            )
            .expect("UTF-8")
        }
    }

    /// Logs `text` at `level` through a subscriber writing to `buffered`.
    fn line(buffered: &Buffered, level: Level, text: &str) {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(buffered.clone())
            .without_time()
            .with_level(false)
            .with_target(false)
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || match level {
            Level::ERROR => tracing::error!("{text}"),
            Level::WARN => tracing::warn!("{text}"),
            _ => tracing::info!("{text}"),
        });
    }

    #[test]
    fn info_lines_wait_and_a_warning_or_error_writes_everything_in_order() {
        let out = Captured::default();
        let buffered = Buffered::new(Box::new(out.clone()));
        line(&buffered, Level::INFO, "one");
        line(&buffered, Level::INFO, "two");
        assert_eq!(out.text(), "", "info lines wait for the flush");
        line(&buffered, Level::WARN, "three");
        assert_eq!(out.text(), "one\ntwo\nthree\n");
        line(&buffered, Level::INFO, "four");
        line(&buffered, Level::ERROR, "five");
        assert_eq!(out.text(), "one\ntwo\nthree\nfour\nfive\n");
        line(&buffered, Level::INFO, "six");
        buffered.flush().expect("flushed");
        assert_eq!(out.text(), "one\ntwo\nthree\nfour\nfive\nsix\n");
    }

    #[test]
    fn batches_reuse_two_buffers_and_lose_no_line() {
        let out = Captured::default();
        let buffered = Buffered::new(Box::new(out.clone()));
        let mut expected = String::new();
        let mut capacities = Vec::new();
        for batch in 0..6 {
            for i in 0..50 {
                let text = format!("batch {batch} line {i}");
                line(&buffered, Level::INFO, &text);
                expected.push_str(&text);
                expected.push('\n');
            }
            buffered.flush().expect("flushed");
            let pending = buffered.shared.pending.lock().expect("not poisoned");
            assert!(pending.bytes.is_empty() && pending.spare.is_empty());
            capacities.push((pending.bytes.capacity(), pending.spare.capacity()));
        }
        assert_eq!(out.text(), expected, "every line once, in order");
        // Once both buffers have grown, each batch swaps them: no new buffer is made.
        let (first, second) = (capacities[2], capacities[3]);
        assert!(first.0 > 0 && first.1 > 0, "{capacities:?}");
        assert_eq!(capacities[4], first, "{capacities:?}");
        assert_eq!(capacities[5], second, "{capacities:?}");
    }

    #[test]
    fn a_full_buffer_is_written_at_once() {
        let out = Captured::default();
        let buffered = Buffered::new(Box::new(out.clone()));
        let long = "x".repeat(1000);
        for _ in 0..FLUSH_AT / long.len() + 1 {
            line(&buffered, Level::INFO, &long);
        }
        assert!(
            out.text().len() >= FLUSH_AT,
            "written when {FLUSH_AT} bytes waited"
        );
    }

    #[test]
    fn the_flusher_writes_within_its_period_and_ends_with_the_buffer() {
        let out = Captured::default();
        let buffered = Buffered::new(Box::new(out.clone()));
        buffered.spawn_flusher().expect("thread");
        line(&buffered, Level::INFO, "later");
        let waited = std::time::Instant::now();
        while out.text().is_empty() {
            assert!(waited.elapsed() < Duration::from_secs(5), "never flushed");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(out.text(), "later\n");
        let weak = Arc::downgrade(&buffered.shared);
        drop(buffered);
        let waited = std::time::Instant::now();
        while weak.upgrade().is_some() {
            assert!(
                waited.elapsed() < Duration::from_secs(5),
                "the flusher kept the buffer"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
