//! The state a coordinator rebuilds from its records: [`Groups`], each
//! [`Group`] with its members, target assignment and committed offsets.
//!
//! Every change goes through [`Groups::apply`] with a [`GroupRecord`]: live,
//! after the record is appended to the groups log, and at startup, when the
//! log is replayed. Each record sets or clears one key (a tombstone clears
//! it), so replaying any suffix of the log that starts at or before the last
//! snapshot gives the same state as replaying all of it.

use std::collections::{BTreeMap, BTreeSet};

use runnel_protocol::PartitionId;

use super::assignment::Assignment;
use super::records::GroupRecord;

/// Where a member stands in moving toward its target assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MemberState {
    /// It owns exactly its target at its epoch (or waits for nothing).
    #[default]
    Stable,
    /// It must give up partitions and has not yet confirmed it did.
    UnrevokedPartitions,
    /// It is at the target epoch but waits for partitions other members
    /// still own.
    UnreleasedPartitions,
}

impl MemberState {
    /// The code stored in the groups log.
    pub const fn code(self) -> i8 {
        match self {
            MemberState::Stable => 0,
            MemberState::UnrevokedPartitions => 1,
            MemberState::UnreleasedPartitions => 2,
        }
    }

    /// The state of a stored code.
    pub const fn from_code(code: i8) -> Option<Self> {
        match code {
            0 => Some(MemberState::Stable),
            1 => Some(MemberState::UnrevokedPartitions),
            2 => Some(MemberState::UnreleasedPartitions),
            _ => None,
        }
    }

    /// The name DescribeGroups reports.
    pub const fn name(self) -> &'static str {
        match self {
            MemberState::Stable => "stable",
            MemberState::UnrevokedPartitions => "unrevoked_partitions",
            MemberState::UnreleasedPartitions => "unreleased_partitions",
        }
    }
}

/// The state of a group as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// No members.
    Empty,
    /// Some member has partitions to give up or to receive.
    Reconciling,
    /// Every member owns its target at the assignment epoch.
    Stable,
}

impl GroupState {
    /// The name ListGroups and DescribeGroups report.
    pub const fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::Reconciling => "Reconciling",
            GroupState::Stable => "Stable",
        }
    }
}

/// Group-wide metadata (the GroupMetadata record).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupMetadata {
    /// Bumped on every membership, subscription or partition-count change.
    pub group_epoch: i32,
    /// Partition counts of the subscribed topics when the epoch was last
    /// bumped; a heartbeat that sees other counts bumps it again.
    pub topic_partitions: BTreeMap<String, u32>,
}

/// What a member told the group about itself (the MemberMetadata record).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberMetadata {
    /// Static membership id, recorded for DescribeGroups.
    pub instance_id: Option<String>,
    /// The member's rack, recorded for DescribeGroups.
    pub rack_id: Option<String>,
    /// Client id from the request header.
    pub client_id: String,
    /// The address the member connects from.
    pub client_host: String,
    /// Topics it subscribes to.
    pub subscribed_topics: BTreeSet<String>,
    /// The assignor it asked for, by name.
    pub server_assignor: Option<String>,
    /// Longest it may take to give up revoked partitions.
    pub rebalance_timeout_ms: u32,
    /// Removed after this long without a heartbeat.
    pub session_timeout_ms: u32,
}

/// What a member owns (the CurrentMemberAssignment record).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrentAssignment {
    /// The assignment epoch of the last target it fully reached.
    pub member_epoch: i32,
    /// Its epoch before the last change, accepted once more from a member
    /// whose answer was lost.
    pub previous_member_epoch: i32,
    /// Where it stands.
    pub state: MemberState,
    /// Partitions it owns and consumes.
    pub assigned: Assignment,
    /// Revoked partitions it still owns until it confirms giving them up.
    pub pending_revocation: Assignment,
}

impl CurrentAssignment {
    /// Every partition the member owns: assigned or pending revocation.
    pub fn owned(&self) -> Assignment {
        self.assigned.union(&self.pending_revocation)
    }
}

/// A member of a group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Member {
    /// What it told the group.
    pub metadata: MemberMetadata,
    /// What it owns.
    pub current: CurrentAssignment,
}

/// A committed offset (the OffsetCommit record).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The next offset to consume.
    pub offset: i64,
    /// Text committed with it.
    pub metadata: Option<String>,
    /// When it was committed, by the broker's clock.
    pub commit_timestamp_ms: i64,
}

/// One consumer group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    /// The group id.
    pub group_id: String,
    /// Epoch and subscribed partition counts.
    pub metadata: GroupMetadata,
    /// The group epoch `target` was computed at.
    pub assignment_epoch: i32,
    /// The target assignment per member; members with an empty target have
    /// no entry.
    pub target: BTreeMap<String, Assignment>,
    /// Members by id.
    pub members: BTreeMap<String, Member>,
    /// Committed offsets by topic and partition.
    pub offsets: BTreeMap<(String, PartitionId), CommittedOffset>,
    /// How many members subscribe to each topic: derived from `members`
    /// (kept in step by [`Group::apply`], never stored), so a heartbeat
    /// checks the subscribed topics without walking every member.
    subscriptions: BTreeMap<String, usize>,
}

