//! Errors of the broker, and the one place they become wire error codes.

use runnel_protocol::ErrorCode;

use crate::group::GroupStoreError;
use crate::storage::StorageError;
use crate::storage::producers::SequenceError;
use crate::topics::TopicError;

/// Why the broker could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The storage engine failed (lock held, unreadable data...).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Loading topics failed.
    #[error(transparent)]
    Topics(#[from] TopicError),
    /// Loading the groups log failed.
    #[error(transparent)]
    Groups(#[from] GroupStoreError),
    /// Producer ids could not be allocated.
    #[error("cannot persist producer ids in {path}: {source}")]
    ProducerIds {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Binding a listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The wire error code for a storage error.
pub fn storage_error_code(e: &StorageError) -> ErrorCode {
    match e {
        StorageError::InvalidBatch(_) => ErrorCode::CorruptMessage,
        StorageError::BatchTooLarge { .. } => ErrorCode::MessageTooLarge,
        StorageError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
        StorageError::StorageFull { .. } => ErrorCode::StorageFull,
        StorageError::Corrupt { .. } => ErrorCode::CorruptData,
        StorageError::Sequence(SequenceError::OutOfOrder { .. }) => {
            ErrorCode::OutOfOrderSequenceNumber
        }
        StorageError::Sequence(SequenceError::StaleEpoch { .. }) => ErrorCode::InvalidProducerEpoch,
        StorageError::Fenced(_) | StorageError::Locked { .. } | StorageError::Io { .. } => {
            ErrorCode::StorageError
        }
    }
}

/// The wire error code for a topic error.
pub fn topic_error_code(e: &TopicError) -> ErrorCode {
    match e {
        TopicError::InvalidName(_) => ErrorCode::InvalidTopicException,
        TopicError::AlreadyExists(_) => ErrorCode::TopicAlreadyExists,
        TopicError::Unknown(_) => ErrorCode::UnknownTopicOrPartition,
        TopicError::InvalidPartitions(_) => ErrorCode::InvalidPartitions,
        TopicError::InvalidConfig(_) => ErrorCode::InvalidConfig,
        TopicError::Storage(s) => storage_error_code(s),
    }
}

/// A topic error as (code, message) for a response. Config errors carry
/// their cause chain so the message names key, value and what is allowed.
pub fn topic_error(e: &TopicError) -> (ErrorCode, String) {
    (topic_error_code(e), error_chain(e))
}

/// `e` and its sources, joined by `: `.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !msg.contains(&part) {
            msg.push_str(": ");
            msg.push_str(&part);
        }
        source = s.source();
    }
    msg
}
