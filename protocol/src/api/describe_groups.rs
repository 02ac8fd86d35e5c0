//! DescribeGroups (key 15, version 0): members, assignments, state and lag
//! of consumer groups.
//!
//! ```text
//! DescribeGroupsRequest
//!   group_ids                array of string
//!
//! DescribeGroupsResponse
//!   groups                   array of     one per group id, in request order
//!     group_id               string
//!     error_code             i16      NONE, GROUP_ID_NOT_FOUND, INVALID_GROUP_ID, ...
//!     error_message          nullable string
//!     group_state            string   Empty, Reconciling or Stable
//!     group_epoch            i32      bumped on every membership, subscription or partition-count change
//!     assignment_epoch       i32      the group epoch the target assignment was computed at
//!     assignor_name          string   the server assignor in use
//!     members                array of     in member id order
//!       member_id            string
//!       instance_id          nullable string
//!       rack_id              nullable string
//!       client_id            string   from the request header of the member's heartbeats
//!       client_host          string   the address the member connects from
//!       member_epoch         i32
//!       member_state         string   stable, unrevoked_partitions or unreleased_partitions
//!       subscribed_topic_names array of string
//!       assignment           array of     the partitions the member owns and consumes
//!         topic              string
//!         partitions         array of u32
//!       pending_revocation   array of     revoked partitions the member has not yet confirmed giving up
//!         topic              string
//!         partitions         array of u32
//!       target_assignment    array of     what the assignor wants the member to own
//!         topic              string
//!         partitions         array of u32
//!     offsets                array of     committed and assigned partitions, by topic and partition
//!       topic                string
//!       partitions           array of
//!         partition          u32
//!         error_code         i16      NONE, UNKNOWN_TOPIC_OR_PARTITION, STORAGE_ERROR, ...
//!         error_message      nullable string
//!         committed_offset   i64      -1 when nothing is committed
//!         committed_metadata nullable string
//!         log_end_offset     i64      the partition's high watermark (what consumers can reach); -1 unknown
//!         lag                i64      log_end_offset - committed_offset, at least 0; -1 unknown
//!         time_lag_ms        i64      how old the first unconsumed record is; 0 when caught up; -1 unknown
//! ```
//!
//! `time_lag_ms` is the broker's clock minus the timestamp of the first
//! record at or after `committed_offset` (the oldest record the group has
//! not yet consumed), so a lag of a million records that all arrived in the
//! last second reads as one second. Lag figures are unknown (-1) for a
//! partition without a committed offset.

use crate::api::ApiRequest;
use crate::api::consumer_group_heartbeat::{MIN_TOPIC_PARTITIONS_BYTES, TopicPartitions};
use crate::api_key::ApiKey;
use crate::error_code::ErrorCode;
use crate::ids::PartitionId;
use crate::reader::{Decode, DecodeError, Reader};
use crate::writer::{Encode, EncodeError, Writer};

/// Lag figures and offsets that are not known.
pub const UNKNOWN: i64 = -1;

/// Smallest encoded group id or topic name.
const MIN_NAME_BYTES: usize = 2;
/// Smallest encoded [`DescribedGroup`].
const MIN_GROUP_BYTES: usize = 2 + 2 + 2 + 2 + 4 + 4 + 2 + 4 + 4;
/// Smallest encoded [`DescribedMember`].
const MIN_MEMBER_BYTES: usize = 2 + 2 + 2 + 2 + 2 + 4 + 2 + 4 + 4 + 4 + 4;
/// Smallest encoded [`GroupOffsetsTopic`].
const MIN_OFFSETS_TOPIC_BYTES: usize = 2 + 4;
/// Smallest encoded [`GroupPartitionOffset`].
const MIN_PARTITION_OFFSET_BYTES: usize = 4 + 2 + 2 + 8 + 2 + 8 + 8 + 8;

/// Describe groups.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribeGroupsRequest {
    /// The groups to describe.
    pub group_ids: Vec<String>,
}

/// The groups described.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribeGroupsResponse {
    /// One entry per group id, in request order.
    pub groups: Vec<DescribedGroup>,
}

/// One group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribedGroup {
    /// The group id.
    pub group_id: String,
    /// `NONE`, or why the group cannot be described.
    pub error_code: ErrorCode,
    /// Details of the error; null on success.
    pub error_message: Option<String>,
    /// `Empty`, `Reconciling` or `Stable`.
    pub group_state: String,
    /// The group epoch.
    pub group_epoch: i32,
    /// The group epoch the target assignment was computed at.
    pub assignment_epoch: i32,
    /// The server assignor in use.
    pub assignor_name: String,
    /// The members, in member id order.
    pub members: Vec<DescribedMember>,
    /// Offsets and lag of every committed or assigned partition.
    pub offsets: Vec<GroupOffsetsTopic>,
}

