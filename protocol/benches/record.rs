//! Record-batch codec throughput: building, validating and iterating a
//! 16 KiB (Kafka's default `batch.size`) and a 1 MiB batch of 1 KiB records.
//!
//! Run with `cargo bench -p runnel-protocol --bench record`. Sample counts
//! and measurement times are kept small so a full run takes seconds.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use runnel_protocol::record::{BatchBuilder, BatchOptions, NewRecord, RecordBatch, validate_batch};

const RECORD_VALUE_LEN: usize = 1024;
const KEY_LEN: usize = 16;

/// Batch sizes measured, with their labels.
const SIZES: [(&str, usize); 2] = [("16KiB", 16 * 1024), ("1MiB", 1024 * 1024)];

/// Fills a builder up to `batch_size` bytes with 1 KiB records, the way a
/// producer caps a batch at `batch.size`.
fn build(batch_size: usize, inputs: &NewRecord) -> Bytes {
    let mut builder = BatchBuilder::with_capacity(BatchOptions::default(), batch_size)
        .expect("uncompressed builder");
    let mut record = inputs.clone();
    while builder.has_room_for(&record, batch_size) {
        builder.append(&record).expect("record fits");
        record.timestamp += 1;
    }
    builder.build().expect("non-empty batch")
}

fn inputs() -> NewRecord {
    let value: Vec<u8> = (0..RECORD_VALUE_LEN)
        .map(|i| u8::try_from(i % 251).unwrap_or(0))
        .collect();
    NewRecord {
        timestamp: 1_700_000_000_000,
        key: Some(Bytes::from(vec![b'k'; KEY_LEN])),
        value: Some(Bytes::from(value)),
        headers: vec![("source".to_owned(), Some(Bytes::from_static(b"bench")))],
    }
}

fn bench_build(c: &mut Criterion) {
    let record = inputs();
    let mut group = c.benchmark_group("record/build");
    for (label, size) in SIZES {
        let len = build(size, &record).len();
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(BenchmarkId::from_parameter(label), &size, |b, &size| {
            b.iter(|| build(black_box(size), &record));
        });
    }
    group.finish();
}

fn bench_validate(c: &mut Criterion) {
    let record = inputs();
    let mut group = c.benchmark_group("record/validate_batch");
    for (label, size) in SIZES {
        let batch = build(size, &record);
        group.throughput(Throughput::Bytes(batch.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(label), &batch, |b, batch| {
            b.iter(|| validate_batch(black_box(batch)).expect("valid batch"));
        });
    }
    group.finish();
}

fn bench_iterate(c: &mut Criterion) {
    let record = inputs();
    let mut group = c.benchmark_group("record/iterate");
    for (label, size) in SIZES {
        let batch = RecordBatch::new(build(size, &record)).expect("valid batch");
        group.throughput(Throughput::Bytes(batch.size_in_bytes() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(label), &batch, |b, batch| {
            b.iter(|| {
                let mut value_bytes = 0usize;
                for record in batch.records().expect("uncompressed") {
                    let record = record.expect("valid record");
                    value_bytes += record.value.map_or(0, |v| v.len());
                }
                black_box(value_bytes)
            });
        });
    }
    group.finish();
}

fn quick() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

criterion_group! {
    name = benches;
    config = quick();
    targets = bench_build, bench_validate, bench_iterate
}
criterion_main!(benches);
