//! [`Producer`] and [`ProducerBuilder`].
//!
//! ```text
//! send/enqueue ─► metadata (partition count, leader) ─► partitioner
//!              ─► Accumulator (open batch per partition; waits for buffer
//!                 memory up to max.block.ms) ─► DeliveryFuture
//! sender task per broker ─► drain ready batches ─► ProduceRequest
//!              ─► pipelined on the broker's connection ─► settle batches
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use runnel_client::{Client, ClientError, TopicInfo};
use runnel_protocol::api::init_producer_id::InitProducerIdRequest;
use runnel_protocol::record::NewRecord;
use runnel_protocol::{NodeId, PartitionId};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::accumulator::{Accumulator, Append, Settings};
use crate::config::ProducerConfig;
use crate::delivery::DeliveryFuture;
use crate::error::ProducerError;
use crate::partitioner::partition_for_key;
use crate::record::{ProducerRecord, RecordMetadata, create_time_ms};
use crate::sender;

/// State shared by the producer handles and the sender tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Settings.
    pub config: ProducerConfig,
    /// Connections and metadata.
    pub client: Client,
    /// The batches.
    accumulator: Mutex<Accumulator>,
    /// The `buffer.memory` pool, in bytes.
    pool: Arc<Semaphore>,
    /// Sender tasks by broker.
    senders: Mutex<HashMap<NodeId, SenderHandle>>,
    /// Cancelled when the producer has shut down.
    pub shutdown: CancellationToken,
}

/// A running sender task.
#[derive(Debug)]
struct SenderHandle {
    /// Wakes the task when its broker has new ready data.
    notify: Arc<Notify>,
    /// The task, joined on close.
    task: JoinHandle<()>,
}

impl Shared {
    pub fn accumulator(&self) -> MutexGuard<'_, Accumulator> {
        self.accumulator
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes (starting it if needed) the sender of `node`.
    fn wake(self: &Arc<Self>, node: NodeId) {
        let mut senders = self.senders.lock().unwrap_or_else(PoisonError::into_inner);
        let handle = senders.entry(node).or_insert_with(|| {
            let notify = Arc::new(Notify::new());
            let task = tokio::spawn(sender::run(Arc::clone(self), node, Arc::clone(&notify)));
            SenderHandle { notify, task }
        });
        handle.notify.notify_one();
    }

    fn wake_all(self: &Arc<Self>) {
        let leaders = self.accumulator().leaders_with_data();
        for node in leaders {
            self.wake(node);
        }
        let senders = self.senders.lock().unwrap_or_else(PoisonError::into_inner);
        for handle in senders.values() {
            handle.notify.notify_one();
        }
    }

    /// Fetches a topic's metadata again and moves its batches to the
    /// current leaders.
    pub async fn refresh_leaders(self: &Arc<Self>, topic: &str) {
        self.client.invalidate_topic(topic);
        match self.client.refresh_topic(topic).await {
            Ok(info) => {
                let wake = self.accumulator().update_leaders(&info);
                for node in wake {
                    self.wake(node);
                }
            }
            Err(error) => tracing::debug!(%topic, %error, "metadata refresh failed"),
        }
    }
}

/// Sends records to a Runnel cluster in batches. Cheap to clone; clones
/// share batches, connections and sender tasks.
///
/// ```no_run
/// # async fn run() -> Result<(), runnel_producer::ProducerError> {
/// use runnel_producer::{Producer, ProducerRecord};
///
/// let producer = Producer::builder()
///     .set("bootstrap.servers", "127.0.0.1:9170")?
///     .set("linger.ms", "5")?
///     .build()
///     .await?;
/// let meta = producer.send(ProducerRecord::new("orders", "hello").key("k1")).await?;
/// println!("{} {:?}", meta.partition, meta.offset);
/// producer.close().await;
/// # Ok(())
/// # }
/// ```
///
/// Call [`Producer::close`] before dropping the last handle: dropping every
/// handle without it stops the sender tasks once their requests are
/// answered and abandons records not yet sent.
#[derive(Debug, Clone)]
pub struct Producer {
    /// Shared with the sender tasks.
    shared: Arc<Shared>,
    /// Stops the sender tasks when the last handle is dropped.
    _stop_on_drop: Arc<tokio_util::sync::DropGuard>,
}

/// Collects settings and builds a [`Producer`].
#[derive(Debug, Clone, Default)]
pub struct ProducerBuilder {
    /// The settings so far.
    config: ProducerConfig,
}

impl ProducerBuilder {
    /// Starts from `config`.
    pub fn from_config(config: ProducerConfig) -> Self {
        ProducerBuilder { config }
    }

    /// Applies one setting by its Kafka name (`linger.ms`, `acks`, ...);
    /// an unknown name is an error naming it.
    pub fn set(mut self, key: &str, value: &str) -> Result<Self, ProducerError> {
        self.config.set(key, value)?;
        Ok(self)
    }

