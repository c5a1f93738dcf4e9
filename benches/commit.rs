//! Criterion benchmark: what an acknowledged write costs in the SQLite store with
//! `synchronous = FULL` (the default: on disk before it is acknowledged) against `NORMAL`
//! (WAL commits reach the disk at the next checkpoint), for one-row and 100-row publishes.

use std::str::FromStr;

use buoycast::domain::{Observation, StationId, VALUE_COUNT, parse_timestamp};
use buoycast::store::{SqliteStore, Store};
use chrono::Duration;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sqlx::sqlite::{SqliteConnectOptions, SqliteSynchronous};

#[allow(clippy::unwrap_used)]
fn observation(minute: i64) -> Observation {
    let mut v = [None; VALUE_COUNT];
    for (i, x) in v.iter_mut().enumerate() {
        *x = Some(i as f64 * 1.5);
    }
    Observation::from_values(
        StationId::parse("44009").unwrap(),
        parse_timestamp("2020-01-01T00:00:00Z").unwrap() + Duration::minutes(minute),
        v,
    )
}

#[allow(clippy::unwrap_used)]
fn bench_commit(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut group = c.benchmark_group("sqlite_commit");
    group.sample_size(30);
    for (name, mode) in [
        ("full", SqliteSynchronous::Full),
        ("normal", SqliteSynchronous::Normal),
    ] {
        for rows in [1i64, 100] {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            let options = SqliteConnectOptions::from_str(&url)
                .unwrap()
                .synchronous(mode);
            let store = runtime.block_on(async {
                let store = SqliteStore::connect_with(options).await.unwrap();
                store.migrate().await.unwrap();
                store
            });
            let mut minute = 0;
            group.throughput(Throughput::Elements(rows as u64));
            group.bench_function(format!("{name}/{rows}_rows"), |b| {
                b.iter(|| {
                    let batch: Vec<_> = (minute..minute + rows).map(observation).collect();
                    minute += rows;
                    let stored = runtime.block_on(store.insert_observations(&batch)).unwrap();
                    assert_eq!(stored.len(), rows as usize);
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_commit);
criterion_main!(benches);
