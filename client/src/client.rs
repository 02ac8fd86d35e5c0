//! [`Client`]: connections to the brokers of a cluster, found from one
//! bootstrap address, with reconnection and a metadata cache.
//!
//! - **Connections.** One [`Connection`] per broker address, opened on first
//!   use and reopened when it has closed. After a failed attempt the next one
//!   waits `reconnect.backoff.ms`, doubling with each further failure up to
//!   `reconnect.backoff.max.ms` (with ±20 % jitter so that many clients do not
//!   reconnect in step).
//! - **Metadata.** Topics are cached for `metadata.max.age.ms`. Errors that
//!   mean the cache is stale (`UNKNOWN_TOPIC_OR_PARTITION`, `NOT_LEADER`,
//!   `LEADER_NOT_AVAILABLE`, a lost connection) drop the topic, so the next
//!   lookup asks the broker again ([`Client::invalidate_topic`]).
//! - **Retries.** Reads that are safe to repeat (metadata, list offsets,
//!   describe configs, api versions) are retried on retriable errors, a few
//!   times within the request timeout; calls that change state (create,
//!   delete, alter) are sent once and their outcome reported as is.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand::Rng;
use runnel_protocol::api::ApiRequest;
use runnel_protocol::api::metadata::{MetadataRequest, MetadataResponse};
use runnel_protocol::{ErrorCode, NodeId, PartitionId};
use tokio::time::Instant;

use crate::config::ClientConfig;
use crate::connection::Connection;
use crate::error::{BrokerError, ClientError};
use crate::metadata::{MetadataCache, TopicInfo, host_of};

/// Attempts for a call that is safe to repeat.
const READ_ATTEMPTS: u32 = 3;

/// A handle to a cluster. Cheap to clone; clones share connections and
/// metadata.
#[derive(Debug, Clone)]
pub struct Client {
    /// Shared by every clone.
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Settings.
    config: ClientConfig,
    /// One connection slot per broker address.
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    /// Topics and broker addresses.
    metadata: Mutex<MetadataCache>,
    /// Set by [`Client::close`].
    closed: AtomicBool,
}

/// The connection to one address and its reconnect state. The async mutex
/// makes concurrent callers share one connection attempt.
#[derive(Debug)]
struct Slot {
    /// `host:port`.
    addr: String,
    /// The current connection and the backoff state.
    state: tokio::sync::Mutex<SlotState>,
}

#[derive(Debug, Default)]
struct SlotState {
    /// The connection, if one was opened (it may have closed since).
    conn: Option<Connection>,
    /// Connection attempts that failed in a row.
    failures: u32,
    /// No attempt before this instant.
    retry_at: Option<Instant>,
}

/// The wait before the next attempt after `failures` failed attempts in a
/// row: `base * 2^(failures-1)`, capped at `max`, before jitter.
pub fn backoff_delay(base: Duration, max: Duration, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(31);
    base.saturating_mul(1u32 << doublings).min(max)
}

/// `delay` scaled by a random factor in [0.8, 1.2].
fn jitter(delay: Duration) -> Duration {
    delay.mul_f64(rand::rng().random_range(0.8..=1.2))
}

