//! OffsetFetch (key 9, version 0): read a consumer group's committed
//! offsets.
//!
//! ```text
//! OffsetFetchRequest
//!   group_id               string
//!   member_id              string   "" for a read from outside the group (admin tools)
//!   member_epoch           i32      the member's current epoch; -1 with an empty member_id
//!   topics                 nullable array of   null: every offset the group has committed
//!     name                 string
//!     partitions           array of u32
//!
//! OffsetFetchResponse
//!   topics                 array of
//!     name                 string
//!     partitions           array of
//!       partition          u32
//!       committed_offset   i64      -1 when nothing is committed
//!       committed_metadata nullable string
//!       error_code         i16
//!       error_message      nullable string
//!   error_code             i16      for the group: NONE, INVALID_GROUP_ID, UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH, ...
//!   error_message          nullable string
//! ```
//!
//! A member reading the positions to start from sends its id and epoch and
//! is fenced like a commit (`UNKNOWN_MEMBER_ID`, `STALE_MEMBER_EPOCH`,
//! `FENCED_MEMBER_EPOCH` in the group-level `error_code`, with no topics).
//! A group that does not exist has no committed offsets: every partition
//! asked for comes back with -1, and null `topics` gives an empty list.

use crate::api::ApiRequest;
use crate::api_key::ApiKey;
use crate::error_code::ErrorCode;
use crate::ids::PartitionId;
use crate::reader::{Decode, DecodeError, Reader};
use crate::writer::{Encode, EncodeError, Writer};

/// `committed_offset` of a partition with no committed offset.
pub const NO_OFFSET: i64 = -1;

/// Smallest encoded topic entry.
const MIN_TOPIC_BYTES: usize = 2 + 4;
/// Encoded partition number.
const PARTITION_BYTES: usize = 4;
/// Smallest encoded [`OffsetFetchPartitionResponse`].
const MIN_PARTITION_RESPONSE_BYTES: usize = 4 + 8 + 2 + 2 + 2;

/// Read committed offsets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetFetchRequest {
    /// The group.
    pub group_id: String,
    /// The reading member; empty for a read from outside the group.
    pub member_id: String,
    /// The member's current epoch; -1 with an empty `member_id`.
    pub member_epoch: i32,
    /// Partitions to read; `None` for every committed offset.
    pub topics: Option<Vec<OffsetFetchTopic>>,
}

/// Partitions of one topic to read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetFetchTopic {
    /// Topic name.
    pub name: String,
    /// Partition numbers.
    pub partitions: Vec<PartitionId>,
}

/// The committed offsets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetFetchResponse {
    /// Offsets, grouped by topic: in request order, or by name for a null
    /// request list.
    pub topics: Vec<OffsetFetchTopicResponse>,
    /// An error for the whole group; `NONE` otherwise.
    pub error_code: ErrorCode,
    /// Details of the group error; null on success.
    pub error_message: Option<String>,
}

/// Offsets of one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetFetchTopicResponse {
    /// Topic name.
    pub name: String,
    /// One entry per partition.
    pub partitions: Vec<OffsetFetchPartitionResponse>,
}

/// The committed offset of one partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetFetchPartitionResponse {
    /// Partition number.
    pub partition: PartitionId,
    /// The committed offset; [`NO_OFFSET`] when none.
    pub committed_offset: i64,
    /// The text committed with it.
    pub committed_metadata: Option<String>,
    /// `NONE` on success.
    pub error_code: ErrorCode,
    /// Details of the error; null on success.
    pub error_message: Option<String>,
}

impl OffsetFetchResponse {
    /// A group-level failure: no topics.
    pub fn error(error_code: ErrorCode, message: impl Into<String>) -> Self {
        OffsetFetchResponse {
            topics: Vec::new(),
            error_code,
            error_message: Some(message.into()),
        }
    }
}

impl ApiRequest for OffsetFetchRequest {
    const KEY: ApiKey = ApiKey::OffsetFetch;
    const VERSION: u16 = 0;
    type Response = OffsetFetchResponse;
}

impl Encode for OffsetFetchRequest {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.group_id)?;
        w.string(&self.member_id)?;
        w.i32(self.member_epoch);
        w.nullable_array(self.topics.as_deref(), |w, t| t.encode(w))
    }
}

impl Decode for OffsetFetchRequest {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(OffsetFetchRequest {
            group_id: r.string("group_id")?,
            member_id: r.string("member_id")?,
            member_epoch: r.i32("member_epoch")?,
            topics: r.nullable_array("topics", MIN_TOPIC_BYTES, OffsetFetchTopic::decode)?,
        })
    }
}

impl Encode for OffsetFetchTopic {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.name)?;
        w.array(&self.partitions, |w, p| {
            p.encode(w);
            Ok(())
        })
    }
}

impl Decode for OffsetFetchTopic {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(OffsetFetchTopic {
            name: r.string("topic name")?,
            partitions: r.array("partitions", PARTITION_BYTES, PartitionId::decode)?,
        })
    }
}

impl Encode for OffsetFetchResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.array_of(&self.topics)?;
        w.i16(self.error_code.code());
        w.nullable_string(self.error_message.as_deref())
    }
}

impl Decode for OffsetFetchResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(OffsetFetchResponse {
            topics: r.array_of("topics", MIN_TOPIC_BYTES)?,
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            error_message: r.nullable_string("error_message")?,
        })
    }
}

impl Encode for OffsetFetchTopicResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.name)?;
        w.array_of(&self.partitions)
    }
}