/// One member.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribedMember {
    /// The member id.
    pub member_id: String,
    /// Static membership id, if the member sent one.
    pub instance_id: Option<String>,
    /// The member's rack, if it sent one.
    pub rack_id: Option<String>,
    /// The client id of its heartbeats.
    pub client_id: String,
    /// The address it connects from.
    pub client_host: String,
    /// Its member epoch.
    pub member_epoch: i32,
    /// `stable`, `unrevoked_partitions` or `unreleased_partitions`.
    pub member_state: String,
    /// The topics it subscribes to.
    pub subscribed_topic_names: Vec<String>,
    /// The partitions it owns and consumes.
    pub assignment: Vec<TopicPartitions>,
    /// Revoked partitions it has not yet confirmed giving up (it still owns
    /// them, so nobody else gets them).
    pub pending_revocation: Vec<TopicPartitions>,
    /// What the assignor wants it to own.
    pub target_assignment: Vec<TopicPartitions>,
}

/// Offsets of one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupOffsetsTopic {
    /// Topic name.
    pub topic: String,
    /// Per partition, in partition order.
    pub partitions: Vec<GroupPartitionOffset>,
}

/// The committed offset and lag of one partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupPartitionOffset {
    /// Partition number.
    pub partition: PartitionId,
    /// `NONE`, or why the log figures are unknown.
    pub error_code: ErrorCode,
    /// Details of the error; null on success.
    pub error_message: Option<String>,
    /// The committed offset; [`UNKNOWN`] when none.
    pub committed_offset: i64,
    /// The text committed with it.
    pub committed_metadata: Option<String>,
    /// The partition's high watermark; [`UNKNOWN`] when not known.
    pub log_end_offset: i64,
    /// Records not yet consumed; [`UNKNOWN`] when not known.
    pub lag: i64,
    /// Age of the oldest unconsumed record in ms; 0 when caught up;
    /// [`UNKNOWN`] when not known.
    pub time_lag_ms: i64,
}

impl DescribedGroup {
    /// A group that could not be described.
    pub fn error(
        group_id: impl Into<String>,
        error_code: ErrorCode,
        message: impl Into<String>,
    ) -> Self {
        DescribedGroup {
            group_id: group_id.into(),
            error_code,
            error_message: Some(message.into()),
            group_epoch: -1,
            assignment_epoch: -1,
            ..DescribedGroup::default()
        }
    }
}

impl ApiRequest for DescribeGroupsRequest {
    const KEY: ApiKey = ApiKey::DescribeGroups;
    const VERSION: u16 = 0;
    type Response = DescribeGroupsResponse;
}

impl Encode for DescribeGroupsRequest {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.array(&self.group_ids, |w, g| w.string(g))
    }
}

impl Decode for DescribeGroupsRequest {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(DescribeGroupsRequest {
            group_ids: r.array("group_ids", MIN_NAME_BYTES, |r| r.string("group_id"))?,
        })
    }
}

impl Encode for DescribeGroupsResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.array_of(&self.groups)
    }
}

impl Decode for DescribeGroupsResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(DescribeGroupsResponse {
            groups: r.array_of("groups", MIN_GROUP_BYTES)?,
        })
    }
}

impl Encode for DescribedGroup {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.group_id)?;
        w.i16(self.error_code.code());
        w.nullable_string(self.error_message.as_deref())?;
        w.string(&self.group_state)?;
        w.i32(self.group_epoch);
        w.i32(self.assignment_epoch);
        w.string(&self.assignor_name)?;
        w.array_of(&self.members)?;
        w.array_of(&self.offsets)
    }
}

impl Decode for DescribedGroup {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(DescribedGroup {
            group_id: r.string("group_id")?,
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            error_message: r.nullable_string("error_message")?,
            group_state: r.string("group_state")?,
            group_epoch: r.i32("group_epoch")?,
            assignment_epoch: r.i32("assignment_epoch")?,
            assignor_name: r.string("assignor_name")?,
            members: r.array_of("members", MIN_MEMBER_BYTES)?,
            offsets: r.array_of("offsets", MIN_OFFSETS_TOPIC_BYTES)?,
        })
    }
}

impl Encode for DescribedMember {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.member_id)?;
        w.nullable_string(self.instance_id.as_deref())?;
        w.nullable_string(self.rack_id.as_deref())?;
        w.string(&self.client_id)?;
        w.string(&self.client_host)?;
        w.i32(self.member_epoch);
        w.string(&self.member_state)?;
        w.array(&self.subscribed_topic_names, |w, t| w.string(t))?;
        w.array_of(&self.assignment)?;
        w.array_of(&self.pending_revocation)?;
        w.array_of(&self.target_assignment)
    }
}

