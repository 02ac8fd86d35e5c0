//! Crash recovery of a partition log whose files hold arbitrary bytes: it
//! never panics, and everything read back afterwards is whole, valid
//! batches at increasing offsets.
//!
//! Input layout: byte 0 picks how many segments (1..=3) and whether each
//! gets an offset index; the rest is split into that many pieces, each
//! piece being `<log bytes> <index bytes>` (split at its middle, or not at
//! all when the segment has no index). Segment `i`'s base offset is
//! `i * 1000`. With bit 7 of byte 0 set, each `.log` starts with a few
//! valid batches (built from the piece's first bytes) before the fuzzed
//! bytes, and with bit 6 also set one byte of that valid prefix is
//! overwritten, so recovery sees valid data followed by a torn or corrupt
//! tail rather than only garbage (which fails the first CRC).

#![no_main]

use std::path::Path;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use runnel_broker::storage::sim::SimFs;
use runnel_broker::storage::{Fs as _, LogConfig, Offset, PartitionLog};
use runnel_protocol::record::{BatchBuilder, BatchOptions, Batches, NewRecord, validate_batch};

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
        let log = if shape & 0x80 == 0 {
            log.to_vec()
        } else {
            with_valid_prefix(base, log, shape & 0x40 != 0)
        };
        write(&fs, &dir.join(format!("{base:020}.log")), &log);
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

/// Valid batches at `base`, `base + n`, ... (their count and record values
/// from `fuzzed`), then `fuzzed` itself; with `damage`, one byte of the
/// batches is overwritten (position and value from `fuzzed`).
fn with_valid_prefix(base: u64, fuzzed: &[u8], damage: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let batches = fuzzed.first().map_or(1, |b| usize::from(b % 6) + 1);
    let mut next = i64::try_from(base).unwrap_or(0);
    for i in 0..batches {
        let options = BatchOptions {
            base_offset: next,
            ..BatchOptions::default()
        };
        let Ok(mut builder) = BatchBuilder::new(options) else {
            break;
        };
        let n = fuzzed.get(i + 1).map_or(1, |b| i64::from(b % 4) + 1);
        for r in 0..n {
            let value = fuzzed.get(..(usize::try_from(r).unwrap_or(0) * 7).min(fuzzed.len()));
            let record = NewRecord {
                timestamp: 1_000 + r,
                key: None,
                value: value.map(bytes::Bytes::copy_from_slice),
                headers: Vec::new(),
            };
            if builder.append(&record).is_err() {
                break;
            }
        }
        let Ok(built) = builder.build() else { break };
        out.extend_from_slice(&built);
        next += n;
    }
    if damage && !out.is_empty() {
        let at = fuzzed.get(1..3).map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
        let len = out.len();
        if let Some(byte) = out.get_mut(at % len) {
            *byte ^= fuzzed.get(3).copied().unwrap_or(0xff) | 1;
        }
    }
    out.extend_from_slice(fuzzed);
    out
}

fn write(fs: &SimFs, path: &Path, data: &[u8]) {
    let f = fs.open(path, true, 0).expect("sim file");
    f.allocate(data.len() as u64).expect("sim allocate");
    f.write_at(0, data).expect("sim write");
    f.sync().expect("sim sync");
}
