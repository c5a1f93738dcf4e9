//! Pub/Sub messages from the wire: the channel check and payload validation (SPEC §6).

use redis::Value;

use super::CHANNEL;
use crate::bus::{BusEvent, BusMessage};

pub(super) fn is_channel(value: &Value) -> bool {
    match value {
        Value::BulkString(b) => b == CHANNEL.as_bytes(),
        Value::SimpleString(s) => s == CHANNEL,
        _ => false,
    }
}

/// Validates one Pub/Sub message (`[channel, payload]`) into a bus event.
pub(super) fn decode_message(data: &[Value]) -> BusEvent {
    let payload = match data {
        [channel, Value::BulkString(payload)] if is_channel(channel) => payload,
        [channel, _] if is_channel(channel) => {
            return invalid("payload is not a string".into());
        }
        _ => return invalid("message on an unexpected channel".into()),
    };
    match parse_payload(payload) {
        Ok(message) => {
            tracing::debug!(event = "redis_message_received", channel = CHANNEL, stationId = %message.entry.station_id(), kind = %message.entry.kind(), "bus message received");
            BusEvent::Message(Box::new(message))
        }
        Err(reason) => invalid(reason),
    }
}

fn invalid(reason: String) -> BusEvent {
    tracing::warn!(event = "redis_subscriber_error", text = %reason, "invalid bus message skipped");
    BusEvent::Invalid(reason)
}

/// Parses and validates a payload: SPEC §6 JSON, plausible values, a positive seq if any.
fn parse_payload(payload: &[u8]) -> Result<BusMessage, String> {
    let message: BusMessage =
        serde_json::from_slice(payload).map_err(|e| format!("not an entry: {e}"))?;
    message.validate(chrono::Utc::now())?;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_validated() {
        let ok = br#"{"seq":7,"stationId":"44009","timestamp":"2025-11-15T12:00:00Z","waveHeightM":1.2}"#;
        let message = parse_payload(ok).unwrap();
        assert_eq!(message.seq.map(|s| s.get()), Some(7));
        let no_seq = br#"{"stationId":"44009","timestamp":"2025-11-15T12:00:00Z"}"#;
        assert_eq!(parse_payload(no_seq).unwrap().seq, None);
        for bad in [
            &b"not json"[..],
            br#"{"seq":7}"#,
            br#"{"seq":0,"stationId":"44009","timestamp":"2025-11-15T12:00:00Z"}"#,
            br#"{"seq":7,"stationId":"bad id!","timestamp":"2025-11-15T12:00:00Z"}"#,
            br#"{"seq":7,"stationId":"44009","timestamp":"2025-11-15T12:00:00Z","windDirDeg":999}"#,
        ] {
            assert!(
                parse_payload(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let channel = Value::BulkString(CHANNEL.as_bytes().to_vec());
        assert!(matches!(
            decode_message(&[channel.clone(), Value::BulkString(ok.to_vec())]),
            BusEvent::Message(_)
        ));
        assert!(matches!(
            decode_message(&[channel, Value::Int(1)]),
            BusEvent::Invalid(_)
        ));
    }
}
