//! The checks every store implementation must pass.
//!
//! Each check takes a fresh, migrated store and panics on a violation of the [`Store`] contract;
//! `store_suite!` makes one test per check for a backend (`sqlite.rs`, `postgres.rs`). The data
//! are real rows of the NDBC files in `../shared/ndbc`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use buoycast::domain::{
    KindSet, Observation, Seq, Station, StationFilter, StationId, StoredObservation,
};
use buoycast::store::{AfterQuery, HistoryQuery, Store};

/// The directory of real realtime2 files.
const REALTIME2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/ndbc/realtime2/");
/// NDBC's station list.
const ACTIVE_STATIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/ndbc/metadata/activestations.xml"
);
/// A limit larger than any result of these checks.
const NO_LIMIT: u32 = 1_000_000;

fn id(raw: &str) -> StationId {
    StationId::parse(raw).expect("station id")
}

fn filter(ids: &[&str]) -> StationFilter {
    ids.iter().map(|s| id(s)).collect()
}

/// Every row of a realtime2 file (relative to `realtime2/`) as observations of `station`, in
/// file order (newest first).
fn file_rows(file: &str, station: &str) -> Vec<Observation> {
    let path = format!("{REALTIME2}{file}");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let parsed = ndbc::parse_realtime(&bytes).expect("a standard meteorological file");
    let station = id(station);
    let rows: Vec<Observation> = parsed
        .records
        .iter()
        .map(|r| Observation::from_ndbc(station.clone(), r))
        .collect();
    assert!(
        rows.windows(2).all(|w| w[0].timestamp > w[1].timestamp),
        "{file}: rows are expected newest first without duplicates"
    );
    rows
}

/// The first `n` (newest) rows of a file.
fn newest(file: &str, station: &str, n: usize) -> Vec<Observation> {
    let rows = file_rows(file, station);
    assert!(rows.len() >= n, "{file} has only {} rows", rows.len());
    rows.into_iter().take(n).collect()
}

fn all_after(after: i64) -> AfterQuery {
    AfterQuery {
        after: Seq::new(after),
        limit: NO_LIMIT,
        ..AfterQuery::default()
    }
}

fn seqs(stored: &[StoredObservation]) -> Vec<i64> {
    stored.iter().map(|s| s.seq.get()).collect()
}

fn observations(stored: &[StoredObservation]) -> Vec<Observation> {
    stored.iter().map(|s| s.observation.clone()).collect()
}

/// Oldest first, as a store applies a batch.
fn oldest_first(batch: &[Observation]) -> Vec<Observation> {
    let mut rows = batch.to_vec();
    rows.sort_by(|a, b| (a.timestamp, &a.station_id).cmp(&(b.timestamp, &b.station_id)));
    rows
}

async fn insert(store: &dyn Store, batch: &[Observation]) -> Vec<StoredObservation> {
    store
        .insert_observations(batch)
        .await
        .expect("insert_observations")
}

async fn everything(store: &dyn Store) -> Vec<StoredObservation> {
    store
        .observations_after(&all_after(0))
        .await
        .expect("observations_after")
}

async fn max_seq(store: &dyn Store) -> i64 {
    store.max_seq().await.expect("max_seq").get()
}

fn assert_strictly_increasing(stored: &[StoredObservation], what: &str) {
    assert!(
        stored.windows(2).all(|w| w[0].seq < w[1].seq),
        "{what}: seqs not strictly increasing: {:?}",
        seqs(stored)
    );
}

