//! ListOffsets (key 2, version 0): find offsets by position or by time.
//!
//! ```text
//! ListOffsetsRequest
//!   topics               array of
//!     name               string
//!     partitions         array of
//!       partition        u32
//!       timestamp        i64     -2 earliest, -1 latest, >= 0 first offset with a timestamp >= it
//!
//! ListOffsetsResponse
//!   topics               array of
//!     name               string
//!     partitions         array of
//!       partition        u32
//!       error_code       i16
//!       error_message    nullable string
//!       timestamp        i64     timestamp of the record found; -1 for earliest/latest or none
//!       offset           i64     the offset found; -1 if none
//! ```
//!
//! "Earliest" is the log start offset, "latest" the high watermark (the
//! offset the next readable record will have). A time after every record
//! finds nothing: offset -1.

use crate::api::ApiRequest;
use crate::api_key::ApiKey;
use crate::error_code::ErrorCode;
use crate::ids::PartitionId;
use crate::reader::{CodeKind, Decode, DecodeError, Reader};
use crate::writer::{Encode, EncodeError, Writer};

/// The `timestamp` value asking for the earliest offset.
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// The `timestamp` value asking for the latest offset.
pub const LATEST_TIMESTAMP: i64 = -1;
/// `timestamp` or `offset` in a response when there is none.
pub const NONE: i64 = -1;

/// Smallest encoded [`ListOffsetsPartition`].
const MIN_PARTITION_BYTES: usize = 4 + 8;
/// Smallest encoded topic entry.
const MIN_TOPIC_BYTES: usize = 2 + 4;
/// Smallest encoded [`ListOffsetsPartitionResponse`].
const MIN_PARTITION_RESPONSE_BYTES: usize = 4 + 2 + 2 + 8 + 8;

/// Which offset to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OffsetSpec {
    /// -2: the log start offset.
    Earliest,
    /// -1: the high watermark.
    #[default]
    Latest,
    /// A time in ms since the epoch (never negative): the first offset whose
    /// record timestamp is at or after it.
    Timestamp(i64),
}

impl OffsetSpec {
    /// The wire value.
    pub const fn code(self) -> i64 {
        match self {
            OffsetSpec::Earliest => EARLIEST_TIMESTAMP,
            OffsetSpec::Latest => LATEST_TIMESTAMP,
            OffsetSpec::Timestamp(ts) => ts,
        }
    }

    /// The spec for a wire value; other negative values are not one.
    pub const fn from_code(code: i64) -> Option<Self> {
        match code {
            EARLIEST_TIMESTAMP => Some(OffsetSpec::Earliest),
            LATEST_TIMESTAMP => Some(OffsetSpec::Latest),
            ts if ts >= 0 => Some(OffsetSpec::Timestamp(ts)),
            _ => None,
        }
    }

    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let offset = r.position();
        let code = r.i64("timestamp")?;
        OffsetSpec::from_code(code).ok_or(DecodeError::UnknownCode {
            kind: CodeKind::OffsetSpec,
            what: "timestamp",
            offset,
            code,
        })
    }
}

/// Look up offsets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListOffsetsRequest {
    /// The lookups, grouped by topic.
    pub topics: Vec<ListOffsetsTopic>,
}

/// The lookups in one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListOffsetsTopic {
    /// Topic name.
    pub name: String,
    /// One lookup per partition.
    pub partitions: Vec<ListOffsetsPartition>,
}

/// One lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListOffsetsPartition {
    /// Partition number.
    pub partition: PartitionId,
    /// What to find; `timestamp` on the wire.
    pub spec: OffsetSpec,
}

/// The offsets found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListOffsetsResponse {
    /// Results, grouped by topic, in request order.
    pub topics: Vec<ListOffsetsTopicResponse>,
}

/// Results for one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListOffsetsTopicResponse {
    /// Topic name.
    pub name: String,
    /// One result per partition.
    pub partitions: Vec<ListOffsetsPartitionResponse>,
}

/// The offset found in one partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListOffsetsPartitionResponse {
    /// Partition number.
    pub partition: PartitionId,
    /// `NONE` on success.
    pub error_code: ErrorCode,
    /// Details of the error; null on success.
    pub error_message: Option<String>,
    /// Timestamp of the record found by time; -1 otherwise.
    pub timestamp: i64,
    /// The offset found; -1 if none.
    pub offset: i64,
}

impl ApiRequest for ListOffsetsRequest {
    const KEY: ApiKey = ApiKey::ListOffsets;
    const VERSION: u16 = 0;
    type Response = ListOffsetsResponse;
}

impl Encode for ListOffsetsRequest {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.array_of(&self.topics)
    }
}

impl Decode for ListOffsetsRequest {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(ListOffsetsRequest {
            topics: r.array_of("topics", MIN_TOPIC_BYTES)?,
        })
    }
}

impl Encode for ListOffsetsTopic {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.name)?;
        w.array_of(&self.partitions)
    }
}

impl Decode for ListOffsetsTopic {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(ListOffsetsTopic {
            name: r.string("topic name")?,
            partitions: r.array_of("partitions", MIN_PARTITION_BYTES)?,
        })
    }
}

impl Encode for ListOffsetsPartition {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        self.partition.encode(w);
        w.i64(self.spec.code());
        Ok(())
    }
}

impl Decode for ListOffsetsPartition {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(ListOffsetsPartition {
            partition: PartitionId::decode(r)?,
            spec: OffsetSpec::decode(r)?,
        })
    }
}

impl Encode for ListOffsetsResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.array_of(&self.topics)
    }
}

