//! Criterion benchmark: the user-space part of one fan-out step, without sockets — one event
//! broadcast to 1,000 streams of one hub, taken by every stream either by a shard writer
//! (`try_next_chunk` per stream, no task woken: what the lean path does for caught-up streams)
//! or by a task per stream (`next_chunk().await`: every stream's task woken, polled and
//! scheduled, as for streams that are not parked). The kernel's write per delivery comes on top
//! of both (docs/BENCHMARKS.md).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use buoycast::domain::{KindSet, Observation, Seq, StationId, VALUE_COUNT, parse_timestamp};
use buoycast::hub::stream::{Resume, StreamEngine, TryChunk};
use buoycast::hub::{Frame, Hub, HubConfig};
use buoycast::store::{SqliteStore, Store};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio_util::sync::CancellationToken;

const STREAMS: usize = 1000;

fn observation() -> Observation {
    #[allow(clippy::unwrap_used)]
    Observation::from_values(
        StationId::parse("44009").unwrap(),
        parse_timestamp("2025-11-15T12:00:00Z").unwrap(),
        [Some(1.25); VALUE_COUNT],
    )
}

/// A hub and `STREAMS` fresh streams on it, greeted already.
#[allow(clippy::unwrap_used)]
fn streams(runtime: &tokio::runtime::Runtime) -> (tempfile::TempDir, Arc<Hub>, Vec<StreamEngine>) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("b.db").display());
    runtime.block_on(async {
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let store: Arc<dyn Store> = Arc::new(store);
        let hub = Arc::new(Hub::new(HubConfig::default(), Seq::ZERO));
        let fresh = Resume {
            after: None,
            since: None,
        };
        let mut engines = Vec::with_capacity(STREAMS);
        for _ in 0..STREAMS {
            let mut engine = StreamEngine::open(
                store.clone(),
                hub.clone(),
                &fresh,
                None,
                KindSet::OBSERVATION,
                1000,
                CancellationToken::new(),
            )
            .await
            .unwrap();
            engine.next_chunk().await.unwrap(); // the greeting
            engines.push(engine);
        }
        (dir, hub, engines)
    })
}

fn bench_fanout(c: &mut Criterion) {
    #[allow(clippy::unwrap_used)]
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let o = observation();
    let mut seq = 0i64;
    let mut group = c.benchmark_group("fanout");
    group.throughput(Throughput::Elements(STREAMS as u64));

    let (_dir, hub, mut engines) = streams(&runtime);
    group.bench_function("shard_writer_1000_streams", |b| {
        b.iter(|| {
            seq += 1;
            hub.broadcast(Frame::observation(Some(Seq::new(seq)), &o));
            for engine in &mut engines {
                match engine.try_next_chunk() {
                    TryChunk::Ready(chunk) => {
                        black_box(chunk);
                    }
                    other => panic!("a frame for every stream, got {other:?}"),
                }
            }
        });
    });
    drop(engines);

    let (_dir, hub, engines) = streams(&runtime);
    let taken = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    for mut engine in engines {
        let (taken, done) = (taken.clone(), done_tx.clone());
        runtime.spawn(async move {
            while let Some(chunk) = engine.next_chunk().await {
                black_box(chunk);
                if taken.fetch_add(1, Ordering::AcqRel) + 1 == STREAMS {
                    taken.store(0, Ordering::Release);
                    let _ = done.send(());
                }
            }
        });
    }
    let mut seq = 0i64;
    group.bench_function("task_per_stream_1000_streams", |b| {
        b.iter(|| {
            seq += 1;
            hub.broadcast(Frame::observation(Some(Seq::new(seq)), &o));
            #[allow(clippy::unwrap_used)]
            done_rx.recv().unwrap();
        });
    });
    group.finish();
}

criterion_group!(benches, bench_fanout);
criterion_main!(benches);
