//! Produce (key 0, version 0): append record batches to partitions.
//!
//! ```text
//! ProduceRequest
//!   transactional_id        nullable string  reserved for transactions; must be null
//!   acks                    i16              -1 all (after fsync), 0 none (no response), 1 leader (after append)
//!   timeout_ms              u32              how long to wait for acks=-1 durability
//!   topics                  array of
//!     name                  string
//!     partitions            array of
//!       partition           u32
//!       records             bytes            one or more RecordBatch v2, back to back
//!
//! ProduceResponse
//!   topics                  array of
//!     name                  string
//!     partitions            array of
//!       partition           u32
//!       error_code          i16
//!       error_message       nullable string  null when error_code is NONE
//!       base_offset         i64              offset given to the first record; -1 on error
//!       log_append_time_ms  i64              broker time stamped on the batches with
//!                                            LogAppendTime; -1 otherwise
//!       log_start_offset    i64              the partition's log start offset; -1 on error
//!   throttle_time_ms        u32              0 until quotas exist
//! ```
//!
//! Decoding never copies `records`: they are slices of the request frame.
//! With `acks = 0` the broker sends no response at all.

use bytes::Bytes;

use crate::api::ApiRequest;
use crate::api_key::ApiKey;
use crate::error_code::ErrorCode;
use crate::ids::PartitionId;
use crate::reader::{CodeKind, Decode, DecodeError, Reader};
use crate::writer::{Encode, EncodeError, Writer};

/// `log_append_time_ms` when the topic uses CreateTime, and offsets on error.
pub const NO_VALUE: i64 = -1;

/// Smallest encoded [`ProducePartition`]: partition + empty records.
const MIN_PARTITION_BYTES: usize = 4 + 4;
/// Smallest encoded topic entry: empty name + empty partition array.
const MIN_TOPIC_BYTES: usize = 2 + 4;
/// Smallest encoded [`ProducePartitionResponse`].
const MIN_PARTITION_RESPONSE_BYTES: usize = 4 + 2 + 2 + 8 + 8 + 8;

/// When the broker acknowledges a produce request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Acks {
    /// -1: after the batches are durable (fsynced). The default.
    #[default]
    All,
    /// 0: never; the broker sends no response.
    None,
    /// 1: after the batches are appended, before they are durable.
    Leader,
}

impl Acks {
    /// The wire value.
    pub const fn code(self) -> i16 {
        match self {
            Acks::All => -1,
            Acks::None => 0,
            Acks::Leader => 1,
        }
    }

    /// The setting for a wire value, if it is one.
    pub const fn from_code(code: i16) -> Option<Self> {
        match code {
            -1 => Some(Acks::All),
            0 => Some(Acks::None),
            1 => Some(Acks::Leader),
            _ => None,
        }
    }

    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let offset = r.position();
        let code = r.i16("acks")?;
        Acks::from_code(code).ok_or(DecodeError::UnknownCode {
            kind: CodeKind::Acks,
            what: "acks",
            offset,
            code: i64::from(code),
        })
    }
}

/// Append record batches to partitions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProduceRequest {
    /// Reserved for transactions: must be null. A broker answers a non-null
    /// value with `INVALID_REQUEST` for every partition.
    pub transactional_id: Option<String>,
    /// When to acknowledge.
    pub acks: Acks,
    /// Longest wait for durability with [`Acks::All`] before answering
    /// `REQUEST_TIMED_OUT`.
    pub timeout_ms: u32,
    /// The data, grouped by topic.
    pub topics: Vec<ProduceTopic>,
}

/// The batches for one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProduceTopic {
    /// Topic name.
    pub name: String,
    /// The batches, per partition.
    pub partitions: Vec<ProducePartition>,
}

/// The batches for one partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProducePartition {
    /// Partition number.
    pub partition: PartitionId,
    /// One or more RecordBatch v2, back to back; a zero-copy slice of the
    /// request frame when decoded.
    pub records: Bytes,
}

/// The outcome per partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProduceResponse {
    /// Results, grouped by topic, in request order.
    pub topics: Vec<ProduceTopicResponse>,
    /// How long the client should wait before its next request; 0 until
    /// quotas exist.
    pub throttle_time_ms: u32,
}

/// Results for one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProduceTopicResponse {
    /// Topic name.
    pub name: String,
    /// Results per partition.
    pub partitions: Vec<ProducePartitionResponse>,
}

