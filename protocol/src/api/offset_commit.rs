//! OffsetCommit (key 8, version 0): store a consumer group's positions.
//!
//! ```text
//! OffsetCommitRequest
//!   group_id               string
//!   member_id              string   "" for a commit from outside the group (standalone consumer, admin)
//!   member_epoch           i32      the member's current epoch; -1 with an empty member_id
//!   topics                 array of
//!     name                 string
//!     partitions           array of
//!       partition          u32
//!       committed_offset   i64      the next offset to consume (last processed + 1); never negative
//!       committed_metadata nullable string   free text kept with the offset; at most 4 096 bytes
//!
//! OffsetCommitResponse
//!   topics                 array of
//!     name                 string
//!     partitions           array of
//!       partition          u32
//!       error_code         i16      NONE, UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH, FENCED_MEMBER_EPOCH, ...
//!       error_message      nullable string
//! ```
//!
//! A commit is fenced by the member's id and epoch: from a member the group
//! does not know (never joined, left, expired) it fails with
//! `UNKNOWN_MEMBER_ID`; with an epoch older than the member's current one
//! with `STALE_MEMBER_EPOCH`; with a newer one with `FENCED_MEMBER_EPOCH`.
//! A commit with an empty `member_id` and epoch -1 is accepted only while
//! the group has no members. Group-level failures are reported on every
//! partition. The response is sent once the offsets are durable.

use crate::api::ApiRequest;
use crate::api_key::ApiKey;
use crate::error_code::ErrorCode;
use crate::ids::PartitionId;
use crate::reader::{Decode, DecodeError, Reader};
use crate::writer::{Encode, EncodeError, Writer};

/// `member_epoch` of a commit from outside the group.
pub const NO_MEMBER_EPOCH: i32 = -1;
/// Longest `committed_metadata`, in bytes.
pub const MAX_METADATA_BYTES: usize = 4096;

/// Smallest encoded topic entry of the request.
const MIN_TOPIC_BYTES: usize = 2 + 4;
/// Smallest encoded [`OffsetCommitPartition`].
const MIN_PARTITION_BYTES: usize = 4 + 8 + 2;
/// Smallest encoded [`OffsetCommitPartitionResponse`].
const MIN_PARTITION_RESPONSE_BYTES: usize = 4 + 2 + 2;

/// Commit offsets for a group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetCommitRequest {
    /// The group.
    pub group_id: String,
    /// The committing member; empty for a commit from outside the group.
    pub member_id: String,
    /// The member's current epoch; [`NO_MEMBER_EPOCH`] with an empty
    /// `member_id`.
    pub member_epoch: i32,
    /// Offsets, grouped by topic.
    pub topics: Vec<OffsetCommitTopic>,
}

/// Offsets of one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetCommitTopic {
    /// Topic name.
    pub name: String,
    /// One offset per partition.
    pub partitions: Vec<OffsetCommitPartition>,
}

/// The offset of one partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetCommitPartition {
    /// Partition number.
    pub partition: PartitionId,
    /// The next offset to consume.
    pub committed_offset: i64,
    /// Free text kept with the offset (at most [`MAX_METADATA_BYTES`]).
    pub committed_metadata: Option<String>,
}

/// The outcome per partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetCommitResponse {
    /// Results, grouped by topic, in request order.
    pub topics: Vec<OffsetCommitTopicResponse>,
}

/// Results for one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetCommitTopicResponse {
    /// Topic name.
    pub name: String,
    /// One result per partition, in request order.
    pub partitions: Vec<OffsetCommitPartitionResponse>,
}

/// The outcome for one partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetCommitPartitionResponse {
    /// Partition number.
    pub partition: PartitionId,
    /// `NONE` once the offset is durable.
    pub error_code: ErrorCode,
    /// Details of the error; null on success.
    pub error_message: Option<String>,
}

