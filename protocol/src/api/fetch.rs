//! Fetch (key 1, version 0): read record batches from partitions, long-poll.
//!
//! ```text
//! FetchRequest
//!   max_wait_ms              u32      longest time to hold the request while too little data is ready
//!   min_bytes                u32      answer as soon as this many bytes are ready (0: at once)
//!   max_bytes                u32      cap on record bytes in the whole response
//!   isolation_level          i8       0 read uncommitted: below the high watermark (durable);
//!                                     2 read unflushed: below the log end (1 is reserved)
//!   topics                   array of
//!     name                   string
//!     partitions             array of
//!       partition            u32
//!       fetch_offset         i64      first offset wanted
//!       partition_max_bytes  u32      cap on record bytes for this partition
//!
//! FetchResponse
//!   throttle_time_ms         u32      0 until quotas exist
//!   error_code               i16      request-level error; NONE normally
//!   topics                   array of
//!     name                   string
//!     partitions             array of
//!       partition            u32
//!       error_code           i16
//!       error_message        nullable string
//!       high_watermark       i64      last durable offset + 1: consumers read below it
//!       log_start_offset     i64      first offset still in the log
//!       log_end_offset       i64      offset the next appended record will get
//!       records              bytes    whole RecordBatch v2s, back to back (may be empty)
//! ```
//!
//! With `OFFSET_OUT_OF_RANGE`, `log_start_offset` and `high_watermark` still
//! carry the partition's valid range so the client can reset its position.
//!
//! Encoding never copies `records`: each becomes a chunk of its own in the
//! outgoing [`crate::FrameOut`], shared with the log segment it came from.

use bytes::Bytes;

use crate::api::ApiRequest;
use crate::api_key::ApiKey;
use crate::error_code::ErrorCode;
use crate::ids::PartitionId;
use crate::reader::{CodeKind, Decode, DecodeError, Reader};
use crate::writer::{Encode, EncodeError, Writer};

/// Smallest encoded [`FetchPartition`].
const MIN_PARTITION_BYTES: usize = 4 + 8 + 4;
/// Smallest encoded topic entry: empty name + empty partition array.
const MIN_TOPIC_BYTES: usize = 2 + 4;
/// Smallest encoded [`FetchPartitionResponse`].
const MIN_PARTITION_RESPONSE_BYTES: usize = 4 + 2 + 2 + 8 + 8 + 8 + 4;

/// Which records a fetch may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IsolationLevel {
    /// 0: every record below the high watermark, the durable ones: a crash
    /// never takes back a record read this way. Kafka's name is kept (there
    /// are no transactions, so nothing is held back for them).
    #[default]
    ReadUncommitted,
    /// 2: every record below the log end, as soon as it is appended, before
    /// it is fsynced. A killed broker keeps such records (they are in the
    /// page cache); a power failure or an fsync error may take them back.
    ReadUnflushed,
}

impl IsolationLevel {
    /// The wire value.
    pub const fn code(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadUnflushed => 2,
        }
    }

    /// The level for a wire value, if it is one this build serves (1,
    /// Kafka's read committed, is reserved).
    pub const fn from_code(code: i8) -> Option<Self> {
        match code {
            0 => Some(IsolationLevel::ReadUncommitted),
            2 => Some(IsolationLevel::ReadUnflushed),
            _ => None,
        }
    }

    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let offset = r.position();
        let code = r.i8("isolation_level")?;
        IsolationLevel::from_code(code).ok_or(DecodeError::UnknownCode {
            kind: CodeKind::IsolationLevel,
            what: "isolation_level",
            offset,
            code: i64::from(code),
        })
    }
}

/// Read record batches, waiting up to `max_wait_ms` for `min_bytes`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchRequest {
    /// Longest time the broker holds the request while fewer than
    /// `min_bytes` are ready.
    pub max_wait_ms: u32,
    /// Answer as soon as this many record bytes are ready.
    pub min_bytes: u32,
    /// Cap on record bytes in the whole response (at least one batch is
    /// returned even if it is larger, so a consumer always makes progress).
    pub max_bytes: u32,
    /// Which records may be returned.
    pub isolation_level: IsolationLevel,
    /// What to read, grouped by topic.
    pub topics: Vec<FetchTopic>,
}

