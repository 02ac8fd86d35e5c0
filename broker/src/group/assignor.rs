//! Server-side assignors: given the members' subscriptions, the partition
//! counts of the subscribed topics and the previous target, compute the new
//! target assignment.
//!
//! Every assignor gives each partition of a subscribed topic to exactly one
//! member subscribed to that topic, and every member an entry (possibly
//! empty). They differ in what else they promise:
//!
//! - [`Assignor::Range`]: per topic, the subscribed members in id order take
//!   contiguous ranges, the first `n % m` one partition more. Balanced per
//!   topic; ignores the previous target.
//! - [`Assignor::RoundRobin`]: partitions in (topic, partition) order are
//!   dealt to the members in id order, skipping members not subscribed to
//!   the topic. With equal subscriptions, counts differ by at most one.
//!   Ignores the previous target.
//! - [`Assignor::Sticky`] (the default): *balanced* — no partition could
//!   move to another member subscribed to its topic that holds at least two
//!   fewer partitions — and sticky: every partition of the previous target
//!   stays where it was unless balance requires it to move, so a rebalance
//!   moves as few partitions as possible. With equal subscriptions, counts
//!   differ by at most one.
//!
//! All three are deterministic: the same input gives the same output.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use runnel_protocol::PartitionId;

use super::assignment::Assignment;

/// A server-side assignor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Assignor {
    /// Contiguous ranges per topic.
    Range,
    /// Partitions dealt out in turn.
    RoundRobin,
    /// Balanced with the fewest moves.
    #[default]
    Sticky,
}

/// What one member brings to an assignment.
#[derive(Debug, Clone, Copy)]
pub struct MemberSpec<'a> {
    /// The topics it subscribes to.
    pub subscribed: &'a BTreeSet<String>,
    /// Its previous target, which the sticky assignor keeps where it can.
    pub previous: Option<&'a Assignment>,
}

/// The input of an assignor.
#[derive(Debug, Clone)]
pub struct AssignmentSpec<'a> {
    /// Members by id.
    pub members: BTreeMap<&'a str, MemberSpec<'a>>,
    /// Partition counts of the subscribed topics that exist.
    pub topics: &'a BTreeMap<String, u32>,
}

impl Assignor {
    /// Every assignor.
    pub const ALL: [Assignor; 3] = [Assignor::Range, Assignor::RoundRobin, Assignor::Sticky];

    /// The name members use in `server_assignor`.
    pub const fn name(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::RoundRobin => "roundrobin",
            Assignor::Sticky => "sticky",
        }
    }

    /// The assignor of a name, if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Assignor::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Computes the target assignment: one entry per member.
    pub fn assign(self, spec: &AssignmentSpec<'_>) -> BTreeMap<String, Assignment> {
        match self {
            Assignor::Range => range(spec),
            Assignor::RoundRobin => round_robin(spec),
            Assignor::Sticky => sticky(spec),
        }
    }
}

/// Every partition of every topic, in (topic, partition) order.
fn all_partitions(topics: &BTreeMap<String, u32>) -> impl Iterator<Item = (&str, PartitionId)> {
    topics
        .iter()
        .flat_map(|(t, n)| (0..*n).map(move |p| (t.as_str(), PartitionId(p))))
}

fn empty_result(spec: &AssignmentSpec<'_>) -> BTreeMap<String, Assignment> {
    spec.members
        .keys()
        .map(|m| ((*m).to_owned(), Assignment::new()))
        .collect()
}

fn range(spec: &AssignmentSpec<'_>) -> BTreeMap<String, Assignment> {
    let mut out = empty_result(spec);
    for (topic, &count) in spec.topics {
        let members: Vec<&str> = spec
            .members
            .iter()
            .filter(|(_, m)| m.subscribed.contains(topic))
            .map(|(id, _)| *id)
            .collect();
        let Ok(n) = u32::try_from(members.len()) else {
            continue;
        };
        if n == 0 {
            continue;
        }
        let (quota, extra) = (count / n, count % n);
        let mut next = 0u32;
        for (i, member) in (0u32..).zip(&members) {
            let take = quota + u32::from(i < extra);
            if let Some(a) = out.get_mut(*member) {
                for p in next..next + take {
                    a.insert(topic, PartitionId(p));
                }
            }
            next += take;
        }
    }
    out
}

