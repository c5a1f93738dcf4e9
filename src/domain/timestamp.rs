//! The wire format of times: ISO 8601 UTC with milliseconds and `Z`.

use std::cell::Cell;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};

/// Formats a time as `2025-11-15T12:00:00.000Z`.
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    let mut out = String::with_capacity(FORMATTED);
    // Writing to a `String` does not fail.
    let _ = write_timestamp(&mut out, t);
    out
}

/// Length of a formatted time; of its date and second (`2025-11-15T12:00:00`).
const FORMATTED: usize = 24;
const SECOND: usize = 19;

/// Writes a time as [`format_timestamp`] does. Log lines and stream greetings ask for the current
/// time many times a second: each thread has chrono format the date and second once a second,
/// and adds the milliseconds.
pub fn write_timestamp(out: &mut dyn fmt::Write, t: DateTime<Utc>) -> fmt::Result {
    thread_local! {
        static LAST: Cell<(i64, [u8; SECOND])> = const { Cell::new((i64::MIN, [0; SECOND])) };
    }
    let chrono = || t.to_rfc3339_opts(SecondsFormat::Millis, true);
    let (second, nanos) = (t.timestamp(), t.timestamp_subsec_nanos());
    let prefix = LAST.with(|last| {
        let (at, prefix) = last.get();
        if at == second {
            return Some(prefix);
        }
        let full = chrono();
        // Only the usual shape is kept (a year of four digits).
        if full.len() != FORMATTED {
            return None;
        }
        let prefix = <[u8; SECOND]>::try_from(full.as_bytes().get(..SECOND)?).ok()?;
        last.set((second, prefix));
        Some(prefix)
    });
    let prefix = prefix.as_ref().and_then(|p| std::str::from_utf8(p).ok());
    match prefix {
        // (Nanoseconds past a second's end mark a leap second: chrono writes those.)
        Some(prefix) if nanos < 1_000_000_000 => {
            let millis = nanos / 1_000_000;
            let rest = [
                b'.',
                b'0' + (millis / 100) as u8,
                b'0' + (millis / 10 % 10) as u8,
                b'0' + (millis % 10) as u8,
                b'Z',
            ];
            out.write_str(prefix)?;
            out.write_str(std::str::from_utf8(&rest).map_err(|_| fmt::Error)?)
        }
        _ => out.write_str(&chrono()),
    }
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
        let mut out = [0u8; super::FORMATTED + 8];
        let mut buf = Buf(&mut out, 0);
        if super::write_timestamp(&mut buf, *t).is_ok() {
            let len = buf.1;
            if let Ok(text) = std::str::from_utf8(&out[..len]) {
                return s.serialize_str(text);
            }
        }
        s.serialize_str(&super::format_timestamp(*t))
    }

    /// A formatted time on the stack (no allocation for the usual shape).
    struct Buf<'a>(&'a mut [u8], usize);

    impl std::fmt::Write for Buf<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            let end = self.1 + s.len();
            let slot = self.0.get_mut(self.1..end).ok_or(std::fmt::Error)?;
            slot.copy_from_slice(s.as_bytes());
            self.1 = end;
            Ok(())
        }
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
    fn the_second_kept_per_thread_formats_as_chrono_does() {
        for raw in [
            "2025-11-15T12:00:00.999Z",
            "2025-11-15T12:00:00.001Z",
            "2025-11-15T12:00:01.500Z",
            "1970-01-01T00:00:00.000Z",
            "2025-11-15T12:00:01.042Z",
        ] {
            let t = parse_timestamp(raw).unwrap();
            assert_eq!(format_timestamp(t), raw);
            assert_eq!(format_timestamp(t), raw);
        }
        // A five-digit year is written by chrono, not from the kept second.
        let far = DateTime::from_timestamp(253_402_300_800, 5_000_000).unwrap();
        let expected = far.to_rfc3339_opts(SecondsFormat::Millis, true);
        assert_eq!(format_timestamp(far), expected);
        assert_eq!(format_timestamp(far), expected);
        let mut json = serde_json::Serializer::new(Vec::new());
        wire::serialize(&far, &mut json).unwrap();
        assert_eq!(json.into_inner(), format!("\"{expected}\"").into_bytes());
    }

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
