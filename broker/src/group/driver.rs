//! [`GroupCoordinator`]: the thin driver around the pure [`Coordinator`] —
//! one async mutex over the coordinator and its [`GroupStore`], group-commit
//! flushing of the groups log, the expiry timer and compaction.
//!
//! A call locks, lets the coordinator decide, appends the outcome's records
//! (in memory, no fsync), applies them and unlocks; then it waits until the
//! groups log is durable up to where it was when the call decided, and only
//! then answers. So no client ever acts on a decision a crash could take
//! back — not its own, and not one it read from another call — while calls
//! never hold the lock across an fsync: appends that arrive during a flush
//! share the next one, as in [`crate::partition`].

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use runnel_protocol::ErrorCode;
use runnel_protocol::api::consumer_group_heartbeat::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
};
use runnel_protocol::api::delete_groups::{
    DeletableGroupResult, DeleteGroupsRequest, DeleteGroupsResponse,
};
use runnel_protocol::api::describe_groups::{
    DescribeGroupsRequest, DescribeGroupsResponse, DescribedGroup,
};
use runnel_protocol::api::list_groups::{ListGroupsRequest, ListGroupsResponse};
use runnel_protocol::api::offset_commit::{OffsetCommitRequest, OffsetCommitResponse};
use runnel_protocol::api::offset_fetch::{OffsetFetchRequest, OffsetFetchResponse};
use tokio::sync::{Mutex, MutexGuard, watch};
use tokio_util::sync::CancellationToken;

use super::coordinator::{
    Coordinator, CoordinatorConfig, ExpiredMember, MemberOrigin, Outcome, TopicMetadata,
};
use super::records::GroupRecord;
use super::store::{GroupStore, GroupStoreError, StoreConfig};
use crate::clock::now_ms;
use crate::metrics::{CommittedOffset, GroupMetricsSource, GroupSnapshot, group_rebalance};
use crate::storage::{Fs, LogReader, Offset, StorageError};

/// Name of the groups log directory under the data directory.
pub const GROUPS_DIR: &str = "groups";
/// How often the expiry timer looks for members past their deadlines.
pub const EXPIRY_INTERVAL: Duration = Duration::from_millis(250);
/// Longest a call waits for the groups log to become durable.
const DURABLE_TIMEOUT: Duration = Duration::from_secs(30);

/// What loading the groups log found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupLoadReport {
    /// Records replayed.
    pub records: usize,
    /// Groups loaded.
    pub groups: usize,
    /// Members over all groups.
    pub members: usize,
    /// Committed offsets over all groups.
    pub offsets: usize,
    /// Bytes cut from a torn tail after a crash.
    pub truncated_bytes: u64,
}

/// The coordinator and its log, behind one lock.
#[derive(Debug)]
struct Inner {
    /// The decisions and the state.
    coordinator: Coordinator,
    /// The groups log.
    store: GroupStore,
    /// Set by [`GroupCoordinator::close`]; later calls are refused.
    closed: bool,
}

/// The broker's group coordinator.
#[derive(Debug)]
pub struct GroupCoordinator {
    /// State and log; never held across an fsync by a request.
    inner: Mutex<Inner>,
    /// Reads the groups log's high watermark without the lock.
    reader: LogReader,
    /// Publishes the high watermark after every flush.
    durable: watch::Sender<u64>,
    /// Whether a flush loop is running.
    flushing: AtomicBool,
    /// Whether a compaction is running or queued.
    compacting: AtomicBool,
}

/// Counts a rebalance for every group whose epoch the records bump (a
/// group created by a commit from outside, at epoch 0, is not one).
fn count_rebalances(records: &[GroupRecord]) {
    for r in records {
        if let GroupRecord::GroupMetadata {
            group_id,
            value: Some(v),
        } = r
            && v.group_epoch > 0
        {
            group_rebalance(group_id);
        }
    }
}

/// Why a call could not be served.
fn unavailable(e: &GroupStoreError) -> (ErrorCode, String) {
    let code = match e {
        GroupStoreError::Storage(StorageError::StorageFull { .. }) => ErrorCode::StorageFull,
        _ => ErrorCode::CoordinatorNotAvailable,
    };
    (code, format!("the group coordinator cannot write: {e}"))
}

