//! SSE frames: each event is encoded once into its wire bytes, which every connection shares.

use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use chrono::{DateTime, Utc};

use crate::domain::{
    Entry, Kind, KindSet, Observation, Seq, StationFilter, StationId, timestamp_wire as wire,
};

/// Reconnection delay suggested to clients, milliseconds.
pub const RETRY_MS: u32 = 2000;

/// A broadcast slower than this (bus receipt to the last stream's take) is logged as a warning.
pub const SLOW_BROADCAST: Duration = Duration::from_millis(200);

/// An encoded event plus what a connection needs to route it.
#[derive(Debug)]
pub struct Frame {
    /// The event id, for entries that were stored.
    pub seq: Option<Seq>,
    /// The station, for entries; `None` for events every client gets (heartbeats).
    pub station: Option<StationId>,
    /// The entry's kind (its event name); `None` for heartbeats.
    pub kind: Option<Kind>,
    /// For a heartbeat: the hub's position when it was broadcast, which is the id in `bytes`.
    /// A connection whose own position differs sends [`restamp`]ed bytes instead.
    pub position: Option<Seq>,
    /// The whole frame, ready to write.
    pub bytes: Bytes,
    /// When the relay received it (bus receipt), for `sse_broadcast_latency_ms`.
    pub received: Instant,
    /// Receivers that have not taken the frame yet; the one that takes it last records the
    /// broadcast latency. Set by the hub when it broadcasts.
    pub pending: AtomicIsize,
    /// Receivers the frame was sent to (for the `observation_broadcasted` log).
    pub audience: AtomicIsize,
}

impl Frame {
    /// An `observation` event.
    pub fn observation(seq: Option<Seq>, observation: &Observation) -> Self {
        Self {
            seq,
            station: Some(observation.station_id.clone()),
            kind: Some(Kind::Observation),
            position: None,
            bytes: encode_observation(seq, observation),
            received: Instant::now(),
            pending: AtomicIsize::new(0),
            audience: AtomicIsize::new(0),
        }
    }

    /// An entry's event (its kind is the event name).
    pub fn entry(seq: Option<Seq>, entry: &Entry) -> Self {
        let mut out = BytesMut::with_capacity(512);
        write_entry(&mut out, seq, entry);
        Self {
            seq,
            station: Some(entry.station_id().clone()),
            kind: Some(entry.kind()),
            position: None,
            bytes: out.freeze(),
            received: Instant::now(),
            pending: AtomicIsize::new(0),
            audience: AtomicIsize::new(0),
        }
    }

    /// A `heartbeat` event carrying `position` as its id.
    pub fn heartbeat(now: DateTime<Utc>, position: Seq) -> Self {
        Self {
            seq: None,
            station: None,
            kind: None,
            position: Some(position),
            bytes: encode_heartbeat(now, position),
            received: Instant::now(),
            pending: AtomicIsize::new(0),
            audience: AtomicIsize::new(0),
        }
    }

    /// Whether this is an entry of the log, of any kind (not a heartbeat).
    pub fn is_entry(&self) -> bool {
        self.station.is_some()
    }

    /// Marks the frame taken by one receiver; true for the last of them.
    pub fn take(&self) -> bool {
        self.pending.fetch_sub(1, Ordering::AcqRel) == 1
    }

    /// Logs `observation_broadcasted` for an observation whose broadcast ended `latency` after
    /// bus receipt: at debug, or at warn when it took longer than [`SLOW_BROADCAST`]. Not tied
    /// to the request of the stream that happened to take the frame last.
    pub fn log_broadcast(&self, latency: Duration) {
        let station = self
            .station
            .as_ref()
            .map(StationId::as_str)
            .unwrap_or_default();
        let kind = self.kind.map(Kind::name).unwrap_or_default();
        let clients = self.audience.load(Ordering::Relaxed);
        let latency_ms = latency.as_secs_f64() * 1000.0;
        if latency > SLOW_BROADCAST {
            tracing::warn!(parent: None, event = "observation_broadcasted", stationId = station, kind, clientCount = clients, latencyMs = latency_ms, "slow broadcast");
        } else {
            tracing::debug!(parent: None, event = "observation_broadcasted", stationId = station, kind, clientCount = clients, latencyMs = latency_ms, "observation broadcast");
        }
    }

