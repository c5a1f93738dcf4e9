//! The bus: the low-latency notification path from writers to every server instance.
//!
//! It may lose messages (Redis Pub/Sub is at-most-once); subscribers are told when that may have
//! happened ([`BusEvent::Gap`]) and repair from the store.

mod memory;
mod message;
mod redis;

use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::BoxStream;

use crate::domain::StoredEntry;
use crate::retry::Backoff;

pub use memory::MemoryBus;
pub use message::BusMessage;
pub use redis::{CHANNEL as REDIS_CHANNEL, RedisBus};

/// What a subscriber sees.
#[derive(Debug, Clone)]
pub enum BusEvent {
    /// A valid message (boxed: messages are large beside the other variants).
    Message(Box<BusMessage>),
    /// Messages may have been lost (lagging subscriber, reconnect): repair from the store.
    Gap,
    /// A payload that failed validation; counted and logged, never fatal.
    Invalid(String),
}

/// A subscription: an endless stream of events (it ends only when the bus is dropped).
pub type Subscription = BoxStream<'static, BusEvent>;

/// Why a bus call failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The bus cannot be reached.
    #[error("bus unavailable: {0}")]
    Unavailable(String),
}

/// The notification path between writers and servers.
#[async_trait]
pub trait Bus: Send + Sync + std::fmt::Debug + 'static {
    /// Sends one message to every subscriber.
    async fn publish(&self, message: &BusMessage) -> Result<(), BusError>;
    /// Starts receiving messages published from now on.
    async fn subscribe(&self) -> Result<Subscription, BusError>;
    /// Whether the bus is reachable now (a round trip; for readiness checks).
    async fn ping(&self) -> Result<(), BusError>;
    /// Whether this server's subscription is connected, as last seen (no I/O; checked on every
    /// new stream, so it must be cheap).
    fn is_connected(&self) -> bool {
        true
    }
}

/// Attempts per message before the bus is taken to be down (SPEC §7).
pub const PUBLISH_ATTEMPTS: u32 = 3;
/// Longest time one batch spends publishing, retries included. Whatever is left when it runs
/// out is not published: the store has it, and servers repair from the store.
pub const PUBLISH_DEADLINE: Duration = Duration::from_secs(3);
/// Waits between attempts of one message: about 100 ms, then 200 ms.
const PUBLISH_RETRY: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
/// Failed attempts of one batch logged one by one; the rest are summed up in one line.
const FAILURES_LOGGED: usize = 5;

/// What became of a batch handed to [`publish_stored`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PublishReport {
    /// Messages the bus took.
    pub published: usize,
    /// Messages not published (the bus was down, or the batch's time ran out).
    pub unpublished: usize,
}

/// Publishes stored entries in seq order, retrying a failed message up to
/// [`PUBLISH_ATTEMPTS`] times with backoff. A message that still fails shows the bus is down:
/// the rest of the batch is not tried, and the whole batch never takes longer than
/// [`PUBLISH_DEADLINE`]. Failures are logged (`publish_observation_failed`, the first few
/// attempts one by one, then one `publish_batch_incomplete` summary) and counted, never
/// returned: the store already has the data, and every server's relay fetches from the store
/// what the bus did not bring (on resubscription, on a seq gap, and by auditing the store's head).
pub async fn publish_stored(bus: &dyn Bus, stored: Vec<StoredEntry>) -> PublishReport {
    let deadline = tokio::time::Instant::now() + PUBLISH_DEADLINE;
    let total = stored.len();
    let mut report = PublishReport::default();
    let mut failed_attempts = 0usize;
    let mut last_error = None;
    'batch: for s in stored {
        let station_id = s.entry.station_id().clone();
        let timestamp = s.entry.timestamp();
        let kind = s.entry.kind();
        let message = BusMessage::from(s);
        let mut attempt = 1;
        loop {
            let result = tokio::time::timeout_at(deadline, bus.publish(&message))
                .await
                .unwrap_or_else(|_| {
                    Err(BusError::Unavailable(format!(
                        "the batch's publish time ({PUBLISH_DEADLINE:?}) ran out"
                    )))
                });
            let Err(e) = result else {
                report.published += 1;
                break;
            };
            metrics::counter!("bus_publish_failures_total").increment(1);
            failed_attempts += 1;
            if failed_attempts <= FAILURES_LOGGED {
                tracing::warn!(
                    event = "publish_observation_failed",
                    stationId = %station_id,
                    kind = %kind,
                    timestamp = %crate::domain::format_timestamp(timestamp),
                    attempt,
                    error = %e,
                    "publishing an observation failed"
                );
            }
            last_error = Some(e);
            let delay = PUBLISH_RETRY.delay(attempt);
            if attempt >= PUBLISH_ATTEMPTS || tokio::time::Instant::now() + delay >= deadline {
                break 'batch;
            }
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
    report.unpublished = total - report.published;
    if report.unpublished > 0 {
        metrics::counter!("bus_messages_unpublished_total").increment(report.unpublished as u64);
        tracing::warn!(
            event = "publish_batch_incomplete",
            published = report.published,
            unpublished = report.unpublished,
            failedAttempts = failed_attempts,
            error = %last_error.map(|e| e.to_string()).unwrap_or_default(),
            "the bus did not take the whole batch; it is stored, and servers repair from the store"
        );
    }
    report
}