/// A batch given newest first is stored oldest first with consecutive, increasing seqs.
pub async fn insert_assigns_increasing_seqs_oldest_first(store: &dyn Store) {
    let rows = newest("44013.txt", "44013", 70);
    let batch = &rows[..60];
    let stored = insert(store, batch).await;
    assert_eq!(seqs(&stored), (1..=60).collect::<Vec<_>>());
    assert!(
        stored
            .windows(2)
            .all(|w| w[0].observation.timestamp < w[1].observation.timestamp),
        "a batch is applied oldest first"
    );
    assert_eq!(observations(&stored), oldest_first(batch));
    assert_eq!(
        everything(store).await,
        stored,
        "what is returned is what is stored"
    );
    assert_eq!(max_seq(store).await, 60);

    // The next batch continues the log.
    let next = insert(store, &rows[60..]).await;
    assert_eq!(seqs(&next), (61..=70).collect::<Vec<_>>());
    assert_eq!(observations(&next), oldest_first(&rows[60..]));
    assert_eq!(max_seq(store).await, 70);
    assert!(
        insert(store, &[]).await.is_empty(),
        "an empty batch stores nothing"
    );
}

/// Storing the same batch twice stores nothing the second time and uses up no seq.
pub async fn reinserting_a_batch_changes_nothing(store: &dyn Store) {
    let rows = newest("44065.txt", "44065", 41);
    let first = insert(store, &rows[..40]).await;
    assert_eq!(first.len(), 40);
    let max = max_seq(store).await;

    assert!(
        insert(store, &rows[..40]).await.is_empty(),
        "re-insert returned rows"
    );
    assert!(
        insert(store, &rows[..40]).await.is_empty(),
        "third insert returned rows"
    );
    assert_eq!(max_seq(store).await, max);
    assert_eq!(everything(store).await, first, "rows or seqs changed");

    // The counter did not move: the next new row takes the very next seq.
    let next = insert(store, &rows[..41]).await;
    assert_eq!(seqs(&next), vec![max + 1]);
    assert_eq!(next[0].observation, rows[40]);
}

/// A changed value updates the row and gives it a new, higher seq; identical rows keep theirs.
pub async fn changed_values_get_a_new_seq(store: &dyn Store) {
    let batch = newest("44013.txt", "44013", 10);
    let first = insert(store, &batch).await;
    assert_eq!(first.len(), 10);

    // Change a pressure (4th oldest) and clear a water temperature (7th oldest).
    let (old_a, old_b) = (first[3].clone(), first[6].clone());
    let position = |t: DateTime<Utc>| {
        batch
            .iter()
            .position(|o| o.timestamp == t)
            .expect("row of the batch")
    };
    let mut changed = batch.clone();
    let a = &mut changed[position(old_a.observation.timestamp)];
    let pressure = a.pressure_hpa.expect("44013 reports pressure on this row");
    a.pressure_hpa = Some(pressure + 0.5);
    let b = &mut changed[position(old_b.observation.timestamp)];
    assert!(
        b.water_temp_c.is_some(),
        "44013 reports water temperature on this row"
    );
    b.water_temp_c = None;
    let (new_a, new_b) = (
        changed[position(old_a.observation.timestamp)].clone(),
        changed[position(old_b.observation.timestamp)].clone(),
    );

    let updated = insert(store, &changed).await;
    assert_eq!(
        updated,
        vec![
            StoredObservation {
                seq: Seq::new(11),
                observation: new_a.clone()
            },
            StoredObservation {
                seq: Seq::new(12),
                observation: new_b.clone()
            },
        ],
        "exactly the two changed rows are stored again, oldest first, with new seqs"
    );
    assert_eq!(max_seq(store).await, 12);

    let all = everything(store).await;
    assert_eq!(all.len(), 10, "an update does not add a row");
    let all_seqs: BTreeSet<i64> = seqs(&all).into_iter().collect();
    assert!(!all_seqs.contains(&old_a.seq.get()) && !all_seqs.contains(&old_b.seq.get()));
    let untouched: Vec<_> = first
        .iter()
        .filter(|s| s.seq != old_a.seq && s.seq != old_b.seq)
        .cloned()
        .collect();
    assert_eq!(
        &all[..8],
        &untouched[..],
        "identical rows keep their seq and values"
    );
    assert_eq!(&all[8..], &updated[..]);
    let after = store
        .observations_after(&all_after(old_a.seq.get() - 1))
        .await
        .expect("after");
    assert!(
        after.iter().all(|s| s.seq != old_a.seq),
        "the old seq is gone"
    );

    assert!(
        insert(store, &changed).await.is_empty(),
        "the update is applied once"
    );
    // Putting the original values back is a change too.
    let restored = insert(store, &batch).await;
    assert_eq!(seqs(&restored), vec![13, 14]);
    assert_eq!(
        observations(&restored),
        vec![old_a.observation, old_b.observation]
    );
}