fn round_robin(spec: &AssignmentSpec<'_>) -> BTreeMap<String, Assignment> {
    let mut out = empty_result(spec);
    let members: Vec<(&str, &MemberSpec<'_>)> = spec.members.iter().map(|(k, v)| (*k, v)).collect();
    if members.is_empty() {
        return out;
    }
    let mut cursor = 0;
    for (topic, partition) in all_partitions(spec.topics) {
        let found = (0..members.len())
            .map(|i| (cursor + i) % members.len())
            .find(|&i| members[i].1.subscribed.contains(topic));
        if let Some(i) = found {
            if let Some(a) = out.get_mut(members[i].0) {
                a.insert(topic, partition);
            }
            cursor = (i + 1) % members.len();
        }
    }
    out
}

/// Working state of the sticky assignor.
struct Sticky<'s, 'a> {
    /// The input.
    spec: &'s AssignmentSpec<'a>,
    /// The assignment being built.
    out: BTreeMap<String, Assignment>,
    /// Partitions per member, kept in step with `out`.
    counts: HashMap<&'a str, usize>,
}

impl<'a> Sticky<'_, 'a> {
    fn give(&mut self, member: &'a str, topic: &str, partition: PartitionId) {
        if let Some(a) = self.out.get_mut(member) {
            a.insert(topic, partition);
            *self.counts.entry(member).or_default() += 1;
        }
    }

    fn count(&self, member: &str) -> usize {
        self.counts.get(member).copied().unwrap_or(0)
    }

    /// The member subscribed to `topic` with the fewest partitions (first by
    /// id on ties).
    fn least_loaded(&self, topic: &str) -> Option<&'a str> {
        self.spec
            .members
            .iter()
            .filter(|(_, m)| m.subscribed.contains(topic))
            .min_by_key(|(id, _)| (self.count(id), **id))
            .map(|(id, _)| *id)
    }

    /// Moves one partition from a member to one holding at least two fewer
    /// that subscribes to its topic; `false` when no such move exists (the
    /// assignment is balanced).
    fn move_one(&mut self) -> bool {
        let mut by_load: Vec<&'a str> = self.spec.members.keys().copied().collect();
        by_load.sort_by_key(|id| (std::cmp::Reverse(self.count(id)), *id));
        for &from in &by_load {
            let from_count = self.count(from);
            for &to in by_load.iter().rev() {
                if self.count(to) + 1 >= from_count {
                    break;
                }
                let Some(subscribed) = self.spec.members.get(to).map(|m| m.subscribed) else {
                    continue;
                };
                // The highest partition moves, so low partitions stay put.
                let candidate = self.out.get(from).and_then(|a| {
                    a.iter()
                        .filter(|(t, _)| subscribed.contains(*t))
                        .last()
                        .map(|(t, p)| (t.to_owned(), p))
                });
                if let Some((topic, partition)) = candidate {
                    if let Some(a) = self.out.get_mut(from) {
                        a.remove(&topic, partition);
                    }
                    if let Some(c) = self.counts.get_mut(from) {
                        *c -= 1;
                    }
                    self.give(to, &topic, partition);
                    return true;
                }
            }
        }
        false
    }
}

