//! Measurements: per-thread histograms (merged at the end), per-client delivery tallies, and
//! process RSS / CPU time from `/proc`.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Largest value a histogram tracks, µs (one hour).
const MAX_US: u64 = 3_600_000_000;

/// The histograms of one thread.
#[derive(Debug)]
pub struct Hists {
    /// Delivery latency, µs (coordinated-omission corrected).
    pub latency: Histogram<u64>,
    /// Connect → first body byte, µs.
    pub connect: Histogram<u64>,
}

impl Hists {
    /// Empty histograms.
    pub fn new() -> Self {
        Self {
            latency: new_hist(),
            connect: new_hist(),
        }
    }

    /// Adds another set.
    pub fn merge(&mut self, other: &Self) {
        let _ = self.latency.add(&other.latency);
        let _ = self.connect.add(&other.connect);
    }
}

impl Default for Hists {
    fn default() -> Self {
        Self::new()
    }
}

/// A histogram of µs with 3 significant digits.
pub fn new_hist() -> Histogram<u64> {
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, MAX_US, 3).expect("constant, valid bounds")
}

static REGISTRY: Mutex<Vec<Arc<Mutex<Hists>>>> = Mutex::new(Vec::new());
/// Expected interval between events, µs, for coordinated-omission correction.
static INTERVAL_US: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static LOCAL: RefCell<Option<Arc<Mutex<Hists>>>> = const { RefCell::new(None) };
}

/// Sets the publish interval used by [`record_latency`].
pub fn set_interval_us(us: u64) {
    INTERVAL_US.store(us, Ordering::Relaxed);
}

fn with_local(f: impl FnOnce(&mut Hists)) {
    LOCAL.with(|cell| {
        let mut cell = cell.borrow_mut();
        let hists = cell.get_or_insert_with(|| {
            let h = Arc::new(Mutex::new(Hists::new()));
            REGISTRY
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(h.clone());
            h
        });
        f(&mut hists.lock().unwrap_or_else(PoisonError::into_inner));
    });
}

/// Records latencies (µs) measured on this thread, corrected for coordinated omission.
pub fn record_latencies(values: &[u64]) {
    let interval = INTERVAL_US.load(Ordering::Relaxed);
    with_local(|h| {
        for &v in values {
            let v = v.clamp(1, MAX_US);
            let _ = if interval > 0 {
                h.latency.record_correct(v, interval)
            } else {
                h.latency.record(v)
            };
        }
    });
}

/// Whether [`record_connect`] also keeps each connection's start and time (`--connect-log`).
static CONNECT_LOG_ON: AtomicBool = AtomicBool::new(false);
static CONNECT_LOG: Mutex<Vec<(u64, u64)>> = Mutex::new(Vec::new());

/// Keeps every connection's start and connect time from now on, for [`connect_log`].
pub fn keep_connect_log() {
    CONNECT_LOG_ON.store(true, Ordering::Relaxed);
}

/// The kept `(start µs since the epoch, connect µs)` pairs, in start order.
pub fn connect_log() -> Vec<(u64, u64)> {
    let mut log = std::mem::take(&mut *CONNECT_LOG.lock().unwrap_or_else(PoisonError::into_inner));
    log.sort_unstable();
    log
}

/// Records one connect time (µs) of a connection started at `start_us` (µs since the epoch).
pub fn record_connect(start_us: u64, us: u64) {
    with_local(|h| {
        let _ = h.connect.record(us.clamp(1, MAX_US));
    });
    if CONNECT_LOG_ON.load(Ordering::Relaxed) {
        CONNECT_LOG
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((start_us, us));
    }
}

/// All threads' histograms, merged.
pub fn merged() -> Hists {
    let mut all = Hists::new();
    for h in REGISTRY
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
    {
        all.merge(&h.lock().unwrap_or_else(PoisonError::into_inner));
    }
    all
}

/// Wall-clock µs since the epoch (comparable across processes on one machine).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// What one client received.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Keyed events received (with duplicates).
    pub received: u64,
    /// Events whose sequence number was received before.
    pub duplicates: u64,
    /// Events whose sequence number is below the highest one seen.
    pub out_of_order: u64,
    /// Highest sequence number seen.
    pub last: Option<u64>,
    /// Bit per sequence number seen.
    seen: Vec<u64>,
    /// Distinct sequence numbers seen.
    pub distinct: u64,
    /// Times the stream ended and was reopened.
    pub reconnects: u32,
    /// Whether the stream ended for good before the run did.
    pub ended: bool,
}

