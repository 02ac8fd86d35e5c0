//! Support for the consumer group tests against the real broker: members
//! run as tasks that record every record they receive and every ownership
//! change on a shared [`Board`], which checks that no partition has two
//! owners at once.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use runnel_client::{Client, ClientConfig, NewTopic};
use runnel_consumer::{Consumer, Rebalance};
use runnel_testkit::{BrokerOptions, BrokerProcess};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A broker whose coordinator answers heartbeats every 100 ms (instead of
/// 3 s) and accepts sessions from 500 ms, so that rebalances and session
/// expiry happen within a test's few seconds.
pub fn fast_group_broker() -> BrokerProcess {
    BrokerProcess::start_with(BrokerOptions {
        env: vec![
            ("RUNNEL_GROUP_HEARTBEAT_INTERVAL_MS".into(), "100".into()),
            ("RUNNEL_GROUP_MIN_SESSION_TIMEOUT_MS".into(), "500".into()),
        ],
        ..BrokerOptions::default()
    })
}

/// Creates `topic` with `partitions` partitions.
pub async fn create_topic(bootstrap: &str, topic: &str, partitions: u32) {
    let client = Client::connect(ClientConfig::new(bootstrap)).await.unwrap();
    client
        .create_topic(NewTopic::new(topic, Some(partitions)))
        .await
        .unwrap();
    client.close();
}

/// A record as a member received it.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    /// Which member.
    pub member: usize,
    /// Partition and offset.
    pub partition: u32,
    /// Its offset.
    pub offset: i64,
    /// When `poll` returned it.
    pub at: Instant,
}

/// What the members did, as one consistent picture.
#[derive(Debug, Default)]
pub struct BoardState {
    /// Partition → the member that owns it now.
    pub owners: BTreeMap<u32, usize>,
    /// Broken rules (two owners, a record from a partition not owned).
    pub violations: Vec<String>,
    /// Every record received, in order of receipt.
    pub received: Vec<Received>,
    /// Distinct offsets received per partition.
    pub seen: BTreeMap<u32, BTreeSet<i64>>,
    /// (member, partition) → the offset its last successful commit stored.
    pub committed: BTreeMap<(usize, u32), i64>,
    /// Errors members' polls or commits returned.
    pub errors: Vec<String>,
    /// Commits refused with STALE_MEMBER_EPOCH: the member's epoch moved
    /// on while the commit was on its way; the next commit carries the new
    /// epoch.
    pub stale_commits: usize,
}

impl BoardState {
    /// The partitions `member` owns.
    pub fn owned_by(&self, member: usize) -> BTreeSet<u32> {
        self.owners
            .iter()
            .filter(|(_, m)| **m == member)
            .map(|(p, _)| *p)
            .collect()
    }

    /// Whether every partition `0..partitions` is owned and `members`
    /// each own their fair share (differing by at most one).
    pub fn balanced(&self, partitions: u32, members: &[usize]) -> bool {
        let total = usize::try_from(partitions).unwrap();
        if self.owners.len() != total {
            return false;
        }
        let low = total / members.len();
        members.iter().all(|m| {
            let n = self.owned_by(*m).len();
            n == low || n == low + 1
        }) && self.owners.values().all(|m| members.contains(m))
    }

    /// Whether every offset below `ends[p]` of every partition was
    /// received.
    pub fn has_everything(&self, ends: &BTreeMap<u32, i64>) -> bool {
        ends.iter().all(|(p, end)| {
            let got = self.seen.get(p).map_or(0, BTreeSet::len);
            i64::try_from(got).unwrap() >= *end
        })
    }
}

/// The shared record of what members did, with a way to wait for it.
#[derive(Debug)]
pub struct Board {
    /// The state.
    state: Mutex<BoardState>,
    /// Bumped on every change.
    version: watch::Sender<u64>,
}

impl Board {
    /// An empty board.
    pub fn new() -> Arc<Board> {
        Arc::new(Board {
            state: Mutex::new(BoardState::default()),
            version: watch::Sender::new(0),
        })
    }

    /// The state now.
    pub fn state(&self) -> MutexGuard<'_, BoardState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn changed(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// Applies a rebalance callback of `member`.
    pub fn on_rebalance(&self, member: usize, change: &Rebalance) {
        let mut state = self.state();
        match change {
            Rebalance::Assigned(partitions) => {
                for tp in partitions {
                    if let Some(owner) = state.owners.get(&tp.partition)
                        && *owner != member
                    {
                        let text = format!(
                            "partition {} assigned to member {member} while member {owner} owns it",
                            tp.partition
                        );
                        state.violations.push(text);
                    }
                    state.owners.insert(tp.partition, member);
                }
            }
            Rebalance::Revoked(partitions) | Rebalance::Lost(partitions) => {
                for tp in partitions {
                    if state.owners.get(&tp.partition) == Some(&member) {
                        state.owners.remove(&tp.partition);
                    }
                }
            }
        }
        drop(state);
        self.changed();
    }