impl Decode for DescribedMember {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(DescribedMember {
            member_id: r.string("member_id")?,
            instance_id: r.nullable_string("instance_id")?,
            rack_id: r.nullable_string("rack_id")?,
            client_id: r.string("client_id")?,
            client_host: r.string("client_host")?,
            member_epoch: r.i32("member_epoch")?,
            member_state: r.string("member_state")?,
            subscribed_topic_names: r.array("subscribed_topic_names", MIN_NAME_BYTES, |r| {
                r.string("topic name")
            })?,
            assignment: r.array_of("assignment", MIN_TOPIC_PARTITIONS_BYTES)?,
            pending_revocation: r.array_of("pending_revocation", MIN_TOPIC_PARTITIONS_BYTES)?,
            target_assignment: r.array_of("target_assignment", MIN_TOPIC_PARTITIONS_BYTES)?,
        })
    }
}

impl Encode for GroupOffsetsTopic {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.topic)?;
        w.array_of(&self.partitions)
    }
}

impl Decode for GroupOffsetsTopic {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(GroupOffsetsTopic {
            topic: r.string("topic name")?,
            partitions: r.array_of("partitions", MIN_PARTITION_OFFSET_BYTES)?,
        })
    }
}

impl Encode for GroupPartitionOffset {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        self.partition.encode(w);
        w.i16(self.error_code.code());
        w.nullable_string(self.error_message.as_deref())?;
        w.i64(self.committed_offset);
        w.nullable_string(self.committed_metadata.as_deref())?;
        w.i64(self.log_end_offset);
        w.i64(self.lag);
        w.i64(self.time_lag_ms);
        Ok(())
    }
}

