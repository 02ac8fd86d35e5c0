//! [`Consumer`]: reads assigned partitions, prefetching in the background;
//! [`ConsumerBuilder`] sets it up.

use std::collections::{BTreeMap, HashMap};
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
use crate::membership::Membership;
use crate::record::{ConsumerRecord, TopicPartition};
use crate::seek::SeekTo;
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
        let shared = Arc::new(Shared::new(Limits::from_config(&config)));
        let shutdown = CancellationToken::new();
        let fetcher = tokio::spawn(fetcher::run(
            Arc::clone(&shared),
            fetch_client,
            shutdown.clone(),
        ));
        Ok(Consumer {
            config,
            client,
            shared,
            current: None,
            membership: Membership::Manual,
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
    /// Stops the fetcher; cancelled by `close` or on drop.
    shutdown: CancellationToken,
    /// The fetcher task, awaited by `close`.
    fetcher: Option<JoinHandle<()>>,
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
        let new: Vec<u32> = {
            let state = self.shared.lock();
            wanted
                .iter()
                .copied()
                .filter(|&p| !state.is_assigned(&TopicPartition::new(Arc::clone(&name), p)))
                .collect()
        };
        let mut starts = self.membership.committed_offsets(topic, &new);
        let unstarted: Vec<u32> = new
            .iter()
            .copied()
            .filter(|p| !starts.contains_key(p))
            .collect();
        let by_policy = match self.config.auto_offset_reset {
            AutoOffsetReset::Earliest => Some(SeekTo::Earliest),
            AutoOffsetReset::Latest => Some(SeekTo::Latest),
            AutoOffsetReset::None => None,
        };
        if let Some(to) = by_policy
            && !unstarted.is_empty()
        {
            starts.extend(self.resolve(topic, &unstarted, to).await?);
        }
        let assignment: Vec<(u32, Option<i64>)> = wanted
            .iter()
            .map(|p| (*p, starts.get(p).copied()))
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
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>, ConsumerError> {
        let deadline = Instant::now() + timeout;
        loop {
            self.ensure_open()?;
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

    /// Stops the fetcher and closes the connections. Buffered data is
    /// dropped.
    pub async fn close(mut self) {
        self.shutdown.cancel();
        if let Some(fetcher) = self.fetcher.take()
            && let Err(error) = fetcher.await
        {
            tracing::error!(%error, "consumer fetcher task failed");
        }
        self.client.close();
    }

    // ---- internals ----

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
    use runnel_protocol::api::fetch::{
        FetchPartitionResponse, FetchRequest, FetchResponse, FetchTopicResponse,
    };
    use runnel_protocol::api::list_offsets::{
        ListOffsetsPartitionResponse, ListOffsetsRequest, ListOffsetsResponse,
        ListOffsetsTopicResponse,
    };
    use runnel_protocol::api::metadata::TopicMetadata;
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
