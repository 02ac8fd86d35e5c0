//! The fixed 61-byte header of a RecordBatch v2.
//!
//! ```text
//! offset  size  field
//!      0     8  base_offset             i64   first offset of the batch (stamped by the broker)
//!      8     4  batch_length            i32   bytes after this field: total length - 12
//!     12     4  partition_leader_epoch  i32
//!     16     1  magic                   i8    always 2
//!     17     4  crc                     u32   CRC-32C of bytes 21..end
//!     21     2  attributes              i16   bits 0-2 compression, bit 3 timestamp type,
//!                                             bit 4 transactional, bit 5 control,
//!                                             bit 6 delete horizon set
//!     23     4  last_offset_delta       i32   last record's offset - base_offset
//!     27     8  base_timestamp          i64   first record's timestamp (ms)
//!     35     8  max_timestamp           i64   largest record timestamp (ms)
//!     43     8  producer_id             i64   -1 when not idempotent
//!     51     2  producer_epoch          i16
//!     53     4  base_sequence           i32   -1 when not idempotent
//!     57     4  record_count            i32
//!     61     …  records
//! ```
//!
//! All integers are big-endian. Every offset below is derived from the one
//! before it so that the table and the code cannot drift apart.

use super::RecordError;

/// Position of `base_offset`.
pub const BASE_OFFSET_POS: usize = 0;
/// Position of `batch_length`.
pub const BATCH_LENGTH_POS: usize = BASE_OFFSET_POS + 8;
/// Bytes before the part that `batch_length` counts (base offset + length).
pub const LOG_OVERHEAD: usize = BATCH_LENGTH_POS + 4;
/// Position of `partition_leader_epoch`.
pub const PARTITION_LEADER_EPOCH_POS: usize = LOG_OVERHEAD;
/// Position of `magic`.
pub const MAGIC_POS: usize = PARTITION_LEADER_EPOCH_POS + 4;
/// Position of `crc`.
pub const CRC_POS: usize = MAGIC_POS + 1;
/// Position of `attributes`; the CRC covers from here to the end of the batch.
pub const ATTRIBUTES_POS: usize = CRC_POS + 4;
/// Position of `last_offset_delta`.
pub const LAST_OFFSET_DELTA_POS: usize = ATTRIBUTES_POS + 2;
/// Position of `base_timestamp`.
pub const BASE_TIMESTAMP_POS: usize = LAST_OFFSET_DELTA_POS + 4;
/// Position of `max_timestamp`.
pub const MAX_TIMESTAMP_POS: usize = BASE_TIMESTAMP_POS + 8;
/// Position of `producer_id`.
pub const PRODUCER_ID_POS: usize = MAX_TIMESTAMP_POS + 8;
/// Position of `producer_epoch`.
pub const PRODUCER_EPOCH_POS: usize = PRODUCER_ID_POS + 8;
/// Position of `base_sequence`.
pub const BASE_SEQUENCE_POS: usize = PRODUCER_EPOCH_POS + 2;
/// Position of `record_count`.
pub const RECORD_COUNT_POS: usize = BASE_SEQUENCE_POS + 4;
/// Length of the fixed header; records start here.
pub const BATCH_HEADER_LEN: usize = RECORD_COUNT_POS + 4;

/// The only batch format Runnel reads and writes.
pub const MAGIC_V2: i8 = 2;

const _: () = assert!(BATCH_HEADER_LEN == 61);

/// Attribute bits 0-2: the compression codec id.
pub const COMPRESSION_MASK: i16 = 0x07;
/// Attribute bit 3: set for `LogAppendTime`, clear for `CreateTime`.
pub const TIMESTAMP_TYPE_BIT: i16 = 0x08;
/// Attribute bit 4: the batch belongs to a transaction.
pub const TRANSACTIONAL_BIT: i16 = 0x10;
/// Attribute bit 5: the batch holds control records (transaction markers).
pub const CONTROL_BIT: i16 = 0x20;
/// Attribute bit 6: `base_timestamp` holds the delete horizon the log cleaner
/// set (KIP-534); record timestamps stay `base_timestamp + timestamp_delta`.
pub const DELETE_HORIZON_BIT: i16 = 0x40;