/// Two rows of one batch with the same key: the last one wins.
pub async fn repeated_key_in_a_batch_keeps_the_last(store: &dyn Store) {
    let rows = newest("44013.txt", "44013", 2);
    let mut later = rows[0].clone();
    later.wind_speed_mps = Some(later.wind_speed_mps.unwrap_or(0.0) + 1.0);
    later.tide_ft = Some(1.5);
    assert_ne!(later, rows[0]);

    let stored = insert(store, &[rows[0].clone(), rows[1].clone(), later.clone()]).await;
    assert_eq!(observations(&stored), vec![rows[1].clone(), later.clone()]);
    assert_eq!(seqs(&stored), vec![1, 2]);
    assert_eq!(
        observations(&everything(store).await),
        vec![rows[1].clone(), later]
    );
}

/// 20 rows each of three stations from different periods, inserted one station at a time:
/// 44013 gets seqs 1..=20, TPLM2 21..=40, 46097 41..=60.
async fn three_stations(store: &dyn Store) -> Vec<StoredObservation> {
    let mut all = Vec::new();
    for (file, station) in [
        ("44013.txt", "44013"),
        ("TPLM2.txt", "TPLM2"),
        ("46097.txt", "46097"),
    ] {
        all.extend(insert(store, &newest(file, station, 20)).await);
    }
    assert_eq!(seqs(&all), (1..=60).collect::<Vec<_>>());
    all
}

/// An independent reading of [`AfterQuery`], applied to everything stored.
fn expected_after(all: &[StoredObservation], q: &AfterQuery) -> Vec<StoredObservation> {
    all.iter()
        .filter(|s| s.seq > q.after)
        .filter(|s| q.until.is_none_or(|u| s.seq <= u))
        .filter(|s| {
            q.stations
                .as_ref()
                .is_none_or(|f| f.contains(&s.observation.station_id))
        })
        .filter(|s| q.since.is_none_or(|t| s.observation.timestamp >= t))
        .take(q.limit as usize)
        .cloned()
        .collect()
}

