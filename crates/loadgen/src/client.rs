//! One SSE client: a bare TCP connection (TLS for `https://`) from a chosen `127.0.0.x` source
//! address, a hand-written
//! HTTP/1.1 response reader and SSE decoder, and a tally of what it received.
//!
//! Per connection it holds a 4 KiB read buffer, the decoder's small buffers and a bitmap of the
//! sequence numbers seen, so that 100,000 of them fit in a few hundred MiB.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::sync::watch;

use crate::http::{self, Chunked, Framing, Url};
use crate::sse::{Decoder, Event, Key};
use crate::stats::{self, Tally};
use crate::tls::{self, Tls};

/// Bytes read at once.
const READ_BUF: usize = 4096;

/// What every client of a run connects to and how it reads events.
#[derive(Debug)]
pub struct Target {
    /// The subscribe URL.
    pub url: Url,
    /// TLS for an `https://` URL.
    pub tls: Option<Tls>,
    /// The request without its final blank line (a `Last-Event-ID` may be added).
    pub request: Vec<u8>,
    /// Where the sequence number is.
    pub seq: Key,
    /// Where the send time is.
    pub ts: Key,
    /// Source addresses, used round-robin.
    pub sources: Vec<IpAddr>,
    /// Limit on connect → first body byte.
    pub connect_timeout: Duration,
    /// Times a stream that ends is reopened.
    pub reconnects: u32,
    /// Every Nth client closes and reopens its stream around this interval.
    pub churn: Option<(usize, Duration)>,
    /// Every Nth client pauses this long after each read.
    pub slow: Option<(usize, Duration)>,
}

impl Target {
    /// Builds the request once for every client.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        url: Url,
        tls: Option<Tls>,
        headers: &[String],
        seq: Key,
        ts: Key,
        sources: Vec<IpAddr>,
        connect_timeout: Duration,
        reconnects: u32,
    ) -> Self {
        let mut all = vec!["Accept: text/event-stream".to_owned()];
        all.extend(headers.iter().cloned());
        let mut request = http::request("GET", &url, &all, None);
        request.truncate(request.len() - 2);
        Self {
            url,
            tls,
            request,
            seq,
            ts,
            sources,
            connect_timeout,
            reconnects,
            churn: None,
            slow: None,
        }
    }

    /// How long client `index` keeps its stream open the `cycle`th time, if it churns: the mean
    /// interval times 0.5 to 1.5, spread over clients and cycles by a fixed hash.
    fn churn_after(&self, index: usize, cycle: u64) -> Option<Duration> {
        let (every, mean) = self.churn?;
        if !index.is_multiple_of(every) {
            return None;
        }
        let h = splitmix64((index as u64) << 32 ^ cycle);
        let fraction = (h >> 11) as f64 / (1u64 << 53) as f64;
        Some(mean.mul_f64(0.5 + fraction))
    }

    /// The pause after each read of client `index`, if it is a slow reader.
    fn slow_pause(&self, index: usize) -> Option<Duration> {
        let (every, pause) = self.slow?;
        (index % every == every / 2).then_some(pause)
    }
}

/// A fixed 64-bit mix (SplitMix64's finaliser): spreads nearby inputs over the whole range.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Counters every client updates.
#[derive(Debug, Default)]
pub struct Shared {
    /// Clients that received their first body byte.
    pub connected: AtomicUsize,
    /// Clients that never did.
    pub failed: AtomicUsize,
    /// Keyed events received by all clients.
    pub deliveries: AtomicU64,
    /// Distinct sequence numbers received, summed over clients.
    pub distinct: AtomicU64,
    /// Wall-clock µs of the latest delivery.
    pub last_delivery_us: AtomicU64,
    /// Streams that ended before the run did.
    pub disconnects: AtomicUsize,
    /// Streams the clients closed themselves and reopened (`--churn-every`).
    pub churns: AtomicU64,
    /// Whether clients copy their latest SSE id into `last_id`.
    pub track_ids: bool,
    /// The latest SSE id seen by any client (used by resume mode's probe).
    pub last_id: Mutex<Vec<u8>>,
    /// First errors, for the report.
    pub errors: Mutex<Vec<String>>,
}

impl Shared {
    fn error(&self, e: String) {
        let mut errors = self.errors.lock().unwrap_or_else(PoisonError::into_inner);
        if errors.len() < 10 {
            errors.push(e);
        }
    }
}

