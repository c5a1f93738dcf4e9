//! The distributed bus: Redis Pub/Sub on the channel `observations:new` (SPEC §6).
//!
//! Each message is one JSON observation including its `seq` ([`BusMessage`]). Pub/Sub is
//! at-most-once, so the subscriber reports a [`BusEvent::Gap`] every time its subscription is
//! (re)established and the relay repairs from the store.
//!
//! The subscriber (one connection per server) follows STACK.md pitfall 1: a RESP3 connection
//! manager with automatic resubscription, unlimited reconnect attempts at most ~1 s apart, and
//! a PING every [`PING_INTERVAL`] with a timeout. Commands that time out do not make the
//! connection manager reconnect, so when PINGs keep timing out on a connection it believes is
//! up (a dead peer behind an open TCP connection), the subscriber replaces the manager.
//! Publishing and readiness checks use a second, separate connection.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use super::{Bus, BusError, BusEvent, BusMessage, Subscription};

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
        let client = redis::Client::open(resp3_url(url).as_str())
            .map_err(|e| BusError::Unavailable(format!("invalid Redis URL: {e}")))?;
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
            Output { tx, lagged: false },
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

/// Where the subscriber sends events: a bounded channel to the relay. When it is full,
/// messages are dropped and a [`BusEvent::Gap`] is sent as soon as there is room again.
struct Output {
    /// To the relay; closed when the [`Subscription`] is dropped, which ends the subscriber.
    tx: mpsc::Sender<BusEvent>,
    /// Messages were dropped since the last event that got through.
    lagged: bool,
}

impl Output {
    /// Sends an event; `false` once the subscription was dropped.
    fn send(&mut self, event: BusEvent) -> bool {
        if self.lagged && !self.flush_gap() {
            return !self.tx.is_closed();
        }
        match self.tx.try_send(event) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.lagged = true;
                true
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }

    /// Sends the pending gap, if there is room; `true` when nothing is pending any more.
    fn flush_gap(&mut self) -> bool {
        if self.lagged && self.tx.try_send(BusEvent::Gap).is_ok() {
            self.lagged = false;
        }
        !self.lagged
    }
}

/// Why one connection manager was given up.
enum Ended {
    /// The subscription (the relay) went away: stop.
    Dropped,
    /// The connection stopped answering although it looked up: start a fresh one.
    Dead,
}

/// The subscriber: keeps one subscription alive until the [`Subscription`] is dropped.
async fn run_subscriber(client: redis::Client, connected: Arc<AtomicBool>, mut out: Output) {
    let mut first = true;
    loop {
        let (push_tx, push_rx) = mpsc::unbounded_channel::<PushInfo>();
        let config = ConnectionManagerConfig::new()
            .set_push_sender(push_tx)
            .set_automatic_resubscription()
            .set_number_of_retries(usize::MAX)
            .set_max_delay(MAX_RECONNECT_DELAY)
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(PING_TIMEOUT));
        let manager = match ConnectionManager::new_lazy_with_config(client.clone(), config) {
            Ok(manager) => manager,
            Err(e) => {
                tracing::warn!(event = "redis_subscriber_error", message = %e, "cannot create the Redis subscriber; retrying");
                tokio::select! {
                    () = out.tx.closed() => return,
                    () = tokio::time::sleep(MAX_RECONNECT_DELAY) => continue,
                }
            }
        };
        let ended = Subscriber {
            manager,
            pushes: push_rx,
            connected: &connected,
            out: &mut out,
            first,
        }
        .run()
        .await;
        first = false;
        connected.store(false, Ordering::Release);
        match ended {
            Ended::Dropped => return,
            Ended::Dead => {
                tracing::warn!(
                    event = "redis_subscriber_error",
                    message = "Redis stopped answering PINGs; opening a new connection",
                    "Redis subscriber connection is dead"
                );
            }
        }
    }
}

/// What the subscriber knows about its connection.
#[derive(Debug, Default)]
struct State {
    /// The channel's subscription is confirmed and no disconnection was seen since.
    subscribed: bool,
    /// The manager saw the connection drop and is reconnecting by itself.
    reconnecting: bool,
    /// PINGs in a row that failed.
    failed_pings: u32,
    /// PINGs in a row that were answered while not subscribed.
    unsubscribed_pings: u32,
}

