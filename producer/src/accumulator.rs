//! [`Accumulator`]: per-partition batches between `send` and the sender
//! tasks.
//!
//! Each partition has at most one *open* batch, filled in place by
//! `BatchBuilder` (records are encoded straight into the batch buffer), and
//! a queue of *ready* batches in creation order. A batch becomes ready when
//! the next record does not fit in `batch.size`, when it has lingered
//! `linger.ms`, or when a flush or close is under way. Sender tasks drain at
//! most one ready batch per partition per request; a batch that fails with a
//! retriable error goes back into the queue in creation order, so retries
//! keep the partition's order.
//!
//! Memory: every batch holds a reservation of `max(batch.size, record)` bytes
//! from the `buffer.memory` pool, taken when the batch is created and given
//! back when its outcome is known. `send` waits (up to `max.block.ms`) when
//! the pool is empty, which bounds the producer's memory.
//!
//! Idempotence: a batch gets its `base_sequence` when it is first drained
//! (Kafka's rule: batches that expire unsent use no numbers), and keeps it
//! across retries. A batch the broker refused for good leaves a gap unless
//! it was the partition's last numbered batch (then the numbers are taken
//! back); with a gap, or an `OUT_OF_ORDER_SEQUENCE_NUMBER` not explained by
//! an earlier retry, the partition is fenced: its batches fail and further
//! records to it are refused.
//!
//! Growth and splitting: while a partition's batches wait for a request
//! slot, its open batch grows past `batch.size` (up to `batch.max.bytes`).
//! The topic's `max.message.bytes` is not known here; if the broker refuses
//! a grown batch as too large, it is split into pieces of at most
//! `batch.size` that take its place in the queue (and its sequence numbers,
//! in order), its records' futures follow the pieces, and batches of that
//! topic stop growing (Kafka's producer splits the same way, KIP-126).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
// Looked up for every record: a fast hash over the topic name.
use foldhash::{HashMap, HashSet};
use runnel_client::TopicInfo;
use runnel_protocol::NodeId;
use runnel_protocol::record::{
    BATCH_HEADER_LEN, BatchBuilder, BatchOptions, Compression, NewRecord, RecordBatch,
};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::delivery::{BatchAck, BatchCompletion, DeliveryFuture, Piece};
use crate::error::ProducerError;
use crate::partitioner::StickyPartitions;

/// A topic and partition.
#[derive(Debug, Clone, Eq)]
pub(crate) struct TopicPartition {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: u32,
}

impl PartialEq for TopicPartition {
    /// Records of a topic usually share one name allocation: compare the
    /// pointers before the bytes.
    fn eq(&self, other: &Self) -> bool {
        self.partition == other.partition
            && (Arc::ptr_eq(&self.topic, &other.topic) || self.topic == other.topic)
    }
}

impl std::hash::Hash for TopicPartition {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.topic.hash(state);
        self.partition.hash(state);
    }
}

/// Settings the accumulator works by.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// `linger.ms`.
    pub linger: Duration,
    /// `batch.size`.
    pub batch_size: usize,
    /// `batch.max.bytes`: how far a batch grows while its partition is
    /// backed up.
    pub batch_max_bytes: usize,
    /// `compression.type`.
    pub compression: Compression,
    /// `delivery.timeout.ms`.
    pub delivery_timeout: Duration,
    /// `max.request.size`.
    pub max_request_size: usize,
    /// `retries`.
    pub retries: u32,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
}

/// A batch's place in creation order across the producer; orders retries.
/// The pieces of a split batch keep its `number` and take its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct BatchId {
    /// Creation order.
    pub number: u64,
    /// 0, or the piece's place (from 1) in the batch it was split from.
    pub piece: u32,
}

/// One batch of one partition.
#[derive(Debug)]
pub(crate) struct Batch {
    /// Orders retries.
    pub id: BatchId,
    /// Where it goes.
    pub tp: TopicPartition,
    /// The records, until the batch is built for its first send.
    pub builder: Option<BatchBuilder>,
    /// The finished batch bytes, kept for retries.
    pub built: Option<Bytes>,
    /// Records in the batch.
    pub record_count: i32,
    /// When it was created; linger counts from here.
    pub created: Instant,
    /// When it fails with a delivery timeout.
    pub deadline: Instant,
    /// Shared with the records' futures.
    pub completion: Arc<BatchCompletion>,
    /// Bytes of `buffer.memory` it holds.
    pub reserved: usize,
    /// Sends that failed so far.
    pub attempts: u32,
    /// Not to be resent before this instant.
    pub retry_at: Option<Instant>,
    /// Its first sequence number, once assigned.
    pub base_sequence: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<ProducerError>,
}

impl Batch {
    /// Bytes it will take in a request.
    pub fn size(&self) -> usize {
        self.built.as_ref().map_or_else(
            || {
                self.builder
                    .as_ref()
                    .map_or(0, BatchBuilder::estimated_size)
            },
            Bytes::len,
        )
    }
}

/// The batches of one partition.
#[derive(Debug, Default)]
struct PartitionQueue {
    /// The broker leading the partition; its sender sends the batches.
    leader: Option<NodeId>,
    /// The batch being filled.
    open: Option<Batch>,
    /// Batches waiting to be sent, in creation (`id`) order.
    ready: VecDeque<Batch>,
    /// Batches sent and awaiting an answer.
    in_flight: usize,
    /// The next sequence number to assign.
    next_sequence: i32,
    /// Set once the partition is fenced; every later record fails with it.
    fenced: Option<ProducerError>,
    /// Batches queued again after a failed send (retries, split pieces)
    /// whose outcome is not known yet; explains an out-of-order answer to a
    /// later batch.
    resent: BTreeSet<BatchId>,
    /// Whether a keyless record created a batch here while it was the
    /// topic's sticky partition.
    sticky_used: bool,
}

