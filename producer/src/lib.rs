//! The Runnel producer: batching, partitioning, acks, retries, idempotence
//! and compression.
//!
//! # Layout
//! - [`producer`]: [`Producer`] (`send`, `enqueue`, `flush`, `close`) and
//!   [`ProducerBuilder`].
//! - [`config`]: [`ProducerConfig`], settings by Apache Kafka's names.
//! - [`record`]: [`ProducerRecord`] and [`RecordMetadata`].
//! - [`partitioner`]: Kafka's murmur2 key partitioner and the sticky
//!   partitioner for keyless records.
//! - `accumulator`: per-partition batches, buffer memory, sequence numbers,
//!   retries in order.
//! - `sender`: one task per broker turning ready batches into pipelined
//!   produce requests.
//! - `delivery`: [`DeliveryFuture`], one shared completion per batch.
//! - [`error`]: why a record failed ([`ProducerError`]).
//!
//! # Guarantees
//! - Records sent one after another to a partition are written in that
//!   order; with idempotence (the default) retries never duplicate or
//!   reorder them.
//! - Memory is bounded by `buffer.memory`: `send` waits up to
//!   `max.block.ms` for room, then fails.
//! - Every accepted record gets an outcome within `delivery.timeout.ms`;
//!   `close` delivers everything accepted.

mod accumulator;
pub mod config;
mod delivery;
pub mod error;
pub mod partitioner;
pub mod producer;
pub mod record;
mod sender;

pub use config::ProducerConfig;
pub use delivery::DeliveryFuture;
pub use error::ProducerError;
pub use partitioner::{murmur2, partition_for_key};
pub use producer::{Producer, ProducerBuilder, partition_of_key};
pub use record::{ProducerRecord, RecordMetadata};
pub use runnel_protocol::api::produce::Acks;
pub use runnel_protocol::record::Compression;
