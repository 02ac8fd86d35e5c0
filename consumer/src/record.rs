//! [`ConsumerRecord`], one record as handed to the application, and
//! [`TopicPartition`], the name of one partition.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use runnel_protocol::record::{RecordHeaders, TimestampType};

/// One partition of one topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic. An `Arc` so that every record of the topic shares one
    /// copy of the name.
    pub topic: Arc<str>,
    /// The partition number.
    pub partition: u32,
}

impl TopicPartition {
    /// Names partition `partition` of `topic`.
    ///
    /// ```
    /// use runnel_consumer::TopicPartition;
    ///
    /// let tp = TopicPartition::new("orders", 2);
    /// assert_eq!(tp.to_string(), "orders-2");
    /// ```
    pub fn new(topic: impl Into<Arc<str>>, partition: u32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// A record read from a partition.
///
/// `key`, `value` and the header values are zero-copy slices of the fetched
/// data (of the decompressed batch, for a compressed one): holding a record
/// keeps that buffer alive.
///
/// ```no_run
/// # async fn run(consumer: &mut runnel_consumer::Consumer) -> Result<(), runnel_consumer::ConsumerError> {
/// for record in consumer.poll(std::time::Duration::from_secs(1)).await? {
///     let value = record.value.as_deref().unwrap_or_default();
///     println!("{}/{} @{}: {}", record.topic, record.partition, record.offset,
///              String::from_utf8_lossy(value));
///     for header in &record.headers {
///         println!("  {} = {:?}", header.key, header.value);
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// The topic (shared by every record of the topic).
    pub topic: Arc<str>,
    /// The partition.
    pub partition: u32,
    /// The record's offset in the partition.
    pub offset: i64,
    /// Milliseconds since the Unix epoch: the producer's creation time, or
    /// the broker's append time, as `timestamp_type` says.
    pub timestamp: i64,
    /// Whose clock `timestamp` is.
    pub timestamp_type: TimestampType,
    /// The key; `None` for a null key (distinct from an empty one).
    pub key: Option<Bytes>,
    /// The value; `None` for null (a tombstone under compaction).
    pub value: Option<Bytes>,
    /// The headers, in stored order (names may repeat).
    pub headers: RecordHeaders,
}

impl ConsumerRecord {
    /// The record's partition as a [`TopicPartition`].
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition {
            topic: Arc::clone(&self.topic),
            partition: self.partition,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_partitions_order_by_topic_then_partition() {
        let mut v = [
            TopicPartition::new("b", 0),
            TopicPartition::new("a", 2),
            TopicPartition::new("a", 1),
        ];
        v.sort();
        let names: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["a-1", "a-2", "b-0"]);
    }
}