/// The outcome for one partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProducePartitionResponse {
    /// Partition number.
    pub partition: PartitionId,
    /// `NONE` on success.
    pub error_code: ErrorCode,
    /// Details of the error; null on success.
    pub error_message: Option<String>,
    /// Offset of the first record appended; -1 on error.
    pub base_offset: i64,
    /// Broker timestamp given to the batches when the topic uses
    /// LogAppendTime; -1 otherwise.
    pub log_append_time_ms: i64,
    /// The partition's log start offset after the append; -1 on error.
    pub log_start_offset: i64,
}

impl ProducePartitionResponse {
    /// A failed result: offsets and time are -1.
    pub fn error(partition: PartitionId, error_code: ErrorCode, message: Option<String>) -> Self {
        ProducePartitionResponse {
            partition,
            error_code,
            error_message: message,
            base_offset: NO_VALUE,
            log_append_time_ms: NO_VALUE,
            log_start_offset: NO_VALUE,
        }
    }
}

impl ApiRequest for ProduceRequest {
    const KEY: ApiKey = ApiKey::Produce;
    const VERSION: u16 = 0;
    type Response = ProduceResponse;
}

impl Encode for ProduceRequest {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.nullable_string(self.transactional_id.as_deref())?;
        w.i16(self.acks.code());
        w.u32(self.timeout_ms);
        w.array_of(&self.topics)
    }
}

impl Decode for ProduceRequest {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(ProduceRequest {
            transactional_id: r.nullable_string("transactional_id")?,
            acks: Acks::decode(r)?,
            timeout_ms: r.u32("timeout_ms")?,
            topics: r.array_of("topics", MIN_TOPIC_BYTES)?,
        })
    }
}

impl Encode for ProduceTopic {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.name)?;
        w.array_of(&self.partitions)
    }
}

impl Decode for ProduceTopic {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(ProduceTopic {
            name: r.string("topic name")?,
            partitions: r.array_of("partitions", MIN_PARTITION_BYTES)?,
        })
    }
}

impl Encode for ProducePartition {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        self.partition.encode(w);
        w.bytes(&self.records)
    }
}

impl Decode for ProducePartition {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(ProducePartition {
            partition: PartitionId::decode(r)?,
            records: r.bytes("records")?,
        })
    }
}

impl Encode for ProduceResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.array_of(&self.topics)?;
        w.u32(self.throttle_time_ms);
        Ok(())
    }
}

impl Decode for ProduceResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(ProduceResponse {
            topics: r.array_of("topics", MIN_TOPIC_BYTES)?,
            throttle_time_ms: r.u32("throttle_time_ms")?,
        })
    }
}

impl Encode for ProduceTopicResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.name)?;
        w.array_of(&self.partitions)
    }
}

impl Decode for ProduceTopicResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(ProduceTopicResponse {
            name: r.string("topic name")?,
            partitions: r.array_of("partitions", MIN_PARTITION_RESPONSE_BYTES)?,
        })
    }
}

impl Encode for ProducePartitionResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        self.partition.encode(w);
        w.i16(self.error_code.code());
        w.nullable_string(self.error_message.as_deref())?;
        w.i64(self.base_offset);
        w.i64(self.log_append_time_ms);
        w.i64(self.log_start_offset);
        Ok(())
    }
}

