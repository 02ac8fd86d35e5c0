//! [`validate_batch`]: the full check of one untrusted batch, the broker's
//! gate before a produced batch is appended as received.

use super::RecordError;
use super::compression::{DEFAULT_MAX_DECOMPRESSED_BYTES, decompress_into};
use super::decode::RecordCursor;
use super::header::{BATCH_HEADER_LEN, BatchHeader, Compression, check_envelope};

/// Fully validates `bytes`, which must hold exactly one batch, and returns
/// its header.
///
/// Checks, in order:
/// 1. the envelope ([`check_envelope`]): at least a header, magic 2, a sane
///    `batch_length` equal to the bytes present, non-negative
///    `last_offset_delta` and `record_count`, and the CRC-32C;
/// 2. the compression id names a known codec;
/// 3. for a compressed batch, that the records decompress to at most
///    [`DEFAULT_MAX_DECOMPRESSED_BYTES`] (see [`validate_batch_with_limit`]);
/// 4. every record (of the decompressed sequence, if compressed): its length is within the
///    batch and equals what its fields take, key/value/header lengths are
///    valid (only -1 for null), header keys are UTF-8, offset deltas strictly
///    increase, absolute offsets and timestamps do not overflow, exactly
///    `record_count` records are present, the last one's offset delta is
///    `last_offset_delta`, and no bytes follow it.
///
/// A batch with `record_count` 0 is valid (the log cleaner writes such
/// batches to keep producer state); whether a produce request may carry one
/// is the broker's policy, as are producer-id/sequence rules.
pub fn validate_batch(bytes: &[u8]) -> Result<BatchHeader, RecordError> {
    validate_batch_with_limit(bytes, DEFAULT_MAX_DECOMPRESSED_BYTES)
}

/// [`validate_batch`] with the most bytes a compressed batch's records may
/// decompress to; more is [`super::CompressionError::TooLarge`]. The check
/// holds at most one decompressed copy of the records in memory.
pub fn validate_batch_with_limit(
    bytes: &[u8],
    max_decompressed: usize,
) -> Result<BatchHeader, RecordError> {
    let header = check_envelope(bytes)?;
    check_records(&header, bytes, max_decompressed)?;
    Ok(header)
}

/// Steps 2 to 4 of [`validate_batch`], for a batch whose envelope checked.
pub(crate) fn check_records(
    header: &BatchHeader,
    bytes: &[u8],
    max_decompressed: usize,
) -> Result<(), RecordError> {
    match header.compression()? {
        Compression::None => walk(header, bytes),
        codec => walk(header, &decompressed_batch(codec, bytes, max_decompressed)?),
    }
}

/// Walks and checks every record of an uncompressed batch layout.
fn walk(header: &BatchHeader, batch: &[u8]) -> Result<(), RecordError> {
    let mut cursor = RecordCursor::new(header);
    while let Some(record) = cursor.next(batch) {
        record?;
    }
    Ok(())
}

