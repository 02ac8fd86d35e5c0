//! [`Consumer`]: reads assigned partitions, prefetching in the background;
//! [`ConsumerBuilder`] sets it up.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use runnel_client::{Client, ClientError, TopicInfo};
use runnel_protocol::api::list_offsets::OffsetSpec;
use runnel_protocol::{ErrorCode, PartitionId};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::buffer::{CompletedFetch, Drain};
use crate::config::{AutoOffsetReset, ConsumerConfig};
use crate::error::ConsumerError;
use crate::fetcher;
use crate::group::{GroupCalls, GroupMember, GroupSettings, Rebalance};
use crate::membership::Membership;
use crate::record::{ConsumerRecord, TopicPartition};
use crate::seek::SeekTo;

/// Commits refused as stale that are retried with the current epoch.
const STALE_COMMIT_RETRIES: u32 = 3;
/// How long a stale commit waits for the heartbeat to bring a new epoch.
const STALE_COMMIT_WAIT: Duration = Duration::from_secs(5);
use crate::state::{Limits, Shared};

/// Collects settings and builds a [`Consumer`].
///
/// ```no_run
/// # async fn run() -> Result<(), runnel_consumer::ConsumerError> {
/// use runnel_consumer::Consumer;
///
/// let consumer = Consumer::builder()
///     .bootstrap("127.0.0.1:9170")
///     .set("auto.offset.reset", "earliest")?
///     .set_all([("max.poll.records", "100"), ("client.id", "audit")])?
///     .build()
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct ConsumerBuilder {
    /// The settings so far.
    config: ConsumerConfig,
}

impl ConsumerBuilder {
    /// Starts from `config`.
    pub fn from_config(config: ConsumerConfig) -> Self {
        ConsumerBuilder { config }
    }

    /// Applies one setting by its Kafka name (`auto.offset.reset`,
    /// `fetch.max.wait.ms`, `client.id`, ...); an unknown name is an error
    /// naming it.
    pub fn set(mut self, key: &str, value: &str) -> Result<Self, ConsumerError> {
        self.config.set(key, value)?;
        Ok(self)
    }

    /// Applies `(key, value)` pairs in order, as from `-X key=value` flags.
    pub fn set_all<'a>(
        mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConsumerError> {
        for (key, value) in pairs {
            self.config.set(key, value)?;
        }
        Ok(self)
    }

    /// The broker to start from (`host:port`).
    #[must_use]
    pub fn bootstrap(mut self, addr: impl Into<String>) -> Self {
        self.config.client.bootstrap = addr.into();
        self
    }

    /// The settings so far, to change fields directly.
    pub fn config_mut(&mut self) -> &mut ConsumerConfig {
        &mut self.config
    }

    /// Connects to the bootstrap broker (failing at once when it cannot be
    /// reached) and starts the background fetcher. Must run inside a tokio
    /// runtime.
    pub async fn build(self) -> Result<Consumer, ConsumerError> {
        let config = self.config;
        let client = Client::connect(config.client.clone()).await?;
        let fetch_client = Client::new(config.fetch_client());
        let calls = config
            .group_id
            .clone()
            .map(|group| GroupCalls::new(group, Client::new(config.client.clone())));
        let shared = Arc::new(Shared::new(Limits::from_config(&config)));
        let shutdown = CancellationToken::new();
        let fetcher = tokio::spawn(fetcher::run(
            Arc::clone(&shared),
            fetch_client,
            shutdown.clone(),
        ));
        Ok(Consumer {
            client,
            shared,
            current: None,
            membership: Membership::Manual(calls),
            listener: None,
            next_auto_commit: Instant::now() + config.auto_commit_interval,
            last_committed: HashMap::new(),
            config,
            shutdown,
            fetcher: Some(fetcher),
        })
    }
}

/// Reads records from assigned partitions.
///
/// From the first poll on, a background task fetches ahead — one request
/// per broker covering every assigned partition it leads, long-polling for
/// new data — and keeps at most `fetch.buffer.bytes` of fetched data
/// waiting; [`Consumer::poll`] hands out records from that buffer without
/// copying them.
///
/// Each partition has a *position*: the offset of the next record the
/// consumer will return. It starts where `auto.offset.reset` says, moves
/// past every record returned, and is moved by [`Consumer::seek`].
///
/// ```no_run
/// # async fn run() -> Result<(), runnel_consumer::ConsumerError> {
/// use std::time::Duration;
/// use runnel_consumer::{Consumer, SeekTo};
///
/// let mut consumer = Consumer::builder().bootstrap("127.0.0.1:9170").build().await?;
/// consumer.assign("orders", &[0, 1, 2]).await?;
/// consumer.seek_all(SeekTo::Earliest).await?;
/// loop {
///     for record in consumer.poll(Duration::from_secs(1)).await? {
///         println!("{} {} {:?}", record.partition, record.offset, record.value);
///     }
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Consumer {
    /// The settings in force.
    config: ConsumerConfig,
    /// Metadata and offset lookups, on connections no fetch waits on.
    client: Client,
    /// Positions and fetched data, shared with the fetcher.
    shared: Arc<Shared>,
    /// The fetched data being handed out, held outside the shared lock so
    /// that decompression and record decoding never block the fetcher.
    current: Option<CompletedFetch>,
    /// Who decides the assignment.
    membership: Membership,
    /// Told about assignment changes.
    listener: Option<Listener>,
    /// The next automatic commit.
    next_auto_commit: Instant,
    /// Positions committed last, so automatic commits send only what moved.
    last_committed: HashMap<TopicPartition, i64>,
    /// Stops the fetcher; cancelled by `close` or on drop.
    shutdown: CancellationToken,
    /// The fetcher task, awaited by `close`.
    fetcher: Option<JoinHandle<()>>,
}

/// The rebalance callback; in a mutex so that the consumer is `Sync`
/// (only `&mut self` methods call it, so the lock is never contended).
struct Listener(std::sync::Mutex<Callback>);

/// A rebalance callback.
type Callback = Box<dyn FnMut(&Rebalance) + Send>;

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Listener")
    }
}

impl Consumer {
    /// A builder with Kafka's defaults.
    pub fn builder() -> ConsumerBuilder {
        ConsumerBuilder::default()
    }

