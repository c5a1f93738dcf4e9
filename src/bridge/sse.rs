//! A resuming subscription to a buoycast event stream: SSE parsing, reconnection with
//! exponential backoff and jitter, `Last-Event-ID`, de-duplication and a dead-stream watchdog.

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::Context;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, RETRY_AFTER};

use crate::config::Secret;
use crate::domain::{Entry, Fields, Kind, KindEntry, Observation, Seq};
use crate::retry::Backoff;

/// Path of the stream, relative to a server's base URL.
const STREAM_PATH: &str = "v1/observations/stream";
/// Longest line the parser keeps (a frame of the server is far shorter); longer lines are dropped.
const MAX_LINE: usize = 1 << 20;

/// One event as framed by the server (`event:`, `data:`, `id:` lines up to a blank line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field (`message` when absent).
    pub event: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The `id:` field of this event, if it had one.
    pub id: Option<String>,
}

/// Incremental parser of `text/event-stream` (the HTML standard's rules): bytes in, events out.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of an unfinished line.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` at the start of the next one belongs to it.
    after_cr: bool,
    /// The event being assembled.
    event: Option<String>,
    data: Option<String>,
    id: Option<String>,
    /// The last `retry:` value, milliseconds.
    retry: Option<u64>,
    /// A line grew past [`MAX_LINE`]; the rest of it is skipped.
    overlong: bool,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// The server's reconnection hint (`retry:`), if it sent one.
    pub fn retry(&self) -> Option<Duration> {
        self.retry.map(Duration::from_millis)
    }

    /// Feeds bytes and appends every event they complete to `out`.
    pub fn push(&mut self, mut chunk: &[u8], out: &mut VecDeque<SseEvent>) {
        if self.after_cr && chunk.first() == Some(&b'\n') {
            chunk = &chunk[1..];
        }
        self.after_cr = false;
        while let Some(end) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.extend_line(&chunk[..end]);
            let line = std::mem::take(&mut self.line);
            if !std::mem::take(&mut self.overlong) {
                self.line_done(&line, out);
            }
            let is_cr = chunk[end] == b'\r';
            chunk = &chunk[end + 1..];
            if is_cr {
                if chunk.first() == Some(&b'\n') {
                    chunk = &chunk[1..];
                } else if chunk.is_empty() {
                    self.after_cr = true;
                }
            }
        }
        self.extend_line(chunk);
    }

    fn extend_line(&mut self, bytes: &[u8]) {
        if self.overlong || self.line.len() + bytes.len() > MAX_LINE {
            self.overlong = true;
            self.line.clear();
        } else {
            self.line.extend_from_slice(bytes);
        }
    }

    fn line_done(&mut self, line: &[u8], out: &mut VecDeque<SseEvent>) {
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                out.push_back(SseEvent {
                    event: self.event.take().unwrap_or_else(|| String::from("message")),
                    data,
                    id: self.id.take(),
                });
            }
            self.event = None;
            self.id = None;
            return;
        }
        if line.first() == Some(&b':') {
            return; // a comment
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (text.as_ref(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "id" if !value.contains('\0') => self.id = Some(value.to_owned()),
            "retry" => {
                if let Ok(ms) = value.parse() {
                    self.retry = Some(ms);
                }
            }
            _ => {}
        }
    }
}

/// What a subscription hands over.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// The stream is open (its `connection` event arrived).
    Connected,
    /// The stream broke; the subscription waits `retry_in` and reconnects.
    Disconnected {
        /// Why.
        reason: String,
        /// The wait before the next attempt.
        retry_in: Duration,
    },
    /// An observation, once per seq, in seq order.
    Observation {
        /// Its seq (`None` for a producer's observation that was not stored).
        seq: Option<Seq>,
        /// The observation.
        observation: Box<Observation>,
    },
    /// An entry of another kind, once per seq, in seq order.
    Entry {
        /// Its seq (`None` when it was not stored).
        seq: Option<Seq>,
        /// The entry.
        entry: Box<KindEntry>,
    },
}

/// Settings of a [`Subscription`].
#[derive(Debug, Clone)]
pub struct SubscriptionConfig {
    /// The server's base URL, or its stream URL.
    pub url: String,
    /// Station filter, comma-separated (`None`: every station).
    pub stations: Option<String>,
    /// Kinds, comma-separated (`None`: the server's default, `observation`).
    pub kinds: Option<String>,
    /// Resume after this seq on the first connection (`None`: live from the server's position).
    pub after: Option<Seq>,
    /// First reconnection delay; doubles per failure in a row.
    pub backoff_base: Duration,
    /// Longest reconnection delay.
    pub backoff_max: Duration,
    /// No bytes at all for this long (heartbeats included) means the stream is dead.
    pub idle_timeout: Duration,
    /// Subscriber token, sent as `Authorization: Bearer` (servers with subscriber auth).
    pub token: Option<Secret>,
}

