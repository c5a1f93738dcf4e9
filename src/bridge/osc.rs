//! The OSC bridge: every observation of the stream becomes one OSC bundle sent over UDP to audio
//! software (SuperCollider, Pure Data, Max). The address schema is in `docs/AUDIO_CLIENTS.md`:
//!
//! ```text
//! /buoy/44009/waveHeightM  f:1.2                        one per field that has a value
//! /buoy/44009/missing  s:windDirDeg s:tideFt …          the fields that are null (maybe none)
//! /buoy/observation  s:stationId i:seq s:timestamp     last: every value above has arrived
//! /buoy/status  s:connected|reconnecting|stopped        alone, when the connection changes
//! ```
//!
//! Receivers handle a bundle's messages in order, so the closing `/buoy/observation` is where a
//! patch triggers a note with the values it has just stored.
//!
//! Entries of the other kinds (`--kinds`, SPEC §3a) have the kind in their addresses, and one
//! message per value; an array (a spectrum's bands, the current profile's bins) is one message
//! per item that has a value, with the item's index first:
//!
//! ```text
//! /buoy/44013/spectrum/separationFreqHz  f:0.1            a number
//! /buoy/44013/spectrum/frequenciesHz  i:0 f:0.033         an array: one message per item
//! /buoy/44013/spectrum/energyDensityM2PerHz  i:0 f:0.52
//! /buoy/44029/currents/speedCmPerS  i:2 f:14.0             an array of objects: per item, per member
//! /buoy/44013/waveSummary/swellDir  s:SSE                  a text
//! /buoy/44013/spectrum/missing  s:r2 …                     the null fields (whole, not items)
//! /buoy/spectrum  s:stationId i:seq s:timestamp           last, as for observations
//! ```
//!
//! A null item of an array sends nothing (the null rule below, per item).
//!
//! **Null rule:** a null field sends no value message, and is named in `…/missing`. A missing
//! message leaves whatever a patch holds for that field untouched (sample-and-hold), which is
//! what a synth parameter wants. OSC's nil (`N`) is not an option: Pd's `[oscparse]` reports an
//! "unknown tag" error for it, and SuperCollider hands it to the handler as `nil`, which breaks
//! arithmetic there. A sentinel number (0, -1, NaN) would be played as a real reading.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use rosc::{OscBundle, OscMessage, OscPacket, OscTime, OscType};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::sse::{Delivery, Subscription, SubscriptionConfig};
use crate::domain::{KindEntry, Observation, Seq, VALUE_COUNT, VALUE_NAMES, format_timestamp};

/// JSON (and OSC) names of the measured values, in [`Observation::values`] order: the
/// observation's field table ([`VALUE_NAMES`]).
pub const FIELD_NAMES: [&str; VALUE_COUNT] = VALUE_NAMES;

/// The OSC time tag meaning "now" (OSC 1.0: seconds 0, fraction 1).
const IMMEDIATELY: OscTime = OscTime {
    seconds: 0,
    fractional: 1,
};

/// The first part of every OSC address, e.g. `/buoy`: a slash and printable ASCII without
/// spaces or the characters OSC reserves for patterns (`#*,?[]{}`), no trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OscPrefix(String);