impl GroupCoordinator {
    /// Opens `<data_dir>/groups/`, replays it and starts every member's
    /// timers. Blocks on file I/O: call it before serving, off the async
    /// threads.
    pub fn open(
        fs: Arc<dyn Fs>,
        data_dir: &Path,
        clean: bool,
        config: CoordinatorConfig,
        store_config: StoreConfig,
        now_ms: i64,
    ) -> Result<(Arc<GroupCoordinator>, GroupLoadReport), GroupStoreError> {
        let dir = data_dir.join(GROUPS_DIR);
        let (mut store, records, recovery) =
            GroupStore::open(fs, &dir, clean, now_ms, store_config)?;
        let mut coordinator = Coordinator::new(config);
        for r in &records {
            coordinator.replay(r);
        }
        coordinator.start_timers(now_ms);
        if store.needs_compaction() {
            let report = store.compact(&coordinator.snapshot(), now_ms)?;
            tracing::info!(
                before_bytes = report.bytes_before,
                after_bytes = report.snapshot_bytes,
                "compacted the groups log"
            );
        }
        let groups = coordinator.groups();
        let report = GroupLoadReport {
            records: records.len(),
            groups: groups.len(),
            members: groups.iter().map(|g| g.members.len()).sum(),
            offsets: groups.iter().map(|g| g.offsets.len()).sum(),
            truncated_bytes: recovery.truncated_bytes,
        };
        let reader = store.reader();
        let driver = Arc::new(GroupCoordinator {
            durable: watch::Sender::new(reader.high_watermark().0),
            reader,
            inner: Mutex::new(Inner {
                coordinator,
                store,
                closed: false,
            }),
            flushing: AtomicBool::new(false),
            compacting: AtomicBool::new(false),
        });
        Ok((driver, report))
    }

