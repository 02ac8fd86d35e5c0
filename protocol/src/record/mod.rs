//! Apache Kafka's RecordBatch v2 (magic 2), byte for byte.
//!
//! One format serves the wire and the disk: the producer builds a batch, the
//! broker validates it, stamps `base_offset` and stores it as received, and
//! the consumer decodes it.

mod header;

pub use header::{
    ATTRIBUTES_POS, BASE_OFFSET_POS, BASE_SEQUENCE_POS, BASE_TIMESTAMP_POS, BATCH_HEADER_LEN,
    BATCH_LENGTH_POS, BatchHeader, CRC_POS, Compression, LAST_OFFSET_DELTA_POS, LOG_OVERHEAD,
    MAGIC_POS, MAGIC_V2, MAX_TIMESTAMP_POS, PARTITION_LEADER_EPOCH_POS, PRODUCER_EPOCH_POS,
    PRODUCER_ID_POS, RECORD_COUNT_POS, TimestampType, check_envelope, compute_crc,
    set_base_offset,
};

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
}