impl Group {
    /// An empty group at epoch 0.
    pub fn new(group_id: &str) -> Self {
        Group {
            group_id: group_id.to_owned(),
            ..Group::default()
        }
    }

    /// The group's state.
    pub fn state(&self) -> GroupState {
        if self.members.is_empty() {
            GroupState::Empty
        } else if self.members.values().all(|m| {
            m.current.state == MemberState::Stable
                && m.current.member_epoch == self.assignment_epoch
        }) {
            GroupState::Stable
        } else {
            GroupState::Reconciling
        }
    }

    /// Every topic some member subscribes to.
    pub fn subscribed_topics(&self) -> impl Iterator<Item = &str> {
        self.subscriptions.keys().map(String::as_str)
    }

    fn unsubscribe(&mut self, member_id: &str) {
        let Some(m) = self.members.get(member_id) else {
            return;
        };
        for t in &m.metadata.subscribed_topics {
            if let Some(n) = self.subscriptions.get_mut(t) {
                *n -= 1;
                if *n == 0 {
                    self.subscriptions.remove(t);
                }
            }
        }
    }

    /// The target of `member` (empty if it has none).
    pub fn target_of(&self, member: &str) -> Assignment {
        self.target.get(member).cloned().unwrap_or_default()
    }

    /// Applies a record of this group, other than a GroupMetadata
    /// tombstone (which [`Groups::apply`] handles by removing the group).
    pub fn apply(&mut self, record: &GroupRecord) {
        match record {
            GroupRecord::GroupMetadata { value, .. } => {
                if let Some(v) = value {
                    self.metadata = v.clone();
                }
            }
            GroupRecord::MemberMetadata {
                member_id, value, ..
            } => {
                self.unsubscribe(member_id);
                match value {
                    Some(v) => {
                        for t in &v.subscribed_topics {
                            *self.subscriptions.entry(t.clone()).or_default() += 1;
                        }
                        self.members.entry(member_id.clone()).or_default().metadata = v.clone();
                    }
                    None => {
                        self.members.remove(member_id);
                    }
                }
            }
            GroupRecord::TargetAssignmentMetadata { value, .. } => {
                self.assignment_epoch = value.unwrap_or(0);
            }
            GroupRecord::TargetAssignmentMember {
                member_id, value, ..
            } => match value {
                Some(a) if !a.is_empty() => {
                    self.target.insert(member_id.clone(), a.clone());
                }
                _ => {
                    self.target.remove(member_id);
                }
            },
            GroupRecord::CurrentAssignment {
                member_id, value, ..
            } => match value {
                Some(v) => self.members.entry(member_id.clone()).or_default().current = v.clone(),
                None => {
                    if let Some(m) = self.members.get_mut(member_id) {
                        m.current = CurrentAssignment::default();
                    }
                }
            },
            GroupRecord::OffsetCommit {
                topic,
                partition,
                value,
                ..
            } => match value {
                Some(v) => {
                    self.offsets.insert((topic.clone(), *partition), v.clone());
                }
                None => {
                    self.offsets.remove(&(topic.clone(), *partition));
                }
            },
        }
    }

    /// The records that rebuild this group from nothing: group metadata
    /// first, then the target epoch, members, targets and offsets.
    pub fn snapshot(&self, out: &mut Vec<GroupRecord>) {
        let group_id = &self.group_id;
        out.push(GroupRecord::GroupMetadata {
            group_id: group_id.clone(),
            value: Some(self.metadata.clone()),
        });
        out.push(GroupRecord::TargetAssignmentMetadata {
            group_id: group_id.clone(),
            value: Some(self.assignment_epoch),
        });
        for (member_id, m) in &self.members {
            out.push(GroupRecord::MemberMetadata {
                group_id: group_id.clone(),
                member_id: member_id.clone(),
                value: Some(m.metadata.clone()),
            });
            out.push(GroupRecord::CurrentAssignment {
                group_id: group_id.clone(),
                member_id: member_id.clone(),
                value: Some(m.current.clone()),
            });
        }
        for (member_id, a) in &self.target {
            out.push(GroupRecord::TargetAssignmentMember {
                group_id: group_id.clone(),
                member_id: member_id.clone(),
                value: Some(a.clone()),
            });
        }
        for ((topic, partition), v) in &self.offsets {
            out.push(GroupRecord::OffsetCommit {
                group_id: group_id.clone(),
                topic: topic.clone(),
                partition: *partition,
                value: Some(v.clone()),
            });
        }
    }
}

/// Every group a coordinator holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Groups {
    /// Groups by id.
    groups: BTreeMap<String, Group>,
}

