//! [`Membership`]: who decides which partitions a consumer reads.
//!
//! - **Manual** ([`crate::Consumer::assign`]): the application. With
//!   `group.id` set, a newly assigned partition starts at the group's
//!   committed offset and positions are committed to the group as a
//!   consumer outside it (member id `""`, epoch -1, which the broker
//!   accepts while the group has no members).
//! - **Member** ([`crate::Consumer::subscribe`]): the group's coordinator,
//!   through the heartbeat task of [`GroupMember`].

use crate::group::{GroupCalls, GroupMember, outsider};

/// Who decides the assignment.
#[derive(Debug)]
pub(crate) enum Membership {
    /// The application assigns partitions; the group calls exist when
    /// `group.id` is set.
    Manual(Option<GroupCalls>),
    /// The consumer is a member of a group.
    Member(Box<GroupMember>),
}

impl Membership {
    /// The group calls, when there is a group.
    pub fn calls(&self) -> Option<&GroupCalls> {
        match self {
            Membership::Manual(calls) => calls.as_ref(),
            Membership::Member(member) => Some(&member.calls),
        }
    }

    /// The member id and epoch group calls are made as.
    pub fn identity(&self) -> (String, i32) {
        match self {
            Membership::Manual(_) => outsider(),
            Membership::Member(member) => member.identity(),
        }
    }

    /// Asks a group member to heartbeat now; nothing outside a group.
    pub fn heartbeat_soon(&self) {
        if let Membership::Member(member) = self {
            member.heartbeat_soon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_consumer_calls_from_outside_the_group() {
        let manual = Membership::Manual(None);
        assert!(manual.calls().is_none());
        assert_eq!(manual.identity(), (String::new(), -1));
    }
}
