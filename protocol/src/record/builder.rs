//! [`BatchBuilder`]: encodes records into one RecordBatch v2.
//!
//! The builder owns one buffer laid out as the finished batch: a 61-byte
//! header placeholder, then the records, each encoded in place as it is
//! appended (its size is computed first, so the length prefix is written
//! before the fields and nothing is copied or allocated per record).
//! [`BatchBuilder::build`] fills in the header and the CRC-32C and freezes
//! the buffer.
//!
//! Compression happens at `build`: the uncompressed record sequence is
//! `buf[BATCH_HEADER_LEN..]`, which the codec ([`super::compression`])
//! writes, compressed, after a fresh header placeholder; the header and CRC
//! are then written over the placeholder as for an uncompressed batch.

use bytes::{BufMut, Bytes, BytesMut};

use super::compression::{self, CompressionError};
use super::header::{
    BATCH_HEADER_LEN, BatchHeader, CONTROL_BIT, CRC_POS, Compression, LOG_OVERHEAD, MAGIC_V2,
    NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP, TRANSACTIONAL_BIT, TimestampType,
    compute_crc,
};
use super::varint::{put_varint, put_varlong, varint_len, varlong_len};

/// Initial buffer size of [`BatchBuilder::new`]: Kafka's default
/// `batch.size` (16 KiB).
pub const DEFAULT_BUILDER_CAPACITY: usize = 16 * 1024;

/// Largest `batch_length` the i32 field can hold.
const MAX_BATCH_LENGTH: usize = i32::MAX as usize;

/// Why a record could not be added or a batch not built. These are caller
/// errors (limits, configuration), not corrupt input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The codec failed to compress the records.
    #[error(transparent)]
    Compression(#[from] CompressionError),
    /// `build` was called before any record was appended; Kafka writes no
    /// batch for no records.
    #[error("a batch needs at least one record")]
    Empty,
    /// The batch already holds `i32::MAX` records, the most its offset
    /// deltas can number.
    #[error("a batch holds at most {} records", i32::MAX)]
    TooManyRecords,
    /// One field or the whole record is longer than an i32 length can say.
    #[error("record of {size} bytes exceeds the {} byte limit", i32::MAX)]
    RecordTooLarge {
        /// Encoded size of the record (or the oversized field).
        size: usize,
    },
    /// Appending the record would make `batch_length` exceed `i32::MAX`.
    #[error("batch of {size} bytes exceeds the {} byte limit", i32::MAX)]
    BatchTooLarge {
        /// Length the batch would have had.
        size: usize,
    },
    /// The record's timestamp is too far from the first record's for the
    /// difference to fit in an i64.
    #[error("timestamp {timestamp} is too far from the batch's base timestamp {base}")]
    TimestampDeltaOverflow {
        /// The batch's base timestamp (the first record's).
        base: i64,
        /// The record's timestamp.
        timestamp: i64,
    },
}

/// Batch-level fields of a batch to build. `Default` is a plain producer's
/// batch: offset 0, no producer id, `CreateTime`, uncompressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOptions {
    /// Offset of the first record; producers send 0 and the broker stamps
    /// the real one with [`super::set_base_offset`].
    pub base_offset: i64,
    /// Leader epoch; Runnel writes 0 until it replicates.
    pub partition_leader_epoch: i32,
    /// Idempotent producer id, or -1.
    pub producer_id: i64,
    /// Idempotent producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub base_sequence: i32,
    /// Whose clock the timestamps are (attribute bit 3).
    pub timestamp_type: TimestampType,
    /// Codec for the records (attribute bits 0-2).
    pub compression: Compression,
    /// Whether the batch belongs to a transaction (attribute bit 4).
    pub transactional: bool,
    /// Whether the batch holds control records (attribute bit 5).
    pub control: bool,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            base_offset: 0,
            partition_leader_epoch: 0,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            timestamp_type: TimestampType::CreateTime,
            compression: Compression::None,
            transactional: false,
            control: false,
        }
    }
}

