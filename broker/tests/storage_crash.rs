//! Crash tests on the simulated disk: a workload is cut off at every fsync
//! boundary (the n-th sync fails and the machine "crashes"), with unsynced
//! pages kept or lost at random and torn at sector boundaries. After
//! recovery every batch that was durable must be readable at its offset,
//! nothing after a corrupt batch is served, and offsets continue without
//! gaps or reuse.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use runnel_broker::storage::sim::SimFs;
use runnel_broker::storage::{LogConfig, Offset, PartitionLog};
use runnel_protocol::record::{BatchBuilder, BatchOptions, Batches, NewRecord};

const DIR: &str = "/data/topics/t/0";

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 3000,
        index_interval_bytes: 200,
        max_index_bytes: 400,
        preallocate_bytes: 1024,
        retention_ms: None,
        ..LogConfig::default()
    }
}

/// Batch `n` of the workload: its value encodes `n`, so any batch read back
/// can be checked against what was written.
fn batch(n: u64) -> Bytes {
    let mut b = BatchBuilder::new(BatchOptions::default()).unwrap();
    for i in 0..=(n % 3) {
        b.append(&NewRecord {
            timestamp: 1_000 + n as i64,
            key: Some(Bytes::from(format!("k{n}"))),
            value: Some(Bytes::from(format!(
                "batch {n} record {i} {}",
                "x".repeat((n as usize * 37) % 400)
            ))),
            headers: Vec::new(),
        })
        .unwrap();
    }
    b.build().unwrap()
}

/// What the workload saw acknowledged as durable: (batch number, base offset)
/// for every batch below the last high watermark a flush returned.
struct Acked {
    batches: Vec<(u64, u64)>,
    hw: u64,
}

/// Appends 60 batches, flushing after every third and rolling now and then,
/// until a sync fails. Returns what was acknowledged.
fn workload(fs: &SimFs) -> Acked {
    let mut acked = Acked {
        batches: Vec::new(),
        hw: 0,
    };
    let Ok((mut log, _)) = PartitionLog::open(
        Arc::new(fs.clone()),
        Path::new(DIR),
        config(),
        false,
        false,
        0,
    ) else {
        return acked;
    };
    let mut appended = Vec::new();
    for n in 0..60u64 {
        let Ok(info) = log.append(&batch(n), 0) else {
            break;
        };
        appended.push((n, info.base_offset.0));
        if n % 3 == 2 {
            match log.flush() {
                Ok(hw) => {
                    acked.hw = hw.0;
                    acked.batches = appended
                        .iter()
                        .copied()
                        .filter(|&(_, b)| b < hw.0)
                        .collect();
                }
                Err(_) => break,
            }
        }
        if n % 17 == 16 && log.roll(0).is_err() {
            break;
        }
    }
    acked
}

fn verify(after: &SimFs, acked: &Acked) {
    let (mut log, _) = PartitionLog::open(
        Arc::new(after.clone()),
        Path::new(DIR),
        config(),
        false,
        false,
        0,
    )
    .unwrap();
    let end = log.log_end_offset().0;
    assert!(
        end >= acked.hw,
        "log end {end} is below the acknowledged high watermark {}",
        acked.hw
    );
    assert_eq!(log.high_watermark().0, end, "recovered data is durable");
    // Every acknowledged batch is there, byte for byte apart from the offset.
    for &(n, base) in &acked.batches {
        let r = log.read(Offset(base), 1).unwrap();
        let b = Batches::new(r.records).next().unwrap().unwrap();
        assert_eq!(b.base_offset() as u64, base);
        assert_eq!(
            b.as_bytes()[12..],
            batch(n)[12..],
            "batch {n} at {base} differs"
        );
    }
    // Whatever else survived is a contiguous run of intact batches.
    let mut offset = 0;
    while offset < end {
        let r = log.read(Offset(offset), 1 << 20).unwrap();
        assert!(!r.records.is_empty(), "hole at {offset} below {end}");
        for b in Batches::new(r.records) {
            let b = b.unwrap();
            assert_eq!(b.base_offset() as u64, offset, "gap or overlap at {offset}");
            runnel_protocol::record::validate_batch(b.as_bytes()).unwrap();
            offset = b.last_offset() as u64 + 1;
        }
    }
    // Offsets continue exactly at the end.
    let info = log.append(&batch(1000), 0).unwrap();
    assert_eq!(info.base_offset.0, end);
    log.flush().unwrap();
}

#[test]
fn every_fsync_boundary_keeps_acknowledged_batches() {
    let total = {
        let fs = SimFs::new();
        workload(&fs);
        fs.sync_count()
    };
    assert!(total > 20, "workload made only {total} syncs");
    let mut cases = 0;
    for budget in 0..=total {
        let fs = SimFs::new();
        fs.fail_syncs_after(budget);
        let acked = workload(&fs);
        for seed in 0..8 {
            verify(&fs.crash(budget * 100 + seed), &acked);
            cases += 1;
        }
    }
    assert!(cases > 100);
}

#[test]
fn crashes_between_syncs_keep_acknowledged_batches() {
    // No sync fails; the crash happens after the workload with whatever was
    // written since the last flush half-persisted.
    for seed in 0..200 {
        let fs = SimFs::new();
        let acked = workload(&fs);
        verify(&fs.crash(seed), &acked);
    }
}

#[test]
fn repeated_crashes_during_recovery_keep_acknowledged_batches() {
    for seed in 0..50 {
        let fs = SimFs::new();
        let acked = workload(&fs);
        // Crash again right after a recovery that did not finish syncing.
        let once = fs.crash(seed);
        once.fail_syncs_after(seed % 4);
        let _ = PartitionLog::open(
            Arc::new(once.clone()),
            Path::new(DIR),
            config(),
            false,
            false,
            0,
        );
        verify(&once.crash(seed + 1000), &acked);
    }
}
