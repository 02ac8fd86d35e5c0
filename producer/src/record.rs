//! [`ProducerRecord`], what is sent, and [`RecordMetadata`], where it
//! landed.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::time::Instant;

/// A record to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord {
    /// The topic. An `Arc` so that sending many records to one topic does
    /// not copy its name per record.
    pub topic: Arc<str>,
    /// The partition; `None` lets the partitioner choose (by key, or the
    /// sticky partition for a keyless record).
    pub partition: Option<u32>,
    /// The key; `None` for null. Keyed records with equal keys go to the
    /// same partition.
    pub key: Option<Bytes>,
    /// The value; `None` for null (a tombstone under compaction).
    pub value: Option<Bytes>,
    /// Headers in order: name and value (`None` for null).
    pub headers: Vec<(String, Option<Bytes>)>,
    /// Creation time in ms since the Unix epoch; `None` for now.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A keyless record with a value.
    pub fn new(topic: impl Into<Arc<str>>, value: impl Into<Bytes>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: None,
            value: Some(value.into()),
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// Sets the key.
    #[must_use]
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sends to this partition rather than letting the partitioner choose.
    #[must_use]
    pub fn partition(mut self, partition: u32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push((name.into(), Some(value.into())));
        self
    }

    /// Sets the creation time (ms since the Unix epoch).
    #[must_use]
    pub fn timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Bytes the record takes in a batch, at most (fields plus the
    /// worst-case varint overhead). Used to reserve buffer memory.
    pub fn size_estimate(&self) -> usize {
        /// Record length, attributes, deltas, key/value lengths, header count.
        const RECORD_OVERHEAD: usize = 5 + 1 + 10 + 5 + 5 + 5 + 5;
        /// Key and value length varints of one header.
        const HEADER_OVERHEAD: usize = 10;
        let field = |b: &Option<Bytes>| b.as_ref().map_or(0, Bytes::len);
        self.headers.iter().fold(
            RECORD_OVERHEAD + field(&self.key) + field(&self.value),
            |sum, (name, value)| sum + HEADER_OVERHEAD + name.len() + field(value),
        )
    }
}

/// Where a record was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: u32,
    /// The record's offset; `None` with `acks=0`, where the broker does not
    /// answer.
    pub offset: Option<i64>,
    /// The record's timestamp: its creation time, or the broker's append
    /// time when the topic uses `LogAppendTime`.
    pub timestamp: i64,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// How long a thread's reading of the wall clock anchors
/// [`create_time_ms`].
const WALL_ANCHOR_AGE: Duration = Duration::from_secs(1);

thread_local! {
    /// A monotonic instant and the wall time (ns since the epoch) read
    /// with it.
    static WALL_ANCHOR: Cell<Option<(Instant, u128)>> = const { Cell::new(None) };
}

/// The wall time at the monotonic instant `now`, in ms since the epoch: a
/// record's creation time. The wall clock is read once a second per thread
/// and the monotonic time since added to it, which spares a second clock
/// reading per record (the producer reads `now` anyway); a step of the
/// wall clock shows within a second.
pub(crate) fn create_time_ms(now: Instant) -> i64 {
    WALL_ANCHOR.with(|anchor| {
        let since = match anchor.get() {
            Some((at, wall_ns)) if now >= at && now - at < WALL_ANCHOR_AGE => {
                wall_ns + (now - at).as_nanos()
            }
            _ => {
                let wall_ns = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                anchor.set(Some((now, wall_ns)));
                wall_ns
            }
        };
        i64::try_from(since / 1_000_000).unwrap_or(i64::MAX)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_methods_fill_the_record() {
        let r = ProducerRecord::new("t", "v")
            .key("k")
            .partition(3)
            .header("h", "x")
            .timestamp(5);
        assert_eq!(&*r.topic, "t");
        assert_eq!(r.partition, Some(3));
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(r.headers.len(), 1);
        assert_eq!(r.timestamp, Some(5));
    }

    #[test]
    fn size_estimate_bounds_the_encoded_size() {
        use runnel_protocol::record::{BatchBuilder, BatchOptions, NewRecord};
        let r = ProducerRecord::new("t", vec![7u8; 300])
            .key("key")
            .header("a", "b")
            .timestamp(1);
        let builder = BatchBuilder::new(BatchOptions::default()).unwrap();
        let exact = builder
            .encoded_len(&NewRecord {
                timestamp: 1,
                key: r.key.clone(),
                value: r.value.clone(),
                headers: r.headers.clone(),
            })
            .unwrap();
        assert!(r.size_estimate() >= exact);
        assert!(r.size_estimate() < exact + 64);
    }

    #[test]
    fn now_is_after_2020() {
        assert!(now_ms() > 1_577_836_800_000);
    }

    #[test]
    fn create_time_follows_the_monotonic_clock_from_a_wall_reading() {
        let start = Instant::now();
        let before = now_ms();
        let first = create_time_ms(start);
        assert!((before..=now_ms()).contains(&first), "{before} {first}");
        // Within the anchor's second, later instants add their distance.
        let later = create_time_ms(start + Duration::from_millis(250));
        assert!(
            (first + 249..=first + 251).contains(&later),
            "{first} {later}"
        );
        // Past it (or before it), the wall clock is read again.
        let reread = create_time_ms(start + Duration::from_secs(5));
        assert!(reread < first + 5_000, "{first} {reread}");
        assert!(reread >= first);
    }
}
