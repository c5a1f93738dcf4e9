//! Criterion benchmarks: parser throughput (bytes/s) on real realtime2 files: the stdmet parser,
//! `parse_product` for every product (all sample files of the product, repeated to at least
//! 1 MiB: a repeated file's header starts with `#`, so it reads as a comment line), latest_obs
//! and the station list.

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

/// All sample files of `ext` (top level and excerpts), repeated to at least 1 MiB.
fn product_input(ext: &str) -> Vec<u8> {
    let mut one = Vec::new();
    for dir in ["realtime2", "realtime2/excerpts"] {
        let dir = format!("{DATA_DIR}/{dir}");
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {dir}: {e}"))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == ext))
            .collect();
        names.sort();
        for p in names {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            one.extend_from_slice(&bytes);
            if !one.ends_with(b"\n") {
                one.push(b'\n');
            }
        }
    }
    assert!(!one.is_empty(), "no sample file for .{ext}");
    let mut all = Vec::with_capacity(1 << 21);
    while all.len() < 1 << 20 {
        all.extend_from_slice(&one);
    }
    all
}

fn bench_products(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_product");
    for product in ndbc::Product::ALL {
        let bytes = product_input(product.extension());
        group.throughput(Throughput::Bytes(
            u64::try_from(bytes.len()).unwrap_or(u64::MAX),
        ));
        group.bench_function(product.extension(), |b| {
            b.iter(|| black_box(ndbc::parse_product(product, black_box(&bytes))));
        });
    }
    let one = std::fs::read(format!("{DATA_DIR}/latest_obs/latest_obs.txt"))
        .unwrap_or_else(|e| panic!("cannot read latest_obs.txt: {e}"));
    let mut bytes = Vec::new();
    while bytes.len() < 1 << 20 {
        bytes.extend_from_slice(&one);
    }
    group.throughput(Throughput::Bytes(
        u64::try_from(bytes.len()).unwrap_or(u64::MAX),
    ));
    group.bench_function("latest_obs", |b| {
        b.iter(|| black_box(ndbc::parse_latest_obs(black_box(&bytes))));
    });
    group.finish();
}

criterion_group!(benches, bench_parse, bench_products);
criterion_main!(benches);
