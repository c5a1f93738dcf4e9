//! The distributed bus: Redis Pub/Sub on the channel `observations:new` (SPEC §6).
//!
//! Each message is one JSON observation including its `seq` ([`BusMessage`]). Pub/Sub is
//! at-most-once, so the subscriber reports a [`BusEvent::Gap`](crate::bus::BusEvent::Gap) every time its subscription is
//! (re)established and the relay repairs from the store.
//!
//! The subscriber (one connection per server) follows STACK.md pitfall 1: a RESP3 connection
//! manager with automatic resubscription, unlimited reconnect attempts at most ~1 s apart, and
//! a PING every [`PING_INTERVAL`] with a timeout. Commands that time out do not make the
//! connection manager reconnect, so when PINGs keep timing out on a connection it believes is
//! up (a dead peer behind an open TCP connection), the subscriber replaces the manager.
//! Publishing and readiness checks use a second, separate connection.

mod payload;
mod subscriber;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::mpsc;

use super::{Bus, BusError, BusMessage, Subscription};
use subscriber::{Output, run_subscriber};

/// The channel observations are published on.
pub const CHANNEL: &str = "observations:new";
/// Time between two health-check PINGs of the subscriber connection.
pub const PING_INTERVAL: Duration = Duration::from_secs(2);
/// How long a PING (or a readiness ping) may take before it counts as failed.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// Failed PINGs in a row after which a connection believed up is replaced.
const DEAD_AFTER_PINGS: u32 = 2;
/// Longest wait between two reconnect attempts (pitfall 1: ~1 s, unlimited attempts).
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(1);
/// Time limit of one connection attempt (TCP connect and handshake).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Time limit of one publish.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);
/// Events buffered for the relay before the subscriber drops messages and reports a gap.
const EVENT_BUFFER: usize = 4096;

/// The Redis implementation of [`Bus`].
#[derive(Debug)]
pub struct RedisBus {
    /// Connection parameters (RESP3), for new connections.
    client: redis::Client,
    /// The connection used to publish and ping, with a generation number so that only one
    /// caller replaces it when it is found dead.
    publisher: Mutex<(u64, ConnectionManager)>,
    /// Generations of the publisher connection handed out so far.
    generation: AtomicU64,
    /// Whether the subscriber's subscription is live now; read on every new stream.
    connected: Arc<AtomicBool>,
    /// Set by the first [`Bus::subscribe`]: one subscriber connection per bus (and server).
    subscribed: AtomicBool,
}

/// Adds `protocol=resp3` to a Redis URL that names no protocol (automatic resubscription and
/// push messages need RESP3).
pub fn resp3_url(url: &str) -> String {
    let query = url.split_once('?').map(|(_, q)| q);
    if query.is_some_and(|q| q.split('&').any(|kv| kv.starts_with("protocol="))) {
        url.to_owned()
    } else if query.is_some() {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}?protocol=resp3")
    }
}

/// The server a client connects to, `HOST:PORT` (no credentials), for messages.
fn address(client: &redis::Client) -> String {
    client.get_connection_info().addr().to_string()
}

/// One fresh connection and a PING within `timeout`: `Err` says why not (for messages).
async fn probe(client: &redis::Client, timeout: Duration) -> Result<(), String> {
    let attempt = async {
        let mut connection = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map(drop)
    };
    match tokio::time::timeout(timeout.min(CONNECT_TIMEOUT), attempt).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "no answer within {:.1} s",
            timeout.min(CONNECT_TIMEOUT).as_secs_f64()
        )),
    }
}

/// A connection manager for publishing: few retries, so that a publish during an outage fails
/// fast (ingest goes on; servers repair from the store), and the next command reconnects.
fn publisher_manager(client: &redis::Client) -> Result<ConnectionManager, BusError> {
    let config = ConnectionManagerConfig::new()
        .set_number_of_retries(1)
        .set_max_delay(MAX_RECONNECT_DELAY)
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(PUBLISH_TIMEOUT));
    ConnectionManager::new_lazy_with_config(client.clone(), config)
        .map_err(|e| BusError::Unavailable(e.to_string()))
}

impl RedisBus {
    /// A bus on the Redis server named by `url` (`redis://…`; `?protocol=resp3` is added when
    /// the URL names no protocol). Connects lazily: a server that is down now is retried.
    /// Must be called within a Tokio runtime.
    pub fn connect(url: &str) -> Result<Self, BusError> {
        let client = redis::Client::open(resp3_url(url).as_str()).map_err(|e| {
            BusError::Unavailable(format!(
                "--redis-url {}: not a Redis URL ({e}); use redis://[:PASSWORD@]HOST:PORT",
                crate::config::redact_url(url)
            ))
        })?;
        if !client
            .get_connection_info()
            .redis_settings()
            .protocol()
            .supports_resp3()
        {
            return Err(BusError::Unavailable(
                "the Redis URL asks for RESP2; the bus needs RESP3 (protocol=resp3)".into(),
            ));
        }
        let publisher = publisher_manager(&client)?;
        Ok(Self {
            client,
            publisher: Mutex::new((0, publisher)),
            generation: AtomicU64::new(0),
            connected: Arc::new(AtomicBool::new(false)),
            subscribed: AtomicBool::new(false),
        })
    }

