//! The Runnel consumer: reads records from assigned partitions, fetching
//! ahead in the background within a memory budget.
//!
//! # Example
//! ```no_run
//! # async fn run() -> Result<(), runnel_consumer::ConsumerError> {
//! use std::time::Duration;
//! use runnel_consumer::{Consumer, SeekTo};
//!
//! let mut consumer = Consumer::builder()
//!     .bootstrap("127.0.0.1:9170")
//!     .set("auto.offset.reset", "earliest")?
//!     .build()
//!     .await?;
//! consumer.assign_all("orders").await?;
//! loop {
//!     for record in consumer.poll(Duration::from_millis(500)).await? {
//!         let value = record.value.as_deref().unwrap_or_default();
//!         println!("{}-{}@{} {}", record.topic, record.partition, record.offset,
//!                  String::from_utf8_lossy(value));
//!     }
//! }
//! # }
//! ```
//!
//! # Layout
//! - [`consumer`]: [`Consumer`] (`assign` or `subscribe`, `seek`,
//!   `position`, `poll`, `recv`, `stream`, `commit`, `close`) and
//!   [`ConsumerBuilder`].
//! - [`config`]: [`ConsumerConfig`], settings by Apache Kafka's names,
//!   and [`AutoOffsetReset`].
//! - [`record`]: [`ConsumerRecord`] and [`TopicPartition`].
//! - [`seek`]: [`SeekTo`], where a seek moves a position.
//! - [`error`]: [`ConsumerError`], why a call failed.
//! - `fetcher`: the background task sending fetch requests.
//! - `state`: positions, epochs, the prefetch queue and its budget, shared
//!   by the consumer and the fetcher.
//! - `buffer`: fetched data of one partition, drained into records.
//! - `membership`: who decides the assignment: the application
//!   (`assign`) or a consumer group (`subscribe`).
//! - `group`: group membership — the heartbeat task, reconciling
//!   assignments, committed offsets — and [`Rebalance`].
//!
//! # Guarantees
//! - **Order.** Records of one partition are returned in offset order,
//!   each once, from the position on; a seek takes effect for the next
//!   record returned.
//! - **Efficiency.** One fetch request per broker covers every assigned
//!   partition it leads, long-polling (`fetch.max.wait.ms`,
//!   `fetch.min.bytes`) so an idle consumer costs one request per wait.
//!   Keys, values and header values are zero-copy slices of the response
//!   (of the decompressed batch, for a compressed one).
//! - **Bounded memory.** Fetched-but-unread bytes plus the `max_bytes` of
//!   fetches in flight stay within `fetch.buffer.bytes`. The one exception
//!   is Kafka's: a single batch larger than the limits is still fetched
//!   when it is first in line and nothing else is held, so the consumer
//!   never stalls on it.
//! - **Errors.** `OFFSET_OUT_OF_RANGE` moves the position per
//!   `auto.offset.reset` (`earliest`, `latest`), or, with `none`, is an
//!   error for the caller. Damaged data — a batch failing its CRC, or the
//!   broker's `CORRUPT_DATA` — is an error naming the partition and offset,
//!   raised after every good record before it. Lost connections and leader
//!   changes are retried after `retry.backoff.ms`.
//! - **Groups.** With `group.id`, [`Consumer::subscribe`] joins a consumer
//!   group: the broker assigns partitions, the member heartbeats on a
//!   connection of its own, and assignment changes take effect inside
//!   `poll`, where revoked partitions are committed (with
//!   `enable.auto.commit`) before they are given up. Positions are
//!   committed every `auto.commit.interval.ms`, on revocation and on
//!   `close`, or explicitly with [`Consumer::commit`].

pub mod config;
pub mod consumer;
pub mod error;
pub mod record;
pub mod seek;

mod buffer;
mod fetcher;
mod group;
mod membership;
mod state;

pub use config::{AutoOffsetReset, ConsumerConfig};
pub use consumer::{Consumer, ConsumerBuilder};
pub use error::{ConsumerError, CorruptCause};
pub use group::Rebalance;
pub use record::{ConsumerRecord, TopicPartition};
pub use runnel_protocol::record::{Header, RecordHeaders, TimestampType};
pub use seek::SeekTo;