    /// Whether a client with this station filter and these kinds wants the frame (every
    /// client wants heartbeats).
    pub fn wanted_by(&self, filter: Option<&StationFilter>, kinds: KindSet) -> bool {
        if self.kind.is_some_and(|kind| !kinds.contains(kind)) {
            return false;
        }
        match (filter, &self.station) {
            (Some(filter), Some(station)) => filter.contains(station),
            _ => true,
        }
    }
}

/// Appends `id: …\nevent: observation\ndata: {json}\n\n` to `out`.
pub fn write_observation(out: &mut BytesMut, seq: Option<Seq>, observation: &Observation) {
    if let Some(seq) = seq {
        out.put_slice(b"id: ");
        out.put_slice(seq.to_string().as_bytes());
        out.put_u8(b'\n');
    }
    out.put_slice(b"event: observation\ndata: ");
    // serde_json's compact output escapes control characters, so it never contains a newline.
    let _ = serde_json::to_writer((&mut *out).writer(), observation);
    out.put_slice(b"\n\n");
}

/// Appends `id: …\nevent: <kind>\ndata: {json}\n\n` to `out`.
pub fn write_entry(out: &mut BytesMut, seq: Option<Seq>, entry: &Entry) {
    let observation = match entry {
        Entry::Observation(observation) => return write_observation(out, seq, observation),
        Entry::Other(other) => other,
    };
    if let Some(seq) = seq {
        out.put_slice(b"id: ");
        out.put_slice(seq.to_string().as_bytes());
        out.put_u8(b'\n');
    }
    out.put_slice(b"event: ");
    out.put_slice(observation.kind.name().as_bytes());
    out.put_slice(b"\ndata: ");
    // serde_json's compact output escapes control characters, so it never contains a newline.
    let _ = serde_json::to_writer((&mut *out).writer(), observation);
    out.put_slice(b"\n\n");
}

/// One `observation` event.
pub fn encode_observation(seq: Option<Seq>, observation: &Observation) -> Bytes {
    let mut out = BytesMut::with_capacity(512);
    write_observation(&mut out, seq, observation);
    out.freeze()
}

/// The data of an SSE event other than `observation`, with its event name: the struct is what
/// [`encode`] writes and what OpenAPI describes (`ToSchema`), so the two cannot differ.
pub trait EventData: serde::Serialize {
    /// The `event:` name.
    const EVENT: &'static str;
}

/// Data of `event: connection`. Its SSE `id` is the stream's position: the resume id
/// (`Last-Event-ID` or `lastEventId`), for a fresh stream the newest seq it starts after, for
/// `since=` the seq before its first match. Resuming from it misses nothing and repeats nothing.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ConnectionEvent {
    /// Always `connected`.
    #[schema(example = "connected")]
    status: &'static str,
    /// Server time.
    #[serde(with = "wire")]
    #[schema(value_type = String, format = DateTime)]
    timestamp: DateTime<Utc>,
}

impl EventData for ConnectionEvent {
    const EVENT: &'static str = "connection";
}

/// Data of `event: heartbeat`. Its SSE `id` is the stream's position: every observation up to
/// that seq that matches the stream's filter has been sent. It never goes backwards.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct HeartbeatEvent {
    /// Server time.
    #[serde(with = "wire")]
    #[schema(value_type = String, format = DateTime)]
    timestamp: DateTime<Utc>,
}

impl EventData for HeartbeatEvent {
    const EVENT: &'static str = "heartbeat";
}

/// Data of `event: reset`: the resume point could not be honoured in full. Its SSE `id` is the
/// position the stream goes on after (`oldestSeq - 1`).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResetEvent {
    /// Human-readable explanation.
    message: String,
    /// Replay continues from this seq.
    #[schema(value_type = i64)]
    oldest_seq: Seq,
    /// `replay_limit` (more missed than the server replays) or `unknown_event_id`.
    reason: String,
}

impl EventData for ResetEvent {
    const EVENT: &'static str = "reset";
}

/// Data of `event: shutdown`, the last frame before the server closes the stream.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ShutdownEvent {
    /// Why the stream ends.
    reason: &'static str,
    /// Server time.
    #[serde(with = "wire")]
    #[schema(value_type = String, format = DateTime)]
    timestamp: DateTime<Utc>,
}