impl OscPrefix {
    /// Checks a prefix; a trailing slash is dropped.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim().trim_end_matches('/');
        if !trimmed.starts_with('/') {
            return Err(format!(
                "an OSC prefix starts with '/' and names at least one part (got {raw:?})"
            ));
        }
        let bad = |c: char| !c.is_ascii_graphic() || "#*,?[]{}".contains(c);
        if let Some(c) = trimmed.chars().find(|&c| bad(c)) {
            return Err(format!("an OSC prefix may not contain {c:?}"));
        }
        if trimmed.contains("//") {
            return Err("an OSC prefix may not contain an empty part (//)".into());
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The prefix as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The bundle for one observation (see the module docs for the schema).
pub fn observation_bundle(
    prefix: &OscPrefix,
    seq: Option<Seq>,
    observation: &Observation,
) -> OscPacket {
    let p = prefix.as_str();
    let station = observation.station_id.as_str();
    let mut content = Vec::with_capacity(VALUE_COUNT + 2);
    let mut missing = Vec::new();
    for (name, value) in FIELD_NAMES.iter().zip(observation.values()) {
        match value {
            Some(v) => content.push(message(
                format!("{p}/{station}/{name}"),
                vec![OscType::Float(v as f32)],
            )),
            None => missing.push(OscType::String((*name).to_owned())),
        }
    }
    content.push(message(format!("{p}/{station}/missing"), missing));
    content.push(message(
        format!("{p}/observation"),
        vec![
            OscType::String(station.to_owned()),
            seq_arg(seq),
            OscType::String(format_timestamp(observation.timestamp)),
        ],
    ));
    OscPacket::Bundle(OscBundle {
        timetag: IMMEDIATELY,
        content,
    })
}

/// The bundle for one entry of a kind other than `observation` (see the module docs).
pub fn entry_bundle(prefix: &OscPrefix, seq: Option<Seq>, entry: &KindEntry) -> OscPacket {
    let p = prefix.as_str();
    let (station, kind) = (entry.station_id.as_str(), entry.kind.name());
    let base = format!("{p}/{station}/{kind}");
    let mut content = Vec::new();
    let mut missing = Vec::new();
    for (name, value) in &entry.fields.0 {
        match value {
            serde_json::Value::Null => missing.push(OscType::String(name.clone())),
            serde_json::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let index = OscType::Int(i32::try_from(i).unwrap_or(i32::MAX));
                    match item {
                        serde_json::Value::Object(members) => {
                            for (member, v) in members {
                                if let Some(arg) = scalar(v) {
                                    content.push(message(
                                        format!("{base}/{member}"),
                                        vec![index.clone(), arg],
                                    ));
                                }
                            }
                        }
                        other => {
                            if let Some(arg) = scalar(other) {
                                content.push(message(
                                    format!("{base}/{name}"),
                                    vec![index.clone(), arg],
                                ));
                            }
                        }
                    }
                }
            }
            other => {
                if let Some(arg) = scalar(other) {
                    content.push(message(format!("{base}/{name}"), vec![arg]));
                }
            }
        }
    }
    content.push(message(format!("{base}/missing"), missing));
    content.push(message(
        format!("{p}/{kind}"),
        vec![
            OscType::String(station.to_owned()),
            seq_arg(seq),
            OscType::String(format_timestamp(entry.timestamp)),
        ],
    ));
    OscPacket::Bundle(OscBundle {
        timetag: IMMEDIATELY,
        content,
    })
}

/// One JSON value as an OSC argument: a number as a float, a text as a string, `true`/`false` as
/// 1/0; nothing for null and nested values.
fn scalar(value: &serde_json::Value) -> Option<OscType> {
    match value {
        serde_json::Value::Number(n) => n.as_f64().map(|v| OscType::Float(v as f32)),
        serde_json::Value::String(s) => Some(OscType::String(s.clone())),
        serde_json::Value::Bool(b) => Some(OscType::Int(i32::from(*b))),
        _ => None,
    }
}

/// The seq argument of a closing message: an int, a long beyond 32 bits, -1 when there is none.
fn seq_arg(seq: Option<Seq>) -> OscType {
    match seq.map(Seq::get) {
        None => OscType::Int(-1),
        Some(s) => i32::try_from(s).map_or(OscType::Long(s), OscType::Int),
    }
}

/// `…/status` with one word: `connected`, `reconnecting` or `stopped`.
pub fn status_message(prefix: &OscPrefix, status: &str) -> OscPacket {
    message(
        format!("{}/status", prefix.as_str()),
        vec![OscType::String(status.to_owned())],
    )
}

fn message(addr: String, args: Vec<OscType>) -> OscPacket {
    OscPacket::Message(OscMessage { addr, args })
}

/// Settings of the OSC bridge.
#[derive(Debug, Clone)]
pub struct OscBridgeConfig {
    /// The stream to follow.
    pub subscription: SubscriptionConfig,
    /// Where the OSC packets go: `HOST:PORT`.
    pub target: String,
    /// First part of every address.
    pub prefix: OscPrefix,
}

