//! The entry every product file parses to ([`Entry`]: a time and a [`Payload`]) and the payload
//! of each kind, with the JSON field names of SPEC §3a (serde, camelCase, `None` → `null`).

use chrono::NaiveDateTime;

use crate::kind::Kind;
use crate::realtime::Record;
use crate::spectrum::Spectrum;

/// One entry (data row) of any product file.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Observation time, UTC (seconds are kept for `.dart`, zero elsewhere).
    pub time: NaiveDateTime,
    /// The values of the row.
    pub payload: Payload,
}

/// The values of one entry, by kind. Serializes as the inner struct alone (untagged).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Payload {
    /// `.txt` standard meteorological row.
    Observation(Record),
    /// `.spec` row.
    WaveSummary(WaveSummary),
    /// A spectral row (one of the five spectral files, or several joined).
    Spectrum(Spectrum),
    /// `.ocean` row.
    Ocean(Ocean),
    /// `.cwind` row.
    ContinuousWind(ContinuousWind),
    /// `.dart` row.
    Tsunami(Tsunami),
    /// `.supl` row.
    Supplemental(Supplemental),
    /// `.srad` row.
    SolarRadiation(SolarRadiation),
    /// `.rain` row.
    Rain(Rain),
    /// `.drift` row.
    Drift(Drift),
    /// `.adcp` row.
    Currents(Currents),
    /// `.dmv` row.
    Derived(Derived),
}

impl Payload {
    /// The kind of this payload.
    pub fn kind(&self) -> Kind {
        match self {
            Payload::Observation(_) => Kind::Observation,
            Payload::WaveSummary(_) => Kind::WaveSummary,
            Payload::Spectrum(_) => Kind::Spectrum,
            Payload::Ocean(_) => Kind::Ocean,
            Payload::ContinuousWind(_) => Kind::ContinuousWind,
            Payload::Tsunami(_) => Kind::Tsunami,
            Payload::Supplemental(_) => Kind::Supplemental,
            Payload::SolarRadiation(_) => Kind::SolarRadiation,
            Payload::Rain(_) => Kind::Rain,
            Payload::Drift(_) => Kind::Drift,
            Payload::Currents(_) => Kind::Currents,
            Payload::Derived(_) => Kind::Derived,
        }
    }
}

/// Detailed wave summary (`.spec`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WaveSummary {
    /// `WVHT`: significant wave height, m.
    pub significant_wave_height_m: Option<f64>,
    /// `SwH`: swell height, m.
    pub swell_height_m: Option<f64>,
    /// `SwP`: swell period, s.
    pub swell_period_s: Option<f64>,
    /// `WWH`: wind-wave height, m.
    pub wind_wave_height_m: Option<f64>,
    /// `WWP`: wind-wave period, s.
    pub wind_wave_period_s: Option<f64>,
    /// `SwD`: compass point the swell comes from (`"WNW"`).
    pub swell_dir: Option<String>,
    /// `WWD`: compass point the wind waves come from.
    pub wind_wave_dir: Option<String>,
    /// `STEEPNESS`: `SWELL`, `AVERAGE`, `STEEP` or `VERY_STEEP` (`N/A` → `None`).
    pub steepness: Option<String>,
    /// `APD`: average wave period, s.
    pub average_wave_period_s: Option<f64>,
    /// `MWD`: direction the dominant-period waves come from, degrees true.
    pub mean_wave_dir_deg: Option<f64>,
}

/// Oceanographic data (`.ocean`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Ocean {
    /// `DEPTH`: depth of the measurements, m.
    pub depth_m: Option<f64>,
    /// `OTMP`: ocean temperature, °C.
    pub ocean_temp_c: Option<f64>,
    /// `COND`: conductivity, mS/cm.
    pub conductivity_ms_per_cm: Option<f64>,
    /// `SAL`: salinity, PSU.
    pub salinity_psu: Option<f64>,
    /// `O2%`: dissolved oxygen saturation, %.
    pub oxygen_percent: Option<f64>,
    /// `O2PPM`: dissolved oxygen, ppm.
    pub oxygen_ppm: Option<f64>,
    /// `CLCON`: chlorophyll concentration, µg/l.
    pub chlorophyll_ug_per_l: Option<f64>,
    /// `TURB`: turbidity, FTU.
    pub turbidity_ftu: Option<f64>,
    /// `PH`: pH.
    pub ph: Option<f64>,
    /// `EH`: redox potential, mV.
    pub redox_mv: Option<f64>,
}

