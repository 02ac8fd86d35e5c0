//! [`GroupRecord`]: the records of the groups log, and their encoding as the
//! key and value of a RecordBatch v2 record.
//!
//! Every record sets one key; a null value (a tombstone) clears it. Keys
//! start with the record type, values with a version, both `i16`; the rest
//! uses the wire primitives of `PROTOCOL.md` §1 (big-endian integers,
//! `u16`-length strings, `i16`-length nullable strings, `u32`-count arrays):
//!
//! ```text
//! type  record                    key fields                       value (version 0)
//! 1     GroupMetadata             group                            group_epoch i32, topics array of (name string, partitions u32)
//! 2     MemberMetadata            group, member                    instance_id nstring, rack_id nstring, client_id string,
//!                                                                  client_host string, subscribed array of string,
//!                                                                  server_assignor nstring, rebalance_timeout_ms u32,
//!                                                                  session_timeout_ms u32
//! 3     TargetAssignmentMetadata  group                            assignment_epoch i32
//! 4     TargetAssignmentMember    group, member                    assignment
//! 5     CurrentMemberAssignment   group, member                    member_epoch i32, previous_member_epoch i32, state i8,
//!                                                                  assigned assignment, pending_revocation assignment
//! 6     OffsetCommit              group, topic string, partition u32   offset i64, metadata nstring, commit_timestamp_ms i64
//!
//! assignment = array of (topic string, partitions array of u32)
//! state      = 0 stable, 1 unrevoked_partitions, 2 unreleased_partitions
//! ```
//!
//! A reader that meets a type or version it does not know refuses the log
//! rather than skip state it cannot interpret.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use runnel_protocol::{DecodeError, EncodeError, PartitionId, Reader, Writer};

use super::assignment::Assignment;
use super::state::{
    CommittedOffset, CurrentAssignment, GroupMetadata, MemberMetadata, MemberState,
};

/// Record type of GroupMetadata.
const GROUP_METADATA: i16 = 1;
/// Record type of MemberMetadata.
const MEMBER_METADATA: i16 = 2;
/// Record type of TargetAssignmentMetadata.
const TARGET_ASSIGNMENT_METADATA: i16 = 3;
/// Record type of TargetAssignmentMember.
const TARGET_ASSIGNMENT_MEMBER: i16 = 4;
/// Record type of CurrentMemberAssignment.
const CURRENT_ASSIGNMENT: i16 = 5;
/// Record type of OffsetCommit.
const OFFSET_COMMIT: i16 = 6;
/// The value version this build writes and reads.
const VALUE_VERSION: i16 = 0;
/// Smallest encoded topic entry of an assignment or topic list.
const MIN_TOPIC_BYTES: usize = 2 + 4;

/// Why a stored record could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum RecordFormatError {
    /// A record without a key.
    #[error("record has no key")]
    MissingKey,
    /// A record type this build does not know.
    #[error("unknown group record type {0}")]
    UnknownType(i16),
    /// A value version this build does not know.
    #[error("unknown value version {version} of group record type {record_type}")]
    UnknownVersion {
        /// The record type.
        record_type: i16,
        /// The version found.
        version: i16,
    },
    /// A member state code this build does not know.
    #[error("unknown member state {0}")]
    UnknownState(i8),
    /// The bytes do not decode.
    #[error("malformed group record")]
    Decode(#[source] DecodeError),
    /// A value too large for its encoding.
    #[error("cannot encode group record")]
    Encode(#[source] EncodeError),
}

impl From<DecodeError> for RecordFormatError {
    fn from(e: DecodeError) -> Self {
        RecordFormatError::Decode(e)
    }
}

impl From<EncodeError> for RecordFormatError {
    fn from(e: EncodeError) -> Self {
        RecordFormatError::Encode(e)
    }
}

/// One record of the groups log: a key and its new value (`None` clears
/// the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRecord {
    /// The group's epoch and subscribed partition counts; a tombstone
    /// deletes the group.
    GroupMetadata {
        /// The group.
        group_id: String,
        /// New value, or `None` to delete the group.
        value: Option<GroupMetadata>,
    },
    /// A member's metadata; a tombstone removes the member.
    MemberMetadata {
        /// The group.
        group_id: String,
        /// The member.
        member_id: String,
        /// New value, or `None` to remove the member.
        value: Option<MemberMetadata>,
    },
    /// The epoch of the group's target assignment.
    TargetAssignmentMetadata {
        /// The group.
        group_id: String,
        /// The assignment epoch, or `None` (group deleted).
        value: Option<i32>,
    },
    /// A member's target assignment.
    TargetAssignmentMember {
        /// The group.
        group_id: String,
        /// The member.
        member_id: String,
        /// Its target, or `None` for none.
        value: Option<Assignment>,
    },
    /// What a member owns and its epoch.
    CurrentAssignment {
        /// The group.
        group_id: String,
        /// The member.
        member_id: String,
        /// New value, or `None` to reset it.
        value: Option<CurrentAssignment>,
    },
    /// A committed offset.
    OffsetCommit {
        /// The group.
        group_id: String,
        /// Topic name.
        topic: String,
        /// Partition number.
        partition: PartitionId,
        /// The offset, or `None` to delete it.
        value: Option<CommittedOffset>,
    },
}

