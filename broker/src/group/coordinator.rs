//! [`Coordinator`]: the group coordinator as pure logic, after Kafka's
//! `CoordinatorRuntime`. A call reads the state and returns an [`Outcome`]:
//! the records to persist and the response. Nothing changes until the
//! driver has appended the records to the groups log and hands the outcome
//! back to [`Coordinator::complete`], which applies them — the same
//! [`Groups::apply`] that replays the log at startup, so the state after a
//! restart is the state before it.
//!
//! Time is an argument (`now_ms`), and topics are seen through
//! [`TopicMetadata`], so everything here runs in tests without a clock or a
//! broker.
//!
//! Session and rebalance timers are soft state: not persisted, restarted
//! for every member when the state is loaded.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};

use runnel_config::BrokerConfig;
use runnel_protocol::api::consumer_group_heartbeat::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, JOIN_EPOCH, LEAVE_EPOCH,
};
use runnel_protocol::api::delete_groups::{
    DeletableGroupResult, DeleteGroupsRequest, DeleteGroupsResponse,
};
use runnel_protocol::api::describe_groups::{
    DescribeGroupsRequest, DescribeGroupsResponse, DescribedGroup, DescribedMember,
    GroupOffsetsTopic, GroupPartitionOffset, UNKNOWN,
};
use runnel_protocol::api::list_groups::{ListGroupsRequest, ListGroupsResponse, ListedGroup};
use runnel_protocol::api::offset_commit::{
    MAX_METADATA_BYTES, NO_MEMBER_EPOCH, OffsetCommitPartitionResponse, OffsetCommitRequest,
    OffsetCommitResponse, OffsetCommitTopicResponse,
};
use runnel_protocol::api::offset_fetch::{
    NO_OFFSET, OffsetFetchPartitionResponse, OffsetFetchRequest, OffsetFetchResponse,
    OffsetFetchTopicResponse,
};
use runnel_protocol::{ErrorCode, PartitionId};

use super::assignment::Assignment;
use super::assignor::{AssignmentSpec, Assignor, MemberSpec};
use super::reconcile::reconcile;
use super::records::GroupRecord;
use super::state::{
    CommittedOffset, CurrentAssignment, Group, GroupMetadata, Groups, Member, MemberMetadata,
    MemberState,
};

/// Longest group id or member id, in bytes.
pub const MAX_ID_BYTES: usize = 255;
/// Rebalance timeout of a member that joins without one (Kafka's
/// `max.poll.interval.ms` default).
pub const DEFAULT_REBALANCE_TIMEOUT_MS: u32 = 300_000;

/// How the coordinator sees topics: partition counts by name.
pub trait TopicMetadata {
    /// The partition count of `topic`, or `None` if it does not exist.
    fn partition_count(&self, topic: &str) -> Option<u32>;
}

impl TopicMetadata for BTreeMap<String, u32> {
    fn partition_count(&self, topic: &str) -> Option<u32> {
        self.get(topic).copied()
    }
}

/// The coordinator's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorConfig {
    /// Shortest session timeout a member may ask for.
    pub min_session_timeout_ms: u32,
    /// Longest session timeout a member may ask for.
    pub max_session_timeout_ms: u32,
    /// Session timeout of a member that asks for none.
    pub default_session_timeout_ms: u32,
    /// Heartbeat interval told to members.
    pub heartbeat_interval_ms: u32,
    /// Rebalance timeout of a member that sends none.
    pub default_rebalance_timeout_ms: u32,
    /// Assignor of a group whose members name none.
    pub default_assignor: Assignor,
}

impl CoordinatorConfig {
    /// The settings a broker config implies (values above `u32::MAX` ms are
    /// capped).
    pub fn from_broker(config: &BrokerConfig) -> Self {
        let ms = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        CoordinatorConfig {
            min_session_timeout_ms: ms(config.group_min_session_timeout_ms),
            max_session_timeout_ms: ms(config.group_max_session_timeout_ms),
            default_session_timeout_ms: ms(config.group_default_session_timeout_ms),
            heartbeat_interval_ms: ms(config.group_heartbeat_interval_ms),
            default_rebalance_timeout_ms: DEFAULT_REBALANCE_TIMEOUT_MS,
            default_assignor: Assignor::default(),
        }
    }
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig::from_broker(&BrokerConfig::default())
    }
}

/// Who is heartbeating, from outside the request body.
#[derive(Debug, Clone, Copy)]
pub struct MemberOrigin<'a> {
    /// Client id of the request header.
    pub client_id: &'a str,
    /// Address of the connection.
    pub client_host: &'a str,
    /// The id a member joining with an empty id gets (chosen at random by
    /// the driver, so the coordinator itself stays deterministic).
    pub new_member_id: &'a str,
}

