//! `Observation`: one measurement set of one station at one time, with the JSON field names of the contract.

use chrono::{DateTime, Utc};

use super::{Seq, StationId, timestamp::wire};

/// The observation's field table, written once: each measured value's name (also its store
/// column and its `ndbc::Record` field), its JSON name, its description and the range a value
/// must lie in. From it come the value fields of [`Observation`] (so its serde encoding, which the
/// SSE frames and the REST bodies use, and its OpenAPI schema), [`VALUE_COLUMNS`],
/// [`VALUE_NAMES`] (the OSC bridge's addresses), [`VALUE_RANGES`] (validation, the publish input
/// schema) and the conversions to and from the values in that order.
macro_rules! observation_fields {
    ($($(#[doc = $doc:literal])* $field:ident: $json:literal in $lo:literal..=$hi:literal,)*) => {
        /// One observation. JSON names are the contract (SPEC §3); absent values are `null`, never 0.
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct Observation {
            /// Always `observation`: every payload names its kind (SPEC §3a). Optional on input.
            #[serde(default)]
            pub kind: ObservationKind,
            /// Uppercase station id.
            pub station_id: StationId,
            /// When it was measured (UTC), ISO 8601 with milliseconds and `Z`.
            #[serde(with = "wire")]
            #[schema(value_type = String, format = DateTime, example = "2025-11-15T12:00:00.000Z")]
            pub timestamp: DateTime<Utc>,
            $(
                $(#[doc = $doc])*
                #[serde(rename = $json)]
                pub $field: Option<f64>,
            )*
        }

        /// JSON names of the measured values, in the order of [`Observation::values`].
        pub const VALUE_NAMES: [&str; VALUE_COUNT] = [$($json),*];

        /// Store column names of the measured values, in the order of [`Observation::values`].
        pub const VALUE_COLUMNS: [&str; VALUE_COUNT] = [$(stringify!($field)),*];

        /// JSON field names of the measured values with the plausible range a producer's value
        /// must fall in.
        pub const VALUE_RANGES: [(&str, f64, f64); VALUE_COUNT] = [$(($json, $lo, $hi)),*];

        impl Observation {
            /// Builds an observation from one row of an NDBC standard meteorological file.
            pub fn from_ndbc(station_id: StationId, record: &ndbc::Record) -> Self {
                Self {
                    kind: ObservationKind::Observation,
                    station_id,
                    timestamp: record.time.and_utc(),
                    $($field: record.$field,)*
                }
            }

            /// Builds an observation from its values in [`VALUE_COLUMNS`] order.
            pub fn from_values(
                station_id: StationId,
                timestamp: DateTime<Utc>,
                values: [Option<f64>; VALUE_COUNT],
            ) -> Self {
                let [$($field),*] = values;
                Self {
                    kind: ObservationKind::Observation,
                    station_id,
                    timestamp,
                    $($field,)*
                }
            }

            /// The measured values in [`VALUE_COLUMNS`] order.
            pub fn values(&self) -> [Option<f64>; VALUE_COUNT] {
                [$(self.$field),*]
            }
        }
    };
}

observation_fields! {
    /// WVHT, significant wave height, metres.
    wave_height_m: "waveHeightM" in 0.0..=50.0,
    /// WSPD, wind speed, m/s.
    wind_speed_mps: "windSpeedMps" in 0.0..=150.0,
    /// WDIR, wind direction, degrees true.
    wind_dir_deg: "windDirDeg" in 0.0..=360.0,
    /// WTMP, sea surface temperature, °C.
    water_temp_c: "waterTempC" in -5.0..=45.0,
    /// PRES, sea level pressure, hPa.
    pressure_hpa: "pressureHpa" in 800.0..=1100.0,
    /// GST, peak gust speed, m/s.
    gust_mps: "gustMps" in 0.0..=200.0,
    /// DPD, dominant wave period, s.
    dominant_wave_period_s: "dominantWavePeriodS" in 0.0..=100.0,
    /// APD, average wave period, s.
    average_wave_period_s: "averageWavePeriodS" in 0.0..=100.0,
    /// MWD, mean wave direction, degrees true.
    mean_wave_dir_deg: "meanWaveDirDeg" in 0.0..=360.0,
    /// ATMP, air temperature, °C.
    air_temp_c: "airTempC" in -90.0..=65.0,
    /// DEWP, dew point, °C.
    dew_point_c: "dewPointC" in -90.0..=65.0,
    /// VIS, visibility, nautical miles.
    visibility_nmi: "visibilityNmi" in 0.0..=100.0,
    /// PTDY, pressure tendency over 3 hours, hPa (signed).
    pressure_tendency_hpa: "pressureTendencyHpa" in -100.0..=100.0,
    /// TIDE, water level, feet above or below mean lower low water.
    tide_ft: "tideFt" in -100.0..=100.0,
}

/// The `kind` of an observation: the one value `observation`.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
pub enum ObservationKind {
    /// `observation`.
    #[default]
    #[serde(rename = "observation")]
    Observation,
}

/// How far ahead of the receiving server's clock an observation's time may be. Observations are
/// measurements already taken; this leaves room for clocks that disagree, and keeps a wrong year
/// or time zone from putting a row at the head of a station's history for days.
pub const MAX_AHEAD: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// Why a field of an observation is refused; a small fixed set, used as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViolationReason {
    /// A value outside its plausible range (e.g. a negative wind speed).
    OutOfRange,
    /// A value that is NaN or infinite.
    NotFinite,
    /// A time more than [`MAX_AHEAD`] ahead of the server's clock.
    Future,
    /// A time before 1970.
    TooOld,
}

impl ViolationReason {
    /// The metric label and log value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OutOfRange => "out_of_range",
            Self::NotFinite => "not_finite",
            Self::Future => "future_timestamp",
            Self::TooOld => "before_1970",
        }
    }
}

