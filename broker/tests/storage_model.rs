//! Model test of the partition log: random sequences of append, read, flush,
//! roll, retention, clean reopen and crash-reopen, checked against a plain
//! in-memory list of batches.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;
use runnel_broker::storage::sim::SimFs;
use runnel_broker::storage::{LogConfig, Offset, PartitionLog, StorageError};
use runnel_protocol::record::{BatchBuilder, BatchOptions, Batches, NewRecord, set_base_offset};

#[derive(Debug, Clone)]
enum Op {
    Append {
        records: usize,
        size: usize,
        ts: i64,
    },
    Read {
        at: u8,
        max_bytes: usize,
    },
    Flush,
    Roll,
    Retention {
        now: i64,
    },
    Reopen,
    Crash {
        seed: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..5, 0usize..300, 0i64..10_000).prop_map(|(records, size, ts)| Op::Append { records, size, ts }),
        4 => (any::<u8>(), 1usize..3000).prop_map(|(at, max_bytes)| Op::Read { at, max_bytes }),
        3 => Just(Op::Flush),
        1 => Just(Op::Roll),
        1 => (0i64..20_000).prop_map(|now| Op::Retention { now }),
        1 => Just(Op::Reopen),
        1 => any::<u64>().prop_map(|seed| Op::Crash { seed }),
    ]
}

fn build(records: usize, size: usize, ts: i64, salt: u64) -> Bytes {
    let mut b = BatchBuilder::new(BatchOptions::default()).unwrap();
    for i in 0..records {
        let mut value = vec![0u8; size];
        for (j, byte) in value.iter_mut().enumerate() {
            *byte = (salt as usize + i * 31 + j) as u8;
        }
        b.append(&NewRecord {
            timestamp: ts + i as i64,
            key: Some(Bytes::from(salt.to_be_bytes().to_vec())),
            value: Some(Bytes::from(value)),
            headers: Vec::new(),
        })
        .unwrap();
    }
    b.build().unwrap()
}

/// The model: every batch ever acknowledged by append, with its offsets.
#[derive(Debug, Default)]
struct Model {
    /// (base offset, stored bytes) in order.
    batches: Vec<(u64, Bytes)>,
    /// Offset after the last batch.
    end: u64,
    /// Durable prefix.
    hw: u64,
    /// First offset still stored.
    start: u64,
}

impl Model {
    fn batch_index(&self, offset: u64) -> Option<usize> {
        self.batches.iter().position(|(base, b)| {
            let count = batch_offsets(b);
            offset >= *base && offset < base + count
        })
    }
    fn truncate(&mut self, end: u64) {
        self.batches.retain(|(base, _)| *base < end);
        self.end = end;
    }
}

fn batch_offsets(b: &Bytes) -> u64 {
    let h = runnel_protocol::record::BatchHeader::parse(b).unwrap();
    h.offset_count()
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 2048,
        index_interval_bytes: 256,
        max_index_bytes: 160,
        preallocate_bytes: 1024,
        retention_ms: Some(5_000),
        retention_bytes: Some(6_000),
        max_batch_bytes: 1 << 20,
        ..LogConfig::default()
    }
}

const DIR: &str = "/data/topics/t/0";

fn open(fs: &SimFs, clean: bool) -> PartitionLog {
    PartitionLog::open(
        Arc::new(fs.clone()),
        Path::new(DIR),
        config(),
        false,
        clean,
        0,
    )
    .unwrap()
    .0
}

fn check_read(model: &Model, log: &PartitionLog, offset: u64, max_bytes: usize) {
    match log.read(Offset(offset), max_bytes) {
        Ok(r) => {
            assert_eq!(r.high_watermark.0, model.hw);
            if offset >= model.hw {
                assert!(r.records.is_empty());
                return;
            }
            assert!(
                !r.records.is_empty(),
                "offset {offset} below hw {} read nothing",
                model.hw
            );
            let first = model.batch_index(offset).expect("model has the offset");
            let mut total = 0;
            for (i, b) in Batches::new(r.records.clone()).enumerate() {
                let b = b.unwrap();
                let (base, expected) = &model.batches[first + i];
                assert_eq!(b.base_offset(), *base as i64);
                assert_eq!(b.as_bytes(), expected, "batch at {base} differs");
                assert!(*base < model.hw);
                total += b.size_in_bytes();
            }
            if Batches::new(r.records.clone()).count() > 1 {
                assert!(total <= max_bytes);
            }
        }
        Err(StorageError::OffsetOutOfRange {
            log_start, log_end, ..
        }) => {
            assert!(
                offset < model.start || offset > model.end,
                "{offset} in [{}, {}]",
                model.start,
                model.end
            );
            assert_eq!((log_start.0, log_end.0), (model.start, model.end));
        }
        Err(e) => panic!("read {offset}: {e}"),
    }
}

fn run(ops: Vec<Op>) {
    let mut fs = SimFs::new();
    let mut log = open(&fs, false);
    let mut model = Model::default();
    let mut salt = 0u64;
    for op in ops {
        match op {
            Op::Append { records, size, ts } => {
                salt += 1;
                let mut bytes = build(records, size, ts, salt).to_vec();
                let info = log.append(&bytes, 0).unwrap();
                assert_eq!(info.base_offset.0, model.end);
                set_base_offset(&mut bytes, info.base_offset.0 as i64);
                model.batches.push((model.end, Bytes::from(bytes)));
                model.end = info.last_offset.0 + 1;
            }
            Op::Read { at, max_bytes } => {
                let span = model.end + 2 - model.start.saturating_sub(1);
                let offset = model.start.saturating_sub(1) + u64::from(at) % span;
                check_read(&model, &log, offset, max_bytes);
            }
            Op::Flush => {
                assert_eq!(log.flush().unwrap().0, model.end);
                model.hw = model.end;
            }
            Op::Roll => log.roll(0).unwrap(),
            Op::Retention { now } => {
                log.enforce_retention(now).unwrap();
                let start = log.log_start_offset().0;
                assert!(start >= model.start && start <= model.hw.max(model.start));
                assert!(start == model.end || model.batches.iter().any(|(b, _)| *b == start));
                model.start = start;
            }
            Op::Reopen => {
                log.close().unwrap();
                fs = fs.snapshot();
                log = open(&fs, true);
                model.hw = model.end;
                assert_eq!(log.log_end_offset().0, model.end);
                assert_eq!(log.log_start_offset().0, model.start);
            }
            Op::Crash { seed } => {
                drop(log);
                fs = fs.crash(seed);
                log = open(&fs, false);
                let end = log.log_end_offset().0;
                assert!(
                    end >= model.hw,
                    "lost durable data: end {end} < hw {}",
                    model.hw
                );
                assert!(end <= model.end);
                assert!(end == model.end || model.batches.iter().any(|(b, _)| *b == end));
                model.truncate(end);
                model.hw = end;
                let start = log.log_start_offset().0;
                // A retention deletion not yet durable may come back.
                assert!(start <= model.start, "start {start} > {}", model.start);
                if start < model.start {
                    // Batches that retention had deleted come back intact.
                    model.start = start;
                }
                assert_eq!(log.high_watermark().0, end);
            }
        }
    }
    // Everything readable at the end matches the model.
    log.flush().unwrap();
    model.hw = model.end;
    let mut offset = model.start;
    while offset < model.end {
        check_read(&model, &log, offset, 4096);
        let i = model.batch_index(offset).unwrap();
        offset = model.batches[i].0 + batch_offsets(&model.batches[i].1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn partition_log_matches_the_model(ops in prop::collection::vec(op(), 1..80)) {
        run(ops);
    }
}