    /// The settings in force.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// The client the consumer looks up metadata and offsets through (for
    /// admin calls of your own).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Makes `partitions` the assigned partitions of `topic` (an empty list
    /// unassigns the topic). Partitions already assigned keep their
    /// position; new ones start where `auto.offset.reset` says (with
    /// `none`, they have no position until sought). Fails if the topic or a
    /// partition does not exist.
    ///
    /// ```no_run
    /// # async fn run(consumer: &mut runnel_consumer::Consumer) -> Result<(), runnel_consumer::ConsumerError> {
    /// consumer.assign("orders", &[0, 2]).await?;
    /// consumer.assign("audit", &[0]).await?;
    /// assert_eq!(consumer.assignment().len(), 3);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn assign(&mut self, topic: &str, partitions: &[u32]) -> Result<(), ConsumerError> {
        self.ensure_open()?;
        if matches!(self.membership, Membership::Member(_)) {
            return Err(ConsumerError::Usage(
                "assign cannot be used while subscribed to a group: the group assigns partitions",
            ));
        }
        if partitions.is_empty() {
            self.unassign(topic);
            return Ok(());
        }
        let info = self.topic_info(topic).await?;
        let mut wanted: Vec<u32> = partitions.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        for &partition in &wanted {
            if info.partition(PartitionId(partition)).is_none() {
                return Err(ConsumerError::UnknownPartition {
                    topic: topic.to_owned(),
                    partition,
                    partitions: info.partition_count(),
                });
            }
        }
        let name: Arc<str> = Arc::from(topic);
        let new: Vec<TopicPartition> = {
            let state = self.shared.lock();
            wanted
                .iter()
                .map(|&p| TopicPartition::new(Arc::clone(&name), p))
                .filter(|tp| !state.is_assigned(tp))
                .collect()
        };
        let starts = self.starting_positions(&new).await?;
        let assignment: Vec<(u32, Option<i64>)> = wanted
            .iter()
            .map(|&p| {
                let tp = TopicPartition::new(Arc::clone(&name), p);
                (p, starts.get(&tp).copied().flatten())
            })
            .collect();
        self.shared.lock().assign(&name, &assignment);
        self.drop_current_if_stale();
        self.shared.fetcher_wake.notify_one();
        Ok(())
    }

    /// Assigns every partition of `topic` and returns their numbers; see
    /// [`Consumer::assign`].
    ///
    /// ```no_run
    /// # async fn run(consumer: &mut runnel_consumer::Consumer) -> Result<(), runnel_consumer::ConsumerError> {
    /// let partitions = consumer.assign_all("orders").await?;
    /// println!("reading {} partitions", partitions.len());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn assign_all(&mut self, topic: &str) -> Result<Vec<u32>, ConsumerError> {
        self.ensure_open()?;
        let info = self.topic_info(topic).await?;
        let partitions: Vec<u32> = info.partitions.iter().map(|p| p.partition.0).collect();
        self.assign(topic, &partitions).await?;
        Ok(partitions)
    }

    /// Stops reading every partition of `topic`, dropping its buffered
    /// data.
    pub fn unassign(&mut self, topic: &str) {
        self.shared.lock().unassign(topic);
        self.drop_current_if_stale();
        self.shared.fetcher_wake.notify_one();
    }

    /// Joins the consumer group named by `group.id` and reads the
    /// partitions of `topics` that the group's coordinator assigns to this
    /// member; calling it again changes the subscription. Assignments
    /// change inside [`Consumer::poll`] (and `recv`, `stream`): new
    /// partitions start at the group's committed offset, or per
    /// `auto.offset.reset`; revoked ones are committed first (with
    /// `enable.auto.commit`) and given up. Poll at least every
    /// `max.poll.interval.ms`, or the group moves on without this member.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), runnel_consumer::ConsumerError> {
    /// use std::time::Duration;
    /// use runnel_consumer::{Consumer, Rebalance};
    ///
    /// let mut consumer = Consumer::builder()
    ///     .set("group.id", "billing")?
    ///     .set("auto.offset.reset", "earliest")?
    ///     .build()
    ///     .await?;
    /// consumer.on_rebalance(|change| {
    ///     if let Rebalance::Assigned(partitions) = change {
    ///         println!("now reading {partitions:?}");
    ///     }
    /// });
    /// consumer.subscribe(&["orders"])?;
    /// loop {
    ///     for record in consumer.poll(Duration::from_secs(1)).await? {
    ///         println!("{}-{}@{}", record.topic, record.partition, record.offset);
    ///     }
    /// }
    /// # }
    /// ```
    pub fn subscribe(&mut self, topics: &[&str]) -> Result<(), ConsumerError> {
        self.ensure_open()?;
        let topics: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
        match &self.membership {
            Membership::Member(member) => {
                member.subscribe(topics);
                return Ok(());
            }
            Membership::Manual(None) => {
                return Err(ConsumerError::Usage(
                    "subscribe needs a consumer group: set group.id",
                ));
            }
            Membership::Manual(Some(_)) if !self.assignment().is_empty() => {
                return Err(ConsumerError::Usage(
                    "subscribe cannot be used with assigned partitions: unassign them first",
                ));
            }
            Membership::Manual(Some(_)) => {}
        }
        let Membership::Manual(Some(calls)) =
            std::mem::replace(&mut self.membership, Membership::Manual(None))
        else {
            return Err(ConsumerError::Closed);
        };
        let Some(settings) = GroupSettings::from_config(&self.config) else {
            return Err(ConsumerError::Usage(
                "subscribe needs a consumer group: set group.id",
            ));
        };
        let member = GroupMember::start(
            settings,
            calls,
            topics,
            Arc::clone(&self.shared),
            &self.shutdown,
        );
        self.membership = Membership::Member(Box::new(member));
        Ok(())
    }

    /// Calls `listener` whenever partitions are assigned, revoked or lost
    /// (inside `poll`, before the records of the new assignment).
    pub fn on_rebalance(&mut self, listener: impl FnMut(&Rebalance) + Send + 'static) {
        self.listener = Some(Listener(std::sync::Mutex::new(Box::new(listener))));
    }

    /// Commits the position of every assigned partition to the group
    /// (`group.id`), and waits until the commit is durable. The position
    /// is the offset after the last record returned: commit after
    /// processing what `poll` returned.
    ///
    /// ```no_run
    /// # async fn run(consumer: &mut runnel_consumer::Consumer) -> Result<(), runnel_consumer::ConsumerError> {
    /// let records = consumer.poll(std::time::Duration::from_secs(1)).await?;
    /// // ... process the records ...
    /// consumer.commit().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn commit(&mut self) -> Result<(), ConsumerError> {
        self.ensure_open()?;
        let calls = self
            .membership
            .calls()
            .cloned()
            .ok_or(ConsumerError::Usage(
                "commit needs a consumer group: set group.id",
            ))?;
        // An epoch that changed while the commit was on its way makes it
        // stale (STALE_MEMBER_EPOCH): heartbeat for the current epoch and
        // commit again, a bounded number of times, as Kafka's client does.
        let mut attempt = 0;
        loop {
            let identity = self.membership.identity();
            let offsets = self.positions(&self.assignment());
            match calls.commit(identity.clone(), &offsets).await {
                Err(ConsumerError::Group { source, .. })
                    if source.code == ErrorCode::StaleMemberEpoch
                        && attempt < STALE_COMMIT_RETRIES =>
                {
                    attempt += 1;
                    self.membership.heartbeat_soon();
                    let deadline = Instant::now() + STALE_COMMIT_WAIT;
                    while self.membership.identity() == identity && Instant::now() < deadline {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
                result => {
                    result?;
                    self.last_committed.extend(offsets);
                    return Ok(());
                }
            }
        }
    }

    /// Starts committing the position of every assigned partition and
    /// returns at once; the handle resolves to the outcome (dropping it
    /// is fine).
    pub fn commit_async(&mut self) -> Result<JoinHandle<Result<(), ConsumerError>>, ConsumerError> {
        self.ensure_open()?;
        let calls = self
            .membership
            .calls()
            .cloned()
            .ok_or(ConsumerError::Usage(
                "commit needs a consumer group: set group.id",
            ))?;
        let offsets = self.positions(&self.assignment());
        self.last_committed.extend(offsets.iter().cloned());
        let member = self.membership.identity();
        Ok(tokio::spawn(
            async move { calls.commit(member, &offsets).await },
        ))
    }

    /// The assigned partitions, sorted by topic and partition.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.shared.lock().assignment()
    }

    /// Moves the position of an assigned partition: the next record
    /// returned from it is the one at the new position. Buffered data of
    /// the partition is dropped and a sticky error cleared. `Earliest`,
    /// `Latest` and `Timestamp` are looked up with the broker
    /// (ListOffsets); a time after every record means `Latest`. Fetching
    /// from the new position starts as soon as the broker answers the
    /// fetch in flight, within `fetch.max.wait.ms`.
    ///
    /// ```no_run
    /// # async fn run(consumer: &mut runnel_consumer::Consumer) -> Result<(), runnel_consumer::ConsumerError> {
    /// use runnel_consumer::SeekTo;
    /// consumer.seek("orders", 0, SeekTo::Offset(1_000)).await?;
    /// assert_eq!(consumer.position("orders", 0), Some(1_000));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn seek(
        &mut self,
        topic: &str,
        partition: u32,
        to: SeekTo,
    ) -> Result<(), ConsumerError> {
        self.ensure_open()?;
        let tp = TopicPartition::new(topic, partition);
        if !self.shared.lock().is_assigned(&tp) {
            return Err(ConsumerError::NotAssigned {
                topic: topic.to_owned(),
                partition,
            });
        }
        let offset = match to {
            SeekTo::Offset(offset) => offset,
            _ => {
                let found = self.resolve(topic, &[partition], to).await?;
                found
                    .get(&partition)
                    .copied()
                    .ok_or_else(|| ClientError::Protocol {
                        api: runnel_protocol::ApiKey::ListOffsets,
                        addr: self.config.client.bootstrap.clone(),
                        reason: format!("no offset for topic {topic:?} partition {partition}"),
                    })?
            }
        };
        self.apply_seeks(&[(tp, offset)])
    }

    /// Moves every assigned partition to `to`, with one offset lookup per
    /// topic; see [`Consumer::seek`].
    pub async fn seek_all(&mut self, to: SeekTo) -> Result<(), ConsumerError> {
        self.ensure_open()?;
        let mut by_topic: BTreeMap<Arc<str>, Vec<u32>> = BTreeMap::new();
        for tp in self.assignment() {
            by_topic.entry(tp.topic).or_default().push(tp.partition);
        }
        let mut seeks = Vec::new();
        for (topic, partitions) in by_topic {
            let offsets = match to {
                SeekTo::Offset(offset) => partitions.iter().map(|p| (*p, offset)).collect(),
                _ => self.resolve(&topic, &partitions, to).await?,
            };
            for (partition, offset) in offsets {
                seeks.push((TopicPartition::new(Arc::clone(&topic), partition), offset));
            }
        }
        self.apply_seeks(&seeks)
    }

    /// The offset of the next record [`Consumer::poll`] will return from
    /// the partition; `None` if it is not assigned or has no position yet.
    pub fn position(&self, topic: &str, partition: u32) -> Option<i64> {
        self.shared
            .lock()
            .position(&TopicPartition::new(topic, partition))
    }

    /// The partition's high watermark (the offset after its last readable
    /// record) as of its latest fetch; `None` before the first. The
    /// partition's lag is this minus [`Consumer::position`].
    pub fn high_watermark(&self, topic: &str, partition: u32) -> Option<i64> {
        self.shared
            .lock()
            .high_watermark(&TopicPartition::new(topic, partition))
    }

    /// Waits up to `timeout` for records and returns up to
    /// `max.poll.records` of them (an empty list when the time ran out),
    /// advancing each partition's position past the records returned.
    /// Records of one partition come in offset order.
    ///
    /// A partition error (corrupt data, an out-of-range position with
    /// `auto.offset.reset=none`, ...) is returned once the records before
    /// it have been handed out, and again by every poll until the
    /// partition is sought elsewhere or unassigned.
    ///
    /// ```no_run
    /// # async fn run(consumer: &mut runnel_consumer::Consumer) -> Result<(), runnel_consumer::ConsumerError> {
    /// use std::time::Duration;
    ///
    /// let records = consumer.poll(Duration::from_millis(500)).await?;
    /// for record in &records {
    ///     println!("{}-{}@{}", record.topic, record.partition, record.offset);
    /// }
    /// if let Some(last) = records.last() {
    ///     assert_eq!(consumer.position(&last.topic, last.partition), Some(last.offset + 1));
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>, ConsumerError> {
        let deadline = Instant::now() + timeout;
        loop {
            self.ensure_open()?;
            self.maintain().await?;
            let records = self.drain(self.config.max_poll_records)?;
            if !records.is_empty() {
                return Ok(records);
            }
            tokio::select! {
                biased;
                () = self.shared.records_ready.notified() => {}
                () = self.shutdown.cancelled() => return Err(ConsumerError::Closed),
                () = tokio::time::sleep_until(deadline) => return Ok(Vec::new()),
            }
        }
    }

    /// Waits for the next record, however long it takes; errors as for
    /// [`Consumer::poll`].
    pub async fn recv(&mut self) -> Result<ConsumerRecord, ConsumerError> {
        loop {
            self.ensure_open()?;
            self.maintain().await?;
            if let Some(record) = self.drain(1)?.pop() {
                return Ok(record);
            }
            tokio::select! {
                biased;
                () = self.shared.records_ready.notified() => {}
                () = self.shutdown.cancelled() => return Err(ConsumerError::Closed),
            }
        }
    }

    /// The records as a [`Stream`], one at a time, each advancing its
    /// partition's position as it is yielded (dropping the stream loses
    /// nothing). Errors are yielded as items; the stream ends once the
    /// consumer is closed.
    ///
    /// ```no_run
    /// # async fn run(consumer: &mut runnel_consumer::Consumer) -> Result<(), runnel_consumer::ConsumerError> {
    /// use futures_util::StreamExt;
    ///
    /// let mut records = std::pin::pin!(consumer.stream().take(10));
    /// while let Some(record) = records.next().await {
    ///     let record = record?;
    ///     println!("{}: {:?}", record.offset, record.value);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn stream(
        &mut self,
    ) -> impl Stream<Item = Result<ConsumerRecord, ConsumerError>> + Send + '_ {
        futures_util::stream::unfold(Some(self), |consumer| async move {
            let consumer = consumer?;
            match consumer.recv().await {
                Err(ConsumerError::Closed) => Some((Err(ConsumerError::Closed), None)),
                item => Some((item, Some(consumer))),
            }
        })
    }

    /// Commits the positions (with `group.id` and `enable.auto.commit`),
    /// leaves the group (when subscribed), stops the fetcher and closes the
    /// connections. Buffered data is dropped. Dropping a consumer without
    /// closing it stops it too, but commits nothing and leaves the group
    /// only when its session times out.
    pub async fn close(mut self) {
        if !self.shutdown.is_cancelled() {
            if self.config.enable_auto_commit
                && let Some(calls) = self.membership.calls()
            {
                let offsets = self.positions(&self.assignment());
                if let Err(error) = calls.commit(self.membership.identity(), &offsets).await {
                    tracing::warn!(%error, "committing on close failed");
                }
            }
            if let Membership::Member(member) = &self.membership {
                let owned: Vec<TopicPartition> = member.owned().into_iter().collect();
                member.leave().await;
                if !owned.is_empty() {
                    self.tell(&Rebalance::Revoked(owned));
                }
            }
        }
        if let Some(calls) = self.membership.calls() {
            calls.close();
        }
        self.shutdown.cancel();
        if let Some(fetcher) = self.fetcher.take()
            && let Err(error) = fetcher.await
        {
            tracing::error!(%error, "consumer fetcher task failed");
        }
        self.client.close();
    }

    // ---- internals ----

    /// Group work due before handing out records: reconcile an assignment
    /// change, commit automatically when the interval has passed.
    async fn maintain(&mut self) -> Result<(), ConsumerError> {
        self.reconcile().await?;
        if self.config.enable_auto_commit
            && Instant::now() >= self.next_auto_commit
            && let Some(calls) = self.membership.calls()
        {
            self.next_auto_commit = Instant::now() + self.config.auto_commit_interval;
            let offsets: Vec<(TopicPartition, i64)> = self
                .positions(&self.assignment())
                .into_iter()
                .filter(|(tp, offset)| self.last_committed.get(tp) != Some(offset))
                .collect();
            if !offsets.is_empty() {
                self.last_committed.extend(offsets.iter().cloned());
                let calls = calls.clone();
                let member = self.membership.identity();
                tokio::spawn(async move {
                    if let Err(error) = calls.commit(member, &offsets).await {
                        tracing::warn!(%error, "automatic commit failed");
                    }
                });
            }
        }
        Ok(())
    }

    /// Moves to the group's latest assignment: gives up revoked
    /// partitions (committing them first with `enable.auto.commit`),
    /// starts added ones, reports lost ones; see [`crate::group`].
    async fn reconcile(&mut self) -> Result<(), ConsumerError> {
        let Membership::Member(member) = &self.membership else {
            return Ok(());
        };
        let news = member.take_news();
        if !news.lost.is_empty() {
            self.drop_current_if_stale();
            self.tell(&Rebalance::Lost(news.lost));
        }
        if let Some(error) = news.error {
            return Err(error);
        }
        let Some(target) = news.target else {
            return Ok(());
        };
        let Membership::Member(member) = &self.membership else {
            return Ok(());
        };
        let starts = match self.starting_positions(&target.change.added).await {
            Ok(starts) => starts,
            Err(error) => {
                member.requeue(target);
                return Err(error);
            }
        };
        let revoked = target.change.revoked.clone();
        if self.config.enable_auto_commit && !revoked.is_empty() {
            let offsets = self.positions(&revoked);
            if let Err(error) = member.calls.commit(member.identity(), &offsets).await {
                tracing::warn!(%error, "committing revoked partitions failed");
            }
        }
        let added = target.change.added.clone();
        let shared = &self.shared;
        let applied = member.apply(target.generation, |owned| {
            let mut fetch = shared.lock();
            fetch.remove(&revoked);
            for tp in &added {
                fetch.add(tp.clone(), starts.get(tp).copied().flatten());
            }
            for tp in &revoked {
                owned.remove(tp);
            }
            owned.extend(added.iter().cloned());
        });
        if !applied {
            return Ok(());
        }
        for tp in &revoked {
            self.last_committed.remove(tp);
        }
        self.drop_current_if_stale();
        self.shared.fetcher_wake.notify_one();
        if !revoked.is_empty() {
            self.tell(&Rebalance::Revoked(revoked));
        }
        if !added.is_empty() {
            self.tell(&Rebalance::Assigned(added));
        }
        Ok(())
    }

    /// Where newly assigned `partitions` start: the group's committed
    /// offset when there is one, else per `auto.offset.reset` (`None`
    /// with `none`).
    async fn starting_positions(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, Option<i64>>, ConsumerError> {
        let mut starts: HashMap<TopicPartition, Option<i64>> = HashMap::new();
        if let Some(calls) = self.membership.calls() {
            let committed = calls
                .committed(self.membership.identity(), partitions)
                .await?;
            starts.extend(committed.into_iter().map(|(tp, offset)| (tp, Some(offset))));
        }
        let by_policy = match self.config.auto_offset_reset {
            AutoOffsetReset::Earliest => Some(SeekTo::Earliest),
            AutoOffsetReset::Latest => Some(SeekTo::Latest),
            AutoOffsetReset::None => None,
        };
        let mut by_topic: BTreeMap<Arc<str>, Vec<u32>> = BTreeMap::new();
        for tp in partitions.iter().filter(|tp| !starts.contains_key(*tp)) {
            by_topic
                .entry(Arc::clone(&tp.topic))
                .or_default()
                .push(tp.partition);
        }
        for (topic, numbers) in by_topic {
            let found = match by_policy {
                Some(to) => self.resolve(&topic, &numbers, to).await?,
                None => HashMap::new(),
            };
            for p in numbers {
                starts.insert(
                    TopicPartition::new(Arc::clone(&topic), p),
                    found.get(&p).copied(),
                );
            }
        }
        Ok(starts)
    }

    /// The positions of `partitions` that have one.
    fn positions(&self, partitions: &[TopicPartition]) -> Vec<(TopicPartition, i64)> {
        let state = self.shared.lock();
        partitions
            .iter()
            .filter_map(|tp| state.position(tp).map(|p| (tp.clone(), p)))
            .collect()
    }

    /// Tells the rebalance callback.
    fn tell(&mut self, change: &Rebalance) {
        if let Some(Listener(listener)) = &mut self.listener {
            let listener = listener
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            listener(change);
        }
    }

    fn ensure_open(&self) -> Result<(), ConsumerError> {
        if self.shutdown.is_cancelled() {
            Err(ConsumerError::Closed)
        } else {
            Ok(())
        }
    }

    /// The topic's metadata, fresh from the broker; a missing topic is
    /// [`ConsumerError::UnknownTopic`].
    async fn topic_info(&self, topic: &str) -> Result<Arc<TopicInfo>, ConsumerError> {
        self.client
            .refresh_topic(topic)
            .await
            .map_err(|e| topic_error(topic, e))
    }

    /// Looks up the offset `to` names in each of `partitions` (one request
    /// per leader). A time after every record resolves to the high
    /// watermark.
    async fn resolve(
        &self,
        topic: &str,
        partitions: &[u32],
        to: SeekTo,
    ) -> Result<HashMap<u32, i64>, ConsumerError> {
        let Some(spec) = to.lookup() else {
            let SeekTo::Offset(offset) = to else {
                return Ok(HashMap::new());
            };
            return Ok(partitions.iter().map(|p| (*p, offset)).collect());
        };
        let lookups: Vec<(PartitionId, OffsetSpec)> =
            partitions.iter().map(|p| (PartitionId(*p), spec)).collect();
        let found = self
            .client
            .list_offsets(topic, &lookups)
            .await
            .map_err(|e| topic_error(topic, e))?;
        let mut offsets = HashMap::with_capacity(found.len());
        let mut past_the_end = Vec::new();
        for p in found {
            match p.offset {
                Some(offset) => {
                    offsets.insert(p.partition.0, offset);
                }
                None => past_the_end.push((p.partition, OffsetSpec::Latest)),
            }
        }
        if !past_the_end.is_empty() {
            let latest = self
                .client
                .list_offsets(topic, &past_the_end)
                .await
                .map_err(|e| topic_error(topic, e))?;
            for p in latest {
                if let Some(offset) = p.offset {
                    offsets.insert(p.partition.0, offset);
                }
            }
        }
        Ok(offsets)
    }

    fn apply_seeks(&mut self, seeks: &[(TopicPartition, i64)]) -> Result<(), ConsumerError> {
        {
            let mut state = self.shared.lock();
            for (tp, offset) in seeks {
                state.seek(tp, *offset)?;
            }
        }
        self.drop_current_if_stale();
        self.shared.fetcher_wake.notify_one();
        Ok(())
    }

    /// Moves up to `max` records out of the buffer. The first call starts
    /// the fetcher.
    fn drain(&mut self, max: usize) -> Result<Vec<ConsumerRecord>, ConsumerError> {
        let (error, started) = {
            let mut state = self.shared.lock();
            (state.sticky_error(), state.activate())
        };
        if started {
            self.shared.fetcher_wake.notify_one();
        }
        if let Some(error) = error {
            return Err(error);
        }
        let mut out = Vec::new();
        while out.len() < max {
            let fetch = match self.current.take() {
                Some(fetch) => Some(fetch),
                None => self.shared.lock().take_completed(),
            };
            let Some(mut fetch) = fetch else {
                break;
            };
            let start = self.shared.lock().position_for(&fetch);
            let Some(mut position) = start else {
                self.release(fetch.charged);
                continue;
            };
            let drained = fetch.drain(&mut position, max, &mut out);
            let mut state = self.shared.lock();
            state.set_position(&fetch.tp, fetch.epoch, position);
            match drained {
                Drain::Full => {
                    drop(state);
                    self.current = Some(fetch);
                    break;
                }
                Drain::Exhausted => {
                    state.release(fetch.charged);
                    drop(state);
                    self.shared.fetcher_wake.notify_one();
                }
                Drain::Failed(error) => {
                    state.release(fetch.charged);
                    state.set_error(&fetch.tp, fetch.epoch, error.clone());
                    drop(state);
                    self.shared.fetcher_wake.notify_one();
                    if out.is_empty() {
                        return Err(error);
                    }
                    break;
                }
            }
        }
        Ok(out)
    }

    fn release(&self, bytes: usize) {
        self.shared.lock().release(bytes);
        self.shared.fetcher_wake.notify_one();
    }

    /// Drops the fetch being handed out if its partition was sought,
    /// reset or unassigned since.
    fn drop_current_if_stale(&mut self) {
        let stale = self
            .current
            .as_ref()
            .is_some_and(|f| self.shared.lock().position_for(f).is_none());
        if stale && let Some(fetch) = self.current.take() {
            self.release(fetch.charged);
        }
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A client error about `topic`, with a missing topic or partition turned
/// into the consumer's own errors.
fn topic_error(topic: &str, error: ClientError) -> ConsumerError {
    match error {
        ClientError::Broker(e) if e.code == ErrorCode::UnknownTopicOrPartition => {
            ConsumerError::UnknownTopic {
                topic: topic.to_owned(),
            }
        }
        ClientError::UnknownPartition {
            topic,
            partition,
            partitions,
        } => ConsumerError::UnknownPartition {
            topic,
            partition,
            partitions,
        },
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bytes::Bytes;
    use futures_util::StreamExt;
    use runnel_client::testing::{FakeBroker, Reply, metadata_for};
    use runnel_protocol::NodeId;
    use runnel_protocol::api::fetch::{
        FetchPartitionResponse, FetchRequest, FetchResponse, FetchTopicResponse,
    };
    use runnel_protocol::api::find_coordinator::{Coordinator, FindCoordinatorResponse};
    use runnel_protocol::api::list_offsets::{
        ListOffsetsPartitionResponse, ListOffsetsRequest, ListOffsetsResponse,
        ListOffsetsTopicResponse,
    };
    use runnel_protocol::api::metadata::TopicMetadata;
    use runnel_protocol::api::offset_fetch::{
        OffsetFetchPartitionResponse, OffsetFetchResponse, OffsetFetchTopicResponse,
    };
    use runnel_protocol::record::{BatchBuilder, BatchOptions, NewRecord, set_base_offset};
    use runnel_protocol::{Request, Response};

    /// What the fake log holds and how it answers.
    #[derive(Debug, Clone)]
    struct FakeLog {
        /// Partition count of topic "t".
        partitions: u32,
        /// First offset held in every partition.
        log_start: i64,
        /// Offset after the last record in every partition.
        end: i64,
        /// Most records one fetch returns per partition.
        per_fetch: i64,
        /// Partitions that answer CORRUPT_DATA.
        corrupt: Vec<u32>,
        /// The offset the group has committed in every partition.
        committed: Option<i64>,
    }

    /// Counters the tests look at.
    #[derive(Debug, Default)]
    struct Seen {
        /// Fetch requests received.
        fetches: AtomicUsize,
        /// Partition counts of each fetch request.
        fetch_sizes: Mutex<Vec<usize>>,
        /// ListOffsets requests received.
        list_offsets: AtomicUsize,
    }

    fn batch(partition: u32, base: i64, count: i64) -> Bytes {
        let mut b = BatchBuilder::new(BatchOptions::default()).unwrap();
        for offset in base..base + count {
            b.append(&NewRecord {
                timestamp: 1_000 + offset,
                key: Some(Bytes::from(format!("k{partition}"))),
                value: Some(Bytes::from(format!("p{partition}-{offset}"))),
                headers: Vec::new(),
            })
            .unwrap();
        }
        let mut bytes = b.build().unwrap().to_vec();
        set_base_offset(&mut bytes, base);
        Bytes::from(bytes)
    }

    fn fetch(log: &FakeLog, request: &FetchRequest) -> Reply {
        let mut any = false;
        let topics = request
            .topics
            .iter()
            .map(|t| FetchTopicResponse {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| {
                        let mut r = FetchPartitionResponse {
                            partition: p.partition,
                            high_watermark: log.end,
                            log_start_offset: log.log_start,
                            log_end_offset: log.end,
                            ..FetchPartitionResponse::default()
                        };
                        if log.corrupt.contains(&p.partition.0) {
                            r.error_code = ErrorCode::CorruptData;
                            any = true;
                        } else if p.fetch_offset < log.log_start || p.fetch_offset > log.end {
                            r.error_code = ErrorCode::OffsetOutOfRange;
                            any = true;
                        } else if p.fetch_offset < log.end {
                            let count = (log.end - p.fetch_offset).min(log.per_fetch);
                            r.records = batch(p.partition.0, p.fetch_offset, count);
                            any = true;
                        }
                        r
                    })
                    .collect(),
            })
            .collect();
        if any || request.min_bytes == 0 {
            Reply::Respond(Response::Fetch(FetchResponse {
                topics,
                ..FetchResponse::default()
            }))
        } else {
            // A long poll that outlasts the test.
            Reply::Nothing
        }
    }

    fn list_offsets(log: &FakeLog, request: &ListOffsetsRequest) -> Reply {
        let topics = request
            .topics
            .iter()
            .map(|t| ListOffsetsTopicResponse {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| ListOffsetsPartitionResponse {
                        partition: p.partition,
                        error_code: ErrorCode::None,
                        error_message: None,
                        timestamp: -1,
                        offset: match p.spec {
                            OffsetSpec::Earliest => log.log_start,
                            OffsetSpec::Latest => log.end,
                            OffsetSpec::Timestamp(ts) if ts - 1_000 < log.end => {
                                (ts - 1_000).max(log.log_start)
                            }
                            OffsetSpec::Timestamp(_) => -1,
                        },
                    })
                    .collect(),
            })
            .collect();
        Reply::Respond(Response::ListOffsets(ListOffsetsResponse { topics }))
    }

    async fn serve(log: FakeLog) -> (FakeBroker, Arc<Seen>) {
        let seen = Arc::new(Seen::default());
        let counters = Arc::clone(&seen);
        let broker = FakeBroker::start(move |ctx, request| match request {
            Request::Metadata(m) => {
                let mut response = metadata_for(ctx.local_addr, &[("t", log.partitions)]);
                if let Response::Metadata(r) = &mut response {
                    for name in m.topics.unwrap_or_default() {
                        if name != "t" {
                            r.topics.push(TopicMetadata {
                                name,
                                error_code: ErrorCode::UnknownTopicOrPartition,
                                ..TopicMetadata::default()
                            });
                        }
                    }
                }
                Reply::Respond(response)
            }
            Request::ListOffsets(r) => {
                counters.list_offsets.fetch_add(1, Ordering::SeqCst);
                list_offsets(&log, &r)
            }
            Request::FindCoordinator(r) => {
                Reply::Respond(Response::FindCoordinator(FindCoordinatorResponse {
                    coordinators: r
                        .keys
                        .into_iter()
                        .map(|key| Coordinator {
                            key,
                            node_id: NodeId::new(0),
                            host: ctx.local_addr.ip().to_string(),
                            port: ctx.local_addr.port(),
                            ..Coordinator::default()
                        })
                        .collect(),
                }))
            }
            Request::OffsetFetch(r) => Reply::Respond(Response::OffsetFetch(OffsetFetchResponse {
                topics: r
                    .topics
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| OffsetFetchTopicResponse {
                        name: t.name,
                        partitions: t
                            .partitions
                            .into_iter()
                            .map(|partition| OffsetFetchPartitionResponse {
                                partition,
                                committed_offset: log.committed.unwrap_or(-1),
                                ..OffsetFetchPartitionResponse::default()
                            })
                            .collect(),
                    })
                    .collect(),
                ..OffsetFetchResponse::default()
            })),
            // Heartbeats go unanswered: membership is tested end to end.
            Request::ConsumerGroupHeartbeat(_) => Reply::Nothing,
            Request::Fetch(r) => {
                counters.fetches.fetch_add(1, Ordering::SeqCst);
                let size = r.topics.iter().map(|t| t.partitions.len()).sum();
                counters.fetch_sizes.lock().unwrap().push(size);
                fetch(&log, &r)
            }
            _ => Reply::Close,
        })
        .await;
        (broker, seen)
    }

    fn log() -> FakeLog {
        FakeLog {
            partitions: 3,
            log_start: 0,
            end: 5,
            per_fetch: 2,
            corrupt: Vec::new(),
            committed: None,
        }
    }

    async fn consumer(broker: &FakeBroker, settings: &[(&str, &str)]) -> Consumer {
        Consumer::builder()
            .bootstrap(broker.addr())
            .set("retry.backoff.ms", "1")
            .unwrap()
            .set_all(settings.iter().copied())
            .unwrap()
            .build()
            .await
            .unwrap()
    }

    /// Polls until `n` records have arrived.
    async fn read(consumer: &mut Consumer, n: usize) -> Vec<ConsumerRecord> {
        let mut out = Vec::new();
        while out.len() < n {
            out.extend(consumer.poll(Duration::from_secs(10)).await.unwrap());
        }
        out
    }

    fn value(record: &ConsumerRecord) -> String {
        String::from_utf8_lossy(record.value.as_deref().unwrap_or_default()).into_owned()
    }

    #[tokio::test]
    async fn reads_every_partition_in_offset_order_with_one_request_per_round() {
        let (broker, seen) = serve(log()).await;
        let mut c = consumer(&broker, &[("auto.offset.reset", "earliest")]).await;
        assert_eq!(c.assign_all("t").await.unwrap(), vec![0, 1, 2]);
        let records = read(&mut c, 15).await;
        for p in 0..3u32 {
            let got: Vec<String> = records
                .iter()
                .filter(|r| r.partition == p)
                .map(value)
                .collect();
            let want: Vec<String> = (0..5).map(|o| format!("p{p}-{o}")).collect();
            assert_eq!(got, want);
            assert_eq!(c.position("t", p), Some(5));
            assert_eq!(c.high_watermark("t", p), Some(5));
        }
        assert_eq!(&*records[0].topic, "t");
        assert_eq!(records[0].timestamp, 1_000 + records[0].offset);
        let sizes = seen.fetch_sizes.lock().unwrap().clone();
        assert_eq!(
            sizes[0], 3,
            "the first fetch covers every partition: {sizes:?}"
        );
        c.close().await;
    }

    #[tokio::test]
    async fn starts_at_the_end_by_default_and_seeks_anywhere() {
        let (broker, seen) = serve(log()).await;
        // The fake answers at once (no long poll), so a seek is not held
        // up behind a fetch in flight.
        let mut c = consumer(
            &broker,
            &[("fetch.min.bytes", "0"), ("fetch.max.wait.ms", "5")],
        )
        .await;
        c.assign("t", &[1]).await.unwrap();
        assert_eq!(c.position("t", 1), Some(5), "latest");
        c.seek("t", 1, SeekTo::Offset(3)).await.unwrap();
        assert_eq!(c.position("t", 1), Some(3));
        let records = read(&mut c, 2).await;
        assert_eq!(
            records.iter().map(value).collect::<Vec<_>>(),
            ["p1-3", "p1-4"]
        );
        c.seek("t", 1, SeekTo::Earliest).await.unwrap();
        assert_eq!(value(&read(&mut c, 1).await[0]), "p1-0");
        c.seek("t", 1, SeekTo::Timestamp(1_002)).await.unwrap();
        assert_eq!(c.position("t", 1), Some(2));
        c.seek("t", 1, SeekTo::Timestamp(9_999)).await.unwrap();
        assert_eq!(c.position("t", 1), Some(5), "past every record: latest");
        assert!(seen.list_offsets.load(Ordering::SeqCst) >= 4);
        assert!(matches!(
            c.seek("t", 0, SeekTo::Offset(0)).await,
            Err(ConsumerError::NotAssigned { partition: 0, .. })
        ));
    }

    #[tokio::test]
    async fn an_out_of_range_position_resets_per_policy() {
        let (broker, _) = serve(FakeLog {
            log_start: 3,
            ..log()
        })
        .await;
        let mut c = consumer(&broker, &[("auto.offset.reset", "earliest")]).await;
        c.assign("t", &[0]).await.unwrap();
        c.seek("t", 0, SeekTo::Offset(1)).await.unwrap();
        let records = read(&mut c, 2).await;
        assert_eq!(
            records.iter().map(value).collect::<Vec<_>>(),
            ["p0-3", "p0-4"]
        );
    }

    #[tokio::test]
    async fn an_out_of_range_position_without_a_policy_is_a_sticky_error() {
        let (broker, _) = serve(FakeLog {
            log_start: 3,
            ..log()
        })
        .await;
        let mut c = consumer(&broker, &[("auto.offset.reset", "none")]).await;
        c.assign("t", &[0]).await.unwrap();
        assert_eq!(c.position("t", 0), None);
        let err = c.poll(Duration::from_secs(10)).await.unwrap_err();
        assert!(
            matches!(err, ConsumerError::NoPosition { partition: 0, .. }),
            "{err}"
        );
        c.seek("t", 0, SeekTo::Offset(1)).await.unwrap();
        for _ in 0..2 {
            let err = c.poll(Duration::from_secs(10)).await.unwrap_err();
            assert!(
                matches!(
                    err,
                    ConsumerError::OffsetOutOfRange {
                        offset: 1,
                        log_start_offset: 3,
                        ..
                    }
                ),
                "{err}"
            );
        }
        c.seek("t", 0, SeekTo::Earliest).await.unwrap();
        assert_eq!(value(&read(&mut c, 1).await[0]), "p0-3");
    }

    #[tokio::test]
    async fn corrupt_data_names_the_partition_and_offset() {
        let (broker, _) = serve(FakeLog {
            corrupt: vec![2],
            ..log()
        })
        .await;
        let mut c = consumer(&broker, &[("auto.offset.reset", "earliest")]).await;
        c.assign("t", &[2]).await.unwrap();
        let err = c.poll(Duration::from_secs(10)).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("topic \"t\" partition 2: corrupt data at offset 0: CORRUPT_DATA"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn unknown_topics_and_partitions_are_named() {
        let (broker, _) = serve(log()).await;
        let mut c = consumer(&broker, &[]).await;
        let err = c.assign("nope", &[0]).await.unwrap_err();
        assert_eq!(err.to_string(), "topic \"nope\" does not exist");
        let err = c.assign("t", &[7]).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "topic \"t\" has 3 partitions; partition 7 does not exist"
        );
        assert!(c.assignment().is_empty());
    }

    #[tokio::test]
    async fn the_stream_advances_the_position_one_record_at_a_time() {
        let (broker, _) = serve(log()).await;
        let mut c = consumer(&broker, &[("auto.offset.reset", "earliest")]).await;
        c.assign("t", &[0]).await.unwrap();
        let taken: Vec<ConsumerRecord> = c.stream().take(3).map(Result::unwrap).collect().await;
        assert_eq!(
            taken.iter().map(value).collect::<Vec<_>>(),
            ["p0-0", "p0-1", "p0-2"]
        );
        assert_eq!(
            c.position("t", 0),
            Some(3),
            "nothing was lost with the stream"
        );
        assert_eq!(value(&c.recv().await.unwrap()), "p0-3");
    }

    #[tokio::test]
    async fn max_poll_records_bounds_a_poll() {
        let (broker, _) = serve(FakeLog {
            per_fetch: 5,
            ..log()
        })
        .await;
        let mut c = consumer(
            &broker,
            &[("auto.offset.reset", "earliest"), ("max.poll.records", "2")],
        )
        .await;
        c.assign("t", &[0]).await.unwrap();
        let first = c.poll(Duration::from_secs(10)).await.unwrap();
        assert_eq!(first.len(), 2);
        assert_eq!(c.position("t", 0), Some(2));
    }

    #[tokio::test]
    async fn an_idle_poll_returns_empty_after_the_timeout() {
        let (broker, _) = serve(log()).await;
        let mut c = consumer(&broker, &[]).await;
        c.assign("t", &[0]).await.unwrap();
        assert!(c.poll(Duration::from_millis(20)).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_unreachable_broker_fails_the_build() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let err = Consumer::builder()
            .bootstrap(&addr)
            .build()
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("cannot reach broker at {addr}: connection refused")
        );
    }

    #[tokio::test]
    async fn group_calls_need_a_group_id() {
        let (broker, _) = serve(log()).await;
        let mut c = consumer(&broker, &[]).await;
        let err = c.subscribe(&["t"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "subscribe needs a consumer group: set group.id"
        );
        assert!(matches!(c.commit().await, Err(ConsumerError::Usage(_))));
        assert!(c.commit_async().is_err());
    }

    #[tokio::test]
    async fn with_a_group_id_assigned_partitions_start_at_committed_offsets() {
        let (broker, _) = serve(FakeLog {
            committed: Some(3),
            ..log()
        })
        .await;
        let mut c = consumer(&broker, &[("group.id", "g")]).await;
        c.assign("t", &[0, 1]).await.unwrap();
        assert_eq!(c.position("t", 0), Some(3));
        assert_eq!(c.position("t", 1), Some(3));
        assert_eq!(
            value(&read(&mut c, 1).await[0]).split('-').nth(1),
            Some("3")
        );
    }

    #[tokio::test]
    async fn a_group_member_cannot_assign_and_an_assigner_cannot_subscribe() {
        let (broker, _) = serve(log()).await;
        let mut c = consumer(&broker, &[("group.id", "g")]).await;
        c.assign("t", &[0]).await.unwrap();
        assert!(matches!(c.subscribe(&["t"]), Err(ConsumerError::Usage(_))));
        c.unassign("t");
        c.subscribe(&["t"]).unwrap();
        let err = c.assign("t", &[0]).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "assign cannot be used while subscribed to a group: the group assigns partitions"
        );
    }

    #[tokio::test]
    async fn a_closed_consumer_refuses_calls() {
        let (broker, _) = serve(log()).await;
        let mut c = consumer(&broker, &[]).await;
        c.shutdown.cancel();
        assert!(matches!(
            c.poll(Duration::from_secs(1)).await,
            Err(ConsumerError::Closed)
        ));
        assert!(matches!(
            c.assign("t", &[0]).await,
            Err(ConsumerError::Closed)
        ));
    }
}
