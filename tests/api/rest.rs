//! REST reads: polling with `after`/`wait`, history, latest, stations, health and readiness.

use std::time::{Duration, Instant};

use buoycast_testkit::{obs, spawn_app};

#[tokio::test]
async fn polling_pages_through_the_log_in_seq_order() {
    let app = spawn_app().await;
    app.publish(
        &(0..25)
            .map(|i| obs(["44009", "46042"][i as usize % 2], i))
            .collect::<Vec<_>>(),
    )
    .await;

    let (status, page) = app.get_json("/v1/observations?after=0&limit=10").await;
    assert_eq!(status, 200);
    let seqs: Vec<i64> = page["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
    assert_eq!(page["lastSeq"], 10);
    assert_eq!(page["observations"][0]["stationId"], "44009");
    assert_eq!(
        page["observations"][0]["timestamp"],
        "2025-11-15T12:00:00.000Z"
    );

    let (_, page) = app.get_json("/v1/observations?after=20").await;
    assert_eq!(page["observations"].as_array().unwrap().len(), 5);
    assert_eq!(page["lastSeq"], 25);

    // A filter that matches nothing still advances lastSeq to the head, so polling moves on.
    let (_, page) = app
        .get_json("/v1/observations?after=0&stations=41002")
        .await;
    assert_eq!(page["observations"].as_array().unwrap().len(), 0);
    assert_eq!(page["lastSeq"], 25);
    // A cursor beyond the head (a log that was reset) is given the head back.
    let (_, page) = app.get_json("/v1/observations?after=999999").await;
    assert_eq!(page["observations"].as_array().unwrap().len(), 0);
    assert_eq!(page["lastSeq"], 25);
    let (_, page) = app
        .get_json("/v1/observations?after=0&stations=46042&limit=1000")
        .await;
    assert!(
        page["observations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["stationId"] == "46042")
    );
    assert_eq!(page["observations"].as_array().unwrap().len(), 12);
}

#[tokio::test]
async fn long_polling_returns_as_soon_as_something_arrives() {
    let app = spawn_app().await;
    app.publish(&[obs("44009", 0)]).await;
    let started = Instant::now();
    let waiter = {
        let (client, url) = (
            app.client.clone(),
            app.url("/v1/observations?after=1&wait=20"),
        );
        tokio::spawn(async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiter.is_finished(),
        "the long poll returned before anything was published"
    );
    app.publish(&[obs("46042", 1)]).await;
    let page = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("returned")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(page["observations"][0]["seq"], 2);
    assert_eq!(page["lastSeq"], 2);

    // With nothing new, it returns empty when the wait is over.
    let started = Instant::now();
    let (status, page) = app.get_json("/v1/observations?after=2&wait=1").await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(page["observations"].as_array().unwrap().len(), 0);
    assert_eq!(page["lastSeq"], 2);
}

#[tokio::test]
async fn history_is_newest_first_within_bounds() {
    let app = spawn_app().await;
    app.publish(&(0..6).map(|i| obs("44009", i * 10)).collect::<Vec<_>>())
        .await;
    app.publish(&[obs("46042", 5)]).await;
    let (status, body) = app
        .get_json("/v1/observations/by-station/44009?from=2025-11-15T12:10:00Z&to=2025-11-15T12:40:00Z&limit=3")
        .await;
    assert_eq!(status, 200);
    let times: Vec<&str> = body["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["timestamp"].as_str().unwrap())
        .collect();
    assert_eq!(
        times,
        [
            "2025-11-15T12:40:00.000Z",
            "2025-11-15T12:30:00.000Z",
            "2025-11-15T12:20:00.000Z"
        ]
    );
    // An empty range is no error, just nothing.
    let (status, body) = app
        .get_json(
            "/v1/observations/by-station/44009?from=2025-11-16T00:00:00Z&to=2025-11-15T00:00:00Z",
        )
        .await;
    assert_eq!(
        (status, body["observations"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    // Lowercase ids are accepted.
    let (_, body) = app.get_json("/v1/observations/by-station/46042").await;
    assert_eq!(body["observations"].as_array().unwrap().len(), 1);
    for bad in [
        "/v1/observations/by-station/44009?from=yesterday",
        "/v1/observations/by-station/44009?to=",
        "/v1/observations/by-station/44009?limit=5000",
        "/v1/observations/by-station/bad%20id",
    ] {
        let (status, body) = app.get_json(bad).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("bad_request")),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn latest_gives_one_observation_per_station() {
    let app = spawn_app().await;
    app.publish(&[
        obs("44009", 0),
        obs("44009", 10),
        obs("46042", 5),
        obs("41002", 1),
    ])
    .await;
    let (_, body) = app.get_json("/v1/observations/latest").await;
    let latest: Vec<(String, String)> = body["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["stationId"].as_str().unwrap().to_owned(),
                o["timestamp"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        latest,
        [
            ("41002".to_owned(), "2025-11-15T12:01:00.000Z".to_owned()),
            ("44009".to_owned(), "2025-11-15T12:10:00.000Z".to_owned()),
            ("46042".to_owned(), "2025-11-15T12:05:00.000Z".to_owned()),
        ]
    );
    let (_, body) = app.get_json("/v1/observations/latest?stations=46042").await;
    assert_eq!(body["observations"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn stations_show_metadata_and_latest_values() {
    let app = spawn_app().await;
    let xml = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/ndbc/metadata/activestations.xml"
    ))
    .expect("activestations.xml beside the repo");
    let meta = ndbc::parse_active_stations(&xml).expect("parses");
    let expected = meta
        .iter()
        .find(|s| s.id == "44009")
        .expect("44009 in the file")
        .clone();
    app.store.upsert_stations(&meta).await.expect("stored");
    app.publish(&[obs("44009", 0), obs("ZZZ01", 0)]).await;

    let (_, body) = app.get_json("/v1/stations").await;
    let stations = body["stations"].as_array().unwrap();
    assert_eq!(
        stations.len(),
        2,
        "only stations with observations are listed"
    );
    let s = &stations[0];
    assert_eq!(s["id"], "44009");
    assert_eq!(s["name"].as_str(), expected.name.as_deref());
    assert_eq!(s["latitude"].as_f64(), Some(expected.latitude));
    assert_eq!(s["longitude"].as_f64(), Some(expected.longitude));
    assert_eq!(s["type"].as_str(), expected.station_type.as_deref());
    assert_eq!(s["latest"]["seq"], 1);
    assert_eq!(stations[1]["id"], "ZZZ01");
    assert!(stations[1]["name"].is_null());

    let (status, one) = app.get_json("/v1/stations/44009").await;
    assert_eq!(
        (status, one["latest"]["stationId"].as_str()),
        (200, Some("44009"))
    );
    // Known from metadata only: listed with no latest value.
    let other = meta
        .iter()
        .find(|s| s.id != "44009")
        .expect("another station");
    let (status, one) = app.get_json(&format!("/v1/stations/{}", other.id)).await;
    assert_eq!((status, one["latest"].is_null()), (200, true));
    let (status, body) = app.get_json("/v1/stations/NOPE1").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/health").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = app.get_json("/ready").await;
    assert_eq!(status, 200);
    assert_eq!(body["checks"]["store"]["status"], "up");
    assert_eq!(body["checks"]["bus"]["status"], "up");
    app.shutdown.cancel();
    // While draining, readiness fails so that load balancers stop sending traffic.
    let response = app.client.get(app.url("/ready")).send().await;
    if let Ok(response) = response {
        assert_eq!(response.status(), 503);
    }
}

#[tokio::test]
async fn query_parameters_are_validated() {
    let app = spawn_app().await;
    for bad in [
        "/v1/observations?after=x",
        "/v1/observations?limit=0",
        "/v1/observations?limit=1001",
        "/v1/observations?wait=61",
        "/v1/observations?stations=%3Cscript%3E",
        "/v1/observations/latest?stations=a,b;c",
    ] {
        let (status, body) = app.get_json(bad).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"]["code"], "bad_request", "{bad}");
    }
}

#[tokio::test]
async fn cors_lets_any_origin_read_in_embedded_mode_but_not_publish() {
    let app = buoycast_testkit::spawn_app().await;
    let response = app
        .client
        .get(app.url("/v1/observations/latest"))
        .header("origin", "https://somewhere.example")
        .send()
        .await
        .expect("get");
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/observations"))
        .header("origin", "https://somewhere.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .expect("preflight");
    let methods = preflight
        .headers()
        .get("access-control-allow-methods")
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .unwrap_or_default();
    assert!(
        !methods.contains("POST"),
        "publishing is not open to any origin: {methods}"
    );
}

#[tokio::test]
async fn cors_allow_list_and_same_origin_policies() {
    use buoycast::api::CorsOrigins;
    let listed = buoycast_testkit::spawn_app_with(|s| {
        s.server.as_mut().expect("server").cors =
            Some(CorsOrigins::parse(Some("https://ok.example"), true).unwrap());
    })
    .await;
    let get = |app: &buoycast_testkit::TestApp, origin: &'static str| {
        app.client
            .get(app.url("/health"))
            .header("origin", origin)
            .send()
    };
    let ok = get(&listed, "https://ok.example").await.expect("get");
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://ok.example"
    );
    let other = get(&listed, "https://evil.example").await.expect("get");
    assert!(other.headers().get("access-control-allow-origin").is_none());

    let same = buoycast_testkit::spawn_app_with(|s| {
        s.server.as_mut().expect("server").cors = Some(CorsOrigins::SameOrigin)
    })
    .await;
    let response = get(&same, "https://ok.example").await.expect("get");
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}
