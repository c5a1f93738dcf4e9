//! `Seq`: the position of an observation in the store's totally ordered log; also the SSE event id.

use std::fmt;

/// A stored observation's sequence number: positive, strictly increasing in commit order.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
#[derive(utoipa::ToSchema)]
#[schema(value_type = i64, minimum = 0, example = 1234)]
pub struct Seq(i64);

impl Seq {
    /// Before every stored observation: "nothing seen yet".
    pub const ZERO: Seq = Seq(0);

    /// Wraps a value read from the store.
    pub fn new(value: i64) -> Self {
        Self(value)
    }

    /// Parses an event id as sent back in `Last-Event-ID` (a non-negative integer).
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 19 || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        raw.parse().ok().map(Self)
    }

    /// The raw number.
    pub fn get(self) -> i64 {
        self.0
    }

    /// The next number in the log.
    pub fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_event_ids() {
        assert_eq!(Seq::parse("1234"), Some(Seq(1234)));
        assert_eq!(Seq::parse(" 0 "), Some(Seq::ZERO));
        for bad in ["", "-1", "12a", "1.5", "99999999999999999999", "+3"] {
            assert_eq!(Seq::parse(bad), None, "{bad}");
        }
    }
}