fn sticky(spec: &AssignmentSpec<'_>) -> BTreeMap<String, Assignment> {
    let mut s = Sticky {
        spec,
        out: empty_result(spec),
        counts: HashMap::new(),
    };
    let mut taken: BTreeSet<(&str, PartitionId)> = BTreeSet::new();
    // 1. Keep every previous partition that is still valid for its member.
    for (&id, member) in &spec.members {
        let Some(previous) = member.previous else {
            continue;
        };
        for (topic, partition) in previous.iter() {
            let exists = spec.topics.get(topic).is_some_and(|n| partition.0 < *n);
            if exists && member.subscribed.contains(topic) && taken.insert((topic, partition)) {
                s.give(id, topic, partition);
            }
        }
    }
    // 2. Give every partition nobody kept to the least loaded subscriber.
    for (topic, partition) in all_partitions(spec.topics) {
        if !taken.contains(&(topic, partition))
            && let Some(id) = s.least_loaded(topic)
        {
            s.give(id, topic, partition);
        }
    }
    // 3. Move partitions from the most to the least loaded until balanced.
    while s.move_one() {}
    s.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Owned input for building an [`AssignmentSpec`].
    #[derive(Debug, Clone)]
    struct Input {
        members: BTreeMap<String, (BTreeSet<String>, Assignment)>,
        topics: BTreeMap<String, u32>,
    }

    impl Input {
        fn spec(&self) -> AssignmentSpec<'_> {
            AssignmentSpec {
                members: self
                    .members
                    .iter()
                    .map(|(id, (subscribed, previous))| {
                        (
                            id.as_str(),
                            MemberSpec {
                                subscribed,
                                previous: Some(previous),
                            },
                        )
                    })
                    .collect(),
                topics: &self.topics,
            }
        }
    }

    fn input(members: &[(&str, &[&str])], topics: &[(&str, u32)]) -> Input {
        Input {
            members: members
                .iter()
                .map(|(id, subs)| {
                    (
                        (*id).to_owned(),
                        (
                            subs.iter().map(|s| (*s).to_owned()).collect(),
                            Assignment::new(),
                        ),
                    )
                })
                .collect(),
            topics: topics.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect(),
        }
    }

    /// Every partition exactly once, to a subscribed member; every member
    /// present.
    fn check_complete(input: &Input, out: &BTreeMap<String, Assignment>) {
        assert_eq!(
            out.keys().collect::<Vec<_>>(),
            input.members.keys().collect::<Vec<_>>()
        );
        let mut seen = BTreeSet::new();
        for (id, a) in out {
            for (t, p) in a.iter() {
                assert!(input.members[id].0.contains(t), "{id} got {t} unsubscribed");
                assert!(input.topics.get(t).is_some_and(|n| p.0 < *n));
                assert!(seen.insert((t.to_owned(), p)), "{t}:{p} twice");
            }
        }
        let expected: usize = input
            .topics
            .iter()
            .filter(|(t, _)| input.members.values().any(|(s, _)| s.contains(*t)))
            .map(|(_, n)| *n as usize)
            .sum();
        assert_eq!(seen.len(), expected);
    }

    /// No partition could move to a subscribed member with two fewer.
    fn is_balanced(input: &Input, out: &BTreeMap<String, Assignment>) -> bool {
        out.iter().all(|(from, a)| {
            a.iter().all(|(t, _)| {
                input.members.iter().all(|(to, (subs, _))| {
                    !subs.contains(t) || out[to].len() + 1 >= a.len() || to == from
                })
            })
        })
    }

    fn counts(out: &BTreeMap<String, Assignment>) -> Vec<usize> {
        out.values().map(Assignment::len).collect()
    }

    #[test]
    fn names_round_trip() {
        for a in Assignor::ALL {
            assert_eq!(Assignor::from_name(a.name()), Some(a));
        }
        assert_eq!(Assignor::from_name("uniform"), None);
        assert_eq!(Assignor::default(), Assignor::Sticky);
    }

    #[test]
    fn range_gives_contiguous_ranges_in_member_order() {
        let i = input(&[("a", &["t"]), ("b", &["t"])], &[("t", 5)]);
        let out = Assignor::Range.assign(&i.spec());
        assert_eq!(out["a"].to_string(), "t:0,1,2");
        assert_eq!(out["b"].to_string(), "t:3,4");
    }

    #[test]
    fn round_robin_deals_in_turn() {
        let i = input(
            &[("a", &["t", "u"]), ("b", &["t", "u"])],
            &[("t", 3), ("u", 2)],
        );
        let out = Assignor::RoundRobin.assign(&i.spec());
        assert_eq!(out["a"].to_string(), "t:0,2 u:1");
        assert_eq!(out["b"].to_string(), "t:1 u:0");
    }

    #[test]
    fn round_robin_skips_members_not_subscribed() {
        let i = input(&[("a", &["t"]), ("b", &["u"])], &[("t", 2), ("u", 2)]);
        let out = Assignor::RoundRobin.assign(&i.spec());
        assert_eq!(out["a"].to_string(), "t:0,1");
        assert_eq!(out["b"].to_string(), "u:0,1");
    }

    #[test]
    fn sticky_keeps_partitions_when_a_member_joins() {
        let mut i = input(&[("a", &["t"]), ("b", &["t"])], &[("t", 6)]);
        let first = Assignor::Sticky.assign(&i.spec());
        assert_eq!(counts(&first), [3, 3]);
        for (id, a) in &first {
            i.members.get_mut(id).unwrap().1 = a.clone();
        }
        i.members.insert(
            "c".into(),
            (BTreeSet::from(["t".to_owned()]), Assignment::new()),
        );
        let second = Assignor::Sticky.assign(&i.spec());
        assert_eq!(counts(&second), [2, 2, 2]);
        for id in ["a", "b"] {
            assert!(
                second[id].is_subset(&first[id]),
                "{id} lost more than needed"
            );
        }
    }

    #[test]
    fn sticky_balances_unequal_subscriptions() {
        let i = input(
            &[("a", &["t", "u"]), ("b", &["t"]), ("c", &["u"])],
            &[("t", 4), ("u", 4)],
        );
        let out = Assignor::Sticky.assign(&i.spec());
        check_complete(&i, &out);
        assert!(is_balanced(&i, &out), "{out:?}");
    }

    #[test]
    fn no_members_or_no_topics_assign_nothing() {
        for assignor in Assignor::ALL {
            let i = input(&[], &[("t", 3)]);
            assert!(assignor.assign(&i.spec()).is_empty());
            let i = input(&[("a", &["t"])], &[]);
            assert_eq!(assignor.assign(&i.spec())["a"], Assignment::new());
        }
    }

    /// Inputs with equal or mixed subscriptions and an arbitrary previous
    /// target (valid or not).
    fn arb_input(homogeneous: bool) -> impl Strategy<Value = Input> {
        let topics = proptest::collection::btree_map("[a-d]", 1u32..9, 1..4);
        (topics, 1usize..7).prop_flat_map(move |(topics, n_members)| {
            let names: Vec<String> = topics.keys().cloned().collect();
            let subs = proptest::sample::subsequence(names.clone(), 1..=names.len());
            let previous = proptest::collection::vec(("[a-e]", 0u32..10), 0..12);
            let member = (subs, previous);
            proptest::collection::vec(member, n_members).prop_map(move |ms| {
                let all: BTreeSet<String> = names.iter().cloned().collect();
                let members = ms
                    .into_iter()
                    .enumerate()
                    .map(|(i, (subs, prev))| {
                        let subs: BTreeSet<String> = if homogeneous {
                            all.clone()
                        } else {
                            subs.into_iter().collect()
                        };
                        let prev: Assignment = prev
                            .iter()
                            .map(|(t, p)| (t.as_str(), PartitionId(*p)))
                            .collect();
                        (format!("m{i}"), (subs, prev))
                    })
                    .collect();
                Input {
                    members,
                    topics: topics.clone(),
                }
            })
        })
    }

    /// The fewest previously held partitions that must change owner, with
    /// equal subscriptions: members above the ceiling shed the excess, and
    /// at most `total % members` members may stay at the ceiling.
    fn min_moves(input: &Input) -> usize {
        let total: usize = input.topics.values().map(|n| *n as usize).sum();
        let m = input.members.len();
        let (ceil, extra) = (total.div_ceil(m), total % m);
        // Valid kept partitions per member, deduplicated in member order as
        // the assignor does.
        let mut taken = BTreeSet::new();
        let kept: Vec<usize> = input
            .members
            .values()
            .map(|(subs, prev)| {
                prev.iter()
                    .filter(|(t, p)| {
                        subs.contains(*t)
                            && input.topics.get(*t).is_some_and(|n| p.0 < *n)
                            && taken.insert(((*t).to_owned(), *p))
                    })
                    .count()
            })
            .collect();
        let over: usize = kept.iter().map(|k| k.saturating_sub(ceil)).sum();
        let at_ceiling = kept.iter().filter(|k| **k >= ceil).count();
        let must_drop = if extra == 0 {
            0
        } else {
            at_ceiling.saturating_sub(extra)
        };
        over + must_drop
    }

    /// Previously held (valid, first-claimed) partitions that changed owner.
    fn moves(input: &Input, out: &BTreeMap<String, Assignment>) -> usize {
        let mut taken = BTreeSet::new();
        input
            .members
            .iter()
            .map(|(id, (subs, prev))| {
                prev.iter()
                    .filter(|(t, p)| {
                        subs.contains(*t)
                            && input.topics.get(*t).is_some_and(|n| p.0 < *n)
                            && taken.insert(((*t).to_owned(), *p))
                    })
                    .filter(|(t, p)| !out[id].contains(t, *p))
                    .count()
            })
            .sum()
    }

    proptest! {
        #[test]
        fn every_assignor_assigns_each_partition_once(i in arb_input(false)) {
            for assignor in Assignor::ALL {
                check_complete(&i, &assignor.assign(&i.spec()));
            }
        }

        #[test]
        fn range_is_balanced_per_topic(i in arb_input(false)) {
            let out = Assignor::Range.assign(&i.spec());
            for topic in i.topics.keys() {
                let per: Vec<usize> = out
                    .iter()
                    .filter(|(id, _)| i.members[*id].0.contains(topic))
                    .map(|(_, a)| a.iter().filter(|(t, _)| t == topic).count())
                    .collect();
                let (lo, hi) = (per.iter().min(), per.iter().max());
                if let (Some(lo), Some(hi)) = (lo, hi) {
                    prop_assert!(hi - lo <= 1, "{topic}: {per:?}");
                }
            }
        }

        #[test]
        fn equal_subscriptions_differ_by_at_most_one(i in arb_input(true)) {
            for assignor in [Assignor::RoundRobin, Assignor::Sticky] {
                let c = counts(&assignor.assign(&i.spec()));
                let (lo, hi) = (c.iter().min().unwrap(), c.iter().max().unwrap());
                prop_assert!(hi - lo <= 1, "{assignor:?}: {c:?}");
            }
        }

        #[test]
        fn sticky_is_balanced(i in arb_input(false)) {
            let out = Assignor::Sticky.assign(&i.spec());
            prop_assert!(is_balanced(&i, &out), "{out:?}");
        }

        #[test]
        fn sticky_moves_no_more_than_needed(i in arb_input(true)) {
            let out = Assignor::Sticky.assign(&i.spec());
            prop_assert_eq!(moves(&i, &out), min_moves(&i));
        }

        #[test]
        fn sticky_is_stable_when_nothing_changes(i in arb_input(false)) {
            let first = Assignor::Sticky.assign(&i.spec());
            let mut again = i.clone();
            for (id, a) in &first {
                again.members.get_mut(id).unwrap().1 = a.clone();
            }
            prop_assert_eq!(Assignor::Sticky.assign(&again.spec()), first);
        }

        #[test]
        fn assignors_are_deterministic(i in arb_input(false)) {
            for assignor in Assignor::ALL {
                prop_assert_eq!(assignor.assign(&i.spec()), assignor.assign(&i.spec()));
            }
        }
    }
}