/// What [`Accumulator::append`] did.
#[derive(Debug)]
pub(crate) enum Append {
    /// The record is in a batch; wake the sender of `notify` if set.
    Done {
        /// The record's future.
        future: DeliveryFuture,
        /// The leader whose sender should look at the partition now.
        notify: Option<NodeId>,
        /// Reserved bytes the call brought but did not need.
        unused: usize,
    },
    /// A new batch is needed and the pool has not `needed` bytes free: wait
    /// for them outside the lock and call again with them.
    NeedMemory {
        /// The record, handed back.
        record: NewRecord,
        /// Bytes to reserve.
        needed: usize,
    },
}

/// Batches drained for one request.
#[derive(Debug, Default)]
pub(crate) struct Drained {
    /// At most one per partition, in no particular order.
    pub batches: Vec<Batch>,
    /// When the next batch for this sender may become ready, if known.
    pub next_wake: Option<Instant>,
}

/// All partitions' batches; guarded by the producer's mutex.
#[derive(Debug)]
pub(crate) struct Accumulator {
    /// Settings.
    settings: Settings,
    /// The `buffer.memory` pool, in bytes.
    pool: Arc<Semaphore>,
    /// Per partition.
    partitions: HashMap<TopicPartition, PartitionQueue>,
    /// Keyless records' partitions.
    sticky: StickyPartitions,
    /// Every batch without an outcome yet, by id; flush waits on these.
    incomplete: BTreeMap<BatchId, Arc<BatchCompletion>>,
    /// The next batch id.
    next_id: u64,
    /// Flushes under way; while above 0, batches are ready at once.
    flushing: usize,
    /// Set by close: no new records; batches are ready at once.
    closing: bool,
    /// Producer id and epoch when idempotent.
    producer: Option<(i64, i16)>,
    /// Topics whose batches no longer grow: the broker refused a grown one.
    no_growth: HashSet<Arc<str>>,
}

/// Makes sure a batch holding `reserved` bytes of `buffer.memory` has
/// enough for `estimated` bytes plus a record of `size`, taking more (a
/// `batch_size` at a time) without waiting when it grows past its
/// reservation. `false` when the pool has none to spare: the batch is then
/// sent as it is.
fn grow_reservation(
    pool: &Semaphore,
    reserved: &mut usize,
    estimated: usize,
    size: usize,
    batch_size: usize,
) -> bool {
    let needed = estimated.saturating_add(size);
    if needed <= *reserved {
        return true;
    }
    let more = (needed - *reserved).max(batch_size);
    let Ok(permit) = pool.try_acquire_many(u32::try_from(more).unwrap_or(u32::MAX)) else {
        return false;
    };
    permit.forget();
    *reserved += more;
    true
}

fn min_instant(a: Option<Instant>, b: Instant) -> Instant {
    a.map_or(b, |a| a.min(b))
}

impl Accumulator {
    pub fn new(settings: Settings, pool: Arc<Semaphore>) -> Self {
        Accumulator {
            settings,
            pool,
            partitions: HashMap::default(),
            sticky: StickyPartitions::default(),
            incomplete: BTreeMap::new(),
            next_id: 0,
            flushing: 0,
            closing: false,
            producer: None,
            no_growth: HashSet::default(),
        }
    }

    /// Sets the idempotent producer id and epoch.
    pub fn set_producer(&mut self, producer: Option<(i64, i16)>) {
        self.producer = producer;
    }

    /// Whether batches carry producer ids and sequence numbers.
    pub fn is_idempotent(&self) -> bool {
        self.producer.is_some()
    }

    /// Bytes a new batch for a record of `size` bytes reserves.
    pub fn batch_reservation(&self, size: usize) -> usize {
        self.settings
            .batch_size
            .max(size.saturating_add(BATCH_HEADER_LEN))
    }

