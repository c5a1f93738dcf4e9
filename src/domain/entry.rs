//! `Entry`: one item of the ordered log, of any kind (SPEC §3a). An `observation` keeps its typed
//! values ([`Observation`]); every other kind carries its fields as a validated JSON object
//! ([`KindEntry`]), written by the NDBC parsers' typed payloads and stored as that document.

use chrono::{DateTime, Utc};
use serde::ser::SerializeMap;

use super::observation::check_time;
use super::{Observation, Seq, StationId, StoredObservation, Violation, format_timestamp};

mod schema;

pub use schema::stored_schema_name;

pub use ndbc::Kind;

/// Largest fields document of one entry, bytes: a spectrum of 64 bands with five arrays is about
/// 3 KiB; anything far larger is not an NDBC entry.
pub const MAX_FIELDS_BYTES: usize = 64 * 1024;

/// Names every payload carries besides its fields; a kind's fields never use them.
const ENVELOPE: [&str; 4] = ["seq", "kind", "stationId", "timestamp"];

/// An entry of a kind other than `observation`: its fields in their published order.
#[derive(Debug, Clone, PartialEq)]
pub struct KindEntry {
    /// The kind; never [`Kind::Observation`].
    pub kind: Kind,
    /// Uppercase station id.
    pub station_id: StationId,
    /// When it was measured (UTC).
    pub timestamp: DateTime<Utc>,
    /// The kind's fields (SPEC §3a), in order.
    pub fields: Fields,
}

/// The fields of a [`KindEntry`]: a JSON object whose member order is kept.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fields(pub Vec<(String, serde_json::Value)>);

/// Why a fields document is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldsError {
    /// Not a JSON object.
    #[error("fields must be a JSON object: {0}")]
    NotAnObject(String),
    /// Larger than [`MAX_FIELDS_BYTES`].
    #[error("fields document of {0} bytes is larger than {MAX_FIELDS_BYTES}")]
    TooLarge(usize),
    /// A member named like the envelope (`kind`, `stationId`, …).
    #[error("field `{0}` is reserved")]
    Reserved(String),
}

impl Fields {
    /// The fields of a serializable payload (an NDBC parser's typed payload).
    pub fn of<T: serde::Serialize>(payload: &T) -> Result<Self, FieldsError> {
        let text =
            serde_json::to_string(payload).map_err(|e| FieldsError::NotAnObject(e.to_string()))?;
        Self::parse(&text)
    }

    /// Parses and checks a fields document.
    pub fn parse(text: &str) -> Result<Self, FieldsError> {
        if text.len() > MAX_FIELDS_BYTES {
            return Err(FieldsError::TooLarge(text.len()));
        }
        let fields: Fields =
            serde_json::from_str(text).map_err(|e| FieldsError::NotAnObject(e.to_string()))?;
        fields.check()?;
        Ok(fields)
    }

    /// Checks members already decoded (from a bus message).
    pub fn check(&self) -> Result<(), FieldsError> {
        if let Some((name, _)) = self.0.iter().find(|(k, _)| ENVELOPE.contains(&k.as_str())) {
            return Err(FieldsError::Reserved(name.clone()));
        }
        let len = self.to_json().len();
        if len > MAX_FIELDS_BYTES {
            return Err(FieldsError::TooLarge(len));
        }
        Ok(())
    }

    /// The document as compact JSON text (what the store keeps).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }

    /// The member named `name`, if present.
    pub fn get(&self, name: &str) -> Option<&serde_json::Value> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

impl serde::Serialize for Fields {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> serde::Deserialize<'de> for Fields {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Fields;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Fields, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                    if let Some(slot) = members.iter_mut().find(|(name, _)| *name == k) {
                        slot.1 = v;
                    } else {
                        members.push((k, v));
                    }
                }
                Ok(Fields(members))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

