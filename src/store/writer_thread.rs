//! A thread of its own for the SQLite writer's work.
//!
//! A write is several round trips to the driver's connection thread (`BEGIN IMMEDIATE`, the
//! counter, each row, the counter update, `COMMIT`), and after each one the writing task must be
//! polled again. On the server's runtime, under a fan-out that wakes thousands of stream tasks
//! per event, each of those polls waits behind the woken streams: a one-row publish took 80 ms
//! at saturation. Here the whole write runs on a single-threaded runtime with nothing else to
//! do, and the caller is woken once, with the outcome.

use std::future::Future;
use std::io;

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;
use tokio_util::task::AbortOnDropHandle;

use super::StoreError;

/// The writer thread; it ends when this is dropped.
#[derive(Debug)]
pub(super) struct WriterThread {
    handle: Handle,
    /// Dropped with the thread's owner: the thread's runtime then stops.
    _stop: oneshot::Sender<()>,
}

impl WriterThread {
    /// Starts the thread and its runtime.
    pub(super) fn start() -> io::Result<Self> {
        let runtime = Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                // Runs the writes spawned on `handle` until the owner is dropped.
                let _ = runtime.block_on(stopped);
            })?;
        Ok(Self {
            handle,
            _stop: stop,
        })
    }

    /// Runs `work` on the writer thread and returns its outcome. If the caller stops waiting,
    /// the work is cancelled at its next await point, as it would be if run in place: an
    /// unfinished write's connection is dropped, which rolls the write back.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        AbortOnDropHandle::new(self.handle.spawn(work))
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable(sqlx::Error::WorkerCrashed)))
    }
}
