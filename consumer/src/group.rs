//! Consumer-group membership: the heartbeat task, and the group calls
//! (FindCoordinator, OffsetFetch, OffsetCommit) the consumer makes.
//!
//! ```text
//!  heartbeat task (own connection to the coordinator)      Consumer::poll
//!   join / heartbeat every heartbeat_interval_ms            │
//!   answer with an assignment ──► GroupState.target ──wake──► reconcile:
//!                                                             revoked: commit (auto-commit),
//!                                                                      stop fetching, callback
//!                                                             added:   committed offset
//!                                                                      (OffsetFetch) or
//!                                                                      auto.offset.reset
//!   heartbeat at once with owned_partitions ◄──wake────────── owned set updated
//!   FENCED_MEMBER_EPOCH / UNKNOWN_MEMBER_ID: drop every partition without
//!   committing (GroupState.lost, reported to the callback), join again
//! ```
//!
//! Revocation runs inside `poll`, where the application has finished with
//! the records of the previous poll, so the positions committed for revoked
//! partitions never skip a record the application has not processed.
//! Assignment changes made while a reconcile awaits the broker are told
//! apart by the membership *generation*, which a rejoin bumps.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use runnel_client::{BrokerError, Client, Connection};
use runnel_protocol::api::consumer_group_heartbeat::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, JOIN_EPOCH, LEAVE_EPOCH,
    TopicPartitions,
};
use runnel_protocol::api::find_coordinator::{CoordinatorKeyType, FindCoordinatorRequest};
use runnel_protocol::api::offset_commit::{
    NO_MEMBER_EPOCH, OffsetCommitPartition, OffsetCommitRequest, OffsetCommitTopic,
};
use runnel_protocol::api::offset_fetch::{OffsetFetchRequest, OffsetFetchTopic};
use runnel_protocol::{ErrorCode, PartitionId};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::ConsumerConfig;
use crate::error::ConsumerError;
use crate::record::TopicPartition;
use crate::state::Shared;

/// What the consumer's partitions are doing, as told to the rebalance
/// callback ([`crate::Consumer::on_rebalance`]).
///
/// ```no_run
/// # fn run(consumer: &mut runnel_consumer::Consumer) {
/// use runnel_consumer::Rebalance;
///
/// consumer.on_rebalance(|change| match change {
///     Rebalance::Assigned(partitions) => println!("+ {partitions:?}"),
///     Rebalance::Revoked(partitions) | Rebalance::Lost(partitions) => {
///         println!("- {partitions:?}");
///     }
/// });
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rebalance {
    /// These partitions were added; reading starts at the group's
    /// committed offset (or per `auto.offset.reset`).
    Assigned(Vec<TopicPartition>),
    /// These partitions were given up (after committing their positions,
    /// with `enable.auto.commit`); another member takes them over.
    Revoked(Vec<TopicPartition>),
    /// These partitions were taken away without a commit: the member was
    /// fenced or removed from the group (a missed session, for instance).
    Lost(Vec<TopicPartition>),
}

/// How a member takes part in its group, from [`ConsumerConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupSettings {
    /// The group.
    pub group_id: String,
    /// `session.timeout.ms`; 0 for the broker's default.
    pub session_timeout_ms: u32,
    /// `max.poll.interval.ms`, the rebalance timeout.
    pub rebalance_timeout_ms: u32,
    /// `group.remote.assignor`.
    pub assignor: Option<String>,
    /// `retry.backoff.ms`, between failed heartbeats.
    pub retry_backoff: Duration,
}

impl GroupSettings {
    /// The settings, if `config` names a group.
    pub fn from_config(config: &ConsumerConfig) -> Option<Self> {
        let ms = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
        Some(GroupSettings {
            group_id: config.group_id.clone()?,
            session_timeout_ms: config.session_timeout.map_or(0, ms),
            rebalance_timeout_ms: ms(config.max_poll_interval),
            assignor: config.group_remote_assignor.clone(),
            retry_backoff: config.retry_backoff,
        })
    }
}