/// The partitions to read in one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchTopic {
    /// Topic name.
    pub name: String,
    /// Positions per partition.
    pub partitions: Vec<FetchPartition>,
}

/// Where to read in one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FetchPartition {
    /// Partition number.
    pub partition: PartitionId,
    /// First offset wanted.
    pub fetch_offset: i64,
    /// Cap on record bytes for this partition.
    pub partition_max_bytes: u32,
}

/// Record batches per partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchResponse {
    /// How long the client should wait before its next request; 0 until
    /// quotas exist.
    pub throttle_time_ms: u32,
    /// An error for the request as a whole; `NONE` normally.
    pub error_code: ErrorCode,
    /// Results grouped by topic, in request order.
    pub topics: Vec<FetchTopicResponse>,
}

/// Results for one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchTopicResponse {
    /// Topic name.
    pub name: String,
    /// Results per partition.
    pub partitions: Vec<FetchPartitionResponse>,
}

/// Record batches and offsets of one partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchPartitionResponse {
    /// Partition number.
    pub partition: PartitionId,
    /// `NONE` on success.
    pub error_code: ErrorCode,
    /// Details of the error; null on success.
    pub error_message: Option<String>,
    /// Last durable offset + 1; records at or above it are not returned.
    pub high_watermark: i64,
    /// First offset still in the log.
    pub log_start_offset: i64,
    /// Offset the next appended record will get.
    pub log_end_offset: i64,
    /// Whole batches, back to back; shared with the log, never copied on
    /// encode.
    pub records: Bytes,
}

impl ApiRequest for FetchRequest {
    const KEY: ApiKey = ApiKey::Fetch;
    const VERSION: u16 = 0;
    type Response = FetchResponse;
}

impl Encode for FetchRequest {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.u32(self.max_wait_ms);
        w.u32(self.min_bytes);
        w.u32(self.max_bytes);
        w.i8(self.isolation_level.code());
        w.array_of(&self.topics)
    }
}

impl Decode for FetchRequest {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(FetchRequest {
            max_wait_ms: r.u32("max_wait_ms")?,
            min_bytes: r.u32("min_bytes")?,
            max_bytes: r.u32("max_bytes")?,
            isolation_level: IsolationLevel::decode(r)?,
            topics: r.array_of("topics", MIN_TOPIC_BYTES)?,
        })
    }
}

impl Encode for FetchTopic {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.name)?;
        w.array_of(&self.partitions)
    }
}

impl Decode for FetchTopic {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(FetchTopic {
            name: r.string("topic name")?,
            partitions: r.array_of("partitions", MIN_PARTITION_BYTES)?,
        })
    }
}

impl Encode for FetchPartition {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        self.partition.encode(w);
        w.i64(self.fetch_offset);
        w.u32(self.partition_max_bytes);
        Ok(())
    }
}

impl Decode for FetchPartition {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(FetchPartition {
            partition: PartitionId::decode(r)?,
            fetch_offset: r.i64("fetch_offset")?,
            partition_max_bytes: r.u32("partition_max_bytes")?,
        })
    }
}

impl Encode for FetchResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.u32(self.throttle_time_ms);
        w.i16(self.error_code.code());
        w.array_of(&self.topics)
    }
}

impl Decode for FetchResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(FetchResponse {
            throttle_time_ms: r.u32("throttle_time_ms")?,
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            topics: r.array_of("topics", MIN_TOPIC_BYTES)?,
        })
    }
}

impl Encode for FetchTopicResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.name)?;
        w.array_of(&self.partitions)
    }
}

impl Decode for FetchTopicResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(FetchTopicResponse {
            name: r.string("topic name")?,
            partitions: r.array_of("partitions", MIN_PARTITION_RESPONSE_BYTES)?,
        })
    }
}

