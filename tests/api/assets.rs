//! The embedded browser assets: the dashboard at `/`, the stream test page at `/test`, and the
//! client module, with their types.

use buoycast_testkit::spawn_app;

/// Fetches `path` and checks its status, `Content-Type`, `Cache-Control` and a piece of its body.
async fn check(path: &str, content_type: &str, contains: &str) {
    let app = spawn_app().await;
    let response = app.client.get(app.url(path)).send().await.expect("request");
    assert_eq!(response.status().as_u16(), 200, "{path}");
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], content_type, "{path}");
    assert_eq!(headers["cache-control"], "no-cache", "{path}");
    assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
    let body = response.text().await.expect("body");
    assert!(
        body.contains(contains),
        "{path} does not contain {contains:?}"
    );
}

#[tokio::test]
async fn the_dashboard_is_served_at_the_root() {
    check(
        "/",
        "text/html; charset=utf-8",
        "<script type=\"module\" src=\"/dashboard.js\">",
    )
    .await;
}

#[tokio::test]
async fn the_dashboard_may_load_only_from_this_server() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/")).send().await.expect("request");
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .expect("text");
    assert!(csp.contains("default-src 'self'"), "{csp}");
}

#[tokio::test]
async fn the_test_page_and_its_script_are_served_from_this_server_only() {
    check(
        "/test",
        "text/html; charset=utf-8",
        "<script type=\"module\" src=\"/test.js\">",
    )
    .await;
    check(
        "/test.js",
        "text/javascript; charset=utf-8",
        "from \"/client/buoycast.js\"",
    )
    .await;
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/test"))
        .send()
        .await
        .expect("request");
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .expect("text");
    assert!(csp.contains("default-src 'self'"), "{csp}");
}

#[tokio::test]
async fn the_client_module_and_its_types_are_served() {
    check(
        "/client/buoycast.js",
        "text/javascript; charset=utf-8",
        "export function connect(",
    )
    .await;
    check(
        "/client/buoycast.d.ts",
        "application/typescript; charset=utf-8",
        "export declare function connect(",
    )
    .await;
}

#[tokio::test]
async fn the_dashboard_script_and_style_are_served() {
    check(
        "/dashboard.js",
        "text/javascript; charset=utf-8",
        "from \"/client/buoycast.js\"",
    )
    .await;
    check("/dashboard.css", "text/css; charset=utf-8", ".card").await;
    for (module, contains) in [
        ("/dashboard/state.js", "export const state"),
        ("/dashboard/data.js", "export async function loadInitial("),
        ("/dashboard/cards.js", "export function render("),
        ("/dashboard/audio.js", "export function sonify("),
    ] {
        check(module, "text/javascript; charset=utf-8", contains).await;
    }
}

#[tokio::test]
async fn assets_answer_head_and_refuse_other_methods() {
    let app = spawn_app().await;
    let head = app
        .client
        .head(app.url("/client/buoycast.js"))
        .send()
        .await
        .expect("request");
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(
        head.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let post = app
        .client
        .post(app.url("/dashboard.js"))
        .send()
        .await
        .expect("request");
    assert_eq!(post.status().as_u16(), 405);
    let missing = app
        .client
        .get(app.url("/client/nothing.js"))
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status().as_u16(), 404);
}