impl Decode for ListOffsetsResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(ListOffsetsResponse {
            topics: r.array_of("topics", MIN_TOPIC_BYTES)?,
        })
    }
}

impl Encode for ListOffsetsTopicResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.name)?;
        w.array_of(&self.partitions)
    }
}

impl Decode for ListOffsetsTopicResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(ListOffsetsTopicResponse {
            name: r.string("topic name")?,
            partitions: r.array_of("partitions", MIN_PARTITION_RESPONSE_BYTES)?,
        })
    }
}

impl Encode for ListOffsetsPartitionResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        self.partition.encode(w);
        w.i16(self.error_code.code());
        w.nullable_string(self.error_message.as_deref())?;
        w.i64(self.timestamp);
        w.i64(self.offset);
        Ok(())
    }
}

impl Decode for ListOffsetsPartitionResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(ListOffsetsPartitionResponse {
            partition: PartitionId::decode(r)?,
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            error_message: r.nullable_string("error_message")?,
            timestamp: r.i64("timestamp")?,
            offset: r.i64("offset")?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::testing::*;
    use proptest::prelude::*;

    fn arb_spec() -> impl Strategy<Value = OffsetSpec> {
        prop_oneof![
            Just(OffsetSpec::Earliest),
            Just(OffsetSpec::Latest),
            (0..=i64::MAX).prop_map(OffsetSpec::Timestamp),
        ]
    }

    pub(crate) fn arb_request() -> impl Strategy<Value = ListOffsetsRequest> {
        let partition = (arb_partition(), arb_spec())
            .prop_map(|(partition, spec)| ListOffsetsPartition { partition, spec });
        let topic = (arb_string(), arb_vec(partition))
            .prop_map(|(name, partitions)| ListOffsetsTopic { name, partitions });
        arb_vec(topic).prop_map(|topics| ListOffsetsRequest { topics })
    }

    pub(crate) fn arb_response() -> impl Strategy<Value = ListOffsetsResponse> {
        let partition = (
            arb_partition(),
            arb_error_code(),
            arb_nullable_string(),
            any::<i64>(),
            any::<i64>(),
        )
            .prop_map(
                |(partition, error_code, error_message, timestamp, offset)| {
                    ListOffsetsPartitionResponse {
                        partition,
                        error_code,
                        error_message,
                        timestamp,
                        offset,
                    }
                },
            );
        let topic = (arb_string(), arb_vec(partition))
            .prop_map(|(name, partitions)| ListOffsetsTopicResponse { name, partitions });
        arb_vec(topic).prop_map(|topics| ListOffsetsResponse { topics })
    }

    pub(crate) fn sample_request() -> ListOffsetsRequest {
        ListOffsetsRequest {
            topics: vec![ListOffsetsTopic {
                name: "orders".into(),
                partitions: vec![
                    ListOffsetsPartition {
                        partition: PartitionId(0),
                        spec: OffsetSpec::Earliest,
                    },
                    ListOffsetsPartition {
                        partition: PartitionId(1),
                        spec: OffsetSpec::Latest,
                    },
                    ListOffsetsPartition {
                        partition: PartitionId(2),
                        spec: OffsetSpec::Timestamp(1_700_000_000_000),
                    },
                ],
            }],
        }
    }

    pub(crate) fn sample_response() -> ListOffsetsResponse {
        ListOffsetsResponse {
            topics: vec![ListOffsetsTopicResponse {
                name: "orders".into(),
                partitions: vec![
                    ListOffsetsPartitionResponse {
                        partition: PartitionId(0),
                        error_code: ErrorCode::None,
                        error_message: None,
                        timestamp: NONE,
                        offset: 0,
                    },
                    ListOffsetsPartitionResponse {
                        partition: PartitionId(2),
                        error_code: ErrorCode::None,
                        error_message: None,
                        timestamp: 1_700_000_000_123,
                        offset: 77,
                    },
                ],
            }],
        }
    }

    #[test]
    fn request_layout_matches_the_doc() {
        let bytes = round_trip(&sample_request());
        assert_eq!(bytes.len(), 4 + 8 + 4 + 3 * 12);
        // The first partition's timestamp is -2 (earliest).
        assert_eq!(&bytes[20..28], &(-2i64).to_be_bytes());
        assert_eq!(&bytes[32..40], &(-1i64).to_be_bytes());
    }

    #[test]
    fn response_round_trips() {
        round_trip(&sample_response());
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
    fn negative_timestamps_other_than_sentinels_are_rejected() {
        for ts in [-3i64, i64::MIN] {
            let mut bytes = sample_request().encode_body().unwrap().to_vec();
            bytes[20..28].copy_from_slice(&ts.to_be_bytes());
            assert_unknown_code::<ListOffsetsRequest>(bytes, CodeKind::OffsetSpec, ts);
        }
    }

    #[test]
    fn spec_codes_round_trip() {
        for spec in [
            OffsetSpec::Earliest,
            OffsetSpec::Latest,
            OffsetSpec::Timestamp(0),
        ] {
            assert_eq!(OffsetSpec::from_code(spec.code()), Some(spec));
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
            decode_arbitrary::<ListOffsetsRequest>(bytes.clone())?;
            decode_arbitrary::<ListOffsetsResponse>(bytes)?;
        }

        #[test]
        fn corrupted_encodings_never_panic(req in arb_request(), resp in arb_response(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            decode_corrupted(&req, at, byte)?;
            decode_corrupted(&resp, at, byte)?;
        }
    }
}
