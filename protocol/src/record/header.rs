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
//!                                             bit 4 transactional, bit 5 control
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

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;

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
    /// The broker's clock at append (`LogAppendTime`).
    LogAppendTime,
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

    /// Offset of the last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
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
