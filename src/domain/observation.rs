//! `Observation`: one measurement set of one station at one time, with the JSON field names of the contract.

use chrono::{DateTime, Utc};

use super::{Seq, StationId, timestamp::wire};

/// One observation. JSON names are the contract (SPEC §3); absent values are `null`, never 0.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    /// Uppercase station id.
    pub station_id: StationId,
    /// When it was measured (UTC), ISO 8601 with milliseconds and `Z`.
    #[serde(with = "wire")]
    #[schema(value_type = String, format = DateTime, example = "2025-11-15T12:00:00.000Z")]
    pub timestamp: DateTime<Utc>,
    /// WVHT, significant wave height, metres.
    pub wave_height_m: Option<f64>,
    /// WSPD, wind speed, m/s.
    pub wind_speed_mps: Option<f64>,
    /// WDIR, wind direction, degrees true.
    pub wind_dir_deg: Option<f64>,
    /// WTMP, sea surface temperature, °C.
    pub water_temp_c: Option<f64>,
    /// PRES, sea level pressure, hPa.
    pub pressure_hpa: Option<f64>,
    /// GST, peak gust speed, m/s.
    pub gust_mps: Option<f64>,
    /// DPD, dominant wave period, s.
    pub dominant_wave_period_s: Option<f64>,
    /// APD, average wave period, s.
    pub average_wave_period_s: Option<f64>,
    /// MWD, mean wave direction, degrees true.
    pub mean_wave_dir_deg: Option<f64>,
    /// ATMP, air temperature, °C.
    pub air_temp_c: Option<f64>,
    /// DEWP, dew point, °C.
    pub dew_point_c: Option<f64>,
    /// VIS, visibility, nautical miles.
    pub visibility_nmi: Option<f64>,
    /// PTDY, pressure tendency over 3 hours, hPa (signed).
    pub pressure_tendency_hpa: Option<f64>,
    /// TIDE, water level, feet above or below mean lower low water.
    pub tide_ft: Option<f64>,
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

/// Store column names of the measured values, in the order of [`Observation::values`].
pub const VALUE_COLUMNS: [&str; VALUE_COUNT] = [
    "wave_height_m",
    "wind_speed_mps",
    "wind_dir_deg",
    "water_temp_c",
    "pressure_hpa",
    "gust_mps",
    "dominant_wave_period_s",
    "average_wave_period_s",
    "mean_wave_dir_deg",
    "air_temp_c",
    "dew_point_c",
    "visibility_nmi",
    "pressure_tendency_hpa",
    "tide_ft",
];

/// JSON field names of the measured values with the plausible range a producer's value must fall in.
pub const VALUE_RANGES: [(&str, f64, f64); VALUE_COUNT] = [
    ("waveHeightM", 0.0, 50.0),
    ("windSpeedMps", 0.0, 150.0),
    ("windDirDeg", 0.0, 360.0),
    ("waterTempC", -5.0, 45.0),
    ("pressureHpa", 800.0, 1100.0),
    ("gustMps", 0.0, 200.0),
    ("dominantWavePeriodS", 0.0, 100.0),
    ("averageWavePeriodS", 0.0, 100.0),
    ("meanWaveDirDeg", 0.0, 360.0),
    ("airTempC", -90.0, 65.0),
    ("dewPointC", -90.0, 65.0),
    ("visibilityNmi", 0.0, 100.0),
    ("pressureTendencyHpa", -100.0, 100.0),
    ("tideFt", -100.0, 100.0),
];

impl Observation {
    /// Builds an observation from one row of an NDBC standard meteorological file.
    pub fn from_ndbc(station_id: StationId, record: &ndbc::Record) -> Self {
        let r = record;
        Self::from_values(
            station_id,
            r.time.and_utc(),
            [
                r.wave_height_m,
                r.wind_speed_mps,
                r.wind_dir_deg,
                r.water_temp_c,
                r.pressure_hpa,
                r.gust_mps,
                r.dominant_wave_period_s,
                r.average_wave_period_s,
                r.mean_wave_dir_deg,
                r.air_temp_c,
                r.dew_point_c,
                r.visibility_nmi,
                r.pressure_tendency_hpa,
                r.tide_ft,
            ],
        )
    }

    /// Builds an observation from its values in [`VALUE_COLUMNS`] order.
    pub fn from_values(
        station_id: StationId,
        timestamp: DateTime<Utc>,
        v: [Option<f64>; VALUE_COUNT],
    ) -> Self {
        Self {
            station_id,
            timestamp,
            wave_height_m: v[0],
            wind_speed_mps: v[1],
            wind_dir_deg: v[2],
            water_temp_c: v[3],
            pressure_hpa: v[4],
            gust_mps: v[5],
            dominant_wave_period_s: v[6],
            average_wave_period_s: v[7],
            mean_wave_dir_deg: v[8],
            air_temp_c: v[9],
            dew_point_c: v[10],
            visibility_nmi: v[11],
            pressure_tendency_hpa: v[12],
            tide_ft: v[13],
        }
    }

    /// The measured values in [`VALUE_COLUMNS`] order.
    pub fn values(&self) -> [Option<f64>; VALUE_COUNT] {
        [
            self.wave_height_m,
            self.wind_speed_mps,
            self.wind_dir_deg,
            self.water_temp_c,
            self.pressure_hpa,
            self.gust_mps,
            self.dominant_wave_period_s,
            self.average_wave_period_s,
            self.mean_wave_dir_deg,
            self.air_temp_c,
            self.dew_point_c,
            self.visibility_nmi,
            self.pressure_tendency_hpa,
            self.tide_ft,
        ]
    }

    /// Checks an observation from anywhere outside (NDBC files, replay, bus, publish API): a time
    /// after 1970 and at most [`MAX_AHEAD`] ahead of `now`, values finite and within
    /// [`VALUE_RANGES`]. Returns every offending field, the time first.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), Vec<Violation>> {
        let mut errors = Vec::new();
        if self.timestamp < DateTime::UNIX_EPOCH {
            errors.push(Violation {
                field: "timestamp",
                reason: ViolationReason::TooOld,
                message: "must be after 1970".into(),
            });
        } else if self.timestamp > now + MAX_AHEAD {
            errors.push(Violation {
                field: "timestamp",
                reason: ViolationReason::Future,
                message: format!(
                    "{} is more than {} minutes ahead of the server's clock",
                    super::format_timestamp(self.timestamp),
                    MAX_AHEAD.num_minutes()
                ),
            });
        }
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
    fn serialises_with_contract_names_and_nulls() {
        let json = sample().to_json();
        assert!(json.starts_with(
            r#"{"stationId":"44009","timestamp":"2025-11-15T12:00:00.000Z","waveHeightM":1.2,"windSpeedMps":null,"windDirDeg":null,"waterTempC":null,"pressureHpa":1013.5,"gustMps":null,"#
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
            json.starts_with(r#"{"seq":7,"stationId":"44009""#),
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
