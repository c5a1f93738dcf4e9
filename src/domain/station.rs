//! `Station`: metadata of a station (from NDBC `activestations.xml`) and its latest observation.

use super::{StationId, StoredObservation};

/// A station as the API shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Station {
    /// Uppercase id.
    pub id: StationId,
    /// Human-readable name, where NDBC gives one.
    pub name: Option<String>,
    /// Degrees north.
    pub latitude: Option<f64>,
    /// Degrees east.
    pub longitude: Option<f64>,
    /// Site elevation above mean sea level, metres.
    pub elevation_m: Option<f64>,
    /// Platform type (`buoy`, `fixed`, `dart`, ...).
    #[serde(rename = "type")]
    pub station_type: Option<String>,
    /// Operating organisation.
    pub owner: Option<String>,
    /// Programme the station belongs to.
    pub program: Option<String>,
    /// The newest stored observation, if any.
    pub latest: Option<StoredObservation>,
}

impl Station {
    /// A station known only by its id (no metadata yet).
    pub fn bare(id: StationId) -> Self {
        Self {
            id,
            name: None,
            latitude: None,
            longitude: None,
            elevation_m: None,
            station_type: None,
            owner: None,
            program: None,
            latest: None,
        }
    }
}