/// `observations_after` with every combination of its conditions.
pub async fn observations_after_filters(store: &dyn Store) {
    let all = three_stations(store).await;
    let a_times: Vec<_> = all[..20].iter().map(|s| s.observation.timestamp).collect();
    let since = a_times[10];
    let q = |after: i64| AfterQuery {
        after: Seq::new(after),
        limit: NO_LIMIT,
        ..AfterQuery::default()
    };
    let queries = [
        q(0),
        q(25),
        q(60),
        AfterQuery {
            until: Some(Seq::new(15)),
            ..q(5)
        },
        AfterQuery {
            until: Some(Seq::new(5)),
            ..q(5)
        },
        AfterQuery {
            stations: Some(filter(&["44013", "46097"])),
            ..q(0)
        },
        AfterQuery {
            stations: Some(filter(&["TPLM2"])),
            ..q(30)
        },
        AfterQuery {
            stations: Some(filter(&["41001"])),
            ..q(0)
        },
        AfterQuery {
            since: Some(since),
            ..q(0)
        },
        AfterQuery {
            since: Some(since),
            stations: Some(filter(&["44013"])),
            ..q(0)
        },
        AfterQuery { limit: 7, ..q(0) },
        AfterQuery { limit: 0, ..q(0) },
        AfterQuery {
            stations: Some(filter(&["44013", "46097"])),
            limit: 5,
            ..q(10)
        },
        AfterQuery {
            until: Some(Seq::new(50)),
            stations: Some(filter(&["TPLM2", "46097"])),
            since: Some(since),
            limit: 15,
            ..q(3)
        },
    ];
    for query in &queries {
        let got = store.observations_after(query).await.expect("after");
        assert_eq!(got, expected_after(&all, query), "{query:?}");
        assert_strictly_increasing(&got, "observations_after");
    }

    // A few spelled out, so the reference above cannot be wrong in the same way.
    let window = store.observations_after(&queries[3]).await.expect("after");
    assert_eq!(seqs(&window), (6..=15).collect::<Vec<_>>());
    let two = store.observations_after(&queries[5]).await.expect("after");
    assert_eq!(seqs(&two), (1..=20).chain(41..=60).collect::<Vec<_>>());
    let recent = store.observations_after(&queries[9]).await.expect("after");
    assert_eq!(
        recent.len(),
        10,
        "the 10 newest 44013 rows are at or after the 10th newest"
    );
    let limited = store.observations_after(&queries[12]).await.expect("after");
    assert_eq!(seqs(&limited), (11..=15).collect::<Vec<_>>());
}

/// `replay_cutoff`: `None` when everything fits, else the seq after which exactly `max` lie.
pub async fn replay_cutoff_leaves_exactly_max(store: &dyn Store) {
    let all = three_stations(store).await;
    let q = |after: i64, stations: Option<&[&str]>| AfterQuery {
        after: Seq::new(after),
        stations: stations.map(filter),
        limit: NO_LIMIT,
        ..AfterQuery::default()
    };
    let cutoff = |query: AfterQuery, max: u32| async move {
        store
            .replay_cutoff(&query, max)
            .await
            .expect("replay_cutoff")
    };

    assert_eq!(cutoff(q(0, None), 60).await, None);
    assert_eq!(cutoff(q(0, None), 1000).await, None);
    assert_eq!(cutoff(q(0, None), 59).await, Some(Seq::new(1)));
    assert_eq!(cutoff(q(0, None), 10).await, Some(Seq::new(50)));
    assert_eq!(cutoff(q(0, None), 0).await, Some(Seq::new(60)));
    assert_eq!(cutoff(q(30, None), 30).await, None);
    assert_eq!(cutoff(q(30, None), 10).await, Some(Seq::new(50)));
    // The limit of the query is ignored.
    let limited = AfterQuery {
        limit: 3,
        ..q(0, None)
    };
    assert_eq!(cutoff(limited, 10).await, Some(Seq::new(50)));
    // With a station filter only that station's rows count.
    assert_eq!(cutoff(q(0, Some(&["44013"])), 20).await, None);
    assert_eq!(cutoff(q(0, Some(&["44013"])), 5).await, Some(Seq::new(15)));
    assert_eq!(
        cutoff(q(0, Some(&["44013", "46097"])), 25).await,
        Some(Seq::new(15))
    );
    assert_eq!(cutoff(q(0, Some(&["41001"])), 0).await, None);

    // In general: replaying from the cutoff gives exactly the newest `max` matching rows.
    let since = all[10].observation.timestamp;
    for (stations, with_since) in [
        (None, false),
        (Some(&["TPLM2", "46097"][..]), false),
        (Some(&["44013"][..]), true),
        (None, true),
    ] {
        let mut query = q(2, stations);
        if with_since {
            query.since = Some(since);
        }
        let matching = expected_after(&all, &query);
        assert!(matching.len() > 3, "{query:?}");
        for max in [0, 1, 3, matching.len() as u32 - 1, matching.len() as u32] {
            let got = cutoff(query.clone(), max).await;
            if max as usize >= matching.len() {
                assert_eq!(got, None, "{query:?} max {max}");
                continue;
            }
            let seq = got.unwrap_or_else(|| panic!("{query:?} max {max}: no cutoff"));
            let rest = store
                .observations_after(&AfterQuery {
                    after: seq,
                    ..query.clone()
                })
                .await
                .expect("after");
            assert_eq!(
                rest[..],
                matching[matching.len() - max as usize..],
                "{query:?} max {max}"
            );
        }
    }
}