/// One connection manager's life.
struct Subscriber<'a> {
    /// The subscriber connection (reconnects and resubscribes by itself).
    manager: ConnectionManager,
    /// Push messages of the connection: subscribe confirmations, messages, disconnections.
    pushes: mpsc::UnboundedReceiver<PushInfo>,
    /// The bus's flag behind [`Bus::is_connected`].
    connected: &'a AtomicBool,
    /// Where events go.
    out: &'a mut Output,
    /// Whether this is the first subscription of the process (not counted as a reconnect).
    first: bool,
}

impl Subscriber<'_> {
    async fn run(mut self) -> Ended {
        if !self.subscribe_until_done().await {
            return Ended::Dropped;
        }
        let mut state = State::default();
        let mut ticker = tokio::time::interval(PING_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.out.tx.closed() => return Ended::Dropped,
                push = self.pushes.recv() => {
                    let Some(push) = push else { return Ended::Dead };
                    if !self.handle(push, &mut state) {
                        return Ended::Dropped;
                    }
                }
                _ = ticker.tick() => {
                    let _ = self.out.flush_gap();
                    let ping = redis::cmd("PING");
                    let answered = matches!(
                        tokio::time::timeout(PING_TIMEOUT, ping.query_async::<String>(&mut self.manager)).await,
                        Ok(Ok(_))
                    );
                    // Pushes that arrived while the PING was under way come first (a
                    // resubscription confirms before the PING on the new connection answers).
                    while let Ok(push) = self.pushes.try_recv() {
                        if !self.handle(push, &mut state) {
                            return Ended::Dropped;
                        }
                    }
                    if answered {
                        state.failed_pings = 0;
                        state.unsubscribed_pings = if state.subscribed { 0 } else { state.unsubscribed_pings + 1 };
                        // Answering twice without a subscription: the automatic one failed.
                        if state.unsubscribed_pings >= 2 && !self.resubscribe().await {
                            return Ended::Dropped;
                        }
                    } else {
                        state.failed_pings += 1;
                        if state.subscribed {
                            tracing::warn!(event = "redis_subscriber_error", message = "PING timed out", failedPings = state.failed_pings, "Redis did not answer a PING");
                        }
                        // While the manager reconnects by itself PINGs wait for it; a
                        // connection it believes up that keeps silent is replaced.
                        if !state.reconnecting && state.failed_pings >= DEAD_AFTER_PINGS {
                            return Ended::Dead;
                        }
                    }
                }
            }
        }
    }

    /// Handles one push message; `false` once the subscription was dropped.
    fn handle(&mut self, push: PushInfo, state: &mut State) -> bool {
        match push.kind {
            PushKind::Subscribe if push.data.first().is_some_and(is_channel) => {
                if !self.first {
                    metrics::counter!("bus_reconnects_total").increment(1);
                }
                self.first = false;
                tracing::info!(
                    event = "redis_subscribed",
                    channel = CHANNEL,
                    "subscribed to the Redis channel"
                );
                *state = State {
                    subscribed: true,
                    ..State::default()
                };
                self.connected.store(true, Ordering::Release);
                // Whatever was published while not subscribed is lost: repair.
                self.out.send(BusEvent::Gap)
            }
            PushKind::Disconnection => {
                state.reconnecting = true;
                state.subscribed = false;
                self.connected.store(false, Ordering::Release);
                tracing::warn!(
                    event = "redis_subscriber_error",
                    message = "connection to Redis lost; reconnecting",
                    "Redis subscriber disconnected"
                );
                true
            }
            PushKind::Message => self.out.send(decode_message(&push.data)),
            _ => true,
        }
    }

    /// The first SUBSCRIBE: retried until it succeeds (the manager waits for Redis as long as
    /// needed); `false` when the subscription was dropped meanwhile.
    async fn subscribe_until_done(&mut self) -> bool {
        let mut waiting = tokio::time::interval_at(
            tokio::time::Instant::now() + Duration::from_secs(5),
            Duration::from_secs(5),
        );
        loop {
            let attempt = self.manager.subscribe(CHANNEL);
            tokio::select! {
                () = self.out.tx.closed() => return false,
                _ = waiting.tick() => {
                    tracing::warn!(event = "redis_subscriber_error", message = "Redis unreachable; still trying to subscribe", "waiting for Redis");
                }
                result = attempt => match result {
                    Ok(()) => return true,
                    Err(e) => {
                        tracing::warn!(event = "redis_subscriber_error", message = %e, "subscribing failed; retrying");
                        tokio::select! {
                            () = self.out.tx.closed() => return false,
                            () = tokio::time::sleep(MAX_RECONNECT_DELAY) => {}
                        }
                    }
                },
            }
        }
    }

    /// The connection answers but its automatic resubscription did not happen: subscribe again.
    async fn resubscribe(&mut self) -> bool {
        tracing::info!(
            event = "redis_resubscribe",
            "connection is up without a subscription; subscribing again"
        );
        let attempt = tokio::time::timeout(PING_TIMEOUT, self.manager.subscribe(CHANNEL));
        tokio::select! {
            () = self.out.tx.closed() => false,
            _ = attempt => true,
        }
    }
}

