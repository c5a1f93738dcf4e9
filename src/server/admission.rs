//! Which connections the front door takes: a total cap below the open-file limit, a cap per
//! client address, and room for new requests under a flood of idle sockets.
//!
//! A connection that has not finished its first request head is *waiting*, and so is a
//! keep-alive connection between two requests (no request in flight). When the total cap is
//! reached, a new connection is still accepted and the connection that has waited longest is
//! closed to make room: a flood of silent, slow or idle keep-alive sockets can hold places only
//! until real requests arrive, so `/health`, streams and REST reads keep working. Only when
//! every place holds a request in flight (or an open stream) is a new one refused.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its address already holds the most connections one address may.
    PerAddress,
    /// Every place holds a connection that has sent a request.
    Full,
}

impl Refusal {
    /// Metric label.
    pub fn code(self) -> &'static str {
        match self {
            Self::PerAddress => "per_address",
            Self::Full => "full",
        }
    }
}

/// The connection caps.
#[derive(Debug, Clone)]
pub struct Admission {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Most connections open at once.
    max_total: usize,
    /// Most connections of one client address (0: no cap).
    max_per_address: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    open: usize,
    per_address: HashMap<IpAddr, usize>,
    /// Connections waiting (for their first request head, or idle between requests), longest
    /// waiting first, by the number given when they began to wait: closing one cancels its
    /// token.
    waiting: BTreeMap<u64, CancellationToken>,
    next: u64,
}

