//! REST reads of observations: polling (`GET /v1/observations`), history and latest values.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Access;
use super::query::{Bounded, EventId, Kinds, Query, Stations, Time};
use super::{ApiError, AppState, DEFAULT_LIMIT, MAX_LIMIT};
use crate::domain::{Seq, StationId, StoredEntry};
use crate::store::{AfterQuery, HistoryQuery};

/// Longest long-poll, seconds.
pub const MAX_WAIT_SECS: u32 = 60;

/// A page size, `limit=`: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
type Limit = Bounded<1, MAX_LIMIT>;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(poll))
        .routes(routes!(latest))
        .routes(routes!(by_station))
}

/// Body of the polling endpoint.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    /// Entries of the requested kinds (observations by default) with their seq, oldest first.
    pub observations: Vec<StoredEntry>,
    /// Pass as `after` on the next call.
    pub last_seq: Seq,
}

/// Body of the history and latest endpoints.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct List {
    /// Entries of the requested kinds (observations by default) with their seq.
    pub observations: Vec<StoredEntry>,
}

/// Query of `GET /v1/observations`: what to read, checked in this order before the station
/// grant; then [`PageQuery`], checked after it.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PollQuery {
    /// Return observations with a seq above this one (default 0: from the start).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 9223372036854775807i64)]
    after: Option<EventId>,
    /// Comma-separated station ids (at most 200); all stations when absent.
    #[param(
        value_type = Option<String>,
        example = "44009,46042",
        pattern = r"^\s*[A-Za-z0-9_-]{0,32}\s*(,\s*[A-Za-z0-9_-]{0,32}\s*){0,199}$"
    )]
    stations: Option<Stations>,
    /// Kinds to return, comma-separated (`observation,spectrum`), or `*` for all;
    /// `observation` when absent (SPEC §3a).
    /// (The pattern of known names is added by `openapi::KindsPattern`.)
    #[param(value_type = Option<String>, example = "observation,spectrum")]
    kinds: Option<Kinds>,
}

/// Query of `GET /v1/observations`: how much to return and how long to wait, checked in this
/// order after the station grant (a refused station outranks a bad page parameter).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000, default = 100)]
    limit: Option<Limit>,
    /// Seconds to wait for something new when nothing is there yet (long poll).
    #[param(value_type = Option<u32>, minimum = 0, maximum = 60, default = 0)]
    wait: Option<Bounded<0, MAX_WAIT_SECS>>,
}

/// Query of `GET /v1/observations/by-station/{stationId}`, checked in this order.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Earliest measurement time (inclusive), ISO 8601.
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<Time>,
    /// Latest measurement time (inclusive), ISO 8601.
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<Time>,
    /// Most entries returned.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000, default = 100)]
    limit: Option<Limit>,
    /// Kinds to return, comma-separated (`observation,spectrum`), or `*` for all;
    /// `observation` when absent (SPEC §3a).
    /// (The pattern of known names is added by `openapi::KindsPattern`.)
    #[param(value_type = Option<String>, example = "observation,spectrum")]
    kinds: Option<Kinds>,
}

/// Query with only a station filter (also the stream's, when `Last-Event-ID` sets the resume
/// point).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StationsQuery {
    /// Comma-separated station ids (at most 200); all stations when absent.
    #[param(
        value_type = Option<String>,
        example = "44009,46042",
        pattern = r"^\s*[A-Za-z0-9_-]{0,32}\s*(,\s*[A-Za-z0-9_-]{0,32}\s*){0,199}$"
    )]
    pub stations: Option<Stations>,
    /// Kinds to return, comma-separated (`observation,spectrum`), or `*` for all;
    /// `observation` when absent (SPEC §3a).
    /// (The pattern of known names is added by `openapi::KindsPattern`.)
    #[param(value_type = Option<String>, example = "observation,spectrum")]
    pub kinds: Option<Kinds>,
}

/// Polling fallback: observations after a seq, oldest first; optionally waits for new ones.
#[utoipa::path(get, path = "/v1/observations", tag = "observations", params(PollQuery, PageQuery),
    security((), ("subscriberJwt" = []), ("subscriberCookie" = []), ("subscriberQuery" = [])),
    responses(
        (status = 200, description = "A page of the log", body = Page),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::StationForbidden),
        (status = 400, description = "Invalid parameter", body = super::ErrorBody),
        (status = 503, description = "Store unavailable", body = super::ErrorBody),
    ))]