impl Groups {
    /// No groups.
    pub fn new() -> Self {
        Groups::default()
    }

    /// The group `id`.
    pub fn get(&self, id: &str) -> Option<&Group> {
        self.groups.get(id)
    }

    /// Every group, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether there are no groups.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Applies one record. A GroupMetadata tombstone removes the group;
    /// any other record creates its group if needed.
    pub fn apply(&mut self, record: &GroupRecord) {
        let id = record.group_id();
        if let GroupRecord::GroupMetadata { value: None, .. } = record {
            self.groups.remove(id);
            return;
        }
        self.groups
            .entry(id.to_owned())
            .or_insert_with(|| Group::new(id))
            .apply(record);
    }

    /// The records that rebuild every group from nothing.
    pub fn snapshot(&self) -> Vec<GroupRecord> {
        let mut out = Vec::new();
        for g in self.groups.values() {
            g.snapshot(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Groups {
        let mut groups = Groups::new();
        let mut a = Assignment::new();
        a.insert("t", PartitionId(0));
        let records = [
            GroupRecord::GroupMetadata {
                group_id: "g".into(),
                value: Some(GroupMetadata {
                    group_epoch: 2,
                    topic_partitions: BTreeMap::from([("t".to_owned(), 1)]),
                }),
            },
            GroupRecord::MemberMetadata {
                group_id: "g".into(),
                member_id: "m".into(),
                value: Some(MemberMetadata {
                    client_id: "c".into(),
                    subscribed_topics: BTreeSet::from(["t".to_owned()]),
                    session_timeout_ms: 45_000,
                    ..MemberMetadata::default()
                }),
            },
            GroupRecord::TargetAssignmentMember {
                group_id: "g".into(),
                member_id: "m".into(),
                value: Some(a.clone()),
            },
            GroupRecord::TargetAssignmentMetadata {
                group_id: "g".into(),
                value: Some(2),
            },
            GroupRecord::CurrentAssignment {
                group_id: "g".into(),
                member_id: "m".into(),
                value: Some(CurrentAssignment {
                    member_epoch: 2,
                    previous_member_epoch: 1,
                    state: MemberState::Stable,
                    assigned: a,
                    pending_revocation: Assignment::new(),
                }),
            },
            GroupRecord::OffsetCommit {
                group_id: "g".into(),
                topic: "t".into(),
                partition: PartitionId(0),
                value: Some(CommittedOffset {
                    offset: 5,
                    metadata: None,
                    commit_timestamp_ms: 1,
                }),
            },
        ];
        for r in &records {
            groups.apply(r);
        }
        groups
    }

    #[test]
    fn snapshot_rebuilds_the_same_state() {
        let groups = sample();
        let mut again = Groups::new();
        for r in groups.snapshot() {
            again.apply(&r);
        }
        assert_eq!(again, groups);
        assert_eq!(groups.get("g").unwrap().state(), GroupState::Stable);
    }

    #[test]
    fn replaying_a_snapshot_over_the_old_state_changes_nothing() {
        let groups = sample();
        let mut again = groups.clone();
        for r in groups.snapshot() {
            again.apply(&r);
        }
        assert_eq!(again, groups);
    }

    #[test]
    fn tombstones_clear_their_key() {
        let mut groups = sample();
        groups.apply(&GroupRecord::MemberMetadata {
            group_id: "g".into(),
            member_id: "m".into(),
            value: None,
        });
        assert!(groups.get("g").unwrap().members.is_empty());
        assert_eq!(groups.get("g").unwrap().state(), GroupState::Empty);
        groups.apply(&GroupRecord::GroupMetadata {
            group_id: "g".into(),
            value: None,
        });
        assert!(groups.is_empty());
    }

    #[test]
    fn subscriptions_follow_the_members() {
        let mut groups = sample();
        let topics = |g: &Groups| {
            g.get("g")
                .unwrap()
                .subscribed_topics()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(topics(&groups), ["t"]);
        groups.apply(&GroupRecord::MemberMetadata {
            group_id: "g".into(),
            member_id: "m".into(),
            value: Some(MemberMetadata {
                subscribed_topics: BTreeSet::from(["u".to_owned(), "v".to_owned()]),
                ..MemberMetadata::default()
            }),
        });
        assert_eq!(topics(&groups), ["u", "v"]);
        groups.apply(&GroupRecord::MemberMetadata {
            group_id: "g".into(),
            member_id: "m".into(),
            value: None,
        });
        assert!(topics(&groups).is_empty());
    }

    #[test]
    fn member_states_round_trip_their_codes() {
        for s in [
            MemberState::Stable,
            MemberState::UnrevokedPartitions,
            MemberState::UnreleasedPartitions,
        ] {
            assert_eq!(MemberState::from_code(s.code()), Some(s));
        }
        assert_eq!(MemberState::from_code(3), None);
    }
}
