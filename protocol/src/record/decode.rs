//! The checked record decoder shared by the reader ([`super::Records`]) and
//! [`super::validate_batch`].
//!
//! It works on the bytes of one uncompressed batch and returns positions, not
//! slices, so the validator needs no `Bytes` and the reader can turn positions
//! into zero-copy `Bytes` slices. Every read is bounds-checked: malformed
//! input yields a [`RecordError`], never a panic.

use std::ops::Range;

use super::header::{BATCH_HEADER_LEN, BatchHeader, TimestampType};
use super::varint::{VarintError, decode_varint, decode_varlong};
use super::{RecordError, RecordField};

/// Where one record's parts lie in the batch, with its fixed fields decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordLayout {
    /// Record attributes (unused by Kafka, kept as read).
    pub attributes: i8,
    /// Timestamp relative to the batch's `base_timestamp`.
    pub timestamp_delta: i64,
    /// Offset relative to the batch's `base_offset`.
    pub offset_delta: i32,
    /// Absolute offset, `base_offset + offset_delta`.
    pub offset: i64,
    /// Absolute timestamp (see [`RecordCursor`] for `LogAppendTime`).
    pub timestamp: i64,
    /// Byte range of the key within the batch, `None` for a null key.
    pub key: Option<Range<usize>>,
    /// Byte range of the value within the batch, `None` for a null value.
    pub value: Option<Range<usize>>,
    /// Byte range of the header entries (after the header count).
    pub headers: Range<usize>,
    /// Number of header entries in `headers`.
    pub header_count: u32,
}

/// Walks the records of one uncompressed batch, checking each record and,
/// once `record_count` records are read, the batch's end.
///
/// Checks: each record's length is non-negative, within the batch and equal
/// to what its fields take; every length and count is valid; header keys are
/// UTF-8; offset deltas strictly increase; absolute offsets and timestamps do
/// not overflow; exactly `record_count` records are present with no trailing
/// bytes; the last offset delta equals `last_offset_delta`.
///
/// Timestamps follow Kafka: in a `LogAppendTime` batch every record's
/// timestamp is the batch's `max_timestamp`; otherwise it is
/// `base_timestamp + timestamp_delta`.
#[derive(Debug, Clone)]
pub(crate) struct RecordCursor {
    /// Header fields the checks and absolute values need.
    header: BatchHeader,
    /// Byte position of the next record in the batch.
    position: usize,
    /// Index of the next record.
    index: u32,
    /// `record_count` from the header (non-negative after parsing).
    count: u32,
    /// Offset delta of the previous record, -1 before the first.
    previous_delta: i32,
    /// Set once the end was checked or an error was returned; the cursor
    /// then yields nothing more.
    finished: bool,
}

impl RecordCursor {
    /// A cursor at the first record of the batch `header` was parsed from.
    pub fn new(header: &BatchHeader) -> Self {
        RecordCursor {
            header: *header,
            position: BATCH_HEADER_LEN,
            index: 0,
            count: header.record_count.unsigned_abs(),
            previous_delta: -1,
            finished: false,
        }
    }

    /// Records not yet returned, as declared by the header.
    pub fn remaining(&self) -> u32 {
        if self.finished {
            0
        } else {
            self.count - self.index
        }
    }

    /// Decodes the next record of `batch` (the whole batch the header was
    /// parsed from). Returns `None` after the last record once the end of the
    /// batch checked out, and after any error.
    pub fn next(&mut self, batch: &[u8]) -> Option<Result<RecordLayout, RecordError>> {
        if self.finished {
            return None;
        }
        let result = self.step(batch);
        if !matches!(result, Some(Ok(_))) {
            self.finished = true;
        }
        result
    }

    fn step(&mut self, batch: &[u8]) -> Option<Result<RecordLayout, RecordError>> {
        if self.index == self.count {
            return self.check_end(batch).err().map(Err);
        }
        if self.position >= batch.len() {
            return Some(Err(RecordError::RecordCountMismatch {
                declared: self.count,
                actual: self.index,
            }));
        }
        Some(self.record(batch))
    }

