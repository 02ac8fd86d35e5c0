//! Crash recovery of a partition log whose files hold arbitrary bytes: it
//! never panics, and everything read back afterwards is whole, valid
//! batches at increasing offsets.
//!
//! Input layout: byte 0 picks how many segments (1..=3) and whether each
//! gets an offset index; the rest is split into that many pieces, each
//! piece being `<log bytes> <index bytes>` (split at its middle, or not at
//! all when the segment has no index). Segment `i`'s base offset is
//! `i * 1000`.

#![no_main]

use std::path::Path;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use runnel_broker::storage::sim::SimFs;
use runnel_broker::storage::{Fs as _, LogConfig, Offset, PartitionLog};
use runnel_protocol::record::{Batches, validate_batch};

fuzz_target!(|data: &[u8]| {
    let Some((&shape, rest)) = data.split_first() else {
        return;
    };
    let segments = usize::from(shape % 3) + 1;
    let fs = SimFs::new();
    let dir = Path::new("/data/t-0");
    fs.create_dir_all(dir).expect("sim dir");
    let piece = rest.len().div_ceil(segments).max(1);
    for (i, chunk) in rest.chunks(piece).enumerate() {
        let base = i as u64 * 1000;
        let with_index = shape & (8 << i) != 0;
        let (log, index) = if with_index {
            chunk.split_at(chunk.len() / 2)
        } else {
            (chunk, &[][..])
        };
        write(&fs, &dir.join(format!("{base:020}.log")), log);
        if with_index {
            write(&fs, &dir.join(format!("{base:020}.index")), index);
        }
    }
    let config = LogConfig {
        segment_bytes: 1 << 20,
        ..LogConfig::default()
    };
    let Ok((log, _report)) = PartitionLog::open(Arc::new(fs), dir, config, false, false, 0) else {
        return;
    };
    let end = log.log_end_offset();
    let mut offset = log.log_start_offset();
    let mut next_expected: Option<i64> = None;
    // Each read returns at least one batch or nothing; bound the loop anyway.
    for _ in 0..10_000 {
        if offset >= end {
            break;
        }
        let Ok(read) = log.read(offset, 1 << 20) else {
            break;
        };
        if read.records.is_empty() {
            break;
        }
        let mut last = None;
        for batch in Batches::new(read.records.clone()) {
            let batch = batch.expect("recovered log returns whole batches");
            validate_batch(batch.as_bytes()).expect("recovered log returns valid batches");
            if let Some(expected) = next_expected {
                assert!(
                    batch.base_offset() >= expected,
                    "offsets go backwards: {} after {}",
                    batch.base_offset(),
                    expected
                );
            }
            next_expected = Some(batch.last_offset() + 1);
            last = Some(batch.last_offset());
        }
        let Some(last) = last else { break };
        let Ok(next) = u64::try_from(last + 1) else {
            break;
        };
        if Offset(next) <= offset {
            break;
        }
        offset = Offset(next);
    }
});

fn write(fs: &SimFs, path: &Path, data: &[u8]) {
    let f = fs.open(path, true, 0).expect("sim file");
    f.allocate(data.len() as u64).expect("sim allocate");
    f.write_at(0, data).expect("sim write");
    f.sync().expect("sim sync");
}