impl EventData for ShutdownEvent {
    const EVENT: &'static str = "shutdown";
}

/// Data of `event: unavailable`, the only event of a transient refusal sent as an event stream
/// (after `retry:`; the response then ends and the client reconnects by itself). No `id`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnavailableEvent {
    /// `unavailable` (bus or store down, starting or shutting down), `too_many_streams`,
    /// `too_many_streams_per_client` or `too_many_connections`.
    code: String,
    /// Human-readable explanation.
    message: String,
    /// The reconnection delay the `retry:` line sets (the retry delay with jitter).
    retry_after_ms: u64,
}

impl EventData for UnavailableEvent {
    const EVENT: &'static str = "unavailable";
}

/// Appends one event, `[retry: …\n\n][id: …\n]event: …\ndata: {json}\n\n`, to `out`.
fn write_event<T: EventData>(out: &mut BytesMut, retry_ms: Option<u64>, id: Option<Seq>, data: &T) {
    if let Some(retry_ms) = retry_ms {
        out.put_slice(b"retry: ");
        out.put_slice(retry_ms.to_string().as_bytes());
        out.put_slice(b"\n\n");
    }
    if let Some(id) = id {
        out.put_slice(b"id: ");
        out.put_slice(id.to_string().as_bytes());
        out.put_u8(b'\n');
    }
    out.put_slice(b"event: ");
    out.put_slice(T::EVENT.as_bytes());
    out.put_slice(b"\ndata: ");
    // serde_json's compact output escapes control characters, so it never contains a newline.
    let _ = serde_json::to_writer((&mut *out).writer(), data);
    out.put_slice(b"\n\n");
}

/// One event (after a `retry:` line when `retry_ms` is given) as its frame bytes.
fn encode<T: EventData>(retry_ms: Option<u64>, id: Option<Seq>, data: &T) -> Bytes {
    let mut out = BytesMut::with_capacity(128);
    write_event(&mut out, retry_ms, id, data);
    out.freeze()
}

/// What a stream starts with: the retry hint and the `connection` event, whose id is the
/// stream's position (the seq it goes on after).
pub fn encode_connection(now: DateTime<Utc>, position: Seq) -> Bytes {
    let data = ConnectionEvent {
        status: "connected",
        timestamp: now,
    };
    encode(Some(u64::from(RETRY_MS)), Some(position), &data)
}

/// A `heartbeat` event whose id is the stream's position: every event up to it that the stream
/// wants has been sent.
pub fn encode_heartbeat(now: DateTime<Utc>, position: Seq) -> Bytes {
    encode(None, Some(position), &HeartbeatEvent { timestamp: now })
}

/// The same event as `bytes` (whose first line is its `id:`) with `position` as its id.
pub fn restamp(bytes: &[u8], position: Seq) -> Bytes {
    let rest = bytes
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes, |end| &bytes[end + 1..]);
    let mut out = BytesMut::with_capacity(rest.len() + 24);
    out.put_slice(b"id: ");
    out.put_slice(position.to_string().as_bytes());
    out.put_u8(b'\n');
    out.put_slice(rest);
    out.freeze()
}

/// A `reset` event: the resume point cannot be honoured in full; the stream goes on after
/// `position`, which is its id (the first seq it can deliver, `oldestSeq`, is the next one).
pub fn encode_reset(position: Seq, reason: &str, message: &str) -> Bytes {
    let data = ResetEvent {
        message: message.to_owned(),
        oldest_seq: position.next(),
        reason: reason.to_owned(),
    };
    encode(None, Some(position), &data)
}

/// The whole body of a transient refusal to an event-stream client (SPEC §4): the reconnection
/// delay and one `unavailable` event. No `id:` line: the client keeps its resume point.
pub fn encode_unavailable(code: &str, message: &str, retry_ms: u64) -> Bytes {
    let data = UnavailableEvent {
        code: code.to_owned(),
        message: message.to_owned(),
        retry_after_ms: retry_ms,
    };
    encode(Some(retry_ms), None, &data)
}

