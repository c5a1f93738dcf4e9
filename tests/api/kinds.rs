//! Entries of every kind (SPEC §3a) on the wire: each kind its own event name, `kinds=` on the
//! stream and the REST reads, resume and replay across kinds, publishing other kinds.

use std::time::Duration;

use buoycast::domain::{Entry, Fields, Kind, KindEntry, StationId};
use buoycast_testkit::{at, obs, spawn_app, spawn_app_with};

const WAIT: Duration = Duration::from_secs(5);

fn entry(kind: Kind, station: &str, minute: i64, fields: &str) -> Entry {
    Entry::Other(KindEntry {
        kind,
        station_id: StationId::parse(station).expect("station"),
        timestamp: at(minute),
        fields: Fields::parse(fields).expect("fields"),
    })
}

fn mixed(minute: i64) -> Vec<Entry> {
    vec![
        Entry::Observation(obs("44013", minute)),
        entry(
            Kind::Spectrum,
            "44013",
            minute,
            r#"{"separationFreqHz":0.1,"frequenciesHz":[0.03,0.04],"energyDensityM2PerHz":[1.5,null]}"#,
        ),
        entry(
            Kind::Tsunami,
            "41421",
            minute,
            r#"{"measurementType":1,"waterColumnHeightM":5783.412}"#,
        ),
    ]
}

/// A stream without `kinds=` is what it always was: observations only. `kinds=*` sends every
/// kind under its own event name, each payload carrying its kind; a list sends just those.
#[tokio::test]
async fn each_kind_is_its_own_event_and_the_default_is_observations() {
    let app = spawn_app().await;
    let mut plain = app.stream("/v1/observations/stream", &[]).await;
    let mut all = app.stream("/v1/observations/stream?kinds=*", &[]).await;
    let mut some = app
        .stream("/v1/observations/stream?kinds=tsunami,observation", &[])
        .await;
    for client in [&mut plain, &mut all, &mut some] {
        assert_eq!(client.status, 200);
        client
            .next_of("connection", WAIT)
            .await
            .expect("connection");
    }
    let stored = app.publish_entries(&mixed(0)).await;
    assert_eq!(stored.len(), 3);
    app.publish(&[obs("44013", 1)]).await;

    let names = |events: Vec<buoycast_testkit::SseEvent>| -> Vec<(String, Option<i64>)> {
        events.into_iter().map(|e| (e.event, e.id)).collect()
    };
    let read = async |client: &mut buoycast_testkit::SseClient, n: usize| {
        let mut events = Vec::new();
        while events.len() < n {
            let event = client.next_event(WAIT).await.expect("an event");
            if event.event != "heartbeat" {
                events.push(event);
            }
        }
        events
    };
    let plain_events = read(&mut plain, 2).await;
    assert_eq!(
        names(plain_events.clone()),
        [
            ("observation".into(), Some(2)),
            ("observation".into(), Some(4))
        ]
    );
    assert_eq!(plain_events[0].json()["kind"], "observation");
    let all_events = read(&mut all, 4).await;
    assert_eq!(
        names(all_events.clone()),
        [
            ("tsunami".into(), Some(1)),
            ("observation".into(), Some(2)),
            ("spectrum".into(), Some(3)),
            ("observation".into(), Some(4)),
        ]
    );
    let spectrum = all_events[2].json();
    assert_eq!(spectrum["kind"], "spectrum");
    assert_eq!(spectrum["stationId"], "44013");
    assert_eq!(
        spectrum["energyDensityM2PerHz"],
        serde_json::json!([1.5, null])
    );
    let tsunami = all_events[0].json();
    assert_eq!(
        (
            tsunami["kind"].as_str(),
            tsunami["waterColumnHeightM"].as_f64()
        ),
        (Some("tsunami"), Some(5783.412))
    );
    assert_eq!(
        names(read(&mut some, 3).await),
        [
            ("tsunami".into(), Some(1)),
            ("observation".into(), Some(2)),
            ("observation".into(), Some(4)),
        ]
    );
}

/// A batch is applied oldest first, then by station and kind: `mixed(m)` stores the tsunami of
/// 41421, then the observation and the spectrum of 44013.
///
/// Resuming replays the missed entries of the stream's kinds in seq order, then goes live, with
/// no gap and no duplicate; `kinds=` is kept when the resume id comes in `Last-Event-ID`.
#[tokio::test]
async fn resume_replays_every_requested_kind_in_order() {
    let app = spawn_app().await;
    app.publish_entries(&mixed(0)).await; // seqs 1..=3
    app.publish_entries(&mixed(10)).await; // seqs 4..=6
    let mut resumed = app
        .stream(
            "/v1/observations/stream?kinds=spectrum,tsunami",
            &[("last-event-id", "2")],
        )
        .await;
    let connection = resumed
        .next_of("connection", WAIT)
        .await
        .expect("connection");
    assert_eq!(connection.id, Some(2));
    let mut seen = Vec::new();
    for _ in 0..3 {
        let e = resumed.next_event(WAIT).await.expect("replayed");
        seen.push((e.event, e.id));
    }
    assert_eq!(
        seen,
        [
            ("spectrum".to_owned(), Some(3)),
            ("tsunami".to_owned(), Some(4)),
            ("spectrum".to_owned(), Some(6)),
        ]
    );
    app.publish_entries(&mixed(20)).await; // seqs 7..=9
    let live = resumed.next_event(WAIT).await.expect("live");
    assert_eq!((live.event.as_str(), live.id), ("tsunami", Some(7)));
    let live = resumed.next_event(WAIT).await.expect("live");
    assert_eq!((live.event.as_str(), live.id), ("spectrum", Some(9)));
}