    /// Adds `record` to its partition's open batch, creating a batch (with
    /// memory from the pool, or from `reserved`) when needed. `partition` is
    /// `None` for a keyless record without an explicit partition (the
    /// sticky partition is used).
    #[allow(
        clippy::too_many_arguments,
        reason = "one call per record; a struct would be built per record"
    )]
    pub fn append(
        &mut self,
        topic: &Arc<str>,
        partition: Option<u32>,
        info: &TopicInfo,
        record: NewRecord,
        size: usize,
        reserved: usize,
        now: Instant,
    ) -> Result<Append, (ProducerError, usize)> {
        if self.closing {
            return Err((ProducerError::Closed, reserved));
        }
        let count = u32::try_from(info.partition_count()).unwrap_or(u32::MAX);
        let partition = match partition {
            Some(p) => p,
            None => self.sticky_partition(topic, count, &record),
        };
        let tp = TopicPartition {
            topic: Arc::clone(topic),
            partition,
        };
        let leader = info
            .partition(runnel_protocol::PartitionId(partition))
            .and_then(|p| p.leader);
        let batch_size = self.settings.batch_size;
        let queue = self.partitions.entry(tp.clone()).or_default();
        queue.leader = leader.or(queue.leader);
        if let Some(error) = &queue.fenced {
            return Err((error.clone(), reserved));
        }
        if queue.leader.is_none() {
            // No sender could take the batch; the caller refreshes metadata.
            let error = runnel_client::BrokerError::new(
                runnel_protocol::ErrorCode::LeaderNotAvailable,
                None,
            )
            .about(format!("topic {topic:?} partition {partition}"));
            return Err((error.into(), reserved));
        }
        // While batches of this partition wait to be sent (every request
        // slot is taken), the open batch keeps growing: the next request
        // then carries all that gathered meanwhile, in one batch.
        // (The set is empty unless a topic refused a grown batch, so the
        // common case looks nothing up.)
        let backed_up = !queue.ready.is_empty()
            && (self.no_growth.is_empty() || !self.no_growth.contains(topic));
        let limit = if backed_up {
            // A batch never outgrows a request either.
            self.settings
                .batch_max_bytes
                .min(self.settings.max_request_size)
                .max(batch_size)
        } else {
            batch_size
        };
        if let Some(open) = &mut queue.open {
            let builder = open.builder.as_mut();
            if let Some(builder) = builder
                && builder.has_room_for(&record, limit)
                && (!backed_up
                    || grow_reservation(
                        &self.pool,
                        &mut open.reserved,
                        builder.estimated_size(),
                        size,
                        batch_size,
                    ))
            {
                let delta = builder.append(&record).map_err(|e| (e.into(), reserved))?;
                open.record_count += 1;
                let future =
                    DeliveryFuture::new(Arc::clone(&open.completion), delta, record.timestamp);
                let mut notify = None;
                if builder.estimated_size() >= limit {
                    queue.ready.extend(queue.open.take());
                    notify = queue.leader;
                }
                return Ok(Append::Done {
                    future,
                    notify,
                    unused: reserved,
                });
            }
            // Full: it goes out as it is (its sender is woken below, or by
            // the wait for memory).
            queue.ready.extend(queue.open.take());
        }
        let needed = self.batch_reservation(size);
        let have = if reserved >= needed {
            reserved
        } else if let Ok(permit) = self
            .pool
            .try_acquire_many(u32::try_from(needed).unwrap_or(u32::MAX))
        {
            permit.forget();
            needed + reserved
        } else {
            if reserved > 0 {
                self.pool.add_permits(reserved);
            }
            return Ok(Append::NeedMemory { record, needed });
        };
        let (batch, future) = self
            .new_batch(tp, &record, needed, now)
            .map_err(|e| (e.into(), have))?;
        let full = batch.size() >= batch_size;
        let queue = self.partitions.entry(batch.tp.clone()).or_default();
        if full {
            queue.ready.push_back(batch);
        } else {
            queue.open = Some(batch);
        }
        queue.sticky_used = true;
        Ok(Append::Done {
            future,
            notify: queue.leader,
            unused: have - needed,
        })
    }

    /// A new batch for `tp` holding `record`, reserving `reserved` bytes.
    fn new_batch(
        &mut self,
        tp: TopicPartition,
        record: &NewRecord,
        reserved: usize,
        now: Instant,
    ) -> Result<(Batch, DeliveryFuture), runnel_protocol::record::BuildError> {
        let options = BatchOptions {
            compression: self.settings.compression,
            ..BatchOptions::default()
        };
        let mut builder = BatchBuilder::with_capacity(options, reserved)?;
        let delta = builder.append(record)?;
        let id = BatchId {
            number: self.next_id,
            piece: 0,
        };
        self.next_id += 1;
        let completion = BatchCompletion::new(Arc::clone(&tp.topic), tp.partition);
        self.incomplete.insert(id, Arc::clone(&completion));
        let future = DeliveryFuture::new(Arc::clone(&completion), delta, record.timestamp);
        let batch = Batch {
            id,
            tp,
            builder: Some(builder),
            built: None,
            record_count: 1,
            created: now,
            deadline: now + self.settings.delivery_timeout,
            completion,
            reserved,
            attempts: 0,
            retry_at: None,
            base_sequence: None,
            last_error: None,
        };
        Ok((batch, future))
    }

    /// The topic's sticky partition; moves on when the current one's batch
    /// was filled or sent since it became sticky.
    fn sticky_partition(&mut self, topic: &Arc<str>, count: u32, record: &NewRecord) -> u32 {
        let current = self.sticky.current(topic, count);
        let tp = TopicPartition {
            topic: Arc::clone(topic),
            partition: current,
        };
        let batch_size = self.settings.batch_size;
        let Some(queue) = self.partitions.get_mut(&tp) else {
            return current;
        };
        let has_room = queue.open.as_ref().is_some_and(|open| {
            open.builder
                .as_ref()
                .is_some_and(|b| b.has_room_for(record, batch_size))
        });
        if has_room || !queue.sticky_used {
            return current;
        }
        queue.sticky_used = false;
        let next = self.sticky.next(topic, count, current);
        if let Some(queue) = self.partitions.get_mut(&TopicPartition {
            topic: Arc::clone(topic),
            partition: next,
        }) {
            queue.sticky_used = false;
        }
        next
    }

    /// Takes up to one sendable batch per partition led by `node`, up to
    /// `max.request.size` in total; fails batches past their delivery
    /// timeout. Assigns sequence numbers to batches sent for the first time.
    pub fn drain(&mut self, node: NodeId, now: Instant) -> Drained {
        let linger = self.settings.linger;
        let hurry = self.flushing > 0 || self.closing;
        let max = self.settings.max_request_size;
        let producer = self.producer;
        let mut drained = Drained::default();
        let mut size = 0usize;
        let mut expired = Vec::new();
        for queue in self.partitions.values_mut() {
            if queue.leader != Some(node) || queue.fenced.is_some() {
                continue;
            }
            if let Some(open) = &queue.open {
                let due = open.created + linger;
                if hurry || now >= due {
                    queue.ready.extend(queue.open.take());
                } else {
                    drained.next_wake = Some(min_instant(drained.next_wake, due));
                }
            }
            while queue.ready.front().is_some_and(|b| now >= b.deadline) {
                expired.extend(queue.ready.pop_front());
            }
            let Some(front) = queue.ready.front() else {
                continue;
            };
            if let Some(at) = front.retry_at
                && at > now
            {
                drained.next_wake = Some(min_instant(drained.next_wake, at));
                continue;
            }
            if !drained.batches.is_empty() && size.saturating_add(front.size()) > max {
                drained.next_wake = Some(now);
                continue;
            }
            let Some(mut batch) = queue.ready.pop_front() else {
                continue;
            };
            if let Some((id, epoch)) = producer
                && batch.base_sequence.is_none()
            {
                let sequence = queue.next_sequence;
                queue.next_sequence = wrapping_sequence(sequence, batch.record_count);
                batch.base_sequence = Some(sequence);
                if let Some(builder) = &mut batch.builder {
                    builder.set_producer_state(id, epoch, sequence);
                }
            }
            size = size.saturating_add(batch.size());
            queue.in_flight += 1;
            drained.batches.push(batch);
        }
        for batch in expired {
            let error = self.timeout_error(&batch);
            self.fail_unsent(&batch, error);
        }
        drained
    }

    fn timeout_error(&self, batch: &Batch) -> ProducerError {
        ProducerError::DeliveryTimeout {
            topic: Arc::clone(&batch.tp.topic),
            partition: batch.tp.partition,
            timeout: self.settings.delivery_timeout,
            last_error: batch.last_error.clone().map(Box::new),
        }
    }

    /// Records the outcome of a batch that is not in flight.
    fn finish(&mut self, batch: &Batch, result: Result<BatchAck, ProducerError>) {
        batch.completion.complete(result);
        self.incomplete.remove(&batch.id);
        // Only a batch sent before can be among the resent ones.
        if batch.attempts > 0
            && let Some(queue) = self.partitions.get_mut(&batch.tp)
        {
            queue.resent.remove(&batch.id);
        }
        if batch.reserved > 0 {
            self.pool.add_permits(batch.reserved);
        }
    }

    /// Fails a batch taken from a ready queue (never in flight). A batch
    /// that was sent before has an unknown outcome and a sequence number:
    /// with idempotence, the partition is fenced.
    fn fail_unsent(&mut self, batch: &Batch, error: ProducerError) {
        if batch.base_sequence.is_some() && batch.attempts > 0 {
            self.fence(&batch.tp, &error);
        }
        self.finish(batch, Err(error));
    }

    /// The answer arrived: the batch is written.
    pub fn complete(&mut self, batch: &Batch, ack: BatchAck) {
        if let Some(queue) = self.partitions.get_mut(&batch.tp) {
            queue.in_flight = queue.in_flight.saturating_sub(1);
        }
        self.finish(batch, Ok(ack));
    }

    /// A send failed with a retriable error: queue the batch again (in
    /// creation order) after `retry.backoff.ms`, or fail it if out of
    /// retries or time.
    pub fn retry(&mut self, mut batch: Batch, error: ProducerError, now: Instant) {
        let retry_at = now + self.settings.retry_backoff;
        let queue = self.partitions.entry(batch.tp.clone()).or_default();
        queue.in_flight = queue.in_flight.saturating_sub(1);
        if batch.attempts < self.settings.retries && retry_at < batch.deadline {
            batch.attempts += 1;
            batch.retry_at = Some(retry_at);
            batch.last_error = Some(error);
            queue.resent.insert(batch.id);
            let at = queue.ready.partition_point(|b| b.id < batch.id);
            queue.ready.insert(at, batch);
            return;
        }
        let error = if retry_at >= batch.deadline {
            batch.last_error = Some(error);
            self.timeout_error(&batch)
        } else {
            error
        };
        // Sent, outcome unknown: the sequence may have a hole.
        if batch.base_sequence.is_some() {
            self.fence(&batch.tp, &error);
        }
        self.finish(&batch, Err(error));
    }

    /// The broker refused the batch for good (it was not written).
    pub fn reject(&mut self, batch: &Batch, error: ProducerError) {
        let queue = self.partitions.entry(batch.tp.clone()).or_default();
        queue.in_flight = queue.in_flight.saturating_sub(1);
        if let Some(sequence) = batch.base_sequence {
            // Take the numbers back if nothing after them was numbered.
            if queue.next_sequence == wrapping_sequence(sequence, batch.record_count)
                && queue.in_flight == 0
            {
                queue.next_sequence = sequence;
            } else {
                self.fence(&batch.tp, &error);
            }
        }
        self.finish(batch, Err(error));
    }

    /// Whether a batch refused as too large is split and resent rather than
    /// failed: it grew past `batch.size` and holds more than one record.
    pub fn can_split(&self, batch: &Batch) -> bool {
        batch.record_count > 1 && batch.id.piece == 0 && batch.size() > self.settings.batch_size
    }

    /// The broker refused a grown batch as too large: resends its records
    /// as pieces of at most `batch.size` in its place (with its sequence
    /// numbers, in order) and stops the topic's batches from growing.
    /// Rejects the batch if its records cannot be read back.
    pub fn split(&mut self, batch: &Batch, error: ProducerError) {
        let pieces = match self.pieces(batch) {
            Ok(pieces) => pieces,
            Err(e) => {
                tracing::warn!(topic = %batch.tp.topic, partition = batch.tp.partition, error = %e,
                    "a batch refused as too large could not be split");
                self.reject(batch, error);
                return;
            }
        };
        let topic = Arc::clone(&batch.tp.topic);
        tracing::warn!(%topic, partition = batch.tp.partition, bytes = batch.size(),
            pieces = pieces.len(), %error,
            "broker refused a grown batch; resending it split, and batches of the topic no longer grow");
        self.no_growth.insert(Arc::clone(&topic));
        self.incomplete.remove(&batch.id);
        let mut first = None;
        let mut rest = Vec::new();
        let mut left = batch.reserved;
        let mut queued = Vec::with_capacity(pieces.len());
        let count = pieces.len();
        for (index, (builder, first_delta, record_count)) in pieces.into_iter().enumerate() {
            let id = BatchId {
                number: batch.id.number,
                piece: u32::try_from(index + 1).unwrap_or(u32::MAX),
            };
            // The batch's memory passes to its pieces; the last takes what
            // the others do not need.
            let reserved = if index + 1 == count {
                left
            } else {
                builder.estimated_size().min(left)
            };
            left -= reserved;
            let completion = BatchCompletion::new(Arc::clone(&topic), batch.tp.partition);
            self.incomplete.insert(id, Arc::clone(&completion));
            if first.is_none() {
                first = Some(Arc::clone(&completion));
            } else {
                rest.push(Piece {
                    first_delta,
                    completion: Arc::clone(&completion),
                });
            }
            queued.push(Batch {
                id,
                tp: batch.tp.clone(),
                builder: Some(builder),
                built: None,
                record_count,
                created: batch.created,
                deadline: batch.deadline,
                completion,
                reserved,
                attempts: batch.attempts + 1,
                retry_at: None,
                base_sequence: batch
                    .base_sequence
                    .map(|base| wrapping_sequence(base, first_delta)),
                last_error: Some(error.clone()),
            });
        }
        if let Some(first) = first {
            batch.completion.split(first, rest);
        }
        let queue = self.partitions.entry(batch.tp.clone()).or_default();
        queue.in_flight = queue.in_flight.saturating_sub(1);
        queue.resent.remove(&batch.id);
        let at = queue.ready.partition_point(|b| b.id < batch.id);
        for (i, piece) in queued.into_iter().enumerate() {
            queue.resent.insert(piece.id);
            queue.ready.insert(at + i, piece);
        }
    }

    /// The records of `batch` rebuilt as batches of at most `batch.size`,
    /// each with the offset delta of its first record in `batch` and its
    /// record count; with idempotence, numbered on from `batch`'s base
    /// sequence.
    fn pieces(&self, batch: &Batch) -> Result<Vec<(BatchBuilder, i32, i32)>, String> {
        let Some(bytes) = batch.built.clone() else {
            return Err("the batch was never built".to_owned());
        };
        let parent = RecordBatch::new(bytes).map_err(|e| e.to_string())?;
        let header = *parent.header();
        let options = BatchOptions {
            compression: self.settings.compression,
            ..BatchOptions::default()
        };
        let mut pieces: Vec<(BatchBuilder, i32, i32)> = Vec::new();
        let records = parent.records().map_err(|e| e.to_string())?;
        for (delta, record) in (0i32..).zip(records) {
            let record = record.map_err(|e| e.to_string())?;
            let record = NewRecord {
                timestamp: record.timestamp,
                key: record.key,
                value: record.value,
                headers: record
                    .headers
                    .iter()
                    .map(|h| (h.key.to_owned(), h.value))
                    .collect(),
            };
            let fits = pieces
                .last()
                .is_some_and(|(b, _, _)| b.has_room_for(&record, self.settings.batch_size));
            if !fits {
                let mut builder = BatchBuilder::with_capacity(options, self.settings.batch_size)
                    .map_err(|e| e.to_string())?;
                if header.producer_id >= 0 {
                    builder.set_producer_state(
                        header.producer_id,
                        header.producer_epoch,
                        wrapping_sequence(header.base_sequence, delta),
                    );
                }
                pieces.push((builder, delta, 0));
            }
            if let Some((builder, _, count)) = pieces.last_mut() {
                builder.append(&record).map_err(|e| e.to_string())?;
                *count += 1;
            }
        }
        if pieces.len() < 2 {
            return Err(format!("its records fill {} batch", pieces.len()));
        }
        Ok(pieces)
    }

    /// `OUT_OF_ORDER_SEQUENCE_NUMBER`: expected while an earlier batch of
    /// the partition is being resent (retry it after that one); otherwise
    /// the partition's sequence is broken and it is fenced.
    pub fn out_of_order(&mut self, batch: Batch, error: ProducerError, now: Instant) {
        let earlier_pending = self
            .partitions
            .get(&batch.tp)
            .and_then(|q| q.resent.first())
            .is_some_and(|first| *first < batch.id);
        if earlier_pending {
            self.retry(batch, error, now);
            return;
        }
        if let Some(queue) = self.partitions.get_mut(&batch.tp) {
            queue.in_flight = queue.in_flight.saturating_sub(1);
        }
        self.fence(&batch.tp, &error);
        self.finish(&batch, Err(error));
    }

    /// Stops the partition: fails its open and queued batches, refuses
    /// further records.
    fn fence(&mut self, tp: &TopicPartition, cause: &ProducerError) {
        let Some(queue) = self.partitions.get_mut(tp) else {
            return;
        };
        if queue.fenced.is_some() {
            return;
        }
        let error = ProducerError::PartitionFenced {
            topic: Arc::clone(&tp.topic),
            partition: tp.partition,
            cause: Box::new(cause.clone()),
        };
        tracing::error!(topic = %tp.topic, partition = tp.partition, %error, "partition fenced");
        queue.fenced = Some(error.clone());
        let batches: Vec<Batch> = queue
            .open
            .take()
            .into_iter()
            .chain(queue.ready.drain(..))
            .collect();
        for batch in batches {
            self.finish(&batch, Err(error.clone()));
        }
    }

    /// Updates the leaders of a topic's partitions from fresh metadata;
    /// returns the leaders that now have batches to send.
    pub fn update_leaders(&mut self, info: &TopicInfo) -> Vec<NodeId> {
        let mut wake = Vec::new();
        for (tp, queue) in &mut self.partitions {
            if *tp.topic != *info.name {
                continue;
            }
            if let Some(p) = info.partition(runnel_protocol::PartitionId(tp.partition)) {
                // Without a new leader the old one keeps the batches, which
                // retry there until they succeed or time out.
                queue.leader = p.leader.or(queue.leader);
                if let Some(leader) = p.leader
                    && (queue.open.is_some() || !queue.ready.is_empty())
                {
                    wake.push(leader);
                }
            }
        }
        wake
    }

    /// Begins a flush: every batch is ready at once until
    /// [`Accumulator::end_flush`]. Returns the batches to wait for.
    pub fn begin_flush(&mut self) -> Vec<Arc<BatchCompletion>> {
        self.flushing += 1;
        self.incomplete.values().cloned().collect()
    }

    /// Ends a flush begun with [`Accumulator::begin_flush`].
    pub fn end_flush(&mut self) {
        self.flushing = self.flushing.saturating_sub(1);
    }

    /// Refuses new records from now on and sends what is held at once.
    pub fn close(&mut self) {
        self.closing = true;
    }

    /// Leaders of partitions that hold batches (open or ready).
    pub fn leaders_with_data(&self) -> Vec<NodeId> {
        let mut leaders: Vec<NodeId> = self
            .partitions
            .values()
            .filter(|q| q.open.is_some() || !q.ready.is_empty())
            .filter_map(|q| q.leader)
            .collect();
        leaders.sort_unstable();
        leaders.dedup();
        leaders
    }

    /// Partitions whose leader is unknown but that hold batches.
    pub fn topics_without_leader(&self) -> Vec<Arc<str>> {
        let mut topics: Vec<Arc<str>> = self
            .partitions
            .iter()
            .filter(|(_, q)| q.leader.is_none() && (q.open.is_some() || !q.ready.is_empty()))
            .map(|(tp, _)| Arc::clone(&tp.topic))
            .collect();
        topics.sort_unstable();
        topics.dedup();
        topics
    }

    /// Batches without an outcome.
    pub fn incomplete(&self) -> usize {
        self.incomplete.len()
    }
}

