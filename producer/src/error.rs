//! [`ProducerError`]: why a record was not accepted or not delivered.
//!
//! The error is `Clone` because one failure (a batch's) is reported to every
//! record of the batch.

use std::sync::Arc;
use std::time::Duration;

use runnel_client::{BrokerError, ClientError, ConfigError};
use runnel_protocol::record::BuildError;

/// Why a record was not accepted or not delivered.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProducerError {
    /// A setting is unknown, malformed or conflicts with another.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Talking to the broker failed (unreachable, lost connection, timeout,
    /// metadata errors).
    #[error(transparent)]
    Client(Arc<ClientError>),
    /// The broker refused the batch holding the record.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// `buffer.memory` stayed full for `max.block.ms`: the broker is not
    /// taking records as fast as they are sent.
    #[error(
        "producer buffer full: no room for {needed} bytes within max.block.ms ({} ms); \
         buffer.memory is {buffer_memory} bytes",
        max_block.as_millis()
    )]
    BufferExhausted {
        /// Bytes the record needed.
        needed: usize,
        /// The wait allowed.
        max_block: Duration,
        /// The buffer size.
        buffer_memory: usize,
    },
    /// The record alone is larger than a setting allows.
    #[error("record of {size} bytes is larger than {setting} ({limit} bytes)")]
    RecordTooLarge {
        /// The record's size.
        size: usize,
        /// The limit.
        limit: usize,
        /// The setting imposing it.
        setting: &'static str,
    },
    /// The record was not acknowledged within `delivery.timeout.ms`.
    #[error(
        "record for topic {topic:?} partition {partition} not delivered within \
         delivery.timeout.ms ({} ms){}",
        timeout.as_millis(),
        last_error.as_ref().map(|e| format!("; last error: {e}")).unwrap_or_default()
    )]
    DeliveryTimeout {
        /// The topic.
        topic: Arc<str>,
        /// The partition.
        partition: u32,
        /// The timeout in force.
        timeout: Duration,
        /// The error of the last failed attempt, if any.
        last_error: Option<Box<ProducerError>>,
    },
    /// An earlier batch to the partition failed in a way that leaves the
    /// idempotent sequence broken, so the producer stopped sending to it.
    #[error("producing to topic {topic:?} partition {partition} stopped: {cause}")]
    PartitionFenced {
        /// The topic.
        topic: Arc<str>,
        /// The partition.
        partition: u32,
        /// What broke it.
        #[source]
        cause: Box<ProducerError>,
    },
    /// The partition does not exist.
    #[error("topic {topic:?} has {partitions} partitions; partition {partition} does not exist")]
    UnknownPartition {
        /// The topic.
        topic: Arc<str>,
        /// The partition asked for.
        partition: u32,
        /// How many the topic has.
        partitions: usize,
    },
    /// The batch could not be built (a record over the format's limits).
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The producer was closed; the record was not accepted.
    #[error("the producer is closed")]
    Closed,
}

impl From<ClientError> for ProducerError {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::Broker(e) => ProducerError::Broker(e),
            other => ProducerError::Client(Arc::new(other)),
        }
    }
}

impl ProducerError {
    /// Whether resending may succeed: network failures, timeouts and
    /// retriable broker codes.
    pub fn is_retriable(&self) -> bool {
        match self {
            ProducerError::Client(e) => e.is_retriable(),
            ProducerError::Broker(e) => e.code.is_retriable(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnel_protocol::ErrorCode;

    #[test]
    fn messages_name_the_setting() {
        let e = ProducerError::BufferExhausted {
            needed: 100,
            max_block: Duration::from_millis(50),
            buffer_memory: 1024,
        };
        assert_eq!(
            e.to_string(),
            "producer buffer full: no room for 100 bytes within max.block.ms (50 ms); \
             buffer.memory is 1024 bytes"
        );
        let e = ProducerError::DeliveryTimeout {
            topic: Arc::from("t"),
            partition: 2,
            timeout: Duration::from_secs(1),
            last_error: Some(Box::new(
                BrokerError::new(ErrorCode::NotLeader, None).into(),
            )),
        };
        assert_eq!(
            e.to_string(),
            "record for topic \"t\" partition 2 not delivered within delivery.timeout.ms (1000 ms); \
             last error: NOT_LEADER: this broker is not the leader of the partition"
        );
    }

    #[test]
    fn broker_errors_unwrap_from_client_errors() {
        let e = ProducerError::from(ClientError::Broker(BrokerError::new(
            ErrorCode::StorageFull,
            None,
        )));
        assert!(matches!(e, ProducerError::Broker(_)));
        assert!(e.is_retriable());
        assert!(!ProducerError::Closed.is_retriable());
    }
}
