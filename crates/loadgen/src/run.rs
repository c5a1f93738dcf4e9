//! The three kinds of run (live, idle, resume), each bounded in count and time.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::args::{Args, Mode};
use crate::client::{self, Shared, Target};
use crate::http::{Url, loopback_addr};
use crate::publish::{Publisher, fill};
use crate::report::Report;
use crate::sse::Key;
use crate::stats::{self, Pcts, Tally};
use crate::tls::Tls;

/// Runs what the arguments ask for.
pub async fn run(args: Args) -> anyhow::Result<Report> {
    match args.mode {
        Mode::Live if args.procs > 1 && !args.child => live_multi(&args).await,
        Mode::Live => live(&args).await,
        Mode::Idle if args.procs > 1 && !args.child => idle_multi(&args).await,
        Mode::Idle => idle(&args).await,
        Mode::Resume => resume(&args).await,
    }
}

fn target(args: &Args) -> anyhow::Result<Arc<Target>> {
    let url = Url::parse(&args.url)?;
    let sources: Vec<IpAddr> = if url.addr.is_ipv6() {
        vec![IpAddr::from(std::net::Ipv6Addr::LOCALHOST)]
    } else {
        (0..args.source_addrs)
            .map(|i| {
                let host = 2u16 + u16::from(args.source_offset) + u16::from(i);
                let host = u8::try_from(host.min(254)).unwrap_or(254);
                IpAddr::V4(Ipv4Addr::new(127, 0, 0, host))
            })
            .collect()
    };
    let tls = tls(args)?;
    let mut target = Target::new(
        url,
        tls,
        &args.headers,
        Key::parse(&args.seq_field),
        Key::parse(&args.ts_field),
        sources,
        secs(args.connect_timeout_secs),
        args.reconnects,
    );
    target.churn = (args.churn_every > 0).then(|| (args.churn_every, secs(args.churn_secs)));
    target.slow = (args.slow_every > 0).then(|| {
        (
            args.slow_every,
            Duration::from_millis(args.slow_pause_ms.min(60_000)),
        )
    });
    Ok(Arc::new(target))
}

/// The TLS client configuration, when `--tls-ca` is given.
fn tls(args: &Args) -> anyhow::Result<Option<Tls>> {
    args.tls_ca.as_deref().map(Tls::trusting).transpose()
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.0, 86_400.0))
}

fn template(args: &Args) -> anyhow::Result<String> {
    match &args.publish_body_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))
            .map(|s| s.trim_end_matches('\n').to_owned()),
        None => Ok(args.publish_body.clone()),
    }
}

fn publisher(args: &Args) -> anyhow::Result<Publisher> {
    Ok(match &args.redis {
        Some(addr) => Publisher::redis(loopback_addr(addr, 6379)?, args.redis_channel.clone()),
        None => Publisher::http(
            Url::parse(&args.publish_url)?,
            args.publish_headers.clone(),
            tls(args)?,
        ),
    })
}

/// Clients being opened at the connect rate.
struct Clients {
    handles: Vec<JoinHandle<Tally>>,
    stop: watch::Sender<bool>,
}

/// Opens `n` clients at `rate` per second and waits (bounded) until each has connected or failed.
async fn open_clients(
    args: &Args,
    target: &Arc<Target>,
    shared: &Arc<Shared>,
    n: usize,
    resume_from: Option<Vec<u8>>,
) -> Clients {
    let (stop, stop_rx) = watch::channel(false);
    let rate = args.connect_rate.max(1.0);
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate)).await;
        let (target, shared, stop_rx, from) = (
            target.clone(),
            shared.clone(),
            stop_rx.clone(),
            resume_from.clone(),
        );
        handles.push(tokio::spawn(async move {
            client::run(i, &target, &shared, stop_rx, from).await
        }));
    }
    let deadline = Instant::now() + secs(args.connect_timeout_secs) + Duration::from_secs(1);
    while shared.connected.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed) < n
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Clients { handles, stop }
}

/// Stops the clients and collects their tallies (bounded).
async fn close_clients(clients: Clients) -> Vec<Tally> {
    let _ = clients.stop.send(true);
    let mut tallies = Vec::with_capacity(clients.handles.len());
    let deadline = Instant::now() + Duration::from_secs(15);
    for h in clients.handles {
        if let Ok(Ok(t)) = tokio::time::timeout_at(deadline, h).await {
            tallies.push(t);
        }
    }
    tallies
}

