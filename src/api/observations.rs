//! REST reads of observations: polling (`GET /v1/observations`), history and latest values.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Duration as TimeSpan;
use tokio::sync::broadcast::error::RecvError;

use super::params::Params;
use super::{ApiError, AppState};
use crate::domain::{Seq, StationId, StoredObservation};
use crate::store::{AfterQuery, HistoryQuery};

/// Longest long-poll, seconds.
pub const MAX_WAIT_SECS: u32 = 60;
/// Widest `from`..`to` range of a history query, days.
pub const MAX_HISTORY_DAYS: i64 = 366;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/observations", get(poll))
        .route("/v1/observations/latest", get(latest))
        .route("/v1/observations/by-station/{station_id}", get(by_station))
}

/// Body of the polling endpoint.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    observations: Vec<StoredObservation>,
    /// Pass as `after` on the next call.
    last_seq: Seq,
}

/// Body of the history and latest endpoints.
#[derive(Debug, serde::Serialize)]
struct List {
    observations: Vec<StoredObservation>,
}

async fn poll(State(state): State<AppState>, params: Params) -> Result<Json<Page>, ApiError> {
    let after = params.seq("after")?.unwrap_or(Seq::ZERO);
    let stations = params.stations()?;
    let limit = params.limit()?;
    let wait = params.bounded_int("wait", 0, MAX_WAIT_SECS)?.unwrap_or(0);
    // Subscribed before the first read, so nothing published in between is missed.
    let mut live = (wait > 0).then(|| state.hub.subscribe());
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
        };
        let observations = state.store.observations_after(&query).await?;
        let last_seq = match observations.last() {
            Some(last) if observations.len() == limit as usize => last.seq,
            _ => head.max(after),
        };
        let Some(rx) = live.as_mut().filter(|_| observations.is_empty()) else {
            return Ok(Json(Page {
                observations,
                last_seq,
            }));
        };
        // Long poll: wait for a wanted frame above the head (or the deadline), then read again.
        let woke = loop {
            let received = tokio::select! {
                () = tokio::time::sleep_until(deadline) => break false,
                () = state.shutdown.cancelled() => break false,
                received = rx.recv() => received,
            };
            match received {
                Ok(frame) => {
                    let above = frame.seq.is_some_and(|s| s > head);
                    if above && frame.wanted_by(stations.as_ref()) {
                        break true;
                    }
                }
                Err(RecvError::Lagged(_)) => break true,
                Err(RecvError::Closed) => break false,
            }
        };
        if !woke {
            return Ok(Json(Page {
                observations,
                last_seq,
            }));
        }
    }
}

async fn latest(State(state): State<AppState>, params: Params) -> Result<Json<List>, ApiError> {
    let stations = params.stations()?;
    let observations = state.store.latest(stations.as_ref()).await?;
    Ok(Json(List { observations }))
}

async fn by_station(
    State(state): State<AppState>,
    Path(station_id): Path<String>,
    params: Params,
) -> Result<Json<List>, ApiError> {
    let station = StationId::parse(&station_id)
        .map_err(|e| ApiError::BadRequest(format!("station id: {e}")))?;
    let from = params.time("from")?;
    let to = params.time("to")?;
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            return Err(ApiError::BadRequest("from must not be after to".into()));
        }
        if to - from > TimeSpan::days(MAX_HISTORY_DAYS) {
            return Err(ApiError::BadRequest(format!(
                "from..to may span at most {MAX_HISTORY_DAYS} days"
            )));
        }
    }
    let query = HistoryQuery {
        station,
        from,
        to,
        limit: params.limit()?,
    };
    let observations = state.store.history(&query).await?;
    Ok(Json(List { observations }))
}