/// A random member id: 32 hex digits (chosen by the member, so a join
/// whose answer is lost can be retried without leaving a stray member).
fn new_member_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The member's side of the protocol, shared by the heartbeat task and the
/// consumer.
#[derive(Debug)]
pub(crate) struct GroupState {
    /// The member's id.
    pub member_id: String,
    /// The member's epoch: 0 while (re)joining.
    pub epoch: i32,
    /// The topics subscribed to.
    subscription: Vec<String>,
    /// The subscription changed since the last heartbeat that sent it.
    report_subscription: bool,
    /// The partitions the consumer owns.
    owned: BTreeSet<TopicPartition>,
    /// `owned` changed since the last heartbeat that sent it.
    report_owned: bool,
    /// An assignment from the broker the consumer has not reconciled yet.
    target: Option<BTreeSet<TopicPartition>>,
    /// Partitions lost since the consumer last looked, for the callback.
    lost: Vec<TopicPartition>,
    /// A refusal retrying cannot fix, for `poll` to report.
    error: Option<ConsumerError>,
    /// Bumped when the member loses its partitions and rejoins; a
    /// reconcile begun under an older generation is void.
    generation: u64,
    /// The member left the group (close): no more heartbeats.
    left: bool,
}

/// What the heartbeat task does after handling an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Heartbeat again after this long.
    After(Duration),
    /// Find the coordinator again, then heartbeat after this long.
    Rediscover(Duration),
    /// Stop: the group refused the member for good.
    Stop,
}

impl GroupState {
    /// A member about to join with `topics`.
    pub fn new(topics: Vec<String>) -> Self {
        GroupState {
            member_id: new_member_id(),
            epoch: JOIN_EPOCH,
            subscription: topics,
            report_subscription: true,
            owned: BTreeSet::new(),
            report_owned: true,
            target: None,
            lost: Vec::new(),
            error: None,
            generation: 0,
            left: false,
        }
    }

    /// Replaces the subscription; sent with the next heartbeat.
    pub fn subscribe(&mut self, topics: Vec<String>) {
        if topics != self.subscription {
            self.subscription = topics;
            self.report_subscription = true;
        }
    }

    /// The next heartbeat, clearing the "report" marks (a failed call sets
    /// them again).
    pub fn heartbeat(&mut self, settings: &GroupSettings) -> ConsumerGroupHeartbeatRequest {
        let joining = self.epoch == JOIN_EPOCH;
        let mut request = ConsumerGroupHeartbeatRequest {
            group_id: settings.group_id.clone(),
            member_id: self.member_id.clone(),
            member_epoch: self.epoch,
            ..ConsumerGroupHeartbeatRequest::default()
        };
        if joining {
            request.rebalance_timeout_ms = settings.rebalance_timeout_ms;
            request.session_timeout_ms = settings.session_timeout_ms;
            request.server_assignor.clone_from(&settings.assignor);
        }
        if joining || self.report_subscription {
            request.subscribed_topic_names = Some(self.subscription.clone());
        }
        if joining || self.report_owned {
            request.owned_partitions = Some(to_wire(&self.owned));
        }
        self.report_subscription = false;
        self.report_owned = false;
        request
    }

    /// After a heartbeat that got no answer: report everything again.
    pub fn heartbeat_failed(&mut self) {
        self.report_owned = true;
        self.report_subscription = true;
    }