impl GroupRecord {
    /// The group the record belongs to.
    pub fn group_id(&self) -> &str {
        match self {
            GroupRecord::GroupMetadata { group_id, .. }
            | GroupRecord::MemberMetadata { group_id, .. }
            | GroupRecord::TargetAssignmentMetadata { group_id, .. }
            | GroupRecord::TargetAssignmentMember { group_id, .. }
            | GroupRecord::CurrentAssignment { group_id, .. }
            | GroupRecord::OffsetCommit { group_id, .. } => group_id,
        }
    }

    /// Whether it clears its key.
    pub fn is_tombstone(&self) -> bool {
        match self {
            GroupRecord::GroupMetadata { value, .. } => value.is_none(),
            GroupRecord::MemberMetadata { value, .. } => value.is_none(),
            GroupRecord::TargetAssignmentMetadata { value, .. } => value.is_none(),
            GroupRecord::TargetAssignmentMember { value, .. } => value.is_none(),
            GroupRecord::CurrentAssignment { value, .. } => value.is_none(),
            GroupRecord::OffsetCommit { value, .. } => value.is_none(),
        }
    }

    /// The encoded key.
    pub fn encode_key(&self) -> Result<Bytes, RecordFormatError> {
        let mut w = Writer::new();
        match self {
            GroupRecord::GroupMetadata { group_id, .. } => {
                w.i16(GROUP_METADATA);
                w.string(group_id)?;
            }
            GroupRecord::MemberMetadata {
                group_id,
                member_id,
                ..
            } => {
                w.i16(MEMBER_METADATA);
                w.string(group_id)?;
                w.string(member_id)?;
            }
            GroupRecord::TargetAssignmentMetadata { group_id, .. } => {
                w.i16(TARGET_ASSIGNMENT_METADATA);
                w.string(group_id)?;
            }
            GroupRecord::TargetAssignmentMember {
                group_id,
                member_id,
                ..
            } => {
                w.i16(TARGET_ASSIGNMENT_MEMBER);
                w.string(group_id)?;
                w.string(member_id)?;
            }
            GroupRecord::CurrentAssignment {
                group_id,
                member_id,
                ..
            } => {
                w.i16(CURRENT_ASSIGNMENT);
                w.string(group_id)?;
                w.string(member_id)?;
            }
            GroupRecord::OffsetCommit {
                group_id,
                topic,
                partition,
                ..
            } => {
                w.i16(OFFSET_COMMIT);
                w.string(group_id)?;
                w.string(topic)?;
                partition.encode(&mut w);
            }
        }
        Ok(w.finish()?.to_bytes())
    }

