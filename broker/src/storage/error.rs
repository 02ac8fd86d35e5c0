//! Errors of the storage engine.

use std::io;
use std::path::PathBuf;

use runnel_protocol::record::RecordError;

use super::offset::Offset;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The batch offered for append is malformed.
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[source] RecordError),
    /// The batch is larger than `max.message.bytes`.
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    BatchTooLarge {
        /// Size of the batch.
        size: usize,
        /// The configured limit.
        max: usize,
    },
    /// The requested offset is outside `[log_start, log_end]`.
    #[error("offset {offset} is out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: Offset,
        /// First offset still in the log.
        log_start: Offset,
        /// Next offset to be written.
        log_end: Offset,
    },
    /// No space left to grow a file; nothing was written.
    #[error("storage full: cannot grow {path}: {source}")]
    StorageFull {
        /// The file that could not grow.
        path: PathBuf,
        /// The underlying error (ENOSPC or EDQUOT).
        #[source]
        source: io::Error,
    },
    /// An earlier write or fsync failed; the partition refuses writes until
    /// the broker restarts and recovers it from what is on disk.
    #[error("partition is fenced after an I/O error: {0}")]
    Fenced(String),
    /// Data on disk failed validation where it must be intact.
    #[error("corrupt data in {path} at position {position}: {reason}")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte position of the damage.
        position: u64,
        /// What was wrong.
        reason: String,
    },
    /// An idempotent producer's batch is out of sequence or from a fenced
    /// epoch.
    #[error(transparent)]
    Sequence(#[from] super::producers::SequenceError),
    /// The data directory is locked by another process.
    #[error("data directory {path} is in use by another process{holder}")]
    Locked {
        /// The data directory.
        path: PathBuf,
        /// ` (pid N)` when the holder wrote its pid.
        holder: String,
    },
    /// Any other I/O failure, with the file it concerned.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl StorageError {
    /// Wraps an I/O error with the path it concerned.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        StorageError::Io {
            path: path.into(),
            source,
        }
    }

    /// Wraps an error from growing a file: out-of-space becomes
    /// [`StorageError::StorageFull`], anything else [`StorageError::Io`].
    pub fn grow(path: impl Into<PathBuf>, source: io::Error) -> Self {
        let full = matches!(source.raw_os_error(), Some(code) if code == rustix::io::Errno::NOSPC.raw_os_error() || code == rustix::io::Errno::DQUOT.raw_os_error())
            || source.kind() == io::ErrorKind::StorageFull;
        if full {
            StorageError::StorageFull {
                path: path.into(),
                source,
            }
        } else {
            StorageError::io(path, source)
        }
    }
}

/// Result alias for storage operations.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
