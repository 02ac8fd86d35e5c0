//! [`FetchState`]: what the consumer and its fetcher task share — the
//! assigned partitions with their positions, the queue of fetched data, and
//! the prefetch budget.
//!
//! # Positions and epochs
//! Each partition has two offsets: its *position*, the next offset the
//! application will receive, and its *fetch offset*, the next offset to ask
//! the broker for (ahead of the position by whatever is buffered). A seek
//! or an automatic reset sets both and bumps the partition's *epoch*;
//! buffered data and responses in flight carry the epoch they were planned
//! under, and anything from an older epoch is dropped.
//!
//! # Budget
//! `buffered` counts the record bytes of fetched data not yet handed out,
//! `reserved` the `max_bytes` of fetches in flight. A fetch is planned only
//! while `buffered + reserved` stays within `fetch.buffer.bytes`, so memory
//! held for prefetching never exceeds the budget — with one exception, as
//! in Kafka: a single batch larger than the broker's limits is returned
//! whole when it is first in line, and such a batch is accepted only when
//! nothing else is held (otherwise it is dropped and fetched again once the
//! buffer has drained), so the consumer can always make progress.
//!
//! # Errors
//! A partition error (corrupt data, an offset out of range with
//! `auto.offset.reset=none`, a broker refusal) is queued after the data
//! fetched before it and halts fetching of the partition. When the
//! application reaches it, it becomes the partition's sticky error,
//! returned by every poll until the partition is sought elsewhere.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use runnel_client::{BrokerError, ClientError, invalidates_metadata};
use runnel_protocol::api::fetch::{
    FetchPartition, FetchPartitionResponse, FetchRequest, FetchResponse, FetchTopic, IsolationLevel,
};
use runnel_protocol::record::Batches;
use runnel_protocol::{ErrorCode, NodeId, PartitionId};
use tokio::sync::Notify;
use tokio::time::{Duration, Instant};

use crate::buffer::CompletedFetch;
use crate::config::{AutoOffsetReset, ConsumerConfig};
use crate::error::{ConsumerError, CorruptCause};
use crate::record::TopicPartition;

/// State shared by a consumer and its fetcher task, and their wake-ups.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The state; locked briefly, never across an `.await`.
    state: Mutex<FetchState>,
    /// Fetched data (or an error) was queued: wakes a waiting poll.
    pub records_ready: Notify,
    /// The assignment, a position or the budget changed: wakes the fetcher.
    pub fetcher_wake: Notify,
}

impl Shared {
    /// Empty state under `limits`.
    pub fn new(limits: Limits) -> Self {
        Shared {
            state: Mutex::new(FetchState::new(limits)),
            records_ready: Notify::new(),
            fetcher_wake: Notify::new(),
        }
    }

    /// Locks the state, ignoring poisoning: no code path panics while
    /// holding the lock.
    pub fn lock(&self) -> MutexGuard<'_, FetchState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The settings the fetch state works by, taken from [`ConsumerConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// `fetch.buffer.bytes`.
    pub budget: usize,
    /// `fetch.max.bytes`.
    pub fetch_max_bytes: u32,
    /// `max.partition.fetch.bytes`.
    pub partition_max_bytes: u32,
    /// `fetch.min.bytes`.
    pub min_bytes: u32,
    /// `fetch.max.wait.ms`.
    pub max_wait_ms: u32,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `auto.offset.reset`.
    pub reset: AutoOffsetReset,
    /// `isolation.level`.
    pub isolation: IsolationLevel,
}

impl Limits {
    /// The limits `config` sets.
    pub fn from_config(config: &ConsumerConfig) -> Self {
        Limits {
            budget: config.fetch_buffer_bytes.max(1),
            fetch_max_bytes: config.fetch_max_bytes.max(1),
            partition_max_bytes: config.max_partition_fetch_bytes.max(1),
            min_bytes: config.fetch_min_bytes,
            max_wait_ms: u32::try_from(config.fetch_max_wait.as_millis()).unwrap_or(u32::MAX),
            retry_backoff: config.retry_backoff,
            reset: config.auto_offset_reset,
            isolation: config.isolation_level,
        }
    }

    /// The smallest fetch worth sending while something is already held:
    /// room for one partition's worth of data.
    fn min_useful(&self) -> usize {
        (self.partition_max_bytes.min(self.fetch_max_bytes) as usize).min(self.budget)
    }
}

/// One assigned partition.
#[derive(Debug)]
struct PartitionState {
    /// Bumped by every seek or reset; older data is stale.
    epoch: u64,
    /// The next offset to hand out; `None` until one is known
    /// (`auto.offset.reset=none` without a seek).
    position: Option<i64>,
    /// The next offset to fetch.
    fetch_offset: i64,
    /// A fetch for it is in flight.
    in_flight: bool,
    /// Not fetched before this instant (after a retriable error).
    retry_at: Option<Instant>,
    /// An error is queued or sticky: not fetched until sought.
    halted: bool,
    /// The sticky error every poll reports.
    error: Option<ConsumerError>,
    /// Its last fetch returned one batch too large for the room left; it
    /// is fetched again only when nothing is held.
    wait_for_empty_buffer: bool,
    /// The high watermark from the last fetch.
    high_watermark: Option<i64>,
}

impl PartitionState {
    fn new(epoch: u64, position: Option<i64>) -> Self {
        PartitionState {
            epoch,
            position,
            fetch_offset: position.unwrap_or(0),
            in_flight: false,
            retry_at: None,
            halted: false,
            error: None,
            wait_for_empty_buffer: false,
            high_watermark: None,
        }
    }
}