    /// The encoded value; `None` for a tombstone.
    pub fn encode_value(&self) -> Result<Option<Bytes>, RecordFormatError> {
        let mut w = Writer::new();
        w.i16(VALUE_VERSION);
        match self {
            GroupRecord::GroupMetadata { value: None, .. }
            | GroupRecord::MemberMetadata { value: None, .. }
            | GroupRecord::TargetAssignmentMetadata { value: None, .. }
            | GroupRecord::TargetAssignmentMember { value: None, .. }
            | GroupRecord::CurrentAssignment { value: None, .. }
            | GroupRecord::OffsetCommit { value: None, .. } => return Ok(None),
            GroupRecord::GroupMetadata { value: Some(v), .. } => {
                w.i32(v.group_epoch);
                w.array_len(v.topic_partitions.len())?;
                for (name, count) in &v.topic_partitions {
                    w.string(name)?;
                    w.u32(*count);
                }
            }
            GroupRecord::MemberMetadata { value: Some(v), .. } => {
                w.nullable_string(v.instance_id.as_deref())?;
                w.nullable_string(v.rack_id.as_deref())?;
                w.string(&v.client_id)?;
                w.string(&v.client_host)?;
                w.array_len(v.subscribed_topics.len())?;
                for t in &v.subscribed_topics {
                    w.string(t)?;
                }
                w.nullable_string(v.server_assignor.as_deref())?;
                w.u32(v.rebalance_timeout_ms);
                w.u32(v.session_timeout_ms);
            }
            GroupRecord::TargetAssignmentMetadata { value: Some(v), .. } => w.i32(*v),
            GroupRecord::TargetAssignmentMember { value: Some(v), .. } => {
                write_assignment(&mut w, v)?;
            }
            GroupRecord::CurrentAssignment { value: Some(v), .. } => {
                w.i32(v.member_epoch);
                w.i32(v.previous_member_epoch);
                w.i8(v.state.code());
                write_assignment(&mut w, &v.assigned)?;
                write_assignment(&mut w, &v.pending_revocation)?;
            }
            GroupRecord::OffsetCommit { value: Some(v), .. } => {
                w.i64(v.offset);
                w.nullable_string(v.metadata.as_deref())?;
                w.i64(v.commit_timestamp_ms);
            }
        }
        Ok(Some(w.finish()?.to_bytes()))
    }

    /// Decodes a stored record.
    pub fn decode(key: Option<&Bytes>, value: Option<&Bytes>) -> Result<Self, RecordFormatError> {
        let key = key.ok_or(RecordFormatError::MissingKey)?;
        let mut k = Reader::new(key.clone());
        let record_type = k.i16("record type")?;
        let mut v = match value {
            Some(bytes) => {
                let mut r = Reader::new(bytes.clone());
                let version = r.i16("value version")?;
                if version != VALUE_VERSION {
                    return Err(RecordFormatError::UnknownVersion {
                        record_type,
                        version,
                    });
                }
                Some(r)
            }
            None => None,
        };
        let group_id = k.string("group id")?;
        let record = match record_type {
            GROUP_METADATA => GroupRecord::GroupMetadata {
                group_id,
                value: v.as_mut().map(read_group_metadata).transpose()?,
            },
            MEMBER_METADATA => GroupRecord::MemberMetadata {
                group_id,
                member_id: k.string("member id")?,
                value: v.as_mut().map(read_member_metadata).transpose()?,
            },
            TARGET_ASSIGNMENT_METADATA => GroupRecord::TargetAssignmentMetadata {
                group_id,
                value: v.as_mut().map(|r| r.i32("assignment epoch")).transpose()?,
            },
            TARGET_ASSIGNMENT_MEMBER => GroupRecord::TargetAssignmentMember {
                group_id,
                member_id: k.string("member id")?,
                value: v.as_mut().map(read_assignment).transpose()?,
            },
            CURRENT_ASSIGNMENT => GroupRecord::CurrentAssignment {
                group_id,
                member_id: k.string("member id")?,
                value: v.as_mut().map(read_current_assignment).transpose()?,
            },
            OFFSET_COMMIT => GroupRecord::OffsetCommit {
                group_id,
                topic: k.string("topic")?,
                partition: PartitionId::decode(&mut k)?,
                value: v.as_mut().map(read_committed_offset).transpose()?,
            },
            other => return Err(RecordFormatError::UnknownType(other)),
        };
        k.finish()?;
        if let Some(r) = v {
            r.finish()?;
        }
        Ok(record)
    }
}

fn write_assignment(w: &mut Writer, a: &Assignment) -> Result<(), EncodeError> {
    let topics: Vec<_> = a.topics().collect();
    w.array_len(topics.len())?;
    for (topic, partitions) in topics {
        w.string(topic)?;
        w.array_len(partitions.len())?;
        for p in partitions {
            p.encode(w);
        }
    }
    Ok(())
}