    /// Takes in a heartbeat answer. Lost partitions are dropped from
    /// `fetch`. Returns what to do next and whether the consumer must be
    /// woken.
    pub fn on_answer(
        &mut self,
        answer: ConsumerGroupHeartbeatResponse,
        settings: &GroupSettings,
        fetch: &Shared,
    ) -> (Next, bool) {
        let interval = Duration::from_millis(u64::from(answer.heartbeat_interval_ms.max(1)));
        match answer.error_code {
            ErrorCode::None => {
                answer.member_id.clone_into(&mut self.member_id);
                self.epoch = answer.member_epoch;
                let Some(assignment) = answer.assignment else {
                    return (Next::After(interval), false);
                };
                let assignment = from_wire(assignment);
                if assignment == self.owned {
                    self.target = None;
                    (Next::After(interval), false)
                } else {
                    self.target = Some(assignment);
                    (Next::After(interval), true)
                }
            }
            ErrorCode::FencedMemberEpoch | ErrorCode::UnknownMemberId => {
                tracing::info!(
                    group = %settings.group_id,
                    error = %answer.error_code,
                    "dropping every partition and joining the group again"
                );
                let lost: Vec<TopicPartition> =
                    std::mem::take(&mut self.owned).into_iter().collect();
                fetch.lock().remove(&lost);
                self.lost.extend(lost);
                self.target = None;
                self.epoch = JOIN_EPOCH;
                self.generation += 1;
                self.report_owned = true;
                self.report_subscription = true;
                (Next::After(Duration::ZERO), true)
            }
            code if code.is_retriable() => {
                self.heartbeat_failed();
                (Next::Rediscover(settings.retry_backoff), false)
            }
            code => {
                self.error = Some(ConsumerError::Group {
                    group: settings.group_id.clone(),
                    source: BrokerError::new(code, answer.error_message),
                });
                (Next::Stop, true)
            }
        }
    }
}

/// Partitions in the wire's per-topic form.
fn to_wire(partitions: &BTreeSet<TopicPartition>) -> Vec<TopicPartitions> {
    let mut by_topic: BTreeMap<&str, Vec<PartitionId>> = BTreeMap::new();
    for tp in partitions {
        by_topic
            .entry(&tp.topic)
            .or_default()
            .push(PartitionId(tp.partition));
    }
    by_topic
        .into_iter()
        .map(|(topic, partitions)| TopicPartitions {
            topic: topic.to_owned(),
            partitions,
        })
        .collect()
}

/// Partitions from the wire's per-topic form.
fn from_wire(assignment: Vec<TopicPartitions>) -> BTreeSet<TopicPartition> {
    let mut set = BTreeSet::new();
    for entry in assignment {
        let topic: Arc<str> = Arc::from(entry.topic);
        for p in entry.partitions {
            set.insert(TopicPartition::new(Arc::clone(&topic), p.0));
        }
    }
    set
}

/// What changed between the partitions owned and an assignment.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Change {
    /// Owned, no longer assigned: to give up.
    pub revoked: Vec<TopicPartition>,
    /// Assigned, not yet owned: to start.
    pub added: Vec<TopicPartition>,
}

/// The difference between `owned` and `target`.
pub(crate) fn change(
    owned: &BTreeSet<TopicPartition>,
    target: &BTreeSet<TopicPartition>,
) -> Change {
    Change {
        revoked: owned.difference(target).cloned().collect(),
        added: target.difference(owned).cloned().collect(),
    }
}

/// The group calls of one consumer: the group, and the connection to its
/// coordinator (found once, found again after a coordinator error), on a
/// client of its own so that group calls never wait behind a fetch.
#[derive(Debug, Clone)]
pub(crate) struct GroupCalls {
    /// The group.
    pub group_id: String,
    /// Heartbeats, commits and offset lookups go through this client.
    client: Client,
    /// The coordinator's address, once found.
    coordinator: Arc<Mutex<Option<String>>>,
}

impl GroupCalls {
    /// Calls for `group_id` through `client`.
    pub fn new(group_id: String, client: Client) -> Self {
        GroupCalls {
            group_id,
            client,
            coordinator: Arc::new(Mutex::new(None)),
        }
    }

    /// A connection to the coordinator, finding it if not known.
    pub async fn connection(&self) -> Result<Connection, ConsumerError> {
        let known = lock(&self.coordinator).clone();
        let addr = match known {
            Some(addr) => addr,
            None => {
                let addr = find_coordinator(&self.client, &self.group_id).await?;
                *lock(&self.coordinator) = Some(addr.clone());
                addr
            }
        };
        match self.client.connection_to_addr(&addr).await {
            Ok(connection) => Ok(connection),
            Err(error) => {
                self.forget_coordinator();
                Err(error.into())
            }
        }
    }

