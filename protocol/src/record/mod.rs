//! Apache Kafka's RecordBatch v2 (magic 2), byte for byte.
//!
//! One format serves the wire and the disk: the producer builds a batch, the
//! broker validates it, stamps `base_offset` and stores it as received, and
//! the consumer decodes it.
//!
//! ```text
//! batch   = header (61 bytes, see header.rs) record*
//! record  = length          varint   bytes after this field
//!           attributes      i8       unused, 0
//!           timestampDelta  varlong  timestamp - base_timestamp
//!           offsetDelta     varint   offset - base_offset
//!           keyLength       varint   -1 = null key
//!           key             bytes
//!           valueLength     varint   -1 = null value
//!           value           bytes
//!           headerCount     varint
//!           header*         keyLength varint, key UTF-8 (never null),
//!                           valueLength varint (-1 = null), value bytes
//! ```
//!
//! Varints are zig-zag encoded LEB128 ([`varint`]). When the compression
//! bits are set, everything after the fixed header is the compressed form of
//! the record sequence ([`compression`]); readers and the validator
//! decompress it, under a size limit, and then walk the records as usual.
//!
//! # Modules
//! - [`varint`]: Kafka's varint/varlong codec.
//! - [`compression`]: the gzip, snappy, lz4 and zstd codecs, with bounded
//!   decompression.
//! - `header`: the fixed header, its envelope check (length + CRC-32C) and
//!   `set_base_offset`.
//! - `builder`: [`BatchBuilder`] encodes records into a batch.
//! - `batch`: [`RecordBatch`], one checked batch, and [`Records`], the
//!   zero-copy iterator over its records.
//! - `batches`: [`Batches`] splits back-to-back batches (a fetch response, a
//!   segment) and stops cleanly at a partial tail.
//! - `view`: [`Record`], a decoded record whose key, value and header values
//!   are slices of the batch.
//! - `validate`: [`validate_batch`], the full check of an untrusted batch.
//!
//! Invariant shared by the reader and [`validate_batch`]: both walk records
//! with the same private cursor (`decode`), so a batch that validates is a
//! batch whose records iterate without error.

mod batch;
mod batches;
mod builder;
pub mod compression;
mod decode;
mod header;
mod validate;
pub mod varint;
mod view;

pub use batch::{RecordBatch, Records};
pub use batches::{Batches, PartialBatch};
pub use builder::{BatchBuilder, BatchOptions, BuildError, DEFAULT_BUILDER_CAPACITY, NewRecord};
pub use compression::{CompressionError, DEFAULT_MAX_DECOMPRESSED_BYTES};
pub use header::{
    ATTRIBUTES_POS, BASE_OFFSET_POS, BASE_SEQUENCE_POS, BASE_TIMESTAMP_POS, BATCH_HEADER_LEN,
    BATCH_LENGTH_POS, BatchHeader, COMPRESSION_MASK, CONTROL_BIT, CRC_POS, Compression,
    DELETE_HORIZON_BIT, LAST_OFFSET_DELTA_POS, LOG_OVERHEAD, MAGIC_POS, MAGIC_V2,
    MAX_TIMESTAMP_POS, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP,
    PARTITION_LEADER_EPOCH_POS, PRODUCER_EPOCH_POS, PRODUCER_ID_POS, RECORD_COUNT_POS,
    TIMESTAMP_TYPE_BIT, TRANSACTIONAL_BIT, TimestampType, check_envelope, compute_crc,
    set_base_offset,
};
pub use validate::{validate_batch, validate_batch_with_limit};
pub use view::{Header, HeaderIter, Record, RecordHeaders};

use std::fmt;