/// `max_seq` is zero on an empty log and follows inserts and updates.
pub async fn max_seq_follows_the_log(store: &dyn Store) {
    assert_eq!(store.max_seq().await.expect("max_seq"), Seq::ZERO);
    assert!(everything(store).await.is_empty());
    let rows = newest("41004.txt", "41004", 5);
    let stored = insert(store, &rows).await;
    assert_eq!(max_seq(store).await, stored[4].seq.get());
    let mut changed = rows[4].clone();
    changed.air_temp_c = Some(changed.air_temp_c.unwrap_or(0.0) - 1.0);
    let updated = insert(store, &[changed]).await;
    assert_eq!(max_seq(store).await, updated[0].seq.get());
    assert!(updated[0].seq > stored[4].seq);
}

/// `history`: one station, newest first, with inclusive time bounds and a limit.
pub async fn history_is_newest_first_within_bounds(store: &dyn Store) {
    let all = three_stations(store).await;
    let mut a: Vec<_> = all[..20].to_vec();
    a.reverse(); // newest first
    let station = id("44013");
    let history = |from: Option<usize>, to: Option<usize>, limit: u32| HistoryQuery {
        station: station.clone(),
        from: from.map(|i| a[i].observation.timestamp),
        to: to.map(|i| a[i].observation.timestamp),
        limit,
        kinds: KindSet::OBSERVATION,
    };
    let get = |query: HistoryQuery| async move { store.history(&query).await.expect("history") };

    assert_eq!(get(history(None, None, 100)).await, a);
    assert_eq!(get(history(None, None, 3)).await, a[..3]);
    // from = the 15th newest, to = the 6th newest: both ends included.
    assert_eq!(get(history(Some(14), Some(5), 100)).await, a[5..=14]);
    assert_eq!(get(history(Some(14), Some(5), 4)).await, a[5..9]);
    assert_eq!(get(history(Some(10), None, 100)).await, a[..=10]);
    assert_eq!(get(history(None, Some(10), 100)).await, a[10..]);
    assert_eq!(get(history(Some(7), Some(7), 100)).await, a[7..=7]);
    assert!(
        get(history(Some(5), Some(14), 100)).await.is_empty(),
        "from after to"
    );
    let none = HistoryQuery {
        station: id("41001"),
        from: None,
        to: None,
        limit: 100,
        kinds: KindSet::OBSERVATION,
    };
    assert!(get(none).await.is_empty());
}

/// `latest`: the newest observation by time (not by seq) of each station, by station id.
pub async fn latest_per_station(store: &dyn Store) {
    // 44013 and TPLM2 get their newer rows first, then older ones with higher seqs.
    let mut by_station = BTreeMap::new();
    for (file, station) in [
        ("TPLM2.txt", "TPLM2"),
        ("44013.txt", "44013"),
        ("46097.txt", "46097"),
    ] {
        let rows = newest(file, station, 12);
        let newer = insert(store, &rows[..6]).await;
        insert(store, &rows[6..]).await;
        by_station.insert(id(station), newer.last().cloned().expect("stored"));
    }
    let expected: Vec<_> = by_station.values().cloned().collect();
    assert_eq!(
        seqs(&expected).len(),
        3,
        "fixture: three stations, listed by id"
    );

    assert_eq!(store.latest(None).await.expect("latest"), expected);
    let some = store
        .latest(Some(&filter(&["46097", "44013", "41001"])))
        .await
        .expect("latest");
    assert_eq!(
        some,
        vec![
            by_station[&id("44013")].clone(),
            by_station[&id("46097")].clone()
        ]
    );
    assert!(
        store
            .latest(Some(&filter(&["41001"])))
            .await
            .expect("latest")
            .is_empty()
    );
}

