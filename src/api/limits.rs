//! Stream limits: how many streams this server holds in total and per client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::metrics;

/// Why a stream was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The server holds its maximum of streams.
    Total(usize),
    /// This client address holds its maximum of streams.
    PerClient(usize),
}

/// Counts open streams against the limits.
#[derive(Debug)]
pub struct StreamLimiter {
    open: AtomicUsize,
    max: usize,
    /// Most streams of one client address; 0 = no per-client limit.
    per_client_max: usize,
    /// Open streams by client address (only addresses with at least one).
    per_client: Mutex<HashMap<IpAddr, usize>>,
}

impl StreamLimiter {
    /// A limiter allowing `max` open streams, `per_client_max` of them per address (0: no limit).
    pub fn new(max: usize, per_client_max: usize) -> Self {
        Self {
            open: AtomicUsize::new(0),
            max,
            per_client_max,
            per_client: Mutex::new(HashMap::new()),
        }
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// The total limit.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Takes a place for a stream of `client`, or says which limit refuses it.
    pub fn acquire(
        self: &Arc<Self>,
        client: IpAddr,
        request_id: &str,
    ) -> Result<StreamGuard, Refused> {
        if self.per_client_max > 0 {
            let mut map = self
                .per_client
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let n = map.entry(client).or_insert(0);
            if *n >= self.per_client_max {
                return Err(Refused::PerClient(self.per_client_max));
            }
            *n += 1;
        }
        let taken = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            });
        match taken {
            Ok(n) => Ok(StreamGuard {
                limiter: self.clone(),
                client,
                opened: Instant::now(),
                count: n + 1,
                request_id: request_id.to_owned(),
            }),
            Err(_) => {
                self.release_client(client);
                Err(Refused::Total(self.max))
            }
        }
    }

    fn release_client(&self, client: IpAddr) {
        if self.per_client_max == 0 {
            return;
        }
        let mut map = self
            .per_client
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = map.get_mut(&client) {
            *n -= 1;
            if *n == 0 {
                map.remove(&client);
            }
        }
    }
}

/// One open stream; dropping it releases its places and logs the disconnect.
#[derive(Debug)]
pub struct StreamGuard {
    limiter: Arc<StreamLimiter>,
    client: IpAddr,
    opened: Instant,
    /// Open streams right after this one opened (for the connect log).
    pub count: usize,
    /// The id of the request that opened the stream, for the disconnect log.
    pub request_id: String,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let left = self.limiter.open.fetch_sub(1, Ordering::AcqRel) - 1;
        self.limiter.release_client(self.client);
        let duration = self.opened.elapsed();
        metrics::hot()
            .connection_duration
            .record(duration.as_secs_f64());
        tracing::info!(
            event = "sse_client_disconnected",
            connectionCount = left,
            connectionDurationMs = duration.as_millis() as u64,
            requestId = self.request_id.as_str(),
            "stream closed"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_total_and_per_client_and_releases_on_drop() {
        let limiter = Arc::new(StreamLimiter::new(3, 2));
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        let a1 = limiter.acquire(a, "").unwrap();
        let _a2 = limiter.acquire(a, "").unwrap();
        assert_eq!(limiter.acquire(a, "").unwrap_err(), Refused::PerClient(2));
        let _b1 = limiter.acquire(b, "").unwrap();
        assert_eq!(limiter.acquire(b, "").unwrap_err(), Refused::Total(3));
        assert_eq!(limiter.open(), 3);
        drop(a1);
        assert_eq!(limiter.open(), 2);
        assert!(limiter.acquire(a, "").is_ok());
        // A refusal by the total limit does not leak a per-client place.
        let unlimited = Arc::new(StreamLimiter::new(1, 0));
        let _x = unlimited.acquire(a, "").unwrap();
        assert!(unlimited.acquire(a, "").is_err());
    }
}
