//! [`Assignment`]: a set of partitions, grouped by topic.
//!
//! Used for everything a group tracks per member: the partitions it owns,
//! those pending revocation, and its target. Topics with no partitions are
//! never stored, so two equal sets always compare equal.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use runnel_protocol::PartitionId;
use runnel_protocol::api::consumer_group_heartbeat::TopicPartitions;

/// A set of partitions, ordered by topic name then partition number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignment {
    /// Partitions per topic. Invariant: no empty set is stored.
    topics: BTreeMap<String, BTreeSet<PartitionId>>,
}

impl Assignment {
    /// The empty set.
    pub fn new() -> Self {
        Assignment::default()
    }

    /// Whether it holds no partition.
    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// Number of partitions, over all topics.
    pub fn len(&self) -> usize {
        self.topics.values().map(BTreeSet::len).sum()
    }

    /// Whether it holds `partition` of `topic`.
    pub fn contains(&self, topic: &str, partition: PartitionId) -> bool {
        self.topics
            .get(topic)
            .is_some_and(|s| s.contains(&partition))
    }

    /// Adds a partition; `false` if it was there.
    pub fn insert(&mut self, topic: &str, partition: PartitionId) -> bool {
        match self.topics.get_mut(topic) {
            Some(set) => set.insert(partition),
            None => {
                self.topics
                    .insert(topic.to_owned(), BTreeSet::from([partition]));
                true
            }
        }
    }

    /// Removes a partition; `false` if it was not there.
    pub fn remove(&mut self, topic: &str, partition: PartitionId) -> bool {
        let Some(set) = self.topics.get_mut(topic) else {
            return false;
        };
        let removed = set.remove(&partition);
        if set.is_empty() {
            self.topics.remove(topic);
        }
        removed
    }

    /// Every partition, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, PartitionId)> {
        self.topics
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |p| (t.as_str(), *p)))
    }

    /// The partitions of each topic.
    pub fn topics(&self) -> impl Iterator<Item = (&str, &BTreeSet<PartitionId>)> {
        self.topics.iter().map(|(t, ps)| (t.as_str(), ps))
    }

    /// Partitions in both sets.
    #[must_use]
    pub fn intersection(&self, other: &Assignment) -> Assignment {
        self.iter().filter(|(t, p)| other.contains(t, *p)).collect()
    }

    /// Partitions in `self` but not in `other`.
    #[must_use]
    pub fn difference(&self, other: &Assignment) -> Assignment {
        self.iter()
            .filter(|(t, p)| !other.contains(t, *p))
            .collect()
    }

    /// Partitions in either set.
    #[must_use]
    pub fn union(&self, other: &Assignment) -> Assignment {
        self.iter().chain(other.iter()).collect()
    }

    /// Whether no partition is in both sets.
    pub fn is_disjoint(&self, other: &Assignment) -> bool {
        self.iter().all(|(t, p)| !other.contains(t, p))
    }

    /// Whether every partition of `self` is in `other`.
    pub fn is_subset(&self, other: &Assignment) -> bool {
        self.iter().all(|(t, p)| other.contains(t, p))
    }

    /// The set named by a wire list (duplicates collapse).
    pub fn from_wire(list: &[TopicPartitions]) -> Assignment {
        list.iter()
            .flat_map(|t| t.partitions.iter().map(move |p| (t.topic.as_str(), *p)))
            .collect()
    }

    /// The wire list: one entry per topic, partitions ascending.
    pub fn to_wire(&self) -> Vec<TopicPartitions> {
        self.topics
            .iter()
            .map(|(topic, ps)| TopicPartitions {
                topic: topic.clone(),
                partitions: ps.iter().copied().collect(),
            })
            .collect()
    }
}

impl<'a> FromIterator<(&'a str, PartitionId)> for Assignment {
    fn from_iter<I: IntoIterator<Item = (&'a str, PartitionId)>>(iter: I) -> Self {
        let mut a = Assignment::new();
        for (t, p) in iter {
            a.insert(t, p);
        }
        a
    }
}

/// `t:0,1 u:3`, or `-` for the empty set (the notation of the scenario
/// tests).
impl fmt::Display for Assignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("-");
        }
        for (i, (topic, ps)) in self.topics.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{topic}:")?;
            for (j, p) in ps.iter().enumerate() {
                if j > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{p}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(items: &[(&'static str, u32)]) -> Assignment {
        items.iter().map(|(t, p)| (*t, PartitionId(*p))).collect()
    }

    #[test]
    fn empty_topics_are_not_kept() {
        let mut s = a(&[("t", 1)]);
        assert!(s.remove("t", PartitionId(1)));
        assert_eq!(s, Assignment::new());
        assert!(!s.remove("t", PartitionId(1)));
        assert!(s.is_empty());
    }

    #[test]
    fn set_operations() {
        let x = a(&[("t", 0), ("t", 1), ("u", 0)]);
        let y = a(&[("t", 1), ("u", 1)]);
        assert_eq!(x.intersection(&y), a(&[("t", 1)]));
        assert_eq!(x.difference(&y), a(&[("t", 0), ("u", 0)]));
        assert_eq!(x.union(&y).len(), 4);
        assert!(!x.is_disjoint(&y));
        assert!(a(&[("t", 1)]).is_subset(&x));
        assert!(!y.is_subset(&x));
    }

    #[test]
    fn wire_round_trip_sorts_and_dedupes() {
        let wire = vec![
            TopicPartitions {
                topic: "u".into(),
                partitions: vec![PartitionId(2), PartitionId(0), PartitionId(2)],
            },
            TopicPartitions {
                topic: "t".into(),
                partitions: vec![],
            },
        ];
        let s = Assignment::from_wire(&wire);
        assert_eq!(s.to_wire().len(), 1);
        assert_eq!(s.to_wire()[0].partitions, [PartitionId(0), PartitionId(2)]);
    }

    #[test]
    fn display_is_compact() {
        assert_eq!(a(&[("t", 0), ("t", 2), ("u", 1)]).to_string(), "t:0,2 u:1");
        assert_eq!(Assignment::new().to_string(), "-");
    }
}
