//! The command line of `buoycast-loadgen`.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// The buoycast publish body: the sequence number and the send time ride in `stationId`
/// (`S<seq>T<µs since the epoch>`), so the same event can be sent to any server.
pub const DEFAULT_BODY: &str = r#"{"stationId":"S{seq}T{ts}","timestamp":"{iso}","waveHeightM":1.25,"windSpeedMps":7.5,"windDirDeg":240.0,"waterTempC":12.25,"pressureHpa":1013.5,"gustMps":9.5,"dominantWavePeriodS":8.0,"averageWavePeriodS":6.0,"meanWaveDirDeg":250.0,"airTempC":10.5}"#;

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Open the clients, then publish at a fixed rate and measure delivery.
    Live,
    /// Open the clients and hold them (connect time, memory per connection).
    Idle,
    /// Publish `--resume-events` while nobody listens, then time one client's catch-up with
    /// `Last-Event-ID`.
    Resume,
}

/// Opens many SSE connections on loopback, publishes at a fixed rate and measures delivery.
///
/// Every target must be a loopback address; every phase is bounded in count and time.
#[derive(Debug, Clone, Parser)]
#[command(name = "buoycast-loadgen", version)]
pub struct Args {
    /// What to measure.
    #[arg(long, value_enum, default_value_t = Mode::Live)]
    pub mode: Mode,
    /// Name of this run in the report.
    #[arg(long, default_value = "run")]
    pub label: String,
    /// Subscribe URL (an SSE endpoint on loopback).
    #[arg(long, default_value = "http://127.0.0.1:8080/v1/observations/stream")]
    pub url: String,
    /// CA certificate (PEM) that signed the server's certificate, for `https://` URLs (the
    /// clients then speak HTTP/1.1 over TLS; connect time includes the handshake).
    #[arg(long, value_name = "PEM")]
    pub tls_ca: Option<std::path::PathBuf>,
    /// Extra request header of every subscriber, `Name: value` (repeatable).
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// SSE connections to open.
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// New connections per second.
    #[arg(long, default_value_t = 2000.0)]
    pub connect_rate: f64,
    /// Source addresses to spread the connections over: 127.0.0.2, 127.0.0.3, …
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u8).range(1..=200))]
    pub source_addrs: u8,
    /// First source address used is 127.0.0.(2 + this) (for several processes).
    #[arg(long, default_value_t = 0)]
    pub source_offset: u8,
    /// Give up on connections not established (first body byte) after this many seconds.
    #[arg(long, default_value_t = 60.0)]
    pub connect_timeout_secs: f64,
    /// Times a client whose stream ends, or whose connection is refused, tries again (with
    /// `Last-Event-ID` once it has one).
    #[arg(long, default_value_t = 3)]
    pub reconnects: u32,
    /// Every Nth client (0: none) closes its stream by itself at intervals around
    /// `--churn-secs` (0.5× to 1.5×) and reopens it at once with `Last-Event-ID`, as a browser
    /// tab that reloads. These planned reconnections do not count against `--reconnects`.
    #[arg(long, default_value_t = 0)]
    pub churn_every: usize,
    /// Mean seconds between a churning client's reconnections.
    #[arg(long, default_value_t = 60.0)]
    pub churn_secs: f64,
    /// Every Nth client (0: none) is a slow reader: it pauses `--slow-pause-ms` after each
    /// read of at most 4 KiB, so events wait in the socket buffers between its reads.
    #[arg(long, default_value_t = 0)]
    pub slow_every: usize,
    /// A slow reader's pause after each read, ms.
    #[arg(long, default_value_t = 1000)]
    pub slow_pause_ms: u64,
    /// Publish URL (HTTP POST); with `--redis`, ignored.
    #[arg(long, default_value = "http://127.0.0.1:8080/v1/observations")]
    pub publish_url: String,
    /// Extra header of every publish request (repeatable), e.g. `Authorization: Bearer T`.
    #[arg(long = "publish-header")]
    pub publish_headers: Vec<String>,
    /// Publish body template: `{seq}` (sequence number), `{ts}` (send time, µs since the
    /// epoch), `{iso}` (send time, ISO 8601).
    #[arg(long, default_value = DEFAULT_BODY)]
    pub publish_body: String,
    /// Read the publish body template from this file instead.
    #[arg(long)]
    pub publish_body_file: Option<PathBuf>,
    /// Items per publish request while filling the log in `resume` mode (a JSON array when
    /// above 1; buoycast accepts up to 1000).
    #[arg(long, default_value_t = 1)]
    pub publish_batch: usize,
    /// Publish with Redis `PUBLISH` to this `HOST:PORT` instead of HTTP.
    #[arg(long)]
    pub redis: Option<String>,
    /// Redis channel.
    #[arg(long, default_value = "observations:new")]
    pub redis_channel: String,
    /// Events published per second (one publish in flight).
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Seconds of publishing.
    #[arg(long, default_value_t = 10.0)]
    pub duration_secs: f64,
    /// Seconds between the last connection and the first publish.
    #[arg(long, default_value_t = 2.0)]
    pub warmup_secs: f64,
    /// Seconds given to deliveries after the last publish.
    #[arg(long, default_value_t = 5.0)]
    pub drain_secs: f64,
    /// Seconds idle clients are held (idle mode), at most.
    #[arg(long, default_value_t = 5.0)]
    pub hold_secs: f64,
    /// Events published before the resuming client connects (resume mode).
    #[arg(long, default_value_t = 10_000)]
    pub resume_events: u64,
    /// What carries an event's sequence number: a JSON field of the data (its first run of
    /// digits) or `@id` for the SSE id.
    #[arg(long, default_value = "stationId")]
    pub seq_field: String,
    /// JSON field of the data carrying the send time in µs since the epoch (its last run of
    /// digits).
    #[arg(long, default_value = "stationId")]
    pub ts_field: String,
    /// Server process(es) whose RSS and CPU time are reported (repeatable).
    #[arg(long)]
    pub server_pid: Vec<u32>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write every connection's start (µs since the epoch) and connect → first byte time (µs)
    /// to this file, one `start,micros` line each (single-process runs): shows whether slow
    /// connections come together in time (a stall) or alone.
    #[arg(long)]
    pub connect_log: Option<PathBuf>,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Split the clients over this many processes (idle and live modes; each process may open
    /// at most ~19,900 files here). In live mode this process publishes and the children
    /// check the deliveries.
    #[arg(long, default_value_t = 1)]
    pub procs: usize,
    /// Internal: run as a child of a multi-process run.
    #[arg(long, hide = true)]
    pub child: bool,
}