/// A `shutdown` event, sent before the server closes a stream on shutdown.
pub fn encode_shutdown(now: DateTime<Utc>) -> Bytes {
    let data = ShutdownEvent {
        reason: "server shutting down",
        timestamp: now,
    };
    encode(None, None, &data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::parse_timestamp;

    #[test]
    fn a_broadcast_is_logged_at_debug_and_a_slow_one_at_warn() {
        let observation = Observation::from_values(
            StationId::parse("44013").unwrap(),
            parse_timestamp("2026-11-30T12:00:00Z").unwrap(),
            [None; crate::domain::VALUE_COUNT],
        );
        let frame = Frame::observation(Some(Seq::new(7)), &observation);
        frame.audience.store(3, Ordering::Relaxed);
        let lines = crate::telemetry::tests::lines(|| {
            frame.log_broadcast(Duration::from_millis(5));
            frame.log_broadcast(SLOW_BROADCAST + Duration::from_millis(1));
        });
        let lines: Vec<serde_json::Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        for (line, level) in lines.iter().zip(["debug", "warn"]) {
            assert_eq!(line["event"], "observation_broadcasted", "{line}");
            assert_eq!(line["level"], level, "{line}");
            assert_eq!(line["stationId"], "44013", "{line}");
            assert_eq!(line["clientCount"], 3, "{line}");
        }
        assert!(lines[1]["latencyMs"].as_f64().unwrap() > 200.0);
    }

    #[test]
    fn an_unavailable_body_sets_the_retry_and_keeps_the_resume_point() {
        let body = encode_unavailable("too_many_streams", "full \"now\"", 4321);
        let text = std::str::from_utf8(&body).unwrap();
        assert!(text.starts_with("retry: 4321\n\nevent: unavailable\ndata: {"));
        assert!(text.ends_with("}\n\n"));
        assert!(!text.contains("id:"));
        let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
        let v: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["code"], "too_many_streams");
        assert_eq!(v["message"], "full \"now\"");
        assert_eq!(v["retryAfterMs"], 4321);
    }

    fn t() -> DateTime<Utc> {
        parse_timestamp("2025-11-15T12:00:00Z").unwrap()
    }

    #[test]
    fn connection_frame_matches_the_contract() {
        assert_eq!(
            encode_connection(t(), Seq::new(1233)),
            "retry: 2000\n\nid: 1233\nevent: connection\ndata: {\"status\":\"connected\",\"timestamp\":\"2025-11-15T12:00:00.000Z\"}\n\n"
        );
    }

    #[test]
    fn heartbeats_carry_a_position_that_can_be_restamped() {
        let beat = Frame::heartbeat(t(), Seq::new(1234));
        assert_eq!(beat.position, Some(Seq::new(1234)));
        assert_eq!(
            beat.seq, None,
            "a heartbeat does not move a stream past any seq"
        );
        assert_eq!(
            beat.bytes,
            "id: 1234\nevent: heartbeat\ndata: {\"timestamp\":\"2025-11-15T12:00:00.000Z\"}\n\n"
        );
        assert_eq!(
            restamp(&beat.bytes, Seq::new(98765)),
            "id: 98765\nevent: heartbeat\ndata: {\"timestamp\":\"2025-11-15T12:00:00.000Z\"}\n\n"
        );
    }

    #[test]
    fn reset_shutdown_and_unavailable_frames_match_the_contract_byte_for_byte() {
        assert_eq!(
            encode_reset(Seq::new(20), "replay_limit", "m"),
            "id: 20\nevent: reset\ndata: {\"message\":\"m\",\"oldestSeq\":21,\"reason\":\"replay_limit\"}\n\n"
        );
        assert_eq!(
            encode_shutdown(t()),
            "event: shutdown\ndata: {\"reason\":\"server shutting down\",\"timestamp\":\"2025-11-15T12:00:00.000Z\"}\n\n"
        );
        assert_eq!(
            encode_unavailable("too_many_streams", "full \"now\"", 4321),
            "retry: 4321\n\nevent: unavailable\ndata: {\"code\":\"too_many_streams\",\"message\":\"full \\\"now\\\"\",\"retryAfterMs\":4321}\n\n"
        );
    }

    #[test]
    fn a_reset_carries_the_position_it_goes_on_after() {
        let reset = encode_reset(Seq::new(20), "replay_limit", "m");
        let text = std::str::from_utf8(&reset).unwrap();
        assert!(text.starts_with("id: 20\nevent: reset\ndata: {"), "{text}");
        assert!(text.contains("\"oldestSeq\":21"), "{text}");
    }

    #[test]
    fn an_observation_frame_matches_the_contract_byte_for_byte() {
        let mut values = [None; crate::domain::VALUE_COUNT];
        values[0] = Some(1.2);
        values[2] = Some(240.0);
        values[12] = Some(-0.5);
        let o = Observation::from_values(StationId::parse("44009").unwrap(), t(), values);
        assert_eq!(
            encode_observation(Some(Seq::new(1234)), &o),
            concat!(
                "id: 1234\nevent: observation\ndata: ",
                r#"{"kind":"observation","stationId":"44009","timestamp":"2025-11-15T12:00:00.000Z","waveHeightM":1.2,"#,
                r#""windSpeedMps":null,"windDirDeg":240.0,"waterTempC":null,"pressureHpa":null,"#,
                r#""gustMps":null,"dominantWavePeriodS":null,"averageWavePeriodS":null,"#,
                r#""meanWaveDirDeg":null,"airTempC":null,"dewPointC":null,"visibilityNmi":null,"#,
                r#""pressureTendencyHpa":-0.5,"tideFt":null}"#,
                "\n\n"
            )
        );
    }

    #[test]
    fn observation_frames_carry_the_seq_as_id() {
        let o = Observation::from_values(StationId::parse("44009").unwrap(), t(), [None; 14]);
        let with_id = encode_observation(Some(Seq::new(1234)), &o);
        let text = std::str::from_utf8(&with_id).unwrap();
        assert!(text.starts_with(
            "id: 1234\nevent: observation\ndata: {\"kind\":\"observation\",\"stationId\":\"44009\""
        ));
        assert!(text.ends_with("}\n\n"));
        assert_eq!(text.matches('\n').count(), 4);
        let without = encode_observation(None, &o);
        assert!(without.starts_with(b"event: observation\ndata: {"));
    }

    #[test]
    fn heartbeats_reach_every_filter() {
        let f = StationFilter::parse("46042").unwrap();
        let all = KindSet::ALL;
        assert!(Frame::heartbeat(t(), Seq::ZERO).wanted_by(f.as_ref(), KindSet::OBSERVATION));
        let o = Observation::from_values(StationId::parse("44009").unwrap(), t(), [None; 14]);
        assert!(!Frame::observation(None, &o).wanted_by(f.as_ref(), all));
        assert!(Frame::observation(None, &o).wanted_by(None, all));
        let only_rain = KindSet::parse("rain").unwrap();
        assert!(Frame::heartbeat(t(), Seq::ZERO).wanted_by(None, only_rain));
        assert!(!Frame::observation(None, &o).wanted_by(None, only_rain));
    }

    #[test]
    fn an_entry_of_another_kind_is_its_own_event_name() {
        use crate::domain::{Fields, KindEntry};
        let entry = Entry::Other(KindEntry {
            kind: Kind::Tsunami,
            station_id: StationId::parse("41421").unwrap(),
            timestamp: t(),
            fields: Fields::parse(r#"{"measurementType":1,"waterColumnHeightM":5783.4}"#).unwrap(),
        });
        let frame = Frame::entry(Some(Seq::new(9)), &entry);
        assert_eq!(
            frame.bytes,
            concat!(
                "id: 9\nevent: tsunami\ndata: ",
                r#"{"kind":"tsunami","stationId":"41421","timestamp":"2025-11-15T12:00:00.000Z","#,
                r#""measurementType":1,"waterColumnHeightM":5783.4}"#,
                "\n\n"
            )
        );
        assert!(frame.wanted_by(None, KindSet::parse("tsunami").unwrap()));
        assert!(!frame.wanted_by(None, KindSet::OBSERVATION));
        let o = Observation::from_values(StationId::parse("41421").unwrap(), t(), [None; 14]);
        assert_eq!(
            Frame::entry(Some(Seq::new(9)), &Entry::Observation(o.clone())).bytes,
            Frame::observation(Some(Seq::new(9)), &o).bytes
        );
    }
}