impl std::fmt::Display for ViolationReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One refused field of an observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The JSON name of the field (`timestamp`, `windSpeedMps`, …).
    pub field: &'static str,
    /// The kind of problem.
    pub reason: ViolationReason,
    /// What is wrong, for people (`-3 is outside 0..=150`).
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Number of measured values an observation carries.
pub const VALUE_COUNT: usize = 14;

impl Observation {
    /// Checks an observation from anywhere outside (NDBC files, replay, bus, publish API): a time
    /// after 1970 and at most [`MAX_AHEAD`] ahead of `now`, values finite and within
    /// [`VALUE_RANGES`]. Returns every offending field, the time first.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), Vec<Violation>> {
        let mut errors: Vec<Violation> = check_time(self.timestamp, now).into_iter().collect();
        for ((name, lo, hi), value) in VALUE_RANGES.iter().zip(self.values()) {
            match value {
                Some(v) if !v.is_finite() => errors.push(Violation {
                    field: name,
                    reason: ViolationReason::NotFinite,
                    message: format!("{v} is not a finite number"),
                }),
                Some(v) if !(*lo..=*hi).contains(&v) => errors.push(Violation {
                    field: name,
                    reason: ViolationReason::OutOfRange,
                    message: format!("{v} is outside {lo}..={hi}"),
                }),
                _ => {}
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The observation as its JSON text (the `data:` of an SSE frame).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

/// The time check of every entry from outside: after 1970 and at most [`MAX_AHEAD`] ahead of
/// `now`.
pub fn check_time(timestamp: DateTime<Utc>, now: DateTime<Utc>) -> Option<Violation> {
    if timestamp < DateTime::UNIX_EPOCH {
        Some(Violation {
            field: "timestamp",
            reason: ViolationReason::TooOld,
            message: "must be after 1970".into(),
        })
    } else if timestamp > now + MAX_AHEAD {
        Some(Violation {
            field: "timestamp",
            reason: ViolationReason::Future,
            message: format!(
                "{} is more than {} minutes ahead of the server's clock",
                super::format_timestamp(timestamp),
                MAX_AHEAD.num_minutes()
            ),
        })
    } else {
        None
    }
}

/// An observation as stored in the log, with its position.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct StoredObservation {
    /// Position in the log; the SSE event id.
    pub seq: Seq,
    /// The observation itself.
    #[serde(flatten)]
    pub observation: Observation,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::parse_timestamp;

    fn sample() -> Observation {
        let mut v = [None; VALUE_COUNT];
        v[0] = Some(1.2);
        v[4] = Some(1013.5);
        Observation::from_values(
            StationId::parse("44009").unwrap(),
            parse_timestamp("2025-11-15T12:00:00Z").unwrap(),
            v,
        )
    }

    #[test]
    fn the_field_table_gives_each_value_one_name_per_place_in_one_order() {
        let json = serde_json::to_value(sample()).unwrap();
        let object = json.as_object().unwrap();
        assert_eq!(object.len(), 3 + VALUE_COUNT);
        assert_eq!(object["kind"], "observation");
        let values = sample().values();
        for i in 0..VALUE_COUNT {
            let name = VALUE_NAMES[i];
            assert_eq!(VALUE_RANGES[i].0, name);
            // The JSON name is the store column in camelCase.
            let mut camel = String::new();
            let mut upper = false;
            for c in VALUE_COLUMNS[i].chars() {
                match c {
                    '_' => upper = true,
                    c if upper => {
                        camel.push(c.to_ascii_uppercase());
                        upper = false;
                    }
                    c => camel.push(c),
                }
            }
            assert_eq!(camel, name);
            // The serialised field of that name carries the value at that place.
            assert_eq!(object[name].as_f64(), values[i], "{name}");
        }
        let round = Observation::from_values(sample().station_id, sample().timestamp, values);
        assert_eq!(round, sample());
    }

    #[test]
    fn serialises_with_contract_names_and_nulls() {
        let json = sample().to_json();
        assert!(json.starts_with(
            r#"{"kind":"observation","stationId":"44009","timestamp":"2025-11-15T12:00:00.000Z","waveHeightM":1.2,"windSpeedMps":null,"windDirDeg":null,"waterTempC":null,"pressureHpa":1013.5,"gustMps":null,"#
        ), "{json}");
        assert!(
            json.ends_with(r#""pressureTendencyHpa":null,"tideFt":null}"#),
            "{json}"
        );
    }

    #[test]
    fn stored_observations_put_seq_beside_the_fields_and_round_trip() {
        let stored = StoredObservation {
            seq: Seq::new(7),
            observation: sample(),
        };
        let json = serde_json::to_string(&stored).unwrap();
        assert!(
            json.starts_with(r#"{"seq":7,"kind":"observation","stationId":"44009""#),
            "{json}"
        );
        assert_eq!(
            serde_json::from_str::<StoredObservation>(&json).unwrap(),
            stored
        );
    }

    #[test]
    fn missing_fields_are_null_and_unknown_fields_ignored() {
        let o: Observation = serde_json::from_str(
            r#"{"stationId":"burl1","timestamp":"2025-11-15T12:00:00Z","windSpeedMps":3.5,"extra":true}"#,
        )
        .unwrap();
        assert_eq!(o.station_id.as_str(), "BURL1");
        assert_eq!(o.wind_speed_mps, Some(3.5));
        assert_eq!(o.wave_height_m, None);
    }

    #[test]
    fn validation_names_each_bad_field() {
        let mut o = sample();
        o.wind_dir_deg = Some(400.0);
        o.wave_height_m = Some(-1.0);
        o.tide_ft = Some(f64::NAN);
        let errors = o.validate(Utc::now()).unwrap_err();
        let summary: Vec<_> = errors.iter().map(|e| (e.field, e.reason)).collect();
        assert_eq!(
            summary,
            [
                ("waveHeightM", ViolationReason::OutOfRange),
                ("windDirDeg", ViolationReason::OutOfRange),
                ("tideFt", ViolationReason::NotFinite)
            ]
        );
        assert_eq!(errors[0].to_string(), "waveHeightM: -1 is outside 0..=50");
        assert!(sample().validate(Utc::now()).is_ok());
    }

    #[test]
    fn times_more_than_an_hour_ahead_or_before_1970_are_refused() {
        let now = parse_timestamp("2025-11-15T12:00:00Z").unwrap();
        let at = |raw: &str| {
            let mut o = sample();
            o.timestamp = parse_timestamp(raw).unwrap();
            o.validate(now)
        };
        assert!(at("2025-11-15T13:00:00Z").is_ok(), "exactly the bound");
        let ahead = at("2025-11-15T13:00:01Z").unwrap_err();
        assert_eq!(
            (ahead[0].field, ahead[0].reason),
            ("timestamp", ViolationReason::Future)
        );
        assert_eq!(
            ahead[0].message,
            "2025-11-15T13:00:01.000Z is more than 60 minutes ahead of the server's clock"
        );
        let old = at("1969-12-31T23:59:00Z").unwrap_err();
        assert_eq!(old[0].reason, ViolationReason::TooOld);
        assert!(at("1970-01-01T00:00:00Z").is_ok());
    }
}