/// The value of an attribute of a station element of `activestations.xml`, read as text.
fn xml_attribute(xml: &str, station: &str, attribute: &str) -> String {
    let start = xml
        .find(&format!("<station id=\"{station}\""))
        .unwrap_or_else(|| panic!("{station} is in activestations.xml"));
    let element = &xml[start..start + xml[start..].find("/>").expect("element end")];
    let key = format!(" {attribute}=\"");
    let from = element.find(&key).expect("attribute") + key.len();
    element[from..from + element[from..].find('"').expect("quote")].to_owned()
}

/// Station metadata from the real `activestations.xml`, joined with observations.
pub async fn stations_join_metadata(store: &dyn Store) {
    let xml = std::fs::read(ACTIVE_STATIONS).expect("activestations.xml");
    let text = String::from_utf8_lossy(&xml);
    let metas = ndbc::parse_active_stations(&xml).expect("station list");
    let valid = metas
        .iter()
        .filter(|m| StationId::parse(&m.id).is_ok())
        .count();
    assert!(valid > 1000, "fixture: the file lists {valid} stations");

    assert!(store.stations().await.expect("stations").is_empty());
    assert_eq!(store.upsert_stations(&metas).await.expect("upsert"), valid);
    assert!(
        store.stations().await.expect("stations").is_empty(),
        "stations() lists only stations with observations"
    );

    // 44013 has metadata; "UNIDENTIFIED" (a real file whose station is unknown) has none.
    let unknown = "UNIDENTIFIED";
    assert!(metas.iter().all(|m| m.id != unknown));
    let boston = insert(store, &newest("44013.txt", "44013", 5)).await;
    let other = insert(
        store,
        &newest("unidentified/realtimedata_2025-11-13.txt", unknown, 5),
    )
    .await;

    let meta_44013 = metas
        .iter()
        .find(|m| m.id == "44013")
        .expect("44013 in the list");
    let expected_44013 = Station {
        id: id("44013"),
        name: meta_44013.name.clone(),
        latitude: Some(meta_44013.latitude),
        longitude: Some(meta_44013.longitude),
        elevation_m: meta_44013.elevation_m,
        station_type: meta_44013.station_type.clone(),
        owner: meta_44013.owner.clone(),
        program: meta_44013.program.clone(),
        latest: boston.last().cloned(),
    };
    // Read from the file as text, not through the parser.
    assert_eq!(
        expected_44013.name.as_deref(),
        Some(xml_attribute(&text, "44013", "name").as_str())
    );
    assert_eq!(
        expected_44013.latitude,
        xml_attribute(&text, "44013", "lat").parse().ok()
    );
    assert_eq!(
        expected_44013.longitude,
        xml_attribute(&text, "44013", "lon").parse().ok()
    );
    let expected_unknown = Station {
        latest: other.last().cloned(),
        ..Station::bare(id(unknown))
    };

    let stations = store.stations().await.expect("stations");
    assert_eq!(
        stations,
        vec![expected_44013.clone(), expected_unknown.clone()]
    );
    assert_eq!(
        store.station(&id("44013")).await.expect("station"),
        Some(expected_44013)
    );
    assert_eq!(
        store.station(&id(unknown)).await.expect("station"),
        Some(expected_unknown)
    );

    // Metadata only: 44009 (lower-case ids in the file are found upper-case, e.g. tplm2).
    let delaware = store
        .station(&id("44009"))
        .await
        .expect("station")
        .expect("44009 is known from its metadata");
    assert_eq!(
        delaware.name.as_deref(),
        Some(xml_attribute(&text, "44009", "name").as_str())
    );
    assert_eq!(
        delaware.latitude,
        xml_attribute(&text, "44009", "lat").parse().ok()
    );
    assert_eq!(
        delaware.longitude,
        xml_attribute(&text, "44009", "lon").parse().ok()
    );
    assert_eq!(delaware.latest, None);
    let thomas = store
        .station(&id("tplm2"))
        .await
        .expect("station")
        .expect("TPLM2");
    assert_eq!(
        thomas.name.as_deref(),
        Some(xml_attribute(&text, "tplm2", "name").as_str())
    );
    assert_eq!(
        store.station(&id("ZZZZ9")).await.expect("station"),
        None,
        "unknown id"
    );

    // Optional attributes stay absent (None), never 0.
    let without_elev = metas
        .iter()
        .find(|m| m.elevation_m.is_none())
        .expect("a station without elev");
    let station = store
        .station(&id(&without_elev.id))
        .await
        .expect("station")
        .expect("stored");
    assert_eq!(station.elevation_m, None, "{}", without_elev.id);
    let with_elev = metas
        .iter()
        .find(|m| m.elevation_m.is_some_and(|e| e != 0.0))
        .expect("a station with an elevation");
    let station = store
        .station(&id(&with_elev.id))
        .await
        .expect("station")
        .expect("stored");
    assert_eq!(station.elevation_m, with_elev.elevation_m);

    // Upserting again is idempotent.
    assert_eq!(store.upsert_stations(&metas).await.expect("upsert"), valid);
    assert_eq!(store.stations().await.expect("stations"), stations);
}