/// Timestamp Kafka writes where there is none (`RecordBatch.NO_TIMESTAMP`).
pub const NO_TIMESTAMP: i64 = -1;
/// Producer id of a batch from a producer that is not idempotent.
pub const NO_PRODUCER_ID: i64 = -1;
/// Producer epoch of a batch from a producer that is not idempotent.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// Base sequence of a batch from a producer that is not idempotent.
pub const NO_SEQUENCE: i32 = -1;

/// Compression codec of a batch (attributes bits 0-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Records are stored as they are.
    None,
    /// gzip (RFC 1952).
    Gzip,
    /// Snappy, in the xerial framing Kafka uses.
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// The attribute bits for this codec.
    pub fn id(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec for attribute bits, if they name one.
    pub fn from_id(id: i16) -> Result<Self, RecordError> {
        Ok(match id {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            other => return Err(RecordError::UnknownCompression(other)),
        })
    }

    /// The lower-case name used in configuration (`compression.type`).
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// Whether record timestamps were set by the producer or by the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    /// The producer's clock (`CreateTime`).
    CreateTime,
    /// The broker's clock at append (`LogAppendTime`). Every record of such a
    /// batch has the batch's `max_timestamp` as its timestamp.
    LogAppendTime,
}

impl TimestampType {
    /// The attribute bits for this timestamp type.
    pub fn attribute_bits(self) -> i16 {
        match self {
            TimestampType::CreateTime => 0,
            TimestampType::LogAppendTime => TIMESTAMP_TYPE_BIT,
        }
    }
}

/// The decoded fixed header of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes that follow the `batch_length` field.
    pub batch_length: i32,
    /// Leader epoch; Runnel writes 0 until it replicates.
    pub partition_leader_epoch: i32,
    /// Format version, 2.
    pub magic: i8,
    /// CRC-32C of attributes..end as stored in the batch.
    pub crc: u32,
    /// Raw attribute bits.
    pub attributes: i16,
    /// Offset of the last record relative to `base_offset`.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest timestamp of any record.
    pub max_timestamp: i64,
    /// Idempotent producer id, or -1.
    pub producer_id: i64,
    /// Idempotent producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub base_sequence: i32,
    /// Number of records that follow.
    pub record_count: i32,
}

