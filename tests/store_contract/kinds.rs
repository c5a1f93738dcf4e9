//! The contract for entries of every kind (SPEC §3a): one ordered log, unique per (station, kind,
//! time), read back by kind. Each check takes a fresh, migrated store; `kinds_suite!` makes one
//! test per check for a backend.

use buoycast::domain::{
    Entry, Fields, Kind, KindEntry, KindSet, Observation, Seq, StationFilter, StationId,
    StoredEntry, VALUE_COUNT, parse_timestamp,
};
use buoycast::store::{AfterQuery, HistoryQuery, Store};

fn id(raw: &str) -> StationId {
    StationId::parse(raw).expect("station id")
}

fn at(minute: i64) -> chrono::DateTime<chrono::Utc> {
    parse_timestamp("2025-11-15T12:00:00Z").expect("time") + chrono::TimeDelta::minutes(minute)
}

fn other(kind: Kind, station: &str, minute: i64, fields: &str) -> Entry {
    Entry::Other(KindEntry {
        kind,
        station_id: id(station),
        timestamp: at(minute),
        fields: Fields::parse(fields).expect("fields"),
    })
}

fn observation(station: &str, minute: i64, height: f64) -> Entry {
    let mut values = [None; VALUE_COUNT];
    values[0] = Some(height);
    Entry::Observation(Observation::from_values(id(station), at(minute), values))
}

fn after(after: i64, kinds: KindSet) -> AfterQuery {
    AfterQuery {
        after: Seq::new(after),
        limit: 10_000,
        kinds,
        ..AfterQuery::default()
    }
}

async fn read(store: &dyn Store, kinds: KindSet) -> Vec<StoredEntry> {
    store
        .entries_after(&after(0, kinds))
        .await
        .expect("entries_after")
}

fn seqs(stored: &[StoredEntry]) -> Vec<i64> {
    stored.iter().map(|s| s.seq.get()).collect()
}

const SPECTRUM: &str = r#"{"separationFreqHz":0.1,"frequenciesHz":[0.033,0.038],"energyDensityM2PerHz":[0.5,null],"meanDirDeg":null,"principalDirDeg":null,"r1":null,"r2":null}"#;
const TSUNAMI: &str = r#"{"measurementType":1,"waterColumnHeightM":5783.412}"#;