    /// Waits until Redis answers a PING, retrying for up to `timeout`; the error names the
    /// server (never the password), the cause and the time waited.
    pub async fn wait_until_reachable(&self, timeout: Duration) -> Result<(), BusError> {
        let started = tokio::time::Instant::now();
        loop {
            let left = timeout.saturating_sub(started.elapsed());
            let cause = match probe(&self.client, left).await {
                Ok(()) => return Ok(()),
                Err(cause) => cause,
            };
            if started.elapsed() >= timeout {
                return Err(BusError::Unavailable(format!(
                    "cannot reach Redis at {} after {:.1} s: {cause}; is the server running, \
                     and is --redis-url right? (--connect-timeout-secs sets the wait)",
                    address(&self.client),
                    started.elapsed().as_secs_f64()
                )));
            }
            tokio::time::sleep(
                (MAX_RECONNECT_DELAY / 4).min(timeout.saturating_sub(started.elapsed())),
            )
            .await;
        }
    }

    fn publisher(&self) -> (u64, ConnectionManager) {
        self.publisher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the publisher connection after a timeout (the manager reconnects by itself
    /// only on errors that show the connection dropped, not on a silent peer).
    fn replace_publisher(&self, seen: u64) {
        let mut current = self
            .publisher
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if current.0 != seen {
            return; // someone else replaced it already
        }
        if let Ok(fresh) = publisher_manager(&self.client) {
            let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
            *current = (generation, fresh);
        }
    }

    /// Runs one command on the publisher connection with a time limit.
    async fn command<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
        limit: Duration,
    ) -> Result<T, BusError> {
        let (generation, mut conn) = self.publisher();
        let deadline = tokio::time::Instant::now() + limit;
        let mut result = tokio::time::timeout_at(deadline, cmd.query_async::<T>(&mut conn)).await;
        if matches!(&result, Ok(Err(e)) if !e.is_timeout()) {
            // After a failed reconnect the manager fails the next command and starts a new
            // attempt at once: wait for that one (Redis may be back).
            result = tokio::time::timeout_at(deadline, cmd.query_async::<T>(&mut conn)).await;
        }
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                if e.is_timeout() {
                    self.replace_publisher(generation);
                }
                Err(BusError::Unavailable(e.to_string()))
            }
            Err(_) => {
                self.replace_publisher(generation);
                Err(BusError::Unavailable(format!(
                    "Redis did not answer within {limit:?}"
                )))
            }
        }
    }
}

#[async_trait]
impl Bus for RedisBus {
    async fn publish(&self, message: &BusMessage) -> Result<(), BusError> {
        let payload = serde_json::to_string(message)
            .map_err(|e| BusError::Unavailable(format!("encoding the message: {e}")))?;
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(CHANNEL).arg(payload);
        self.command::<i64>(&cmd, PUBLISH_TIMEOUT).await.map(|_| ())
    }

    async fn subscribe(&self) -> Result<Subscription, BusError> {
        if self.subscribed.swap(true, Ordering::AcqRel) {
            return Err(BusError::Unavailable(
                "this bus already has its subscriber connection".into(),
            ));
        }
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        tokio::spawn(run_subscriber(
            self.client.clone(),
            self.connected.clone(),
            Output::new(tx),
        ));
        Ok(Box::pin(futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|event| (event, rx)) },
        )))
    }

    async fn ping(&self) -> Result<(), BusError> {
        self.command::<String>(&redis::cmd("PING"), PING_TIMEOUT)
            .await
            .map(|_| ())
    }

    fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp3_is_added_when_no_protocol_is_named() {
        assert_eq!(
            resp3_url("redis://127.0.0.1:6379/"),
            "redis://127.0.0.1:6379/?protocol=resp3"
        );
        assert_eq!(
            resp3_url("redis://h/0?timeout=1"),
            "redis://h/0?timeout=1&protocol=resp3"
        );
        assert_eq!(resp3_url("redis://h/?protocol=3"), "redis://h/?protocol=3");
    }

    #[tokio::test]
    async fn a_resp2_url_is_refused() {
        assert!(RedisBus::connect("redis://127.0.0.1:1/?protocol=2").is_err());
        assert!(RedisBus::connect("not a url").is_err());
    }
}