    async fn lock(&self) -> Result<MutexGuard<'_, Inner>, (ErrorCode, String)> {
        let inner = self.inner.lock().await;
        if inner.closed {
            return Err((
                ErrorCode::CoordinatorNotAvailable,
                "the group coordinator is shutting down".to_owned(),
            ));
        }
        Ok(inner)
    }

    /// Runs a call that may write: decide, append, apply, then wait for
    /// durability before returning the response.
    async fn write<R>(
        self: &Arc<Self>,
        decide: impl FnOnce(&Coordinator, i64) -> Outcome<R>,
        failed: impl FnOnce(ErrorCode, String) -> R,
    ) -> R {
        let decided = async {
            let mut inner = self.lock().await?;
            let now = now_ms();
            let outcome = decide(&inner.coordinator, now);
            if !outcome.records.is_empty() {
                inner.store.append(&outcome.records, now).map_err(|e| {
                    tracing::error!(error = %e, "cannot append to the groups log");
                    unavailable(&e)
                })?;
            }
            count_rebalances(&outcome.records);
            let end = inner.store.log_end_offset();
            let compact = inner.store.needs_compaction();
            Ok::<_, (ErrorCode, String)>((inner.coordinator.complete(outcome), end, compact))
        };
        let (response, end, compact) = match decided.await {
            Ok(x) => x,
            Err((code, message)) => return failed(code, message),
        };
        if compact {
            self.schedule_compaction();
        }
        match self.wait_durable(end).await {
            Ok(()) => response,
            Err((code, message)) => failed(code, message),
        }
    }

    /// Runs a read: it too waits until what it saw is durable.
    async fn read<R>(
        self: &Arc<Self>,
        look: impl FnOnce(&Coordinator) -> R,
        failed: impl FnOnce(ErrorCode, String) -> R,
    ) -> R {
        let (response, end) = match self.lock().await {
            Ok(inner) => (look(&inner.coordinator), inner.store.log_end_offset()),
            Err((code, message)) => return failed(code, message),
        };
        match self.wait_durable(end).await {
            Ok(()) => response,
            Err((code, message)) => failed(code, message),
        }
    }

    async fn wait_durable(self: &Arc<Self>, end: Offset) -> Result<(), (ErrorCode, String)> {
        if self.reader.high_watermark() >= end {
            return Ok(());
        }
        self.schedule_flush();
        let mut rx = self.durable.subscribe();
        let wait = async {
            loop {
                rx.mark_unchanged();
                if self.reader.high_watermark() >= end {
                    return Ok(());
                }
                if let Some(why) = self.reader.fenced() {
                    return Err((
                        ErrorCode::CoordinatorNotAvailable,
                        format!("the groups log failed: {why}"),
                    ));
                }
                if rx.changed().await.is_err() {
                    break;
                }
            }
            Err((
                ErrorCode::CoordinatorNotAvailable,
                "the group coordinator stopped".to_owned(),
            ))
        };
        tokio::time::timeout(DURABLE_TIMEOUT, wait)
            .await
            .unwrap_or_else(|_| {
                Err((
                    ErrorCode::RequestTimedOut,
                    "timed out waiting for the groups log to become durable".to_owned(),
                ))
            })
    }

    /// Starts a flush loop on the blocking pool unless one is running.
    fn schedule_flush(self: &Arc<Self>) {
        if self.flushing.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || me.flush_loop());
    }

    /// Flushes while appended records are waiting (group commit). Runs on
    /// a blocking thread; holds the lock only to capture each flush.
    fn flush_loop(&self) {
        loop {
            let job = self.inner.blocking_lock().store.begin_flush();
            match job {
                Some(job) => match job.run() {
                    Ok(hw) => {
                        self.durable.send_replace(hw.0);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "groups log flush failed; the coordinator refuses writes until restart");
                        self.durable.send_modify(|_| {});
                        return;
                    }
                },
                None => {
                    self.flushing.store(false, Ordering::Release);
                    let pending = self.reader.log_end_offset() > self.reader.high_watermark();
                    if pending
                        && self.reader.fenced().is_none()
                        && !self.flushing.swap(true, Ordering::AcqRel)
                    {
                        continue;
                    }
                    return;
                }
            }
        }
    }

    /// Compacts the groups log on the blocking pool unless a compaction is
    /// already under way.
    fn schedule_compaction(self: &Arc<Self>) {
        if self.compacting.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            {
                let mut inner = me.inner.blocking_lock();
                if !inner.closed && inner.store.needs_compaction() {
                    let snapshot = inner.coordinator.snapshot();
                    match inner.store.compact(&snapshot, now_ms()) {
                        Ok(report) => tracing::info!(
                            before_bytes = report.bytes_before,
                            after_bytes = report.snapshot_bytes,
                            records = report.records,
                            deleted_segments = report.deleted_segments,
                            "compacted the groups log"
                        ),
                        Err(e) => tracing::error!(error = %e, "groups log compaction failed"),
                    }
                }
            }
            me.durable.send_replace(me.reader.high_watermark().0);
            me.compacting.store(false, Ordering::Release);
        });
    }

    /// ConsumerGroupHeartbeat.
    pub async fn heartbeat(
        self: &Arc<Self>,
        req: &ConsumerGroupHeartbeatRequest,
        client_id: &str,
        client_host: &str,
        topics: &(dyn TopicMetadata + Sync),
    ) -> ConsumerGroupHeartbeatResponse {
        let new_member_id = format!("{:032x}", rand::random::<u128>());
        let origin = MemberOrigin {
            client_id,
            client_host,
            new_member_id: &new_member_id,
        };
        self.write(
            |c, now| c.heartbeat(req, &origin, topics, now),
            |code, message| {
                ConsumerGroupHeartbeatResponse::error(
                    code,
                    message,
                    req.member_id.clone(),
                    req.member_epoch,
                )
            },
        )
        .await
    }

    /// OffsetCommit; answered once the offsets are durable.
    pub async fn commit_offsets(
        self: &Arc<Self>,
        req: &OffsetCommitRequest,
        topics: &(dyn TopicMetadata + Sync),
    ) -> OffsetCommitResponse {
        self.write(
            |c, now| c.commit_offsets(req, topics, now),
            |code, message| OffsetCommitResponse::uniform(req, code, Some(&message)),
        )
        .await
    }

    /// OffsetFetch.
    pub async fn fetch_offsets(self: &Arc<Self>, req: &OffsetFetchRequest) -> OffsetFetchResponse {
        self.read(|c| c.fetch_offsets(req), OffsetFetchResponse::error)
            .await
    }

    /// ListGroups; its response has no error field, so a failure comes
    /// back as the code and message of an error response.
    pub async fn list_groups(
        self: &Arc<Self>,
        req: &ListGroupsRequest,
    ) -> Result<ListGroupsResponse, (ErrorCode, String)> {
        self.read(
            |c| Ok(c.list_groups(req)),
            |code, message| Err((code, message)),
        )
        .await
    }

    /// DescribeGroups, without lag figures (see [`super::lag`]).
    pub async fn describe_groups(
        self: &Arc<Self>,
        req: &DescribeGroupsRequest,
    ) -> DescribeGroupsResponse {
        self.read(
            |c| c.describe_groups(req),
            |code, message| DescribeGroupsResponse {
                groups: req
                    .group_ids
                    .iter()
                    .map(|id| DescribedGroup::error(id.clone(), code, message.clone()))
                    .collect(),
            },
        )
        .await
    }

    /// DeleteGroups; answered once the deletion is durable.
    pub async fn delete_groups(
        self: &Arc<Self>,
        req: &DeleteGroupsRequest,
    ) -> DeleteGroupsResponse {
        self.write(
            |c, _| c.delete_groups(req),
            |code, message| DeleteGroupsResponse {
                results: req
                    .group_ids
                    .iter()
                    .map(|id| DeletableGroupResult {
                        group_id: id.clone(),
                        error_code: code,
                        error_message: Some(message.clone()),
                    })
                    .collect(),
            },
        )
        .await
    }

    /// Removes members past their session or rebalance deadline.
    pub async fn expire(
        self: &Arc<Self>,
        topics: &(dyn TopicMetadata + Sync),
    ) -> Vec<ExpiredMember> {
        let expired = self
            .write(
                |c, now| c.expire(topics, now),
                |code, message| {
                    tracing::warn!(%code, %message, "cannot expire group members");
                    Vec::new()
                },
            )
            .await;
        for e in &expired {
            tracing::info!(group = %e.group_id, member = %e.member_id, reason = e.reason.name(), "removed group member");
        }
        expired
    }

    /// Runs the expiry timer until `stop` is cancelled.
    pub async fn run_expiry(
        self: Arc<Self>,
        topics: Arc<dyn TopicMetadata + Send + Sync>,
        stop: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(EXPIRY_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            self.expire(topics.as_ref()).await;
        }
    }

    /// Flushes and closes the groups log; later calls are refused. Blocks:
    /// call it off the async threads, after requests have finished.
    pub fn close(&self) -> Result<(), GroupStoreError> {
        let mut inner = self.inner.blocking_lock();
        inner.closed = true;
        inner.store.close()?;
        self.durable.send_replace(self.reader.high_watermark().0);
        Ok(())
    }
}