/// Runs the bridge until `shutdown` is cancelled (or the server refuses the request for good).
pub async fn run(config: OscBridgeConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let target = resolve(&config.target).await?;
    let local: SocketAddr = if target.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local)
        .await
        .context("binding a UDP socket")?;
    socket
        .connect(target)
        .await
        .with_context(|| format!("UDP target {target}"))?;
    let mut sender = Sender {
        socket,
        target,
        failing: false,
    };
    let mut subscription = Subscription::new(config.subscription)?;
    tracing::info!(
        event = "bridge_started",
        url = %subscription.url(),
        target = %target,
        prefix = config.prefix.as_str(),
        "OSC bridge started"
    );
    let mut sent: u64 = 0;
    loop {
        let delivery = tokio::select! {
            () = shutdown.cancelled() => break,
            delivery = subscription.next() => delivery?,
        };
        match delivery {
            Delivery::Connected => {
                tracing::info!(
                    event = "bridge_connected",
                    lastSeq = subscription.last_seq().map(Seq::get),
                    "stream open"
                );
                sender
                    .send(&status_message(&config.prefix, "connected"))
                    .await;
            }
            Delivery::Disconnected { reason, retry_in } => {
                tracing::warn!(
                    event = "bridge_disconnected",
                    reason,
                    retryInMs = retry_in.as_millis() as u64,
                    lastSeq = subscription.last_seq().map(Seq::get),
                    "stream lost; reconnecting"
                );
                sender
                    .send(&status_message(&config.prefix, "reconnecting"))
                    .await;
            }
            Delivery::Entry { seq, entry } => {
                let packet = entry_bundle(&config.prefix, seq, &entry);
                if sender.send(&packet).await {
                    sent += 1;
                }
                tracing::debug!(
                    event = "bridge_entry_sent",
                    stationId = entry.station_id.as_str(),
                    kind = %entry.kind,
                    seq = seq.map(Seq::get),
                    "entry sent"
                );
            }
            Delivery::Observation { seq, observation } => {
                let packet = observation_bundle(&config.prefix, seq, &observation);
                if sender.send(&packet).await {
                    sent += 1;
                }
                tracing::debug!(
                    event = "bridge_observation_sent",
                    stationId = observation.station_id.as_str(),
                    seq = seq.map(Seq::get),
                    "observation sent"
                );
            }
        }
    }
    sender
        .send(&status_message(&config.prefix, "stopped"))
        .await;
    tracing::info!(
        event = "bridge_stopped",
        bundlesSent = sent,
        "OSC bridge stopped"
    );
    Ok(())
}

/// The UDP side. A send that fails (nobody listening yet, so the kernel reports the port
/// unreachable) is logged once per run of failures and never stops the bridge.
struct Sender {
    socket: UdpSocket,
    target: SocketAddr,
    failing: bool,
}

impl Sender {
    /// Sends one packet; `true` when the kernel took it.
    async fn send(&mut self, packet: &OscPacket) -> bool {
        let bytes = match rosc::encoder::encode(packet) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!(event = "bridge_encode_failed", error = %e, "cannot encode OSC");
                return false;
            }
        };
        match self.socket.send(&bytes).await {
            Ok(_) => {
                if std::mem::take(&mut self.failing) {
                    tracing::info!(event = "bridge_target_reachable", target = %self.target, "sending again");
                }
                true
            }
            Err(e) => {
                if !std::mem::replace(&mut self.failing, true) {
                    tracing::warn!(
                        event = "bridge_send_failed",
                        target = %self.target,
                        error = %e,
                        "cannot send OSC (is the receiver running?)"
                    );
                }
                false
            }
        }
    }
}