/// The batch as if it were uncompressed: its header bytes, then the
/// decompressed records. Record positions in errors refer to this layout.
pub(crate) fn decompressed_batch(
    codec: Compression,
    bytes: &[u8],
    max_decompressed: usize,
) -> Result<Vec<u8>, RecordError> {
    let (header, body) = bytes
        .split_at_checked(BATCH_HEADER_LEN)
        .unwrap_or((bytes, &[]));
    let mut out =
        Vec::with_capacity(BATCH_HEADER_LEN + body.len().saturating_mul(4).min(max_decompressed));
    out.extend_from_slice(header);
    decompress_into(codec, body, max_decompressed, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::CompressionError;
    use crate::record::builder::{BatchBuilder, BatchOptions, NewRecord};
    use crate::record::header::{
        ATTRIBUTES_POS, BATCH_HEADER_LEN, BATCH_LENGTH_POS, CRC_POS, LAST_OFFSET_DELTA_POS,
        MAGIC_POS, RECORD_COUNT_POS, compute_crc,
    };
    use crate::record::varint::put_varint;
    use bytes::Bytes;

    fn batch(records: usize) -> Vec<u8> {
        let mut builder = BatchBuilder::new(BatchOptions::default()).unwrap();
        for i in 0..records {
            builder
                .append(&NewRecord {
                    timestamp: 1_700_000_000_000,
                    key: Some(Bytes::from(format!("k{i}"))),
                    value: Some(Bytes::from_static(b"some value")),
                    headers: vec![("trace".to_owned(), None)],
                })
                .unwrap();
        }
        builder.build().unwrap().to_vec()
    }

    /// Rewrites `batch_length` to the buffer's length and fixes the CRC, so
    /// that only the record-level corruption under test remains.
    fn reseal(bytes: &mut [u8]) {
        let length = i32::try_from(bytes.len() - 12).unwrap();
        bytes[BATCH_LENGTH_POS..BATCH_LENGTH_POS + 4].copy_from_slice(&length.to_be_bytes());
        let crc = compute_crc(bytes).unwrap();
        bytes[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
    }

    fn set_i32(bytes: &mut [u8], pos: usize, value: i32) {
        bytes[pos..pos + 4].copy_from_slice(&value.to_be_bytes());
    }

    #[test]
    fn well_formed_batch_validates() {
        let bytes = batch(3);
        let header = validate_batch(&bytes).unwrap();
        assert_eq!(header.record_count, 3);
        assert_eq!(header.last_offset_delta, 2);
    }

    #[test]
    fn short_input_is_truncated() {
        let bytes = batch(1);
        assert_eq!(
            validate_batch(&bytes[..30]),
            Err(RecordError::Truncated {
                need: BATCH_HEADER_LEN,
                have: 30
            })
        );
    }

    #[test]
    fn wrong_magic_is_rejected() {
        let mut bytes = batch(1);
        bytes[MAGIC_POS] = 1;
        assert_eq!(validate_batch(&bytes), Err(RecordError::BadMagic(1)));
    }

    #[test]
    fn flipped_bit_fails_the_crc() {
        let mut bytes = batch(2);
        bytes[BATCH_HEADER_LEN + 3] ^= 0x10;
        assert!(matches!(
            validate_batch(&bytes),
            Err(RecordError::BadCrc { .. })
        ));
    }

    #[test]
    fn missing_tail_is_a_length_mismatch() {
        let bytes = batch(2);
        assert!(matches!(
            validate_batch(&bytes[..bytes.len() - 1]),
            Err(RecordError::LengthMismatch { .. })
        ));
    }

    #[test]
    fn wrong_record_count_is_rejected() {
        let mut bytes = batch(2);
        set_i32(&mut bytes, RECORD_COUNT_POS, 3);
        reseal(&mut bytes);
        assert_eq!(
            validate_batch(&bytes),
            Err(RecordError::RecordCountMismatch {
                declared: 3,
                actual: 2
            })
        );
        set_i32(&mut bytes, RECORD_COUNT_POS, 1);
        reseal(&mut bytes);
        assert!(matches!(
            validate_batch(&bytes),
            Err(RecordError::TrailingBytes { records: 1, .. })
        ));
    }

    #[test]
    fn extra_bytes_after_the_records_are_trailing() {
        let mut bytes = batch(2);
        bytes.extend_from_slice(&[0, 0, 0]);
        reseal(&mut bytes);
        assert_eq!(
            validate_batch(&bytes),
            Err(RecordError::TrailingBytes {
                records: 2,
                bytes: 3
            })
        );
    }

    #[test]
    fn truncated_last_record_is_rejected() {
        let mut bytes = batch(2);
        bytes.truncate(bytes.len() - 4);
        reseal(&mut bytes);
        assert!(matches!(
            validate_batch(&bytes),
            Err(RecordError::TruncatedRecord { index: 1, .. })
        ));
    }

    #[test]
    fn record_length_beyond_the_batch_is_truncated() {
        let mut bytes = batch(1);
        let mut huge = Vec::new();
        put_varint(&mut huge, 1_000_000);
        bytes.splice(BATCH_HEADER_LEN..=BATCH_HEADER_LEN, huge);
        reseal(&mut bytes);
        assert!(matches!(
            validate_batch(&bytes),
            Err(RecordError::TruncatedRecord {
                index: 0,
                need: 1_000_000,
                ..
            })
        ));
    }

    #[test]
    fn last_offset_delta_must_match_the_records() {
        let mut bytes = batch(2);
        set_i32(&mut bytes, LAST_OFFSET_DELTA_POS, 5);
        reseal(&mut bytes);
        assert_eq!(
            validate_batch(&bytes),
            Err(RecordError::LastOffsetDeltaMismatch {
                declared: 5,
                actual: 1
            })
        );
    }

    #[test]
    fn unknown_compression_id_is_rejected() {
        let mut bytes = batch(1);
        bytes[ATTRIBUTES_POS + 1] |= 0x07;
        reseal(&mut bytes);
        assert_eq!(
            validate_batch(&bytes),
            Err(RecordError::UnknownCompression(7))
        );
    }

    #[test]
    fn compressed_garbage_is_rejected() {
        let mut bytes = batch(1);
        bytes[ATTRIBUTES_POS + 1] |= 0x01;
        bytes.truncate(BATCH_HEADER_LEN);
        bytes.extend_from_slice(b"not really gzip");
        reseal(&mut bytes);
        assert!(matches!(
            validate_batch(&bytes),
            Err(RecordError::Compression(CompressionError::Corrupt {
                codec: Compression::Gzip,
                ..
            }))
        ));
    }

    /// A batch whose record bytes are `records`, compressed with `codec`.
    fn compressed_batch(codec: Compression, records: &[u8], count: i32) -> Vec<u8> {
        let mut bytes = batch(1);
        bytes.truncate(BATCH_HEADER_LEN);
        bytes[ATTRIBUTES_POS + 1] |= u8::try_from(codec.id()).unwrap();
        set_i32(&mut bytes, RECORD_COUNT_POS, count);
        set_i32(&mut bytes, LAST_OFFSET_DELTA_POS, count - 1);
        let mut body = bytes::BytesMut::new();
        crate::record::compression::compress(codec, records, &mut body).unwrap();
        bytes.extend_from_slice(&body);
        reseal(&mut bytes);
        bytes
    }

    #[test]
    fn compressed_records_are_checked_like_plain_ones() {
        let plain = batch(3);
        let records = &plain[BATCH_HEADER_LEN..];
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let good = compressed_batch(codec, records, 3);
            assert_eq!(validate_batch(&good).unwrap().record_count, 3, "{codec}");
            // The same records under a wrong count fail inside the codec too.
            let bad = compressed_batch(codec, records, 4);
            assert_eq!(
                validate_batch(&bad),
                Err(RecordError::RecordCountMismatch {
                    declared: 4,
                    actual: 3
                }),
                "{codec}"
            );
            let mut cut = records.to_vec();
            cut.pop();
            assert!(matches!(
                validate_batch(&compressed_batch(codec, &cut, 3)),
                Err(RecordError::TruncatedRecord { index: 2, .. })
            ));
        }
    }

    #[test]
    fn decompression_bomb_is_refused_by_the_limit() {
        let zeros = vec![0u8; 4 * 1024 * 1024];
        let bytes = compressed_batch(Compression::Zstd, &zeros, 1);
        assert!(bytes.len() < 4096);
        assert_eq!(
            validate_batch_with_limit(&bytes, 1024 * 1024),
            Err(RecordError::Compression(CompressionError::TooLarge {
                codec: Compression::Zstd,
                limit: 1024 * 1024
            }))
        );
    }

    #[test]
    fn empty_batch_is_valid() {
        let mut bytes = batch(1);
        bytes.truncate(BATCH_HEADER_LEN);
        set_i32(&mut bytes, RECORD_COUNT_POS, 0);
        set_i32(&mut bytes, LAST_OFFSET_DELTA_POS, 4);
        reseal(&mut bytes);
        assert_eq!(validate_batch(&bytes).unwrap().record_count, 0);
    }
}
