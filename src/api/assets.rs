//! The browser assets: the dashboard at `/` and the JavaScript client module, embedded in the
//! binary at compile time so the server needs no files beside it and makes no external requests.

use axum::Router;
use axum::http::{HeaderName, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::AppState;

/// One embedded file.
#[derive(Debug, Clone, Copy)]
struct Asset {
    /// Its `Content-Type`.
    content_type: &'static str,
    /// Its bytes, as built into the binary.
    body: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const TYPESCRIPT: &str = "application/typescript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const INDEX: Asset = Asset {
    content_type: HTML,
    body: include_str!("../../web/index.html"),
};
const CLIENT: Asset = Asset {
    content_type: JAVASCRIPT,
    body: include_str!("../../web/client/buoycast.js"),
};
const CLIENT_TYPES: Asset = Asset {
    content_type: TYPESCRIPT,
    body: include_str!("../../web/client/buoycast.d.ts"),
};
const DASHBOARD_JS: Asset = Asset {
    content_type: JAVASCRIPT,
    body: include_str!("../../web/dashboard.js"),
};
const DASHBOARD_CSS: Asset = Asset {
    content_type: CSS,
    body: include_str!("../../web/dashboard.css"),
};

/// The dashboard may load only what this server serves (SPEC §8: no external requests).
const DASHBOARD_CSP: &str = "default-src 'self'; img-src 'self' data:; base-uri 'none'; \
                             form-action 'self'; frame-ancestors 'none'";

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { serve_page(INDEX) }))
        .route("/client/buoycast.js", get(|| async { serve(CLIENT) }))
        .route(
            "/client/buoycast.d.ts",
            get(|| async { serve(CLIENT_TYPES) }),
        )
        .route("/dashboard.js", get(|| async { serve(DASHBOARD_JS) }))
        .route("/dashboard.css", get(|| async { serve(DASHBOARD_CSS) }))
}

/// An asset with its type; `no-cache` so a browser revalidates after the server is upgraded.
fn serve(asset: Asset) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        asset.body,
    )
}

/// The dashboard page, with a content security policy that keeps it on this server.
fn serve_page(asset: Asset) -> impl IntoResponse {
    (
        [(
            HeaderName::from_static("content-security-policy"),
            DASHBOARD_CSP,
        )],
        serve(asset),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_embedded_assets() {
        for path in ["/dashboard.css", "/dashboard.js"] {
            assert!(INDEX.body.contains(path), "index.html refers to {path}");
        }
        assert!(DASHBOARD_JS.body.contains("\"/client/buoycast.js\""));
        for asset in [INDEX, CLIENT, DASHBOARD_JS, DASHBOARD_CSS] {
            for external in ["http://", "https://", "//cdn", "@import", "fonts.g"] {
                let hits: Vec<&str> = asset
                    .body
                    .lines()
                    .filter(|line| line.contains(external))
                    // The SVG namespace is an identifier, not a request.
                    .filter(|line| !line.contains("http://www.w3.org/2000/svg"))
                    .collect();
                assert!(hits.is_empty(), "external reference {external}: {hits:?}");
            }
        }
    }
}