async fn resolve(target: &str) -> anyhow::Result<SocketAddr> {
    let lookup = tokio::time::timeout(Duration::from_secs(10), tokio::net::lookup_host(target))
        .await
        .with_context(|| format!("--target {target}: lookup timed out"))?
        .with_context(|| format!("--target {target}: expected HOST:PORT"))?;
    lookup
        .into_iter()
        .next()
        .with_context(|| format!("--target {target}: no address"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{StationId, parse_timestamp};

    fn sample(values: [Option<f64>; VALUE_COUNT]) -> Observation {
        Observation::from_values(
            StationId::parse("44009").unwrap(),
            parse_timestamp("2025-11-15T12:00:00Z").unwrap(),
            values,
        )
    }

    fn messages(packet: &OscPacket) -> Vec<(String, Vec<OscType>)> {
        let OscPacket::Bundle(bundle) = packet else {
            panic!("not a bundle")
        };
        assert_eq!(bundle.timetag, IMMEDIATELY);
        bundle
            .content
            .iter()
            .map(|p| match p {
                OscPacket::Message(m) => (m.addr.clone(), m.args.clone()),
                OscPacket::Bundle(_) => panic!("nested bundle"),
            })
            .collect()
    }

    #[test]
    fn field_names_are_the_json_names_in_value_order() {
        let mut values = [None; VALUE_COUNT];
        values[3] = Some(1.0);
        let json = serde_json::to_value(sample(values)).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|k| !["kind", "stationId", "timestamp"].contains(k))
            .collect();
        let mut sorted_names = FIELD_NAMES.to_vec();
        sorted_names.sort_unstable();
        let mut sorted_keys = keys.clone();
        sorted_keys.sort_unstable();
        assert_eq!(sorted_names, sorted_keys);
        assert_eq!(json[FIELD_NAMES[3]], 1.0, "order matches values()");
    }

    #[test]
    fn a_bundle_has_the_header_each_value_and_the_missing_fields() {
        let mut values = [None; VALUE_COUNT];
        values[0] = Some(1.2);
        values[4] = Some(1013.25);
        values[12] = Some(-1.5);
        let prefix = OscPrefix::parse("/buoy").unwrap();
        let got = messages(&observation_bundle(
            &prefix,
            Some(Seq::new(42)),
            &sample(values),
        ));
        let s = |x: &str| OscType::String(x.into());
        let mut want = vec![
            (
                "/buoy/44009/waveHeightM".to_owned(),
                vec![OscType::Float(1.2)],
            ),
            (
                "/buoy/44009/pressureHpa".into(),
                vec![OscType::Float(1013.25)],
            ),
            (
                "/buoy/44009/pressureTendencyHpa".into(),
                vec![OscType::Float(-1.5)],
            ),
        ];
        let missing = FIELD_NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| ![0, 4, 12].contains(i))
            .map(|(_, n)| s(n))
            .collect();
        want.push(("/buoy/44009/missing".into(), missing));
        want.push((
            "/buoy/observation".into(),
            vec![s("44009"), OscType::Int(42), s("2025-11-15T12:00:00.000Z")],
        ));
        assert_eq!(got, want);
    }

    #[test]
    fn an_observation_without_seq_or_nulls_and_a_huge_seq() {
        let prefix = OscPrefix::parse("/sea/").unwrap();
        let full = sample([Some(2.0); VALUE_COUNT]);
        let got = messages(&observation_bundle(&prefix, None, &full));
        assert_eq!(got.len(), VALUE_COUNT + 2);
        assert_eq!(got[VALUE_COUNT], ("/sea/44009/missing".to_owned(), vec![]));
        assert_eq!(got[VALUE_COUNT + 1].0, "/sea/observation");
        assert_eq!(got[VALUE_COUNT + 1].1[1], OscType::Int(-1));
        let big = messages(&observation_bundle(&prefix, Some(Seq::new(1 << 40)), &full));
        assert_eq!(big[VALUE_COUNT + 1].1[1], OscType::Long(1 << 40));
    }

    #[test]
    fn bundles_encode_and_decode() {
        let prefix = OscPrefix::parse("/buoy").unwrap();
        let packet = observation_bundle(
            &prefix,
            Some(Seq::new(7)),
            &sample([Some(0.5); VALUE_COUNT]),
        );
        let bytes = rosc::encoder::encode(&packet).unwrap();
        assert!(bytes.len() < 1400, "fits one datagram: {}", bytes.len());
        let (_, decoded) = rosc::decoder::decode_udp(&bytes).unwrap();
        assert_eq!(decoded, packet);
    }

    #[test]
    fn prefixes_are_checked() {
        assert_eq!(OscPrefix::parse("/buoy/").unwrap().as_str(), "/buoy");
        assert_eq!(OscPrefix::parse("/a/b").unwrap().as_str(), "/a/b");
        for bad in ["", "/", "buoy", "/bu oy", "/b*", "/a//b", "/é"] {
            assert!(OscPrefix::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_entry_bundle_sends_numbers_arrays_per_item_texts_and_the_missing_fields() {
        use crate::domain::{Fields, Kind, StationId};
        let entry = KindEntry {
            kind: Kind::Spectrum,
            station_id: StationId::parse("44013").unwrap(),
            timestamp: parse_timestamp("2025-11-15T12:40:00Z").unwrap(),
            fields: Fields::parse(
                r#"{"separationFreqHz":0.1,"frequenciesHz":[0.03,0.04],"energyDensityM2PerHz":[0.5,null],"r1":null,"note":"x","bins":[{"depthM":2.0,"dirDeg":null}]}"#,
            )
            .unwrap(),
        };
        let prefix = OscPrefix::parse("/buoy").unwrap();
        let got = messages(&entry_bundle(&prefix, Some(Seq::new(7)), &entry));
        let f = |v: f64| OscType::Float(v as f32);
        let i = OscType::Int;
        assert_eq!(
            got,
            [
                ("/buoy/44013/spectrum/separationFreqHz".into(), vec![f(0.1)]),
                (
                    "/buoy/44013/spectrum/frequenciesHz".into(),
                    vec![i(0), f(0.03)]
                ),
                (
                    "/buoy/44013/spectrum/frequenciesHz".into(),
                    vec![i(1), f(0.04)]
                ),
                (
                    "/buoy/44013/spectrum/energyDensityM2PerHz".into(),
                    vec![i(0), f(0.5)]
                ),
                (
                    "/buoy/44013/spectrum/note".into(),
                    vec![OscType::String("x".into())]
                ),
                ("/buoy/44013/spectrum/depthM".into(), vec![i(0), f(2.0)]),
                (
                    "/buoy/44013/spectrum/missing".into(),
                    vec![OscType::String("r1".into())]
                ),
                (
                    "/buoy/spectrum".into(),
                    vec![
                        OscType::String("44013".into()),
                        i(7),
                        OscType::String("2025-11-15T12:40:00.000Z".into()),
                    ]
                ),
            ]
        );
    }
}