/// Missing values round-trip as `None` (never 0), and real zeros as `Some(0.0)`.
pub async fn nulls_round_trip(store: &dyn Store) {
    // 44065 has no wind direction, air temperature or dew point; 41004 has zero tendencies.
    let mut batch = newest("44065.txt", "44065", 30);
    let zeros: Vec<_> = file_rows("41004.txt", "41004")
        .into_iter()
        .filter(|o| o.values().contains(&Some(0.0)))
        .take(5)
        .collect();
    assert!(!zeros.is_empty(), "fixture: 41004 has values of 0");
    batch.extend(zeros.iter().cloned());
    let count = |rows: &[Observation], v: Option<f64>| -> usize {
        rows.iter()
            .map(|o| o.values().iter().filter(|x| **x == v).count())
            .sum()
    };
    let (nulls, zeroes) = (count(&batch, None), count(&batch, Some(0.0)));
    assert!(nulls > 30 * 5 && zeroes >= zeros.len(), "fixture");

    let stored = insert(store, &batch).await;
    let all = observations(&everything(store).await);
    assert_eq!(all, oldest_first(&batch));
    assert_eq!(observations(&stored), all);
    assert_eq!((count(&all, None), count(&all, Some(0.0))), (nulls, zeroes));
    assert!(
        all.iter()
            .filter(|o| o.station_id.as_str() == "44065")
            .all(|o| {
                o.wind_dir_deg.is_none() && o.air_temp_c.is_none() && o.dew_point_c.is_none()
            })
    );

    let history = store
        .history(&HistoryQuery {
            station: id("44065"),
            from: None,
            to: None,
            limit: 100,
            kinds: KindSet::OBSERVATION,
        })
        .await
        .expect("history");
    let mut expected: Vec<_> = batch[..30].to_vec();
    expected.sort_by_key(|o| std::cmp::Reverse(o.timestamp));
    assert_eq!(observations(&history), expected);
    let latest = store.latest(None).await.expect("latest");
    assert_eq!(latest.len(), 2);
    assert_eq!(latest[1].observation, batch[0], "44065's newest row");
}

