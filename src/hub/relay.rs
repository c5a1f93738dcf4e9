//! The relay: takes bus messages to the hub in seq order, repairing gaps from the store.
//!
//! Architecture Invariant: the hub sees stored observations in strictly increasing seq order, and
//! every seq the store has is broadcast once — a missing or lagging bus message is fetched from
//! the store before anything after it is broadcast, and every few seconds the relay checks the
//! store's head, so a lost last message is not held back until the next one.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::{Frame, Hub};
use crate::bus::{BusEvent, Subscription};
use crate::domain::{KindSet, Seq};
use crate::retry::Backoff;
use crate::store::{AfterQuery, Store};

/// How often the relay compares its position with the store's head.
const AUDIT_EVERY: Duration = Duration::from_secs(5);
/// Rows fetched per repair query.
const REPAIR_PAGE: u32 = 1000;
/// Waits between failed repair reads: 100 ms doubling to 5 s, with the process's jitter.
const REPAIR_RETRY: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));

/// Runs until cancelled or until the subscription ends.
pub async fn run_relay(
    hub: Arc<Hub>,
    store: Arc<dyn Store>,
    mut subscription: Subscription,
    cancel: CancellationToken,
) {
    let mut last = hub.last_seq();
    let mut audit = tokio::time::interval(AUDIT_EVERY);
    audit.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let event = tokio::select! {
            () = cancel.cancelled() => return,
            event = subscription.next() => match event {
                Some(event) => event,
                None => return,
            },
            _ = audit.tick() => match store.max_seq().await {
                // A publish that was lost while the bus stayed up, with nothing published
                // after it to reveal the gap: the store has it, so repair now.
                Ok(head) if head > last => BusEvent::Gap,
                _ => continue,
            },
        };
        match event {
            BusEvent::Message(message) => {
                metrics::counter!("bus_messages_received_total").increment(1);
                let Some(seq) = message.seq else {
                    // From a producer that did not store it: broadcast, without an id.
                    hub.broadcast(Frame::entry(None, &message.entry));
                    continue;
                };
                if seq <= last {
                    continue; // already broadcast (from a repair, or a duplicate publish)
                }
                if seq > last.next() {
                    metrics::counter!("bus_gaps_total").increment(1);
                    let until = Some(Seq::new(seq.get() - 1));
                    if repair(&hub, store.as_ref(), last, until, &cancel)
                        .await
                        .is_none()
                    {
                        return;
                    }
                }
                hub.broadcast(Frame::entry(Some(seq), &message.entry));
                last = seq;
            }
            BusEvent::Gap => {
                metrics::counter!("bus_gaps_total").increment(1);
                tracing::info!(event = "bus_gap", after = %last, "bus may have lost messages; repairing from the store");
                match repair(&hub, store.as_ref(), last, None, &cancel).await {
                    Some(repaired) => last = repaired,
                    None => return,
                }
            }
            BusEvent::Invalid(reason) => {
                metrics::counter!("bus_invalid_messages_total").increment(1);
                tracing::warn!(event = "bus_message_invalid", reason = %reason, "invalid bus message skipped");
            }
        }
    }
}

/// Broadcasts every stored entry (of every kind) after `after` (up to `until`), retrying the store until it
/// answers. Returns the new position, or `None` when cancelled.
async fn repair(
    hub: &Hub,
    store: &dyn Store,
    after: Seq,
    until: Option<Seq>,
    cancel: &CancellationToken,
) -> Option<Seq> {
    let mut last = after;
    let mut failures = 0;
    loop {
        let query = AfterQuery {
            after: last,
            until,
            limit: REPAIR_PAGE,
            // Every kind: the relay's position is in the whole log.
            kinds: KindSet::ALL,
            ..AfterQuery::default()
        };
        let page = tokio::select! {
            () = cancel.cancelled() => return None,
            page = store.entries_after(&query) => page,
        };
        match page {
            Ok(page) => {
                failures = 0;
                let full = page.len() == REPAIR_PAGE as usize;
                metrics::counter!("bus_gap_events_repaired_total").increment(page.len() as u64);
                for stored in page {
                    last = stored.seq;
                    hub.broadcast(Frame::entry(Some(stored.seq), &stored.entry));
                }
                if !full {
                    return Some(until.map_or(last, |u| u.max(last)));
                }
            }
            Err(e) => {
                tracing::warn!(event = "gap_repair_failed", error = %e, "store unavailable during gap repair; retrying");
                failures += 1;
                tokio::select! {
                    () = cancel.cancelled() => return None,
                    () = tokio::time::sleep(REPAIR_RETRY.delay(failures)) => {}
                }
            }
        }
    }
}
