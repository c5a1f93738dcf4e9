//! The bus: the low-latency notification path from writers to every server instance.
//!
//! It may lose messages (Redis Pub/Sub is at-most-once); subscribers are told when that may have
//! happened ([`BusEvent::Gap`]) and repair from the store.

mod memory;
mod redis;

use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::BoxStream;

use crate::domain::{Observation, Seq, StoredObservation};

pub use memory::MemoryBus;
pub use redis::{CHANNEL as REDIS_CHANNEL, RedisBus};

/// One message: an observation, with its seq when it was stored first (SPEC §6).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BusMessage {
    /// Position in the store's log; absent for producers that publish without storing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<Seq>,
    /// The observation.
    #[serde(flatten)]
    pub observation: Observation,
}

impl From<StoredObservation> for BusMessage {
    fn from(s: StoredObservation) -> Self {
        Self {
            seq: Some(s.seq),
            observation: s.observation,
        }
    }
}

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

/// Attempts per message before a publish is given up (the servers repair from the store).
pub const PUBLISH_ATTEMPTS: u32 = 3;

/// Publishes stored observations in order, retrying each up to [`PUBLISH_ATTEMPTS`] times with
/// backoff. Failures are logged and never returned: the store already has the data.
pub async fn publish_stored(bus: &dyn Bus, stored: Vec<StoredObservation>) {
    for s in stored {
        let station_id = s.observation.station_id.clone();
        let timestamp = s.observation.timestamp;
        let message = BusMessage::from(s);
        for attempt in 1..=PUBLISH_ATTEMPTS {
            match bus.publish(&message).await {
                Ok(()) => break,
                Err(e) => {
                    metrics::counter!("bus_publish_failures_total").increment(1);
                    tracing::warn!(
                        event = "publish_observation_failed",
                        stationId = %station_id,
                        timestamp = %crate::domain::format_timestamp(timestamp),
                        attempt,
                        error = %e,
                        "publishing an observation failed"
                    );
                    if attempt < PUBLISH_ATTEMPTS {
                        tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                    }
                }
            }
        }
    }
}
