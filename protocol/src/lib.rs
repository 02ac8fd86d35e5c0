//! Runnel's bytes on the wire and on disk.
//!
//! This crate is sans-IO: it turns bytes into typed values and back, and
//! never touches a socket or a file.
//!
//! # Layout
//! - [`record`]: Apache Kafka's RecordBatch v2 (magic 2), the unit that is
//!   produced, stored and fetched unchanged.

pub mod record;