fn read_assignment(r: &mut Reader) -> Result<Assignment, RecordFormatError> {
    let mut a = Assignment::new();
    let topics = r.array("assignment", MIN_TOPIC_BYTES, |r| {
        let topic = r.string("topic")?;
        let partitions = r.array("partitions", 4, PartitionId::decode)?;
        Ok((topic, partitions))
    })?;
    for (topic, partitions) in &topics {
        for p in partitions {
            a.insert(topic, *p);
        }
    }
    Ok(a)
}

fn read_group_metadata(r: &mut Reader) -> Result<GroupMetadata, RecordFormatError> {
    let group_epoch = r.i32("group epoch")?;
    let topics = r.array("topics", MIN_TOPIC_BYTES, |r| {
        Ok((r.string("topic")?, r.u32("partitions")?))
    })?;
    Ok(GroupMetadata {
        group_epoch,
        topic_partitions: topics.into_iter().collect::<BTreeMap<_, _>>(),
    })
}

fn read_member_metadata(r: &mut Reader) -> Result<MemberMetadata, RecordFormatError> {
    Ok(MemberMetadata {
        instance_id: r.nullable_string("instance id")?,
        rack_id: r.nullable_string("rack id")?,
        client_id: r.string("client id")?,
        client_host: r.string("client host")?,
        subscribed_topics: r
            .array("subscribed topics", 2, |r| r.string("topic"))?
            .into_iter()
            .collect::<BTreeSet<_>>(),
        server_assignor: r.nullable_string("server assignor")?,
        rebalance_timeout_ms: r.u32("rebalance timeout")?,
        session_timeout_ms: r.u32("session timeout")?,
    })
}

fn read_current_assignment(r: &mut Reader) -> Result<CurrentAssignment, RecordFormatError> {
    let member_epoch = r.i32("member epoch")?;
    let previous_member_epoch = r.i32("previous member epoch")?;
    let code = r.i8("member state")?;
    let state = MemberState::from_code(code).ok_or(RecordFormatError::UnknownState(code))?;
    Ok(CurrentAssignment {
        member_epoch,
        previous_member_epoch,
        state,
        assigned: read_assignment(r)?,
        pending_revocation: read_assignment(r)?,
    })
}

