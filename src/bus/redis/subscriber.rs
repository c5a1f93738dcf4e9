//! The subscriber connection: one subscription kept alive (reconnection, resubscription, the
//! PING watchdog that replaces a connection whose peer is gone), and the bounded hand-over of
//! its messages to the relay.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{PushInfo, PushKind};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use super::payload::{decode_message, is_channel};
use super::{
    CHANNEL, CONNECT_TIMEOUT, DEAD_AFTER_PINGS, MAX_RECONNECT_DELAY, PING_INTERVAL, PING_TIMEOUT,
};
use crate::bus::BusEvent;

/// Where the subscriber sends events: a bounded channel to the relay. When it is full,
/// messages are dropped and a [`BusEvent::Gap`] is sent as soon as there is room again.
pub(super) struct Output {
    /// To the relay; closed when the [`Subscription`] is dropped, which ends the subscriber.
    tx: mpsc::Sender<BusEvent>,
    /// Messages were dropped since the last event that got through.
    lagged: bool,
}

impl Output {
    pub(super) fn new(tx: mpsc::Sender<BusEvent>) -> Self {
        Self { tx, lagged: false }
    }

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

/// While Redis is down, every this many failed PINGs (one each [`super::PING_INTERVAL`] or
/// so) the subscriber logs where it is and why it cannot be reached.
const UNREACHABLE_LOG_EVERY: u32 = 5;

/// Waits between failed attempts to create the connection or to subscribe: the project's one
/// backoff policy, up to the manager's own longest reconnection delay.
const RETRY: crate::retry::Backoff =
    crate::retry::Backoff::new(Duration::from_millis(250), MAX_RECONNECT_DELAY);

/// The subscriber: keeps one subscription alive until the [`Subscription`] is dropped.
pub(super) async fn run_subscriber(
    client: redis::Client,
    connected: Arc<AtomicBool>,
    mut out: Output,
) {
    let mut first = true;
    let mut failures = 0;
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
                tracing::warn!(event = "redis_subscriber_error", text = %e, address = %super::address(&client), "cannot create the Redis subscriber; retrying");
                failures += 1;
                tokio::select! {
                    () = out.tx.closed() => return,
                    () = tokio::time::sleep(RETRY.delay(failures)) => continue,
                }
            }
        };
        let ended = Subscriber {
            manager,
            client: &client,
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
                tracing::error!(
                    event = "redis_subscriber_error",
                    text = "Redis stopped answering PINGs; opening a new connection",
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
    /// Where it connects, for messages naming the server and the cause of an outage.
    client: &'a redis::Client,
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
                            tracing::warn!(event = "redis_subscriber_error", text = "PING timed out", address = %super::address(self.client), failedPings = state.failed_pings, "Redis did not answer a PING");
                        } else if state.failed_pings % UNREACHABLE_LOG_EVERY == 1 {
                            // Down for a while: say where and why, now and then.
                            let address = super::address(self.client);
                            if let Err(cause) = super::probe(self.client, Duration::from_secs(1)).await {
                                tracing::error!(
                                    event = "redis_subscriber_error",
                                    text = %format!("Redis at {address} unreachable: {cause}; reconnecting"),
                                    address = %address,
                                    cause = %cause,
                                    failedPings = state.failed_pings,
                                    "Redis unreachable"
                                );
                            }
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
                tracing::error!(
                    event = "redis_subscriber_error",
                    text = "connection to Redis lost; reconnecting",
                    address = %super::address(self.client),
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
        let mut failures = 0;
        let mut waiting = tokio::time::interval_at(
            tokio::time::Instant::now() + Duration::from_secs(5),
            Duration::from_secs(5),
        );
        loop {
            let attempt = self.manager.subscribe(CHANNEL);
            tokio::select! {
                () = self.out.tx.closed() => return false,
                _ = waiting.tick() => {
                    let address = super::address(self.client);
                    let cause = super::probe(self.client, Duration::from_secs(1))
                        .await
                        .err()
                        .unwrap_or_else(|| "answering again; subscribing".to_owned());
                    tracing::error!(
                        event = "redis_subscriber_error",
                        text = %format!("Redis at {address} unreachable: {cause}; still trying to subscribe"),
                        address = %address,
                        cause = %cause,
                        "waiting for Redis"
                    );
                }
                result = attempt => match result {
                    Ok(()) => return true,
                    Err(e) => {
                        tracing::warn!(event = "redis_subscriber_error", text = %e, address = %super::address(self.client), "subscribing failed; retrying");
                        failures += 1;
                        tokio::select! {
                            () = self.out.tx.closed() => return false,
                            () = tokio::time::sleep(RETRY.delay(failures)) => {}
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