impl Encode for FetchPartitionResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        self.partition.encode(w);
        w.i16(self.error_code.code());
        w.nullable_string(self.error_message.as_deref())?;
        w.i64(self.high_watermark);
        w.i64(self.log_start_offset);
        w.i64(self.log_end_offset);
        w.bytes(&self.records)
    }
}

impl Decode for FetchPartitionResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(FetchPartitionResponse {
            partition: PartitionId::decode(r)?,
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            error_message: r.nullable_string("error_message")?,
            high_watermark: r.i64("high_watermark")?,
            log_start_offset: r.i64("log_start_offset")?,
            log_end_offset: r.i64("log_end_offset")?,
            records: r.bytes("records")?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::testing::*;
    use crate::response::Response;
    use proptest::prelude::*;

    pub(crate) fn arb_request() -> impl Strategy<Value = FetchRequest> {
        let partition = (arb_partition(), any::<i64>(), any::<u32>()).prop_map(
            |(partition, fetch_offset, partition_max_bytes)| FetchPartition {
                partition,
                fetch_offset,
                partition_max_bytes,
            },
        );
        let topic = (arb_string(), arb_vec(partition))
            .prop_map(|(name, partitions)| FetchTopic { name, partitions });
        let level = prop_oneof![
            Just(IsolationLevel::ReadUncommitted),
            Just(IsolationLevel::ReadUnflushed)
        ];
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            level,
            arb_vec(topic),
        )
            .prop_map(
                |(max_wait_ms, min_bytes, max_bytes, isolation_level, topics)| FetchRequest {
                    max_wait_ms,
                    min_bytes,
                    max_bytes,
                    isolation_level,
                    topics,
                },
            )
    }

    pub(crate) fn arb_response() -> impl Strategy<Value = FetchResponse> {
        let partition = (
            arb_partition(),
            arb_error_code(),
            arb_nullable_string(),
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
            arb_bytes(),
        )
            .prop_map(
                |(
                    partition,
                    error_code,
                    error_message,
                    high_watermark,
                    log_start_offset,
                    log_end_offset,
                    records,
                )| FetchPartitionResponse {
                    partition,
                    error_code,
                    error_message,
                    high_watermark,
                    log_start_offset,
                    log_end_offset,
                    records,
                },
            );
        let topic = (arb_string(), arb_vec(partition))
            .prop_map(|(name, partitions)| FetchTopicResponse { name, partitions });
        (any::<u32>(), arb_error_code(), arb_vec(topic)).prop_map(
            |(throttle_time_ms, error_code, topics)| FetchResponse {
                throttle_time_ms,
                error_code,
                topics,
            },
        )
    }

    pub(crate) fn sample_request() -> FetchRequest {
        FetchRequest {
            max_wait_ms: 500,
            min_bytes: 1,
            max_bytes: 52_428_800,
            isolation_level: IsolationLevel::ReadUncommitted,
            topics: vec![FetchTopic {
                name: "orders".into(),
                partitions: vec![FetchPartition {
                    partition: PartitionId(0),
                    fetch_offset: 100,
                    partition_max_bytes: 1_048_576,
                }],
            }],
        }
    }

    pub(crate) fn sample_response() -> FetchResponse {
        FetchResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::None,
            topics: vec![FetchTopicResponse {
                name: "orders".into(),
                partitions: vec![
                    FetchPartitionResponse {
                        partition: PartitionId(0),
                        error_code: ErrorCode::None,
                        error_message: None,
                        high_watermark: 120,
                        log_start_offset: 0,
                        log_end_offset: 121,
                        records: Bytes::from_static(b"batch-100-119"),
                    },
                    FetchPartitionResponse {
                        partition: PartitionId(1),
                        error_code: ErrorCode::OffsetOutOfRange,
                        error_message: Some("offset 100 is outside [5, 50)".into()),
                        high_watermark: 50,
                        log_start_offset: 5,
                        log_end_offset: 50,
                        records: Bytes::new(),
                    },
                ],
            }],
        }
    }

    #[test]
    fn request_layout_matches_the_doc() {
        let bytes = round_trip(&sample_request());
        let expected: &[u8] = &[
            0, 0, 0x01, 0xf4, // max_wait_ms 500
            0, 0, 0, 1, // min_bytes 1
            0x03, 0x20, 0, 0, // max_bytes 50 MiB
            0, // isolation_level
            0, 0, 0, 1, // topics
            0, 6, b'o', b'r', b'd', b'e', b'r', b's', //
            0, 0, 0, 1, // partitions
            0, 0, 0, 0, // partition 0
            0, 0, 0, 0, 0, 0, 0, 100, // fetch_offset
            0, 0x10, 0, 0, // partition_max_bytes 1 MiB
        ];
        assert_eq!(&bytes[..], expected);
    }

    #[test]
    fn response_round_trips() {
        round_trip(&sample_response());
    }

    #[test]
    fn out_of_range_carries_the_valid_range() {
        let response =
            FetchResponse::decode_body(sample_response().encode_body().unwrap()).unwrap();
        let p = &response.topics[0].partitions[1];
        assert_eq!(p.error_code, ErrorCode::OffsetOutOfRange);
        assert_eq!((p.log_start_offset, p.high_watermark), (5, 50));
    }

    #[test]
    fn encoding_does_not_copy_records() {
        let records = Bytes::from(vec![7u8; 4096]);
        let mut response = sample_response();
        response.topics[0].partitions[0].records = records.clone();
        let frame = Response::Fetch(response).encode_frame(5).unwrap();
        let chunks: Vec<&Bytes> = frame.chunks().collect();
        // Header and fields, the records, the second partition's fields.
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[1].as_ptr(), records.as_ptr());
        assert_eq!(chunks[1].len(), records.len());
        let flat = frame.to_bytes();
        let announced = u32::from_be_bytes([flat[0], flat[1], flat[2], flat[3]]);
        assert_eq!(announced as usize, flat.len() - 4);
    }

    #[test]
    fn small_response_is_one_chunk() {
        let mut response = sample_response();
        for p in &mut response.topics[0].partitions {
            p.records = Bytes::new();
        }
        assert_eq!(
            Response::Fetch(response)
                .encode_frame(5)
                .unwrap()
                .chunk_count(),
            1
        );
    }

    #[test]
    fn truncated_request_fails_at_every_length() {
        assert_truncations_fail(&sample_request());
    }

    #[test]
    fn truncated_response_fails_at_every_length() {
        assert_truncations_fail(&sample_response());
    }

    #[test]
    fn read_unflushed_is_level_2() {
        let mut request = sample_request();
        request.isolation_level = IsolationLevel::ReadUnflushed;
        let bytes = request.encode_body().unwrap();
        assert_eq!(bytes[12], 2);
        round_trip(&request);
    }

    #[test]
    fn unknown_isolation_level_is_rejected() {
        for level in [1i8, -1, 7] {
            let mut bytes = sample_request().encode_body().unwrap().to_vec();
            bytes[12] = level.to_be_bytes()[0];
            assert_unknown_code::<FetchRequest>(bytes, CodeKind::IsolationLevel, i64::from(level));
        }
    }

    proptest! {
        #[test]
        fn request_round_trips(v in arb_request()) {
            round_trip(&v);
        }

        #[test]
        fn response_round_trips_any(v in arb_response()) {
            round_trip(&v);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in arb_input()) {
            decode_arbitrary::<FetchRequest>(bytes.clone())?;
            decode_arbitrary::<FetchResponse>(bytes)?;
        }

        #[test]
        fn corrupted_encodings_never_panic(req in arb_request(), resp in arb_response(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            decode_corrupted(&req, at, byte)?;
            decode_corrupted(&resp, at, byte)?;
        }
    }
}