    /// Finds the coordinator again before the next call.
    pub fn forget_coordinator(&self) {
        *lock(&self.coordinator) = None;
    }

    /// The group's committed offsets for `partitions` (absent: none
    /// committed), asked as `member` (`("", -1)` outside the group).
    pub async fn committed(
        &self,
        member: (String, i32),
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, i64>, ConsumerError> {
        if partitions.is_empty() {
            return Ok(HashMap::new());
        }
        let connection = self.connection().await?;
        let result = committed_offsets(&connection, &self.group_id, member, partitions).await;
        self.on_result(&result);
        result
    }

    /// Commits `offsets` as `member` (`("", -1)` outside the group).
    pub async fn commit(
        &self,
        member: (String, i32),
        offsets: &[(TopicPartition, i64)],
    ) -> Result<(), ConsumerError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let connection = self.connection().await?;
        let result = commit_offsets(&connection, &self.group_id, member, offsets).await;
        self.on_result(&result);
        result
    }

    /// After a coordinator error, the next call finds the coordinator
    /// again.
    fn on_result<T>(&self, result: &Result<T, ConsumerError>) {
        let moved = match result {
            Err(ConsumerError::Group { source, .. }) => matches!(
                source.code,
                ErrorCode::NotCoordinator
                    | ErrorCode::CoordinatorNotAvailable
                    | ErrorCode::CoordinatorLoadInProgress
            ),
            Err(ConsumerError::Client(_)) => true,
            _ => false,
        };
        if moved {
            self.forget_coordinator();
        }
    }

    /// Closes the connections.
    pub fn close(&self) {
        self.client.close();
    }
}

/// A member of a group: its state, shared with the heartbeat task.
#[derive(Debug)]
pub(crate) struct GroupMember {
    /// The settings.
    pub settings: GroupSettings,
    /// The group calls (shared with the heartbeat task).
    pub calls: GroupCalls,
    /// Shared with the heartbeat task.
    shared: Arc<GroupShared>,
    /// Stops the heartbeat task.
    stop: CancellationToken,
}

/// The state and the wake-up of the heartbeat task.
#[derive(Debug)]
struct GroupShared {
    /// The member's state.
    state: Mutex<GroupState>,
    /// Heartbeat now (the owned partitions or the subscription changed).
    heartbeat_now: Notify,
}

impl GroupMember {
    /// Joins the group with `topics` and starts heartbeating.
    pub fn start(
        settings: GroupSettings,
        calls: GroupCalls,
        topics: Vec<String>,
        fetch: Arc<Shared>,
        parent: &CancellationToken,
    ) -> Self {
        let shared = Arc::new(GroupShared {
            state: Mutex::new(GroupState::new(topics)),
            heartbeat_now: Notify::new(),
        });
        let stop = parent.child_token();
        tokio::spawn(heartbeat_loop(
            Arc::clone(&shared),
            fetch,
            calls.clone(),
            settings.clone(),
            stop.clone(),
        ));
        GroupMember {
            settings,
            calls,
            shared,
            stop,
        }
    }