    /// Applies `(key, value)` pairs in order, as from `-X key=value` flags.
    pub fn set_all<'a>(
        mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ProducerError> {
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
    pub fn config_mut(&mut self) -> &mut ProducerConfig {
        &mut self.config
    }

    /// Checks the settings, connects to the bootstrap broker and, with
    /// idempotence, obtains a producer id. Fails at once when the broker
    /// cannot be reached. With idempotence left at its default, a broker
    /// that does not grant producer ids turns it off (with a warning); set
    /// explicitly, that is an error.
    pub async fn build(self) -> Result<Producer, ProducerError> {
        let mut config = self.config;
        let idempotent = config.validate()?;
        config.client.request_timeout = config.request_timeout;
        config.client.max_in_flight = config.client.max_in_flight.max(config.max_in_flight);
        let client = Client::connect(config.client.clone()).await?;
        let producer = if idempotent {
            match init_producer_id(&client).await {
                Ok(state) => Some(state),
                Err(error) if config.enable_idempotence.is_none() => {
                    tracing::warn!(%error, "the broker grants no producer id; idempotence is off");
                    None
                }
                Err(error) => return Err(error),
            }
        } else {
            None
        };
        let pool = Arc::new(Semaphore::new(config.buffer_memory));
        let settings = Settings {
            linger: config.linger,
            batch_size: config.batch_size,
            batch_max_bytes: config.batch_max_bytes,
            compression: config.compression,
            delivery_timeout: config.delivery_timeout,
            max_request_size: config.max_request_size,
            retries: config.retries,
            retry_backoff: config.retry_backoff,
        };
        let mut accumulator = Accumulator::new(settings, Arc::clone(&pool));
        accumulator.set_producer(producer);
        let shutdown = CancellationToken::new();
        Ok(Producer {
            _stop_on_drop: Arc::new(shutdown.clone().drop_guard()),
            shared: Arc::new(Shared {
                config,
                client,
                accumulator: Mutex::new(accumulator),
                pool,
                senders: Mutex::new(HashMap::new()),
                shutdown,
            }),
        })
    }
}

/// Asks the broker for a producer id and epoch.
async fn init_producer_id(client: &Client) -> Result<(i64, i16), ProducerError> {
    let response = client
        .call(&InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: 0,
        })
        .await?;
    runnel_client::BrokerError::check(response.error_code, response.error_message)?;
    Ok((response.producer_id, response.producer_epoch))
}

impl Producer {
    /// A builder with Kafka's defaults.
    pub fn builder() -> ProducerBuilder {
        ProducerBuilder::default()
    }

    /// The settings in force.
    pub fn config(&self) -> &ProducerConfig {
        &self.shared.config
    }

    /// The client the producer talks through (for metadata or admin calls).
    pub fn client(&self) -> &Client {
        &self.shared.client
    }

    /// Whether batches carry a producer id and sequence numbers.
    pub fn is_idempotent(&self) -> bool {
        self.shared.accumulator().is_idempotent()
    }

    /// Sends a record and waits until the broker has acknowledged it (per
    /// `acks`). Waits up to `max.block.ms` for buffer room first.
    /// Equivalent to `enqueue(record).await?.await`; to keep many records
    /// in flight from one task, use [`Producer::enqueue`].
    pub async fn send(&self, record: ProducerRecord) -> Result<RecordMetadata, ProducerError> {
        self.enqueue(record).await?.await
    }

    /// Accepts a record into a batch and returns a future for its
    /// delivery. Waits (up to `max.block.ms`) for the topic's metadata and
    /// for room in `buffer.memory`, then fails with
    /// [`ProducerError::BufferExhausted`]. Records enqueued one after
    /// another to a partition are written in that order.
    pub async fn enqueue(&self, record: ProducerRecord) -> Result<DeliveryFuture, ProducerError> {
        let shared = &self.shared;
        if shared.shutdown.is_cancelled() {
            return Err(ProducerError::Closed);
        }
        let config = &shared.config;
        let mut now = Instant::now();
        let deadline = now + config.max_block;
        let size = record.size_estimate();
        if size > config.max_request_size {
            return Err(ProducerError::RecordTooLarge {
                size,
                limit: config.max_request_size,
                setting: "max.request.size",
            });
        }
        let info = self.topic_info(&record.topic, &mut now, deadline).await?;
        let count = info.partition_count();
        let partition = match (record.partition, &record.key) {
            (Some(p), _) => {
                if usize::try_from(p).map_or(true, |p| p >= count) {
                    return Err(ProducerError::UnknownPartition {
                        topic: record.topic,
                        partition: p,
                        partitions: count,
                    });
                }
                Some(p)
            }
            (None, Some(key)) => Some(partition_for_key(
                key,
                u32::try_from(count).unwrap_or(u32::MAX),
            )),
            (None, None) => None,
        };
        if count == 0 {
            return Err(ProducerError::UnknownPartition {
                topic: record.topic,
                partition: partition.unwrap_or(0),
                partitions: 0,
            });
        }
        let topic = record.topic;
        let mut pending = NewRecord {
            timestamp: record.timestamp.unwrap_or_else(|| create_time_ms(now)),
            key: record.key,
            value: record.value,
            headers: record.headers,
        };
        let mut reserved = 0usize;
        // The clock is read again only after a wait (metadata, memory).
        loop {
            let outcome = shared
                .accumulator()
                .append(&topic, partition, &info, pending, size, reserved, now);
            match outcome {
                Ok(Append::Done {
                    future,
                    notify,
                    unused,
                }) => {
                    if unused > 0 {
                        shared.pool.add_permits(unused);
                    }
                    if let Some(node) = notify {
                        shared.wake(node);
                    }
                    return Ok(future);
                }
                Ok(Append::NeedMemory { record, needed }) => {
                    pending = record;
                    reserved = self.reserve(needed, deadline).await?;
                    now = Instant::now();
                }
                Err((error, unused)) => {
                    if unused > 0 {
                        shared.pool.add_permits(unused);
                    }
                    if let ProducerError::Broker(e) = &error
                        && runnel_client::invalidates_metadata(e.code)
                    {
                        shared.client.invalidate_topic(&topic);
                    }
                    return Err(error);
                }
            }
        }
    }