/// Continuous winds (`.cwind`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ContinuousWind {
    /// `WDIR`: ten-minute mean wind direction, degrees true.
    pub wind_dir_deg: Option<f64>,
    /// `WSPD`: ten-minute mean wind speed, m/s.
    pub wind_speed_mps: Option<f64>,
    /// `GDR`: direction of the hour's peak gust, degrees true (`999` → `None`).
    pub gust_dir_deg: Option<f64>,
    /// `GST`: the hour's peak 5-second gust, m/s (`99.0` → `None`).
    pub gust_speed_mps: Option<f64>,
    /// `GTIME`: when the gust occurred, ISO 8601 (`9999` → `None`).
    pub gust_time: Option<String>,
}

/// DART tsunameter water-column height (`.dart`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Tsunami {
    /// `T`: 1 = 15-minute, 2 = 1-minute, 3 = 15-second measurement.
    pub measurement_type: Option<u8>,
    /// `HEIGHT`: height of the water column, m.
    pub water_column_height_m: Option<f64>,
}

/// Supplemental measurements (`.supl`): the hour's lowest pressure and highest wind.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Supplemental {
    /// `PRES`: lowest 1-minute pressure of the hour, hPa.
    pub lowest_pressure_hpa: Option<f64>,
    /// `PTIME`: when it occurred, ISO 8601.
    pub lowest_pressure_time: Option<String>,
    /// `WSPD`: highest 1-minute wind speed of the hour, m/s.
    pub highest_wind_speed_mps: Option<f64>,
    /// `WDIR`: its direction, degrees true (`//`, a calm, → `None`).
    pub highest_wind_dir_deg: Option<f64>,
    /// `WTIME`: when it occurred, ISO 8601.
    pub highest_wind_time: Option<String>,
}

/// Solar radiation (`.srad`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SolarRadiation {
    /// `SRAD1`: shortwave radiation from a LI-COR pyranometer, W/m².
    pub shortwave_licor_wm2: Option<f64>,
    /// `SWRAD`: shortwave radiation from an Eppley pyranometer, W/m².
    pub shortwave_eppley_wm2: Option<f64>,
    /// `LWRAD`: downwelling longwave radiation, W/m².
    pub longwave_wm2: Option<f64>,
}

/// Hourly rain (`.rain`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Rain {
    /// `ACCUM`: accumulation over the hour, mm.
    pub accumulation_mm: Option<f64>,
}

/// Drifting-buoy meteorological data (`.drift`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    /// `LAT`: latitude of the observation, decimal degrees north.
    pub latitude: Option<f64>,
    /// `LON`: longitude of the observation, decimal degrees east.
    pub longitude: Option<f64>,
    /// `WDIR`: wind direction, degrees true.
    pub wind_dir_deg: Option<f64>,
    /// `WSPD`: wind speed, m/s.
    pub wind_speed_mps: Option<f64>,
    /// `GST`: peak gust, m/s.
    pub gust_mps: Option<f64>,
    /// `PRES`: sea-level pressure, hPa.
    pub pressure_hpa: Option<f64>,
    /// `PTDY`: 3-hour pressure tendency, hPa.
    pub pressure_tendency_hpa: Option<f64>,
    /// `ATMP`: air temperature, °C.
    pub air_temp_c: Option<f64>,
    /// `WTMP`: sea-surface temperature, °C.
    pub water_temp_c: Option<f64>,
}

/// ADCP currents (`.adcp`): one bin per depth, as many as the row has.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Currents {
    /// The depth bins in file order.
    pub bins: Vec<CurrentBin>,
}

/// One ADCP depth bin (`DEPnn DIRnn SPDnn`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CurrentBin {
    /// `DEPnn`: depth of the bin, m.
    pub depth_m: Option<f64>,
    /// `DIRnn`: direction the current flows toward, degrees true.
    pub dir_deg: Option<f64>,
    /// `SPDnn`: current speed, cm/s.
    pub speed_cm_per_s: Option<f64>,
}

/// Derived meteorological values (`.dmv`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Derived {
    /// `CHILL`: wind chill, °C.
    pub wind_chill_c: Option<f64>,
    /// `HEAT`: heat index, °C.
    pub heat_index_c: Option<f64>,
    /// `ICE`: estimated ice accretion, cm/hr (the file's unit line).
    pub ice_accretion_cm_per_hr: Option<f64>,
    /// `WSPD10`: wind speed adjusted to 10 m, m/s.
    pub wind_speed_10m_mps: Option<f64>,
    /// `WSPD20`: wind speed adjusted to 20 m, m/s.
    pub wind_speed_20m_mps: Option<f64>,
}