impl BatchHeader {
    /// Decodes the header at the start of `buf` without checking the CRC or
    /// the records. Fails when `buf` is shorter than a header, when the magic
    /// is not 2, or when `batch_length` is too small to hold a header.
    pub fn parse(buf: &[u8]) -> Result<Self, RecordError> {
        let header: &[u8; BATCH_HEADER_LEN] = buf
            .get(..BATCH_HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(RecordError::Truncated {
                need: BATCH_HEADER_LEN,
                have: buf.len(),
            })?;
        let magic = i8::from_be_bytes([header[MAGIC_POS]]);
        if magic != MAGIC_V2 {
            return Err(RecordError::BadMagic(magic));
        }
        let h = BatchHeader {
            base_offset: i64::from_be_bytes(field(header, BASE_OFFSET_POS)),
            batch_length: i32::from_be_bytes(field(header, BATCH_LENGTH_POS)),
            partition_leader_epoch: i32::from_be_bytes(field(header, PARTITION_LEADER_EPOCH_POS)),
            magic,
            crc: u32::from_be_bytes(field(header, CRC_POS)),
            attributes: i16::from_be_bytes(field(header, ATTRIBUTES_POS)),
            last_offset_delta: i32::from_be_bytes(field(header, LAST_OFFSET_DELTA_POS)),
            base_timestamp: i64::from_be_bytes(field(header, BASE_TIMESTAMP_POS)),
            max_timestamp: i64::from_be_bytes(field(header, MAX_TIMESTAMP_POS)),
            producer_id: i64::from_be_bytes(field(header, PRODUCER_ID_POS)),
            producer_epoch: i16::from_be_bytes(field(header, PRODUCER_EPOCH_POS)),
            base_sequence: i32::from_be_bytes(field(header, BASE_SEQUENCE_POS)),
            record_count: i32::from_be_bytes(field(header, RECORD_COUNT_POS)),
        };
        let min_length = BATCH_HEADER_LEN - LOG_OVERHEAD;
        if usize::try_from(h.batch_length).map_or(true, |l| l < min_length) {
            return Err(RecordError::BadLength(h.batch_length));
        }
        if h.last_offset_delta < 0 {
            return Err(RecordError::BadOffsetDelta(h.last_offset_delta));
        }
        if h.record_count < 0 {
            return Err(RecordError::BadRecordCount(h.record_count));
        }
        Ok(h)
    }

    /// Length of the whole batch in bytes, header included.
    pub fn total_len(&self) -> usize {
        // `parse` guarantees batch_length is positive.
        usize::try_from(self.batch_length).unwrap_or(0) + LOG_OVERHEAD
    }

    /// Offset of the last record. Saturates at `i64::MAX` for a corrupt
    /// header whose offsets overflow; [`super::validate_batch`] rejects those.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// Number of offsets the batch occupies (`last_offset_delta + 1`).
    pub fn offset_count(&self) -> u64 {
        u64::from(self.last_offset_delta.unsigned_abs()) + 1
    }

    /// The compression codec named by the attributes.
    pub fn compression(&self) -> Result<Compression, RecordError> {
        Compression::from_id(self.attributes & COMPRESSION_MASK)
    }

    /// Whether timestamps are the producer's or the broker's.
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & TIMESTAMP_TYPE_BIT == 0 {
            TimestampType::CreateTime
        } else {
            TimestampType::LogAppendTime
        }
    }

    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    /// Whether the batch is a control batch (transaction markers).
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    /// Whether `base_timestamp` carries the log cleaner's delete horizon.
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes & DELETE_HORIZON_BIT != 0
    }

    /// The delete horizon (ms) when the batch has one: the time after which
    /// the cleaner may drop its tombstones and transaction markers.
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        self.has_delete_horizon().then_some(self.base_timestamp)
    }

    /// Whether the batch comes from an idempotent or transactional producer.
    pub fn has_producer_id(&self) -> bool {
        self.producer_id != NO_PRODUCER_ID
    }

    /// Encodes the header as the first [`BATCH_HEADER_LEN`] bytes of a batch,
    /// writing every field as it is, `crc` included.
    pub fn encode(&self) -> [u8; BATCH_HEADER_LEN] {
        let mut out = [0u8; BATCH_HEADER_LEN];
        put(&mut out, BASE_OFFSET_POS, self.base_offset.to_be_bytes());
        put(&mut out, BATCH_LENGTH_POS, self.batch_length.to_be_bytes());
        put(
            &mut out,
            PARTITION_LEADER_EPOCH_POS,
            self.partition_leader_epoch.to_be_bytes(),
        );
        put(&mut out, MAGIC_POS, self.magic.to_be_bytes());
        put(&mut out, CRC_POS, self.crc.to_be_bytes());
        put(&mut out, ATTRIBUTES_POS, self.attributes.to_be_bytes());
        put(
            &mut out,
            LAST_OFFSET_DELTA_POS,
            self.last_offset_delta.to_be_bytes(),
        );
        put(
            &mut out,
            BASE_TIMESTAMP_POS,
            self.base_timestamp.to_be_bytes(),
        );
        put(
            &mut out,
            MAX_TIMESTAMP_POS,
            self.max_timestamp.to_be_bytes(),
        );
        put(&mut out, PRODUCER_ID_POS, self.producer_id.to_be_bytes());
        put(
            &mut out,
            PRODUCER_EPOCH_POS,
            self.producer_epoch.to_be_bytes(),
        );
        put(
            &mut out,
            BASE_SEQUENCE_POS,
            self.base_sequence.to_be_bytes(),
        );
        put(&mut out, RECORD_COUNT_POS, self.record_count.to_be_bytes());
        out
    }
}