    /// Locks the member's state.
    fn state(&self) -> MutexGuard<'_, GroupState> {
        lock(&self.shared.state)
    }

    /// Changes the subscription.
    pub fn subscribe(&self, topics: Vec<String>) {
        self.state().subscribe(topics);
        self.shared.heartbeat_now.notify_one();
    }

    /// What the consumer must act on: lost partitions, a refusal, an
    /// assignment to reconcile (with its generation).
    pub fn take_news(&self) -> News {
        let mut state = self.state();
        let target = state.target.take().map(|assignment| Target {
            change: change(&state.owned, &assignment),
            generation: state.generation,
            assignment,
        });
        News {
            lost: std::mem::take(&mut state.lost),
            error: state.error.clone(),
            target,
        }
    }

    /// Puts back an assignment the consumer could not reconcile, unless a
    /// newer one or a rejoin came in meanwhile.
    pub fn requeue(&self, target: Target) {
        let mut state = self.state();
        if state.generation == target.generation && state.target.is_none() {
            state.target = Some(target.assignment);
        }
    }

    /// Runs `apply` on the owned partitions if `generation` is still
    /// current, then heartbeats at once to report them. The member's lock
    /// is held throughout, so a rejoin cannot slip in between the check and
    /// the change (the fetch state may be locked inside `apply`: the
    /// heartbeat task takes the two locks in the same order). Returns
    /// whether it ran.
    pub fn apply(
        &self,
        generation: u64,
        apply: impl FnOnce(&mut BTreeSet<TopicPartition>),
    ) -> bool {
        let current = {
            let mut state = self.state();
            let current = state.generation == generation;
            if current {
                apply(&mut state.owned);
                state.report_owned = true;
            }
            current
        };
        self.shared.heartbeat_now.notify_one();
        current
    }

    /// Asks the heartbeat task to heartbeat now (a commit was refused as
    /// stale: the next answer brings the current epoch).
    pub fn heartbeat_soon(&self) {
        self.shared.heartbeat_now.notify_one();
    }

    /// The partitions the consumer owns.
    pub fn owned(&self) -> BTreeSet<TopicPartition> {
        self.state().owned.clone()
    }

    /// The member's id and epoch, for commits.
    pub fn identity(&self) -> (String, i32) {
        let state = self.state();
        (state.member_id.clone(), state.epoch)
    }

    /// Leaves the group (epoch -1) and stops heartbeating. Failures are
    /// logged: the session timeout removes the member anyway.
    pub async fn leave(&self) {
        self.stop.cancel();
        let request = {
            let mut state = self.state();
            state.left = true;
            ConsumerGroupHeartbeatRequest {
                group_id: self.settings.group_id.clone(),
                member_id: state.member_id.clone(),
                member_epoch: LEAVE_EPOCH,
                ..ConsumerGroupHeartbeatRequest::default()
            }
        };
        let result = async {
            let connection = self.calls.connection().await?;
            Ok::<_, ConsumerError>(connection.call(&request).await?)
        }
        .await;
        let error = match result {
            Ok(answer) => BrokerError::check(answer.error_code, answer.error_message)
                .err()
                .map(|e| e.to_string()),
            Err(error) => Some(error.to_string()),
        };
        if let Some(error) = error {
            tracing::warn!(group = %self.settings.group_id, %error, "leaving the group failed");
        }
    }
}

/// What a reconcile has to act on.
#[derive(Debug, Default)]
pub(crate) struct News {
    /// Partitions lost since the last look.
    pub lost: Vec<TopicPartition>,
    /// A refusal of the member.
    pub error: Option<ConsumerError>,
    /// An assignment to reach.
    pub target: Option<Target>,
}

/// An assignment from the broker and how to reach it.
#[derive(Debug)]
pub(crate) struct Target {
    /// The complete assignment.
    pub assignment: BTreeSet<TopicPartition>,
    /// What changes from the owned partitions.
    pub change: Change,
    /// The membership generation it belongs to.
    pub generation: u64,
}