impl Client {
    /// A client that connects lazily, on the first call.
    pub fn new(config: ClientConfig) -> Client {
        Client {
            inner: Arc::new(Inner {
                config,
                slots: Mutex::new(HashMap::new()),
                metadata: Mutex::new(MetadataCache::default()),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// A client connected to the bootstrap broker: fails at once if it
    /// cannot be reached (`cannot reach broker at ...`).
    pub async fn connect(config: ClientConfig) -> Result<Client, ClientError> {
        let client = Client::new(config);
        client.connection().await?;
        Ok(client)
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Closes every connection; later calls fail with
    /// [`ClientError::Closed`].
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        let slots: Vec<Arc<Slot>> = lock(&self.inner.slots).values().cloned().collect();
        for slot in slots {
            if let Ok(state) = slot.state.try_lock()
                && let Some(conn) = &state.conn
            {
                conn.close();
            }
        }
    }

    /// A connection to the bootstrap broker, for calls any broker can
    /// answer.
    pub async fn connection(&self) -> Result<Connection, ClientError> {
        let addr = self.inner.config.bootstrap.clone();
        self.connection_to_addr(&addr).await
    }

    /// A connection to the broker with node id `node`, as the last
    /// metadata named it; the bootstrap broker if it is not known (a
    /// single broker is its own bootstrap).
    pub async fn connection_to(&self, node: NodeId) -> Result<Connection, ClientError> {
        let addr = lock(&self.inner.metadata)
            .broker(node)
            .map_or_else(|| self.inner.config.bootstrap.clone(), str::to_owned);
        self.connection_to_addr(&addr).await
    }

    /// A connection to the leader of a partition.
    pub async fn leader_connection(
        &self,
        topic: &str,
        partition: PartitionId,
    ) -> Result<Connection, ClientError> {
        let info = self.topic(topic).await?;
        let leader = info
            .partition(partition)
            .ok_or_else(|| ClientError::UnknownPartition {
                topic: topic.to_owned(),
                partition: partition.0,
                partitions: info.partition_count(),
            })?
            .leader;
        match leader {
            Some(node) => self.connection_to(node).await,
            None => {
                self.invalidate_topic(topic);
                Err(BrokerError::new(ErrorCode::LeaderNotAvailable, None)
                    .about(format!("topic {topic:?} partition {}", partition.0))
                    .into())
            }
        }
    }

    /// A connection to `addr`, reusing an open one or reconnecting (after
    /// the backoff of earlier failures).
    pub async fn connection_to_addr(&self, addr: &str) -> Result<Connection, ClientError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(ClientError::Closed);
        }
        let slot = {
            let mut slots = lock(&self.inner.slots);
            Arc::clone(slots.entry(addr.to_owned()).or_insert_with(|| {
                Arc::new(Slot {
                    addr: addr.to_owned(),
                    state: tokio::sync::Mutex::new(SlotState::default()),
                })
            }))
        };
        let mut state = slot.state.lock().await;
        if let Some(conn) = &state.conn
            && !conn.is_closed()
        {
            return Ok(conn.clone());
        }
        state.conn = None;
        if let Some(at) = state.retry_at {
            tokio::time::sleep_until(at).await;
        }
        match Connection::connect(&slot.addr, &self.inner.config).await {
            Ok(conn) => {
                state.failures = 0;
                state.retry_at = None;
                state.conn = Some(conn.clone());
                Ok(conn)
            }
            Err(error) => {
                state.failures = state.failures.saturating_add(1);
                let config = &self.inner.config;
                let delay = backoff_delay(
                    config.reconnect_backoff,
                    config.reconnect_backoff_max,
                    state.failures,
                );
                state.retry_at = Some(Instant::now() + jitter(delay));
                Err(error)
            }
        }
    }

    /// Sends `request` to the bootstrap broker once and waits for the
    /// response.
    pub async fn call<R: ApiRequest>(&self, request: &R) -> Result<R::Response, ClientError> {
        self.connection().await?.call(request).await
    }

    /// Sends `request` to the bootstrap broker, retrying retriable failures
    /// (after a reconnect backoff) up to three attempts within the request
    /// timeout. Only for requests that are safe to repeat.
    pub async fn call_idempotent<R: ApiRequest>(
        &self,
        request: &R,
    ) -> Result<R::Response, ClientError> {
        let deadline = Instant::now() + self.inner.config.request_timeout;
        let mut attempt = 1;
        loop {
            match self.call(request).await {
                Err(error)
                    if error.is_retriable()
                        && attempt < READ_ATTEMPTS
                        && Instant::now() < deadline =>
                {
                    tracing::debug!(%error, attempt, "retrying {}", R::KEY);
                    let config = &self.inner.config;
                    let wait = backoff_delay(
                        config.reconnect_backoff,
                        config.reconnect_backoff_max,
                        attempt,
                    );
                    tokio::time::sleep(
                        wait.min(deadline.saturating_duration_since(Instant::now())),
                    )
                    .await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// Fetches metadata for `topics` (`None`: every topic) and updates the
    /// cache with what comes back.
    pub async fn metadata(
        &self,
        topics: Option<Vec<String>>,
    ) -> Result<MetadataResponse, ClientError> {
        let response = self.call_idempotent(&MetadataRequest { topics }).await?;
        let bootstrap_host = host_of(&self.inner.config.bootstrap).to_owned();
        lock(&self.inner.metadata).update(&response, &bootstrap_host);
        Ok(response)
    }

    /// The topic's partitions and leaders: from the cache if fresh,
    /// otherwise from the broker. A topic that does not exist is a
    /// [`ClientError::Broker`] with `UNKNOWN_TOPIC_OR_PARTITION`.
    pub async fn topic(&self, name: &str) -> Result<Arc<TopicInfo>, ClientError> {
        if let Some(topic) = self.cached_topic(name, Instant::now()) {
            return Ok(topic);
        }
        self.refresh_topic(name).await
    }

    /// The topic's metadata if the cache holds it and it is younger than
    /// `metadata.max.age.ms` at `now`; never asks the broker. For hot paths
    /// that already read the clock.
    pub fn cached_topic(&self, name: &str, now: Instant) -> Option<Arc<TopicInfo>> {
        let max_age = self.inner.config.metadata_max_age;
        lock(&self.inner.metadata).topic(name, max_age, now)
    }

    /// Fetches the topic's metadata from the broker, bypassing the cache.
    pub async fn refresh_topic(&self, name: &str) -> Result<Arc<TopicInfo>, ClientError> {
        let response = self.metadata(Some(vec![name.to_owned()])).await?;
        let topic = response
            .topics
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| ClientError::Protocol {
                api: runnel_protocol::ApiKey::Metadata,
                addr: self.inner.config.bootstrap.clone(),
                reason: format!("topic {name:?} missing from the answer"),
            })?;
        BrokerError::check(topic.error_code, topic.error_message.clone())
            .map_err(|e| e.about(format!("topic {name:?}")))?;
        Ok(Arc::new(TopicInfo::from_metadata(topic)))
    }

    /// Drops a topic from the cache, so the next lookup asks the broker.
    pub fn invalidate_topic(&self, name: &str) {
        lock(&self.inner.metadata).invalidate(name);
    }
}

/// Locks a std mutex, ignoring poisoning: the guarded maps stay consistent
/// because no code path panics while holding them.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeBroker, Reply, metadata_for};
    use runnel_protocol::{Request, Response};
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let base = Duration::from_millis(50);
        let max = Duration::from_secs(1);
        let delays: Vec<u64> = (1..=7)
            .map(|n| u64::try_from(backoff_delay(base, max, n).as_millis()).unwrap())
            .collect();
        assert_eq!(delays, [50, 100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff_delay(base, max, u32::MAX), max);
        assert_eq!(backoff_delay(base, max, 0), base);
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        for _ in 0..100 {
            let d = jitter(Duration::from_secs(1)).as_millis();
            assert!((800..=1200).contains(&d), "{d}");
        }
    }

    #[tokio::test]
    async fn connect_to_nothing_fails_fast_with_a_printable_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let err = Client::connect(ClientConfig::new(&addr)).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("cannot reach broker at {addr}: connection refused")
        );
    }

    #[tokio::test]
    async fn reconnects_after_the_broker_drops_the_connection() {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let broker = FakeBroker::start(move |ctx, request| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            match request {
                // The first request kills its connection.
                Request::Metadata(_) if n == 0 => Reply::Close,
                Request::Metadata(_) => Reply::Respond(metadata_for(ctx.local_addr, &[("t", 2)])),
                _ => Reply::Close,
            }
        })
        .await;
        let client = Client::connect(ClientConfig::new(broker.addr()))
            .await
            .unwrap();
        let err = client
            .call(&MetadataRequest { topics: None })
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Disconnected { .. }), "{err:?}");
        let topic = client.topic("t").await.unwrap();
        assert_eq!(topic.partition_count(), 2);
        assert_eq!(broker.connections(), 2);
    }

    #[tokio::test]
    async fn reconnect_waits_out_the_backoff_and_then_succeeds() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let config = ClientConfig {
            reconnect_backoff: Duration::from_millis(20),
            ..ClientConfig::new(addr.to_string())
        };
        let client = Client::new(config);
        assert!(client.connection().await.is_err());
        let started = std::time::Instant::now();
        assert!(client.connection().await.is_err());
        // The second attempt waited out the (jittered) first backoff.
        assert!(started.elapsed() >= Duration::from_millis(15));
        let broker = FakeBroker::start_on(addr, |ctx, _| {
            Reply::Respond(metadata_for(ctx.local_addr, &[]))
        })
        .await;
        client.metadata(None).await.unwrap();
        assert_eq!(broker.connections(), 1);
    }

    #[tokio::test]
    async fn idempotent_calls_retry_a_lost_connection() {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let broker = FakeBroker::start(move |ctx, _| {
            if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                Reply::Close
            } else {
                Reply::Respond(metadata_for(ctx.local_addr, &[("t", 1)]))
            }
        })
        .await;
        let config = ClientConfig {
            reconnect_backoff: Duration::from_millis(1),
            ..ClientConfig::new(broker.addr())
        };
        let client = Client::connect(config).await.unwrap();
        let response = client.metadata(None).await.unwrap();
        assert_eq!(response.topics.len(), 1);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn unknown_topic_is_a_named_broker_error_and_not_cached() {
        let broker = FakeBroker::start(|ctx, request| match request {
            Request::Metadata(m) => {
                let mut response = metadata_for(ctx.local_addr, &[]);
                if let Response::Metadata(r) = &mut response {
                    for name in m.topics.unwrap_or_default() {
                        r.topics
                            .push(runnel_protocol::api::metadata::TopicMetadata {
                                name,
                                error_code: ErrorCode::UnknownTopicOrPartition,
                                error_message: Some("no such topic".into()),
                                ..Default::default()
                            });
                    }
                }
                Reply::Respond(response)
            }
            _ => Reply::Close,
        })
        .await;
        let client = Client::connect(ClientConfig::new(broker.addr()))
            .await
            .unwrap();
        let err = client.topic("nope").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "topic \"nope\": UNKNOWN_TOPIC_OR_PARTITION: no such topic"
        );
        assert!(err.invalidates_metadata());
    }

    #[tokio::test]
    async fn topic_metadata_is_cached_until_invalidated() {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let broker = FakeBroker::start(move |ctx, _| {
            seen.fetch_add(1, Ordering::SeqCst);
            Reply::Respond(metadata_for(ctx.local_addr, &[("t", 3)]))
        })
        .await;
        let client = Client::connect(ClientConfig::new(broker.addr()))
            .await
            .unwrap();
        client.topic("t").await.unwrap();
        client.topic("t").await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        client.invalidate_topic("t");
        let leader = client.leader_connection("t", PartitionId(2)).await.unwrap();
        assert!(!leader.is_closed());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let err = client
            .leader_connection("t", PartitionId(3))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "topic \"t\" has 3 partitions; partition 3 does not exist"
        );
    }

    #[tokio::test]
    async fn closed_client_refuses_calls() {
        let broker =
            FakeBroker::start(|ctx, _| Reply::Respond(metadata_for(ctx.local_addr, &[]))).await;
        let client = Client::connect(ClientConfig::new(broker.addr()))
            .await
            .unwrap();
        client.close();
        assert!(matches!(
            client.call(&MetadataRequest { topics: None }).await,
            Err(ClientError::Closed)
        ));
    }
}
