//! Criterion benchmark: SSE frame encoding (once per event) and what each connection pays to
//! share an encoded frame (an `Arc` clone, or a copy when frames are coalesced into one write).

use std::hint::black_box;
use std::sync::Arc;

use buoycast::domain::{Observation, Seq, StationId, VALUE_COUNT, parse_timestamp};
use buoycast::hub::Frame;
use buoycast::hub::frame::{encode_heartbeat, encode_observation, restamp, write_observation};
use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn observation() -> Observation {
    let mut v = [None; VALUE_COUNT];
    for (i, x) in [1.25, 7.5, 240.0, 12.25, 1013.5, 9.5, 8.0, 6.0, 250.0, 10.5]
        .into_iter()
        .enumerate()
    {
        v[i] = Some(x);
    }
    #[allow(clippy::unwrap_used)]
    Observation::from_values(
        StationId::parse("44009").unwrap(),
        parse_timestamp("2025-11-15T12:00:00Z").unwrap(),
        v,
    )
}

fn bench_frames(c: &mut Criterion) {
    let o = observation();
    let seq = Some(Seq::new(123_456));
    let len = encode_observation(seq, &o).len() as u64;

    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Bytes(len));
    group.bench_function("observation_frame", |b| {
        b.iter(|| black_box(encode_observation(black_box(seq), black_box(&o))));
    });
    group.bench_function("frame_for_hub", |b| {
        b.iter(|| black_box(Frame::observation(black_box(seq), black_box(&o))));
    });
    group.bench_function("replay_into_reused_buffer", |b| {
        let mut out = BytesMut::with_capacity(4096);
        b.iter(|| {
            out.clear();
            write_observation(&mut out, black_box(seq), black_box(&o));
            black_box(out.len())
        });
    });
    let now = chrono::Utc::now();
    let beat = encode_heartbeat(now, Seq::new(123_456));
    group.throughput(Throughput::Bytes(beat.len() as u64));
    group.bench_function("heartbeat_frame", |b| {
        b.iter(|| {
            black_box(encode_heartbeat(
                black_box(now),
                black_box(Seq::new(123_456)),
            ))
        });
    });
    // A connection whose position is not the hub's sends its own copy of a heartbeat.
    group.bench_function("heartbeat_restamped", |b| {
        b.iter(|| black_box(restamp(black_box(&beat), black_box(Seq::new(123_457)))));
    });
    group.finish();

    // Per-connection cost of one event once it is encoded.
    let frame = Arc::new(Frame::observation(seq, &o));
    let mut group = c.benchmark_group("share");
    group.throughput(Throughput::Elements(1));
    group.bench_function("arc_frame_clone_per_client", |b| {
        b.iter(|| black_box(Arc::clone(black_box(&frame))));
    });
    group.bench_function("bytes_clone_per_client", |b| {
        b.iter(|| black_box(black_box(&frame.bytes).clone()));
    });
    group.throughput(Throughput::Elements(64));
    group.bench_function("coalesce_64_frames_into_one_write", |b| {
        let mut out = BytesMut::with_capacity(64 * len as usize);
        b.iter(|| {
            out.clear();
            for _ in 0..64 {
                out.extend_from_slice(black_box(&frame.bytes));
            }
            black_box(out.len())
        });
    });
    group.finish();
}

criterion_group!(benches, bench_frames);
criterion_main!(benches);