impl Decode for OffsetFetchTopicResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(OffsetFetchTopicResponse {
            name: r.string("topic name")?,
            partitions: r.array_of("partitions", MIN_PARTITION_RESPONSE_BYTES)?,
        })
    }
}

impl Encode for OffsetFetchPartitionResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        self.partition.encode(w);
        w.i64(self.committed_offset);
        w.nullable_string(self.committed_metadata.as_deref())?;
        w.i16(self.error_code.code());
        w.nullable_string(self.error_message.as_deref())
    }
}

impl Decode for OffsetFetchPartitionResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(OffsetFetchPartitionResponse {
            partition: PartitionId::decode(r)?,
            committed_offset: r.i64("committed_offset")?,
            committed_metadata: r.nullable_string("committed_metadata")?,
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            error_message: r.nullable_string("error_message")?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::testing::*;
    use bytes::Bytes;
    use proptest::prelude::*;

    pub(crate) fn arb_request() -> impl Strategy<Value = OffsetFetchRequest> {
        let topic = (arb_string(), arb_vec(arb_partition()))
            .prop_map(|(name, partitions)| OffsetFetchTopic { name, partitions });
        (
            arb_string(),
            arb_string(),
            any::<i32>(),
            proptest::option::of(arb_vec(topic)),
        )
            .prop_map(
                |(group_id, member_id, member_epoch, topics)| OffsetFetchRequest {
                    group_id,
                    member_id,
                    member_epoch,
                    topics,
                },
            )
    }

    pub(crate) fn arb_response() -> impl Strategy<Value = OffsetFetchResponse> {
        let partition = (
            arb_partition(),
            any::<i64>(),
            arb_nullable_string(),
            arb_error_code(),
            arb_nullable_string(),
        )
            .prop_map(
                |(partition, committed_offset, committed_metadata, error_code, error_message)| {
                    OffsetFetchPartitionResponse {
                        partition,
                        committed_offset,
                        committed_metadata,
                        error_code,
                        error_message,
                    }
                },
            );
        let topic = (arb_string(), arb_vec(partition))
            .prop_map(|(name, partitions)| OffsetFetchTopicResponse { name, partitions });
        (arb_vec(topic), arb_error_code(), arb_nullable_string()).prop_map(
            |(topics, error_code, error_message)| OffsetFetchResponse {
                topics,
                error_code,
                error_message,
            },
        )
    }

    pub(crate) fn sample_request() -> OffsetFetchRequest {
        OffsetFetchRequest {
            group_id: "g".into(),
            member_id: String::new(),
            member_epoch: -1,
            topics: Some(vec![OffsetFetchTopic {
                name: "t".into(),
                partitions: vec![PartitionId(0), PartitionId(1)],
            }]),
        }
    }

    pub(crate) fn sample_response() -> OffsetFetchResponse {
        OffsetFetchResponse {
            topics: vec![OffsetFetchTopicResponse {
                name: "t".into(),
                partitions: vec![
                    OffsetFetchPartitionResponse {
                        partition: PartitionId(0),
                        committed_offset: 42,
                        committed_metadata: Some("x".into()),
                        error_code: ErrorCode::None,
                        error_message: None,
                    },
                    OffsetFetchPartitionResponse {
                        partition: PartitionId(1),
                        committed_offset: NO_OFFSET,
                        committed_metadata: None,
                        error_code: ErrorCode::None,
                        error_message: None,
                    },
                ],
            }],
            error_code: ErrorCode::None,
            error_message: None,
        }
    }

    #[test]
    fn request_layout_matches_the_doc() {
        let bytes = round_trip(&sample_request());
        let expected: &[u8] = &[
            0, 1, b'g', // group_id
            0, 0, // member_id ""
            0xff, 0xff, 0xff, 0xff, // member_epoch -1
            0, 0, 0, 1, 0, 1, b't', // topics: 1, "t"
            0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, // partitions 0, 1
        ];
        assert_eq!(&bytes[..], expected);
        let all = round_trip(&OffsetFetchRequest {
            topics: None,
            ..sample_request()
        });
        assert_eq!(&all[all.len() - 4..], &[0xff; 4]);
    }

    #[test]
    fn response_layout_matches_the_doc() {
        let bytes = round_trip(&sample_response());
        let expected: &[u8] = &[
            0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2, // topics, "t", partitions
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 42, 0, 1, b'x', 0, 0, 0xff, 0xff, // p0
            0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0xff,
            0xff, // p1
            0, 0, 0xff, 0xff, // group error NONE
        ];
        assert_eq!(&bytes[..], expected);
    }

    #[test]
    fn group_errors_carry_no_topics() {
        let r = OffsetFetchResponse::error(ErrorCode::UnknownMemberId, "gone");
        assert!(r.topics.is_empty());
        let bytes = round_trip(&r);
        assert_eq!(&bytes[..6], &[0, 0, 0, 0, 0, 25]);
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
    fn unknown_error_codes_are_kept() {
        let mut bytes = sample_response().encode_body().unwrap().to_vec();
        let end = bytes.len();
        bytes[end - 4..end - 2].copy_from_slice(&777i16.to_be_bytes());
        let back = OffsetFetchResponse::decode_body(Bytes::from(bytes)).unwrap();
        assert_eq!(back.error_code, ErrorCode::Unknown(777));
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
            decode_arbitrary::<OffsetFetchRequest>(bytes.clone())?;
            decode_arbitrary::<OffsetFetchResponse>(bytes)?;
        }

        #[test]
        fn corrupted_encodings_never_panic(req in arb_request(), resp in arb_response(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            decode_corrupted(&req, at, byte)?;
            decode_corrupted(&resp, at, byte)?;
        }
    }
}
