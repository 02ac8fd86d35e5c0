//! A connection to a Runnel broker: request pipelining by correlation id,
//! reconnection with backoff, timeouts, a metadata cache and admin calls.
//!
//! # Layout
//! - [`connection`]: [`Connection`], one TCP connection pipelining typed
//!   requests ([`Connection::send`] queues a request and returns a
//!   [`ResponseFuture`]; [`Connection::call`] waits for the answer).
//! - [`client`]: [`Client`], connections to a cluster found from one
//!   bootstrap address, reconnect backoff, topic metadata.
//! - [`admin`]: topic, config, offset and API-version calls on [`Client`].
//! - [`metadata`]: [`TopicInfo`] and [`PartitionInfo`].
//! - [`config`]: [`ClientConfig`], settable by Kafka names.
//! - [`error`]: [`ClientError`], [`BrokerError`], [`DisconnectReason`].
//! - `testing` (feature `test-util`): `testing::FakeBroker`, an
//!   in-process broker stand-in for tests.
//!
//! # Example
//! ```no_run
//! # async fn run() -> Result<(), runnel_client::ClientError> {
//! use runnel_client::{Client, ClientConfig, NewTopic};
//!
//! let client = Client::connect(ClientConfig::new("127.0.0.1:9170")).await?;
//! client.create_topic(NewTopic::new("orders", Some(3))).await?;
//! for topic in client.list_topics().await? {
//!     println!("{} {}", topic.name, topic.partition_count());
//! }
//! # Ok(())
//! # }
//! ```

pub mod admin;
pub mod client;
pub mod config;
pub mod connection;
pub mod error;
pub mod metadata;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use admin::{ConfigChange, ConfigResource, CreatedTopic, NewTopic, PartitionOffset};
pub use client::{Client, backoff_delay};
pub use config::{ClientConfig, ConfigError, DEFAULT_BROKER};
pub use connection::{Connection, ResponseFuture, WriteFuture};
pub use error::{BrokerError, ClientError, DisconnectReason, invalidates_metadata};
pub use metadata::{PartitionInfo, TopicInfo};
