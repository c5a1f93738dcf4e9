//! The hub: fans encoded frames out to every SSE connection of this server.
//!
//! Frames are encoded once and shared (`Arc<Frame>`). Connections are spread over several
//! broadcast channels (shards) so that no single channel carries every receiver; each shard's
//! ring is every connection's bounded backlog: a connection that falls further behind than the
//! ring is told it lagged and is disconnected (it then resumes from the store).

pub mod frame;
mod relay;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

pub use frame::Frame;
pub use relay::run_relay;

use crate::domain::Seq;

/// Tuning of the hub.
#[derive(Debug, Clone, Copy)]
pub struct HubConfig {
    /// Number of broadcast channels connections are spread over.
    pub shards: usize,
    /// Frames a connection may fall behind by before it is disconnected.
    pub backlog: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            shards: 16,
            backlog: 4096,
        }
    }
}

/// This server's fan-out point.
#[derive(Debug)]
pub struct Hub {
    shards: Box<[broadcast::Sender<Arc<Frame>>]>,
    next_shard: AtomicUsize,
    /// Capacity of each shard's ring: how far a connection may fall behind.
    backlog: usize,
    /// Highest seq broadcast so far (the relay's position in the log).
    last_seq: AtomicI64,
    /// The same position for waiters that are not streams (long polls): they wake on a change
    /// without holding a place in the rings, so they never count as receivers of a frame.
    position: watch::Sender<Seq>,
}

impl Hub {
    /// An empty hub positioned after `last_seq`.
    pub fn new(config: HubConfig, last_seq: Seq) -> Self {
        let shards = (0..config.shards.max(1))
            .map(|_| broadcast::channel(config.backlog.max(1)).0)
            .collect();
        Self {
            shards,
            next_shard: AtomicUsize::new(0),
            backlog: config.backlog.max(1).next_power_of_two(),
            last_seq: AtomicI64::new(last_seq.get()),
            position: watch::Sender::new(last_seq),
        }
    }

    /// A receiver of every frame broadcast from now on (round-robin over the shards).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Frame>> {
        let i = self.next_shard.fetch_add(1, Ordering::Relaxed) % self.shards.len();
        self.shards[i].subscribe()
    }

    /// Sends a frame to every connection; returns how many receivers it reached.
    pub fn broadcast(&self, frame: Frame) -> usize {
        let seq = frame.seq;
        let receivers = self.receiver_count();
        frame.pending.store(receivers as isize, Ordering::Relaxed);
        frame.audience.store(receivers as isize, Ordering::Relaxed);
        let frame = Arc::new(frame);
        let reached = self
            .shards
            .iter()
            .map(|s| s.send(frame.clone()).unwrap_or(0))
            .sum();
        // Advanced once every shard has the frame: at this position or below, nothing is in flight.
        if let Some(seq) = seq {
            self.last_seq.fetch_max(seq.get(), Ordering::Release);
            self.position.send_if_modified(|p| {
                let moved = seq > *p;
                *p = (*p).max(seq);
                moved
            });
        }
        reached
    }

    /// Frames a connection may fall behind by (each shard's ring capacity: tokio rounds it up
    /// to a power of two).
    pub fn backlog(&self) -> usize {
        self.backlog
    }

    /// The highest seq broadcast so far.
    pub fn last_seq(&self) -> Seq {
        Seq::new(self.last_seq.load(Ordering::Acquire))
    }

    /// Wakes when the broadcast position moves (for long polls).
    pub fn watch_position(&self) -> watch::Receiver<Seq> {
        self.position.subscribe()
    }

    /// Number of receivers currently subscribed.
    pub fn receiver_count(&self) -> usize {
        self.shards
            .iter()
            .map(broadcast::Sender::receiver_count)
            .sum()
    }
}

/// Broadcasts a heartbeat every `every` until cancelled.
pub async fn run_heartbeats(hub: Arc<Hub>, every: Duration, cancel: CancellationToken) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticker.tick() => {
                hub.broadcast(Frame::heartbeat(chrono::Utc::now()));
            }
        }
    }
}
