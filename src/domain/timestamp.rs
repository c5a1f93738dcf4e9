//! The wire format of times: ISO 8601 UTC with milliseconds and `Z`.

use chrono::{DateTime, SecondsFormat, Utc};

/// Formats a time as `2025-11-15T12:00:00.000Z`.
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an ISO 8601 / RFC 3339 time with an offset (`Z` or `+hh:mm`), or a bare date-time taken as UTC.
pub fn parse_timestamp(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(raw, fmt) {
            return Some(t.and_utc());
        }
    }
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// Serde adapter for the wire format.
pub(crate) mod wire {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_timestamp(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        super::parse_timestamp(&raw)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid timestamp {raw:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_wire_format() {
        let t = parse_timestamp("2025-11-15T12:00:00.000Z").unwrap();
        assert_eq!(format_timestamp(t), "2025-11-15T12:00:00.000Z");
        let t = parse_timestamp("2025-11-15T13:30:00+01:30").unwrap();
        assert_eq!(format_timestamp(t), "2025-11-15T12:00:00.000Z");
        assert_eq!(
            parse_timestamp("2025-11-15").map(format_timestamp),
            Some("2025-11-15T00:00:00.000Z".into())
        );
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