/// Copies `bytes` into the header at the fixed position `pos`.
fn put<const N: usize>(header: &mut [u8; BATCH_HEADER_LEN], pos: usize, bytes: [u8; N]) {
    header[pos..pos + N].copy_from_slice(&bytes);
}

fn field<const N: usize>(header: &[u8; BATCH_HEADER_LEN], pos: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&header[pos..pos + N]);
    out
}

/// CRC-32C of `batch[ATTRIBUTES_POS..]`, the value the `crc` field must hold.
/// Returns `None` when `batch` is shorter than a header.
pub fn compute_crc(batch: &[u8]) -> Option<u32> {
    batch.get(ATTRIBUTES_POS..).map(crc32c::crc32c)
}

/// Checks the envelope of one untrusted batch that should fill `batch`
/// exactly: header fields, total length and CRC. The records themselves are
/// not decoded; see [`super::validate_batch`] for the full check.
pub fn check_envelope(batch: &[u8]) -> Result<BatchHeader, RecordError> {
    let header = BatchHeader::parse(batch)?;
    let total = header.total_len();
    if total != batch.len() {
        return Err(RecordError::LengthMismatch {
            declared: total,
            actual: batch.len(),
        });
    }
    let actual = compute_crc(batch).unwrap_or(0);
    if actual != header.crc {
        return Err(RecordError::BadCrc {
            stored: header.crc,
            computed: actual,
        });
    }
    Ok(header)
}

