//! The result of a run: a JSON document and a human-readable table.

use serde::{Deserialize, Serialize};

use crate::stats::Pcts;

/// Everything a run measured. Absent figures are `null` in JSON and `-` in the table.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Report {
    /// The run's name.
    pub label: String,
    /// `live`, `idle` or `resume`.
    pub mode: String,
    /// Clients asked for.
    pub clients: usize,
    /// Clients that received their first body byte.
    pub connected: usize,
    /// Clients that never did.
    pub failed: usize,
    /// Connect → first body byte, ms.
    pub connect_ms: Pcts,
    /// Events published successfully.
    pub published: u64,
    /// Publish requests that failed or got a non-2xx status.
    pub publish_errors: u64,
    /// Events per second asked for.
    pub offered_rate: f64,
    /// Events per second published (one publish in flight).
    pub achieved_rate: f64,
    /// Publish request round trip, ms.
    pub publish_ms: Pcts,
    /// Keyed events received, all clients.
    pub deliveries: u64,
    /// Published events × connected clients.
    pub expected_deliveries: u64,
    /// Deliveries per second, from the first publish to the last delivery.
    pub deliveries_per_s: f64,
    /// Publish send time → client receive time, ms, corrected for coordinated omission.
    pub latency_ms: Pcts,
    /// Latency distribution: (percentile, ms) points.
    pub latency_curve: Vec<(f64, f64)>,
    /// Published events some client did not receive, summed over clients.
    pub missing: u64,
    /// Events a client received twice.
    pub duplicates: u64,
    /// Events received after a higher sequence number.
    pub out_of_order: u64,
    /// Clients that missed at least one event.
    pub clients_with_loss: usize,
    /// Streams the server ended during the run (each reconnected with `Last-Event-ID`).
    pub disconnects: usize,
    /// Streams the clients closed themselves and reopened with `Last-Event-ID` (`--churn-every`).
    #[serde(default)]
    pub churns: u64,
    /// Server RSS before any client connected, KiB.
    pub rss_before_kib: Option<u64>,
    /// Server RSS with every client connected and idle, KiB.
    pub rss_connected_kib: Option<u64>,
    /// Highest server RSS while publishing, KiB.
    pub rss_peak_kib: Option<u64>,
    /// (connected RSS − RSS before) / connected clients, KiB.
    pub kib_per_conn: Option<f64>,
    /// Server CPU time from the first publish to the end of the drain, s.
    pub server_cpu_secs: Option<f64>,
    /// Server CPU µs per delivery.
    pub server_cpu_us_per_delivery: Option<f64>,
    /// Idle mode: server CPU µs per connection, from before the first connect to shortly after
    /// the last close (accept, request, first frames, hold, close).
    pub server_cpu_us_per_conn: Option<f64>,
    /// This process's CPU time over the same span, s.
    pub loadgen_cpu_secs: Option<f64>,
    /// Resume mode: connect → last missed event received, ms.
    pub resume_ms: Option<f64>,
    /// Resume mode: distinct missed events received.
    pub resumed_events: Option<u64>,
    /// First errors seen.
    pub errors: Vec<String>,
    /// Connect-time histogram as (µs, count) pairs (children hand it to their parent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connect_dump: Vec<(u64, u64)>,
    /// Delivery-latency histogram as (µs, count) pairs (children of a live run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latency_dump: Vec<(u64, u64)>,
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn pcts(p: &Pcts) -> String {
    if p.count == 0 {
        return "-".into();
    }
    format!(
        "{:.2} / {:.2} / {:.2} / {:.2} / {:.2}  (n={})",
        p.p50, p.p90, p.p99, p.p999, p.max, p.count
    )
}

impl Report {
    /// The report as an aligned two-column table.
    pub fn table(&self) -> String {
        let mut rows: Vec<(&str, String)> = vec![
            ("run", format!("{} ({})", self.label, self.mode)),
            (
                "clients connected / failed",
                format!("{} / {} of {}", self.connected, self.failed, self.clients),
            ),
            (
                "connect→first byte ms p50/p90/p99/p99.9/max",
                pcts(&self.connect_ms),
            ),
        ];
        if self.mode == "live" {
            rows.extend([
                (
                    "published (errors)",
                    format!("{} ({})", self.published, self.publish_errors),
                ),
                (
                    "events/s offered / achieved",
                    format!("{:.1} / {:.1}", self.offered_rate, self.achieved_rate),
                ),
                (
                    "publish RTT ms p50/p90/p99/p99.9/max",
                    pcts(&self.publish_ms),
                ),
                (
                    "deliveries / expected",
                    format!("{} / {}", self.deliveries, self.expected_deliveries),
                ),
                ("deliveries/s", format!("{:.0}", self.deliveries_per_s)),
                ("latency ms p50/p90/p99/p99.9/max", pcts(&self.latency_ms)),
                (
                    "missing / duplicate / out of order",
                    format!(
                        "{} / {} / {}",
                        self.missing, self.duplicates, self.out_of_order
                    ),
                ),
                (
                    "clients with loss / server disconnects",
                    format!("{} / {}", self.clients_with_loss, self.disconnects),
                ),
                ("client reconnections (churn)", self.churns.to_string()),
                ("server RSS peak KiB", opt(self.rss_peak_kib)),
                (
                    "server CPU s (µs/delivery)",
                    format!(
                        "{} ({})",
                        opt(self.server_cpu_secs.map(|v| format!("{v:.2}"))),
                        opt(self.server_cpu_us_per_delivery.map(|v| format!("{v:.2}")))
                    ),
                ),
                (
                    "loadgen CPU s",
                    opt(self.loadgen_cpu_secs.map(|v| format!("{v:.2}"))),
                ),
            ]);
        }
        if self.mode == "resume" {
            rows.extend([
                (
                    "resume ms (events)",
                    format!(
                        "{} ({})",
                        opt(self.resume_ms.map(|v| format!("{v:.1}"))),
                        opt(self.resumed_events)
                    ),
                ),
                (
                    "duplicate / out of order",
                    format!("{} / {}", self.duplicates, self.out_of_order),
                ),
            ]);
        }
        if self.mode == "idle" {
            rows.push(("server disconnects", self.disconnects.to_string()));
            if let Some(us) = self.server_cpu_us_per_conn {
                rows.push((
                    "server CPU µs per connection",
                    format!("{us:.1} (open, hold, close)"),
                ));
            }
        }
        rows.extend([
            (
                "server RSS before / connected KiB",
                format!(
                    "{} / {}",
                    opt(self.rss_before_kib),
                    opt(self.rss_connected_kib)
                ),
            ),
            (
                "server KiB per connection",
                opt(self.kib_per_conn.map(|v| format!("{v:.2}"))),
            ),
        ]);
        for e in &self.errors {
            rows.push(("error", e.clone()));
        }
        let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        rows.iter()
            .map(|(k, v)| format!("{k:<width$}  {v}\n"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_report_shows_the_servers_cpu_per_connection_when_it_was_measured() {
        let mut report = Report {
            mode: "idle".into(),
            connected: 2,
            ..Report::default()
        };
        assert!(!report.table().contains("server CPU µs per connection"));
        report.server_cpu_us_per_conn = Some(81.25);
        let table = report.table();
        let row = table
            .lines()
            .find(|l| l.starts_with("server CPU µs per connection"))
            .expect("the row");
        assert!(row.ends_with("81.2 (open, hold, close)"), "{row}");
    }
}