/// `sequence + count`, wrapping from `i32::MAX` to 0 as Kafka does.
pub(crate) fn wrapping_sequence(sequence: i32, count: i32) -> i32 {
    let next = i64::from(sequence) + i64::from(count);
    i32::try_from(next % (i64::from(i32::MAX) + 1)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnel_client::PartitionInfo;
    use runnel_protocol::{ErrorCode, PartitionId};

    fn settings() -> Settings {
        Settings {
            linger: Duration::from_millis(5),
            batch_size: 200,
            batch_max_bytes: 200,
            compression: Compression::None,
            delivery_timeout: Duration::from_secs(10),
            max_request_size: 1 << 20,
            retries: 3,
            retry_backoff: Duration::from_millis(10),
        }
    }

    fn info(partitions: u32) -> TopicInfo {
        TopicInfo {
            name: "t".into(),
            partitions: (0..partitions)
                .map(|p| PartitionInfo {
                    partition: PartitionId(p),
                    leader: NodeId::new(0),
                    replicas: Vec::new(),
                    isr: Vec::new(),
                    error_code: ErrorCode::None,
                })
                .collect(),
        }
    }

    fn record(len: usize) -> NewRecord {
        NewRecord {
            timestamp: 1,
            key: None,
            value: Some(Bytes::from(vec![b'x'; len])),
            headers: Vec::new(),
        }
    }

    fn acc(memory: usize) -> Accumulator {
        Accumulator::new(settings(), Arc::new(Semaphore::new(memory)))
    }

    fn node() -> NodeId {
        NodeId::new(0).unwrap()
    }

    fn append(acc: &mut Accumulator, partition: Option<u32>, len: usize, now: Instant) -> Append {
        let topic: Arc<str> = Arc::from("t");
        acc.append(&topic, partition, &info(3), record(len), len + 40, 0, now)
            .unwrap()
    }

    #[test]
    fn records_fill_one_batch_until_batch_size_then_it_is_ready() {
        let mut acc = acc(10_000);
        let now = Instant::now();
        for _ in 0..3 {
            assert!(matches!(
                append(&mut acc, Some(1), 30, now),
                Append::Done { .. }
            ));
        }
        // Not lingered yet: nothing to drain.
        let drained = acc.drain(node(), now);
        assert!(drained.batches.is_empty());
        assert_eq!(drained.next_wake, Some(now + Duration::from_millis(5)));
        // Fill past 200 bytes: the batch closes and a new one opens.
        for _ in 0..3 {
            append(&mut acc, Some(1), 30, now);
        }
        let drained = acc.drain(node(), now);
        assert_eq!(drained.batches.len(), 1);
        assert!(drained.batches[0].size() <= 200);
        let later = acc.drain(node(), now + Duration::from_millis(5));
        assert_eq!(later.batches.len(), 1);
        let total: i32 = drained.batches[0].record_count + later.batches[0].record_count;
        assert_eq!(total, 6);
    }

    #[test]
    fn sequence_numbers_count_records_per_partition() {
        let mut acc = acc(100_000);
        acc.set_producer(Some((7, 1)));
        let now = Instant::now();
        let later = now + Duration::from_millis(10);
        for _ in 0..3 {
            append(&mut acc, Some(0), 10, now);
        }
        append(&mut acc, Some(2), 10, now);
        let first = acc.drain(node(), later);
        let mut by_partition: Vec<(u32, i32, i32)> = first
            .batches
            .iter()
            .map(|b| (b.tp.partition, b.base_sequence.unwrap(), b.record_count))
            .collect();
        by_partition.sort_unstable();
        assert_eq!(by_partition, [(0, 0, 3), (2, 0, 1)]);
        for batch in &first.batches {
            acc.complete(batch, ack(0));
        }
        for _ in 0..2 {
            append(&mut acc, Some(0), 10, later);
        }
        let second = acc.drain(node(), later + Duration::from_millis(10));
        assert_eq!(second.batches[0].base_sequence, Some(3));
        let built = second
            .batches
            .into_iter()
            .next()
            .unwrap()
            .builder
            .unwrap()
            .build()
            .unwrap();
        let header = runnel_protocol::record::validate_batch(&built).unwrap();
        assert_eq!(
            (
                header.producer_id,
                header.producer_epoch,
                header.base_sequence
            ),
            (7, 1, 3)
        );
    }

    #[test]
    fn sequences_wrap_like_kafka() {
        assert_eq!(wrapping_sequence(5, 3), 8);
        assert_eq!(wrapping_sequence(i32::MAX, 1), 0);
        assert_eq!(wrapping_sequence(i32::MAX - 1, 5), 3);
    }

    #[test]
    fn retried_batches_go_back_in_creation_order() {
        let mut acc = acc(100_000);
        let now = Instant::now();
        let t1 = now + Duration::from_millis(10);
        append(&mut acc, Some(0), 10, now);
        let a = acc.drain(node(), t1).batches.remove(0);
        append(&mut acc, Some(0), 10, t1);
        let b = acc
            .drain(node(), t1 + Duration::from_millis(10))
            .batches
            .remove(0);
        let t2 = t1 + Duration::from_millis(20);
        let error =
            ProducerError::from(runnel_client::BrokerError::new(ErrorCode::NotLeader, None));
        acc.retry(b, error.clone(), t2);
        acc.retry(a, error, t2);
        // Both wait out the backoff, then the older goes first.
        assert!(acc.drain(node(), t2).batches.is_empty());
        let t3 = t2 + Duration::from_millis(10);
        let first = acc.drain(node(), t3).batches.remove(0);
        assert_eq!(first.id.number, 0);
        assert_eq!(first.attempts, 1);
    }

    #[test]
    fn expired_batches_fail_with_a_delivery_timeout() {
        let mut acc = acc(100_000);
        let now = Instant::now();
        let Append::Done { future, .. } = append(&mut acc, Some(0), 10, now) else {
            panic!("not appended");
        };
        let drained = acc.drain(node(), now + Duration::from_secs(11));
        assert!(drained.batches.is_empty());
        assert_eq!(acc.incomplete(), 0);
        let result = futures_util::FutureExt::now_or_never(future).unwrap();
        assert!(matches!(
            result,
            Err(ProducerError::DeliveryTimeout { partition: 0, .. })
        ));
    }

    #[test]
    fn a_batch_grows_past_batch_size_only_while_its_partition_is_backed_up() {
        let pool = Arc::new(Semaphore::new(10_000));
        let settings = Settings {
            batch_max_bytes: 1_000,
            ..settings()
        };
        let mut acc = Accumulator::new(settings, Arc::clone(&pool));
        let now = Instant::now();
        // Nothing waits: the first batch closes at batch.size (200).
        let mut n = 0;
        while acc.partitions.values().all(|q| q.ready.is_empty()) {
            append(&mut acc, Some(1), 30, now);
            n += 1;
        }
        assert!(n < 10);
        // It waits to be sent, so the next batch grows, taking memory as it
        // goes, until batch.max.bytes.
        let before = pool.available_permits();
        for _ in 0..40 {
            append(&mut acc, Some(1), 30, now);
        }
        assert!(pool.available_permits() < before - 200);
        let first = acc.drain(node(), now);
        let second = acc.drain(node(), now);
        assert_eq!((first.batches.len(), second.batches.len()), (1, 1));
        assert!(first.batches[0].size() <= 200);
        let grown = second.batches[0].size();
        assert!(
            grown > 200 && grown <= 1_000,
            "grown batch of {grown} bytes"
        );
        // Nor past max.request.size.
        let mut small = Accumulator::new(
            Settings {
                batch_max_bytes: 1_000,
                max_request_size: 500,
                ..self::settings()
            },
            Arc::new(Semaphore::new(10_000)),
        );
        for _ in 0..40 {
            append(&mut small, Some(1), 30, now);
        }
        small.drain(node(), now);
        let grown_small = small.drain(node(), now).batches[0].size();
        assert!(
            grown_small > 200 && grown_small <= 500,
            "{grown_small} bytes"
        );
        // Memory comes back whole.
        let rest = acc.drain(node(), now + Duration::from_millis(5));
        for batch in first
            .batches
            .iter()
            .chain(&second.batches)
            .chain(&rest.batches)
        {
            acc.complete(batch, ack(0));
        }
        assert_eq!(pool.available_permits(), 10_000);
    }

    #[test]
    fn memory_is_reserved_per_batch_and_returned_on_completion() {
        let pool = Arc::new(Semaphore::new(450));
        let mut acc = Accumulator::new(settings(), Arc::clone(&pool));
        let now = Instant::now();
        append(&mut acc, Some(0), 10, now);
        append(&mut acc, Some(1), 10, now);
        assert_eq!(pool.available_permits(), 50);
        // A third batch does not fit: the caller must wait for memory.
        let Append::NeedMemory { needed, .. } = append(&mut acc, Some(2), 10, now) else {
            panic!("expected to need memory");
        };
        assert_eq!(needed, 200);
        let drained = acc.drain(node(), now + Duration::from_millis(5));
        for batch in &drained.batches {
            acc.complete(batch, ack(0));
        }
        assert_eq!(pool.available_permits(), 450);
    }

    #[test]
    fn out_of_order_without_an_earlier_retry_fences_the_partition() {
        let mut acc = acc(100_000);
        acc.set_producer(Some((1, 0)));
        let now = Instant::now();
        append(&mut acc, Some(0), 10, now);
        let batch = acc
            .drain(node(), now + Duration::from_millis(5))
            .batches
            .remove(0);
        let error = ProducerError::from(runnel_client::BrokerError::new(
            ErrorCode::OutOfOrderSequenceNumber,
            None,
        ));
        acc.out_of_order(batch, error, now);
        let topic: Arc<str> = Arc::from("t");
        let err = acc
            .append(&topic, Some(0), &info(3), record(1), 41, 0, now)
            .unwrap_err()
            .0;
        assert!(
            matches!(err, ProducerError::PartitionFenced { partition: 0, .. }),
            "{err}"
        );
        // Other partitions are unaffected.
        assert!(
            acc.append(&topic, Some(1), &info(3), record(1), 41, 0, now)
                .is_ok()
        );
    }

    #[test]
    fn rejected_last_batch_gives_its_sequence_numbers_back() {
        let mut acc = acc(100_000);
        acc.set_producer(Some((1, 0)));
        let now = Instant::now();
        append(&mut acc, Some(0), 10, now);
        let batch = acc
            .drain(node(), now + Duration::from_millis(5))
            .batches
            .remove(0);
        acc.reject(
            &batch,
            runnel_client::BrokerError::new(ErrorCode::MessageTooLarge, None).into(),
        );
        append(&mut acc, Some(0), 10, now);
        let next = acc
            .drain(node(), now + Duration::from_millis(10))
            .batches
            .remove(0);
        assert_eq!(next.base_sequence, Some(0));
    }

    #[test]
    fn keyless_records_stick_until_the_batch_fills() {
        let mut acc = acc(100_000);
        let now = Instant::now();
        let topic: Arc<str> = Arc::from("t");
        let mut partitions = Vec::new();
        for _ in 0..12 {
            acc.append(&topic, None, &info(3), record(60), 100, 0, now)
                .unwrap();
            partitions.push(acc.sticky.current(&topic, 3));
        }
        // 60-byte records: two fit per 200-byte batch, then the sticky
        // partition moves to another one.
        let changes = partitions.windows(2).filter(|w| w[0] != w[1]).count();
        assert_eq!(changes, 5, "{partitions:?}");
    }

    /// Builds a drained batch as the sender does before sending it.
    fn built(mut batch: Batch) -> Batch {
        let builder = batch.builder.take().unwrap();
        batch.built = Some(builder.build().unwrap());
        batch
    }

    /// An idempotent accumulator (`batch.max.bytes` 1000) after 30 records
    /// to partition 1: the first batch and the one that grew behind it,
    /// both sent, and the records' futures.
    fn sent_grown_batch(now: Instant) -> (Accumulator, Batch, Batch, Vec<DeliveryFuture>) {
        let settings = Settings {
            batch_max_bytes: 1_000,
            ..settings()
        };
        let mut acc = Accumulator::new(settings, Arc::new(Semaphore::new(10_000)));
        acc.set_producer(Some((7, 0)));
        let topic: Arc<str> = Arc::from("t");
        let mut futures = Vec::new();
        for i in 0..30 {
            let mut record = record(30);
            record.timestamp = 1_000 + i;
            let Ok(Append::Done { future, .. }) =
                acc.append(&topic, Some(1), &info(3), record, 70, 0, now)
            else {
                panic!("not appended");
            };
            futures.push(future);
        }
        let first = built(acc.drain(node(), now).batches.remove(0));
        let grown = built(
            acc.drain(node(), now + Duration::from_millis(5))
                .batches
                .remove(0),
        );
        (acc, first, grown, futures)
    }

    fn broker_error(code: ErrorCode) -> ProducerError {
        runnel_client::BrokerError::new(code, None).into()
    }

    fn ack(base_offset: i64) -> BatchAck {
        BatchAck {
            base_offset: Some(base_offset),
            log_append_time: None,
        }
    }

    #[test]
    fn a_grown_batch_refused_as_too_large_is_resent_split_in_its_place() {
        use futures_util::FutureExt;
        let now = Instant::now();
        let (mut acc, first, grown, futures) = sent_grown_batch(now);
        let first_count = usize::try_from(first.record_count).unwrap();
        let grown_count = usize::try_from(grown.record_count).unwrap();
        assert!(first_count + grown_count < 30);
        assert!(acc.can_split(&grown), "{} bytes", grown.size());
        assert!(!acc.can_split(&first));
        // The rest was sent after the grown batch and numbered after it.
        let later = acc
            .drain(node(), now + Duration::from_millis(10))
            .batches
            .remove(0);
        acc.complete(&first, ack(0));
        acc.split(&grown, broker_error(ErrorCode::MessageTooLarge));
        // The later batch's out-of-order answer waits for the pieces.
        acc.out_of_order(
            later,
            broker_error(ErrorCode::OutOfOrderSequenceNumber),
            now,
        );
        // Flush waits for every piece.
        let mut wait = grown.completion.wait();
        let mut pieces = Vec::new();
        loop {
            let mut drained = acc.drain(node(), now + Duration::from_millis(10));
            let Some(piece) = drained.batches.pop() else {
                break;
            };
            if piece.id.number != grown.id.number {
                break;
            }
            pieces.push(built(piece));
        }
        assert!(pieces.len() >= 2, "{} pieces", pieces.len());
        let mut sequence = grown.base_sequence.unwrap();
        let mut records = 0;
        for piece in &pieces {
            assert!(piece.size() <= 200, "piece of {} bytes", piece.size());
            assert_eq!(piece.base_sequence, Some(sequence));
            let header =
                runnel_protocol::record::validate_batch(piece.built.as_ref().unwrap()).unwrap();
            assert_eq!((header.producer_id, header.base_sequence), (7, sequence));
            sequence = wrapping_sequence(sequence, piece.record_count);
            records += usize::try_from(piece.record_count).unwrap();
        }
        assert_eq!(records, grown_count);
        assert!(!acc.partitions.values().any(|q| q.fenced.is_some()));
        // Pieces land at offsets far apart; each record follows its piece.
        let mut offset = 1_000;
        let mut expected = Vec::new();
        for piece in &pieces[..pieces.len() - 1] {
            acc.complete(piece, ack(offset));
            expected.extend((0..i64::from(piece.record_count)).map(|d| offset + d));
            offset += 1_000;
        }
        assert!((&mut wait).now_or_never().is_none());
        let last = pieces.pop().unwrap();
        acc.complete(&last, ack(offset));
        expected.extend((0..i64::from(last.record_count)).map(|d| offset + d));
        assert!(wait.now_or_never().is_some());
        let offsets: Vec<i64> = futures
            .into_iter()
            .skip(first_count)
            .take(grown_count)
            .map(|f| f.now_or_never().unwrap().unwrap().offset.unwrap())
            .collect();
        assert_eq!(offsets, expected);
    }

    #[test]
    fn after_a_split_the_topics_batches_stop_growing() {
        let now = Instant::now();
        let (mut acc, _, grown, _) = sent_grown_batch(now);
        acc.split(&grown, broker_error(ErrorCode::MessageTooLarge));
        // Partition 2 is new, and backed up behind its first batch.
        for _ in 0..40 {
            append(&mut acc, Some(2), 30, now);
        }
        let mut sizes = Vec::new();
        while let Some(batch) = acc.drain(node(), now).batches.pop() {
            sizes.push(batch.size());
        }
        assert!(
            sizes.len() > 5 && sizes.iter().all(|&size| size <= 200),
            "{sizes:?}"
        );
    }
}
