//! One bus message (SPEC §6): an entry of any kind as JSON, with its seq when it was stored first.
//! An `observation` is the original contract's message (no `kind`, or `kind: "observation"`);
//! every other kind names itself in `kind`, and its other members are its fields.

use crate::domain::take_member as take;

use crate::domain::{
    Entry, Fields, Observation, Seq, StoredEntry, StoredObservation, Violation, WithSeq,
};

/// One message: an entry, with its seq when it was stored first.
#[derive(Debug, Clone, PartialEq)]
pub struct BusMessage {
    /// Position in the store's log; absent for producers that publish without storing.
    pub seq: Option<Seq>,
    /// The entry.
    pub entry: Entry,
}

impl From<StoredEntry> for BusMessage {
    fn from(s: StoredEntry) -> Self {
        Self {
            seq: Some(s.seq),
            entry: s.entry,
        }
    }
}

impl From<StoredObservation> for BusMessage {
    fn from(s: StoredObservation) -> Self {
        StoredEntry::from(s).into()
    }
}

impl BusMessage {
    /// The observation the message carries, when it is one.
    pub fn observation(&self) -> Option<&Observation> {
        match &self.entry {
            Entry::Observation(o) => Some(o),
            Entry::Other(_) => None,
        }
    }

    /// Checks what a message from outside carries: a positive seq if any, a plausible time and,
    /// for observations, plausible values.
    pub fn validate(&self, now: chrono::DateTime<chrono::Utc>) -> Result<(), String> {
        if self.seq.is_some_and(|s| s.get() < 1) {
            return Err("seq must be a positive integer".into());
        }
        self.entry.validate(now).map_err(|errors| {
            errors
                .iter()
                .map(Violation::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

impl serde::Serialize for BusMessage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match (&self.entry, self.seq) {
            (entry, Some(seq)) => WithSeq { seq, entry }.serialize(serializer),
            (entry, None) => entry.serialize(serializer),
        }
    }
}

impl<'de> serde::Deserialize<'de> for BusMessage {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let Fields(mut members) = Fields::deserialize(deserializer)?;
        let seq = match take(&mut members, "seq") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(Seq::new(v.as_i64().ok_or_else(|| {
                D::Error::custom(format!("seq: expected an integer, got {v}"))
            })?)),
        };
        let entry = Entry::from_members(members).map_err(D::Error::custom)?;
        Ok(BusMessage { seq, entry })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_of_every_shape_round_trip() {
        for text in [
            r#"{"seq":7,"kind":"observation","stationId":"44009","timestamp":"2025-11-15T12:00:00.000Z","waveHeightM":1.2,"windSpeedMps":null,"windDirDeg":null,"waterTempC":null,"pressureHpa":null,"gustMps":null,"dominantWavePeriodS":null,"averageWavePeriodS":null,"meanWaveDirDeg":null,"airTempC":null,"dewPointC":null,"visibilityNmi":null,"pressureTendencyHpa":null,"tideFt":null}"#,
            r#"{"seq":8,"kind":"tsunami","stationId":"41421","timestamp":"2025-11-15T12:00:15.000Z","measurementType":3,"waterColumnHeightM":5783.412}"#,
            r#"{"kind":"rain","stationId":"BDVF1","timestamp":"2025-11-15T12:00:00.000Z","accumulationMm":0.5}"#,
        ] {
            let message: BusMessage = serde_json::from_str(text).unwrap();
            assert_eq!(serde_json::to_string(&message).unwrap(), text);
        }
    }

    #[test]
    fn an_observation_without_kind_is_the_original_contract() {
        let m: BusMessage = serde_json::from_str(
            r#"{"seq":7,"stationId":"44009","timestamp":"2025-11-15T12:00:00Z","waveHeightM":1.2}"#,
        )
        .unwrap();
        let Entry::Observation(o) = &m.entry else {
            panic!("an observation")
        };
        assert_eq!((m.seq, o.wave_height_m), (Some(Seq::new(7)), Some(1.2)));
    }

    #[test]
    fn bad_kinds_envelopes_and_fields_are_refused() {
        for bad in [
            r#"{"kind":"waves","stationId":"44009","timestamp":"2025-11-15T12:00:00Z"}"#,
            r#"{"kind":7,"stationId":"44009","timestamp":"2025-11-15T12:00:00Z"}"#,
            r#"{"kind":"rain","timestamp":"2025-11-15T12:00:00Z"}"#,
            r#"{"kind":"rain","stationId":"44009"}"#,
            r#"{"kind":"rain","stationId":"bad id!","timestamp":"2025-11-15T12:00:00Z"}"#,
            r#"{"kind":"rain","stationId":"44009","timestamp":"yesterday"}"#,
            r#"{"seq":"x","kind":"rain","stationId":"44009","timestamp":"2025-11-15T12:00:00Z"}"#,
        ] {
            assert!(serde_json::from_str::<BusMessage>(bad).is_err(), "{bad}");
        }
        let future: BusMessage = serde_json::from_str(
            r#"{"seq":1,"kind":"rain","stationId":"44009","timestamp":"2999-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert!(future.validate(chrono::Utc::now()).is_err());
        let zero: BusMessage = serde_json::from_str(
            r#"{"seq":0,"kind":"rain","stationId":"44009","timestamp":"2025-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert!(zero.validate(chrono::Utc::now()).is_err());
    }
}