enum End {
    Stopped,
    Closed,
    /// The client closed the stream itself, to reopen it with `Last-Event-ID`.
    Churned,
}

/// Runs client `index` until `stop` turns true; returns its tally.
pub async fn run(
    index: usize,
    target: &Target,
    shared: &Shared,
    mut stop: watch::Receiver<bool>,
    resume_from: Option<Vec<u8>>,
) -> Tally {
    let mut tally = Tally::default();
    let source = target.sources[index % target.sources.len()];
    let mut last_id = resume_from;
    let mut connected = false;
    let (mut attempt, mut cycle) = (0u32, 0u64);
    let mut retry = false;
    loop {
        if *stop.borrow() {
            break;
        }
        if retry {
            // A stream that ended is reopened with Last-Event-ID; a refused first connection
            // is tried again, as an EventSource would.
            attempt += 1;
            if attempt > target.reconnects {
                break;
            }
            tally.reconnects += 1;
            if connected {
                shared.disconnects.fetch_add(1, Ordering::Relaxed);
            }
            tokio::select! {
                _ = stop.changed() => break,
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
        let churn_at = target
            .churn_after(index, cycle)
            .map(|d| tokio::time::Instant::now() + d);
        let mut decoder = Decoder::default();
        let result = stream(
            target,
            shared,
            source,
            (&mut stop, churn_at, target.slow_pause(index)),
            &mut tally,
            &mut decoder,
            &mut connected,
            last_id.as_deref(),
        )
        .await;
        if let Some(id) = decoder_last_id(&decoder) {
            last_id = Some(id);
        }
        retry = true;
        match result {
            Ok(End::Stopped) => return tally,
            Ok(End::Churned) => {
                cycle += 1;
                retry = false;
                shared.churns.fetch_add(1, Ordering::Relaxed);
            }
            Ok(End::Closed) => {}
            Err(e) => {
                if !connected {
                    shared.error(format!("client {index}: {e:#}"));
                }
            }
        }
    }
    if connected {
        tally.ended = !*stop.borrow();
    } else {
        shared.failed.fetch_add(1, Ordering::Relaxed);
    }
    tally
}

fn decoder_last_id(decoder: &Decoder) -> Option<Vec<u8>> {
    let id = decoder.last_id();
    (!id.is_empty()).then(|| id.to_vec())
}

#[allow(clippy::too_many_arguments)]
async fn stream(
    target: &Target,
    shared: &Shared,
    source: IpAddr,
    (stop, churn_at, pause): (
        &mut watch::Receiver<bool>,
        Option<tokio::time::Instant>,
        Option<Duration>,
    ),
    tally: &mut Tally,
    decoder: &mut Decoder,
    connected: &mut bool,
    last_id: Option<&[u8]>,
) -> anyhow::Result<End> {
    let start = Instant::now();
    let start_us = stats::now_us();
    let socket = match source {
        IpAddr::V4(_) => TcpSocket::new_v4(),
        IpAddr::V6(_) => TcpSocket::new_v6(),
    }
    .context("socket")?;
    // Bind before connect: spreads the ephemeral ports over several source addresses.
    socket
        .bind(SocketAddr::new(source, 0))
        .with_context(|| format!("bind {source}"))?;
    let connect = async {
        let tcp = socket.connect(target.url.addr).await.context("connect")?;
        let _ = tcp.set_nodelay(true);
        tls::open(tcp, &target.url, target.tls.as_ref()).await
    };
    let mut tcp = tokio::time::timeout(target.connect_timeout, connect)
        .await
        .context("connect timed out")??;
    let mut request = Vec::with_capacity(target.request.len() + 64);
    request.extend_from_slice(&target.request);
    if let Some(id) = last_id {
        request.extend_from_slice(b"Last-Event-ID: ");
        request.extend_from_slice(id);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    tcp.write_all(&request).await.context("send request")?;

    let deadline = tokio::time::Instant::now() + target.connect_timeout;
    let mut buf = vec![0u8; READ_BUF];
    let mut head_buf = Vec::new();
    let mut framing = None;
    let mut chunked = Chunked::default();
    let mut latencies: Vec<u64> = Vec::new();
    let mut got_body = false;
    loop {
        let read = tokio::select! {
            _ = stop.changed() => return Ok(End::Stopped),
            () = tokio::time::sleep_until(deadline), if !got_body => bail!("no data within the connect timeout"),
            () = tokio::time::sleep_until(churn_at.unwrap_or(deadline)), if churn_at.is_some() => {
                return Ok(End::Churned);
            }
            r = tcp.read(&mut buf) => r.context("read")?,
        };
        if read == 0 {
            return Ok(End::Closed);
        }
        let now = stats::now_us();
        let mut body: &[u8] = &buf[..read];
        let rest;
        if framing.is_none() {
            head_buf.extend_from_slice(body);
            let Some(head) = http::parse_head(&head_buf)? else {
                continue;
            };
            if head.status != 200 {
                bail!("status {}", head.status);
            }
            framing = Some(head.framing);
            rest = head_buf.split_off(head.len);
            body = &rest;
        }
        if body.is_empty() {
            continue;
        }
        if !got_body {
            got_body = true;
            if !*connected {
                *connected = true;
                stats::record_connect(start_us, start.elapsed().as_micros() as u64);
                shared.connected.fetch_add(1, Ordering::Relaxed);
            }
        }
        let before = (tally.received, tally.distinct);
        let mut on_event = |e: Event<'_>| on_event(e, target, tally, now, &mut latencies);
        let open = match framing {
            Some(Framing::Chunked) => chunked.feed(body, |b| decoder.feed(b, &mut on_event))?,
            _ => {
                decoder.feed(body, &mut on_event);
                true
            }
        };
        if tally.received > before.0 {
            shared
                .deliveries
                .fetch_add(tally.received - before.0, Ordering::Relaxed);
            shared
                .distinct
                .fetch_add(tally.distinct - before.1, Ordering::Relaxed);
            shared.last_delivery_us.fetch_max(now, Ordering::Relaxed);
            stats::record_latencies(&latencies);
            latencies.clear();
            let id = decoder.last_id();
            if shared.track_ids && !id.is_empty() {
                let mut last = shared
                    .last_id
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                last.clear();
                last.extend_from_slice(id);
            }
        }
        if !open {
            return Ok(End::Closed);
        }
        if let Some(pause) = pause {
            tokio::select! {
                _ = stop.changed() => return Ok(End::Stopped),
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}

fn on_event(e: Event<'_>, target: &Target, tally: &mut Tally, now: u64, latencies: &mut Vec<u64>) {
    if matches!(
        e.kind,
        b"connection" | b"heartbeat" | b"reset" | b"shutdown"
    ) {
        return;
    }
    let Some(seq) = target.seq.first_number(&e) else {
        return;
    };
    tally.see(seq);
    if let Some(ts) = target.ts.last_number(&e) {
        latencies.push(now.saturating_sub(ts));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        let url = Url::parse("http://127.0.0.1:8080/v1/observations/stream")
            .unwrap_or_else(|e| panic!("{e}"));
        Target::new(
            url,
            None,
            &[],
            Key::parse("stationId"),
            Key::parse("stationId"),
            vec![IpAddr::from([127, 0, 0, 2])],
            Duration::from_secs(1),
            3,
        )
    }

    #[test]
    fn only_every_nth_client_churns_within_half_to_one_and_a_half_times_the_mean() {
        let mut t = target();
        assert_eq!(t.churn_after(0, 0), None);
        t.churn = Some((10, Duration::from_secs(100)));
        let mut distinct = std::collections::BTreeSet::new();
        for index in 0..1000 {
            for cycle in 0..5 {
                let d = t.churn_after(index, cycle);
                if index % 10 != 0 {
                    assert_eq!(d, None);
                    continue;
                }
                let d = d.unwrap_or_default();
                assert!(
                    d >= Duration::from_secs(50) && d < Duration::from_secs(150),
                    "{d:?}"
                );
                distinct.insert(d.as_millis());
            }
        }
        assert!(
            distinct.len() > 400,
            "spread: {} distinct intervals",
            distinct.len()
        );
    }

    #[test]
    fn slow_readers_are_not_the_churning_clients() {
        let mut t = target();
        t.churn = Some((10, Duration::from_secs(100)));
        t.slow = Some((10, Duration::from_millis(500)));
        for index in 0..100 {
            assert!(!(t.churn_after(index, 0).is_some() && t.slow_pause(index).is_some()));
        }
        assert_eq!((0..100).filter(|&i| t.slow_pause(i).is_some()).count(), 10);
    }
}
