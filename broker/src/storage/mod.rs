//! The storage engine: partition logs made of memory-mapped segment files
//! with sparse offset and time indexes. Synchronous and single-writer per
//! partition; no tokio here. The on-disk format, the invariants and the
//! recovery procedure are specified in `broker/STORAGE.md`.
//!
//! # Layout
//! - [`offset`]: newtypes for offsets, relative offsets and file positions.
//! - [`fs`]: the file-system traits all I/O goes through, and the real,
//!   mmap-backed implementation; [`sim`]: a simulated disk for crash tests.
//! - `mmap`: the only `unsafe` code — shared writable maps.
//! - `index`, `segment`: sparse indexes and one segment's files.
//! - [`log`]: [`PartitionLog`], its readers and flush jobs.
//! - [`producers`]: idempotent-producer sequence state per partition.
//! - [`data_dir`]: the data directory lock and clean-shutdown marker.
//! - [`check`]: offline verification and segment dumps.
//! - [`stats`]: process-wide counters of open files, maps and fsyncs.

pub mod check;
mod config;
pub mod data_dir;
mod error;
pub mod fs;
mod index;
pub mod log;
mod mmap;
pub mod offset;
pub mod producers;
mod segment;
pub mod sim;
pub mod stats;

pub use config::LogConfig;
pub use data_dir::DataDir;
pub use error::{Result, StorageError};
pub use fs::{Fs, OsFs, StorageFile};
pub use log::{
    AppendInfo, FlushJob, LogReader, PartitionLog, ReadResult, RecoveryReport, Visibility,
};
pub use offset::{FilePosition, Offset, RelativeOffset, TimestampMs};