impl OffsetCommitResponse {
    /// A response giving every partition of `request` the same outcome.
    pub fn uniform(
        request: &OffsetCommitRequest,
        error_code: ErrorCode,
        message: Option<&str>,
    ) -> Self {
        OffsetCommitResponse {
            topics: request
                .topics
                .iter()
                .map(|t| OffsetCommitTopicResponse {
                    name: t.name.clone(),
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| OffsetCommitPartitionResponse {
                            partition: p.partition,
                            error_code,
                            error_message: message.map(str::to_owned),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

impl ApiRequest for OffsetCommitRequest {
    const KEY: ApiKey = ApiKey::OffsetCommit;
    const VERSION: u16 = 0;
    type Response = OffsetCommitResponse;
}

impl Encode for OffsetCommitRequest {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.group_id)?;
        w.string(&self.member_id)?;
        w.i32(self.member_epoch);
        w.array_of(&self.topics)
    }
}

impl Decode for OffsetCommitRequest {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(OffsetCommitRequest {
            group_id: r.string("group_id")?,
            member_id: r.string("member_id")?,
            member_epoch: r.i32("member_epoch")?,
            topics: r.array_of("topics", MIN_TOPIC_BYTES)?,
        })
    }
}

impl Encode for OffsetCommitTopic {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.name)?;
        w.array_of(&self.partitions)
    }
}

impl Decode for OffsetCommitTopic {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(OffsetCommitTopic {
            name: r.string("topic name")?,
            partitions: r.array_of("partitions", MIN_PARTITION_BYTES)?,
        })
    }
}

impl Encode for OffsetCommitPartition {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        self.partition.encode(w);
        w.i64(self.committed_offset);
        w.nullable_string(self.committed_metadata.as_deref())
    }
}

impl Decode for OffsetCommitPartition {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(OffsetCommitPartition {
            partition: PartitionId::decode(r)?,
            committed_offset: r.i64("committed_offset")?,
            committed_metadata: r.nullable_string("committed_metadata")?,
        })
    }
}

impl Encode for OffsetCommitResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.array_of(&self.topics)
    }
}

impl Decode for OffsetCommitResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(OffsetCommitResponse {
            topics: r.array_of("topics", MIN_TOPIC_BYTES)?,
        })
    }
}

impl Encode for OffsetCommitTopicResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.name)?;
        w.array_of(&self.partitions)
    }
}

impl Decode for OffsetCommitTopicResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(OffsetCommitTopicResponse {
            name: r.string("topic name")?,
            partitions: r.array_of("partitions", MIN_PARTITION_RESPONSE_BYTES)?,
        })
    }
}

impl Encode for OffsetCommitPartitionResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        self.partition.encode(w);
        w.i16(self.error_code.code());
        w.nullable_string(self.error_message.as_deref())
    }
}