async fn poll(
    State(state): State<AppState>,
    access: Access,
    Query(query): Query<PollQuery>,
    page: Result<Query<PageQuery>, ApiError>,
) -> Result<Json<Page>, ApiError> {
    let after = query.after.map_or(Seq::ZERO, |EventId(seq)| seq);
    let stations = access.filter(Stations::filter(query.stations))?;
    let Query(page) = page?;
    let limit = page.limit.map_or(DEFAULT_LIMIT, |Bounded(n)| n);
    let wait = page
        .wait
        .map_or(0, |Bounded(secs)| secs)
        .min(state.max_wait_secs);
    // Watched before the first read, so nothing published in between is missed.
    let mut position = (wait > 0).then(|| state.hub.watch_position());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(u64::from(wait));
    loop {
        // Reading the head first makes `lastSeq` safe: every seq up to it is visible now.
        let head = state.store.max_seq().await?;
        let query = AfterQuery {
            after,
            until: Some(head),
            stations: stations.clone(),
            since: None,
            limit,
            kinds: Kinds::set(query.kinds),
        };
        let observations = state.store.entries_after(&query).await?;
        // Not full: the head, also when `after` is beyond it (a cursor from a log that was
        // reset, or from another deployment): the client then starts again from the head
        // instead of skipping everything up to its cursor.
        let last_seq = match observations.last() {
            Some(last) if observations.len() == limit as usize => last.seq,
            _ => head,
        };
        let Some(rx) = position.as_mut().filter(|_| observations.is_empty()) else {
            return Ok(Json(Page {
                observations,
                last_seq,
            }));
        };
        // Long poll: wait until something above the head was broadcast (or the deadline), then
        // read again (the station filter applies on the read).
        let woke = tokio::select! {
            () = tokio::time::sleep_until(deadline) => false,
            () = state.shutdown.cancelled() => false,
            changed = rx.wait_for(|p| *p > head) => changed.is_ok(),
        };
        if !woke {
            return Ok(Json(Page {
                observations,
                last_seq,
            }));
        }
    }
}

/// The newest observation of each station.
#[utoipa::path(get, path = "/v1/observations/latest", tag = "observations", params(StationsQuery),
    security((), ("subscriberJwt" = []), ("subscriberCookie" = []), ("subscriberQuery" = [])),
    responses(
        (status = 200, description = "One observation per station, by station id", body = List),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::StationForbidden),
        (status = 400, description = "Invalid parameter", body = super::ErrorBody),
        (status = 503, description = "Store unavailable", body = super::ErrorBody),
    ))]
async fn latest(
    State(state): State<AppState>,
    access: Access,
    Query(query): Query<StationsQuery>,
) -> Result<Json<List>, ApiError> {
    let stations = access.filter(Stations::filter(query.stations))?;
    let observations = state
        .store
        .latest_entries(stations.as_ref(), Kinds::set(query.kinds))
        .await?;
    Ok(Json(List { observations }))
}

/// One station's observations, newest first.
#[utoipa::path(get, path = "/v1/observations/by-station/{station_id}", tag = "observations",
    params(("station_id" = String, Path, description = "Station id (case-insensitive)", example = "44009", pattern = r"^\s*[A-Za-z0-9_-]{1,32}\s*$"), HistoryParams),
    security((), ("subscriberJwt" = []), ("subscriberCookie" = []), ("subscriberQuery" = [])),
    responses(
        (status = 200, description = "Observations, newest first", body = List),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::StationForbidden),
        (status = 400, description = "Invalid parameter", body = super::ErrorBody),
        (status = 503, description = "Store unavailable", body = super::ErrorBody),
    ))]
async fn by_station(
    State(state): State<AppState>,
    access: Access,
    Path(station_id): Path<String>,
    query: Result<Query<HistoryParams>, ApiError>,
) -> Result<Json<List>, ApiError> {
    let station = StationId::parse(&station_id)
        .map_err(|e| ApiError::BadRequest(format!("station id: {e}")))?;
    access.check(&station)?;
    // The query is checked after the station is granted, as a refusal outranks a bad range.
    let Query(query) = query?;
    // Any range is allowed (an empty one gives nothing): the cost is bounded by `limit`, and
    // the index on (station, time) finds the newest rows of any range directly.
    let query = HistoryQuery {
        station,
        from: query.from.map(|Time(t)| t),
        to: query.to.map(|Time(t)| t),
        limit: query.limit.map_or(DEFAULT_LIMIT, |Bounded(n)| n),
        kinds: Kinds::set(query.kinds),
    };
    let observations = state.store.history_entries(&query).await?;
    Ok(Json(List { observations }))
}
