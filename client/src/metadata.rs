//! Topic metadata as the client caches it: [`TopicInfo`] and
//! [`PartitionInfo`], built from a Metadata response.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use runnel_protocol::api::metadata::{MetadataResponse, TopicMetadata};
use runnel_protocol::{ErrorCode, NodeId, PartitionId};
use tokio::time::Instant;

/// One topic: its partitions and their leaders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// Partitions in partition order (partition `i` at index `i`).
    pub partitions: Vec<PartitionInfo>,
}

impl TopicInfo {
    /// Number of partitions.
    pub fn partition_count(&self) -> usize {
        self.partitions.len()
    }

    /// The partition numbered `partition`, if the topic has it.
    pub fn partition(&self, partition: PartitionId) -> Option<&PartitionInfo> {
        self.partitions
            .get(usize::try_from(partition.0).ok()?)
            .filter(|p| p.partition == partition)
            .or_else(|| self.partitions.iter().find(|p| p.partition == partition))
    }

    /// Builds the topic from a successful topic entry of a Metadata
    /// response.
    pub fn from_metadata(topic: &TopicMetadata) -> Self {
        let mut partitions: Vec<PartitionInfo> = topic
            .partitions
            .iter()
            .map(|p| PartitionInfo {
                partition: p.partition,
                leader: p.leader,
                replicas: p.replicas.clone(),
                isr: p.isr.clone(),
                error_code: p.error_code,
            })
            .collect();
        partitions.sort_by_key(|p| p.partition);
        TopicInfo {
            name: topic.name.clone(),
            partitions,
        }
    }
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Partition number.
    pub partition: PartitionId,
    /// The broker accepting produce and fetch for it; `None` while there is
    /// none.
    pub leader: Option<NodeId>,
    /// Brokers holding a copy, leader first.
    pub replicas: Vec<NodeId>,
    /// Replicas in sync with the leader.
    pub isr: Vec<NodeId>,
    /// `NONE`, or why the partition is unavailable.
    pub error_code: ErrorCode,
}

/// Cached topics and broker addresses, refreshed from Metadata responses.
#[derive(Debug, Default)]
pub(crate) struct MetadataCache {
    /// Topic name → topic and when it was fetched (looked up for every
    /// record a producer sends: a fast hash).
    topics: foldhash::HashMap<String, (Arc<TopicInfo>, Instant)>,
    /// Node id → `host:port`.
    brokers: HashMap<NodeId, String>,
}

impl MetadataCache {
    /// The cached topic if it is younger than `max_age` at `now`.
    pub fn topic(&self, name: &str, max_age: Duration, now: Instant) -> Option<Arc<TopicInfo>> {
        let (topic, at) = self.topics.get(name)?;
        (now.saturating_duration_since(*at) < max_age).then(|| Arc::clone(topic))
    }

    /// Forgets a topic, so the next lookup fetches it.
    pub fn invalidate(&mut self, name: &str) {
        self.topics.remove(name);
    }

    /// The address of a broker.
    pub fn broker(&self, node: NodeId) -> Option<&str> {
        self.brokers.get(&node).map(String::as_str)
    }

    /// Takes in a Metadata response: every broker, every topic described
    /// without error; topics reported unknown are dropped. `bootstrap_host`
    /// replaces an advertised wildcard host (`0.0.0.0`, `::`).
    pub fn update(&mut self, response: &MetadataResponse, bootstrap_host: &str) {
        for broker in &response.brokers {
            let host = match broker.host.as_str() {
                "" | "0.0.0.0" | "::" | "[::]" => bootstrap_host,
                host => host,
            };
            let addr = if host.contains(':') && !host.starts_with('[') {
                format!("[{host}]:{}", broker.port)
            } else {
                format!("{host}:{}", broker.port)
            };
            self.brokers.insert(broker.node_id, addr);
        }
        let now = Instant::now();
        for topic in &response.topics {
            if topic.error_code.is_ok() {
                self.topics.insert(
                    topic.name.clone(),
                    (Arc::new(TopicInfo::from_metadata(topic)), now),
                );
            } else {
                self.topics.remove(&topic.name);
            }
        }
    }
}

/// The host part of `host:port` (brackets kept off an IPv6 literal).
pub(crate) fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnel_protocol::api::metadata::{BrokerMetadata, PartitionMetadata};

    fn node(id: i32) -> NodeId {
        NodeId::new(id).unwrap()
    }

    fn response() -> MetadataResponse {
        MetadataResponse {
            brokers: vec![BrokerMetadata {
                node_id: node(0),
                host: "0.0.0.0".into(),
                port: 9170,
            }],
            topics: vec![
                TopicMetadata {
                    name: "orders".into(),
                    partitions: vec![
                        PartitionMetadata {
                            partition: PartitionId(1),
                            leader: Some(node(0)),
                            ..PartitionMetadata::default()
                        },
                        PartitionMetadata {
                            partition: PartitionId(0),
                            leader: None,
                            error_code: ErrorCode::LeaderNotAvailable,
                            ..PartitionMetadata::default()
                        },
                    ],
                    ..TopicMetadata::default()
                },
                TopicMetadata {
                    name: "ghost".into(),
                    error_code: ErrorCode::UnknownTopicOrPartition,
                    ..TopicMetadata::default()
                },
            ],
        }
    }

    #[test]
    fn update_caches_good_topics_sorted_and_maps_wildcard_hosts() {
        let mut cache = MetadataCache::default();
        cache.update(&response(), "broker.local");
        let now = Instant::now();
        let topic = cache.topic("orders", Duration::from_mins(1), now).unwrap();
        assert_eq!(topic.partition_count(), 2);
        assert_eq!(topic.partitions[0].partition, PartitionId(0));
        assert_eq!(
            topic.partition(PartitionId(1)).unwrap().leader,
            Some(node(0))
        );
        assert!(topic.partition(PartitionId(2)).is_none());
        assert!(cache.topic("ghost", Duration::from_mins(1), now).is_none());
        assert_eq!(cache.broker(node(0)), Some("broker.local:9170"));
        assert!(cache.topic("orders", Duration::ZERO, now).is_none());
        // An entry ages by the time passed in, not by the clock.
        let later = now + Duration::from_mins(2);
        assert!(
            cache
                .topic("orders", Duration::from_mins(1), later)
                .is_none()
        );
        assert!(
            cache
                .topic("orders", Duration::from_mins(3), later)
                .is_some()
        );
        cache.invalidate("orders");
        assert!(cache.topic("orders", Duration::from_mins(1), now).is_none());
    }

    #[test]
    fn host_of_strips_port_and_brackets() {
        assert_eq!(host_of("127.0.0.1:9170"), "127.0.0.1");
        assert_eq!(host_of("[::1]:9170"), "::1");
        assert_eq!(host_of("localhost"), "localhost");
    }
}
