//! Station metadata with latest values: `GET /v1/stations`, `GET /v1/stations/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Access;
use super::{ApiError, AppState};
use crate::domain::{Station, StationId};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(one))
}

/// Body of `GET /v1/stations`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Stations {
    /// Stations that have observations, by id.
    pub stations: Vec<Station>,
}

/// Stations that have observations, with metadata and their latest observation.
#[utoipa::path(get, path = "/v1/stations", tag = "stations",
    security((), ("subscriberJwt" = []), ("subscriberCookie" = []), ("subscriberQuery" = [])),
    responses(
        (status = 200, description = "Stations by id", body = Stations),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::StationForbidden),
        (status = 503, description = "Store unavailable", body = super::ErrorBody),
    ))]
async fn list(State(state): State<AppState>, access: Access) -> Result<Json<Stations>, ApiError> {
    access.grants_some()?;
    let mut stations = state.store.stations().await?;
    stations.retain(|s| access.allows(&s.id));
    Ok(Json(Stations { stations }))
}

/// One station known from metadata or observations.
#[utoipa::path(get, path = "/v1/stations/{station_id}", tag = "stations",
    params(("station_id" = String, Path, description = "Station id (case-insensitive)", example = "44009", pattern = r"^\s*[A-Za-z0-9_-]{1,32}\s*$")),
    security((), ("subscriberJwt" = []), ("subscriberCookie" = []), ("subscriberQuery" = [])),
    responses(
        (status = 200, description = "The station", body = Station),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::StationForbidden),
        (status = 400, description = "Invalid station id", body = super::ErrorBody),
        (status = 404, description = "Unknown station", body = super::ErrorBody),
        (status = 503, description = "Store unavailable", body = super::ErrorBody),
    ))]
async fn one(
    State(state): State<AppState>,
    access: Access,
    Path(station_id): Path<String>,
) -> Result<Json<Station>, ApiError> {
    let id = StationId::parse(&station_id)
        .map_err(|e| ApiError::BadRequest(format!("station id: {e}")))?;
    access.check(&id)?;
    state
        .store
        .station(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no station {id}")))
}