fn read_committed_offset(r: &mut Reader) -> Result<CommittedOffset, RecordFormatError> {
    Ok(CommittedOffset {
        offset: r.i64("offset")?,
        metadata: r.nullable_string("metadata")?,
        commit_timestamp_ms: r.i64("commit timestamp")?,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_assignment() -> impl Strategy<Value = Assignment> {
        proptest::collection::vec(("[a-c]{1,3}", 0u32..50), 0..6).prop_map(|v| {
            v.iter()
                .map(|(t, p)| (t.as_str(), PartitionId(*p)))
                .collect()
        })
    }

    #[allow(clippy::too_many_lines)] // one strategy per record type, side by side
    pub(crate) fn arb_record() -> impl Strategy<Value = GroupRecord> {
        let id = "[a-z0-9-]{1,8}";
        let ns = proptest::option::of(".{0,6}");
        let state = prop_oneof![
            Just(MemberState::Stable),
            Just(MemberState::UnrevokedPartitions),
            Just(MemberState::UnreleasedPartitions),
        ];
        prop_oneof![
            (
                id,
                proptest::option::of((
                    any::<i32>(),
                    proptest::collection::btree_map("[a-c]{1,3}", any::<u32>(), 0..3)
                ))
            )
                .prop_map(|(group_id, v)| GroupRecord::GroupMetadata {
                    group_id,
                    value: v.map(|(group_epoch, topic_partitions)| GroupMetadata {
                        group_epoch,
                        topic_partitions
                    }),
                }),
            (
                id,
                id,
                proptest::option::of((
                    (ns.clone(), ns.clone(), ".{0,6}", ".{0,6}"),
                    proptest::collection::btree_set("[a-c]{1,3}", 0..3),
                    (ns, any::<u32>(), any::<u32>()),
                ))
            )
                .prop_map(|(group_id, member_id, v)| GroupRecord::MemberMetadata {
                    group_id,
                    member_id,
                    value: v.map(
                        |(
                            (instance_id, rack_id, client_id, client_host),
                            subscribed_topics,
                            (server_assignor, rebalance_timeout_ms, session_timeout_ms),
                        )| MemberMetadata {
                            instance_id,
                            rack_id,
                            client_id,
                            client_host,
                            subscribed_topics,
                            server_assignor,
                            rebalance_timeout_ms,
                            session_timeout_ms,
                        }
                    ),
                }),
            (id, proptest::option::of(any::<i32>())).prop_map(|(group_id, value)| {
                GroupRecord::TargetAssignmentMetadata { group_id, value }
            }),
            (id, id, proptest::option::of(arb_assignment())).prop_map(
                |(group_id, member_id, value)| GroupRecord::TargetAssignmentMember {
                    group_id,
                    member_id,
                    value,
                }
            ),
            (
                id,
                id,
                proptest::option::of((
                    any::<i32>(),
                    any::<i32>(),
                    state,
                    arb_assignment(),
                    arb_assignment()
                ))
            )
                .prop_map(|(group_id, member_id, v)| GroupRecord::CurrentAssignment {
                    group_id,
                    member_id,
                    value: v.map(
                        |(member_epoch, previous_member_epoch, state, assigned, pending)| {
                            CurrentAssignment {
                                member_epoch,
                                previous_member_epoch,
                                state,
                                assigned,
                                pending_revocation: pending,
                            }
                        }
                    ),
                }),
            (
                id,
                "[a-c]{1,3}",
                any::<u32>(),
                proptest::option::of((any::<i64>(), proptest::option::of(".{0,6}"), any::<i64>()))
            )
                .prop_map(|(group_id, topic, p, v)| GroupRecord::OffsetCommit {
                    group_id,
                    topic,
                    partition: PartitionId(p),
                    value: v.map(|(offset, metadata, commit_timestamp_ms)| CommittedOffset {
                        offset,
                        metadata,
                        commit_timestamp_ms,
                    }),
                }),
        ]
    }

    fn round_trip(r: &GroupRecord) -> GroupRecord {
        let key = r.encode_key().unwrap();
        let value = r.encode_value().unwrap();
        GroupRecord::decode(Some(&key), value.as_ref()).unwrap()
    }

    #[test]
    fn offset_commit_layout_is_stable() {
        let r = GroupRecord::OffsetCommit {
            group_id: "g".into(),
            topic: "t".into(),
            partition: PartitionId(2),
            value: Some(CommittedOffset {
                offset: 7,
                metadata: None,
                commit_timestamp_ms: 1,
            }),
        };
        assert_eq!(
            &r.encode_key().unwrap()[..],
            &[0, 6, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 2]
        );
        let mut value = vec![0, 0];
        value.extend_from_slice(&7i64.to_be_bytes());
        value.extend_from_slice(&[0xff, 0xff]);
        value.extend_from_slice(&1i64.to_be_bytes());
        assert_eq!(&r.encode_value().unwrap().unwrap()[..], &value[..]);
    }

    #[test]
    fn tombstones_have_no_value() {
        let r = GroupRecord::MemberMetadata {
            group_id: "g".into(),
            member_id: "m".into(),
            value: None,
        };
        assert!(r.is_tombstone());
        assert_eq!(r.encode_value().unwrap(), None);
        assert_eq!(round_trip(&r), r);
    }

    #[test]
    fn unknown_types_and_versions_are_refused() {
        let key = Bytes::from_static(&[0, 99, 0, 1, b'g']);
        assert!(matches!(
            GroupRecord::decode(Some(&key), None),
            Err(RecordFormatError::UnknownType(99))
        ));
        let key = Bytes::from_static(&[0, 3, 0, 1, b'g']);
        let value = Bytes::from_static(&[0, 1, 0, 0, 0, 1]);
        assert!(matches!(
            GroupRecord::decode(Some(&key), Some(&value)),
            Err(RecordFormatError::UnknownVersion { version: 1, .. })
        ));
        assert!(matches!(
            GroupRecord::decode(None, None),
            Err(RecordFormatError::MissingKey)
        ));
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let key = Bytes::from_static(&[0, 1, 0, 1, b'g', 0]);
        assert!(matches!(
            GroupRecord::decode(Some(&key), None),
            Err(RecordFormatError::Decode(_))
        ));
    }

    proptest! {
        #[test]
        fn records_round_trip(r in arb_record()) {
            prop_assert_eq!(round_trip(&r), r);
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            key in proptest::collection::vec(any::<u8>(), 0..40),
            value in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..60)),
        ) {
            let key = Bytes::from(key);
            let value = value.map(Bytes::from);
            let _ = GroupRecord::decode(Some(&key), value.as_ref());
        }
    }
}
