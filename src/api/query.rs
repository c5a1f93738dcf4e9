//! Query strings read into one typed struct per endpoint ([`Query`]); that struct is also what
//! OpenAPI describes (`utoipa::IntoParams`). Every invalid value is a 400 naming its parameter.
//!
//! The rules, the same for every endpoint: the last of repeated names wins, unknown names are
//! ignored, and parameters are checked in the order the struct declares them (the first invalid
//! one is the error). A parameter's type ([`EventId`], [`Time`], [`Bounded`], [`Stations`])
//! says what it accepts and writes the message; the parameter's name is put in front of it here.

use std::collections::HashMap;
use std::fmt;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use serde::de::value::MapDeserializer;
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::{Deserialize, Deserializer};

use super::ApiError;
use crate::domain::{KindSet, Seq, StationFilter, parse_timestamp};

/// A query string read into `T` (the endpoint's query struct); a failure is a 400.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        RawQuery::from_parts(parts)?.read().map(Self)
    }
}

/// The query string as name → value (the last of repeated names wins), not yet read into a
/// struct: for an endpoint whose headers decide which of its query structs applies.
#[derive(Debug, Default)]
pub struct RawQuery(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for RawQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::from_parts(parts)
    }
}

impl RawQuery {
    fn from_parts(parts: &Parts) -> Result<Self, ApiError> {
        Self::parse(parts.uri.query().unwrap_or(""))
    }

    /// Splits and decodes a query string (`a=1&b=2`).
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| ApiError::BadRequest(format!("invalid query string: {e}")))?;
        Ok(Self(pairs.into_iter().collect()))
    }

    /// The parameters read into `T`, a struct of optional parameter types.
    pub fn read<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        T::deserialize(Fields(&self.0)).map_err(|e| ApiError::BadRequest(e.0))
    }
}

/// Why a parameter was refused: the message a 400 carries.
#[derive(Debug)]
struct Invalid(String);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

impl de::Error for Invalid {
    fn custom<M: fmt::Display>(message: M) -> Self {
        Self(message.to_string())
    }
}

/// Feeds a struct its fields in the order it declares them (so the first invalid parameter is
/// the same whatever the order in the URL), leaving out names it does not declare.
struct Fields<'q>(&'q HashMap<String, String>);

impl<'de> Deserializer<'de> for Fields<'_> {
    type Error = Invalid;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Invalid> {
        let present = fields.iter().filter_map(|&name| {
            let raw = self.0.get(name)?;
            Some((name, Value { name, raw }))
        });
        visitor.visit_map(MapDeserializer::new(present))
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Invalid> {
        Err(Invalid("a query is read into a struct".into()))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// One parameter's raw value; an error reading it is prefixed with the parameter's name.
struct Value<'q> {
    name: &'static str,
    raw: &'q str,
}

impl<'de> IntoDeserializer<'de, Invalid> for Value<'_> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> Deserializer<'de> for Value<'_> {
    type Error = Invalid;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        visitor
            .visit_str(self.raw)
            .map_err(|Invalid(message)| Invalid(format!("{}: {message}", self.name)))
    }

    /// A parameter that is present is a value (an empty one too: it is invalid for numbers and
    /// times).
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        visitor.visit_some(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

/// Reads a parameter's text and parses it; the message of a failure says what was expected.
/// The parse runs inside the deserializer's visit, so the deserializer can name the parameter.
fn parse_text<'de, D: Deserializer<'de>, T>(
    deserializer: D,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    struct Parse<F>(F);

    impl<T, F: FnOnce(&str) -> Result<T, String>> Visitor<'_> for Parse<F> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a query parameter's text")
        }

        fn visit_str<E: de::Error>(self, raw: &str) -> Result<T, E> {
            (self.0)(raw).map_err(E::custom)
        }
    }

    deserializer.deserialize_str(Parse(parse))
}

/// An event id such as `after=1234` or `lastEventId=1234`: a non-negative integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventId(pub Seq);

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parse_text(deserializer, |raw| {
            Seq::parse(raw)
                .map(Self)
                .ok_or_else(|| format!("expected a non-negative integer, got {raw:?}"))
        })
    }
}

/// A time (ISO 8601), such as `since=2025-11-15T12:00:00Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time(pub DateTime<Utc>);

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parse_text(deserializer, |raw| {
            parse_timestamp(raw).map(Self).ok_or_else(|| {
                format!("expected an ISO 8601 time such as 2025-11-15T12:00:00Z, got {raw:?}")
            })
        })
    }
}