impl Drop for GroupMember {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Locks a std mutex, ignoring poisoning: no code path panics while
/// holding these locks.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Asks the bootstrap broker which broker coordinates `group`.
async fn find_coordinator(client: &Client, group: &str) -> Result<String, ConsumerError> {
    let mut answer = client
        .call_idempotent(&FindCoordinatorRequest {
            key_type: CoordinatorKeyType::Group,
            keys: vec![group.to_owned()],
        })
        .await?;
    let coordinator = answer
        .coordinators
        .pop()
        .ok_or_else(|| ConsumerError::Group {
            group: group.to_owned(),
            source: BrokerError::new(ErrorCode::CoordinatorNotAvailable, None),
        })?;
    BrokerError::check(coordinator.error_code, coordinator.error_message).map_err(|source| {
        ConsumerError::Group {
            group: group.to_owned(),
            source,
        }
    })?;
    let bootstrap = &client.config().bootstrap;
    let host = match coordinator.host.as_str() {
        "" | "0.0.0.0" | "::" | "[::]" => bootstrap
            .rsplit_once(':')
            .map_or(bootstrap.as_str(), |(host, _)| host)
            .to_owned(),
        host if host.contains(':') && !host.starts_with('[') => format!("[{host}]"),
        host => host.to_owned(),
    };
    Ok(format!("{host}:{}", coordinator.port))
}

/// Heartbeats until stopped.
async fn heartbeat_loop(
    shared: Arc<GroupShared>,
    fetch: Arc<Shared>,
    calls: GroupCalls,
    settings: GroupSettings,
    stop: CancellationToken,
) {
    let mut delay = Duration::ZERO;
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            () = shared.heartbeat_now.notified() => {}
            () = tokio::time::sleep(delay) => {}
        }
        let connection = tokio::select! {
            () = stop.cancelled() => return,
            result = calls.connection() => result,
        };
        let connection = match connection {
            Ok(connection) => connection,
            Err(error) if !is_retriable_group_error(&error) => {
                lock(&shared.state).error = Some(error);
                fetch.records_ready.notify_one();
                return;
            }
            Err(error) => {
                tracing::warn!(group = %settings.group_id, %error, "cannot reach the group coordinator");
                lock(&shared.state).heartbeat_failed();
                delay = settings.retry_backoff;
                continue;
            }
        };
        let request = {
            let mut state = lock(&shared.state);
            if state.left {
                return;
            }
            state.heartbeat(&settings)
        };
        let answer = tokio::select! {
            () = stop.cancelled() => return,
            answer = connection.call(&request) => answer,
        };
        let next = match answer {
            Ok(answer) => {
                let (next, wake) = lock(&shared.state).on_answer(answer, &settings, &fetch);
                if wake {
                    fetch.records_ready.notify_one();
                }
                next
            }
            Err(error) => {
                tracing::warn!(group = %settings.group_id, %error, "heartbeat failed");
                lock(&shared.state).heartbeat_failed();
                Next::Rediscover(settings.retry_backoff)
            }
        };
        delay = match next {
            Next::After(delay) => delay,
            Next::Rediscover(delay) => {
                calls.forget_coordinator();
                delay
            }
            Next::Stop => return,
        };
    }
}

/// Whether a group error may go away by retrying.
fn is_retriable_group_error(error: &ConsumerError) -> bool {
    match error {
        ConsumerError::Group { source, .. } => source.code.is_retriable(),
        _ => true,
    }
}

/// The group's committed offsets for `partitions` (absent: none
/// committed). `member` is `("", -1)` outside the group.
async fn committed_offsets(
    connection: &Connection,
    group: &str,
    member: (String, i32),
    partitions: &[TopicPartition],
) -> Result<HashMap<TopicPartition, i64>, ConsumerError> {
    let mut topics: BTreeMap<&str, Vec<PartitionId>> = BTreeMap::new();
    for tp in partitions {
        topics
            .entry(&tp.topic)
            .or_default()
            .push(PartitionId(tp.partition));
    }
    let request = OffsetFetchRequest {
        group_id: group.to_owned(),
        member_id: member.0,
        member_epoch: member.1,
        topics: Some(
            topics
                .into_iter()
                .map(|(name, partitions)| OffsetFetchTopic {
                    name: name.to_owned(),
                    partitions,
                })
                .collect(),
        ),
    };
    let answer = connection.call(&request).await?;
    BrokerError::check(answer.error_code, answer.error_message).map_err(|source| {
        ConsumerError::Group {
            group: group.to_owned(),
            source,
        }
    })?;
    let mut offsets = HashMap::new();
    for topic in answer.topics {
        let name: Arc<str> = Arc::from(topic.name);
        for p in topic.partitions {
            if p.error_code.is_ok() && p.committed_offset >= 0 {
                offsets.insert(
                    TopicPartition::new(Arc::clone(&name), p.partition.0),
                    p.committed_offset,
                );
            }
        }
    }
    Ok(offsets)
}

