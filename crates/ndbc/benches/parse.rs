//! Criterion benchmark: realtime parser throughput (MB/s) on real realtime2 files.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const DATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/ndbc");

fn bench_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_realtime");
    for name in ["41002.txt", "44013.txt"] {
        let path = format!("{DATA_DIR}/realtime2/{name}");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        group.throughput(Throughput::Bytes(len));
        group.bench_function(name, |b| {
            b.iter(|| {
                let parsed = ndbc::parse_realtime(black_box(&bytes));
                black_box(parsed)
            });
        });
    }
    group.finish();

    let path = format!("{DATA_DIR}/metadata/activestations.xml");
    let xml = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let mut group = c.benchmark_group("parse_active_stations");
    group.throughput(Throughput::Bytes(
        u64::try_from(xml.len()).unwrap_or(u64::MAX),
    ));
    group.bench_function("activestations.xml", |b| {
        b.iter(|| black_box(ndbc::parse_active_stations(black_box(&xml))));
    });
    group.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