impl BatchOptions {
    /// The attributes field these options produce.
    pub fn attributes(&self) -> i16 {
        let mut attributes = self.compression.id() | self.timestamp_type.attribute_bits();
        if self.transactional {
            attributes |= TRANSACTIONAL_BIT;
        }
        if self.control {
            attributes |= CONTROL_BIT;
        }
        attributes
    }
}

/// A record to append, in owned form. [`BatchBuilder::append_parts`] takes
/// the same fields borrowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRecord {
    /// Timestamp in ms (`CreateTime`).
    pub timestamp: i64,
    /// The key, `None` for null.
    pub key: Option<Bytes>,
    /// The value, `None` for null (a tombstone).
    pub value: Option<Bytes>,
    /// Headers in order: name and value (`None` for null).
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// Encoded sizes of a record about to be appended.
#[derive(Debug, Clone, Copy)]
struct RecordSize {
    /// Bytes after the length prefix.
    body: i32,
    /// Bytes including the length prefix.
    total: usize,
    /// Timestamp relative to the batch's base timestamp.
    timestamp_delta: i64,
    /// Number of headers.
    header_count: i32,
}

/// Builds one batch; see the module docs.
#[derive(Debug)]
pub struct BatchBuilder {
    /// Batch-level fields.
    options: BatchOptions,
    /// Header placeholder followed by the encoded records.
    buf: BytesMut,
    /// Records appended; the next record's offset delta.
    count: i32,
    /// Timestamp of the first record, the base of every timestamp delta.
    base_timestamp: Option<i64>,
    /// Largest timestamp appended.
    max_timestamp: i64,
}

impl BatchBuilder {
    /// A builder with [`DEFAULT_BUILDER_CAPACITY`] bytes reserved.
    pub fn new(options: BatchOptions) -> Result<Self, BuildError> {
        Self::with_capacity(options, DEFAULT_BUILDER_CAPACITY)
    }

    /// A builder whose buffer is sized for `capacity` bytes of batch
    /// (header included); a producer passes its `batch.size` so that filling
    /// the batch never reallocates.
    pub fn with_capacity(options: BatchOptions, capacity: usize) -> Result<Self, BuildError> {
        let mut buf = BytesMut::with_capacity(capacity.max(BATCH_HEADER_LEN));
        buf.put_bytes(0, BATCH_HEADER_LEN);
        Ok(BatchBuilder {
            options,
            buf,
            count: 0,
            base_timestamp: None,
            max_timestamp: NO_TIMESTAMP,
        })
    }

    /// The batch-level fields this builder writes.
    pub fn options(&self) -> &BatchOptions {
        &self.options
    }

    /// Sets the idempotent producer fields. A producer calls this when the
    /// batch is drained for its first send, which is when Kafka assigns a
    /// batch its sequence numbers (batches that expire unsent use none).
    pub fn set_producer_state(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) {
        self.options.producer_id = producer_id;
        self.options.producer_epoch = producer_epoch;
        self.options.base_sequence = base_sequence;
    }

    /// Records appended so far.
    pub fn record_count(&self) -> usize {
        self.count.unsigned_abs() as usize
    }

    /// Whether no record has been appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size in bytes the batch would have if built now, header included.
    /// Exact for an uncompressed batch; with a codec it is the uncompressed
    /// size, an upper bound for capping at `batch.size`.
    pub fn estimated_size(&self) -> usize {
        self.buf.len()
    }

    /// Bytes `record` would add to [`Self::estimated_size`].
    pub fn encoded_len(&self, record: &NewRecord) -> Result<usize, BuildError> {
        let size = self.measure(
            record.timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            owned_headers(&record.headers),
        )?;
        Ok(size.total)
    }