/// A member's session and revocation deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberTimers {
    /// Removed if no heartbeat arrives before this time.
    pub session_deadline_ms: i64,
    /// Removed if it has not confirmed its pending revocation by then.
    pub revocation_deadline_ms: Option<i64>,
}

/// A change of a member's timers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TimerChange {
    /// Set (or reset) the timers.
    Set {
        /// The group.
        group_id: String,
        /// The member.
        member_id: String,
        /// New deadlines.
        timers: MemberTimers,
    },
    /// The member is gone.
    Clear {
        /// The group.
        group_id: String,
        /// The member.
        member_id: String,
    },
}

/// What a call decided: records to persist, then the response.
#[derive(Debug)]
#[must_use = "an outcome does nothing until it is completed"]
pub struct Outcome<R> {
    /// Records to append to the groups log, in order, before completing.
    pub records: Vec<GroupRecord>,
    /// The answer, to send once the records are durable.
    pub response: R,
    /// Timers to change on completion.
    timers: Vec<TimerChange>,
}

impl<R> Outcome<R> {
    /// An outcome that changes nothing.
    fn read(response: R) -> Self {
        Outcome {
            records: Vec::new(),
            response,
            timers: Vec::new(),
        }
    }
}

/// Why a member was removed by [`Coordinator::expire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalReason {
    /// No heartbeat within its session timeout.
    SessionTimeout,
    /// It did not confirm a revocation within its rebalance timeout.
    RebalanceTimeout,
}

impl RemovalReason {
    /// A short name for logs.
    pub const fn name(self) -> &'static str {
        match self {
            RemovalReason::SessionTimeout => "session timeout",
            RemovalReason::RebalanceTimeout => "rebalance timeout",
        }
    }
}

/// A member removed by [`Coordinator::expire`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredMember {
    /// The group.
    pub group_id: String,
    /// The member.
    pub member_id: String,
    /// Why.
    pub reason: RemovalReason,
}

/// A call that fails as a whole.
#[derive(Debug)]
struct Failure {
    /// The wire code.
    code: ErrorCode,
    /// What to tell the client.
    message: String,
}

fn fail(code: ErrorCode, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
    }
}

/// The group coordinator's state and decisions.
#[derive(Debug, Clone)]
pub struct Coordinator {
    /// Settings.
    config: CoordinatorConfig,
    /// The replayed state.
    groups: Groups,
    /// Deadlines per (group, member); soft state.
    timers: BTreeMap<(String, String), MemberTimers>,
}

/// A group being changed by a call: the stored group until the first
/// record, then a copy with every record so far applied.
struct Work<'a> {
    /// The group as the records so far leave it.
    group: Cow<'a, Group>,
    /// The records so far.
    records: Vec<GroupRecord>,
}

impl<'a> Work<'a> {
    fn new(group: Option<&'a Group>, group_id: &str) -> Self {
        Work {
            group: group.map_or_else(|| Cow::Owned(Group::new(group_id)), Cow::Borrowed),
            records: Vec::new(),
        }
    }

    fn push(&mut self, record: GroupRecord) {
        self.group.to_mut().apply(&record);
        self.records.push(record);
    }

    fn group_id(&self) -> String {
        self.group.group_id.clone()
    }

    /// Bumps the group epoch and computes the new target assignment.
    fn bump_epoch(&mut self, topic_partitions: BTreeMap<String, u32>, default: Assignor) {
        let epoch = self.group.metadata.group_epoch.saturating_add(1);
        self.push(GroupRecord::GroupMetadata {
            group_id: self.group_id(),
            value: Some(GroupMetadata {
                group_epoch: epoch,
                topic_partitions,
            }),
        });
        let assignor = select_assignor(&self.group, default);
        let target = {
            let spec = AssignmentSpec {
                members: self
                    .group
                    .members
                    .iter()
                    .map(|(id, m)| {
                        (
                            id.as_str(),
                            MemberSpec {
                                subscribed: &m.metadata.subscribed_topics,
                                previous: self.group.target.get(id),
                            },
                        )
                    })
                    .collect(),
                topics: &self.group.metadata.topic_partitions,
            };
            assignor.assign(&spec)
        };
        let gone: Vec<String> = self
            .group
            .target
            .keys()
            .filter(|m| !target.contains_key(*m))
            .cloned()
            .collect();
        for member_id in gone {
            self.push(GroupRecord::TargetAssignmentMember {
                group_id: self.group_id(),
                member_id,
                value: None,
            });
        }
        for (member_id, a) in target {
            if self.group.target_of(&member_id) != a {
                self.push(GroupRecord::TargetAssignmentMember {
                    group_id: self.group_id(),
                    member_id,
                    value: (!a.is_empty()).then_some(a),
                });
            }
        }
        self.push(GroupRecord::TargetAssignmentMetadata {
            group_id: self.group_id(),
            value: Some(epoch),
        });
    }