impl Decode for OffsetCommitPartitionResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(OffsetCommitPartitionResponse {
            partition: PartitionId::decode(r)?,
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

    pub(crate) fn arb_request() -> impl Strategy<Value = OffsetCommitRequest> {
        let partition = (arb_partition(), any::<i64>(), arb_nullable_string()).prop_map(
            |(partition, committed_offset, committed_metadata)| OffsetCommitPartition {
                partition,
                committed_offset,
                committed_metadata,
            },
        );
        let topic = (arb_string(), arb_vec(partition))
            .prop_map(|(name, partitions)| OffsetCommitTopic { name, partitions });
        (arb_string(), arb_string(), any::<i32>(), arb_vec(topic)).prop_map(
            |(group_id, member_id, member_epoch, topics)| OffsetCommitRequest {
                group_id,
                member_id,
                member_epoch,
                topics,
            },
        )
    }

    pub(crate) fn arb_response() -> impl Strategy<Value = OffsetCommitResponse> {
        let partition = (arb_partition(), arb_error_code(), arb_nullable_string()).prop_map(
            |(partition, error_code, error_message)| OffsetCommitPartitionResponse {
                partition,
                error_code,
                error_message,
            },
        );
        let topic = (arb_string(), arb_vec(partition))
            .prop_map(|(name, partitions)| OffsetCommitTopicResponse { name, partitions });
        arb_vec(topic).prop_map(|topics| OffsetCommitResponse { topics })
    }

    pub(crate) fn sample_request() -> OffsetCommitRequest {
        OffsetCommitRequest {
            group_id: "g".into(),
            member_id: "m1".into(),
            member_epoch: 3,
            topics: vec![OffsetCommitTopic {
                name: "t".into(),
                partitions: vec![
                    OffsetCommitPartition {
                        partition: PartitionId(0),
                        committed_offset: 42,
                        committed_metadata: None,
                    },
                    OffsetCommitPartition {
                        partition: PartitionId(2),
                        committed_offset: 7,
                        committed_metadata: Some("x".into()),
                    },
                ],
            }],
        }
    }

    pub(crate) fn sample_response() -> OffsetCommitResponse {
        OffsetCommitResponse {
            topics: vec![OffsetCommitTopicResponse {
                name: "t".into(),
                partitions: vec![
                    OffsetCommitPartitionResponse {
                        partition: PartitionId(0),
                        error_code: ErrorCode::None,
                        error_message: None,
                    },
                    OffsetCommitPartitionResponse {
                        partition: PartitionId(2),
                        error_code: ErrorCode::StaleMemberEpoch,
                        error_message: Some("stale".into()),
                    },
                ],
            }],
        }
    }

    #[test]
    fn request_layout_matches_the_doc() {
        let bytes = round_trip(&sample_request());
        let expected: &[u8] = &[
            0, 1, b'g', // group_id
            0, 2, b'm', b'1', // member_id
            0, 0, 0, 3, // member_epoch
            0, 0, 0, 1, 0, 1, b't', // topics: 1, "t"
            0, 0, 0, 2, // partitions: 2
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 42, 0xff, 0xff, // p0 @42, null
            0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7, 0, 1, b'x', // p2 @7, "x"
        ];
        assert_eq!(&bytes[..], expected);
    }

    #[test]
    fn response_layout_matches_the_doc() {
        let bytes = round_trip(&sample_response());
        let expected: &[u8] = &[
            0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2, // topics, "t", partitions
            0, 0, 0, 0, 0, 0, 0xff, 0xff, // p0 NONE
            0, 0, 0, 2, 0, 113, 0, 5, b's', b't', b'a', b'l', b'e', // p2
        ];
        assert_eq!(&bytes[..], expected);
    }

    #[test]
    fn uniform_response_mirrors_the_request() {
        let r = OffsetCommitResponse::uniform(
            &sample_request(),
            ErrorCode::UnknownMemberId,
            Some("gone"),
        );
        assert_eq!(r.topics.len(), 1);
        let parts: Vec<_> = r.topics[0].partitions.iter().map(|p| p.partition).collect();
        assert_eq!(parts, [PartitionId(0), PartitionId(2)]);
        assert!(
            r.topics[0]
                .partitions
                .iter()
                .all(|p| p.error_code == ErrorCode::UnknownMemberId)
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
    fn unknown_error_codes_are_kept() {
        let mut bytes = sample_response().encode_body().unwrap().to_vec();
        bytes[15..17].copy_from_slice(&777i16.to_be_bytes());
        let back = OffsetCommitResponse::decode_body(Bytes::from(bytes)).unwrap();
        assert_eq!(
            back.topics[0].partitions[0].error_code,
            ErrorCode::Unknown(777)
        );
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
            decode_arbitrary::<OffsetCommitRequest>(bytes.clone())?;
            decode_arbitrary::<OffsetCommitResponse>(bytes)?;
        }

        #[test]
        fn corrupted_encodings_never_panic(req in arb_request(), resp in arb_response(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            decode_corrupted(&req, at, byte)?;
            decode_corrupted(&resp, at, byte)?;
        }
    }
}
