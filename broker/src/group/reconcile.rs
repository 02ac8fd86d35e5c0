//! Moving one member toward its target assignment, one heartbeat at a time
//! (KIP-848's current assignment builder).
//!
//! The rules that keep a partition from ever having two owners:
//!
//! - A member that owns partitions outside its target keeps its epoch and
//!   is told to give them up (they stay *pending revocation*, still owned by
//!   it) until a heartbeat lists them no longer.
//! - A member that has nothing to give up moves to the target epoch and
//!   receives the partitions of its target that no other member owns
//!   (assigned or pending revocation); the others it receives on a later
//!   heartbeat, once their owner has released them.
//! - Partitions in both the old and the new assignment are never touched.

use runnel_protocol::PartitionId;

use super::assignment::Assignment;
use super::state::{CurrentAssignment, MemberState};

/// The member's next current assignment, from its current one, its target
/// at `target_epoch`, the partitions it reports owning (`None` when it did
/// not say) and a test of whether another member owns a partition.
pub fn reconcile(
    current: &CurrentAssignment,
    target: &Assignment,
    target_epoch: i32,
    owned: Option<&Assignment>,
    owned_by_others: &dyn Fn(&str, PartitionId) -> bool,
) -> CurrentAssignment {
    let mut next = current.clone();
    if next.state == MemberState::UnrevokedPartitions {
        let confirmed = owned.is_some_and(|o| o.is_disjoint(&next.pending_revocation));
        if !confirmed {
            return next;
        }
        next.pending_revocation = Assignment::new();
        next.state = MemberState::Stable;
    }
    if next.member_epoch >= target_epoch {
        // At the target epoch the target is fixed: only partitions still
        // held by others can be missing.
        if next.state == MemberState::UnreleasedPartitions {
            let (free, waiting) = split_free(&target.difference(&next.assigned), owned_by_others);
            next.assigned = next.assigned.union(&free);
            if waiting.is_empty() {
                next.state = MemberState::Stable;
            }
        }
        return next;
    }
    let kept = next.assigned.intersection(target);
    let revoked = next.assigned.difference(target);
    if !revoked.is_empty() {
        next.state = MemberState::UnrevokedPartitions;
        next.assigned = kept;
        next.pending_revocation = revoked;
        return next;
    }
    let (free, waiting) = split_free(&target.difference(&kept), owned_by_others);
    next.previous_member_epoch = next.member_epoch;
    next.member_epoch = target_epoch;
    next.assigned = kept.union(&free);
    next.state = if waiting.is_empty() {
        MemberState::Stable
    } else {
        MemberState::UnreleasedPartitions
    };
    next
}

/// Splits `wanted` into (free, still owned by another member).
fn split_free(
    wanted: &Assignment,
    owned_by_others: &dyn Fn(&str, PartitionId) -> bool,
) -> (Assignment, Assignment) {
    let mut free = Assignment::new();
    let mut waiting = Assignment::new();
    for (t, p) in wanted.iter() {
        if owned_by_others(t, p) {
            waiting.insert(t, p);
        } else {
            free.insert(t, p);
        }
    }
    (free, waiting)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(ps: &[u32]) -> Assignment {
        ps.iter().map(|p| ("t", PartitionId(*p))).collect()
    }

    fn nobody(_: &str, _: PartitionId) -> bool {
        false
    }

    fn stable(epoch: i32, ps: &[u32]) -> CurrentAssignment {
        CurrentAssignment {
            member_epoch: epoch,
            previous_member_epoch: epoch - 1,
            state: MemberState::Stable,
            assigned: a(ps),
            pending_revocation: Assignment::new(),
        }
    }

    #[test]
    fn a_member_at_the_target_stays() {
        let cur = stable(3, &[0, 1]);
        assert_eq!(reconcile(&cur, &a(&[0, 1]), 3, None, &nobody), cur);
    }

    #[test]
    fn free_partitions_are_added_with_the_new_epoch() {
        let next = reconcile(&stable(3, &[0]), &a(&[0, 1]), 4, None, &nobody);
        assert_eq!(
            next,
            CurrentAssignment {
                member_epoch: 4,
                previous_member_epoch: 3,
                state: MemberState::Stable,
                assigned: a(&[0, 1]),
                pending_revocation: Assignment::new(),
            }
        );
    }

    #[test]
    fn revocation_comes_first_and_keeps_the_epoch() {
        let next = reconcile(&stable(3, &[0, 1, 2]), &a(&[0, 3]), 4, None, &nobody);
        assert_eq!(next.state, MemberState::UnrevokedPartitions);
        assert_eq!(next.member_epoch, 3);
        assert_eq!(next.assigned, a(&[0]));
        assert_eq!(next.pending_revocation, a(&[1, 2]));
        // Still listing a revoked partition: nothing changes.
        let again = reconcile(&next, &a(&[0, 3]), 4, Some(&a(&[0, 1])), &nobody);
        assert_eq!(again, next);
        // Not saying: nothing changes either.
        assert_eq!(reconcile(&next, &a(&[0, 3]), 4, None, &nobody), next);
        // Confirmed: moves on and receives the new partition.
        let done = reconcile(&next, &a(&[0, 3]), 4, Some(&a(&[0])), &nobody);
        assert_eq!(
            done,
            CurrentAssignment {
                member_epoch: 4,
                previous_member_epoch: 3,
                state: MemberState::Stable,
                assigned: a(&[0, 3]),
                pending_revocation: Assignment::new(),
            }
        );
    }

    #[test]
    fn partitions_owned_elsewhere_wait() {
        let held = |_: &str, p: PartitionId| p.0 == 5;
        let next = reconcile(&stable(1, &[]), &a(&[4, 5]), 2, None, &held);
        assert_eq!(next.member_epoch, 2);
        assert_eq!(next.state, MemberState::UnreleasedPartitions);
        assert_eq!(next.assigned, a(&[4]));
        // Still held: unchanged.
        assert_eq!(reconcile(&next, &a(&[4, 5]), 2, None, &held), next);
        // Released: received without a new epoch.
        let done = reconcile(&next, &a(&[4, 5]), 2, None, &nobody);
        assert_eq!(done.member_epoch, 2);
        assert_eq!(done.state, MemberState::Stable);
        assert_eq!(done.assigned, a(&[4, 5]));
    }
}