/// Commits `offsets` for the group, fenced by `member` (`("", -1)`
/// outside the group). The first refused partition fails the call.
async fn commit_offsets(
    connection: &Connection,
    group: &str,
    member: (String, i32),
    offsets: &[(TopicPartition, i64)],
) -> Result<(), ConsumerError> {
    if offsets.is_empty() {
        return Ok(());
    }
    let mut topics: BTreeMap<&str, Vec<OffsetCommitPartition>> = BTreeMap::new();
    for (tp, offset) in offsets {
        topics
            .entry(&tp.topic)
            .or_default()
            .push(OffsetCommitPartition {
                partition: PartitionId(tp.partition),
                committed_offset: *offset,
                committed_metadata: None,
            });
    }
    let request = OffsetCommitRequest {
        group_id: group.to_owned(),
        member_id: member.0,
        member_epoch: member.1,
        topics: topics
            .into_iter()
            .map(|(name, partitions)| OffsetCommitTopic {
                name: name.to_owned(),
                partitions,
            })
            .collect(),
    };
    let answer = connection.call(&request).await?;
    for topic in answer.topics {
        for p in topic.partitions {
            if let Err(source) = BrokerError::check(p.error_code, p.error_message) {
                return Err(match source.code {
                    ErrorCode::UnknownMemberId
                    | ErrorCode::StaleMemberEpoch
                    | ErrorCode::FencedMemberEpoch
                    | ErrorCode::InvalidGroupId => ConsumerError::Group {
                        group: group.to_owned(),
                        source,
                    },
                    _ => ConsumerError::Partition {
                        topic: topic.name.clone(),
                        partition: p.partition.0,
                        source,
                    },
                });
            }
        }
    }
    Ok(())
}

