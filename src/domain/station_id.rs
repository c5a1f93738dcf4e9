//! `StationId`: an NDBC station identifier, and `StationFilter`, a bounded set of them.

use std::collections::BTreeSet;
use std::fmt;

/// Longest station id accepted (NDBC ids are 5 characters; producers may use longer ones).
const MAX_LEN: usize = 32;
/// Most stations one filter may name (keeps per-connection state and SQL small).
pub const MAX_FILTER_STATIONS: usize = 200;

/// An uppercase station identifier such as `44009` or `BURL1`.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, utoipa::ToSchema,
)]
#[serde(transparent)]
#[schema(value_type = String, example = "44009", pattern = "^[A-Za-z0-9_-]{1,32}$")]
pub struct StationId(String);

/// Why a string is not a station id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StationIdError {
    #[error("station id is empty")]
    Empty,
    #[error("station id is longer than {MAX_LEN} characters")]
    TooLong,
    #[error("station id {0:?} may contain only letters, digits, '-' and '_'")]
    BadCharacter(String),
    #[error("at most {MAX_FILTER_STATIONS} stations may be named")]
    TooMany,
}

impl StationId {
    /// Parses and uppercases a station id: 1–32 ASCII letters, digits, `-` or `_`.
    pub fn parse(raw: &str) -> Result<Self, StationIdError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(StationIdError::Empty);
        }
        if raw.len() > MAX_LEN {
            return Err(StationIdError::TooLong);
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(StationIdError::BadCharacter(raw.chars().take(40).collect()));
        }
        Ok(Self(raw.to_ascii_uppercase()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for StationId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A set of stations a client wants; parsed from `stations=44009,46042`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StationFilter(BTreeSet<StationId>);

impl StationFilter {
    /// Parses a comma-separated list; empty items are ignored, an empty list means "all stations".
    pub fn parse(raw: &str) -> Result<Option<Self>, StationIdError> {
        let mut set = BTreeSet::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            set.insert(StationId::parse(part)?);
            if set.len() > MAX_FILTER_STATIONS {
                return Err(StationIdError::TooMany);
            }
        }
        Ok((!set.is_empty()).then_some(Self(set)))
    }

    /// Whether the filter lets this station through.
    pub fn contains(&self, id: &StationId) -> bool {
        self.0.contains(id)
    }

    /// The stations, in order.
    pub fn iter(&self) -> impl Iterator<Item = &StationId> {
        self.0.iter()
    }

    /// How many stations the filter names.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the filter names no station (never true for a parsed filter).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<StationId> for StationFilter {
    fn from_iter<T: IntoIterator<Item = StationId>>(iter: T) -> Self {
        Self(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uppercased_and_trimmed() {
        assert_eq!(StationId::parse(" burl1 ").map(|s| s.0), Ok("BURL1".into()));
    }

    #[test]
    fn bad_ids_are_rejected() {
        assert_eq!(StationId::parse(""), Err(StationIdError::Empty));
        assert_eq!(
            StationId::parse(&"A".repeat(33)),
            Err(StationIdError::TooLong)
        );
        assert!(matches!(
            StationId::parse("44009;drop"),
            Err(StationIdError::BadCharacter(_))
        ));
        assert!(matches!(
            StationId::parse("4400é"),
            Err(StationIdError::BadCharacter(_))
        ));
    }

    #[test]
    fn filters_parse_lists() {
        let f = StationFilter::parse("44009, 46042,,44009")
            .unwrap()
            .unwrap();
        assert_eq!(f.len(), 2);
        assert!(f.contains(&StationId::parse("46042").unwrap()));
        assert_eq!(StationFilter::parse(" , ").unwrap(), None);
        let many = (0..=MAX_FILTER_STATIONS)
            .map(|i| i.to_string())
            .collect::<Vec<_>>();
        assert_eq!(
            StationFilter::parse(&many.join(",")),
            Err(StationIdError::TooMany)
        );
    }
}