/// A live, resuming subscription. [`Subscription::next`] never fails: it reconnects by itself,
/// except on a request the server will never accept (4xx but 408/429), which is an error.
#[derive(Debug)]
pub struct Subscription {
    client: reqwest::Client,
    url: reqwest::Url,
    config: SubscriptionConfig,
    /// The resume point and de-duplication bound: the stream position of the last event that
    /// carried one (an observation's seq, or the id of `connection`, `heartbeat` and `reset`).
    last: Option<Seq>,
    response: Option<reqwest::Response>,
    parser: SseParser,
    events: VecDeque<SseEvent>,
    /// Failures in a row; reset by the first event of a working stream.
    failures: u32,
    /// The server announced `shutdown`: the end that follows is expected.
    server_closing: bool,
    /// A delay the server asked for (`Retry-After`) before the next attempt.
    retry_after: Option<Duration>,
    /// The wait before the next attempt, when the last one failed.
    pending_wait: Option<Duration>,
    /// Whether the current stream has delivered anything.
    alive: bool,
}

impl Subscription {
    /// Prepares a subscription; nothing is connected until [`Subscription::next`].
    pub fn new(config: SubscriptionConfig) -> anyhow::Result<Self> {
        let url = stream_url(
            &config.url,
            config.stations.as_deref(),
            config.kinds.as_deref(),
        )?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            client,
            url,
            last: config.after,
            config,
            response: None,
            parser: SseParser::new(),
            events: VecDeque::new(),
            failures: 0,
            server_closing: false,
            retry_after: None,
            pending_wait: None,
            alive: false,
        })
    }

    /// The stream URL in use (without the resume point).
    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }

    /// The resume point: the last stream position the server sent (the seq of the last
    /// observation handed over, or a later one from a heartbeat).
    pub fn last_seq(&self) -> Option<Seq> {
        self.last
    }

    /// The next delivery: an observation, or a change of the connection.
    pub async fn next(&mut self) -> anyhow::Result<Delivery> {
        loop {
            if let Some(wait) = self.pending_wait.take() {
                tokio::time::sleep(wait).await;
            }
            if self.response.is_none() {
                match self.open().await {
                    Ok(response) => {
                        self.response = Some(response);
                        self.parser = SseParser::new();
                        self.events.clear();
                        self.alive = false;
                    }
                    Err(Attempt::Fatal(e)) => return Err(e),
                    Err(Attempt::Retry(reason)) => return Ok(self.failed(reason)),
                }
            }
            while let Some(event) = self.events.pop_front() {
                if let Some(delivery) = self.handle(event) {
                    return Ok(delivery);
                }
            }
            let Some(response) = self.response.as_mut() else {
                continue;
            };
            match tokio::time::timeout(self.config.idle_timeout, response.chunk()).await {
                Ok(Ok(Some(bytes))) => self.parser.push(&bytes, &mut self.events),
                Ok(Ok(None)) => {
                    let reason = if self.server_closing {
                        "the server shut down"
                    } else {
                        "the server closed the stream"
                    };
                    return Ok(self.failed(reason.into()));
                }
                Ok(Err(e)) => return Ok(self.failed(format!("the stream broke: {e}"))),
                Err(_) => {
                    return Ok(self.failed(format!(
                        "nothing received for {} s (not even a heartbeat)",
                        self.config.idle_timeout.as_secs()
                    )));
                }
            }
        }
    }

    async fn open(&mut self) -> Result<reqwest::Response, Attempt> {
        let mut request = self
            .client
            .get(self.url.clone())
            .header(ACCEPT, "text/event-stream");
        if let Some(last) = self.last {
            request = request.header("Last-Event-ID", last.to_string());
        }
        if let Some(token) = &self.config.token {
            request = request.bearer_auth(token.expose());
        }
        let response = request
            .send()
            .await
            .map_err(|e| Attempt::Retry(format!("cannot connect: {e}")))?;
        let status = response.status();
        if status == StatusCode::OK {
            return Ok(response);
        }
        self.retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .map(Duration::from_secs);
        let body = response.text().await.unwrap_or_default();
        let body = body.chars().take(300).collect::<String>();
        let permanent = status.is_client_error()
            && status != StatusCode::REQUEST_TIMEOUT
            && status != StatusCode::TOO_MANY_REQUESTS;
        if permanent {
            Err(Attempt::Fatal(anyhow::anyhow!(
                "the server refused the stream ({status}): {body}"
            )))
        } else {
            Err(Attempt::Retry(format!("the server answered {status}")))
        }
    }

    /// Turns one event into a delivery (or nothing, for heartbeats, duplicates, ...).
    fn handle(&mut self, event: SseEvent) -> Option<Delivery> {
        if !self.alive {
            self.alive = true;
            self.failures = 0;
        }
        match event.event.as_str() {
            "connection" => {
                self.advance(event.id.as_deref());
                Some(Delivery::Connected)
            }
            "heartbeat" => {
                // Everything up to its id that matches the filter has been sent: resuming from
                // it spares the server replaying other stations' events.
                self.advance(event.id.as_deref());
                None
            }
            name if Kind::from_name(name).is_some() => {
                let seq = match event.id.as_deref().map(Seq::parse) {
                    None => None,
                    Some(Some(seq)) => Some(seq),
                    Some(None) => {
                        tracing::warn!(
                            event = "bridge_bad_event",
                            "an observation with a malformed id was skipped"
                        );
                        return None;
                    }
                };
                if let (Some(seq), Some(last)) = (seq, self.last)
                    && seq <= last
                {
                    return None;
                }
                let entry = serde_json::from_str::<Fields>(&event.data)
                    .map_err(|e| e.to_string())
                    .and_then(|Fields(members)| Entry::from_members(members));
                let entry = match entry {
                    Ok(entry) if entry.kind().name() == name => entry,
                    Ok(entry) => {
                        tracing::warn!(
                            event = "bridge_bad_event",
                            kind = %entry.kind(),
                            eventName = name,
                            "an event whose data names another kind was skipped"
                        );
                        return None;
                    }
                    Err(e) => {
                        tracing::warn!(
                            event = "bridge_bad_event",
                            error = %e,
                            "an event whose data is not a valid entry was skipped"
                        );
                        return None;
                    }
                };
                if seq.is_some() {
                    self.last = seq;
                }
                Some(match entry {
                    Entry::Observation(observation) => Delivery::Observation {
                        seq,
                        observation: Box::new(observation),
                    },
                    Entry::Other(entry) => Delivery::Entry {
                        seq,
                        entry: Box::new(entry),
                    },
                })
            }
            "reset" => {
                let data: serde_json::Value = serde_json::from_str(&event.data).unwrap_or_default();
                let oldest = data["oldestSeq"].as_i64().unwrap_or(0);
                tracing::warn!(
                    event = "bridge_stream_reset",
                    oldestSeq = oldest,
                    reason = data["reason"].as_str().unwrap_or(""),
                    "{}",
                    data["message"].as_str().unwrap_or("the stream was reset")
                );
                // The server continues after oldestSeq - 1, which is also the reset's id (lower
                // than ours if its log was reset).
                if oldest >= 1 {
                    self.last = Some(Seq::new(oldest - 1));
                }
                None
            }
            "shutdown" => {
                self.server_closing = true;
                None
            }
            _ => None,
        }
    }

    /// Moves the resume point to a stream position the server sent (never back: only a `reset`
    /// does that).
    fn advance(&mut self, id: Option<&str>) {
        let Some(position) = id.and_then(Seq::parse) else {
            return;
        };
        if self.last.is_none_or(|last| position > last) {
            self.last = Some(position);
        }
    }

    /// Drops the stream and computes the wait before the next attempt.
    fn failed(&mut self, reason: String) -> Delivery {
        self.response = None;
        let policy = Backoff::new(self.config.backoff_base, self.config.backoff_max);
        let wait = if std::mem::take(&mut self.server_closing) {
            // An announced shutdown is not a failure: come back soon.
            policy.delay(0) / 2
        } else {
            self.failures = self.failures.saturating_add(1);
            // The server's `retry:` (already jittered by the server) is a floor.
            let hint = self.parser.retry().unwrap_or_default();
            policy
                .delay(self.failures)
                .max(hint.min(self.config.backoff_max))
        };
        let wait = match self.retry_after.take() {
            Some(asked) => wait.max(asked.min(self.config.backoff_max)),
            None => wait,
        };
        self.pending_wait = Some(wait);
        Delivery::Disconnected {
            reason,
            retry_in: wait,
        }
    }
}