    /// Whether `record` fits within `batch_size` bytes of batch. The first
    /// record always fits (Kafka's rule: an oversized record goes alone into
    /// its own batch).
    pub fn has_room_for(&self, record: &NewRecord, batch_size: usize) -> bool {
        if self.is_empty() {
            return true;
        }
        self.encoded_len(record)
            .is_ok_and(|len| self.estimated_size().saturating_add(len) <= batch_size)
    }

    /// Appends `record` with the next offset delta, which it returns.
    pub fn append(&mut self, record: &NewRecord) -> Result<i32, BuildError> {
        self.append_with(
            record.timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            owned_headers(&record.headers),
        )
    }

    /// Appends a record given as borrowed parts, with the next offset delta,
    /// which it returns.
    pub fn append_parts(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
    ) -> Result<i32, BuildError> {
        self.append_with(
            timestamp,
            key,
            value,
            headers.iter().map(|&(name, value)| (name, value)),
        )
    }

    /// Computes a record's encoded size and timestamp delta without writing.
    fn measure<'h, I>(
        &self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: I,
    ) -> Result<RecordSize, BuildError>
    where
        I: Iterator<Item = (&'h str, Option<&'h [u8]>)>,
    {
        if self.count == i32::MAX {
            return Err(BuildError::TooManyRecords);
        }
        let base = self.base_timestamp.unwrap_or(timestamp);
        let timestamp_delta = timestamp
            .checked_sub(base)
            .ok_or(BuildError::TimestampDeltaOverflow { base, timestamp })?;
        let mut header_count: usize = 0;
        let mut body = [
            1, // attributes
            varlong_len(timestamp_delta),
            varint_len(self.count),
            nullable_len(key)?,
            nullable_len(value)?,
        ]
        .into_iter()
        .fold(0usize, usize::saturating_add);
        for (name, value) in headers {
            header_count += 1;
            body = body
                .saturating_add(nullable_len(Some(name.as_bytes()))?)
                .saturating_add(nullable_len(value)?);
        }
        let header_count =
            i32::try_from(header_count).map_err(|_| BuildError::RecordTooLarge { size: body })?;
        body = body.saturating_add(varint_len(header_count));
        let body = i32::try_from(body).map_err(|_| BuildError::RecordTooLarge { size: body })?;
        let total = varint_len(body) + body.unsigned_abs() as usize;
        let batch_length = (self.buf.len() - LOG_OVERHEAD).saturating_add(total);
        if batch_length > MAX_BATCH_LENGTH {
            return Err(BuildError::BatchTooLarge {
                size: batch_length.saturating_add(LOG_OVERHEAD),
            });
        }
        Ok(RecordSize {
            body,
            total,
            timestamp_delta,
            header_count,
        })
    }

    fn append_with<'h, I>(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: I,
    ) -> Result<i32, BuildError>
    where
        I: Iterator<Item = (&'h str, Option<&'h [u8]>)> + Clone,
    {
        let size = self.measure(timestamp, key, value, headers.clone())?;
        let offset_delta = self.count;
        let buf = &mut self.buf;
        buf.reserve(size.total);
        put_varint(buf, size.body);
        buf.put_i8(0); // record attributes: none defined
        put_varlong(buf, size.timestamp_delta);
        put_varint(buf, offset_delta);
        put_nullable(buf, key);
        put_nullable(buf, value);
        put_varint(buf, size.header_count);
        for (name, value) in headers {
            put_nullable(buf, Some(name.as_bytes()));
            put_nullable(buf, value);
        }
        self.base_timestamp.get_or_insert(timestamp);
        self.max_timestamp = if self.count == 0 {
            timestamp
        } else {
            self.max_timestamp.max(timestamp)
        };
        self.count += 1;
        Ok(offset_delta)
    }

    /// The header the batch gets when it is `total_len` bytes long, `crc`
    /// still 0. The caller has checked that the length fits the field.
    fn header(&self, total_len: usize) -> BatchHeader {
        let base_timestamp = self.base_timestamp.unwrap_or(NO_TIMESTAMP);
        BatchHeader {
            base_offset: self.options.base_offset,
            batch_length: i32::try_from(total_len - LOG_OVERHEAD).unwrap_or(i32::MAX),
            partition_leader_epoch: self.options.partition_leader_epoch,
            magic: MAGIC_V2,
            crc: 0,
            attributes: self.options.attributes(),
            last_offset_delta: self.count - 1,
            base_timestamp,
            max_timestamp: self.max_timestamp,
            producer_id: self.options.producer_id,
            producer_epoch: self.options.producer_epoch,
            base_sequence: self.options.base_sequence,
            record_count: self.count,
        }
    }

    /// Compresses the records with the batch's codec (if any), writes the
    /// header and CRC and returns the finished batch.
    pub fn build(mut self) -> Result<Bytes, BuildError> {
        if self.is_empty() {
            return Err(BuildError::Empty);
        }
        let codec = self.options.compression;
        let mut buf = if codec == Compression::None {
            std::mem::take(&mut self.buf)
        } else {
            let records = self.buf.get(BATCH_HEADER_LEN..).unwrap_or_default();
            let mut out = BytesMut::with_capacity(BATCH_HEADER_LEN + records.len() / 2 + 64);
            out.put_bytes(0, BATCH_HEADER_LEN);
            compression::compress(codec, records, &mut out)?;
            if out.len() - LOG_OVERHEAD > MAX_BATCH_LENGTH {
                return Err(BuildError::BatchTooLarge { size: out.len() });
            }
            out
        };
        let header = self.header(buf.len()).encode();
        buf[..BATCH_HEADER_LEN].copy_from_slice(&header);
        let crc = compute_crc(&buf).unwrap_or(0);
        buf[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
        Ok(buf.freeze())
    }
}

