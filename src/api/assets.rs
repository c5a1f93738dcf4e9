//! The browser assets: the dashboard at `/` (its page, style and ES modules), the stream test
//! page at `/test`, and the JavaScript client module, embedded in the binary at compile time so the server needs no files beside it
//! and makes no external requests.

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
/// The stream test page: connect and disconnect by hand, watch states, counters and the log.
const TEST_PAGE: Asset = Asset {
    content_type: HTML,
    body: include_str!("../../web/test.html"),
};
const TEST_JS: Asset = script(include_str!("../../web/test.js"));

/// The modules `/dashboard.js` imports (plain ES modules, no build step), by path.
const DASHBOARD_MODULES: [(&str, Asset); 5] = [
    (
        "/dashboard/state.js",
        script(include_str!("../../web/dashboard/state.js")),
    ),
    (
        "/dashboard/data.js",
        script(include_str!("../../web/dashboard/data.js")),
    ),
    (
        "/dashboard/cards.js",
        script(include_str!("../../web/dashboard/cards.js")),
    ),
    (
        "/dashboard/audio.js",
        script(include_str!("../../web/dashboard/audio.js")),
    ),
    (
        "/dashboard/spectrum.js",
        script(include_str!("../../web/dashboard/spectrum.js")),
    ),
];

/// A JavaScript file.
const fn script(body: &'static str) -> Asset {
    Asset {
        content_type: JAVASCRIPT,
        body,
    }
}

/// The dashboard and the test page may load only what this server serves (SPEC §8: no external
/// requests).
const DASHBOARD_CSP: &str = "default-src 'self'; img-src 'self' data:; base-uri 'none'; \
                             form-action 'self'; frame-ancestors 'none'";

pub(super) fn router() -> Router<AppState> {
    let router = Router::new()
        .route("/", get(|| async { serve_page(INDEX) }))
        .route("/client/buoycast.js", get(|| async { serve(CLIENT) }))
        .route(
            "/client/buoycast.d.ts",
            get(|| async { serve(CLIENT_TYPES) }),
        )
        .route("/dashboard.js", get(|| async { serve(DASHBOARD_JS) }))
        .route("/dashboard.css", get(|| async { serve(DASHBOARD_CSS) }))
        .route("/test", get(|| async { serve_page(TEST_PAGE) }))
        .route("/test.js", get(|| async { serve(TEST_JS) }));
    DASHBOARD_MODULES
        .into_iter()
        .fold(router, |router, (path, asset)| {
            router.route(path, get(move || async move { serve(asset) }))
        })
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

/// A page (the dashboard, the test page), with a content security policy that keeps it on this
/// server.
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

    /// Every script the browser may fetch, by path.
    fn scripts() -> Vec<(&'static str, Asset)> {
        let mut all = vec![
            ("/client/buoycast.js", CLIENT),
            ("/dashboard.js", DASHBOARD_JS),
            ("/test.js", TEST_JS),
        ];
        all.extend(DASHBOARD_MODULES);
        all
    }

    /// The module paths a script imports (`from "/…"`).
    fn imports(body: &str) -> Vec<&str> {
        body.split("from \"")
            .skip(1)
            .filter_map(|rest| rest.split_once('"').map(|(path, _)| path))
            .collect()
    }

    #[test]
    fn the_page_loads_only_embedded_assets() {
        for path in ["/dashboard.css", "/dashboard.js"] {
            assert!(INDEX.body.contains(path), "index.html refers to {path}");
        }
        assert!(DASHBOARD_JS.body.contains("\"/client/buoycast.js\""));
        for path in ["/dashboard.css", "/test.js"] {
            assert!(TEST_PAGE.body.contains(path), "test.html refers to {path}");
        }
        assert!(TEST_JS.body.contains("\"/client/buoycast.js\""));
        let mut assets = vec![
            INDEX,
            CLIENT,
            DASHBOARD_JS,
            DASHBOARD_CSS,
            TEST_PAGE,
            TEST_JS,
        ];
        assets.extend(DASHBOARD_MODULES.map(|(_, asset)| asset));
        for asset in assets {
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

    #[test]
    fn every_module_the_dashboard_imports_is_served() {
        let scripts = scripts();
        let mut imported = Vec::new();
        for (path, asset) in &scripts {
            for import in imports(asset.body) {
                assert!(
                    scripts.iter().any(|(served, _)| *served == import),
                    "{path} imports {import}, which is not served"
                );
                imported.push(import);
            }
        }
        // And every dashboard module is imported by something: none is left behind.
        for (path, _) in DASHBOARD_MODULES {
            assert!(
                imported.contains(&path),
                "{path} is served but not imported"
            );
        }
    }
}