/// The outcome of a failed connection attempt.
enum Attempt {
    /// Worth trying again later.
    Retry(String),
    /// Never going to work (a bad filter, a wrong URL).
    Fatal(anyhow::Error),
}

/// The stream URL for a base URL (or a stream URL), with the station and kind filters.
pub fn stream_url(
    base: &str,
    stations: Option<&str>,
    kinds: Option<&str>,
) -> anyhow::Result<reqwest::Url> {
    let mut url = reqwest::Url::parse(base).with_context(|| format!("--url {base}"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https"),
        "--url must be an http:// or https:// URL"
    );
    let path = url.path().trim_end_matches('/');
    if !path.ends_with("/v1/observations/stream") {
        let joined = format!("{path}/{STREAM_PATH}");
        url.set_path(&joined);
    }
    url.set_query(None);
    url.set_fragment(None);
    if let Some(stations) = stations.map(str::trim).filter(|s| !s.is_empty()) {
        url.query_pairs_mut().append_pair("stations", stations);
    }
    if let Some(kinds) = kinds.map(str::trim).filter(|s| !s.is_empty()) {
        url.query_pairs_mut().append_pair("kinds", kinds);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&str]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut out = VecDeque::new();
        for chunk in chunks {
            parser.push(chunk.as_bytes(), &mut out);
        }
        out.into_iter().collect()
    }

    fn ev(event: &str, data: &str, id: Option<&str>) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
            id: id.map(Into::into),
        }
    }

    #[test]
    fn parses_the_servers_frames() {
        let events = parse(&[
            "retry: 2000\n\nid: 6\nevent: connection\ndata: {\"status\":\"connected\"}\n\n",
            "id: 7\nevent: observation\ndata: {\"a\":1}\n\n: comment\n\nid: 7\nevent: heartbeat\ndata: {}\n\n",
        ]);
        assert_eq!(
            events,
            vec![
                ev("connection", "{\"status\":\"connected\"}", Some("6")),
                ev("observation", "{\"a\":1}", Some("7")),
                ev("heartbeat", "{}", Some("7")),
            ]
        );
    }

    #[test]
    fn handles_frames_split_anywhere_and_every_line_ending() {
        let whole = "id: 1\r\nevent: observation\r\ndata: x\r\n\r\nid: 2\revent: o\rdata: y\r\rdata: a\ndata: b\n\n";
        let expected = parse(&[whole]);
        assert_eq!(
            expected,
            vec![
                ev("observation", "x", Some("1")),
                ev("o", "y", Some("2")),
                ev("message", "a\nb", None),
            ]
        );
        for split in 0..whole.len() {
            let (a, b) = whole.split_at(split);
            assert_eq!(parse(&[a, b]), expected, "split at {split}");
        }
    }

    #[test]
    fn keeps_the_retry_hint_and_ignores_events_without_data() {
        let mut parser = SseParser::new();
        let mut out = VecDeque::new();
        parser.push(b"retry: 1500\n\nevent: nothing\n\n", &mut out);
        assert!(out.is_empty());
        assert_eq!(parser.retry(), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn builds_the_stream_url_from_a_base_or_a_stream_url() {
        let check = |base: &str, stations: Option<&str>, want: &str| {
            assert_eq!(
                stream_url(base, stations, None).unwrap().as_str(),
                want,
                "{base}"
            );
        };
        check(
            "http://127.0.0.1:8080",
            None,
            "http://127.0.0.1:8080/v1/observations/stream",
        );
        check(
            "http://h:1/prefix/",
            Some("44009,46042"),
            "http://h:1/prefix/v1/observations/stream?stations=44009%2C46042",
        );
        check(
            "http://h/v1/observations/stream?x=1",
            Some(" "),
            "http://h/v1/observations/stream",
        );
        assert_eq!(
            stream_url("http://h:1", Some("44009"), Some("spectrum,rain"))
                .unwrap()
                .as_str(),
            "http://h:1/v1/observations/stream?stations=44009&kinds=spectrum%2Crain"
        );
        assert!(stream_url("ftp://h", None, None).is_err());
        assert!(stream_url("not a url", None, None).is_err());
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap_and_a_shutdown_is_quick() {
        let mut sub = Subscription::new(SubscriptionConfig {
            url: "http://127.0.0.1:9".into(),
            stations: None,
            kinds: None,
            after: None,
            backoff_base: Duration::from_millis(1000),
            backoff_max: Duration::from_millis(5000),
            idle_timeout: Duration::from_secs(45),
            token: None,
        })
        .unwrap();
        let waits: Vec<Duration> = (0..5)
            .map(|_| match sub.failed("test".into()) {
                Delivery::Disconnected { retry_in, .. } => retry_in,
                other => panic!("{other:?}"),
            })
            .collect();
        // The process's one rule (`retry::Backoff`): 50–150 % of the doubled delay, capped.
        for (wait, nominal) in waits.iter().zip([1000, 2000, 4000, 8000, 16000]) {
            let ms = wait.as_millis() as u64;
            assert!(
                ((nominal / 2).min(5000)..=(nominal * 3 / 2).min(5000)).contains(&ms),
                "{ms} for {nominal}"
            );
        }
        sub.server_closing = true;
        let Delivery::Disconnected { retry_in, .. } = sub.failed("bye".into()) else {
            unreachable!()
        };
        assert!(retry_in <= Duration::from_millis(750));
    }

    #[test]
    fn observations_are_deduplicated_and_a_reset_moves_the_bound() {
        let mut sub = Subscription::new(SubscriptionConfig {
            url: "http://127.0.0.1:9".into(),
            stations: None,
            kinds: None,
            after: Some(Seq::new(5)),
            backoff_base: Duration::from_millis(10),
            backoff_max: Duration::from_millis(10),
            idle_timeout: Duration::from_secs(45),
            token: None,
        })
        .unwrap();
        let data =
            r#"{"stationId":"44009","timestamp":"2025-11-15T12:00:00.000Z","waveHeightM":1.5}"#;
        let obs = |id: &str| ev("observation", data, Some(id));
        assert!(sub.handle(obs("5")).is_none(), "at the bound");
        assert!(matches!(
            sub.handle(obs("6")),
            Some(Delivery::Observation { seq: Some(s), .. }) if s == Seq::new(6)
        ));
        assert!(sub.handle(obs("6")).is_none(), "a repeat");
        assert!(sub.handle(obs("x")).is_none(), "a malformed id");
        assert!(
            sub.handle(ev("observation", "{not json", Some("9")))
                .is_none()
        );
        // Without an id it is delivered, and the bound stays.
        assert!(matches!(
            sub.handle(ev("observation", data, None)),
            Some(Delivery::Observation { seq: None, .. })
        ));
        assert_eq!(sub.last_seq(), Some(Seq::new(6)));
        sub.handle(ev(
            "reset",
            r#"{"oldestSeq":3,"reason":"unknown_event_id","message":"m"}"#,
            None,
        ));
        assert_eq!(sub.last_seq(), Some(Seq::new(2)));
        assert!(sub.handle(obs("3")).is_some());
    }

    #[test]
    fn connection_and_heartbeat_ids_move_the_resume_point() {
        let mut sub = Subscription::new(SubscriptionConfig {
            url: "http://127.0.0.1:9".into(),
            stations: Some("44009".into()),
            kinds: None,
            after: None,
            backoff_base: Duration::from_millis(10),
            backoff_max: Duration::from_millis(10),
            idle_timeout: Duration::from_secs(45),
            token: None,
        })
        .unwrap();
        let hello = r#"{"status":"connected","timestamp":"2025-11-15T12:00:00.000Z"}"#;
        assert_eq!(
            sub.handle(ev("connection", hello, Some("40"))),
            Some(Delivery::Connected)
        );
        assert_eq!(sub.last_seq(), Some(Seq::new(40)), "resume where it joined");
        let beat = r#"{"timestamp":"2025-11-15T12:00:30.000Z"}"#;
        assert!(sub.handle(ev("heartbeat", beat, Some("95"))).is_none());
        assert_eq!(
            sub.last_seq(),
            Some(Seq::new(95)),
            "other stations' events are past"
        );
        sub.handle(ev("heartbeat", beat, Some("90")));
        sub.handle(ev("heartbeat", beat, None));
        sub.handle(ev("heartbeat", beat, Some("x")));
        assert_eq!(
            sub.last_seq(),
            Some(Seq::new(95)),
            "never back, never garbage"
        );
        let data =
            r#"{"stationId":"44009","timestamp":"2025-11-15T12:00:00.000Z","waveHeightM":1.5}"#;
        assert!(sub.handle(ev("observation", data, Some("95"))).is_none());
        assert!(sub.handle(ev("observation", data, Some("96"))).is_some());
        // A reset (its id is oldestSeq - 1) moves it back.
        sub.handle(ev(
            "reset",
            r#"{"oldestSeq":31,"reason":"unknown_event_id","message":"m"}"#,
            Some("30"),
        ));
        assert_eq!(sub.last_seq(), Some(Seq::new(30)));
    }
}
