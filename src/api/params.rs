//! Query-string parsing shared by the endpoints: every invalid value is a 400 with a clear message.

use std::collections::HashMap;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};

use super::{ApiError, AppState, DEFAULT_LIMIT, MAX_LIMIT};
use crate::domain::{Seq, StationFilter, parse_timestamp};

/// The TCP peer of a request's connection, which the front door inserts into every request as
/// `ConnectInfo<PeerAddr>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The client's address: the peer of the TCP connection or, when that peer is a trusted proxy
/// (`--trusted-proxies`), the rightmost address of `X-Forwarded-For` that is not itself trusted
/// ([`TrustedProxies::client`]). The port is the peer's only when the address is.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<PeerAddr>>()
            .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0.0);
        if !state.trusted_proxies.contains(peer.ip()) {
            return Ok(Self(peer));
        }
        // Nearest entry first: the header lines from the last, each line's list from the right
        // (a line that is not text gives one entry that is not an address, ending the walk).
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .rev()
            .flat_map(|line| line.to_str().unwrap_or("").rsplit(','));
        let client = state.trusted_proxies.client(peer.ip(), forwarded);
        Ok(Self(if client == peer.ip() {
            peer
        } else {
            SocketAddr::new(client, 0)
        }))
    }
}

/// The query string as name → value (the last of repeated names wins).
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| ApiError::BadRequest(format!("invalid query string: {e}")))?;
        Ok(Self(pairs.into_iter().collect()))
    }
}

impl Params {
    /// Parameters from name/value pairs (tests build queries this way).
    #[cfg(test)]
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    /// The raw value of a parameter, if present (an empty value is a value: it is invalid for
    /// numbers and times).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// `stations=44009,46042`; empty means all stations.
    pub fn stations(&self) -> Result<Option<StationFilter>, ApiError> {
        match self.get("stations") {
            None => Ok(None),
            Some(raw) => StationFilter::parse(raw)
                .map_err(|e| ApiError::BadRequest(format!("stations: {e}"))),
        }
    }

    /// A seq parameter such as `after=1234` or `lastEventId=1234`.
    pub fn seq(&self, name: &str) -> Result<Option<Seq>, ApiError> {
        self.get(name)
            .map(|raw| {
                Seq::parse(raw).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "{name}: expected a non-negative integer, got {raw:?}"
                    ))
                })
            })
            .transpose()
    }

    /// A time parameter (ISO 8601).
    pub fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.get(name)
            .map(|raw| {
                parse_timestamp(raw).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "{name}: expected an ISO 8601 time such as 2025-11-15T12:00:00Z, got {raw:?}"
                    ))
                })
            })
            .transpose()
    }

    /// `limit=`, 1..=[`MAX_LIMIT`], default [`DEFAULT_LIMIT`].
    pub fn limit(&self) -> Result<u32, ApiError> {
        self.bounded_int("limit", 1, MAX_LIMIT)
            .map(|v| v.unwrap_or(DEFAULT_LIMIT))
    }

    /// An integer parameter within `lo..=hi`.
    pub fn bounded_int(&self, name: &str, lo: u32, hi: u32) -> Result<Option<u32>, ApiError> {
        self.get(name)
            .map(|raw| {
                raw.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|v| (lo..=hi).contains(v))
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "{name}: expected an integer from {lo} to {hi}, got {raw:?}"
                        ))
                    })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &str) -> Params {
        Params(
            serde_urlencoded::from_str::<Vec<(String, String)>>(q)
                .unwrap()
                .into_iter()
                .collect(),
        )
    }

    #[test]
    fn reads_and_bounds_values() {
        let p = params("after=12&limit=5&stations=44009%2C46042&since=2025-11-15T12:00:00Z");
        assert_eq!(p.seq("after").unwrap(), Some(Seq::new(12)));
        assert_eq!(p.limit().unwrap(), 5);
        assert_eq!(p.stations().unwrap().unwrap().len(), 2);
        assert!(p.time("since").unwrap().is_some());
        assert_eq!(params("").limit().unwrap(), DEFAULT_LIMIT);
    }

    #[test]
    fn rejects_bad_values() {
        for q in [
            "after=-1",
            "after=x",
            "after=",
            "since=",
            "limit=0",
            "limit=100000",
            "stations=a;b",
            "since=soon",
        ] {
            let p = params(q);
            let failed = p.seq("after").is_err()
                || p.limit().is_err()
                || p.stations().is_err()
                || p.time("since").is_err();
            assert!(failed, "{q} should be rejected");
        }
    }
}
