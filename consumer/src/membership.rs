//! [`Membership`]: who decides which partitions a consumer reads, and
//! where a newly assigned partition starts.
//!
//! Today the application decides, through [`crate::Consumer::assign`]: a
//! partition starts where `auto.offset.reset` says. Consumer-group
//! membership is the second kind: a member task heartbeating on a
//! connection of its own (ConsumerGroupHeartbeat), whose answers change
//! the assignment between polls; newly assigned partitions start at the
//! group's committed offsets (OffsetFetch) and fall back on
//! `auto.offset.reset`; revoked partitions are committed and dropped before
//! the member reports them gone. Every place that depends on the kind of
//! membership goes through this type.

use std::collections::HashMap;

/// Who decides the assignment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Membership {
    /// The application assigns partitions itself; nothing is committed.
    #[default]
    Manual,
}

impl Membership {
    /// Committed positions for newly assigned `partitions` of `topic`, to
    /// start from instead of `auto.offset.reset`. A manual assignment has
    /// none.
    pub fn committed_offsets(&self, _topic: &str, _partitions: &[u32]) -> HashMap<u32, i64> {
        match self {
            Membership::Manual => HashMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_assignment_starts_from_the_reset_policy() {
        assert!(
            Membership::Manual
                .committed_offsets("t", &[0, 1])
                .is_empty()
        );
    }
}