impl serde::Serialize for KindEntry {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.0.len() + 3))?;
        map.serialize_entry("kind", self.kind.name())?;
        map.serialize_entry("stationId", &self.station_id)?;
        map.serialize_entry("timestamp", &format_timestamp(self.timestamp))?;
        for (k, v) in &self.fields.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// One entry of the log, of any kind.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Entry {
    /// An `observation` (standard meteorological data), typed.
    Observation(Observation),
    /// Any other kind.
    Other(KindEntry),
}

impl Entry {
    /// The entry's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Entry::Observation(_) => Kind::Observation,
            Entry::Other(e) => e.kind,
        }
    }

    /// The station it belongs to.
    pub fn station_id(&self) -> &StationId {
        match self {
            Entry::Observation(o) => &o.station_id,
            Entry::Other(e) => &e.station_id,
        }
    }

    /// When it was measured.
    pub fn timestamp(&self) -> DateTime<Utc> {
        match self {
            Entry::Observation(o) => o.timestamp,
            Entry::Other(e) => e.timestamp,
        }
    }

    /// The entry as its JSON text (the `data:` of an SSE frame).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }

    /// Checks an entry from outside: an observation's time and values
    /// ([`Observation::validate`]), another kind's time (its fields were checked when read).
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), Vec<Violation>> {
        match self {
            Entry::Observation(o) => o.validate(now),
            Entry::Other(e) => match check_time(e.timestamp, now) {
                Some(violation) => Err(vec![violation]),
                None => Ok(()),
            },
        }
    }
}

impl Entry {
    /// An entry from the members of a JSON object, as producers send it (publish API, bus):
    /// `kind` (absent means `observation`, the original contract), `stationId`, `timestamp`,
    /// and the fields. An observation is read by its typed schema; another kind keeps its
    /// other members as its fields, checked by [`Fields::check`].
    pub fn from_members(mut members: Vec<(String, serde_json::Value)>) -> Result<Entry, String> {
        let kind = match take_member(&mut members, "kind") {
            None => Kind::Observation,
            Some(serde_json::Value::String(name)) => Kind::from_name(&name).ok_or_else(|| {
                format!(
                    "kind: unknown kind {name:?} (known: {})",
                    KindSet::ALL.names().join(", ")
                )
            })?,
            Some(other) => return Err(format!("kind: expected a kind name, got {other}")),
        };
        let station = take_member(&mut members, "stationId");
        let timestamp = take_member(&mut members, "timestamp");
        if kind == Kind::Observation {
            let mut object: serde_json::Map<String, serde_json::Value> =
                members.into_iter().collect();
            object.extend(station.map(|v| ("stationId".to_owned(), v)));
            object.extend(timestamp.map(|v| ("timestamp".to_owned(), v)));
            return serde::Deserialize::deserialize(serde_json::Value::Object(object))
                .map(Entry::Observation)
                .map_err(|e: serde_json::Error| e.to_string());
        }
        let station = station
            .as_ref()
            .and_then(serde_json::Value::as_str)
            .ok_or("missing field `stationId`")?;
        let station_id = StationId::parse(station).map_err(|e| format!("stationId: {e}"))?;
        let timestamp = timestamp
            .as_ref()
            .and_then(serde_json::Value::as_str)
            .ok_or("missing field `timestamp`")?;
        let timestamp = super::parse_timestamp(timestamp)
            .ok_or_else(|| format!("timestamp: not an ISO 8601 time: {timestamp:?}"))?;
        let fields = Fields(members);
        fields.check().map_err(|e| e.to_string())?;
        Ok(Entry::Other(KindEntry {
            kind,
            station_id,
            timestamp,
            fields,
        }))
    }
}

