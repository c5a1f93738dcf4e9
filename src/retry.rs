//! The one retry policy: exponential backoff with jitter, capped.
//!
//! NDBC fetches, replayed store writes, bus publishes, the Redis subscriber, the hub's gap repair
//! and the OSC bridge's reconnections all wait between attempts through [`Backoff::delay`], so
//! every retry in the process grows and spreads the same way.

use std::time::Duration;

use rand::Rng;

/// Exponential backoff: `base · 2^(attempt-1)`, scaled by a random factor in `1 ± jitter`, never
/// more than `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay after the first failure (before jitter).
    pub base: Duration,
    /// Longest delay, jitter included.
    pub max: Duration,
    /// Spread of the random factor (0.5: the delay is 50–150 % of nominal), so that processes
    /// that failed together do not retry together.
    pub jitter: f64,
}

impl Backoff {
    /// A policy with ±50 % jitter.
    pub const fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            jitter: 0.5,
        }
    }

    /// The wait after failed attempt number `attempt` (1 for the first failure).
    pub fn delay(&self, attempt: u32) -> Duration {
        let nominal = self
            .base
            .saturating_mul(1 << attempt.saturating_sub(1).min(16));
        jitter(nominal, self.jitter).min(self.max)
    }
}

/// `d` scaled by a random factor in `1 ± spread`.
pub fn jitter(d: Duration, spread: f64) -> Duration {
    let spread = spread.clamp(0.0, 1.0);
    let factor = rand::rng().random_range((1.0 - spread)..=(1.0 + spread));
    d.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_jitter_within_bounds() {
        let policy = Backoff::new(Duration::from_secs(1), Duration::from_secs(3600));
        for attempt in 1..=3 {
            let d = policy.delay(attempt);
            let nominal = 1u64 << (attempt - 1);
            assert!(
                d >= Duration::from_millis(nominal * 500)
                    && d <= Duration::from_millis(nominal * 1500),
                "{d:?}"
            );
        }
    }

    #[test]
    fn delays_are_capped_however_many_attempts_failed() {
        let policy = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        for attempt in [7, 20, 64, u32::MAX] {
            assert!(policy.delay(attempt) <= Duration::from_secs(30));
        }
        assert!(
            policy.delay(0) <= Duration::from_millis(750),
            "attempt 0 is the first"
        );
    }
}
