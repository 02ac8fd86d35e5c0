//! [`ConsumerError`]: why a consumer call failed.
//!
//! Messages read as one line, ready for a CLI to print:
//! `topic "orders" partition 2: corrupt data at offset 1200: batch CRC mismatch: ...`.
//!
//! The error is `Clone` because a partition's error is sticky: every
//! `poll` reports it again until the caller seeks the partition elsewhere.

use std::sync::Arc;

use runnel_client::{BrokerError, ClientError, ConfigError};
use runnel_protocol::record::RecordError;

/// Why a consumer call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConsumerError {
    /// A setting is unknown or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Talking to the broker failed (unreachable, lost connection, timeout,
    /// an error code for a metadata or offset lookup).
    #[error(transparent)]
    Client(Arc<ClientError>),
    /// The topic does not exist.
    #[error("topic {topic:?} does not exist")]
    UnknownTopic {
        /// The topic.
        topic: String,
    },
    /// The partition does not exist in the topic.
    #[error("topic {topic:?} has {partitions} partitions; partition {partition} does not exist")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: u32,
        /// How many partitions the topic has.
        partitions: usize,
    },
    /// A call named a partition that is not assigned to this consumer.
    #[error("topic {topic:?} partition {partition} is not assigned to this consumer")]
    NotAssigned {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
    },
    /// With `auto.offset.reset=none`, a partition has no position yet.
    #[error(
        "topic {topic:?} partition {partition} has no position and auto.offset.reset is none; \
         seek it first"
    )]
    NoPosition {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
    },
    /// With `auto.offset.reset=none`, the position is outside the
    /// partition's records (deleted by retention, or never written).
    #[error(
        "topic {topic:?} partition {partition}: offset {offset} is out of range \
         [{log_start_offset}, {high_watermark}] and auto.offset.reset is none"
    )]
    OffsetOutOfRange {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The position that was fetched.
        offset: i64,
        /// The first offset the partition holds.
        log_start_offset: i64,
        /// The offset after the last readable record.
        high_watermark: i64,
    },
    /// Fetched data failed its check: reported by the broker
    /// (`CORRUPT_DATA`: stored data failed its checksum) or found by the
    /// consumer (a batch's CRC or structure). The partition stops at
    /// `offset` until it is sought elsewhere.
    #[error("topic {topic:?} partition {partition}: corrupt data at offset {offset}: {cause}")]
    Corrupt {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The first offset that could not be read.
        offset: i64,
        /// What was wrong.
        #[source]
        cause: CorruptCause,
    },
    /// The broker refused to serve a partition with an error that retrying
    /// does not fix.
    #[error("topic {topic:?} partition {partition}: {source}")]
    Partition {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The broker's error.
        #[source]
        source: BrokerError,
    },
    /// A group call failed for the whole group: the member was fenced or
    /// removed, the group id or a group setting was refused.
    #[error("group {group:?}: {source}")]
    Group {
        /// The group.
        group: String,
        /// The broker's error.
        #[source]
        source: BrokerError,
    },
    /// The call does not fit how the consumer is being used (`assign`
    /// while subscribed to a group, `subscribe` without `group.id`, ...).
    #[error("{0}")]
    Usage(&'static str),
    /// The consumer was closed, or its fetcher stopped.
    #[error("the consumer is closed")]
    Closed,
}

/// Why fetched data is corrupt.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CorruptCause {
    /// The broker found its stored data damaged (`CORRUPT_DATA`).
    #[error(transparent)]
    Broker(BrokerError),
    /// The consumer found a batch damaged.
    #[error(transparent)]
    Record(RecordError),
}

impl From<ClientError> for ConsumerError {
    fn from(error: ClientError) -> Self {
        ConsumerError::Client(Arc::new(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnel_protocol::ErrorCode;

    #[test]
    fn messages_name_the_partition_and_offset() {
        let err = ConsumerError::Corrupt {
            topic: "orders".into(),
            partition: 2,
            offset: 1200,
            cause: CorruptCause::Broker(BrokerError::new(ErrorCode::CorruptData, None)),
        };
        assert_eq!(
            err.to_string(),
            "topic \"orders\" partition 2: corrupt data at offset 1200: \
             CORRUPT_DATA: data stored on the broker failed its checksum"
        );
        let err = ConsumerError::OffsetOutOfRange {
            topic: "t".into(),
            partition: 0,
            offset: 3,
            log_start_offset: 10,
            high_watermark: 20,
        };
        assert_eq!(
            err.to_string(),
            "topic \"t\" partition 0: offset 3 is out of range [10, 20] and auto.offset.reset is none"
        );
    }

    #[test]
    fn client_errors_keep_their_message() {
        let err = ConsumerError::from(ClientError::Closed);
        assert_eq!(err.to_string(), "the client is closed");
        assert!(std::error::Error::source(&err).is_none());
    }
}