/// An integer within `LO..=HI`, such as `limit=` or `wait=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounded<const LO: u32, const HI: u32>(pub u32);

impl<'de, const LO: u32, const HI: u32> Deserialize<'de> for Bounded<LO, HI> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parse_text(deserializer, |raw| {
            raw.trim()
                .parse::<u32>()
                .ok()
                .filter(|v| (LO..=HI).contains(v))
                .map(Self)
                .ok_or_else(|| format!("expected an integer from {LO} to {HI}, got {raw:?}"))
        })
    }
}

/// A station filter, `stations=44009,46042`; an empty list means all stations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stations(pub Option<StationFilter>);

impl Stations {
    /// The filter of an optional `stations=` (`None`: all stations).
    pub fn filter(stations: Option<Self>) -> Option<StationFilter> {
        stations.and_then(|s| s.0)
    }
}

impl<'de> Deserialize<'de> for Stations {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parse_text(deserializer, |raw| {
            StationFilter::parse(raw)
                .map(Self)
                .map_err(|e| e.to_string())
        })
    }
}

/// Which kinds to send or read, `kinds=observation,spectrum` or `kinds=*` (SPEC §3a).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kinds(pub KindSet);

impl Kinds {
    /// The set of an optional `kinds=` (`observation` alone when absent).
    pub fn set(kinds: Option<Self>) -> KindSet {
        kinds.map_or_else(KindSet::default, |Kinds(set)| set)
    }
}

impl<'de> Deserialize<'de> for Kinds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parse_text(deserializer, |raw| {
            KindSet::parse(raw).map(Self).map_err(|e| e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Sample {
        last_event_id: Option<EventId>,
        since: Option<Time>,
        limit: Option<Bounded<1, 1000>>,
        wait: Option<Bounded<0, 60>>,
        stations: Option<Stations>,
    }

    fn read(query: &str) -> Result<Sample, String> {
        RawQuery::parse(query)
            .and_then(|q| q.read::<Sample>())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn reads_typed_values() {
        let s = read("lastEventId=12&limit=5&stations=44009%2C46042&since=2025-11-15T12:00:00Z")
            .unwrap();
        assert_eq!(s.last_event_id, Some(EventId(Seq::new(12))));
        assert_eq!(s.limit, Some(Bounded(5)));
        assert_eq!(Stations::filter(s.stations).unwrap().len(), 2);
        assert!(s.since.is_some());
        assert_eq!(read("wait=0").unwrap().wait, Some(Bounded(0)));
        let empty = read("").unwrap();
        assert!(empty.limit.is_none() && empty.last_event_id.is_none() && empty.wait.is_none());
        assert_eq!(Stations::filter(read("stations=").unwrap().stations), None);
    }

    #[test]
    fn the_last_repeated_value_wins_and_unknown_names_are_ignored() {
        let s = read("limit=0&limit=7&access_token=x&other=y").unwrap();
        assert_eq!(s.limit, Some(Bounded(7)));
        assert!(read("limit=7&limit=0").is_err());
    }

    #[test]
    fn messages_name_the_parameter_and_quote_the_value() {
        for (query, message) in [
            (
                "lastEventId=-1",
                "lastEventId: expected a non-negative integer, got \"-1\"",
            ),
            (
                "lastEventId=",
                "lastEventId: expected a non-negative integer, got \"\"",
            ),
            (
                "since=soon",
                "since: expected an ISO 8601 time such as 2025-11-15T12:00:00Z, got \"soon\"",
            ),
            (
                "since=",
                "since: expected an ISO 8601 time such as 2025-11-15T12:00:00Z, got \"\"",
            ),
            (
                "limit=0",
                "limit: expected an integer from 1 to 1000, got \"0\"",
            ),
            (
                "limit=100000",
                "limit: expected an integer from 1 to 1000, got \"100000\"",
            ),
            (
                "wait=61",
                "wait: expected an integer from 0 to 60, got \"61\"",
            ),
        ] {
            assert_eq!(read(query).unwrap_err(), message, "{query}");
        }
        assert!(read("stations=a;b").unwrap_err().starts_with("stations: "));
    }

    #[test]
    fn the_first_invalid_parameter_in_declaration_order_is_the_error() {
        let message = read("stations=a;b&limit=0&lastEventId=x").unwrap_err();
        assert!(message.starts_with("lastEventId: "), "{message}");
        let message = read("stations=a;b&limit=0").unwrap_err();
        assert!(message.starts_with("limit: "), "{message}");
    }
}