fn base_report(args: &Args, shared: &Shared) -> Report {
    Report {
        label: args.label.clone(),
        mode: format!("{:?}", args.mode).to_lowercase(),
        clients: args.clients,
        connected: shared.connected.load(Ordering::Relaxed),
        failed: shared.failed.load(Ordering::Relaxed),
        errors: shared.errors.lock().map(|e| e.clone()).unwrap_or_default(),
        ..Report::default()
    }
}

/// What a live run watches while it publishes: the servers' RSS every 250 ms (keeping the
/// highest), and the servers' and this process's CPU from start to finish.
struct PublishWatch {
    stop: watch::Sender<bool>,
    peak: Arc<AtomicU64>,
    sampler: JoinHandle<()>,
    cpu0: (Option<f64>, Option<f64>),
}

impl PublishWatch {
    fn start(args: &Args) -> Self {
        let (stop, stopped) = watch::channel(false);
        let peak = Arc::new(AtomicU64::new(0));
        let (pids, p) = (args.server_pid.clone(), peak.clone());
        let sampler = tokio::spawn(async move {
            // Bounded: ends on stop, or after one hour at the latest.
            for _ in 0..14_400 {
                if *stopped.borrow() {
                    break;
                }
                if let Some(rss) = stats::total_rss(&pids) {
                    p.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        Self {
            stop,
            peak,
            sampler,
            cpu0: cpu_now(args),
        }
    }

    /// Stops watching once the deliveries are counted, and writes the memory and CPU figures
    /// (per connection and per delivery, so `connected` and `deliveries` must be final).
    async fn finish(
        self,
        args: &Args,
        report: &mut Report,
        rss_before: Option<u64>,
        rss_connected: Option<u64>,
    ) {
        let cpu1 = cpu_now(args);
        let _ = self.stop.send(true);
        let _ = self.sampler.await;
        report.rss_before_kib = rss_before;
        report.rss_connected_kib = rss_connected;
        report.rss_peak_kib = Some(self.peak.load(Ordering::Relaxed)).filter(|&p| p > 0);
        report.kib_per_conn = per_conn(rss_before, rss_connected, report.connected);
        if let (Some(a), Some(b)) = (self.cpu0.0, cpu1.0) {
            report.server_cpu_secs = Some(b - a);
            if report.deliveries > 0 {
                report.server_cpu_us_per_delivery = Some((b - a) * 1e6 / report.deliveries as f64);
            }
        }
        if let (Some(a), Some(b)) = (self.cpu0.1, cpu1.1) {
            report.loadgen_cpu_secs = Some(b - a);
        }
    }
}

/// The servers' CPU seconds and this process's.
fn cpu_now(args: &Args) -> (Option<f64>, Option<f64>) {
    (stats::total_cpu(&args.server_pid), stats::cpu_secs(None))
}

/// What the publishing phase of a live run did.
struct Published {
    published: u64,
    errors: u64,
    /// Sequence numbers tried (`0..attempted`), published or not.
    attempted: u64,
    first_error: Option<String>,
    hist: hdrhistogram::Histogram<u64>,
    start_wall: u64,
    secs: f64,
}

/// Publishes at `rate` for the run's duration (one publish in flight).
async fn publish_all(args: &Args, rate: f64) -> anyhow::Result<Published> {
    let template = template(args)?;
    let mut publisher = publisher(args)?;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let count = (rate * args.duration_secs.max(0.0)).round() as u64;
    let start = Instant::now();
    let start_wall = stats::now_us();
    // A publisher slower than the rate stops at the end of the window plus a grace period.
    let hard_stop = start + secs(args.duration_secs * 1.25 + 5.0);
    let mut out = Published {
        published: 0,
        errors: 0,
        attempted: 0,
        first_error: None,
        hist: stats::new_hist(),
        start_wall,
        secs: 0.0,
    };
    for seq in 0..count {
        let due = start + interval.mul_f64(seq as f64);
        tokio::time::sleep_until(due).await;
        if Instant::now() > hard_stop {
            break;
        }
        let body = fill(&template, seq, stats::now_us());
        let sent = Instant::now();
        out.attempted = seq + 1;
        match publisher.send(body.as_bytes()).await {
            Ok(status) if (200..300).contains(&status) => {
                out.published += 1;
                let _ = out.hist.record((sent.elapsed().as_micros() as u64).max(1));
            }
            Ok(status) => {
                out.errors += 1;
                out.first_error
                    .get_or_insert(format!("publish: status {status}"));
            }
            Err(e) => {
                out.errors += 1;
                out.first_error.get_or_insert(format!("publish: {e:#}"));
            }
        }
    }
    out.secs = start.elapsed().as_secs_f64();
    Ok(out)
}

/// The clients' side of a live run once publishing is over: waits (at most the drain time) for
/// every delivery, closes the clients and counts loss, repeats and order.
async fn drain_and_count(
    args: &Args,
    shared: &Shared,
    clients: Clients,
    published: u64,
    attempted: u64,
    report: &mut Report,
) {
    let expected = published * shared.connected.load(Ordering::Relaxed) as u64;
    let drain_end = Instant::now() + secs(args.drain_secs);
    while shared.distinct.load(Ordering::Relaxed) < expected && Instant::now() < drain_end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let tallies = close_clients(clients).await;
    report.deliveries = shared.deliveries.load(Ordering::Relaxed);
    report.expected_deliveries = expected;
    for t in &tallies {
        let missing = published.saturating_sub(t.distinct_below(attempted));
        report.missing += missing;
        report.clients_with_loss += usize::from(missing > 0);
        report.duplicates += t.duplicates;
        report.out_of_order += t.out_of_order;
    }
    report.disconnects = shared.disconnects.load(Ordering::Relaxed);
    report.churns = shared.churns.load(Ordering::Relaxed);
}

async fn live(args: &Args) -> anyhow::Result<Report> {
    let target = target(args)?;
    let shared = Arc::new(Shared::default());
    let rate = args.rate.clamp(0.001, 1_000_000.0);
    stats::set_interval_us(Duration::from_secs_f64(1.0 / rate).as_micros() as u64);

    let rss_before = stats::total_rss(&args.server_pid);
    let clients = open_clients(args, &target, &shared, args.clients, None).await;
    if args.child {
        return live_child(args, &shared, clients).await;
    }
    let rss_connected = stats::total_rss(&args.server_pid);
    tokio::time::sleep(secs(args.warmup_secs)).await;

    let watching = PublishWatch::start(args);
    let run = publish_all(args, rate).await?;
    let mut report = base_report(args, &shared);
    drain_and_count(
        args,
        &shared,
        clients,
        run.published,
        run.attempted,
        &mut report,
    )
    .await;
    watching
        .finish(args, &mut report, rss_before, rss_connected)
        .await;

    let hists = stats::merged();
    report.connect_ms = Pcts::of(&hists.connect, 1000.0);
    report.latency_ms = Pcts::of(&hists.latency, 1000.0);
    report.latency_curve = stats::curve(&hists.latency, 1000.0);
    finish_live(
        &mut report,
        &run,
        rate,
        shared.last_delivery_us.load(Ordering::Relaxed),
    );
    Ok(report)
}

/// The publishing figures of a live run, and the delivery rate over its span.
fn finish_live(report: &mut Report, run: &Published, rate: f64, last_delivery_us: u64) {
    report.published = run.published;
    report.publish_errors = run.errors;
    report.offered_rate = rate;
    report.achieved_rate = run.published as f64 / run.secs.max(1e-9);
    report.publish_ms = Pcts::of(&run.hist, 1000.0);
    let span = (last_delivery_us.saturating_sub(run.start_wall) as f64 / 1e6).max(run.secs);
    report.deliveries_per_s = report.deliveries as f64 / span.max(1e-9);
    if let Some(e) = &run.first_error {
        report.errors.push(e.clone());
    }
}

/// A child of a multi-process live run: once its clients are open it says `READY`, waits for
/// the parent's `PUBLISHED <published> <attempted>` line, then drains and reports.
async fn live_child(args: &Args, shared: &Shared, clients: Clients) -> anyhow::Result<Report> {
    println!("READY {}", shared.connected.load(Ordering::Relaxed));
    let mut line = String::new();
    let mut stdin = BufReader::new(tokio::io::stdin());
    let limit = secs(args.warmup_secs + args.duration_secs * 1.25 + 120.0);
    tokio::time::timeout(limit, stdin.read_line(&mut line))
        .await
        .context("waiting for the parent's PUBLISHED line")??;
    let mut words = line.split_whitespace().skip(1).map(str::parse::<u64>);
    let (Some(Ok(published)), Some(Ok(attempted))) = (words.next(), words.next()) else {
        bail!("the parent sent {line:?}, not `PUBLISHED <published> <attempted>`");
    };
    let mut report = base_report(args, shared);
    drain_and_count(args, shared, clients, published, attempted, &mut report).await;
    report.published = published;
    let hists = stats::merged();
    report.connect_dump = stats::dump(&hists.connect);
    report.latency_dump = stats::dump(&hists.latency);
    report.deliveries_per_s = shared.last_delivery_us.load(Ordering::Relaxed) as f64;
    Ok(report)
}

/// Live mode over several processes (one process holds ~19,900 connections here): each child
/// opens its share of the clients from its own block of source addresses and checks every
/// event on each; this process publishes and adds up the children's counts.
async fn live_multi(args: &Args) -> anyhow::Result<Report> {
    let rate = args.rate.clamp(0.001, 1_000_000.0);
    let rss_before = stats::total_rss(&args.server_pid);
    let (mut children, mut lines) = start_children(args, "live").await?;
    let rss_connected = stats::total_rss(&args.server_pid);
    tokio::time::sleep(secs(args.warmup_secs)).await;

    let watching = PublishWatch::start(args);
    let run = publish_all(args, rate).await?;
    let said = format!("PUBLISHED {} {}\n", run.published, run.attempted);
    for child in &mut children {
        if let Some(stdin) = child.stdin.as_mut() {
            use tokio::io::AsyncWriteExt;
            stdin
                .write_all(said.as_bytes())
                .await
                .context("telling a child")?;
        }
    }
    let mut report = Report {
        label: args.label.clone(),
        mode: "live".into(),
        clients: args.clients,
        ..Report::default()
    };
    let (mut connect, mut latency) = (stats::new_hist(), stats::new_hist());
    let mut last_delivery_us = 0u64;
    for l in &mut lines {
        while let Ok(Ok(Some(line))) =
            tokio::time::timeout(secs(args.drain_secs + 60.0), l.next_line()).await
        {
            if let Some(json) = line.strip_prefix("REPORT ") {
                let child: Report = serde_json::from_str(json).context("child report")?;
                report.connected += child.connected;
                report.failed += child.failed;
                report.deliveries += child.deliveries;
                report.expected_deliveries += child.expected_deliveries;
                report.missing += child.missing;
                report.clients_with_loss += child.clients_with_loss;
                report.duplicates += child.duplicates;
                report.out_of_order += child.out_of_order;
                report.disconnects += child.disconnects;
                report.errors.extend(child.errors.into_iter().take(3));
                stats::load(&mut connect, &child.connect_dump);
                stats::load(&mut latency, &child.latency_dump);
                last_delivery_us = last_delivery_us.max(child.deliveries_per_s as u64);
            }
        }
    }
    // The children's own CPU is not this process's: the load generator's figure is the
    // publisher's only.
    watching
        .finish(args, &mut report, rss_before, rss_connected)
        .await;
    for child in &mut children {
        let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    }
    report.connect_ms = Pcts::of(&connect, 1000.0);
    report.latency_ms = Pcts::of(&latency, 1000.0);
    report.latency_curve = stats::curve(&latency, 1000.0);
    finish_live(&mut report, &run, rate, last_delivery_us);
    Ok(report)
}

fn per_conn(before: Option<u64>, after: Option<u64>, n: usize) -> Option<f64> {
    match (before, after) {
        (Some(b), Some(a)) if n > 0 => Some(a.saturating_sub(b) as f64 / n as f64),
        _ => None,
    }
}

async fn idle(args: &Args) -> anyhow::Result<Report> {
    let target = target(args)?;
    let shared = Arc::new(Shared::default());
    let rss_before = stats::total_rss(&args.server_pid);
    let cpu_before = stats::total_cpu(&args.server_pid);
    let clients = open_clients(args, &target, &shared, args.clients, None).await;
    if args.child {
        // Tell the parent, then hold until it closes our stdin (bounded by the hold time).
        println!("READY {}", shared.connected.load(Ordering::Relaxed));
        let mut stdin = tokio::io::stdin();
        let mut sink = [0u8; 64];
        let _ = tokio::time::timeout(secs(args.hold_secs), async {
            while matches!(stdin.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
    } else {
        tokio::time::sleep(Duration::from_secs(1).min(secs(args.hold_secs))).await;
    }
    let rss_connected = stats::total_rss(&args.server_pid);
    if !args.child {
        tokio::time::sleep(secs(args.hold_secs).saturating_sub(Duration::from_secs(1))).await;
    }
    let _ = close_clients(clients).await;
    let mut report = base_report(args, &shared);
    if !args.child
        && let Some(before) = cpu_before
    {
        // The server's side of the closes lands just after the clients' own.
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Some(after) = stats::total_cpu(&args.server_pid)
            && report.connected > 0
        {
            report.server_cpu_us_per_conn = Some((after - before) * 1e6 / report.connected as f64);
        }
    }
    report.disconnects = shared.disconnects.load(Ordering::Relaxed);
    let hists = stats::merged();
    report.connect_ms = Pcts::of(&hists.connect, 1000.0);
    if args.child {
        report.connect_dump = stats::dump(&hists.connect);
    }
    report.rss_before_kib = rss_before;
    report.rss_connected_kib = rss_connected;
    report.kib_per_conn = per_conn(rss_before, rss_connected, report.connected);
    Ok(report)
}

/// Children of a multi-process run in `mode`, each with its share of the clients, from its own
/// block of source addresses.
fn spawn_children(args: &Args, mode: &str) -> anyhow::Result<Vec<tokio::process::Child>> {
    let exe = std::env::current_exe().context("locating this executable")?;
    let procs = args.procs.min(64);
    let mut children = Vec::new();
    for i in 0..procs {
        let n = args.clients / procs + usize::from(i < args.clients % procs);
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.args(["--mode", mode, "--child", "--label"])
            .arg(format!("{}-{i}", args.label))
            .args(["--url", &args.url])
            .args(["--clients", &n.to_string()])
            .args([
                "--connect-rate",
                &(args.connect_rate / procs as f64).to_string(),
            ])
            .args(["--source-addrs", &args.source_addrs.to_string()])
            .args([
                "--source-offset",
                &(i * usize::from(args.source_addrs)).min(250).to_string(),
            ])
            .args([
                "--connect-timeout-secs",
                &args.connect_timeout_secs.to_string(),
            ])
            .args([
                "--hold-secs",
                &(args.hold_secs + args.connect_timeout_secs + 60.0).to_string(),
            ])
            .args(["--reconnects", &args.reconnects.to_string()])
            .args(["--rate", &args.rate.to_string()])
            .args(["--duration-secs", &args.duration_secs.to_string()])
            .args(["--warmup-secs", &args.warmup_secs.to_string()])
            .args(["--drain-secs", &args.drain_secs.to_string()])
            .args(["--seq-field", &args.seq_field])
            .args(["--ts-field", &args.ts_field])
            .args(["--threads", "1"]);
        for h in &args.headers {
            cmd.args(["--header", h]);
        }
        if let Some(ca) = &args.tls_ca {
            cmd.arg("--tls-ca").arg(ca);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        children.push(cmd.spawn().context("spawning a child load generator")?);
    }
    Ok(children)
}

/// The lines a child writes.
type ChildLines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

/// Children of a multi-process run in `mode` ([`spawn_children`]) and their output, once each
/// has said `READY` (its clients are open).
async fn start_children(
    args: &Args,
    mode: &str,
) -> anyhow::Result<(Vec<tokio::process::Child>, Vec<ChildLines>)> {
    let mut children = spawn_children(args, mode)?;
    let mut lines = Vec::new();
    for child in &mut children {
        let stdout = child.stdout.take().context("child stdout")?;
        lines.push(BufReader::new(stdout).lines());
    }
    wait_ready(args, &mut lines).await?;
    Ok((children, lines))
}

/// Waits until every child has said `READY` (its clients are open).
async fn wait_ready(args: &Args, lines: &mut [ChildLines]) -> anyhow::Result<()> {
    let deadline = Instant::now()
        + Duration::from_secs_f64(args.clients as f64 / args.connect_rate.max(1.0))
        + secs(args.connect_timeout_secs)
        + Duration::from_secs(30);
    for l in lines {
        loop {
            match tokio::time::timeout_at(deadline, l.next_line()).await {
                Ok(Ok(Some(line))) if line.starts_with("READY") => break,
                Ok(Ok(Some(_))) => {}
                _ => bail!("a child load generator did not get ready in time"),
            }
        }
    }
    Ok(())
}

/// Idle mode over several processes: each child opens its share from its own block of source
/// addresses; the parent measures the servers' memory once every child holds its clients.
async fn idle_multi(args: &Args) -> anyhow::Result<Report> {
    let rss_before = stats::total_rss(&args.server_pid);
    let (mut children, mut lines) = start_children(args, "idle").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_connected = stats::total_rss(&args.server_pid);
    for child in &mut children {
        drop(child.stdin.take());
    }
    let mut report = Report {
        label: args.label.clone(),
        mode: "idle".into(),
        clients: args.clients,
        ..Report::default()
    };
    let mut connect = stats::new_hist();
    for l in &mut lines {
        while let Ok(Ok(Some(line))) =
            tokio::time::timeout(Duration::from_secs(60), l.next_line()).await
        {
            if let Some(json) = line.strip_prefix("REPORT ") {
                let child: Report = serde_json::from_str(json).context("child report")?;
                report.connected += child.connected;
                report.failed += child.failed;
                report.errors.extend(child.errors.into_iter().take(3));
                stats::load(&mut connect, &child.connect_dump);
            }
        }
    }
    for child in &mut children {
        let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    }
    report.connect_ms = Pcts::of(&connect, 1000.0);
    report.rss_before_kib = rss_before;
    report.rss_connected_kib = rss_connected;
    report.kib_per_conn = per_conn(rss_before, rss_connected, report.connected);
    Ok(report)
}

async fn resume(args: &Args) -> anyhow::Result<Report> {
    let target = target(args)?;
    let template = template(args)?;
    let mut publisher = publisher(args)?;
    stats::set_interval_us(0);
    // 1. A probe client learns the SSE id of a marker event (seq 0), then leaves.
    let probe = Arc::new(Shared {
        track_ids: true,
        ..Shared::default()
    });
    let clients = open_clients(args, &target, &probe, 1, None).await;
    if probe.connected.load(Ordering::Relaxed) == 0 {
        bail!(
            "the probe client could not connect: {:?}",
            probe.errors.lock().map(|e| e.clone()).unwrap_or_default()
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = publisher
        .send(fill(&template, 0, stats::now_us()).as_bytes())
        .await?;
    if !(200..300).contains(&status) {
        bail!("publishing the marker event: status {status}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while probe.distinct.load(Ordering::Relaxed) < 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = close_clients(clients).await;
    let marker = probe
        .last_id
        .lock()
        .map(|id| id.clone())
        .unwrap_or_default();
    if marker.is_empty() {
        bail!("the marker event arrived without an SSE id: this server cannot resume");
    }
    // 2. Events the client will have missed.
    let n = args.resume_events.min(1_000_000);
    let batch = args.publish_batch.clamp(1, 1000) as u64;
    // Send times 1 ms apart, so that `{iso}` orders a batch by sequence number as well (a server
    // may store a batch in time order).
    let base = stats::now_us();
    let mut seq = 1;
    while seq <= n {
        let end = (seq + batch).min(n + 1);
        let body = if batch == 1 {
            fill(&template, seq, base + seq * 1000)
        } else {
            let items: Vec<String> = (seq..end)
                .map(|s| fill(&template, s, base + s * 1000))
                .collect();
            format!("[{}]", items.join(","))
        };
        let status = publisher.send(body.as_bytes()).await?;
        if !(200..300).contains(&status) {
            bail!("publishing missed events: status {status}");
        }
        seq = end;
    }
    // Let the live fan-out of those events finish before the resuming client connects.
    tokio::time::sleep(Duration::from_secs(1)).await;
    // 3. The resuming client: time from connect to the last missed event.
    let shared = Arc::new(Shared::default());
    let rss_before = stats::total_rss(&args.server_pid);
    let start = Instant::now();
    let clients = open_clients(args, &target, &shared, 1, Some(marker)).await;
    let deadline = start + Duration::from_secs(60);
    while shared.distinct.load(Ordering::Relaxed) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = start.elapsed();
    let tallies = close_clients(clients).await;
    let mut report = base_report(args, &shared);
    report.clients = 1;
    report.connect_ms = Pcts::of(&stats::merged().connect, 1000.0);
    let got = shared.distinct.load(Ordering::Relaxed);
    report.resumed_events = Some(got);
    report.resume_ms = (got >= n).then_some(elapsed.as_secs_f64() * 1000.0);
    report.published = n;
    for t in &tallies {
        report.duplicates += t.duplicates;
        report.out_of_order += t.out_of_order;
        report.missing +=
            n.saturating_sub(t.distinct_below(n + 1) - u64::from(t.distinct_below(1) > 0));
    }
    report.rss_before_kib = rss_before;
    Ok(report)
}