impl Decode for ProducePartitionResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(ProducePartitionResponse {
            partition: PartitionId::decode(r)?,
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            error_message: r.nullable_string("error_message")?,
            base_offset: r.i64("base_offset")?,
            log_append_time_ms: r.i64("log_append_time_ms")?,
            log_start_offset: r.i64("log_start_offset")?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::testing::*;
    use proptest::prelude::*;

    pub(crate) fn arb_request() -> impl Strategy<Value = ProduceRequest> {
        let partition = (arb_partition(), arb_bytes())
            .prop_map(|(partition, records)| ProducePartition { partition, records });
        let topic = (arb_string(), arb_vec(partition))
            .prop_map(|(name, partitions)| ProduceTopic { name, partitions });
        (
            arb_nullable_string(),
            prop_oneof![Just(Acks::All), Just(Acks::None), Just(Acks::Leader)],
            any::<u32>(),
            arb_vec(topic),
        )
            .prop_map(
                |(transactional_id, acks, timeout_ms, topics)| ProduceRequest {
                    transactional_id,
                    acks,
                    timeout_ms,
                    topics,
                },
            )
    }

    pub(crate) fn arb_response() -> impl Strategy<Value = ProduceResponse> {
        let partition = (
            arb_partition(),
            arb_error_code(),
            arb_nullable_string(),
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
        )
            .prop_map(
                |(
                    partition,
                    error_code,
                    error_message,
                    base_offset,
                    log_append_time_ms,
                    log_start_offset,
                )| ProducePartitionResponse {
                    partition,
                    error_code,
                    error_message,
                    base_offset,
                    log_append_time_ms,
                    log_start_offset,
                },
            );
        let topic = (arb_string(), arb_vec(partition))
            .prop_map(|(name, partitions)| ProduceTopicResponse { name, partitions });
        (arb_vec(topic), any::<u32>()).prop_map(|(topics, throttle_time_ms)| ProduceResponse {
            topics,
            throttle_time_ms,
        })
    }

    pub(crate) fn sample_request() -> ProduceRequest {
        ProduceRequest {
            transactional_id: None,
            acks: Acks::All,
            timeout_ms: 30_000,
            topics: vec![ProduceTopic {
                name: "orders".into(),
                partitions: vec![ProducePartition {
                    partition: PartitionId(1),
                    records: Bytes::from_static(b"\x00\x01\x02batch"),
                }],
            }],
        }
    }

    pub(crate) fn sample_response() -> ProduceResponse {
        ProduceResponse {
            topics: vec![ProduceTopicResponse {
                name: "orders".into(),
                partitions: vec![
                    ProducePartitionResponse {
                        partition: PartitionId(1),
                        error_code: ErrorCode::None,
                        error_message: None,
                        base_offset: 42,
                        log_append_time_ms: NO_VALUE,
                        log_start_offset: 0,
                    },
                    ProducePartitionResponse::error(
                        PartitionId(9),
                        ErrorCode::UnknownTopicOrPartition,
                        Some("no partition 9".into()),
                    ),
                ],
            }],
            throttle_time_ms: 0,
        }
    }

    #[test]
    fn request_layout_matches_the_doc() {
        let bytes = round_trip(&sample_request());
        let expected: &[u8] = &[
            0xff, 0xff, // transactional_id: null
            0xff, 0xff, // acks: -1
            0, 0, 0x75, 0x30, // timeout_ms: 30000
            0, 0, 0, 1, // topics: 1
            0, 6, b'o', b'r', b'd', b'e', b'r', b's', // name
            0, 0, 0, 1, // partitions: 1
            0, 0, 0, 1, // partition 1
            0, 0, 0, 8, 0, 1, 2, b'b', b'a', b't', b'c', b'h', // records
        ];
        assert_eq!(&bytes[..], expected);
    }

    #[test]
    fn response_round_trips() {
        round_trip(&sample_response());
    }

    #[test]
    fn decoded_records_are_not_copied() {
        let body = sample_request().encode_body().unwrap();
        let request = ProduceRequest::decode_body(body.clone()).unwrap();
        let records = &request.topics[0].partitions[0].records;
        let start = body.as_ptr() as usize;
        let at = records.as_ptr() as usize;
        assert!(at >= start && at + records.len() <= start + body.len());
    }

    #[test]
    fn encoded_records_are_a_chunk_of_their_own() {
        let request = sample_request();
        let mut w = Writer::frame();
        request.encode(&mut w).unwrap();
        let frame = w.finish().unwrap();
        let records = &request.topics[0].partitions[0].records;
        assert!(frame.chunks().any(|c| c.as_ptr() == records.as_ptr()));
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
    fn unknown_acks_are_rejected() {
        for acks in [2i16, -2, 100] {
            let mut bytes = sample_request().encode_body().unwrap().to_vec();
            bytes[2..4].copy_from_slice(&acks.to_be_bytes());
            assert_unknown_code::<ProduceRequest>(bytes, CodeKind::Acks, i64::from(acks));
        }
    }

    #[test]
    fn acks_codes_round_trip() {
        for acks in [Acks::All, Acks::None, Acks::Leader] {
            assert_eq!(Acks::from_code(acks.code()), Some(acks));
        }
    }

    #[test]
    fn hostile_topic_count_is_rejected() {
        let bytes = [0xff, 0xff, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            ProduceRequest::decode_body(Bytes::copy_from_slice(&bytes)),
            Err(DecodeError::CountTooLarge { .. })
        ));
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
            decode_arbitrary::<ProduceRequest>(bytes.clone())?;
            decode_arbitrary::<ProduceResponse>(bytes)?;
        }

        #[test]
        fn corrupted_encodings_never_panic(req in arb_request(), resp in arb_response(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            decode_corrupted(&req, at, byte)?;
            decode_corrupted(&resp, at, byte)?;
        }
    }
}
