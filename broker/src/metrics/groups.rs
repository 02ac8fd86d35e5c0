//! Consumer-group metrics: what the group coordinator reports, and the lag
//! the scrape derives from it.
//!
//! The coordinator implements [`GroupMetricsSource`] and registers it once
//! with [`super::Telemetry::set_group_source`]; every scrape then asks it for
//! a [`GroupSnapshot`] per group and computes, per committed partition,
//! - `runnel_consumer_group_lag` = log end offset − committed offset
//!   (0 when the commit is at or past the end);
//! - `runnel_consumer_group_lag_seconds` = now − the timestamp of the first
//!   record at or after the committed offset (the first record's create
//!   time of the batch holding it, or its append time on a log-append-time
//!   topic), 0 when nothing durable is left to consume.
//!
//! Rebalances are events: the coordinator calls [`group_rebalance`] when one
//! starts.

use metrics::counter;

use super::handles::batch_first_timestamp;
use super::names;
use crate::storage::{LogReader, Offset};

/// One group as the coordinator sees it at scrape time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSnapshot {
    /// The group id.
    pub group: String,
    /// Members in the group now.
    pub members: u64,
    /// The group's committed offsets.
    pub committed: Vec<CommittedOffset>,
}

/// One committed offset of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The next offset the group will consume.
    pub offset: i64,
}

/// Implemented by the group coordinator so scrapes can report groups.
/// Called on a blocking thread at every scrape: return a snapshot without
/// waiting on a group's lock for long.
pub trait GroupMetricsSource: Send + Sync + std::fmt::Debug {
    /// Every group the coordinator knows, with its members and commits.
    fn snapshot(&self) -> Vec<GroupSnapshot>;
}

/// Counts a rebalance of `group` starting. Call it from the coordinator
/// wherever a rebalance begins (a member joins, leaves, or its
/// subscription changes).
pub fn group_rebalance(group: &str) {
    counter!(names::GROUP_REBALANCES.name, "group" => group.to_owned()).increment(1);
}

/// The lag of a group on one partition at `now_ms`: records behind the log
/// end, and the age in seconds of the first unconsumed durable record.
pub fn partition_lag(reader: &LogReader, committed: i64, now_ms: i64) -> (u64, f64) {
    let end = reader.log_end_offset().as_i64();
    let records = u64::try_from(end.saturating_sub(committed)).unwrap_or(0);
    if committed >= reader.high_watermark().as_i64() {
        return (records, 0.0);
    }
    // A commit below the log start waits for records retention removed:
    // the oldest one left is the next it will get.
    let from = committed.max(reader.log_start_offset().as_i64());
    let age = Offset::from_i64(from)
        .and_then(|o| reader.read(o, 1).ok())
        .and_then(|r| runnel_protocol::record::BatchHeader::parse(&r.records).ok())
        .map_or(0.0, |h| {
            super::age_seconds(now_ms, batch_first_timestamp(&h))
        });
    (records, age)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::metrics::test_support::batch;
    use crate::storage::{LogConfig, OsFs, PartitionLog};

    #[test]
    fn lag_counts_records_to_the_end_and_ages_the_first_unconsumed_one() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = PartitionLog::open(
            Arc::new(OsFs),
            dir.path(),
            LogConfig::default(),
            false,
            true,
            0,
        )
        .unwrap();
        log.append(&batch(1_000, 3), 1_000).unwrap(); // offsets 0..3
        log.append(&batch(5_000, 2), 5_000).unwrap(); // offsets 3..5
        log.flush().unwrap();
        let reader = log.reader();
        assert_eq!(partition_lag(&reader, 0, 11_000), (5, 10.0));
        assert_eq!(partition_lag(&reader, 3, 11_000), (2, 6.0));
        // Inside a batch: the batch's first record stands for it.
        assert_eq!(partition_lag(&reader, 4, 11_000), (1, 6.0));
        assert_eq!(partition_lag(&reader, 5, 11_000), (0, 0.0), "caught up");
        assert_eq!(partition_lag(&reader, 9, 11_000), (0, 0.0), "past the end");
        log.append(&batch(9_000, 1), 9_000).unwrap();
        assert_eq!(
            partition_lag(&reader, 5, 11_000),
            (1, 0.0),
            "a record not yet durable is lag in records, not yet in time"
        );
    }
}