    /// Removes members and rebalances the rest.
    fn remove_members(&mut self, ids: &[String], topics: &dyn TopicMetadata, default: Assignor) {
        for member_id in ids {
            if self.group.target.contains_key(member_id) {
                self.push(GroupRecord::TargetAssignmentMember {
                    group_id: self.group_id(),
                    member_id: member_id.clone(),
                    value: None,
                });
            }
            self.push(GroupRecord::MemberMetadata {
                group_id: self.group_id(),
                member_id: member_id.clone(),
                value: None,
            });
        }
        let partitions = subscribed_partitions(&self.group, topics);
        self.bump_epoch(partitions, default);
    }
}

/// The assignor named by most members (first by name on ties), or the
/// default when none names one.
fn select_assignor(group: &Group, default: Assignor) -> Assignor {
    let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
    for m in group.members.values() {
        if let Some(name) = &m.metadata.server_assignor {
            *votes.entry(name).or_default() += 1;
        }
    }
    let mut best: Option<(&str, usize)> = None;
    for (name, count) in votes {
        if best.is_none_or(|(_, c)| count > c) {
            best = Some((name, count));
        }
    }
    best.and_then(|(name, _)| Assignor::from_name(name))
        .unwrap_or(default)
}

/// Partition counts of the topics the group's members subscribe to and
/// that exist.
fn subscribed_partitions(group: &Group, topics: &dyn TopicMetadata) -> BTreeMap<String, u32> {
    group
        .subscribed_topics()
        .filter_map(|t| {
            topics
                .partition_count(t)
                .filter(|n| *n > 0)
                .map(|n| (t.to_owned(), n))
        })
        .collect()
}

/// Every partition owned (assigned or pending revocation) by a member
/// other than `member`.
fn owned_by_others(group: &Group, member: &str) -> Assignment {
    let mut out = Assignment::new();
    for (id, m) in &group.members {
        if id != member {
            for (t, p) in m
                .current
                .assigned
                .iter()
                .chain(m.current.pending_revocation.iter())
            {
                out.insert(t, p);
            }
        }
    }
    out
}

fn check_group_id(group_id: &str) -> Result<(), Failure> {
    if group_id.is_empty() || group_id.len() > MAX_ID_BYTES {
        return Err(fail(
            ErrorCode::InvalidGroupId,
            format!(
                "group id must be 1 to {MAX_ID_BYTES} bytes, got {}",
                group_id.len()
            ),
        ));
    }
    Ok(())
}

/// Fencing of commits and offset reads by a member: it must exist and send
/// its current epoch.
fn check_member_epoch(
    group: Option<&Group>,
    group_id: &str,
    member_id: &str,
    epoch: i32,
) -> Result<(), Failure> {
    let member = group
        .and_then(|g| g.members.get(member_id))
        .ok_or_else(|| {
            fail(
                ErrorCode::UnknownMemberId,
                format!("member {member_id} is not in group {group_id}"),
            )
        })?;
    let current = member.current.member_epoch;
    match epoch.cmp(&current) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Less => Err(fail(
            ErrorCode::StaleMemberEpoch,
            format!("member epoch {epoch} is older than the member's epoch {current}"),
        )),
        std::cmp::Ordering::Greater => Err(fail(
            ErrorCode::FencedMemberEpoch,
            format!("member epoch {epoch} is newer than the member's epoch {current}"),
        )),
    }
}