/// A producer's fields of `kind` checked against the kind's payload type (SPEC §3a: the field
/// names and their types, no other member), in the kind's order with missing fields `null`.
/// The publish API applies it, so what it stores is what OpenAPI describes.
pub fn checked_fields(kind: Kind, fields: Fields) -> Result<Fields, String> {
    fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(
        value: serde_json::Value,
    ) -> Result<Fields, String> {
        let payload: T = serde_json::from_value(value).map_err(|e| e.to_string())?;
        Fields::of(&payload).map_err(|e| e.to_string())
    }
    // A name the kind does not have would be dropped by the typed read: refuse it instead.
    let checked = |kind_fields: Result<Fields, String>| {
        let kind_fields = kind_fields?;
        match fields.0.iter().find(|(k, _)| kind_fields.get(k).is_none()) {
            Some((name, _)) => Err(format!("unknown field `{name}`")),
            None => Ok(kind_fields),
        }
    };
    let value = serde_json::Value::Object(fields.0.iter().cloned().collect());
    checked(match kind {
        Kind::Observation => Err("an observation has typed values, not fields".into()),
        Kind::WaveSummary => typed::<ndbc::WaveSummary>(value),
        Kind::Spectrum => typed::<ndbc::Spectrum>(value),
        Kind::Ocean => typed::<ndbc::Ocean>(value),
        Kind::ContinuousWind => typed::<ndbc::ContinuousWind>(value),
        Kind::Tsunami => typed::<ndbc::Tsunami>(value),
        Kind::Supplemental => typed::<ndbc::Supplemental>(value),
        Kind::SolarRadiation => typed::<ndbc::SolarRadiation>(value),
        Kind::Rain => typed::<ndbc::Rain>(value),
        Kind::Drift => typed::<ndbc::Drift>(value),
        Kind::Currents => typed::<ndbc::Currents>(value),
        Kind::Derived => typed::<ndbc::Derived>(value),
    })
}

/// Removes and returns the member `name` of an object's members.
pub fn take_member(
    members: &mut Vec<(String, serde_json::Value)>,
    name: &str,
) -> Option<serde_json::Value> {
    let i = members.iter().position(|(k, _)| k == name)?;
    Some(members.remove(i).1)
}

impl From<Observation> for Entry {
    fn from(o: Observation) -> Self {
        Entry::Observation(o)
    }
}

/// An entry as stored in the log, with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEntry {
    /// Position in the log; the SSE event id.
    pub seq: Seq,
    /// The entry.
    pub entry: Entry,
}

impl StoredEntry {
    /// The stored observation, when the entry is one.
    pub fn into_observation(self) -> Option<StoredObservation> {
        match self.entry {
            Entry::Observation(observation) => Some(StoredObservation {
                seq: self.seq,
                observation,
            }),
            Entry::Other(_) => None,
        }
    }
}

impl From<StoredObservation> for StoredEntry {
    fn from(o: StoredObservation) -> Self {
        StoredEntry {
            seq: o.seq,
            entry: Entry::Observation(o.observation),
        }
    }
}

impl serde::Serialize for StoredEntry {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WithSeq {
            seq: self.seq,
            entry: &self.entry,
        }
        .serialize(serializer)
    }
}

/// An entry with its seq in front (`{"seq":…,"kind":…,…}`), without copying the entry: what
/// [`StoredEntry`] and a stored bus message serialise as.
#[derive(serde::Serialize)]
pub(crate) struct WithSeq<'a> {
    /// Position in the log.
    pub seq: Seq,
    /// The entry, its members after `seq`.
    #[serde(flatten)]
    pub entry: &'a Entry,
}

/// Which kinds a stream or a read wants: by default only `observation` (SPEC §3a).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KindSet(u16);

/// Why a `kinds=` value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KindSetError {
    /// Empty, or an empty item.
    #[error("kinds must be a comma-separated list of kind names, or *")]
    Empty,
    /// A name that is no kind.
    #[error("unknown kind `{0}` (known: {known})", known = KindSet::ALL.names().join(", "))]
    Unknown(String),
}

impl Default for KindSet {
    fn default() -> Self {
        Self::OBSERVATION
    }
}

impl KindSet {
    /// Only `observation`.
    pub const OBSERVATION: KindSet = KindSet(1 << Kind::Observation as u16);
    /// Every kind.
    pub const ALL: KindSet = KindSet((1 << Kind::ALL.len()) - 1);

