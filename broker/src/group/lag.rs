//! Consumer lag of one partition: how many records a group has not yet
//! consumed, and how old the oldest of them is.
//!
//! The time lag is the broker's clock minus the timestamp of the first
//! record at or after the committed offset — read from the batch that holds
//! it — so a lag of a million records that all arrived in the last second
//! reads as one second, and a single record stuck for an hour reads as an
//! hour. A committed offset below the log start (retention removed records
//! the group never read) measures from the first record still stored.

use runnel_protocol::api::describe_groups::UNKNOWN;
use runnel_protocol::record::Batches;

use crate::storage::{LogReader, Offset, StorageError};

/// Lag figures of one partition (each [`UNKNOWN`] when not known).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionLag {
    /// The high watermark: the end a consumer can reach.
    pub log_end_offset: i64,
    /// Records between the committed offset and the high watermark.
    pub lag: i64,
    /// Age in ms of the first unconsumed record; 0 when caught up.
    pub time_lag_ms: i64,
}

/// The lag of a partition for a committed offset (negative: none).
pub fn partition_lag(
    reader: &LogReader,
    committed: i64,
    now_ms: i64,
) -> Result<PartitionLag, StorageError> {
    let hw = reader.high_watermark();
    let mut out = PartitionLag {
        log_end_offset: hw.as_i64(),
        lag: UNKNOWN,
        time_lag_ms: UNKNOWN,
    };
    if committed < 0 {
        return Ok(out);
    }
    out.lag = hw.as_i64().saturating_sub(committed).max(0);
    let from = Offset::from_i64(committed)
        .unwrap_or_default()
        .max(reader.log_start_offset());
    if out.lag == 0 || from >= hw {
        out.time_lag_ms = 0;
        return Ok(out);
    }
    // The read starts at the batch holding `from`; one byte asks for just
    // that batch (it is returned whole).
    let read = reader.read(from, 1)?;
    for batch in Batches::new(read.records) {
        let batch = batch.map_err(StorageError::InvalidBatch)?;
        if batch.last_offset() < from.as_i64() {
            continue;
        }
        for record in batch.records().map_err(StorageError::InvalidBatch)? {
            let record = record.map_err(StorageError::InvalidBatch)?;
            if record.offset >= from.as_i64() {
                out.time_lag_ms = now_ms.saturating_sub(record.timestamp).max(0);
                return Ok(out);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sim::SimFs;
    use crate::storage::{LogConfig, PartitionLog};
    use bytes::Bytes;
    use runnel_protocol::record::{BatchBuilder, BatchOptions, NewRecord};
    use std::path::Path;
    use std::sync::Arc;

    fn batch(timestamps: &[i64]) -> Bytes {
        let mut b = BatchBuilder::new(BatchOptions::default()).unwrap();
        for ts in timestamps {
            b.append(&NewRecord {
                timestamp: *ts,
                key: None,
                value: Some(Bytes::from_static(b"v")),
                headers: vec![],
            })
            .unwrap();
        }
        b.build().unwrap()
    }

    /// A log with offsets 0-2 at times 1000-1002 and 3-4 at 2000-2001.
    fn log() -> PartitionLog {
        let (mut log, _) = PartitionLog::open(
            Arc::new(SimFs::new()),
            Path::new("/p"),
            LogConfig::default(),
            false,
            false,
            0,
        )
        .unwrap();
        log.append(&batch(&[1000, 1001, 1002]), 0).unwrap();
        log.append(&batch(&[2000, 2001]), 0).unwrap();
        log.flush().unwrap();
        log
    }

    #[test]
    fn lag_counts_records_and_ages_the_first_unconsumed() {
        let log = log();
        let lag = partition_lag(&log.reader(), 1, 5000).unwrap();
        assert_eq!(
            lag,
            PartitionLag {
                log_end_offset: 5,
                lag: 4,
                time_lag_ms: 3999,
            }
        );
        // Inside the second batch: its second record.
        let lag = partition_lag(&log.reader(), 4, 5000).unwrap();
        assert_eq!((lag.lag, lag.time_lag_ms), (1, 2999));
    }

    #[test]
    fn caught_up_is_zero() {
        let log = log();
        for committed in [5, 9] {
            let lag = partition_lag(&log.reader(), committed, 5000).unwrap();
            assert_eq!((lag.lag, lag.time_lag_ms), (0, 0));
        }
    }

    #[test]
    fn no_commit_is_unknown() {
        let log = log();
        let lag = partition_lag(&log.reader(), -1, 5000).unwrap();
        assert_eq!(
            lag,
            PartitionLag {
                log_end_offset: 5,
                lag: UNKNOWN,
                time_lag_ms: UNKNOWN,
            }
        );
    }

    #[test]
    fn records_from_the_future_are_not_negative() {
        let log = log();
        let lag = partition_lag(&log.reader(), 0, 10).unwrap();
        assert_eq!(lag.time_lag_ms, 0);
    }

    #[test]
    fn unflushed_records_are_not_lag() {
        let mut log = log();
        log.append(&batch(&[3000]), 0).unwrap();
        let lag = partition_lag(&log.reader(), 5, 5000).unwrap();
        assert_eq!((lag.log_end_offset, lag.lag, lag.time_lag_ms), (5, 0, 0));
    }
}