/// The member id and epoch of a commit from outside any group.
pub(crate) fn outsider() -> (String, i32) {
    (String::new(), NO_MEMBER_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Limits;

    fn tp(topic: &str, p: u32) -> TopicPartition {
        TopicPartition::new(topic, p)
    }

    fn settings() -> GroupSettings {
        GroupSettings {
            group_id: "g".into(),
            session_timeout_ms: 0,
            rebalance_timeout_ms: 300_000,
            assignor: Some("range".into()),
            retry_backoff: Duration::from_millis(100),
        }
    }

    fn fetch() -> Shared {
        Shared::new(Limits::from_config(&ConsumerConfig::default()))
    }

    fn answer(
        epoch: i32,
        assignment: Option<Vec<TopicPartitions>>,
    ) -> ConsumerGroupHeartbeatResponse {
        ConsumerGroupHeartbeatResponse {
            error_code: ErrorCode::None,
            error_message: None,
            member_id: "m".into(),
            member_epoch: epoch,
            heartbeat_interval_ms: 3_000,
            assignment,
        }
    }

    fn wire(topic: &str, partitions: &[u32]) -> TopicPartitions {
        TopicPartitions {
            topic: topic.into(),
            partitions: partitions.iter().map(|p| PartitionId(*p)).collect(),
        }
    }

    #[test]
    fn a_join_sends_everything_and_later_heartbeats_only_changes() {
        let mut state = GroupState::new(vec!["t".into()]);
        assert_eq!(state.member_id.len(), 32);
        let join = state.heartbeat(&settings());
        assert_eq!(join.member_epoch, JOIN_EPOCH);
        assert_eq!(join.subscribed_topic_names, Some(vec!["t".to_owned()]));
        assert_eq!(join.owned_partitions, Some(Vec::new()));
        assert_eq!(join.rebalance_timeout_ms, 300_000);
        assert_eq!(join.server_assignor.as_deref(), Some("range"));
        let (next, wake) = state.on_answer(
            answer(3, Some(vec![wire("t", &[0, 1])])),
            &settings(),
            &fetch(),
        );
        assert_eq!(next, Next::After(Duration::from_secs(3)));
        assert!(wake, "a new assignment wakes the consumer");
        assert_eq!((state.member_id.as_str(), state.epoch), ("m", 3));
        let beat = state.heartbeat(&settings());
        assert_eq!(beat.member_epoch, 3);
        assert_eq!(beat.subscribed_topic_names, None);
        assert_eq!(beat.owned_partitions, None);
        assert_eq!(beat.server_assignor, None);
    }

    #[test]
    fn reconciling_reports_the_owned_partitions_once() {
        let mut state = GroupState::new(vec!["t".into()]);
        state.heartbeat(&settings());
        state.on_answer(
            answer(1, Some(vec![wire("t", &[0, 1])])),
            &settings(),
            &fetch(),
        );
        let target = state.target.take().unwrap();
        let c = change(&state.owned, &target);
        assert_eq!(c.added, vec![tp("t", 0), tp("t", 1)]);
        assert!(c.revoked.is_empty());
        state.owned = target;
        state.report_owned = true;
        let beat = state.heartbeat(&settings());
        assert_eq!(beat.owned_partitions, Some(vec![wire("t", &[0, 1])]));
        assert_eq!(state.heartbeat(&settings()).owned_partitions, None);
        // The same assignment again is nothing to do.
        let (_, wake) = state.on_answer(
            answer(1, Some(vec![wire("t", &[0, 1])])),
            &settings(),
            &fetch(),
        );
        assert!(!wake);
        assert!(state.target.is_none());
    }

    #[test]
    fn a_smaller_assignment_revokes_the_difference() {
        let owned = BTreeSet::from([tp("t", 0), tp("t", 1), tp("u", 0)]);
        let target = BTreeSet::from([tp("t", 1), tp("u", 0), tp("u", 1)]);
        assert_eq!(
            change(&owned, &target),
            Change {
                revoked: vec![tp("t", 0)],
                added: vec![tp("u", 1)],
            }
        );
    }

    #[test]
    fn fencing_loses_every_partition_and_rejoins() {
        let fetch = fetch();
        fetch.lock().add(tp("t", 0), Some(5));
        let mut state = GroupState::new(vec!["t".into()]);
        state.epoch = 4;
        state.owned = BTreeSet::from([tp("t", 0)]);
        let generation = state.generation;
        let fenced =
            ConsumerGroupHeartbeatResponse::error(ErrorCode::FencedMemberEpoch, "fenced", "m", 4);
        let (next, wake) = state.on_answer(fenced, &settings(), &fetch);
        assert_eq!(next, Next::After(Duration::ZERO));
        assert!(wake);
        assert_eq!(state.epoch, JOIN_EPOCH);
        assert_eq!(state.lost, vec![tp("t", 0)]);
        assert!(state.owned.is_empty());
        assert_ne!(state.generation, generation);
        assert!(fetch.lock().assignment().is_empty(), "no longer fetched");
        let join = state.heartbeat(&settings());
        assert_eq!(join.member_epoch, JOIN_EPOCH);
        assert_eq!(join.member_id, state.member_id);
    }

    #[test]
    fn retriable_errors_rediscover_and_fatal_ones_stop() {
        let mut state = GroupState::new(vec!["t".into()]);
        state.heartbeat(&settings());
        let busy = ConsumerGroupHeartbeatResponse::error(ErrorCode::NotCoordinator, "moved", "", 0);
        let (next, _) = state.on_answer(busy, &settings(), &fetch());
        assert_eq!(next, Next::Rediscover(Duration::from_millis(100)));
        assert!(state.report_owned);
        let refused =
            ConsumerGroupHeartbeatResponse::error(ErrorCode::UnsupportedAssignor, "no", "", 0);
        let (next, wake) = state.on_answer(refused, &settings(), &fetch());
        assert_eq!(next, Next::Stop);
        assert!(wake);
        assert!(matches!(state.error, Some(ConsumerError::Group { .. })));
    }

    #[test]
    fn wire_form_groups_partitions_by_topic() {
        let set = BTreeSet::from([tp("b", 1), tp("a", 2), tp("a", 0)]);
        let wire_form = to_wire(&set);
        assert_eq!(wire_form, vec![wire("a", &[0, 2]), wire("b", &[1])]);
        assert_eq!(from_wire(wire_form), set);
    }
}
