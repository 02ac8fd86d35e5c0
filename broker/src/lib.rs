//! The Runnel broker.
//!
//! # Layout
//! - [`storage`]: the synchronous storage engine — segments, indexes,
//!   partition logs, flushing and recovery (see `broker/STORAGE.md`).
//! - [`topics`]: the topic registry; [`partition`]: a partition with its
//!   flush driver.
//! - [`server`]: the accept loop and lifecycle; [`connection`]: one client
//!   connection, pipelined; [`api`]: one module per API.
//! - [`producer_ids`]: idempotent producer ids; [`group`]: the group
//!   coordinator (membership, assignment, committed offsets).
//! - [`context`]: state the handlers share; [`error`]: broker errors and
//!   their wire codes; [`clock`]: wall-clock time.
//! - [`metrics`]: Prometheus metrics (`docs/METRICS.md`); [`http`]: the
//!   metrics listener (`/metrics`, `/health`); [`log_limit`]: rate-limited
//!   logging of client-provoked errors.

pub mod api;
pub mod clock;
pub mod connection;
pub mod context;
pub mod error;
pub mod group;
pub mod http;
pub mod log_limit;
pub mod metrics;
pub mod partition;
pub mod producer_ids;
pub mod server;
pub mod storage;
pub mod topics;

pub use error::BrokerError;