/// Adapts owned headers to the borrowed form the encoder walks.
fn owned_headers(
    headers: &[(String, Option<Bytes>)],
) -> impl Iterator<Item = (&str, Option<&[u8]>)> + Clone {
    headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_deref()))
}

/// Encoded size of a length-prefixed byte string (-1 for null).
fn nullable_len(bytes: Option<&[u8]>) -> Result<usize, BuildError> {
    match bytes {
        None => Ok(varint_len(-1)),
        Some(bytes) => {
            let len = i32::try_from(bytes.len())
                .map_err(|_| BuildError::RecordTooLarge { size: bytes.len() })?;
            Ok(varint_len(len) + bytes.len())
        }
    }
}

/// Writes a length-prefixed byte string (-1 for null). The length was
/// checked to fit an i32 by `nullable_len`.
fn put_nullable(buf: &mut BytesMut, bytes: Option<&[u8]>) {
    match bytes {
        None => put_varint(buf, -1),
        Some(bytes) => {
            put_varint(buf, i32::try_from(bytes.len()).unwrap_or(i32::MAX));
            buf.put_slice(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::header::{check_envelope, set_base_offset};
    use crate::record::validate_batch;

    fn record(timestamp: i64, value: &[u8]) -> NewRecord {
        NewRecord {
            timestamp,
            key: None,
            value: Some(Bytes::copy_from_slice(value)),
            headers: Vec::new(),
        }
    }

    #[test]
    fn single_record_batch_matches_kafka_bytes() {
        // Same bytes as kafka-python's DefaultRecordBatchBuilder for one
        // record (timestamp 0, null key, value "a"), header 61 + record 8.
        let mut builder = BatchBuilder::new(BatchOptions::default()).unwrap();
        builder.append(&record(0, b"a")).unwrap();
        let bytes = builder.build().unwrap();
        assert_eq!(bytes.len(), 61 + 8);
        assert_eq!(
            &bytes[61..],
            [0x0e, 0x00, 0x00, 0x00, 0x01, 0x02, b'a', 0x00]
        );
        let header = check_envelope(&bytes).unwrap();
        assert_eq!(header.record_count, 1);
        assert_eq!(header.last_offset_delta, 0);
        assert_eq!(header.producer_id, -1);
        assert_eq!(header.base_sequence, -1);
    }

    #[test]
    fn header_fields_follow_the_records() {
        let options = BatchOptions {
            base_offset: 42,
            partition_leader_epoch: 7,
            producer_id: 1_234,
            producer_epoch: 2,
            base_sequence: 99,
            transactional: true,
            ..BatchOptions::default()
        };
        let mut builder = BatchBuilder::new(options).unwrap();
        for (i, ts) in [1_000, 3_000, 2_000].into_iter().enumerate() {
            assert_eq!(
                builder.append(&record(ts, b"v")).unwrap(),
                i32::try_from(i).unwrap()
            );
        }
        let header = validate_batch(&builder.build().unwrap()).unwrap();
        assert_eq!(header.base_offset, 42);
        assert_eq!(header.partition_leader_epoch, 7);
        assert_eq!(header.base_timestamp, 1_000);
        assert_eq!(header.max_timestamp, 3_000);
        assert_eq!(header.last_offset_delta, 2);
        assert_eq!(header.record_count, 3);
        assert_eq!(header.producer_id, 1_234);
        assert_eq!(header.producer_epoch, 2);
        assert_eq!(header.base_sequence, 99);
        assert!(header.is_transactional());
        assert!(!header.is_control());
        assert_eq!(header.timestamp_type(), TimestampType::CreateTime);
    }

    #[test]
    fn timestamp_type_and_control_set_their_bits() {
        let options = BatchOptions {
            timestamp_type: TimestampType::LogAppendTime,
            control: true,
            ..BatchOptions::default()
        };
        let mut builder = BatchBuilder::new(options).unwrap();
        builder.append(&record(5, b"")).unwrap();
        let header = validate_batch(&builder.build().unwrap()).unwrap();
        assert_eq!(header.timestamp_type(), TimestampType::LogAppendTime);
        assert!(header.is_control());
    }

    #[test]
    fn every_codec_builds_a_batch_that_validates_and_reads_back() {
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let options = BatchOptions {
                compression: codec,
                ..BatchOptions::default()
            };
            let mut builder = BatchBuilder::new(options).unwrap();
            for i in 0..200 {
                builder
                    .append(&record(1_000 + i, format!("value number {i}").as_bytes()))
                    .unwrap();
            }
            let uncompressed = builder.estimated_size();
            let bytes = builder.build().unwrap();
            if codec != Compression::None {
                assert!(bytes.len() < uncompressed / 2, "{codec}: {}", bytes.len());
            }
            let header = validate_batch(&bytes).unwrap();
            assert_eq!(header.compression(), Ok(codec));
            assert_eq!(header.record_count, 200);
            assert_eq!(header.max_timestamp, 1_199);
            let batch = crate::record::RecordBatch::new(bytes).unwrap();
            let values: Vec<Bytes> = batch
                .records()
                .unwrap()
                .map(|r| r.unwrap().value.unwrap())
                .collect();
            assert_eq!(values.len(), 200);
            assert_eq!(&values[199][..], b"value number 199");
        }
    }

    #[test]
    fn producer_state_is_written_to_the_header() {
        let mut builder = BatchBuilder::new(BatchOptions::default()).unwrap();
        builder.append(&record(1, b"x")).unwrap();
        builder.set_producer_state(77, 3, 1_000);
        let header = validate_batch(&builder.build().unwrap()).unwrap();
        assert_eq!(
            (
                header.producer_id,
                header.producer_epoch,
                header.base_sequence
            ),
            (77, 3, 1_000)
        );
    }

    #[test]
    fn empty_builder_does_not_build() {
        let builder = BatchBuilder::new(BatchOptions::default()).unwrap();
        assert_eq!(builder.build(), Err(BuildError::Empty));
    }

    #[test]
    fn estimated_size_is_exact_and_tracks_appends() {
        let mut builder = BatchBuilder::with_capacity(BatchOptions::default(), 0).unwrap();
        assert_eq!(builder.estimated_size(), BATCH_HEADER_LEN);
        let r = NewRecord {
            timestamp: 10,
            key: Some(Bytes::from_static(b"key")),
            value: Some(Bytes::from(vec![7u8; 300])),
            headers: vec![("a".to_owned(), None), ("b".to_owned(), Some(Bytes::new()))],
        };
        let before = builder.estimated_size();
        let len = builder.encoded_len(&r).unwrap();
        builder.append(&r).unwrap();
        assert_eq!(builder.estimated_size(), before + len);
        let expected = builder.estimated_size();
        assert_eq!(builder.build().unwrap().len(), expected);
    }

    #[test]
    fn has_room_for_caps_at_batch_size_but_admits_a_first_record() {
        let mut builder = BatchBuilder::new(BatchOptions::default()).unwrap();
        let big = record(0, &[0u8; 100]);
        assert!(builder.has_room_for(&big, 10));
        builder.append(&big).unwrap();
        let limit = builder.estimated_size() + builder.encoded_len(&big).unwrap();
        assert!(builder.has_room_for(&big, limit));
        assert!(!builder.has_room_for(&big, limit - 1));
    }

    #[test]
    fn append_parts_encodes_like_append() {
        let owned = NewRecord {
            timestamp: 77,
            key: Some(Bytes::from_static(b"k")),
            value: None,
            headers: vec![("h".to_owned(), Some(Bytes::from_static(b"v")))],
        };
        let mut a = BatchBuilder::new(BatchOptions::default()).unwrap();
        a.append(&owned).unwrap();
        let mut b = BatchBuilder::new(BatchOptions::default()).unwrap();
        b.append_parts(77, Some(b"k"), None, &[("h", Some(b"v"))])
            .unwrap();
        assert_eq!(a.build().unwrap(), b.build().unwrap());
    }

    #[test]
    fn timestamps_before_the_first_record_use_negative_deltas() {
        let mut builder = BatchBuilder::new(BatchOptions::default()).unwrap();
        builder.append(&record(1_000, b"a")).unwrap();
        builder.append(&record(10, b"b")).unwrap();
        let bytes = builder.build().unwrap();
        let header = validate_batch(&bytes).unwrap();
        assert_eq!(header.base_timestamp, 1_000);
        assert_eq!(header.max_timestamp, 1_000);
    }

    #[test]
    fn timestamp_delta_overflow_is_an_error() {
        let mut builder = BatchBuilder::new(BatchOptions::default()).unwrap();
        builder.append(&record(i64::MIN, b"a")).unwrap();
        assert_eq!(
            builder.append(&record(i64::MAX, b"b")),
            Err(BuildError::TimestampDeltaOverflow {
                base: i64::MIN,
                timestamp: i64::MAX
            })
        );
        // The failed append left the batch as it was.
        assert_eq!(builder.record_count(), 1);
        assert!(validate_batch(&builder.build().unwrap()).is_ok());
    }

    #[test]
    fn stamping_the_base_offset_keeps_the_crc_valid() {
        let mut builder = BatchBuilder::new(BatchOptions::default()).unwrap();
        builder.append(&record(1, b"x")).unwrap();
        let mut bytes = builder.build().unwrap().to_vec();
        set_base_offset(&mut bytes, 9_000);
        assert_eq!(validate_batch(&bytes).unwrap().base_offset, 9_000);
    }

    #[test]
    fn attributes_combine_all_option_bits() {
        let options = BatchOptions {
            timestamp_type: TimestampType::LogAppendTime,
            transactional: true,
            control: true,
            ..BatchOptions::default()
        };
        assert_eq!(options.attributes(), 0x08 | 0x10 | 0x20);
        assert_eq!(BatchOptions::default().attributes(), 0);
    }
}
