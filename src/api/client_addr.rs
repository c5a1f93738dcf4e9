//! Who is asking: the TCP peer of a request and the client address behind trusted proxies.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderName;
use axum::http::request::Parts;

use super::{ApiError, AppState};

/// Made once (a name given as text is parsed at every use).
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

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
            .get_all(X_FORWARDED_FOR)
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