    /// Parses `kinds=`: `*`, or a comma-separated list of kind names (repeats are fine).
    pub fn parse(text: &str) -> Result<Self, KindSetError> {
        if text.trim() == "*" {
            return Ok(Self::ALL);
        }
        let mut set = 0u16;
        for name in text.split(',').map(str::trim) {
            if name.is_empty() {
                return Err(KindSetError::Empty);
            }
            let kind = Kind::from_name(name).ok_or_else(|| KindSetError::Unknown(name.into()))?;
            set |= 1 << kind as u16;
        }
        Ok(KindSet(set))
    }

    /// A set of the given kinds.
    pub fn of(kinds: &[Kind]) -> Self {
        KindSet(kinds.iter().fold(0, |set, k| set | 1 << *k as u16))
    }

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: Kind) -> bool {
        self.0 & (1 << kind as u16) != 0
    }

    /// The kinds in the set, in [`Kind::ALL`] order.
    pub fn kinds(self) -> impl Iterator<Item = Kind> {
        Kind::ALL.into_iter().filter(move |k| self.contains(*k))
    }

    /// The kinds' names, in [`Kind::ALL`] order.
    pub fn names(self) -> Vec<&'static str> {
        self.kinds().map(Kind::name).collect()
    }

    /// Whether the set is every kind.
    pub fn is_all(self) -> bool {
        self == Self::ALL
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::parse_timestamp;

    fn spectrum() -> KindEntry {
        KindEntry {
            kind: Kind::Spectrum,
            station_id: StationId::parse("44013").unwrap(),
            timestamp: parse_timestamp("2025-11-15T12:40:00Z").unwrap(),
            fields: Fields::parse(
                r#"{"separationFreqHz":0.1,"frequenciesHz":[0.03,0.04],"r1":null}"#,
            )
            .unwrap(),
        }
    }

    #[test]
    fn a_kind_entry_serialises_its_envelope_then_its_fields_in_order() {
        let stored = StoredEntry {
            seq: Seq::new(7),
            entry: Entry::Other(spectrum()),
        };
        assert_eq!(
            serde_json::to_string(&stored).unwrap(),
            r#"{"seq":7,"kind":"spectrum","stationId":"44013","timestamp":"2025-11-15T12:40:00.000Z","separationFreqHz":0.1,"frequenciesHz":[0.03,0.04],"r1":null}"#
        );
    }

    #[test]
    fn fields_refuse_non_objects_reserved_names_and_huge_documents() {
        assert!(matches!(
            Fields::parse("[1]"),
            Err(FieldsError::NotAnObject(_))
        ));
        assert!(matches!(
            Fields::parse("nope"),
            Err(FieldsError::NotAnObject(_))
        ));
        assert_eq!(
            Fields::parse(r#"{"a":1,"kind":"x"}"#),
            Err(FieldsError::Reserved("kind".into()))
        );
        let huge = format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_FIELDS_BYTES));
        assert!(matches!(
            Fields::parse(&huge),
            Err(FieldsError::TooLarge(_))
        ));
        let round = Fields::parse(r#"{"z":1,"a":[1,null]}"#).unwrap();
        assert_eq!(round.to_json(), r#"{"z":1,"a":[1,null]}"#);
    }

    #[test]
    fn kinds_parse_names_and_star_and_refuse_the_rest() {
        assert_eq!(KindSet::default(), KindSet::OBSERVATION);
        assert_eq!(KindSet::parse("*").unwrap(), KindSet::ALL);
        let set = KindSet::parse("spectrum, observation,spectrum").unwrap();
        assert_eq!(set.names(), ["observation", "spectrum"]);
        assert!(!set.contains(Kind::Ocean));
        assert_eq!(KindSet::parse(""), Err(KindSetError::Empty));
        assert_eq!(KindSet::parse("ocean,"), Err(KindSetError::Empty));
        assert_eq!(
            KindSet::parse("Spectrum"),
            Err(KindSetError::Unknown("Spectrum".into()))
        );
        assert_eq!(KindSet::ALL.names().len(), 12);
        assert!(KindSet::ALL.is_all());
    }
}