    /// The topic's metadata, from the cache or else fetched (by
    /// `deadline`); after a fetch `now` is read again, so linger and the
    /// delivery timeout count from the end of the wait.
    async fn topic_info(
        &self,
        topic: &str,
        now: &mut Instant,
        deadline: Instant,
    ) -> Result<Arc<TopicInfo>, ProducerError> {
        let shared = &self.shared;
        if let Some(info) = shared.client.cached_topic(topic, *now) {
            return Ok(info);
        }
        let info = tokio::time::timeout_at(deadline, shared.client.refresh_topic(topic))
            .await
            .map_err(|_| {
                ProducerError::from(ClientError::Timeout {
                    api: runnel_protocol::ApiKey::Metadata,
                    addr: shared.config.client.bootstrap.clone(),
                    timeout: shared.config.max_block,
                })
            })??;
        *now = Instant::now();
        Ok(info)
    }

    /// Waits until `needed` bytes of buffer memory are free (or the
    /// deadline passes) and takes them.
    async fn reserve(&self, needed: usize, deadline: Instant) -> Result<usize, ProducerError> {
        let config = &self.shared.config;
        let exhausted = || ProducerError::BufferExhausted {
            needed,
            max_block: config.max_block,
            buffer_memory: config.buffer_memory,
        };
        if needed > config.buffer_memory {
            return Err(ProducerError::RecordTooLarge {
                size: needed,
                limit: config.buffer_memory,
                setting: "buffer.memory",
            });
        }
        let permits = u32::try_from(needed).map_err(|_| exhausted())?;
        // Any sender with data must run for memory to come back.
        self.shared.wake_all();
        let permit = tokio::time::timeout_at(deadline, self.shared.pool.acquire_many(permits))
            .await
            .map_err(|_| exhausted())?
            .map_err(|_| ProducerError::Closed)?;
        permit.forget();
        Ok(needed)
    }

    /// Sends every record accepted so far at once (ignoring `linger.ms`)
    /// and waits until each has an outcome.
    pub async fn flush(&self) {
        let waits = self.shared.accumulator().begin_flush();
        self.shared.wake_all();
        for completion in waits {
            completion.wait().await;
        }
        self.shared.accumulator().end_flush();
    }

    /// Stops accepting records, delivers everything accepted (each record
    /// gets its outcome, bounded by `delivery.timeout.ms`), then stops the
    /// sender tasks. Later sends fail with [`ProducerError::Closed`].
    pub async fn close(&self) {
        self.shared.accumulator().close();
        self.flush().await;
        self.shared.shutdown.cancel();
        let handles: Vec<SenderHandle> = self
            .shared
            .senders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .map(|(_, h)| h)
            .collect();
        for handle in handles {
            handle.notify.notify_one();
            if let Err(error) = handle.task.await {
                tracing::error!(%error, "producer sender task failed");
            }
        }
    }

    /// Batches accepted but without an outcome yet.
    pub fn pending_batches(&self) -> usize {
        self.shared.accumulator().incomplete()
    }

    /// Bytes of `buffer.memory` free now.
    pub fn available_memory(&self) -> usize {
        self.shared.pool.available_permits()
    }

    /// Moves batches of partitions without a known leader to their leader
    /// once metadata names one.
    pub async fn refresh_metadata(&self) {
        let topics = self.shared.accumulator().topics_without_leader();
        for topic in topics {
            self.shared.refresh_leaders(&topic).await;
        }
    }
}

/// The partition a record with `key` goes to in a topic with `partitions`
/// partitions (Kafka's default partitioner).
pub fn partition_of_key(key: &[u8], partitions: u32) -> PartitionId {
    PartitionId(partition_for_key(key, partitions))
}