/// `since=` replays the entries of the stream's kinds measured at or after the time, in seq
/// order, and the `connection` id is the seq before the first of them.
#[tokio::test]
async fn since_replays_every_requested_kind_measured_from_then() {
    let app = spawn_app().await;
    app.publish_entries(&mixed(0)).await; // seqs 1..=3, minute 0
    app.publish_entries(&mixed(10)).await; // seqs 4..=6, minute 10
    let since = buoycast::domain::format_timestamp(at(10));
    let mut stream = app
        .stream(
            &format!("/v1/observations/stream?kinds=tsunami,spectrum&since={since}"),
            &[],
        )
        .await;
    let connection = stream
        .next_of("connection", WAIT)
        .await
        .expect("connection");
    assert_eq!(connection.id, Some(3), "the seq before the first match");
    let first = stream.next_event(WAIT).await.expect("replayed");
    let second = stream.next_event(WAIT).await.expect("replayed");
    assert_eq!(
        [
            (first.event.as_str(), first.id),
            (second.event.as_str(), second.id)
        ],
        [("tsunami", Some(4)), ("spectrum", Some(6))]
    );
}

/// Polling, history and latest take `kinds=`; each item carries its kind and seq.
#[tokio::test]
async fn rest_reads_take_kinds() {
    let app = spawn_app().await;
    app.publish_entries(&mixed(0)).await;
    app.publish_entries(&mixed(10)).await;

    let (status, page) = app.get_json("/v1/observations?after=0").await;
    assert_eq!(status, 200);
    let items = page["observations"].as_array().expect("items");
    assert_eq!(items.len(), 2, "observations only by default: {page}");
    assert_eq!(page["lastSeq"], 6);

    let (_, page) = app.get_json("/v1/observations?after=1&kinds=*").await;
    let kinds: Vec<(&str, i64)> = page["observations"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["kind"].as_str().expect("kind"),
                i["seq"].as_i64().expect("seq"),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("observation", 2),
            ("spectrum", 3),
            ("tsunami", 4),
            ("observation", 5),
            ("spectrum", 6)
        ]
    );

    let (_, history) = app
        .get_json("/v1/observations/by-station/44013?kinds=spectrum")
        .await;
    let seqs: Vec<i64> = history["observations"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(seqs, [6, 3], "newest first");

    let (_, latest) = app.get_json("/v1/observations/latest?kinds=*").await;
    let keys: Vec<(&str, &str, i64)> = latest["observations"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["stationId"].as_str().expect("station"),
                i["kind"].as_str().expect("kind"),
                i["seq"].as_i64().expect("seq"),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("41421", "tsunami", 4),
            ("44013", "observation", 5),
            ("44013", "spectrum", 6)
        ]
    );

    for bad in [
        "/v1/observations?kinds=waves",
        "/v1/observations?kinds=",
        "/v1/observations/latest?kinds=spectrum,",
        "/v1/observations/by-station/44013?kinds=Spectrum",
        "/v1/observations/stream?kinds=nope",
    ] {
        let (status, body) = app.get_json(bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with("kinds: "),
            "{bad}: {body}"
        );
    }
}

/// The publish API takes entries of other kinds too, stores them once, and streams them.
#[tokio::test]
async fn producers_publish_other_kinds() {
    let app = spawn_app_with(|s| {
        if let Some(server) = s.server.as_mut() {
            server.publish_token = Some("secret-token".to_owned().into());
        }
    })
    .await;
    let mut stream = app.stream("/v1/observations/stream?kinds=rain", &[]).await;
    stream
        .next_of("connection", WAIT)
        .await
        .expect("connection");
    let body = serde_json::json!([
        {"kind": "rain", "stationId": "BDVF1", "timestamp": "2025-11-15T12:00:00Z", "accumulationMm": 0.5},
        {"stationId": "44013", "timestamp": "2025-11-15T12:00:00Z", "waveHeightM": 1.0}
    ]);
    let post = || {
        app.client
            .post(app.url("/v1/observations"))
            .bearer_auth("secret-token")
            .json(&body)
            .send()
    };
    let response = post().await.expect("post");
    assert_eq!(response.status(), 201);
    let published: serde_json::Value = response.json().await.expect("json");
    assert_eq!(published["stored"], 2);
    // Applied oldest first, then by station: 44013's observation, then BDVF1's rain.
    assert_eq!(published["observations"][1]["kind"], "rain");
    let again = post().await.expect("post");
    assert_eq!(again.status(), 200, "the same entries again store nothing");
    let rain = stream.next_of("rain", WAIT).await.expect("rain");
    assert_eq!(rain.json()["accumulationMm"], 0.5);
    assert_eq!(rain.id, Some(2));
}

/// An entry of another kind that was stored but whose publish never arrived (a lost bus
/// message) still reaches the streams that asked for its kind: the relay repairs gaps of every
/// kind from the store, not only observations.
#[tokio::test]
async fn a_lost_publish_of_another_kind_is_repaired_from_the_store() {
    let app = spawn_app().await;
    let mut stream = app.stream("/v1/observations/stream?kinds=*", &[]).await;
    stream
        .next_of("connection", WAIT)
        .await
        .expect("connection");
    // Stored, never published.
    app.store
        .insert_entries(&mixed(0)[1..2])
        .await
        .expect("stored");
    let repaired = stream
        .next_of("spectrum", Duration::from_secs(15))
        .await
        .expect("repaired from the store");
    assert_eq!(repaired.id, Some(1));
}