impl Tally {
    /// Accounts one keyed event.
    pub fn see(&mut self, seq: u64) {
        self.received += 1;
        if self.last.is_some_and(|l| seq < l) {
            self.out_of_order += 1;
        }
        self.last = Some(self.last.map_or(seq, |l| l.max(seq)));
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if word >= self.seen.len() {
            if word > 1 << 24 {
                return; // a sequence number far outside this run: counted, not tracked
            }
            self.seen.resize(word + 1, 0);
        }
        if self.seen[word] & (1 << bit) != 0 {
            self.duplicates += 1;
        } else {
            self.seen[word] |= 1 << bit;
            self.distinct += 1;
        }
    }

    /// Distinct sequence numbers below `n` seen.
    pub fn distinct_below(&self, n: u64) -> u64 {
        let full = (n / 64) as usize;
        let mut count: u64 = self
            .seen
            .iter()
            .take(full)
            .map(|w| u64::from(w.count_ones()))
            .sum();
        if let Some(w) = self.seen.get(full) {
            let mask = (1u64 << (n % 64)) - 1;
            count += u64::from((w & mask).count_ones());
        }
        count
    }
}

/// Percentiles of a histogram, in the histogram's unit divided by `scale`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Pcts {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

impl Pcts {
    /// Reads a histogram, dividing by `scale`.
    pub fn of(h: &Histogram<u64>, scale: f64) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            p50: h.value_at_quantile(0.5) as f64 / scale,
            p90: h.value_at_quantile(0.9) as f64 / scale,
            p99: h.value_at_quantile(0.99) as f64 / scale,
            p999: h.value_at_quantile(0.999) as f64 / scale,
            max: h.max() as f64 / scale,
        }
    }
}

/// A histogram's distribution as (percentile, value/scale) points, for plots.
pub fn curve(h: &Histogram<u64>, scale: f64) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut p = 0.0f64;
    // Dense towards the tail: 0, 10, …, 90, 91, …, 99, 99.1, …, 99.9, 99.91, …, 99.99, …
    for (step, until) in [
        (10.0, 90.0),
        (1.0, 99.0),
        (0.1, 99.9),
        (0.01, 99.99),
        (0.001, 99.999),
    ] {
        while p < until - 1e-9 {
            out.push((p, h.value_at_percentile(p) as f64 / scale));
            p += step;
        }
        p = until;
    }
    out.push((p, h.value_at_percentile(p) as f64 / scale));
    out.push((100.0, h.max() as f64 / scale));
    out
}

/// The histogram as (value, count) pairs (how a child process hands it to its parent).
pub fn dump(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    h.iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

/// Adds pairs from [`dump`] to a histogram.
pub fn load(h: &mut Histogram<u64>, pairs: &[(u64, u64)]) {
    for &(v, n) in pairs {
        let _ = h.record_n(v.clamp(1, MAX_US), n);
    }
}

/// Resident set size of a process, KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// User + system CPU time of a process, seconds (`/proc/<pid>/stat`, clock ticks of 1/100 s).
pub fn cpu_secs(pid: Option<u32>) -> Option<f64> {
    let path = pid.map_or_else(
        || "/proc/self/stat".to_owned(),
        |p| format!("/proc/{p}/stat"),
    );
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Sum of the RSS of several processes, KiB.
pub fn total_rss(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    Some(pids.iter().filter_map(|&p| rss_kib(p)).sum())
}

/// Sum of the CPU time of several processes, seconds.
pub fn total_cpu(pids: &[u32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    Some(pids.iter().filter_map(|&p| cpu_secs(Some(p))).sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_count_duplicates_gaps_and_disorder() {
        let mut t = Tally::default();
        for s in [0, 1, 2, 2, 5, 4, 70, 3] {
            t.see(s);
        }
        assert_eq!(
            (t.received, t.duplicates, t.out_of_order, t.distinct),
            (8, 1, 2, 7)
        );
        assert_eq!(t.distinct_below(6), 6);
        assert_eq!(t.distinct_below(80), 7);
        assert_eq!(t.distinct_below(0), 0);
    }

    #[test]
    fn own_process_is_visible() {
        assert!(rss_kib(std::process::id()).is_some_and(|k| k > 0));
        assert!(cpu_secs(None).is_some());
    }

    #[test]
    fn histograms_round_trip_through_dumps() {
        let mut h = new_hist();
        for v in [5, 50, 500, 5000] {
            h.record(v).unwrap();
        }
        let mut back = new_hist();
        load(&mut back, &dump(&h));
        assert_eq!(back.len(), 4);
        assert_eq!(back.max(), h.max());
        assert!(curve(&h, 1.0).last().is_some_and(|p| p.0 == 100.0));
    }
}