/// Why a batch was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Fewer bytes than the structure needs.
    #[error("truncated batch: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes required.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// The magic byte is not 2.
    #[error("unsupported batch magic {0} (only magic 2 is supported)")]
    BadMagic(i8),
    /// `batch_length` is too small to hold a header.
    #[error("invalid batch length {0}")]
    BadLength(i32),
    /// The declared length disagrees with the bytes present.
    #[error("batch length mismatch: header declares {declared} bytes, found {actual}")]
    LengthMismatch {
        /// Total length from the header.
        declared: usize,
        /// Bytes actually present.
        actual: usize,
    },
    /// The stored CRC does not match the bytes.
    #[error("batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    BadCrc {
        /// CRC in the header.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// `last_offset_delta` is negative.
    #[error("invalid last offset delta {0}")]
    BadOffsetDelta(i32),
    /// `record_count` is negative.
    #[error("invalid record count {0}")]
    BadRecordCount(i32),
    /// Compression bits name no known codec.
    #[error("unknown compression codec id {0}")]
    UnknownCompression(i16),
    /// The compressed records could not be decompressed: corrupt, or
    /// larger than the decompression limit.
    #[error(transparent)]
    Compression(#[from] CompressionError),
    /// A varint field of a record is malformed.
    #[error("record {index}: bad {field} varint at byte {position}")]
    BadVarint {
        /// Position of the record in the batch, from 0.
        index: u32,
        /// Which field.
        field: RecordField,
        /// Byte position of the varint within the batch.
        position: usize,
        /// What is wrong with it.
        #[source]
        source: varint::VarintError,
    },
    /// A length or count field holds a negative value it may not hold (only
    /// key, value and header value lengths may be -1, meaning null).
    #[error("record {index}: invalid {field} {value}")]
    InvalidLength {
        /// Position of the record in the batch, from 0.
        index: u32,
        /// Which field.
        field: RecordField,
        /// The value found.
        value: i32,
    },
    /// A record, or a field inside it, runs past the end of the record's
    /// declared length or of the batch.
    #[error("record {index} truncated at byte {position}: need {need} bytes, {have} left")]
    TruncatedRecord {
        /// Position of the record in the batch, from 0.
        index: u32,
        /// Byte position within the batch where the missing part starts.
        position: usize,
        /// Bytes the record or field declares.
        need: usize,
        /// Bytes left in the record (or batch).
        have: usize,
    },
    /// A record's fields end before its declared length does.
    #[error("record {index}: length declares {declared} bytes but its fields take {actual}")]
    RecordLengthMismatch {
        /// Position of the record in the batch, from 0.
        index: u32,
        /// Length from the record's length field.
        declared: usize,
        /// Bytes its fields took.
        actual: usize,
    },
    /// The records end before `record_count` of them were read.
    #[error("record count mismatch: header declares {declared} records, batch holds {actual}")]
    RecordCountMismatch {
        /// `record_count` from the header.
        declared: u32,
        /// Records actually present.
        actual: u32,
    },
    /// Bytes remain after the `record_count`-th record.
    #[error("{bytes} trailing bytes after the last of {records} records")]
    TrailingBytes {
        /// `record_count` from the header.
        records: u32,
        /// Bytes left over.
        bytes: usize,
    },
    /// Offset deltas must strictly increase from one record to the next.
    #[error("record {index}: offset delta {delta} does not follow {previous}")]
    OffsetDeltaNotIncreasing {
        /// Position of the record in the batch, from 0.
        index: u32,
        /// Offset delta of the record before (-1 for the first record).
        previous: i32,
        /// Offset delta of this record.
        delta: i32,
    },
    /// The last record's offset delta differs from `last_offset_delta`.
    #[error("last offset delta mismatch: header declares {declared}, last record has {actual}")]
    LastOffsetDeltaMismatch {
        /// `last_offset_delta` from the header.
        declared: i32,
        /// Offset delta of the last record.
        actual: i32,
    },
    /// `base_offset + offset_delta` does not fit in an i64.
    #[error("record {index}: offset {base_offset} + {delta} overflows")]
    OffsetOverflow {
        /// Position of the record in the batch, from 0.
        index: u32,
        /// `base_offset` from the header.
        base_offset: i64,
        /// The record's offset delta.
        delta: i32,
    },
    /// `base_timestamp + timestamp_delta` does not fit in an i64.
    #[error("record {index}: timestamp {base_timestamp} + {delta} overflows")]
    TimestampOverflow {
        /// Position of the record in the batch, from 0.
        index: u32,
        /// `base_timestamp` from the header.
        base_timestamp: i64,
        /// The record's timestamp delta.
        delta: i64,
    },
    /// A header key is not UTF-8.
    #[error("record {index}: header key at byte {position} is not UTF-8")]
    HeaderKeyNotUtf8 {
        /// Position of the record in the batch, from 0.
        index: u32,
        /// Byte position of the key within the batch.
        position: usize,
        /// Where the UTF-8 decoding failed.
        #[source]
        source: std::str::Utf8Error,
    },
}

/// A variable-length field of a record, named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordField {
    /// The record's length prefix.
    Length,
    /// `timestampDelta`.
    TimestampDelta,
    /// `offsetDelta`.
    OffsetDelta,
    /// `keyLength`.
    KeyLength,
    /// `valueLength`.
    ValueLength,
    /// The header count.
    HeaderCount,
    /// A header's key length.
    HeaderKeyLength,
    /// A header's value length.
    HeaderValueLength,
}

impl RecordField {
    /// The field's name as used in messages.
    pub fn name(self) -> &'static str {
        match self {
            RecordField::Length => "record length",
            RecordField::TimestampDelta => "timestamp delta",
            RecordField::OffsetDelta => "offset delta",
            RecordField::KeyLength => "key length",
            RecordField::ValueLength => "value length",
            RecordField::HeaderCount => "header count",
            RecordField::HeaderKeyLength => "header key length",
            RecordField::HeaderValueLength => "header value length",
        }
    }
}

impl fmt::Display for RecordField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