impl Admission {
    /// Caps at `max_total` connections, `max_per_address` per address (0: none).
    pub fn new(max_total: usize, max_per_address: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                max_total: max_total.max(1),
                max_per_address,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Most connections open at once.
    pub fn max_total(&self) -> usize {
        self.inner.max_total
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().open
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a new connection from `address`, closing the longest-waiting connection when the
    /// total cap is reached. The place is held until the returned ticket drops; the connection
    /// counts as waiting until [`Ticket::request_started`]. A trusted proxy (`proxy`) carries
    /// many clients: the per-address cap does not apply to it (the per-client stream cap then
    /// counts the client it names).
    pub fn admit(&self, address: IpAddr, proxy: bool) -> Result<Ticket, Refusal> {
        let mut state = self.lock();
        let capped = self.inner.max_per_address > 0 && !proxy;
        if capped
            && state.per_address.get(&address).copied().unwrap_or(0) >= self.inner.max_per_address
        {
            return Err(Refusal::PerAddress);
        }
        if state.open >= self.inner.max_total {
            // The connection that has waited longest (for its first request, or idle between
            // two) makes room; its place frees when its task sees the token and ends (at once:
            // it has no request in flight).
            match state.waiting.pop_first() {
                Some((_, idle)) => {
                    idle.cancel();
                    metrics::counter!("http_connections_evicted_total").increment(1);
                }
                None => return Err(Refusal::Full),
            }
        }
        state.open += 1;
        if capped {
            *state.per_address.entry(address).or_insert(0) += 1;
        }
        let id = state.next;
        state.next += 1;
        let evicted = CancellationToken::new();
        state.waiting.insert(id, evicted.clone());
        Ok(Ticket {
            admission: self.clone(),
            address: capped.then_some(address),
            id,
            evicted: Some(evicted),
        })
    }
}

/// A connection's place; released on drop.
#[derive(Debug)]
pub struct Ticket {
    admission: Admission,
    /// The address whose connections it counts in (`None`: not counted, no per-address cap).
    address: Option<IpAddr>,
    id: u64,
    /// Cancelled to close the connection while it waits; dropped once its request started, so
    /// that an open stream holds nothing but its place.
    evicted: Option<CancellationToken>,
}

impl Ticket {
    /// Cancelled when the connection is closed to make room; `None` once its request started.
    pub fn evicted(&self) -> Option<&CancellationToken> {
        self.evicted.as_ref()
    }

    /// The connection has sent a complete request head: it no longer makes room for others.
    pub fn request_started(&mut self) {
        if self.evicted.take().is_some() {
            self.admission.lock().waiting.remove(&self.id);
        }
    }

    /// A keep-alive connection has no request in flight: it waits again (the newest of those
    /// waiting) and may be closed to make room, until its next request starts. Nothing if it
    /// is waiting already.
    pub fn waiting_again(&mut self) {
        if self.evicted.is_some() {
            return;
        }
        let token = CancellationToken::new();
        let mut state = self.admission.lock();
        self.id = state.next;
        state.next += 1;
        state.waiting.insert(self.id, token.clone());
        self.evicted = Some(token);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut state = self.admission.lock();
        state.open = state.open.saturating_sub(1);
        state.waiting.remove(&self.id);
        if let Some(address) = self.address
            && let Some(n) = state.per_address.get_mut(&address)
        {
            *n -= 1;
            if *n == 0 {
                state.per_address.remove(&address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn a_full_house_closes_the_oldest_waiting_connection() {
        let admission = Admission::new(3, 0);
        let mut a = admission.admit(ip(1), false).expect("a");
        let b = admission.admit(ip(1), false).expect("b");
        let mut c = admission.admit(ip(1), false).expect("c");
        a.request_started();
        assert!(a.evicted().is_none(), "a started request holds no token");
        // Full: b is the oldest still waiting, so it makes room.
        let mut d = admission.admit(ip(2), false).expect("d");
        assert!(b.evicted().expect("waiting").is_cancelled());
        assert!(!c.evicted().expect("waiting").is_cancelled());
        drop(b);
        assert_eq!(admission.open(), 3);
        c.request_started();
        d.request_started();
        // Every place holds a request now: refused.
        assert_eq!(admission.admit(ip(3), false).err(), Some(Refusal::Full));
        drop(a);
        assert!(admission.admit(ip(3), false).is_ok());
    }

    #[test]
    fn an_idle_keep_alive_connection_makes_room_and_a_busy_one_does_not() {
        let admission = Admission::new(2, 0);
        let mut a = admission.admit(ip(1), false).expect("a");
        let mut b = admission.admit(ip(1), false).expect("b");
        a.request_started();
        b.request_started();
        // b answered its request and idles; a's request is still in flight.
        b.waiting_again();
        b.waiting_again(); // no second place in the queue
        let mut c = admission
            .admit(ip(2), false)
            .expect("the idle connection makes room");
        assert!(b.evicted().expect("waiting").is_cancelled());
        assert!(a.evicted().is_none());
        drop(b);
        // a idles, then its next request starts before anyone needs its place.
        a.waiting_again();
        a.request_started();
        c.request_started();
        assert_eq!(admission.admit(ip(3), false).err(), Some(Refusal::Full));
        // The longest waiting goes first: c idled before a.
        c.waiting_again();
        a.waiting_again();
        let _d = admission.admit(ip(3), false).expect("d");
        assert!(c.evicted().expect("waiting").is_cancelled());
        assert!(!a.evicted().expect("waiting").is_cancelled());
    }

    #[test]
    fn one_address_holds_at_most_its_share() {
        let admission = Admission::new(100, 2);
        let first = admission.admit(ip(1), false).expect("first");
        let _second = admission.admit(ip(1), false).expect("second");
        assert_eq!(
            admission.admit(ip(1), false).err(),
            Some(Refusal::PerAddress)
        );
        assert!(
            admission.admit(ip(2), false).is_ok(),
            "other addresses are not affected"
        );
        drop(first);
        assert!(
            admission.admit(ip(1), false).is_ok(),
            "a place of its own freed"
        );
        // A trusted proxy is not held to one address's share.
        let proxied: Vec<_> = (0..5)
            .map(|_| admission.admit(ip(9), true).expect("through the proxy"))
            .collect();
        assert_eq!(admission.open(), 6, "the second, and the proxy's five");
        drop(proxied);
        assert_eq!(admission.open(), 1);
    }
}