/// Four writers at once: every seq is handed out once, 1..=N, and each batch is in order.
pub async fn concurrent_inserts_share_one_sequence(store: Arc<dyn Store>) {
    const BATCH: usize = 20;
    const BATCHES: usize = 10;
    let mut tasks = tokio::task::JoinSet::new();
    for (file, station) in [
        ("44013.txt", "44013"),
        ("44065.txt", "44065"),
        ("TPLM2.txt", "TPLM2"),
        ("46097.txt", "46097"),
    ] {
        let rows = newest(file, station, BATCH * BATCHES);
        let store = store.clone();
        tasks.spawn(async move {
            let mut results = Vec::new();
            for batch in rows.chunks(BATCH) {
                let stored = store
                    .insert_observations(batch)
                    .await
                    .expect("concurrent insert");
                assert_eq!(observations(&stored), oldest_first(batch));
                results.push(stored);
            }
            results
        });
    }
    let mut union = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let results = done.expect("task");
        for stored in &results {
            assert_eq!(stored.len(), BATCH);
            assert_strictly_increasing(stored, "one batch");
        }
        let flat: Vec<_> = results.concat();
        assert_strictly_increasing(&flat, "batches of one writer, one after the other");
        union.extend(seqs(&flat));
    }
    let total = (4 * BATCH * BATCHES) as i64;
    let distinct: HashSet<i64> = union.iter().copied().collect();
    assert_eq!(distinct.len(), union.len(), "a seq was handed out twice");
    union.sort_unstable();
    assert_eq!(union, (1..=total).collect::<Vec<_>>());
    assert_eq!(max_seq(store.as_ref()).await, total);
    assert_eq!(everything(store.as_ref()).await.len(), total as usize);
}

/// Ingest leases: one holder at a time per station until the lease expires; the holder may
/// renew it; stations are independent.
pub async fn leases_are_exclusive_until_they_expire(store: &dyn Store) {
    use std::time::Duration;
    let lease = |station: &'static str, holder: &'static str, ttl_ms: u64| async move {
        store
            .try_acquire_lease(&id(station), holder, Duration::from_millis(ttl_ms))
            .await
            .expect("try_acquire_lease")
    };
    assert!(lease("44013", "a", 60_000).await, "a free lease is taken");
    assert!(
        !lease("44013", "b", 60_000).await,
        "a held lease is refused"
    );
    assert!(
        lease("44013", "a", 60_000).await,
        "the holder renews its lease"
    );
    assert!(
        lease("TPLM2", "b", 60_000).await,
        "another station is independent"
    );
    assert!(!lease("TPLM2", "a", 60_000).await);

    // A short lease expires and is then taken over.
    assert!(lease("46097", "a", 300).await);
    assert!(!lease("46097", "b", 300).await);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        lease("46097", "b", 60_000).await,
        "an expired lease is taken over"
    );
    assert!(!lease("46097", "a", 60_000).await, "and is then b's");
}

/// One `#[tokio::test]` per check of this suite, each on a fresh store: `$fresh` is an async fn
/// giving a fresh migrated store (or a guard holding one) and the closure-like
/// `|name| expr` borrows the store from it. Each implementation's tests call this once, so a new
/// check runs against every backend.
macro_rules! store_suite {
    ($fresh:ident, |$guard:ident| $store:expr) => {
        store_suite!(@each $fresh, $guard, $store;
            insert_assigns_increasing_seqs_oldest_first,
            reinserting_a_batch_changes_nothing,
            changed_values_get_a_new_seq,
            repeated_key_in_a_batch_keeps_the_last,
            observations_after_filters,
            replay_cutoff_leaves_exactly_max,
            max_seq_follows_the_log,
            history_is_newest_first_within_bounds,
            latest_per_station,
            stations_join_metadata,
            nulls_round_trip,
            leases_are_exclusive_until_they_expire,
        );
    };
    (@each $fresh:ident, $guard:ident, $store:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let $guard = $fresh().await;
                crate::checks::$check($store).await;
            }
        )*
    };
}
pub(crate) use store_suite;
