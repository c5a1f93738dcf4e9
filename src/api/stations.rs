//! Station metadata with latest values: `GET /v1/stations`, `GET /v1/stations/{id}`.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};

use super::{ApiError, AppState};
use crate::domain::{Station, StationId};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/stations", get(list))
        .route("/v1/stations/{station_id}", get(one))
}

#[derive(Debug, serde::Serialize)]
struct Stations {
    stations: Vec<Station>,
}

async fn list(State(state): State<AppState>) -> Result<Json<Stations>, ApiError> {
    Ok(Json(Stations {
        stations: state.store.stations().await?,
    }))
}

async fn one(
    State(state): State<AppState>,
    Path(station_id): Path<String>,
) -> Result<Json<Station>, ApiError> {
    let id = StationId::parse(&station_id)
        .map_err(|e| ApiError::BadRequest(format!("station id: {e}")))?;
    state
        .store
        .station(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no station {id}")))
}