impl GroupMetricsSource for GroupCoordinator {
    /// Members and committed offsets of every group. Runs on the scrape's
    /// blocking thread; waits for the lock only as long as a call holds it.
    fn snapshot(&self) -> Vec<GroupSnapshot> {
        let inner = self.inner.blocking_lock();
        inner
            .coordinator
            .groups()
            .iter()
            .map(|g| GroupSnapshot {
                group: g.group_id.clone(),
                members: g.members.len() as u64,
                committed: g
                    .offsets
                    .iter()
                    .map(|((topic, partition), c)| CommittedOffset {
                        topic: topic.clone(),
                        partition: partition.0,
                        offset: c.offset,
                    })
                    .collect(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sim::SimFs;
    use runnel_protocol::PartitionId;
    use runnel_protocol::api::offset_commit::{OffsetCommitPartition, OffsetCommitTopic};
    use std::collections::BTreeMap;

    fn store() -> StoreConfig {
        StoreConfig {
            compact_min_bytes: 8 << 10,
            segment_bytes: 1 << 20,
            max_batch_bytes: 64 << 10,
            preallocate_bytes: 4096,
        }
    }

    fn open(fs: &SimFs, clean: bool) -> Arc<GroupCoordinator> {
        GroupCoordinator::open(
            Arc::new(fs.clone()),
            Path::new("/data"),
            clean,
            CoordinatorConfig::default(),
            store(),
            now_ms(),
        )
        .unwrap()
        .0
    }

    fn commit(partition: u32, offset: i64) -> OffsetCommitRequest {
        OffsetCommitRequest {
            group_id: "g".into(),
            member_id: String::new(),
            member_epoch: -1,
            topics: vec![OffsetCommitTopic {
                name: "t".into(),
                partitions: vec![OffsetCommitPartition {
                    partition: PartitionId(partition),
                    committed_offset: offset,
                    committed_metadata: Some("x".repeat(40)),
                }],
            }],
        }
    }

    async fn committed(g: &Arc<GroupCoordinator>) -> Vec<i64> {
        let r = g
            .fetch_offsets(&OffsetFetchRequest {
                group_id: "g".into(),
                member_id: String::new(),
                member_epoch: -1,
                topics: None,
            })
            .await;
        r.topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.committed_offset))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn acknowledged_commits_survive_compaction_and_a_crash() {
        let fs = SimFs::new();
        let topics = BTreeMap::from([("t".to_owned(), 4u32)]);
        let g = open(&fs, false);
        for i in 0..400u32 {
            let r = g
                .commit_offsets(&commit(i % 4, i64::from(i)), &topics)
                .await;
            assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::None);
        }
        // Everything acknowledged is durable, whatever compaction was doing.
        let after = open(&fs.crash(11), false);
        assert_eq!(committed(&after).await, [396, 397, 398, 399]);
        // Compaction kept the log near the size of the live state.
        let size = g.reader.size_bytes();
        assert!(size < 16 << 10, "groups log is {size} bytes");
    }

    #[tokio::test]
    async fn a_closed_coordinator_refuses_calls_and_reopens_clean() {
        let fs = SimFs::new();
        let topics = BTreeMap::from([("t".to_owned(), 4u32)]);
        let g = open(&fs, false);
        g.commit_offsets(&commit(1, 7), &topics).await;
        let closer = Arc::clone(&g);
        tokio::task::spawn_blocking(move || closer.close())
            .await
            .unwrap()
            .unwrap();
        let r = g.commit_offsets(&commit(1, 8), &topics).await;
        assert_eq!(
            r.topics[0].partitions[0].error_code,
            ErrorCode::CoordinatorNotAvailable
        );
        let again = open(&fs, true);
        assert_eq!(committed(&again).await, [7]);
    }
}