impl Coordinator {
    /// A coordinator with no groups.
    pub fn new(config: CoordinatorConfig) -> Self {
        Coordinator {
            config,
            groups: Groups::new(),
            timers: BTreeMap::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &CoordinatorConfig {
        &self.config
    }

    /// The state.
    pub fn groups(&self) -> &Groups {
        &self.groups
    }

    /// The deadlines of a member.
    pub fn timers(&self, group_id: &str, member_id: &str) -> Option<MemberTimers> {
        self.timers
            .get(&(group_id.to_owned(), member_id.to_owned()))
            .copied()
    }

    /// Applies a record read back from the groups log (startup replay).
    pub fn replay(&mut self, record: &GroupRecord) {
        self.groups.apply(record);
    }

    /// Starts every member's timers afresh; called once the log is
    /// replayed, so members get a full session to reach the restarted
    /// broker.
    pub fn start_timers(&mut self, now_ms: i64) {
        self.timers.clear();
        for g in self.groups.iter() {
            for (member_id, m) in &g.members {
                let revocation = (m.current.state == MemberState::UnrevokedPartitions)
                    .then(|| now_ms.saturating_add(i64::from(m.metadata.rebalance_timeout_ms)));
                self.timers.insert(
                    (g.group_id.clone(), member_id.clone()),
                    MemberTimers {
                        session_deadline_ms: now_ms
                            .saturating_add(i64::from(m.metadata.session_timeout_ms)),
                        revocation_deadline_ms: revocation,
                    },
                );
            }
        }
    }

    /// The records that rebuild the whole state (for compaction).
    pub fn snapshot(&self) -> Vec<GroupRecord> {
        self.groups.snapshot()
    }

    /// Applies an outcome whose records are in the log, and returns its
    /// response.
    pub fn complete<R>(&mut self, outcome: Outcome<R>) -> R {
        for r in &outcome.records {
            self.groups.apply(r);
        }
        for change in outcome.timers {
            match change {
                TimerChange::Set {
                    group_id,
                    member_id,
                    timers,
                } => {
                    self.timers.insert((group_id, member_id), timers);
                }
                TimerChange::Clear {
                    group_id,
                    member_id,
                } => {
                    self.timers.remove(&(group_id, member_id));
                }
            }
        }
        outcome.response
    }

    /// ConsumerGroupHeartbeat: join, heartbeat or leave.
    pub fn heartbeat(
        &self,
        req: &ConsumerGroupHeartbeatRequest,
        origin: &MemberOrigin<'_>,
        topics: &dyn TopicMetadata,
        now_ms: i64,
    ) -> Outcome<ConsumerGroupHeartbeatResponse> {
        self.try_heartbeat(req, origin, topics, now_ms)
            .unwrap_or_else(|f| {
                Outcome::read(ConsumerGroupHeartbeatResponse::error(
                    f.code,
                    f.message,
                    req.member_id.clone(),
                    req.member_epoch,
                ))
            })
    }

    fn check_heartbeat_request(&self, req: &ConsumerGroupHeartbeatRequest) -> Result<(), Failure> {
        check_group_id(&req.group_id)?;
        if req.member_id.len() > MAX_ID_BYTES {
            return Err(fail(
                ErrorCode::InvalidRequest,
                format!("member id must be at most {MAX_ID_BYTES} bytes"),
            ));
        }
        if req.member_epoch < LEAVE_EPOCH {
            return Err(fail(
                ErrorCode::InvalidRequest,
                format!(
                    "member epoch {} is not valid: 0 joins, -1 leaves",
                    req.member_epoch
                ),
            ));
        }
        if let Some(name) = &req.server_assignor
            && Assignor::from_name(name).is_none()
        {
            return Err(fail(
                ErrorCode::UnsupportedAssignor,
                format!("unknown assignor {name:?}; the broker has range, roundrobin and sticky"),
            ));
        }
        let (min, max) = (
            self.config.min_session_timeout_ms,
            self.config.max_session_timeout_ms,
        );
        if req.session_timeout_ms != 0 && !(min..=max).contains(&req.session_timeout_ms) {
            return Err(fail(
                ErrorCode::InvalidSessionTimeout,
                format!(
                    "session timeout {} ms is outside the broker's range {min} to {max} ms",
                    req.session_timeout_ms
                ),
            ));
        }
        Ok(())
    }

    #[allow(clippy::too_many_lines)] // one decision, read top to bottom
    fn try_heartbeat(
        &self,
        req: &ConsumerGroupHeartbeatRequest,
        origin: &MemberOrigin<'_>,
        topics: &dyn TopicMetadata,
        now_ms: i64,
    ) -> Result<Outcome<ConsumerGroupHeartbeatResponse>, Failure> {
        self.check_heartbeat_request(req)?;
        let group = self.groups.get(&req.group_id);
        if req.member_epoch == LEAVE_EPOCH {
            return self.leave(req, group, topics);
        }
        let joining = req.member_epoch == JOIN_EPOCH;
        let member_id = if joining {
            if req.subscribed_topic_names.is_none() {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    "a joining member must send subscribed_topic_names",
                ));
            }
            let owns = Assignment::from_wire(req.owned_partitions.as_deref().unwrap_or_default());
            if !owns.is_empty() {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    "a joining member owns no partitions; send owned_partitions empty",
                ));
            }
            if req.member_id.is_empty() {
                if group.is_some_and(|g| g.members.contains_key(origin.new_member_id)) {
                    return Err(fail(
                        ErrorCode::CoordinatorNotAvailable,
                        "member id collision; retry the join",
                    ));
                }
                origin.new_member_id.to_owned()
            } else {
                req.member_id.clone()
            }
        } else {
            let member = group
                .and_then(|g| g.members.get(&req.member_id))
                .ok_or_else(|| {
                    fail(
                        ErrorCode::UnknownMemberId,
                        format!(
                            "member {:?} is not in group {}; join again",
                            req.member_id, req.group_id
                        ),
                    )
                })?;
            Self::check_heartbeat_epoch(member, req)?;
            req.member_id.clone()
        };

        let mut work = Work::new(group, &req.group_id);
        let existing: Option<Member> = work.group.members.get(&member_id).cloned();
        let metadata = self.updated_metadata(existing.as_ref().map(|m| &m.metadata), req, origin);
        let subscription_changed = existing.as_ref().is_none_or(|m| {
            m.metadata.subscribed_topics != metadata.subscribed_topics
                || m.metadata.server_assignor != metadata.server_assignor
        });
        if existing.as_ref().is_none_or(|m| m.metadata != metadata) {
            work.push(GroupRecord::MemberMetadata {
                group_id: req.group_id.clone(),
                member_id: member_id.clone(),
                value: Some(metadata.clone()),
            });
        }
        let partitions = subscribed_partitions(&work.group, topics);
        if subscription_changed || partitions != work.group.metadata.topic_partitions {
            work.bump_epoch(partitions, self.config.default_assignor);
        }

        let stored = existing
            .as_ref()
            .map(|m| m.current.clone())
            .unwrap_or_default();
        let start = if joining {
            CurrentAssignment::default()
        } else {
            stored.clone()
        };
        let owned = req.owned_partitions.as_deref().map(Assignment::from_wire);
        let next = {
            let group = &work.group;
            let others = OnceCell::new();
            let held = |t: &str, p: PartitionId| {
                others
                    .get_or_init(|| owned_by_others(group, &member_id))
                    .contains(t, p)
            };
            reconcile(
                &start,
                &group.target_of(&member_id),
                group.assignment_epoch,
                owned.as_ref(),
                &held,
            )
        };
        if existing.is_none() || next != stored {
            work.push(GroupRecord::CurrentAssignment {
                group_id: req.group_id.clone(),
                member_id: member_id.clone(),
                value: Some(next.clone()),
            });
        }

        let include = joining
            || next.member_epoch != req.member_epoch
            || next.assigned != stored.assigned
            || owned.as_ref().is_some_and(|o| *o != next.assigned);
        let was_unrevoked = !joining && stored.state == MemberState::UnrevokedPartitions;
        let revocation_deadline_ms = (next.state == MemberState::UnrevokedPartitions).then(|| {
            self.timers(&req.group_id, &member_id)
                .and_then(|t| t.revocation_deadline_ms)
                .filter(|_| was_unrevoked)
                .unwrap_or_else(|| now_ms.saturating_add(i64::from(metadata.rebalance_timeout_ms)))
        });
        let timers = MemberTimers {
            session_deadline_ms: now_ms.saturating_add(i64::from(metadata.session_timeout_ms)),
            revocation_deadline_ms,
        };
        let response = ConsumerGroupHeartbeatResponse {
            error_code: ErrorCode::None,
            error_message: None,
            member_id: member_id.clone(),
            member_epoch: next.member_epoch,
            heartbeat_interval_ms: self.config.heartbeat_interval_ms,
            assignment: include.then(|| next.assigned.to_wire()),
        };
        Ok(Outcome {
            records: work.records,
            response,
            timers: vec![TimerChange::Set {
                group_id: req.group_id.clone(),
                member_id,
                timers,
            }],
        })
    }

    /// A heartbeat must carry the member's epoch, or its previous one when
    /// everything it reports owning is still assigned to it (the answer
    /// that moved it on was lost).
    fn check_heartbeat_epoch(
        member: &Member,
        req: &ConsumerGroupHeartbeatRequest,
    ) -> Result<(), Failure> {
        let current = &member.current;
        if req.member_epoch == current.member_epoch {
            return Ok(());
        }
        let owned_still_assigned = req
            .owned_partitions
            .as_deref()
            .map(Assignment::from_wire)
            .is_some_and(|o| o.is_subset(&current.assigned));
        if req.member_epoch == current.previous_member_epoch && owned_still_assigned {
            return Ok(());
        }
        Err(fail(
            ErrorCode::FencedMemberEpoch,
            format!(
                "member epoch {} is not the member's epoch {}; give up every partition and join again with epoch 0",
                req.member_epoch, current.member_epoch
            ),
        ))
    }

    fn updated_metadata(
        &self,
        existing: Option<&MemberMetadata>,
        req: &ConsumerGroupHeartbeatRequest,
        origin: &MemberOrigin<'_>,
    ) -> MemberMetadata {
        let mut m = existing.cloned().unwrap_or_else(|| MemberMetadata {
            rebalance_timeout_ms: self.config.default_rebalance_timeout_ms,
            session_timeout_ms: self.config.default_session_timeout_ms,
            ..MemberMetadata::default()
        });
        origin.client_id.clone_into(&mut m.client_id);
        origin.client_host.clone_into(&mut m.client_host);
        if let Some(v) = &req.instance_id {
            m.instance_id = Some(v.clone());
        }
        if let Some(v) = &req.rack_id {
            m.rack_id = Some(v.clone());
        }
        if req.rebalance_timeout_ms != 0 {
            m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        }
        if req.session_timeout_ms != 0 {
            m.session_timeout_ms = req.session_timeout_ms;
        }
        if let Some(topics) = &req.subscribed_topic_names {
            m.subscribed_topics = topics.iter().cloned().collect();
        }
        if let Some(name) = &req.server_assignor {
            m.server_assignor = Some(name.clone());
        }
        m
    }

    fn leave(
        &self,
        req: &ConsumerGroupHeartbeatRequest,
        group: Option<&Group>,
        topics: &dyn TopicMetadata,
    ) -> Result<Outcome<ConsumerGroupHeartbeatResponse>, Failure> {
        let group = group
            .filter(|g| g.members.contains_key(&req.member_id))
            .ok_or_else(|| {
                fail(
                    ErrorCode::UnknownMemberId,
                    format!(
                        "member {:?} is not in group {}",
                        req.member_id, req.group_id
                    ),
                )
            })?;
        let mut work = Work::new(Some(group), &req.group_id);
        work.remove_members(
            std::slice::from_ref(&req.member_id),
            topics,
            self.config.default_assignor,
        );
        Ok(Outcome {
            records: work.records,
            response: ConsumerGroupHeartbeatResponse {
                error_code: ErrorCode::None,
                error_message: None,
                member_id: req.member_id.clone(),
                member_epoch: LEAVE_EPOCH,
                heartbeat_interval_ms: 0,
                assignment: None,
            },
            timers: vec![TimerChange::Clear {
                group_id: req.group_id.clone(),
                member_id: req.member_id.clone(),
            }],
        })
    }

    /// Removes the members whose session or revocation deadline has passed.
    pub fn expire(&self, topics: &dyn TopicMetadata, now_ms: i64) -> Outcome<Vec<ExpiredMember>> {
        let mut by_group: BTreeMap<&str, Vec<ExpiredMember>> = BTreeMap::new();
        for ((group_id, member_id), t) in &self.timers {
            let reason = if now_ms >= t.session_deadline_ms {
                RemovalReason::SessionTimeout
            } else if t.revocation_deadline_ms.is_some_and(|d| now_ms >= d) {
                RemovalReason::RebalanceTimeout
            } else {
                continue;
            };
            by_group.entry(group_id).or_default().push(ExpiredMember {
                group_id: group_id.clone(),
                member_id: member_id.clone(),
                reason,
            });
        }
        let mut outcome = Outcome::read(Vec::new());
        for (group_id, expired) in by_group {
            let group = self.groups.get(group_id);
            let present: Vec<String> = expired
                .iter()
                .filter(|e| group.is_some_and(|g| g.members.contains_key(&e.member_id)))
                .map(|e| e.member_id.clone())
                .collect();
            if !present.is_empty() {
                let mut work = Work::new(group, group_id);
                work.remove_members(&present, topics, self.config.default_assignor);
                outcome.records.extend(work.records);
            }
            for e in expired {
                outcome.timers.push(TimerChange::Clear {
                    group_id: e.group_id.clone(),
                    member_id: e.member_id.clone(),
                });
                if present.contains(&e.member_id) {
                    outcome.response.push(e);
                }
            }
        }
        outcome
    }

    /// OffsetCommit: fenced by member id and epoch, per partition checked.
    pub fn commit_offsets(
        &self,
        req: &OffsetCommitRequest,
        topics: &dyn TopicMetadata,
        now_ms: i64,
    ) -> Outcome<OffsetCommitResponse> {
        if let Err(f) = self.check_commit(req) {
            return Outcome::read(OffsetCommitResponse::uniform(req, f.code, Some(&f.message)));
        }
        let mut records = Vec::new();
        let mut response = OffsetCommitResponse::default();
        for t in &req.topics {
            let count = topics.partition_count(&t.name);
            let mut partitions = Vec::with_capacity(t.partitions.len());
            for p in &t.partitions {
                let error = if count.is_none_or(|n| p.partition.0 >= n) {
                    Some((
                        ErrorCode::UnknownTopicOrPartition,
                        format!("unknown topic or partition {}/{}", t.name, p.partition),
                    ))
                } else if p.committed_offset < 0 {
                    Some((
                        ErrorCode::InvalidRequest,
                        format!("offset {} is negative", p.committed_offset),
                    ))
                } else if p
                    .committed_metadata
                    .as_ref()
                    .is_some_and(|m| m.len() > MAX_METADATA_BYTES)
                {
                    Some((
                        ErrorCode::InvalidCommitOffsetSize,
                        format!("metadata is over {MAX_METADATA_BYTES} bytes"),
                    ))
                } else {
                    None
                };
                if error.is_none() {
                    records.push(GroupRecord::OffsetCommit {
                        group_id: req.group_id.clone(),
                        topic: t.name.clone(),
                        partition: p.partition,
                        value: Some(CommittedOffset {
                            offset: p.committed_offset,
                            metadata: p.committed_metadata.clone(),
                            commit_timestamp_ms: now_ms,
                        }),
                    });
                }
                let (error_code, error_message) =
                    error.map_or((ErrorCode::None, None), |(c, m)| (c, Some(m)));
                partitions.push(OffsetCommitPartitionResponse {
                    partition: p.partition,
                    error_code,
                    error_message,
                });
            }
            response.topics.push(OffsetCommitTopicResponse {
                name: t.name.clone(),
                partitions,
            });
        }
        if !records.is_empty() && self.groups.get(&req.group_id).is_none() {
            records.insert(
                0,
                GroupRecord::GroupMetadata {
                    group_id: req.group_id.clone(),
                    value: Some(GroupMetadata::default()),
                },
            );
        }
        Outcome {
            records,
            response,
            timers: Vec::new(),
        }
    }

    fn check_commit(&self, req: &OffsetCommitRequest) -> Result<(), Failure> {
        check_group_id(&req.group_id)?;
        let group = self.groups.get(&req.group_id);
        if !req.member_id.is_empty() {
            return check_member_epoch(group, &req.group_id, &req.member_id, req.member_epoch);
        }
        if req.member_epoch != NO_MEMBER_EPOCH {
            return Err(fail(
                ErrorCode::UnknownMemberId,
                "a commit without a member id must carry member epoch -1",
            ));
        }
        if let Some(g) = group.filter(|g| !g.members.is_empty()) {
            return Err(fail(
                ErrorCode::UnknownMemberId,
                format!(
                    "group {} has {} members; only they may commit",
                    g.group_id,
                    g.members.len()
                ),
            ));
        }
        Ok(())
    }

    /// OffsetFetch: committed offsets, fenced like a commit when a member
    /// id is given.
    pub fn fetch_offsets(&self, req: &OffsetFetchRequest) -> OffsetFetchResponse {
        if let Err(f) = check_group_id(&req.group_id) {
            return OffsetFetchResponse::error(f.code, f.message);
        }
        let group = self.groups.get(&req.group_id);
        if !req.member_id.is_empty()
            && let Err(f) =
                check_member_epoch(group, &req.group_id, &req.member_id, req.member_epoch)
        {
            return OffsetFetchResponse::error(f.code, f.message);
        }
        let entry =
            |partition: PartitionId, c: Option<&CommittedOffset>| OffsetFetchPartitionResponse {
                partition,
                committed_offset: c.map_or(NO_OFFSET, |c| c.offset),
                committed_metadata: c.and_then(|c| c.metadata.clone()),
                error_code: ErrorCode::None,
                error_message: None,
            };
        let topics = match &req.topics {
            Some(topics) => topics
                .iter()
                .map(|t| OffsetFetchTopicResponse {
                    name: t.name.clone(),
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| {
                            entry(*p, group.and_then(|g| g.offsets.get(&(t.name.clone(), *p))))
                        })
                        .collect(),
                })
                .collect(),
            None => {
                let mut out: Vec<OffsetFetchTopicResponse> = Vec::new();
                for ((topic, p), c) in group.iter().flat_map(|g| g.offsets.iter()) {
                    if out.last().is_none_or(|t| t.name != *topic) {
                        out.push(OffsetFetchTopicResponse {
                            name: topic.clone(),
                            partitions: Vec::new(),
                        });
                    }
                    if let Some(t) = out.last_mut() {
                        t.partitions.push(entry(*p, Some(c)));
                    }
                }
                out
            }
        };
        OffsetFetchResponse {
            topics,
            error_code: ErrorCode::None,
            error_message: None,
        }
    }

    /// ListGroups.
    pub fn list_groups(&self, req: &ListGroupsRequest) -> ListGroupsResponse {
        let groups = self
            .groups
            .iter()
            .filter(|g| {
                req.states_filter.is_empty()
                    || req.states_filter.iter().any(|s| s == g.state().name())
            })
            .map(|g| ListedGroup {
                group_id: g.group_id.clone(),
                group_state: g.state().name().to_owned(),
                member_count: u32::try_from(g.members.len()).unwrap_or(u32::MAX),
            })
            .collect();
        ListGroupsResponse { groups }
    }

    /// DescribeGroups, with every lag figure unknown: the caller, which
    /// can read the partitions, fills them in.
    pub fn describe_groups(&self, req: &DescribeGroupsRequest) -> DescribeGroupsResponse {
        let groups = req
            .group_ids
            .iter()
            .map(|id| {
                if let Err(f) = check_group_id(id) {
                    return DescribedGroup::error(id.clone(), f.code, f.message);
                }
                match self.groups.get(id) {
                    Some(g) => self.describe(g),
                    None => DescribedGroup::error(
                        id.clone(),
                        ErrorCode::GroupIdNotFound,
                        format!("no group {id}"),
                    ),
                }
            })
            .collect();
        DescribeGroupsResponse { groups }
    }

    fn describe(&self, g: &Group) -> DescribedGroup {
        let members = g
            .members
            .iter()
            .map(|(id, m)| DescribedMember {
                member_id: id.clone(),
                instance_id: m.metadata.instance_id.clone(),
                rack_id: m.metadata.rack_id.clone(),
                client_id: m.metadata.client_id.clone(),
                client_host: m.metadata.client_host.clone(),
                member_epoch: m.current.member_epoch,
                member_state: m.current.state.name().to_owned(),
                subscribed_topic_names: m.metadata.subscribed_topics.iter().cloned().collect(),
                assignment: m.current.assigned.to_wire(),
                pending_revocation: m.current.pending_revocation.to_wire(),
                target_assignment: g.target_of(id).to_wire(),
            })
            .collect();
        let mut partitions: BTreeMap<(&str, PartitionId), Option<&CommittedOffset>> = g
            .offsets
            .iter()
            .map(|((t, p), c)| ((t.as_str(), *p), Some(c)))
            .collect();
        for m in g.members.values() {
            for (t, p) in m
                .current
                .assigned
                .iter()
                .chain(m.current.pending_revocation.iter())
            {
                partitions.entry((t, p)).or_insert(None);
            }
        }
        let mut offsets: Vec<GroupOffsetsTopic> = Vec::new();
        for ((topic, partition), c) in partitions {
            if offsets.last().is_none_or(|t| t.topic != topic) {
                offsets.push(GroupOffsetsTopic {
                    topic: topic.to_owned(),
                    partitions: Vec::new(),
                });
            }
            if let Some(t) = offsets.last_mut() {
                t.partitions.push(GroupPartitionOffset {
                    partition,
                    error_code: ErrorCode::None,
                    error_message: None,
                    committed_offset: c.map_or(UNKNOWN, |c| c.offset),
                    committed_metadata: c.and_then(|c| c.metadata.clone()),
                    log_end_offset: UNKNOWN,
                    lag: UNKNOWN,
                    time_lag_ms: UNKNOWN,
                });
            }
        }
        DescribedGroup {
            group_id: g.group_id.clone(),
            error_code: ErrorCode::None,
            error_message: None,
            group_state: g.state().name().to_owned(),
            group_epoch: g.metadata.group_epoch,
            assignment_epoch: g.assignment_epoch,
            assignor_name: select_assignor(g, self.config.default_assignor)
                .name()
                .to_owned(),
            members,
            offsets,
        }
    }

    /// DeleteGroups: only groups without members, with their offsets.
    pub fn delete_groups(&self, req: &DeleteGroupsRequest) -> Outcome<DeleteGroupsResponse> {
        let mut outcome = Outcome::read(DeleteGroupsResponse::default());
        let mut deleted: BTreeSet<&str> = BTreeSet::new();
        for id in &req.group_ids {
            let result = self.delete_one(id, deleted.contains(id.as_str()));
            let (error_code, error_message) = match result {
                Ok(records) => {
                    if !records.is_empty() {
                        deleted.insert(id);
                    }
                    outcome.records.extend(records);
                    (ErrorCode::None, None)
                }
                Err(f) => (f.code, Some(f.message)),
            };
            outcome.response.results.push(DeletableGroupResult {
                group_id: id.clone(),
                error_code,
                error_message,
            });
        }
        outcome
    }

    fn delete_one(&self, id: &str, already: bool) -> Result<Vec<GroupRecord>, Failure> {
        check_group_id(id)?;
        if already {
            return Ok(Vec::new());
        }
        let g = self
            .groups
            .get(id)
            .ok_or_else(|| fail(ErrorCode::GroupIdNotFound, format!("no group {id}")))?;
        if !g.members.is_empty() {
            return Err(fail(
                ErrorCode::NonEmptyGroup,
                format!("group {id} still has {} members", g.members.len()),
            ));
        }
        let mut records = Vec::new();
        for (topic, partition) in g.offsets.keys() {
            records.push(GroupRecord::OffsetCommit {
                group_id: id.to_owned(),
                topic: topic.clone(),
                partition: *partition,
                value: None,
            });
        }
        for member_id in g.target.keys() {
            records.push(GroupRecord::TargetAssignmentMember {
                group_id: id.to_owned(),
                member_id: member_id.clone(),
                value: None,
            });
        }
        records.push(GroupRecord::TargetAssignmentMetadata {
            group_id: id.to_owned(),
            value: None,
        });
        records.push(GroupRecord::GroupMetadata {
            group_id: id.to_owned(),
            value: None,
        });
        Ok(records)
    }
}
