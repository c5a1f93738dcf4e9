//! `StationId`: an NDBC station identifier, and `StationFilter`, a bounded set of them.

use std::collections::BTreeSet;
use std::fmt;

/// Longest station id accepted (NDBC ids are 5 characters; producers may use longer ones).
const MAX_LEN: usize = 32;
/// Length of an NDBC station id: most are 5 characters (WMO numbers such as `44009`, C-MAN and
/// partner names such as `BURL1`); `activestations.xml` also lists 4- and 7-character ones.
const NDBC_LEN: std::ops::RangeInclusive<usize> = 4..=7;
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
    #[error("{0:?} is not an NDBC station id (4 to 7 letters and digits)")]
    NotNdbc(String),
    #[error("{0:?} is not an NDBC station file name (<STATION>.txt)")]
    NotStationFile(String),
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

    /// Parses an NDBC station id: 4 to 7 ASCII letters and digits (`44009`, `BURL1`, `kbqx`),
    /// uppercased. Producers may use wider ids ([`Self::parse`]); NDBC files may not.
    pub fn parse_ndbc(raw: &str) -> Result<Self, StationIdError> {
        let short = || raw.chars().take(40).collect::<String>();
        if !NDBC_LEN.contains(&raw.len()) || !raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(StationIdError::NotNdbc(short()));
        }
        Self::parse(raw)
    }

    /// The station of an NDBC standard meteorological file, from its name alone:
    /// `<STATION>.txt` (any case) with an NDBC id, as NDBC names them under `data/realtime2/`.
    pub fn from_ndbc_file_name(name: &str) -> Result<Self, StationIdError> {
        let not_station_file = || StationIdError::NotStationFile(name.chars().take(40).collect());
        let (stem, extension) = name.rsplit_once('.').ok_or_else(not_station_file)?;
        if !extension.eq_ignore_ascii_case("txt") {
            return Err(not_station_file());
        }
        Self::parse_ndbc(stem).map_err(|_| not_station_file())
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
    fn ndbc_ids_and_file_names() {
        for ok in ["44009", "burl1", "TPLM2", "kbqx", "5401000"] {
            assert_eq!(
                StationId::parse_ndbc(ok).map(|s| s.0),
                Ok(ok.to_ascii_uppercase())
            );
        }
        for bad in [
            "", "abc", "44009_X", "4400-9", "12345678", " 44009", "4400é",
        ] {
            assert!(
                matches!(StationId::parse_ndbc(bad), Err(StationIdError::NotNdbc(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            StationId::from_ndbc_file_name("tplm2.TXT").map(|s| s.0),
            Ok("TPLM2".into())
        );
        for bad in [
            "44065_fetched_2024-02-05.txt",
            "44013.spec",
            "44013",
            ".txt",
            "not a station.txt",
            "44013.txt.bak",
            "activestations.xml",
        ] {
            assert!(
                matches!(
                    StationId::from_ndbc_file_name(bad),
                    Err(StationIdError::NotStationFile(_))
                ),
                "{bad:?}"
            );
        }
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