/// A mixed batch: several kinds at the same station and time are distinct rows of one log, in
/// one seq space; reading filters by kind and keeps seq order; fields come back as written.
pub async fn kinds_share_one_log(store: &dyn Store) {
    let batch = vec![
        observation("44013", 0, 1.2),
        other(Kind::Spectrum, "44013", 0, SPECTRUM),
        other(Kind::Tsunami, "41421", 0, TSUNAMI),
        observation("44013", 10, 1.3),
        other(Kind::Rain, "44013", 10, r#"{"accumulationMm":0.5}"#),
    ];
    let stored = store.insert_entries(&batch).await.expect("insert");
    assert_eq!(seqs(&stored), [1, 2, 3, 4, 5]);
    assert_eq!(store.max_seq().await.expect("max").get(), 5);

    let all = read(store, KindSet::ALL).await;
    assert_eq!(all, stored, "every kind, in seq order, exactly as stored");
    let default = read(store, KindSet::default()).await;
    assert!(default.iter().all(|s| s.entry.kind() == Kind::Observation));
    assert_eq!(default.len(), 2, "the default read is observations only");
    let tsunami = read(store, KindSet::of(&[Kind::Tsunami])).await;
    assert_eq!(tsunami.len(), 1);
    let Entry::Other(e) = &tsunami[0].entry else {
        panic!("a tsunami entry")
    };
    assert_eq!(
        e.fields.to_json(),
        TSUNAMI,
        "fields keep their order and values"
    );
    let spectrum = read(store, KindSet::of(&[Kind::Spectrum])).await;
    let Entry::Other(e) = &spectrum[0].entry else {
        panic!("a spectrum entry")
    };
    assert_eq!(e.fields.to_json(), SPECTRUM);

    // The observation-only reads are unchanged by other kinds.
    let observations = store
        .observations_after(&after(0, KindSet::ALL))
        .await
        .expect("observations_after");
    assert_eq!(observations.len(), 2);
}

/// Re-inserting identical entries stores nothing; a changed fields document (a late spectral
/// file adding its array) updates the row with a new seq, and the old seq is gone.
pub async fn changed_fields_get_a_new_seq(store: &dyn Store) {
    let first = other(Kind::Spectrum, "44013", 0, SPECTRUM);
    assert_eq!(
        seqs(
            &store
                .insert_entries(std::slice::from_ref(&first))
                .await
                .expect("insert")
        ),
        [1]
    );
    assert!(
        store
            .insert_entries(&[first])
            .await
            .expect("again")
            .is_empty()
    );
    let completed = SPECTRUM.replace(r#""r1":null"#, r#""r1":[0.9,0.8]"#);
    let updated = other(Kind::Spectrum, "44013", 0, &completed);
    let stored = store.insert_entries(&[updated]).await.expect("update");
    assert_eq!(seqs(&stored), [2]);
    let all = read(store, KindSet::ALL).await;
    assert_eq!(
        seqs(&all),
        [2],
        "one row per (station, kind, time), under its new seq"
    );
    let Entry::Other(e) = &all[0].entry else {
        panic!("a spectrum entry")
    };
    assert_eq!(e.fields.get("r1"), Some(&serde_json::json!([0.9, 0.8])));
}

/// History, latest and the replay cut-off honour the kinds asked for.
pub async fn reads_by_kind(store: &dyn Store) {
    let mut batch = Vec::new();
    for minute in 0..5 {
        batch.push(observation("44013", minute * 10, 1.0));
        batch.push(other(
            Kind::Rain,
            "44013",
            minute * 10,
            r#"{"accumulationMm":1.0}"#,
        ));
    }
    batch.push(other(Kind::Rain, "BDVF1", 0, r#"{"accumulationMm":2.0}"#));
    store.insert_entries(&batch).await.expect("insert");

    let history = |kinds| HistoryQuery {
        station: id("44013"),
        from: None,
        to: None,
        limit: 100,
        kinds,
    };
    let rain = store
        .history_entries(&history(KindSet::of(&[Kind::Rain])))
        .await
        .expect("history");
    assert_eq!(rain.len(), 5);
    assert!(
        rain.windows(2)
            .all(|w| w[0].entry.timestamp() > w[1].entry.timestamp())
    );
    let both = store
        .history_entries(&history(KindSet::ALL))
        .await
        .expect("history");
    assert_eq!(both.len(), 10);
    assert_eq!(
        store
            .history(&history(KindSet::ALL))
            .await
            .expect("history")
            .len(),
        5,
        "history() is observations only"
    );

    let latest = store
        .latest_entries(None, KindSet::ALL)
        .await
        .expect("latest");
    let keys: Vec<(String, Kind, i64)> = latest
        .iter()
        .map(|s| {
            let e = &s.entry;
            (
                e.station_id().to_string(),
                e.kind(),
                (e.timestamp() - at(0)).num_minutes(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("44013".to_owned(), Kind::Observation, 40),
            ("44013".to_owned(), Kind::Rain, 40),
            ("BDVF1".to_owned(), Kind::Rain, 0),
        ]
    );
    let only: StationFilter = [id("BDVF1")].into_iter().collect();
    let latest = store
        .latest_entries(Some(&only), KindSet::of(&[Kind::Rain]))
        .await
        .expect("latest");
    assert_eq!(latest.len(), 1);
    assert_eq!(store.latest(None).await.expect("latest").len(), 1);

    // 5 rain entries of 44013 and 1 of BDVF1: the newest 2 rain entries lie after the cut-off.
    let cutoff = store
        .replay_cutoff(&after(0, KindSet::of(&[Kind::Rain])), 2)
        .await
        .expect("cutoff")
        .expect("more than 2");
    let rest = store
        .entries_after(&after(cutoff.get(), KindSet::of(&[Kind::Rain])))
        .await
        .expect("after");
    assert_eq!(rest.len(), 2);
    assert!(rest.iter().all(|s| s.entry.kind() == Kind::Rain));
}

/// One test per check of this file, for the store `fresh()` makes.
macro_rules! kinds_suite {
    ($fresh:ident, |$guard:ident| $store:expr) => {
        mod kinds {
            use super::*;
            crate::kinds::kinds_suite!(@each $fresh, $guard, $store;
                kinds_share_one_log,
                changed_fields_get_a_new_seq,
                reads_by_kind,
            );
        }
    };
    (@each $fresh:ident, $guard:ident, $store:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let $guard = $fresh().await;
                crate::kinds::$check($store).await;
            }
        )*
    };
}
pub(crate) use kinds_suite;