/// Where the fetcher sends a partition's fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// To this broker.
    Leader(NodeId),
    /// No leader is known now: retry after the backoff, with fresh
    /// metadata.
    NoLeader,
}

/// A fetch request to one broker and what it was planned from.
#[derive(Debug)]
pub(crate) struct FetchPlan {
    /// The broker.
    pub node: NodeId,
    /// The request.
    pub request: FetchRequest,
    /// The partitions asked for, with their epochs.
    pub partitions: HashMap<TopicPartition, u64>,
    /// Budget bytes reserved for the answer.
    pub reserved: usize,
}

/// What handling a fetch outcome asks of the fetcher.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Data or an error was queued for the application.
    pub queued: bool,
    /// Topics whose metadata is stale.
    pub invalidate: Vec<Arc<str>>,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct FetchState {
    /// The settings.
    limits: Limits,
    /// The assigned partitions.
    partitions: BTreeMap<TopicPartition, PartitionState>,
    /// Fetched data (and queued errors) in arrival order.
    completed: VecDeque<CompletedFetch>,
    /// Bytes of fetched data not yet handed out (including the fetch the
    /// consumer is draining).
    buffered: usize,
    /// `max_bytes` of the fetches in flight.
    reserved: usize,
    /// The next epoch to give out.
    next_epoch: u64,
    /// Rotates the order of partitions in fetch requests, so that each in
    /// turn comes first (the first partition may exceed the limits).
    rotation: usize,
    /// Fetching starts with the application's first poll, so that seeks
    /// made right after assigning do not wait behind a fetch from the
    /// starting positions.
    active: bool,
}

impl FetchState {
    fn new(limits: Limits) -> Self {
        FetchState {
            limits,
            partitions: BTreeMap::new(),
            completed: VecDeque::new(),
            buffered: 0,
            reserved: 0,
            next_epoch: 1,
            rotation: 0,
            active: false,
        }
    }

    /// Lets the fetcher start; `true` the first time.
    pub fn activate(&mut self) -> bool {
        !std::mem::replace(&mut self.active, true)
    }

    fn epoch(&mut self) -> u64 {
        let epoch = self.next_epoch;
        self.next_epoch += 1;
        epoch
    }

    // ---- the consumer's side ----

    /// Makes `partitions` (with their starting positions) the assigned
    /// partitions of `topic`. Partitions already assigned keep their
    /// state; others of the topic are dropped with their data.
    pub fn assign(&mut self, topic: &Arc<str>, partitions: &[(u32, Option<i64>)]) {
        let keep: Vec<u32> = partitions.iter().map(|(p, _)| *p).collect();
        let dropped: Vec<TopicPartition> = self
            .partitions
            .keys()
            .filter(|tp| tp.topic == *topic && !keep.contains(&tp.partition))
            .cloned()
            .collect();
        self.remove(&dropped);
        for &(partition, position) in partitions {
            self.add(TopicPartition::new(Arc::clone(topic), partition), position);
        }
    }

    /// Adds `tp` at `position` (`None`: no position until sought); a
    /// partition already assigned keeps its state.
    pub fn add(&mut self, tp: TopicPartition, position: Option<i64>) {
        if self.partitions.contains_key(&tp) {
            return;
        }
        let epoch = self.epoch();
        let mut state = PartitionState::new(epoch, position);
        if position.is_none() {
            state.halted = true;
            state.error = Some(ConsumerError::NoPosition {
                topic: tp.topic.to_string(),
                partition: tp.partition,
            });
        }
        self.partitions.insert(tp, state);
    }