    fn check_end(&self, batch: &[u8]) -> Result<(), RecordError> {
        let trailing = batch.len().saturating_sub(self.position);
        if trailing != 0 {
            return Err(RecordError::TrailingBytes {
                records: self.count,
                bytes: trailing,
            });
        }
        if self.count > 0 && self.previous_delta != self.header.last_offset_delta {
            return Err(RecordError::LastOffsetDeltaMismatch {
                declared: self.header.last_offset_delta,
                actual: self.previous_delta,
            });
        }
        Ok(())
    }

    fn record(&mut self, batch: &[u8]) -> Result<RecordLayout, RecordError> {
        let index = self.index;
        let (end, mut layout) = decode_record(batch, self.position, index)?;
        if layout.offset_delta <= self.previous_delta {
            return Err(RecordError::OffsetDeltaNotIncreasing {
                index,
                previous: self.previous_delta,
                delta: layout.offset_delta,
            });
        }
        layout.offset = self
            .header
            .base_offset
            .checked_add(i64::from(layout.offset_delta))
            .ok_or(RecordError::OffsetOverflow {
                index,
                base_offset: self.header.base_offset,
                delta: layout.offset_delta,
            })?;
        layout.timestamp = match self.header.timestamp_type() {
            TimestampType::LogAppendTime => self.header.max_timestamp,
            TimestampType::CreateTime => self
                .header
                .base_timestamp
                .checked_add(layout.timestamp_delta)
                .ok_or(RecordError::TimestampOverflow {
                    index,
                    base_timestamp: self.header.base_timestamp,
                    delta: layout.timestamp_delta,
                })?,
        };
        self.previous_delta = layout.offset_delta;
        self.position = end;
        self.index += 1;
        Ok(layout)
    }
}

/// Decodes the record starting at `start`; returns the position after it and
/// its layout with `offset`/`timestamp` still relative (the cursor fills them).
fn decode_record(
    batch: &[u8],
    start: usize,
    index: u32,
) -> Result<(usize, RecordLayout), RecordError> {
    let mut outer = FieldReader {
        buf: batch,
        position: start,
        index,
    };
    let length = outer.length(RecordField::Length)?;
    let body_start = outer.position;
    let have = batch.len().saturating_sub(body_start);
    if length > have {
        return Err(RecordError::TruncatedRecord {
            index,
            position: body_start,
            need: length,
            have,
        });
    }
    let body_end = body_start + length;
    // Fields are read against the record's declared end, so a field cannot
    // reach into the next record.
    let mut reader = FieldReader {
        buf: batch.get(..body_end).unwrap_or_default(),
        position: body_start,
        index,
    };
    let attributes = reader.i8()?;
    let timestamp_delta = reader.varlong(RecordField::TimestampDelta)?;
    let offset_delta = reader.varint(RecordField::OffsetDelta)?;
    let key = reader.nullable_bytes(RecordField::KeyLength)?;
    let value = reader.nullable_bytes(RecordField::ValueLength)?;
    let header_count = reader.length(RecordField::HeaderCount)?;
    let headers_start = reader.position;
    for _ in 0..header_count {
        let key_position = reader.position;
        let key_length = reader.length(RecordField::HeaderKeyLength)?;
        let key = reader.take(key_length)?;
        let key_bytes = batch.get(key).unwrap_or_default();
        std::str::from_utf8(key_bytes).map_err(|source| RecordError::HeaderKeyNotUtf8 {
            index,
            position: key_position,
            source,
        })?;
        reader.nullable_bytes(RecordField::HeaderValueLength)?;
    }
    if reader.position != body_end {
        return Err(RecordError::RecordLengthMismatch {
            index,
            declared: length,
            actual: reader.position - body_start,
        });
    }
    let header_count = u32::try_from(header_count).unwrap_or(u32::MAX);
    Ok((
        body_end,
        RecordLayout {
            attributes,
            timestamp_delta,
            offset_delta,
            offset: 0,
            timestamp: 0,
            key,
            value,
            headers: headers_start..body_end,
            header_count,
        },
    ))
}

/// Checked reads of record fields from `buf`, starting at `position`.
struct FieldReader<'a> {
    /// The bytes readable for the current record (ends at its declared end).
    buf: &'a [u8],
    /// Next byte to read.
    position: usize,
    /// Index of the record, for errors.
    index: u32,
}