impl Decode for GroupPartitionOffset {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(GroupPartitionOffset {
            partition: PartitionId::decode(r)?,
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            error_message: r.nullable_string("error_message")?,
            committed_offset: r.i64("committed_offset")?,
            committed_metadata: r.nullable_string("committed_metadata")?,
            log_end_offset: r.i64("log_end_offset")?,
            lag: r.i64("lag")?,
            time_lag_ms: r.i64("time_lag_ms")?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::consumer_group_heartbeat::tests::arb_topic_partitions;
    use crate::api::testing::*;
    use bytes::Bytes;
    use proptest::prelude::*;

    pub(crate) fn arb_request() -> impl Strategy<Value = DescribeGroupsRequest> {
        arb_vec(arb_string()).prop_map(|group_ids| DescribeGroupsRequest { group_ids })
    }

    fn arb_member() -> impl Strategy<Value = DescribedMember> {
        (
            (
                arb_string(),
                arb_nullable_string(),
                arb_nullable_string(),
                arb_string(),
                arb_string(),
            ),
            (any::<i32>(), arb_string(), arb_vec(arb_string())),
            (
                arb_vec(arb_topic_partitions()),
                arb_vec(arb_topic_partitions()),
                arb_vec(arb_topic_partitions()),
            ),
        )
            .prop_map(
                |(
                    (member_id, instance_id, rack_id, client_id, client_host),
                    (member_epoch, member_state, subscribed_topic_names),
                    (assignment, pending_revocation, target_assignment),
                )| DescribedMember {
                    member_id,
                    instance_id,
                    rack_id,
                    client_id,
                    client_host,
                    member_epoch,
                    member_state,
                    subscribed_topic_names,
                    assignment,
                    pending_revocation,
                    target_assignment,
                },
            )
    }

    fn arb_offsets_topic() -> impl Strategy<Value = GroupOffsetsTopic> {
        let partition = (
            (arb_partition(), arb_error_code(), arb_nullable_string()),
            (any::<i64>(), arb_nullable_string()),
            (any::<i64>(), any::<i64>(), any::<i64>()),
        )
            .prop_map(
                |(
                    (partition, error_code, error_message),
                    (committed_offset, committed_metadata),
                    (log_end_offset, lag, time_lag_ms),
                )| GroupPartitionOffset {
                    partition,
                    error_code,
                    error_message,
                    committed_offset,
                    committed_metadata,
                    log_end_offset,
                    lag,
                    time_lag_ms,
                },
            );
        (arb_string(), arb_vec(partition))
            .prop_map(|(topic, partitions)| GroupOffsetsTopic { topic, partitions })
    }

    pub(crate) fn arb_response() -> impl Strategy<Value = DescribeGroupsResponse> {
        let group = (
            (arb_string(), arb_error_code(), arb_nullable_string()),
            (arb_string(), any::<i32>(), any::<i32>(), arb_string()),
            (arb_vec(arb_member()), arb_vec(arb_offsets_topic())),
        )
            .prop_map(
                |(
                    (group_id, error_code, error_message),
                    (group_state, group_epoch, assignment_epoch, assignor_name),
                    (members, offsets),
                )| DescribedGroup {
                    group_id,
                    error_code,
                    error_message,
                    group_state,
                    group_epoch,
                    assignment_epoch,
                    assignor_name,
                    members,
                    offsets,
                },
            );
        arb_vec(group).prop_map(|groups| DescribeGroupsResponse { groups })
    }

    fn tp(topic: &str, partitions: &[u32]) -> TopicPartitions {
        TopicPartitions {
            topic: topic.into(),
            partitions: partitions.iter().copied().map(PartitionId).collect(),
        }
    }

    pub(crate) fn sample_request() -> DescribeGroupsRequest {
        DescribeGroupsRequest {
            group_ids: vec!["g".into()],
        }
    }

    pub(crate) fn sample_response() -> DescribeGroupsResponse {
        DescribeGroupsResponse {
            groups: vec![
                DescribedGroup {
                    group_id: "g".into(),
                    error_code: ErrorCode::None,
                    error_message: None,
                    group_state: "Stable".into(),
                    group_epoch: 2,
                    assignment_epoch: 2,
                    assignor_name: "sticky".into(),
                    members: vec![DescribedMember {
                        member_id: "m".into(),
                        instance_id: None,
                        rack_id: None,
                        client_id: "c".into(),
                        client_host: "h".into(),
                        member_epoch: 2,
                        member_state: "stable".into(),
                        subscribed_topic_names: vec!["t".into()],
                        assignment: vec![tp("t", &[0])],
                        pending_revocation: vec![],
                        target_assignment: vec![tp("t", &[0])],
                    }],
                    offsets: vec![GroupOffsetsTopic {
                        topic: "t".into(),
                        partitions: vec![GroupPartitionOffset {
                            partition: PartitionId(0),
                            error_code: ErrorCode::None,
                            error_message: None,
                            committed_offset: 10,
                            committed_metadata: None,
                            log_end_offset: 15,
                            lag: 5,
                            time_lag_ms: 1_200,
                        }],
                    }],
                },
                DescribedGroup::error("x", ErrorCode::GroupIdNotFound, "no group x"),
            ],
        }
    }

    #[test]
    fn request_layout_matches_the_doc() {
        let bytes = round_trip(&sample_request());
        assert_eq!(&bytes[..], &[0, 0, 0, 1, 0, 1, b'g']);
    }

    #[test]
    fn response_layout_matches_the_doc() {
        let bytes = round_trip(&sample_response());
        let mut expected: Vec<u8> = vec![0, 0, 0, 2]; // groups
        expected.extend_from_slice(&[0, 1, b'g', 0, 0, 0xff, 0xff]); // id, NONE, null
        expected.extend_from_slice(&[0, 6]);
        expected.extend_from_slice(b"Stable");
        expected.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 2, 0, 6]); // epochs
        expected.extend_from_slice(b"sticky");
        expected.extend_from_slice(&[0, 0, 0, 1, 0, 1, b'm', 0xff, 0xff, 0xff, 0xff]); // member
        expected.extend_from_slice(&[0, 1, b'c', 0, 1, b'h', 0, 0, 0, 2, 0, 6]);
        expected.extend_from_slice(b"stable");
        expected.extend_from_slice(&[0, 0, 0, 1, 0, 1, b't']); // subscribed
        expected.extend_from_slice(&[0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 0]); // assignment
        expected.extend_from_slice(&[0, 0, 0, 0]); // pending_revocation
        expected.extend_from_slice(&[0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 0]); // target
        expected.extend_from_slice(&[0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1]); // offsets
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0xff, 0xff]); // p0 NONE
        expected.extend_from_slice(&10i64.to_be_bytes());
        expected.extend_from_slice(&[0xff, 0xff]);
        expected.extend_from_slice(&15i64.to_be_bytes());
        expected.extend_from_slice(&5i64.to_be_bytes());
        expected.extend_from_slice(&1_200i64.to_be_bytes());
        expected.extend_from_slice(&[0, 1, b'x', 0, 69, 0, 10]); // second group
        expected.extend_from_slice(b"no group x");
        expected.extend_from_slice(&[0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // assignor, members, offsets
        assert_eq!(&bytes[..], &expected[..]);
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
        bytes[7..9].copy_from_slice(&777i16.to_be_bytes());
        let back = DescribeGroupsResponse::decode_body(Bytes::from(bytes)).unwrap();
        assert_eq!(back.groups[0].error_code, ErrorCode::Unknown(777));
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
            decode_arbitrary::<DescribeGroupsRequest>(bytes.clone())?;
            decode_arbitrary::<DescribeGroupsResponse>(bytes)?;
        }

        #[test]
        fn corrupted_encodings_never_panic(req in arb_request(), resp in arb_response(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            decode_corrupted(&req, at, byte)?;
            decode_corrupted(&resp, at, byte)?;
        }
    }
}