/// Overwrites the `base_offset` field of an encoded batch. The CRC does not
/// cover it, so the batch stays valid.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    if let Some(slot) = batch.get_mut(BASE_OFFSET_POS..BASE_OFFSET_POS + 8) {
        slot.copy_from_slice(&base_offset.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BatchHeader {
        BatchHeader {
            base_offset: 0x0102_0304_0506_0708,
            batch_length: 49,
            partition_leader_epoch: 3,
            magic: MAGIC_V2,
            crc: 0xdead_beef,
            attributes: TRANSACTIONAL_BIT | TIMESTAMP_TYPE_BIT | Compression::Lz4.id(),
            last_offset_delta: 0,
            base_timestamp: 1_700_000_000_000,
            max_timestamp: 1_700_000_000_500,
            producer_id: 77,
            producer_epoch: 5,
            base_sequence: 12,
            record_count: 0,
        }
    }

    /// A header-only batch (no records) with a correct CRC.
    fn sealed(header: &BatchHeader) -> [u8; BATCH_HEADER_LEN] {
        let mut bytes = header.encode();
        let crc = compute_crc(&bytes).unwrap();
        bytes[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    #[test]
    fn encode_then_parse_round_trips() {
        let header = sample();
        assert_eq!(BatchHeader::parse(&header.encode()), Ok(header));
    }

    #[test]
    fn fields_sit_at_their_documented_positions() {
        let bytes = sample().encode();
        assert_eq!(
            bytes[BASE_OFFSET_POS..BATCH_LENGTH_POS],
            [1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert_eq!(bytes[MAGIC_POS], 2);
        assert_eq!(bytes[CRC_POS..ATTRIBUTES_POS], [0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(bytes[PRODUCER_ID_POS + 7], 77);
    }

    #[test]
    fn attribute_helpers_read_their_bits() {
        let header = sample();
        assert_eq!(header.compression(), Ok(Compression::Lz4));
        assert_eq!(header.timestamp_type(), TimestampType::LogAppendTime);
        assert!(header.is_transactional());
        assert!(!header.is_control());
        assert!(!header.has_delete_horizon());
        assert_eq!(header.delete_horizon_ms(), None);
        assert!(header.has_producer_id());
        let horizon = BatchHeader {
            attributes: DELETE_HORIZON_BIT | CONTROL_BIT,
            ..header
        };
        assert!(horizon.is_control());
        assert_eq!(horizon.delete_horizon_ms(), Some(1_700_000_000_000));
        assert_eq!(horizon.compression(), Ok(Compression::None));
        assert_eq!(horizon.timestamp_type(), TimestampType::CreateTime);
    }

    #[test]
    fn compression_ids_round_trip_and_unknown_ids_fail() {
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            assert_eq!(Compression::from_id(codec.id()), Ok(codec));
        }
        assert_eq!(
            Compression::from_id(5),
            Err(RecordError::UnknownCompression(5))
        );
    }

    #[test]
    fn short_buffer_is_truncated() {
        let bytes = sample().encode();
        assert_eq!(
            BatchHeader::parse(&bytes[..60]),
            Err(RecordError::Truncated { need: 61, have: 60 })
        );
    }

    #[test]
    fn wrong_magic_is_rejected() {
        let mut bytes = sample().encode();
        bytes[MAGIC_POS] = 1;
        assert_eq!(BatchHeader::parse(&bytes), Err(RecordError::BadMagic(1)));
    }

    #[test]
    fn length_smaller_than_a_header_is_rejected() {
        let header = BatchHeader {
            batch_length: 48,
            ..sample()
        };
        assert_eq!(
            BatchHeader::parse(&header.encode()),
            Err(RecordError::BadLength(48))
        );
    }

    #[test]
    fn negative_count_and_delta_are_rejected() {
        let count = BatchHeader {
            record_count: -1,
            ..sample()
        };
        assert_eq!(
            BatchHeader::parse(&count.encode()),
            Err(RecordError::BadRecordCount(-1))
        );
        let delta = BatchHeader {
            last_offset_delta: -2,
            ..sample()
        };
        assert_eq!(
            BatchHeader::parse(&delta.encode()),
            Err(RecordError::BadOffsetDelta(-2))
        );
    }

    #[test]
    fn envelope_checks_length_and_crc() {
        let bytes = sealed(&sample());
        assert!(check_envelope(&bytes).is_ok());
        let mut extra = bytes.to_vec();
        extra.push(0);
        assert_eq!(
            check_envelope(&extra),
            Err(RecordError::LengthMismatch {
                declared: 61,
                actual: 62
            })
        );
        let mut flipped = bytes;
        flipped[BASE_TIMESTAMP_POS] ^= 1;
        assert!(matches!(
            check_envelope(&flipped),
            Err(RecordError::BadCrc { .. })
        ));
    }

    #[test]
    fn fields_before_attributes_are_outside_the_crc() {
        let mut bytes = sealed(&sample());
        set_base_offset(&mut bytes, -5);
        bytes[PARTITION_LEADER_EPOCH_POS + 3] = 9;
        let header = check_envelope(&bytes).unwrap();
        assert_eq!(header.base_offset, -5);
        assert_eq!(header.partition_leader_epoch, 9);
    }

    #[test]
    fn set_base_offset_ignores_a_short_buffer() {
        let mut short = [0u8; 4];
        set_base_offset(&mut short, 1);
        assert_eq!(short, [0; 4]);
    }

    #[test]
    fn last_offset_saturates_on_a_corrupt_header() {
        let header = BatchHeader {
            base_offset: i64::MAX,
            last_offset_delta: 3,
            ..sample()
        };
        assert_eq!(header.last_offset(), i64::MAX);
        assert_eq!(header.offset_count(), 4);
        assert_eq!(sample().total_len(), 61);
    }
}