impl FieldReader<'_> {
    fn rest(&self) -> &[u8] {
        self.buf.get(self.position..).unwrap_or_default()
    }

    fn bad_varint(&self, field: RecordField, source: VarintError) -> RecordError {
        RecordError::BadVarint {
            index: self.index,
            field,
            position: self.position,
            source,
        }
    }

    fn i8(&mut self) -> Result<i8, RecordError> {
        let byte = self
            .rest()
            .first()
            .copied()
            .ok_or_else(|| self.truncated(1))?;
        self.position += 1;
        Ok(i8::from_be_bytes([byte]))
    }

    fn varint(&mut self, field: RecordField) -> Result<i32, RecordError> {
        let (value, len) = decode_varint(self.rest()).map_err(|e| self.bad_varint(field, e))?;
        self.position += len;
        Ok(value)
    }

    fn varlong(&mut self, field: RecordField) -> Result<i64, RecordError> {
        let (value, len) = decode_varlong(self.rest()).map_err(|e| self.bad_varint(field, e))?;
        self.position += len;
        Ok(value)
    }

    /// A varint that must be non-negative (a length or a count).
    fn length(&mut self, field: RecordField) -> Result<usize, RecordError> {
        let value = self.varint(field)?;
        usize::try_from(value).map_err(|_| RecordError::InvalidLength {
            index: self.index,
            field,
            value,
        })
    }

    /// A length-prefixed byte string where length -1 means null.
    fn nullable_bytes(&mut self, field: RecordField) -> Result<Option<Range<usize>>, RecordError> {
        let length = self.varint(field)?;
        if length == -1 {
            return Ok(None);
        }
        let length = usize::try_from(length).map_err(|_| RecordError::InvalidLength {
            index: self.index,
            field,
            value: length,
        })?;
        self.take(length).map(Some)
    }

    /// The range of the next `length` bytes, which must lie within `buf`.
    fn take(&mut self, length: usize) -> Result<Range<usize>, RecordError> {
        let have = self.buf.len().saturating_sub(self.position);
        if length > have {
            return Err(self.truncated(length));
        }
        let range = self.position..self.position + length;
        self.position = range.end;
        Ok(range)
    }

    fn truncated(&self, need: usize) -> RecordError {
        RecordError::TruncatedRecord {
            index: self.index,
            position: self.position,
            need,
            have: self.buf.len().saturating_sub(self.position),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::header::{BatchHeader, MAGIC_V2};
    use crate::record::varint::{put_varint, put_varlong};

    fn header(count: i32, last_offset_delta: i32) -> BatchHeader {
        BatchHeader {
            base_offset: 100,
            batch_length: 0,
            partition_leader_epoch: 0,
            magic: MAGIC_V2,
            crc: 0,
            attributes: 0,
            last_offset_delta,
            base_timestamp: 1_000,
            max_timestamp: 1_000,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            record_count: count,
        }
    }

    /// A batch buffer: a zeroed header followed by `records` (the cursor
    /// only looks at the bytes after the header).
    fn batch(records: &[Vec<u8>]) -> Vec<u8> {
        let mut out = vec![0u8; BATCH_HEADER_LEN];
        for record in records {
            out.extend_from_slice(record);
        }
        out
    }

    /// Encodes a record body (everything after the length), then prefixes
    /// its length.
    fn record(
        offset_delta: i32,
        key: Option<&[u8]>,
        headers: &[(&[u8], Option<&[u8]>)],
    ) -> Vec<u8> {
        let mut body = vec![0u8];
        put_varlong(&mut body, 5);
        put_varint(&mut body, offset_delta);
        match key {
            Some(k) => {
                put_varint(&mut body, i32::try_from(k.len()).unwrap());
                body.extend_from_slice(k);
            }
            None => put_varint(&mut body, -1),
        }
        put_varint(&mut body, 1);
        body.push(b'v');
        put_varint(&mut body, i32::try_from(headers.len()).unwrap());
        for (k, v) in headers {
            put_varint(&mut body, i32::try_from(k.len()).unwrap());
            body.extend_from_slice(k);
            match v {
                Some(v) => {
                    put_varint(&mut body, i32::try_from(v.len()).unwrap());
                    body.extend_from_slice(v);
                }
                None => put_varint(&mut body, -1),
            }
        }
        with_length(&body)
    }

    fn with_length(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, i32::try_from(body.len()).unwrap());
        out.extend_from_slice(body);
        out
    }

    fn collect(header: &BatchHeader, batch: &[u8]) -> Result<Vec<RecordLayout>, RecordError> {
        let mut cursor = RecordCursor::new(header);
        let mut out = Vec::new();
        while let Some(layout) = cursor.next(batch) {
            out.push(layout?);
        }
        Ok(out)
    }

    #[test]
    fn decodes_positions_and_absolute_values() {
        let bytes = batch(&[
            record(0, Some(b"k"), &[(b"h", Some(b"x"))]),
            record(1, None, &[]),
        ]);
        let layouts = collect(&header(2, 1), &bytes).unwrap();
        assert_eq!(layouts.len(), 2);
        let first = &layouts[0];
        assert_eq!(first.offset, 100);
        assert_eq!(first.timestamp, 1_005);
        assert_eq!(first.timestamp_delta, 5);
        assert_eq!(&bytes[first.key.clone().unwrap()], b"k");
        assert_eq!(&bytes[first.value.clone().unwrap()], b"v");
        assert_eq!(first.header_count, 1);
        assert_eq!(layouts[1].offset, 101);
        assert_eq!(layouts[1].key, None);
    }

    #[test]
    fn log_append_time_records_take_the_max_timestamp() {
        let mut h = header(1, 0);
        h.attributes = crate::record::header::TIMESTAMP_TYPE_BIT;
        h.max_timestamp = 77;
        let layouts = collect(&h, &batch(&[record(0, None, &[])])).unwrap();
        assert_eq!(layouts[0].timestamp, 77);
    }

    #[test]
    fn fewer_records_than_declared_is_a_count_mismatch() {
        let err = collect(
            &header(3, 2),
            &batch(&[record(0, None, &[]), record(1, None, &[])]),
        );
        assert_eq!(
            err,
            Err(RecordError::RecordCountMismatch {
                declared: 3,
                actual: 2
            })
        );
    }

    #[test]
    fn bytes_after_the_last_record_are_trailing() {
        let mut bytes = batch(&[record(0, None, &[])]);
        bytes.extend_from_slice(&[0, 0]);
        assert_eq!(
            collect(&header(1, 0), &bytes),
            Err(RecordError::TrailingBytes {
                records: 1,
                bytes: 2
            })
        );
    }

    #[test]
    fn record_longer_than_the_batch_is_truncated() {
        let full = record(0, Some(b"key"), &[]);
        let mut bytes = batch(std::slice::from_ref(&full));
        bytes.truncate(bytes.len() - 2);
        let err = collect(&header(1, 0), &bytes).unwrap_err();
        assert!(
            matches!(err, RecordError::TruncatedRecord { index: 0, need, have, .. } if need == full.len() - 1 && have == need - 2),
            "{err:?}"
        );
    }

    #[test]
    fn field_overrunning_the_declared_length_is_truncated() {
        // Key length 10 inside a record whose body is only a few bytes long.
        let mut body = vec![0u8];
        put_varlong(&mut body, 0);
        put_varint(&mut body, 0);
        put_varint(&mut body, 10);
        body.extend_from_slice(b"abc");
        let mut bytes = batch(&[with_length(&body)]);
        // Bytes of a following record the key must not reach into.
        bytes.extend_from_slice(&[0u8; 16]);
        let err = collect(&header(1, 0), &bytes).unwrap_err();
        assert!(
            matches!(
                err,
                RecordError::TruncatedRecord {
                    need: 10,
                    have: 3,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn fields_shorter_than_the_declared_length_mismatch() {
        let good = record(0, None, &[]);
        let mut body = good[1..].to_vec();
        body.push(0);
        let err = collect(&header(1, 0), &batch(&[with_length(&body)])).unwrap_err();
        assert_eq!(
            err,
            RecordError::RecordLengthMismatch {
                index: 0,
                declared: body.len(),
                actual: body.len() - 1
            }
        );
    }

    #[test]
    fn negative_record_length_is_invalid() {
        let mut bytes = batch(&[]);
        put_varint(&mut bytes, -5);
        assert_eq!(
            collect(&header(1, 0), &bytes),
            Err(RecordError::InvalidLength {
                index: 0,
                field: RecordField::Length,
                value: -5
            })
        );
    }

    #[test]
    fn key_length_below_minus_one_is_invalid() {
        let mut body = vec![0u8];
        put_varlong(&mut body, 0);
        put_varint(&mut body, 0);
        put_varint(&mut body, -2);
        let err = collect(&header(1, 0), &batch(&[with_length(&body)])).unwrap_err();
        assert_eq!(
            err,
            RecordError::InvalidLength {
                index: 0,
                field: RecordField::KeyLength,
                value: -2
            }
        );
    }

    #[test]
    fn overlong_varint_in_a_record_is_reported_with_its_field() {
        let mut body = vec![0u8];
        body.extend_from_slice(&[0x80, 0x00]);
        let bytes = batch(&[with_length(&body)]);
        let err = collect(&header(1, 0), &bytes).unwrap_err();
        assert_eq!(
            err,
            RecordError::BadVarint {
                index: 0,
                field: RecordField::TimestampDelta,
                position: BATCH_HEADER_LEN + 2,
                source: VarintError::NotMinimal { len: 2 }
            }
        );
    }

    #[test]
    fn null_header_key_is_invalid() {
        let mut body = vec![0u8];
        put_varlong(&mut body, 0);
        put_varint(&mut body, 0);
        put_varint(&mut body, -1);
        put_varint(&mut body, -1);
        put_varint(&mut body, 1);
        put_varint(&mut body, -1);
        let err = collect(&header(1, 0), &batch(&[with_length(&body)])).unwrap_err();
        assert!(
            matches!(
                err,
                RecordError::InvalidLength {
                    field: RecordField::HeaderKeyLength,
                    value: -1,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn header_key_must_be_utf8() {
        let bytes = batch(&[record(0, None, &[(&[0xff, 0xfe], None)])]);
        let err = collect(&header(1, 0), &bytes).unwrap_err();
        assert!(
            matches!(err, RecordError::HeaderKeyNotUtf8 { index: 0, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn offset_deltas_must_strictly_increase() {
        let bytes = batch(&[record(3, None, &[]), record(3, None, &[])]);
        assert_eq!(
            collect(&header(2, 3), &bytes),
            Err(RecordError::OffsetDeltaNotIncreasing {
                index: 1,
                previous: 3,
                delta: 3
            })
        );
        let negative = batch(&[record(-1, None, &[])]);
        assert!(matches!(
            collect(&header(1, 0), &negative),
            Err(RecordError::OffsetDeltaNotIncreasing {
                previous: -1,
                delta: -1,
                ..
            })
        ));
    }

    #[test]
    fn gaps_between_offset_deltas_are_allowed() {
        // Compaction leaves gaps; only the order and the last delta matter.
        let bytes = batch(&[record(0, None, &[]), record(5, None, &[])]);
        assert_eq!(collect(&header(2, 5), &bytes).unwrap()[1].offset, 105);
    }

    #[test]
    fn last_delta_must_match_the_header() {
        let bytes = batch(&[record(0, None, &[]), record(1, None, &[])]);
        assert_eq!(
            collect(&header(2, 4), &bytes),
            Err(RecordError::LastOffsetDeltaMismatch {
                declared: 4,
                actual: 1
            })
        );
    }

    #[test]
    fn absolute_offset_overflow_is_an_error() {
        let mut h = header(1, 0);
        h.base_offset = i64::MAX;
        let bytes = batch(&[record(1, None, &[])]);
        assert!(matches!(
            collect(&h, &bytes),
            Err(RecordError::OffsetOverflow { index: 0, .. })
        ));
    }

    #[test]
    fn absolute_timestamp_overflow_is_an_error() {
        let mut h = header(1, 0);
        h.base_timestamp = i64::MAX;
        let bytes = batch(&[record(0, None, &[])]);
        assert!(matches!(
            collect(&h, &bytes),
            Err(RecordError::TimestampOverflow { index: 0, .. })
        ));
    }

    #[test]
    fn empty_batch_has_no_records() {
        assert_eq!(collect(&header(0, 0), &batch(&[])), Ok(Vec::new()));
    }

    #[test]
    fn cursor_yields_nothing_after_an_error() {
        let bytes = batch(&[record(0, None, &[])]);
        let mut cursor = RecordCursor::new(&header(2, 1));
        assert!(matches!(cursor.next(&bytes), Some(Ok(_))));
        assert!(matches!(cursor.next(&bytes), Some(Err(_))));
        assert_eq!(cursor.next(&bytes), None);
        assert_eq!(cursor.remaining(), 0);
    }
}