    /// Drops `partitions` with their data.
    pub fn remove(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            self.partitions.remove(tp);
            self.drop_completed(tp);
        }
    }

    /// Drops every partition of `topic` with its data.
    pub fn unassign(&mut self, topic: &str) {
        self.partitions.retain(|tp, _| &*tp.topic != topic);
        let mut released = 0;
        self.completed.retain(|f| {
            let keep = &*f.tp.topic != topic;
            if !keep {
                released += f.charged;
            }
            keep
        });
        self.buffered = self.buffered.saturating_sub(released);
    }

    /// The assigned partitions, sorted.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.partitions.keys().cloned().collect()
    }

    /// Whether `tp` is assigned.
    pub fn is_assigned(&self, tp: &TopicPartition) -> bool {
        self.partitions.contains_key(tp)
    }

    /// Moves `tp` to `offset`: drops its buffered data and any error.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<(), ConsumerError> {
        if !self.partitions.contains_key(tp) {
            return Err(ConsumerError::NotAssigned {
                topic: tp.topic.to_string(),
                partition: tp.partition,
            });
        }
        self.reset(tp, offset);
        Ok(())
    }

    /// The next offset the application will receive from `tp`.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.partitions.get(tp)?.position
    }

    /// The high watermark of `tp` as of its last fetch.
    pub fn high_watermark(&self, tp: &TopicPartition) -> Option<i64> {
        self.partitions.get(tp)?.high_watermark
    }

    /// The first sticky partition error, if any.
    pub fn sticky_error(&self) -> Option<ConsumerError> {
        self.partitions.values().find_map(|p| p.error.clone())
    }

    /// Takes the oldest fetched data that is not stale. Stale data is
    /// dropped and its bytes released.
    pub fn take_completed(&mut self) -> Option<CompletedFetch> {
        while let Some(fetch) = self.completed.pop_front() {
            if self.is_current(&fetch) {
                return Some(fetch);
            }
            self.buffered = self.buffered.saturating_sub(fetch.charged);
        }
        None
    }

    /// The position to drain `fetch` from, if it is still current. (Data
    /// is fetched only for partitions with a position; an error queued for
    /// one without drains from 0.)
    pub fn position_for(&self, fetch: &CompletedFetch) -> Option<i64> {
        self.partitions
            .get(&fetch.tp)
            .filter(|p| p.epoch == fetch.epoch)
            .map(|p| p.position.unwrap_or(0))
    }

    /// Whether `fetch` was planned under its partition's current epoch.
    fn is_current(&self, fetch: &CompletedFetch) -> bool {
        self.partitions
            .get(&fetch.tp)
            .is_some_and(|p| p.epoch == fetch.epoch)
    }

    /// Records how far the application got in `tp`, if `epoch` is still
    /// current (a reset in between wins).
    pub fn set_position(&mut self, tp: &TopicPartition, epoch: u64, position: i64) {
        if let Some(p) = self.partitions.get_mut(tp)
            && p.epoch == epoch
        {
            p.position = Some(position);
        }
    }

    /// Makes `error` sticky for `tp`, if `epoch` is still current.
    pub fn set_error(&mut self, tp: &TopicPartition, epoch: u64, error: ConsumerError) {
        if let Some(p) = self.partitions.get_mut(tp)
            && p.epoch == epoch
        {
            p.halted = true;
            p.error = Some(error);
        }
    }

    /// Gives back budget bytes of drained (or discarded) data.
    pub fn release(&mut self, bytes: usize) {
        self.buffered = self.buffered.saturating_sub(bytes);
    }

    // ---- the fetcher's side ----

    /// Whether `p` may be fetched now.
    fn fetchable(p: &PartitionState, now: Instant, nothing_held: bool) -> bool {
        !p.in_flight
            && !p.halted
            && p.position.is_some()
            && p.retry_at.is_none_or(|at| at <= now)
            && (!p.wait_for_empty_buffer || nothing_held)
    }

    fn nothing_held(&self) -> bool {
        self.buffered == 0 && self.reserved == 0
    }

    /// Topics with partitions that may be fetched now.
    pub fn fetchable_topics(&self, now: Instant) -> Vec<Arc<str>> {
        if !self.active {
            return Vec::new();
        }
        let nothing_held = self.nothing_held();
        let mut topics: Vec<Arc<str>> = Vec::new();
        for (tp, p) in &self.partitions {
            if Self::fetchable(p, now, nothing_held) && !topics.contains(&tp.topic) {
                topics.push(Arc::clone(&tp.topic));
            }
        }
        topics
    }

    /// The earliest instant a partition waiting out a backoff may be
    /// fetched again.
    pub fn next_retry(&self) -> Option<Instant> {
        self.partitions
            .values()
            .filter(|p| !p.in_flight && !p.halted)
            .filter_map(|p| p.retry_at)
            .min()
    }

    /// Plans one fetch per broker that has fetchable partitions and no
    /// fetch in flight (`busy`), within the budget: marks the partitions in
    /// flight and reserves the requests' `max_bytes`. Partitions without a
    /// leader back off; their topics are named in `outcome.invalidate`.
    pub fn plan(
        &mut self,
        now: Instant,
        busy: &[NodeId],
        route: impl Fn(&TopicPartition) -> Route,
        outcome: &mut Outcome,
    ) -> Vec<FetchPlan> {
        if !self.active {
            return Vec::new();
        }
        let nothing_held = self.nothing_held();
        let mut by_node: BTreeMap<NodeId, Vec<TopicPartition>> = BTreeMap::new();
        let mut no_leader = Vec::new();
        for (tp, p) in &self.partitions {
            if !Self::fetchable(p, now, nothing_held) {
                continue;
            }
            match route(tp) {
                Route::Leader(node) if !busy.contains(&node) => {
                    by_node.entry(node).or_default().push(tp.clone());
                }
                Route::Leader(_) => {}
                Route::NoLeader => no_leader.push(tp.clone()),
            }
        }
        for tp in no_leader {
            if let Some(p) = self.partitions.get_mut(&tp) {
                p.retry_at = Some(now + self.limits.retry_backoff);
            }
            if !outcome.invalidate.contains(&tp.topic) {
                outcome.invalidate.push(tp.topic);
            }
        }
        let mut plans = Vec::new();
        for (node, mut partitions) in by_node {
            let held = self.buffered + self.reserved;
            let available = self.limits.budget.saturating_sub(held);
            if held > 0 && available < self.limits.min_useful() {
                break;
            }
            let max_bytes = (self.limits.fetch_max_bytes as usize).min(available.max(1));
            let rotate = self.rotation % partitions.len();
            partitions.rotate_left(rotate);
            self.rotation = self.rotation.wrapping_add(1);
            let plan = self.build_plan(node, &partitions, max_bytes);
            self.reserved += plan.reserved;
            plans.push(plan);
        }
        plans
    }

    fn build_plan(
        &mut self,
        node: NodeId,
        partitions: &[TopicPartition],
        max_bytes: usize,
    ) -> FetchPlan {
        let mut topics: Vec<FetchTopic> = Vec::new();
        let mut epochs = HashMap::with_capacity(partitions.len());
        for tp in partitions {
            let Some(p) = self.partitions.get_mut(tp) else {
                continue;
            };
            p.in_flight = true;
            epochs.insert(tp.clone(), p.epoch);
            let entry = FetchPartition {
                partition: PartitionId(tp.partition),
                fetch_offset: p.fetch_offset,
                partition_max_bytes: self.limits.partition_max_bytes,
            };
            match topics.iter_mut().find(|t| *t.name == *tp.topic) {
                Some(topic) => topic.partitions.push(entry),
                None => topics.push(FetchTopic {
                    name: tp.topic.to_string(),
                    partitions: vec![entry],
                }),
            }
        }
        FetchPlan {
            node,
            request: FetchRequest {
                max_wait_ms: self.limits.max_wait_ms,
                min_bytes: self.limits.min_bytes,
                max_bytes: u32::try_from(max_bytes).unwrap_or(u32::MAX),
                isolation_level: self.limits.isolation,
                topics,
            },
            partitions: epochs,
            reserved: max_bytes,
        }
    }

    /// Takes in the outcome of a planned fetch.
    pub fn complete(
        &mut self,
        plan: FetchPlan,
        result: Result<FetchResponse, ClientError>,
        now: Instant,
    ) -> Outcome {
        self.reserved = self.reserved.saturating_sub(plan.reserved);
        let mut outcome = Outcome::default();
        let response = match result {
            Ok(response) if response.error_code.is_ok() => response,
            Ok(response) => {
                let error = BrokerError::new(response.error_code, None);
                tracing::warn!(node = plan.node.get(), %error, "fetch failed");
                self.back_off(plan.partitions.keys(), now, &mut outcome);
                return outcome;
            }
            Err(error) => {
                tracing::warn!(node = plan.node.get(), %error, "fetch failed");
                self.back_off(plan.partitions.keys(), now, &mut outcome);
                return outcome;
            }
        };
        let answered_at_once = plan.request.min_bytes == 0;
        let mut pending = plan.partitions;
        let mut empty = Vec::new();
        for topic in response.topics {
            let name: Arc<str> = Arc::from(topic.name);
            for p in topic.partitions {
                let tp = TopicPartition::new(Arc::clone(&name), p.partition.0);
                let Some(epoch) = pending.remove(&tp) else {
                    tracing::debug!(%tp, "fetch answered a partition not asked for");
                    continue;
                };
                if p.error_code.is_ok() && p.records.is_empty() {
                    empty.push(tp.clone());
                }
                self.partition_result(tp, epoch, p, now, &mut outcome);
            }
        }
        // Partitions the answer left out are asked again after a backoff.
        self.back_off(pending.keys(), now, &mut outcome);
        if answered_at_once && !outcome.queued {
            // With fetch.min.bytes=0 the broker does not wait for data:
            // wait here instead of asking again at once.
            let at = now + Duration::from_millis(u64::from(self.limits.max_wait_ms));
            for tp in empty {
                if let Some(p) = self.partitions.get_mut(&tp) {
                    p.retry_at = Some(p.retry_at.map_or(at, |t| t.max(at)));
                }
            }
        }
        outcome
    }

    /// Clears the in-flight mark of `partitions` and delays their next
    /// fetch; their topics' metadata may be stale.
    fn back_off<'a>(
        &mut self,
        partitions: impl Iterator<Item = &'a TopicPartition>,
        now: Instant,
        outcome: &mut Outcome,
    ) {
        for tp in partitions {
            if let Some(p) = self.partitions.get_mut(tp) {
                p.in_flight = false;
                p.retry_at = Some(now + self.limits.retry_backoff);
            }
            if !outcome.invalidate.contains(&tp.topic) {
                outcome.invalidate.push(Arc::clone(&tp.topic));
            }
        }
    }

    fn partition_result(
        &mut self,
        tp: TopicPartition,
        epoch: u64,
        response: FetchPartitionResponse,
        now: Instant,
        outcome: &mut Outcome,
    ) {
        let limits = self.limits;
        let Some(p) = self.partitions.get_mut(&tp) else {
            return;
        };
        p.in_flight = false;
        if p.epoch != epoch {
            return;
        }
        if response.high_watermark >= 0 {
            p.high_watermark = Some(response.high_watermark);
        }
        let offset = p.fetch_offset;
        match response.error_code {
            ErrorCode::None => self.accept_records(tp, epoch, response.records, now, outcome),
            ErrorCode::OffsetOutOfRange => {
                let target = match limits.reset {
                    AutoOffsetReset::Earliest => response.log_start_offset,
                    AutoOffsetReset::Latest => response.high_watermark,
                    AutoOffsetReset::None => {
                        let error = ConsumerError::OffsetOutOfRange {
                            topic: tp.topic.to_string(),
                            partition: tp.partition,
                            offset,
                            log_start_offset: response.log_start_offset,
                            high_watermark: response.high_watermark,
                        };
                        self.queue_error(tp, epoch, error, outcome);
                        return;
                    }
                };
                if target < 0 {
                    p.retry_at = Some(now + limits.retry_backoff);
                    return;
                }
                tracing::info!(
                    %tp,
                    offset,
                    reset_to = target,
                    policy = %limits.reset,
                    "offset out of range; resetting"
                );
                self.reset(&tp, target);
            }
            ErrorCode::CorruptData => {
                let error = ConsumerError::Corrupt {
                    topic: tp.topic.to_string(),
                    partition: tp.partition,
                    offset,
                    cause: CorruptCause::Broker(BrokerError::new(
                        response.error_code,
                        response.error_message,
                    )),
                };
                self.queue_error(tp, epoch, error, outcome);
            }
            code if code.is_retriable() || invalidates_metadata(code) => {
                tracing::debug!(%tp, error = %code, "retriable fetch error");
                p.retry_at = Some(now + limits.retry_backoff);
                if invalidates_metadata(code) && !outcome.invalidate.contains(&tp.topic) {
                    outcome.invalidate.push(Arc::clone(&tp.topic));
                }
            }
            code => {
                let error = ConsumerError::Partition {
                    topic: tp.topic.to_string(),
                    partition: tp.partition,
                    source: BrokerError::new(code, response.error_message),
                };
                self.queue_error(tp, epoch, error, outcome);
            }
        }
    }

    /// Splits a partition's fetched bytes into batches and queues them.
    fn accept_records(
        &mut self,
        tp: TopicPartition,
        epoch: u64,
        records: Bytes,
        now: Instant,
        outcome: &mut Outcome,
    ) {
        if records.is_empty() {
            return;
        }
        let size = records.len();
        let held = self.buffered + self.reserved;
        let limits = self.limits;
        let Some(p) = self.partitions.get_mut(&tp) else {
            return;
        };
        if held > 0 && held + size > limits.budget {
            // One oversized batch, with other data held: drop it and fetch
            // it again once the buffer has drained.
            p.wait_for_empty_buffer = true;
            return;
        }
        p.wait_for_empty_buffer = false;
        let mut batches = VecDeque::new();
        let mut next = p.fetch_offset;
        let mut error = None;
        for item in Batches::new(records) {
            match item {
                Ok(batch) => {
                    next = next.max(batch.last_offset().saturating_add(1));
                    batches.push_back(batch);
                }
                Err(cause) => {
                    error = Some(ConsumerError::Corrupt {
                        topic: tp.topic.to_string(),
                        partition: tp.partition,
                        offset: next,
                        cause: CorruptCause::Record(cause),
                    });
                    break;
                }
            }
        }
        if batches.is_empty() && error.is_none() {
            // Only the start of a batch came back: nothing to hand out.
            p.retry_at = Some(now + limits.retry_backoff);
            return;
        }
        p.fetch_offset = next;
        if error.is_some() {
            p.halted = true;
        }
        self.buffered += size;
        self.completed
            .push_back(CompletedFetch::new(tp, epoch, size, batches, error));
        outcome.queued = true;
    }

    /// Queues `error` for `tp` after its fetched data and halts fetching.
    fn queue_error(
        &mut self,
        tp: TopicPartition,
        epoch: u64,
        error: ConsumerError,
        outcome: &mut Outcome,
    ) {
        if let Some(p) = self.partitions.get_mut(&tp) {
            p.halted = true;
        }
        self.completed
            .push_back(CompletedFetch::failed(tp, epoch, error));
        outcome.queued = true;
    }

    /// Queues `error` for every assigned partition of `topic` (its
    /// metadata says it no longer exists, for instance).
    pub fn fail_topic(&mut self, topic: &str, error: &ConsumerError) -> Outcome {
        let mut outcome = Outcome::default();
        let partitions: Vec<(TopicPartition, u64)> = self
            .partitions
            .iter()
            .filter(|(tp, p)| &*tp.topic == topic && !p.halted)
            .map(|(tp, p)| (tp.clone(), p.epoch))
            .collect();
        for (tp, epoch) in partitions {
            self.queue_error(tp, epoch, error.clone(), &mut outcome);
        }
        outcome
    }

    /// Delays fetching every partition of `topic` by the backoff.
    pub fn back_off_topic(&mut self, topic: &str, now: Instant) {
        let at = now + self.limits.retry_backoff;
        for (tp, p) in &mut self.partitions {
            if &*tp.topic == topic {
                p.retry_at = Some(at);
            }
        }
    }

    /// Moves `tp` to `offset` under a new epoch, dropping its data and
    /// error.
    fn reset(&mut self, tp: &TopicPartition, offset: i64) {
        let epoch = self.epoch();
        if let Some(p) = self.partitions.get_mut(tp) {
            p.epoch = epoch;
            p.position = Some(offset);
            p.fetch_offset = offset;
            p.retry_at = None;
            p.halted = false;
            p.error = None;
            p.wait_for_empty_buffer = false;
        }
        self.drop_completed(tp);
    }

    /// Drops queued data of `tp`, releasing its bytes.
    fn drop_completed(&mut self, tp: &TopicPartition) {
        let mut released = 0;
        self.completed.retain(|f| {
            let keep = f.tp != *tp;
            if !keep {
                released += f.charged;
            }
            keep
        });
        self.buffered = self.buffered.saturating_sub(released);
    }

    /// Bytes held now: buffered plus reserved (for tests and metrics).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.buffered + self.reserved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::Drain;
    use runnel_protocol::api::fetch::FetchTopicResponse;
    use runnel_protocol::record::{BatchBuilder, BatchOptions, NewRecord, set_base_offset};

    fn node() -> NodeId {
        NodeId::new(0).unwrap()
    }

    fn limits() -> Limits {
        Limits {
            budget: 10_000,
            fetch_max_bytes: 4_000,
            partition_max_bytes: 1_000,
            min_bytes: 1,
            max_wait_ms: 500,
            retry_backoff: Duration::from_millis(100),
            reset: AutoOffsetReset::Earliest,
            isolation: IsolationLevel::ReadUncommitted,
        }
    }

    fn state(partitions: &[(u32, Option<i64>)]) -> FetchState {
        let mut s = FetchState::new(limits());
        s.activate();
        s.assign(&Arc::from("t"), partitions);
        s
    }

    #[test]
    fn nothing_is_fetched_before_the_first_poll() {
        let mut s = FetchState::new(limits());
        s.assign(&Arc::from("t"), &[(0, Some(0))]);
        let now = Instant::now();
        assert!(s.fetchable_topics(now).is_empty());
        assert!(
            s.plan(now, &[], |_| Route::Leader(node()), &mut Outcome::default())
                .is_empty()
        );
        assert!(s.activate());
        assert!(!s.activate());
        assert_eq!(plan_one(&mut s, now).partitions.len(), 1);
    }

    fn batch(base: i64, count: usize, value_len: usize) -> Bytes {
        let mut b = BatchBuilder::new(BatchOptions::default()).unwrap();
        for _ in 0..count {
            b.append(&NewRecord {
                timestamp: 1,
                key: None,
                value: Some(Bytes::from(vec![b'v'; value_len])),
                headers: Vec::new(),
            })
            .unwrap();
        }
        let mut bytes = b.build().unwrap().to_vec();
        set_base_offset(&mut bytes, base);
        Bytes::from(bytes)
    }

    fn response(parts: Vec<FetchPartitionResponse>) -> FetchResponse {
        FetchResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::None,
            topics: vec![FetchTopicResponse {
                name: "t".into(),
                partitions: parts,
            }],
        }
    }

    fn data(partition: u32, records: Bytes) -> FetchPartitionResponse {
        FetchPartitionResponse {
            partition: PartitionId(partition),
            high_watermark: 100,
            log_start_offset: 0,
            log_end_offset: 100,
            records,
            ..FetchPartitionResponse::default()
        }
    }

    fn error(partition: u32, code: ErrorCode) -> FetchPartitionResponse {
        FetchPartitionResponse {
            partition: PartitionId(partition),
            error_code: code,
            high_watermark: 50,
            log_start_offset: 20,
            log_end_offset: 50,
            ..FetchPartitionResponse::default()
        }
    }

    fn plan_one(s: &mut FetchState, now: Instant) -> FetchPlan {
        let mut plans = s.plan(now, &[], |_| Route::Leader(node()), &mut Outcome::default());
        assert_eq!(plans.len(), 1);
        plans.pop().unwrap()
    }

    fn tp(p: u32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    #[test]
    fn one_request_covers_every_partition_of_a_broker() {
        let mut s = state(&[(0, Some(5)), (1, Some(0)), (2, Some(9))]);
        let plan = plan_one(&mut s, Instant::now());
        let offsets: BTreeMap<u32, i64> = plan.request.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition.0, p.fetch_offset))
            .collect();
        assert_eq!(offsets, BTreeMap::from([(0, 5), (1, 0), (2, 9)]));
        assert_eq!(plan.request.max_bytes, 4_000);
        assert_eq!(s.held(), 4_000);
        // Everything is in flight: nothing more to plan.
        assert!(
            s.plan(
                Instant::now(),
                &[],
                |_| Route::Leader(node()),
                &mut Outcome::default()
            )
            .is_empty()
        );
    }

    #[test]
    fn partition_order_rotates_between_requests() {
        let mut s = state(&[(0, Some(0)), (1, Some(0)), (2, Some(0))]);
        let now = Instant::now();
        let mut firsts = Vec::new();
        for _ in 0..3 {
            let plan = plan_one(&mut s, now);
            firsts.push(plan.request.topics[0].partitions[0].partition.0);
            s.complete(plan, Ok(response(Vec::new())), now);
            for p in s.partitions.values_mut() {
                p.retry_at = None;
            }
        }
        firsts.sort_unstable();
        assert_eq!(firsts, [0, 1, 2]);
    }

    #[test]
    fn data_is_queued_and_the_fetch_offset_moves_past_it() {
        let mut s = state(&[(0, Some(0))]);
        let now = Instant::now();
        let plan = plan_one(&mut s, now);
        let bytes = batch(0, 3, 10);
        let size = bytes.len();
        let outcome = s.complete(plan, Ok(response(vec![data(0, bytes)])), now);
        assert!(outcome.queued);
        assert_eq!(s.held(), size);
        assert_eq!(s.partitions[&tp(0)].fetch_offset, 3);
        assert_eq!(s.position(&tp(0)), Some(0));
        assert_eq!(s.high_watermark(&tp(0)), Some(100));
        let next = plan_one(&mut s, now);
        assert_eq!(next.request.topics[0].partitions[0].fetch_offset, 3);
        let mut fetch = s.take_completed().unwrap();
        let mut position = s.position_for(&fetch).unwrap();
        let mut out = Vec::new();
        assert!(matches!(
            fetch.drain(&mut position, 10, &mut out),
            Drain::Exhausted
        ));
        s.set_position(&fetch.tp, fetch.epoch, position);
        s.release(fetch.charged);
        assert_eq!(out.len(), 3);
        assert_eq!(s.position(&tp(0)), Some(3));
    }

    #[test]
    fn fetches_ask_for_the_configured_isolation_level() {
        for isolation in [
            IsolationLevel::ReadUncommitted,
            IsolationLevel::ReadUnflushed,
        ] {
            let mut s = FetchState::new(Limits {
                isolation,
                ..limits()
            });
            s.activate();
            s.assign(&Arc::from("t"), &[(0, Some(0))]);
            let plan = plan_one(&mut s, Instant::now());
            assert_eq!(plan.request.isolation_level, isolation);
        }
    }

    #[test]
    fn fetching_stops_at_the_budget_and_resumes_when_drained() {
        let mut s = FetchState::new(Limits {
            budget: 3_000,
            ..limits()
        });
        s.activate();
        s.assign(&Arc::from("t"), &[(0, Some(0))]);
        let now = Instant::now();
        let plan = plan_one(&mut s, now);
        assert_eq!(plan.request.max_bytes, 3_000, "capped by the budget");
        let bytes = batch(0, 1, 2_500);
        let size = bytes.len();
        s.complete(plan, Ok(response(vec![data(0, bytes)])), now);
        assert_eq!(s.held(), size);
        // Less than one partition's worth of room is left.
        assert!(
            s.plan(now, &[], |_| Route::Leader(node()), &mut Outcome::default())
                .is_empty()
        );
        let fetch = s.take_completed().unwrap();
        s.release(fetch.charged);
        assert_eq!(plan_one(&mut s, now).request.max_bytes, 3_000);
    }

    #[test]
    fn an_oversized_batch_waits_for_an_empty_buffer() {
        let mut s = state(&[(0, Some(0)), (1, Some(0))]);
        let now = Instant::now();
        let empty = Bytes::new();
        // Partition 0 buffers some data.
        let plan = plan_one(&mut s, now);
        let first = vec![data(0, batch(0, 1, 100)), data(1, empty.clone())];
        s.complete(plan, Ok(response(first)), now);
        // Partition 1 then returns one batch larger than the room left.
        let plan = plan_one(&mut s, now);
        let huge = batch(0, 1, 12_000);
        let second = vec![data(0, empty.clone()), data(1, huge.clone())];
        s.complete(plan, Ok(response(second)), now);
        assert!(s.partitions[&tp(1)].wait_for_empty_buffer);
        assert_eq!(s.partitions[&tp(1)].fetch_offset, 0, "dropped");
        let plan = plan_one(&mut s, now);
        assert_eq!(plan.partitions.len(), 1, "only partition 0 is fetched");
        s.complete(plan, Ok(response(vec![data(0, empty)])), now);
        // Once the buffer is empty, the big batch is accepted.
        let fetch = s.take_completed().unwrap();
        s.release(fetch.charged);
        let plan = plan_one(&mut s, now);
        assert!(plan.partitions.contains_key(&tp(1)));
        s.complete(plan, Ok(response(vec![data(1, huge.clone())])), now);
        assert_eq!(s.held(), huge.len());
        assert_eq!(s.partitions[&tp(1)].fetch_offset, 1);
    }

    #[test]
    fn out_of_range_resets_by_policy() {
        let now = Instant::now();
        for (reset, expected) in [
            (AutoOffsetReset::Earliest, 20),
            (AutoOffsetReset::Latest, 50),
        ] {
            let mut s = FetchState::new(Limits { reset, ..limits() });
            s.activate();
            s.assign(&Arc::from("t"), &[(0, Some(5))]);
            let plan = plan_one(&mut s, now);
            let epoch = s.partitions[&tp(0)].epoch;
            s.complete(
                plan,
                Ok(response(vec![error(0, ErrorCode::OffsetOutOfRange)])),
                now,
            );
            assert_eq!(s.position(&tp(0)), Some(expected), "{reset}");
            assert_ne!(s.partitions[&tp(0)].epoch, epoch);
            let plan = plan_one(&mut s, now);
            assert_eq!(plan.request.topics[0].partitions[0].fetch_offset, expected);
        }
    }

    #[test]
    fn out_of_range_without_a_policy_is_an_error_after_the_data() {
        let now = Instant::now();
        let mut s = FetchState::new(Limits {
            reset: AutoOffsetReset::None,
            ..limits()
        });
        s.activate();
        s.assign(&Arc::from("t"), &[(0, Some(5))]);
        let plan = plan_one(&mut s, now);
        let outcome = s.complete(
            plan,
            Ok(response(vec![error(0, ErrorCode::OffsetOutOfRange)])),
            now,
        );
        assert!(outcome.queued);
        assert!(
            s.plan(now, &[], |_| Route::Leader(node()), &mut Outcome::default())
                .is_empty(),
            "halted"
        );
        let mut fetch = s.take_completed().unwrap();
        let mut position = 5;
        match fetch.drain(&mut position, 10, &mut Vec::new()) {
            Drain::Failed(e) => assert_eq!(
                e.to_string(),
                "topic \"t\" partition 0: offset 5 is out of range [20, 50] and \
                 auto.offset.reset is none"
            ),
            other => panic!("{other:?}"),
        }
        // A seek clears the halt.
        s.seek(&tp(0), 20).unwrap();
        assert_eq!(plan_one(&mut s, now).partitions.len(), 1);
    }

    #[test]
    fn corrupt_data_from_the_broker_names_the_offset() {
        let now = Instant::now();
        let mut s = state(&[(0, Some(7))]);
        let plan = plan_one(&mut s, now);
        s.complete(
            plan,
            Ok(response(vec![error(0, ErrorCode::CorruptData)])),
            now,
        );
        let mut fetch = s.take_completed().unwrap();
        match fetch.drain(&mut 7, 10, &mut Vec::new()) {
            Drain::Failed(e) => assert!(
                e.to_string()
                    .starts_with("topic \"t\" partition 0: corrupt data at offset 7: CORRUPT_DATA"),
                "{e}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_damaged_batch_is_reported_after_the_good_ones() {
        let now = Instant::now();
        let mut s = state(&[(0, Some(0))]);
        let plan = plan_one(&mut s, now);
        let good = batch(0, 2, 5);
        let mut bad = batch(2, 1, 5).to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 0xFF;
        let mut both = good.to_vec();
        both.extend_from_slice(&bad);
        s.complete(plan, Ok(response(vec![data(0, Bytes::from(both))])), now);
        assert!(s.partitions[&tp(0)].halted);
        let mut fetch = s.take_completed().unwrap();
        let mut position = 0;
        let mut out = Vec::new();
        match fetch.drain(&mut position, 10, &mut out) {
            Drain::Failed(e) => assert!(
                e.to_string()
                    .starts_with("topic \"t\" partition 0: corrupt data at offset 2: batch CRC"),
                "{e}"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn retriable_errors_back_off_and_invalidate_metadata() {
        let now = Instant::now();
        let mut s = state(&[(0, Some(0))]);
        let plan = plan_one(&mut s, now);
        let outcome = s.complete(
            plan,
            Ok(response(vec![error(0, ErrorCode::NotLeader)])),
            now,
        );
        assert_eq!(outcome.invalidate, vec![Arc::<str>::from("t")]);
        assert!(
            s.plan(now, &[], |_| Route::Leader(node()), &mut Outcome::default())
                .is_empty()
        );
        assert_eq!(s.next_retry(), Some(now + Duration::from_millis(100)));
        let later = now + Duration::from_millis(100);
        assert_eq!(plan_one(&mut s, later).partitions.len(), 1);
    }

    #[test]
    fn an_empty_answer_to_a_fetch_that_does_not_wait_is_repeated_after_the_wait() {
        let now = Instant::now();
        let mut s = FetchState::new(Limits {
            min_bytes: 0,
            ..limits()
        });
        s.activate();
        s.assign(&Arc::from("t"), &[(0, Some(0))]);
        let plan = plan_one(&mut s, now);
        s.complete(plan, Ok(response(vec![data(0, Bytes::new())])), now);
        assert!(s.fetchable_topics(now).is_empty());
        assert_eq!(s.next_retry(), Some(now + Duration::from_millis(500)));
        // With fetch.min.bytes above 0 the broker already waited.
        let mut s = state(&[(0, Some(0))]);
        let plan = plan_one(&mut s, now);
        s.complete(plan, Ok(response(vec![data(0, Bytes::new())])), now);
        assert_eq!(s.fetchable_topics(now).len(), 1);
    }

    #[test]
    fn a_lost_connection_backs_off_every_partition_of_the_request() {
        let now = Instant::now();
        let mut s = state(&[(0, Some(0)), (1, Some(0))]);
        let plan = plan_one(&mut s, now);
        let outcome = s.complete(plan, Err(ClientError::Closed), now);
        assert!(!outcome.queued);
        assert_eq!(s.held(), 0);
        assert!(s.partitions.values().all(|p| !p.in_flight));
        assert!(s.fetchable_topics(now).is_empty());
    }

    #[test]
    fn a_seek_makes_data_and_answers_in_flight_stale() {
        let now = Instant::now();
        let mut s = state(&[(0, Some(0))]);
        let plan = plan_one(&mut s, now);
        s.seek(&tp(0), 40).unwrap();
        s.complete(plan, Ok(response(vec![data(0, batch(0, 1, 5))])), now);
        assert!(
            s.take_completed().is_none(),
            "the answer was for the old epoch"
        );
        assert_eq!(s.held(), 0);
        let plan = plan_one(&mut s, now);
        assert_eq!(plan.request.topics[0].partitions[0].fetch_offset, 40);
        s.complete(plan, Ok(response(vec![data(0, batch(40, 1, 5))])), now);
        s.seek(&tp(0), 0).unwrap();
        assert!(s.take_completed().is_none(), "queued data was dropped");
        assert_eq!(s.held(), 0);
    }

    #[test]
    fn assign_keeps_existing_partitions_and_drops_others() {
        let mut s = state(&[(0, Some(3)), (1, Some(4))]);
        let topic: Arc<str> = Arc::from("t");
        s.assign(&topic, &[(1, Some(99)), (2, None)]);
        assert_eq!(s.assignment(), vec![tp(1), tp(2)]);
        assert_eq!(s.position(&tp(1)), Some(4), "kept");
        assert!(matches!(
            s.sticky_error(),
            Some(ConsumerError::NoPosition { partition: 2, .. })
        ));
        assert!(matches!(
            s.seek(&tp(0), 1),
            Err(ConsumerError::NotAssigned { partition: 0, .. })
        ));
        s.unassign("t");
        assert!(s.assignment().is_empty());
    }

    #[test]
    fn leaderless_partitions_back_off() {
        let now = Instant::now();
        let mut s = state(&[(0, Some(0))]);
        let mut outcome = Outcome::default();
        assert!(
            s.plan(now, &[], |_| Route::NoLeader, &mut outcome)
                .is_empty()
        );
        assert_eq!(outcome.invalidate, vec![Arc::<str>::from("t")]);
        assert!(s.next_retry().is_some());
        assert!(s.fetchable_topics(now).is_empty());
    }

    #[test]
    fn a_busy_broker_gets_no_second_request() {
        let now = Instant::now();
        let mut s = state(&[(0, Some(0))]);
        assert!(
            s.plan(
                now,
                &[node()],
                |_| Route::Leader(node()),
                &mut Outcome::default()
            )
            .is_empty()
        );
    }

    #[test]
    fn a_vanished_topic_fails_its_partitions() {
        let mut s = state(&[(0, Some(0)), (1, Some(0))]);
        let error = ConsumerError::UnknownTopic { topic: "t".into() };
        let outcome = s.fail_topic("t", &error);
        assert!(outcome.queued);
        assert!(s.fetchable_topics(Instant::now()).is_empty());
        assert_eq!(s.completed.len(), 2);
    }
}
