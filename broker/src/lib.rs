//! The Runnel broker.
//!
//! # Layout
//! - [`storage`]: the synchronous storage engine — segments, indexes,
//!   partition logs, flushing and recovery (see `broker/STORAGE.md`).

pub mod storage;
