//! Record batch validation and iteration, compressed paths included: never
//! panics, and decompression stays within its limit.
//!
//! The first input byte picks a mode:
//! - `0..=85`: the rest is a byte stream of batches, as a fetch or a
//!   produce carries them;
//! - `86..=170`: the rest is the records section of one batch whose header
//!   this target writes (codec, record count, valid length and CRC), so
//!   the fuzzer reaches the decompressors and the record decoder past the
//!   CRC check;
//! - `171..=255`: as the previous mode, but the records section is first
//!   compressed with the codec, so the decompressor succeeds and the
//!   record decoder sees the fuzzer's bytes.

#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use runnel_protocol::record::compression::compress;
use runnel_protocol::record::{
    ATTRIBUTES_POS, BATCH_HEADER_LEN, BATCH_LENGTH_POS, Batches, CRC_POS, Compression,
    LAST_OFFSET_DELTA_POS, LOG_OVERHEAD, MAGIC_POS, RECORD_COUNT_POS, RecordBatch, validate_batch,
    validate_batch_with_limit,
};

/// Decompression limit for the bounded checks: small, so the fuzzer finds
/// inputs that hit it.
const LIMIT: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode {
        0..=85 => check_stream(Bytes::copy_from_slice(rest)),
        86..=170 => {
            if let Some(batch) = framed(rest, false) {
                check_stream(batch);
            }
        }
        _ => {
            if let Some(batch) = framed(rest, true) {
                check_stream(batch);
            }
        }
    }
});

fn check_stream(bytes: Bytes) {
    for batch in Batches::new(bytes) {
        let Ok(batch) = batch else { break };
        check_batch(&batch);
    }
}

fn check_batch(batch: &RecordBatch) {
    let raw = batch.as_bytes();
    let full = validate_batch(raw);
    let bounded = validate_batch_with_limit(raw, LIMIT);
    // A batch that passes under the small limit passes under the default.
    if bounded.is_ok() {
        assert!(full.is_ok(), "valid under {LIMIT} but not the default");
    }
    let mut decoded = 0usize;
    let mut failed = false;
    if let Ok(records) = batch.records_with_limit(LIMIT) {
        for record in records {
            match record {
                Ok(r) => {
                    decoded += 1;
                    let key = r.key.map_or(0, |k| k.len());
                    let value = r.value.map_or(0, |v| v.len());
                    assert!(
                        key + value <= LIMIT.max(raw.len()),
                        "record larger than its batch"
                    );
                    for h in r.headers.iter() {
                        let _ = h;
                    }
                }
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
    } else {
        failed = true;
    }
    if full.is_ok() && bounded.is_ok() {
        assert!(
            !failed,
            "validate_batch accepted a batch its iterator rejects"
        );
        assert_eq!(decoded, batch.record_count() as usize);
    }
}

/// One batch around `body` (the records section), with header fields
/// taken from the first bytes of `input`.
fn framed(input: &[u8], compress_body: bool) -> Option<Bytes> {
    let (params, body) = input.split_at_checked(3)?;
    let [codec, count, attrs] = [params[0], params[1], params[2]];
    let codec = match codec % 5 {
        0 => Compression::None,
        1 => Compression::Gzip,
        2 => Compression::Snappy,
        3 => Compression::Lz4,
        _ => Compression::Zstd,
    };
    let mut records = BytesMut::new();
    if compress_body {
        compress(codec, body, &mut records).ok()?;
    } else {
        records.extend_from_slice(body);
    }
    let mut out = vec![0u8; BATCH_HEADER_LEN];
    out.extend_from_slice(&records);
    let batch_len = u32::try_from(out.len() - LOG_OVERHEAD).ok()?;
    out.get_mut(BATCH_LENGTH_POS..BATCH_LENGTH_POS + 4)?
        .copy_from_slice(&batch_len.to_be_bytes());
    *out.get_mut(MAGIC_POS)? = 2;
    // Codec bits, and the timestamp-type/control/transactional bits from
    // the input.
    let attributes = codec.id() | (i16::from(attrs) & 0x38);
    out.get_mut(ATTRIBUTES_POS..ATTRIBUTES_POS + 2)?
        .copy_from_slice(&attributes.to_be_bytes());
    let count = i32::from(count % 16);
    out.get_mut(LAST_OFFSET_DELTA_POS..LAST_OFFSET_DELTA_POS + 4)?
        .copy_from_slice(&(count - 1).max(0).to_be_bytes());
    out.get_mut(RECORD_COUNT_POS..RECORD_COUNT_POS + 4)?
        .copy_from_slice(&count.to_be_bytes());
    let crc = crc32c::crc32c(out.get(ATTRIBUTES_POS..)?);
    out.get_mut(CRC_POS..CRC_POS + 4)?
        .copy_from_slice(&crc.to_be_bytes());
    Some(Bytes::from(out))
}