    /// Forgets what `member` owned (it was killed: it reads nothing more).
    pub fn forget(&self, member: usize) {
        self.state().owners.retain(|_, m| *m != member);
        self.changed();
    }

    /// Waits up to `limit` until `done` holds, panicking with `what`.
    pub async fn wait_until(
        &self,
        what: &str,
        limit: Duration,
        mut done: impl FnMut(&BoardState) -> bool,
    ) -> Instant {
        let mut changes = self.version.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            {
                let state = self.state();
                if done(&state) {
                    return Instant::now();
                }
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                let state = self.state();
                panic!(
                    "timed out after {limit:?} waiting for {what}: owners {:?}, errors {:?}, violations {:?}",
                    state.owners, state.errors, state.violations
                );
            }
        }
    }
}

/// A group member running as a task.
#[derive(Debug)]
pub struct Member {
    /// Its number on the board.
    pub id: usize,
    /// Asks the task to close the consumer and end.
    stop: Arc<AtomicBool>,
    /// The task.
    task: JoinHandle<()>,
}

/// How a member commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commits {
    /// `enable.auto.commit` does it.
    Auto,
    /// `commit()` after every poll that returned records.
    EveryPoll,
}

impl Member {
    /// Starts member `id` of `group` on `topic` with extra `settings`.
    pub async fn start(
        id: usize,
        bootstrap: &str,
        group: &str,
        topic: &str,
        settings: &[(&str, &str)],
        commits: Commits,
        board: &Arc<Board>,
    ) -> Member {
        let auto = if commits == Commits::Auto {
            "true"
        } else {
            "false"
        };
        let client_id = format!("member-{id}");
        let mut consumer = Consumer::builder()
            .bootstrap(bootstrap)
            .set("group.id", group)
            .unwrap()
            .set("client.id", &client_id)
            .unwrap()
            .set("auto.offset.reset", "earliest")
            .unwrap()
            .set("enable.auto.commit", auto)
            .unwrap()
            .set("fetch.max.wait.ms", "50")
            .unwrap()
            .set_all(settings.iter().copied())
            .unwrap()
            .build()
            .await
            .unwrap();
        let listener = Arc::clone(board);
        consumer.on_rebalance(move |change| listener.on_rebalance(id, change));
        consumer.subscribe(&[topic]).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(run(
            id,
            consumer,
            topic.to_owned(),
            commits,
            Arc::clone(board),
            Arc::clone(&stop),
        ));
        Member { id, stop, task }
    }

    /// Closes the consumer (commit, leave) and waits for the task.
    pub async fn close(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
    }

    /// Stops the member without leaving the group or committing: the task
    /// is aborted, which drops the consumer mid-poll and ends its
    /// heartbeats, as a crashed process would.
    pub async fn kill(self, board: &Board) {
        self.task.abort();
        let _ = self.task.await;
        board.forget(self.id);
    }
}

async fn run(
    id: usize,
    mut consumer: Consumer,
    topic: String,
    commits: Commits,
    board: Arc<Board>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        let records = match consumer.poll(Duration::from_millis(50)).await {
            Ok(records) => records,
            Err(error) => {
                board
                    .state()
                    .errors
                    .push(format!("member {id}: poll: {error}"));
                board.changed();
                break;
            }
        };
        let assignment = consumer.assignment();
        {
            let now = Instant::now();
            let mut state = board.state();
            for tp in &assignment {
                if state.owners.get(&tp.partition) != Some(&id) {
                    let text = format!(
                        "member {id} has partition {} assigned, owned by {:?}",
                        tp.partition,
                        state.owners.get(&tp.partition)
                    );
                    state.violations.push(text);
                }
            }
            for record in &records {
                if state.owners.get(&record.partition) != Some(&id) {
                    let text = format!(
                        "member {id} received {}@{} without owning the partition",
                        record.partition, record.offset
                    );
                    state.violations.push(text);
                }
                state.received.push(Received {
                    member: id,
                    partition: record.partition,
                    offset: record.offset,
                    at: now,
                });
                state
                    .seen
                    .entry(record.partition)
                    .or_default()
                    .insert(record.offset);
            }
        }
        board.changed();
        if commits == Commits::EveryPoll && !records.is_empty() {
            match consumer.commit().await {
                Ok(()) => {
                    let mut state = board.state();
                    for tp in &assignment {
                        if let Some(position) = consumer.position(&topic, tp.partition) {
                            state.committed.insert((id, tp.partition), position);
                        }
                    }
                }
                Err(error) if error.to_string().contains("STALE_MEMBER_EPOCH") => {
                    board.state().stale_commits += 1;
                }
                Err(error) => {
                    board
                        .state()
                        .errors
                        .push(format!("member {id}: commit: {error}"));
                }
            }
            board.changed();
        }
    }
    consumer.close().await;
}
