//! The hub: fans encoded frames out to every SSE connection of this server.
//!
//! Frames are encoded once and shared (`Arc<Frame>`). Connections are spread over several
//! broadcast channels (shards) so that no single channel carries every receiver; each shard's
//! ring is every connection's bounded backlog: a connection that falls further behind than the
//! ring is told it lagged and is disconnected (it then resumes from the store).
//!
//! The hub knows its position in the log twice: the highest seq whose broadcast has begun (what a
//! new receiver starts after) and the highest seq every shard has received (what a heartbeat
//! vouches for). Both exist so that a stream can tell its client an exact position (SPEC §4).

pub mod frame;
mod relay;
pub mod stream;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, broadcast, watch};
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
    /// One signal per shard, raised after each frame it receives: what a writer serving many of
    /// a shard's receivers at once waits for instead of each receiver's own wake-up.
    signals: Box<[Notify]>,
    next_shard: AtomicUsize,
    /// Capacity of each shard's ring: how far a connection may fall behind.
    backlog: usize,
    /// Highest seq whose broadcast has begun: raised before the frame goes to any shard, so a
    /// receiver that reads it after subscribing receives every frame with a higher seq.
    sending: AtomicI64,
    /// Highest seq broadcast so far (the relay's position in the log): raised once every shard
    /// has the frame, so a frame sent after reading it follows that seq in every ring.
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
        let signals = (0..config.shards.max(1)).map(|_| Notify::new()).collect();
        Self {
            shards,
            signals,
            next_shard: AtomicUsize::new(0),
            backlog: config.backlog.max(1).next_power_of_two(),
            sending: AtomicI64::new(last_seq.get()),
            last_seq: AtomicI64::new(last_seq.get()),
            position: watch::Sender::new(last_seq),
        }
    }

    /// A receiver of every frame broadcast from now on (round-robin over the shards), the
    /// position it starts after, and the shard it is on (see [`Hub::signal`]): it receives every
    /// frame with a higher seq, in order. Frames at or below the position may still arrive (their
    /// broadcast was under way) and are to be skipped.
    pub fn subscribe(&self) -> (broadcast::Receiver<Arc<Frame>>, Seq, usize) {
        let i = self.next_shard.fetch_add(1, Ordering::Relaxed) % self.shards.len();
        let receiver = self.shards[i].subscribe();
        // Subscribing and sending take the shard's lock, so a frame that reached this shard
        // before the subscription had its seq in `sending` before this read; any later seq
        // reaches the shard after it.
        let position = Seq::new(self.sending.load(Ordering::Acquire));
        (receiver, position, i)
    }

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The signal of shard `i`, raised (`notify_one`, so a raise while nobody waits is kept)
    /// after every frame the shard receives.
    pub fn signal(&self, i: usize) -> &Notify {
        &self.signals[i % self.signals.len()]
    }

    /// Sends a frame to every connection; returns how many receivers it reached.
    pub fn broadcast(&self, frame: Frame) -> usize {
        let seq = frame.seq;
        if let Some(seq) = seq {
            self.sending.fetch_max(seq.get(), Ordering::Release);
        }
        let receivers = self.receiver_count();
        frame.pending.store(receivers as isize, Ordering::Relaxed);
        frame.audience.store(receivers as isize, Ordering::Relaxed);
        if receivers == 0 && frame.is_entry() {
            // No stream takes it, so none will log it: the broadcast ends here.
            frame.log_broadcast(frame.received.elapsed());
        }
        let frame = Arc::new(frame);
        let reached = self
            .shards
            .iter()
            .zip(self.signals.iter())
            .map(|(s, signal)| {
                let reached = s.send(frame.clone()).unwrap_or(0);
                signal.notify_one();
                reached
            })
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

    /// Sends a heartbeat to every connection, stamped with the hub's position: every frame up to
    /// it precedes the heartbeat in every ring.
    pub fn heartbeat(&self, now: chrono::DateTime<chrono::Utc>) -> usize {
        self.broadcast(Frame::heartbeat(now, self.last_seq()))
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
                hub.heartbeat(chrono::Utc::now());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::domain::{Observation, StationId, VALUE_COUNT};

    fn frame(seq: i64) -> Frame {
        let observation = Observation::from_values(
            StationId::parse("44009").unwrap(),
            chrono::Utc::now(),
            [None; VALUE_COUNT],
        );
        Frame::observation(Some(Seq::new(seq)), &observation)
    }

    #[test]
    fn a_subscription_starts_after_what_was_broadcast() {
        let hub = Hub::new(HubConfig::default(), Seq::new(10));
        let (_, position, _) = hub.subscribe();
        assert_eq!(position, Seq::new(10));
        hub.broadcast(frame(11));
        let (mut rx, position, _) = hub.subscribe();
        assert_eq!(position, Seq::new(11));
        hub.broadcast(frame(12));
        assert_eq!(rx.try_recv().map(|f| f.seq).ok(), Some(Some(Seq::new(12))));
    }

    #[test]
    fn a_broadcast_no_stream_takes_is_logged_by_the_hub_and_a_heartbeat_is_not() {
        let hub = Hub::new(HubConfig::default(), Seq::new(0));
        let lines = crate::telemetry::tests::lines(|| {
            hub.broadcast(frame(1));
            hub.heartbeat(chrono::Utc::now());
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(line["event"], "observation_broadcasted", "{line}");
        assert_eq!(line["level"], "debug", "{line}");
        assert_eq!(line["clientCount"], 0, "{line}");
        assert_eq!(line["stationId"], "44009", "{line}");

        // With a stream subscribed, the stream that takes the frame last logs it, not the hub.
        let (_rx, _, _) = hub.subscribe();
        let lines = crate::telemetry::tests::lines(|| {
            hub.broadcast(frame(2));
        });
        assert!(lines.is_empty(), "{lines:?}");
    }

    #[test]
    fn heartbeats_carry_the_position_every_shard_has() {
        let hub = Hub::new(HubConfig::default(), Seq::new(3));
        let (mut rx, _, _) = hub.subscribe();
        hub.broadcast(frame(4));
        hub.heartbeat(chrono::Utc::now());
        assert_eq!(rx.try_recv().map(|f| f.seq).ok(), Some(Some(Seq::new(4))));
        let beat = rx.try_recv().unwrap();
        assert_eq!((beat.seq, beat.position), (None, Some(Seq::new(4))));
        assert!(beat.bytes.starts_with(b"id: 4\nevent: heartbeat\n"));
    }

    /// While frames are being broadcast, a new subscription's position is exact: the first frame
    /// above it that the receiver gets is the next seq (none was sent to its shard before).
    #[test]
    fn a_subscription_position_is_exact_during_broadcasts() {
        let hub = Arc::new(Hub::new(
            HubConfig {
                shards: 16,
                backlog: 1 << 14,
            },
            Seq::ZERO,
        ));
        let running = Arc::new(AtomicBool::new(true));
        let broadcaster = {
            let (hub, running) = (hub.clone(), running.clone());
            std::thread::spawn(move || {
                let mut seq = 0;
                while running.load(Ordering::Relaxed) {
                    seq += 1;
                    hub.broadcast(frame(seq));
                }
            })
        };
        for _ in 0..2000 {
            let (mut rx, position, _) = hub.subscribe();
            let first = loop {
                match rx.blocking_recv() {
                    Ok(f) if f.seq.is_some_and(|s| s > position) => break f.seq,
                    Ok(_) => {}
                    Err(e) => panic!("{e}"),
                }
            };
            assert_eq!(first, Some(position.next()), "subscribed after {position}");
        }
        running.store(false, Ordering::Relaxed);
        broadcaster.join().unwrap();
    }
}
