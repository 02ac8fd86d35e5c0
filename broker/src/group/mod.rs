//! The group coordinator: consumer group membership, incremental
//! (cooperative) assignment and committed offsets, decided by the broker
//! (DESIGN §6, `PROTOCOL.md` §7.11).
//!
//! # Design
//!
//! The coordinator is pure logic after Kafka's `CoordinatorRuntime`: a call
//! is `(state, request, now_ms) -> (records, response)` ([`Coordinator`],
//! [`Outcome`]). The driver ([`GroupCoordinator`]) appends the records to
//! the groups log, applies them to the state with the same function that
//! replays the log at startup ([`state::Groups::apply`]), waits for the log
//! to be durable and answers. The state after a restart is therefore
//! exactly the state before it.
//!
//! - [`assignment`]: [`Assignment`], a set of partitions by topic.
//! - [`assignor`]: `range`, `roundrobin` and `sticky` (the default).
//! - [`reconcile`]: how one member moves toward its target, one heartbeat
//!   at a time, without a partition ever having two owners.
//! - [`state`]: groups, members, targets and offsets; applying records.
//! - [`records`]: the records and their byte layout.
//! - [`coordinator`]: the decisions of every group API.
//! - [`store`]: the groups log on the storage engine, replay and
//!   compaction by snapshot.
//! - [`driver`]: locking, group-commit flushing, the expiry timer.
//! - [`lag`]: records and time behind, per partition.
//!
//! # Invariants
//!
//! 1. A partition is owned (assigned or pending revocation) by at most one
//!    member of a group at any time.
//! 2. A member's epoch never decreases, and is at most the group's
//!    assignment epoch, which equals the group epoch once a call ends.
//! 3. A partition that moves is revoked from its old owner first and given
//!    to the new one only after the old owner's heartbeat stops listing it,
//!    or the old owner is removed (session or rebalance timeout, leave).
//! 4. No response reflects state that is not yet durable.
//!
//! # Persistence
//!
//! `<data_dir>/groups/` is one partition log of RecordBatch v2 batches
//! whose records are key/value pairs: key = record type + group (+ member
//! or topic/partition), value = the payload, null = tombstone (layouts in
//! [`records`]). It is compacted by writing a snapshot of the live state
//! into a fresh segment and deleting the older ones once the log has grown
//! past twice the last snapshot (see [`store`]).

pub mod assignment;
pub mod assignor;
pub mod coordinator;
pub mod driver;
pub mod lag;
pub mod reconcile;
pub mod records;
pub mod state;
pub mod store;

// The scenario runner is also the fuzz target's model (`fuzz/`, feature
// `fuzzing`); it is not part of the broker's API.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod scenario;

pub use assignment::Assignment;
pub use assignor::Assignor;
pub use coordinator::{
    Coordinator, CoordinatorConfig, ExpiredMember, MemberOrigin, Outcome, RemovalReason,
    TopicMetadata,
};
pub use driver::{GroupCoordinator, GroupLoadReport};
pub use records::GroupRecord;
pub use store::{GroupStore, GroupStoreError, StoreConfig};