fn is_channel(value: &Value) -> bool {
    match value {
        Value::BulkString(b) => b == CHANNEL.as_bytes(),
        Value::SimpleString(s) => s == CHANNEL,
        _ => false,
    }
}

/// Validates one Pub/Sub message (`[channel, payload]`) into a bus event.
fn decode_message(data: &[Value]) -> BusEvent {
    let payload = match data {
        [channel, Value::BulkString(payload)] if is_channel(channel) => payload,
        [channel, _] if is_channel(channel) => {
            return invalid("payload is not a string".into());
        }
        _ => return invalid("message on an unexpected channel".into()),
    };
    match parse_payload(payload) {
        Ok(message) => {
            tracing::debug!(event = "redis_message_received", channel = CHANNEL, stationId = %message.observation.station_id, "bus message received");
            BusEvent::Message(Box::new(message))
        }
        Err(reason) => invalid(reason),
    }
}

fn invalid(reason: String) -> BusEvent {
    tracing::warn!(event = "redis_subscriber_error", message = %reason, "invalid bus message skipped");
    BusEvent::Invalid(reason)
}

/// Parses and validates a payload: SPEC §6 JSON, plausible values, a positive seq if any.
pub fn parse_payload(payload: &[u8]) -> Result<BusMessage, String> {
    let message: BusMessage =
        serde_json::from_slice(payload).map_err(|e| format!("not an observation: {e}"))?;
    if message.seq.is_some_and(|s| s.get() < 1) {
        return Err("seq must be a positive integer".into());
    }
    message
        .observation
        .validate(chrono::Utc::now())
        .map_err(|errors| {
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })?;
    Ok(message)
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

    #[test]
    fn payloads_are_validated() {
        let ok = br#"{"seq":7,"stationId":"44009","timestamp":"2025-11-15T12:00:00Z","waveHeightM":1.2}"#;
        let message = parse_payload(ok).unwrap();
        assert_eq!(message.seq.map(|s| s.get()), Some(7));
        let no_seq = br#"{"stationId":"44009","timestamp":"2025-11-15T12:00:00Z"}"#;
        assert_eq!(parse_payload(no_seq).unwrap().seq, None);
        for bad in [
            &b"not json"[..],
            br#"{"seq":7}"#,
            br#"{"seq":0,"stationId":"44009","timestamp":"2025-11-15T12:00:00Z"}"#,
            br#"{"seq":7,"stationId":"bad id!","timestamp":"2025-11-15T12:00:00Z"}"#,
            br#"{"seq":7,"stationId":"44009","timestamp":"2025-11-15T12:00:00Z","windDirDeg":999}"#,
        ] {
            assert!(
                parse_payload(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let channel = Value::BulkString(CHANNEL.as_bytes().to_vec());
        assert!(matches!(
            decode_message(&[channel.clone(), Value::BulkString(ok.to_vec())]),
            BusEvent::Message(_)
        ));
        assert!(matches!(
            decode_message(&[channel, Value::Int(1)]),
            BusEvent::Invalid(_)
        ));
    }
}
