//! [`GroupStore`]: the groups log — one [`PartitionLog`] under
//! `<data_dir>/groups/` holding every [`GroupRecord`] the coordinator wrote,
//! and its replay at startup.
//!
//! Records are stored as RecordBatch v2 records (key = record type + ids,
//! value = payload, null value = tombstone; see [`super::records`]). The
//! records of one coordinator call go into one batch when they fit in
//! [`StoreConfig::max_batch_bytes`], so a crash keeps all of them or none
//! (recovery truncates a torn batch whole).
//!
//! # Compaction by snapshot
//!
//! Replay must stay short however long the broker runs, so the log is
//! compacted by snapshot: when it has grown past
//! `max(compact_min_bytes, 2 × the last snapshot)`, the driver hands the
//! live state as records ([`super::Coordinator::snapshot`]) to
//! [`GroupStore::compact`], which
//!
//! 1. rolls to a fresh segment,
//! 2. appends the snapshot there and fsyncs it,
//! 3. deletes every older segment (through retention, oldest first).
//!
//! Replay is then bounded by twice the live state. This is safe at every
//! step of a crash because each record sets or clears one key: replaying
//! the old segments and then all or part of the snapshot gives the state of
//! the old segments, since the snapshot only repeats current values; and
//! the old segments are deleted only once the whole snapshot is durable,
//! after which any suffix of them followed by the snapshot gives the
//! snapshot's state. (Kafka instead compacts its `__consumer_offsets` by
//! key in the background; a snapshot reuses the storage engine's roll and
//! retention and needs no cleaner.)

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use runnel_protocol::record::{BatchBuilder, BatchOptions, Batches, BuildError, RecordError};

use super::records::{GroupRecord, RecordFormatError};
use crate::storage::{
    Fs, LogConfig, LogReader, Offset, PartitionLog, RecoveryReport, StorageError,
};

/// Bytes read per step of the replay.
const REPLAY_CHUNK_BYTES: usize = 1 << 20;

/// Why the groups log could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum GroupStoreError {
    /// The storage engine failed.
    #[error("groups log: {0}")]
    Storage(#[from] StorageError),
    /// A stored batch is malformed.
    #[error("groups log batch at offset {offset} is malformed")]
    Batch {
        /// Where the replay was.
        offset: u64,
        /// What was wrong.
        #[source]
        source: RecordError,
    },
    /// A stored record is not one this build understands.
    #[error("groups log record at offset {offset} cannot be read")]
    Record {
        /// The record's offset.
        offset: i64,
        /// What was wrong.
        #[source]
        source: RecordFormatError,
    },
    /// A record to store could not be encoded.
    #[error("cannot encode a groups log record")]
    Encode(#[source] RecordFormatError),
    /// A batch to store could not be built.
    #[error("cannot build a groups log batch")]
    Build(#[source] BuildError),
}

/// Settings of the groups log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Compact once the log exceeds this size (and twice the last
    /// snapshot).
    pub compact_min_bytes: u64,
    /// Roll segments at this size.
    pub segment_bytes: u64,
    /// Largest batch written; a larger call is split over several batches.
    pub max_batch_bytes: u32,
    /// Grow files by this much at a time.
    pub preallocate_bytes: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            compact_min_bytes: 16 << 20,
            segment_bytes: 256 << 20,
            max_batch_bytes: 8 << 20,
            preallocate_bytes: 1 << 20,
        }
    }
}

impl StoreConfig {
    fn log_config(&self) -> LogConfig {
        LogConfig {
            segment_bytes: self.segment_bytes,
            // Rolls happen at compaction, not by age.
            segment_ms: u64::MAX,
            retention_ms: None,
            retention_bytes: None,
            max_batch_bytes: self.max_batch_bytes,
            preallocate_bytes: self.preallocate_bytes,
            ..LogConfig::default()
        }
    }
}

/// What a compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionReport {
    /// Log size before.
    pub bytes_before: u64,
    /// Size of the snapshot, the log's size after.
    pub snapshot_bytes: u64,
    /// Records in the snapshot.
    pub records: usize,
    /// Segments deleted.
    pub deleted_segments: usize,
}

/// The groups log.
#[derive(Debug)]
pub struct GroupStore {
    /// The log.
    log: PartitionLog,
    /// Settings.
    config: StoreConfig,
    /// Size of the last snapshot (0 before the first).
    snapshot_bytes: u64,
}

impl GroupStore {
    /// Opens (or creates) the groups log in `dir` and reads every record
    /// back, in order. `clean` says whether the broker last shut down
    /// cleanly (no recovery scan).
    pub fn open(
        fs: Arc<dyn Fs>,
        dir: &Path,
        clean: bool,
        now_ms: i64,
        config: StoreConfig,
    ) -> Result<(GroupStore, Vec<GroupRecord>, RecoveryReport), GroupStoreError> {
        let (log, report) = PartitionLog::open(fs, dir, config.log_config(), false, clean, now_ms)?;
        let records = replay(&log.reader())?;
        Ok((
            GroupStore {
                log,
                config,
                snapshot_bytes: 0,
            },
            records,
            report,
        ))
    }

    /// A lock-free read handle (high watermark, size).
    pub fn reader(&self) -> LogReader {
        self.log.reader()
    }

    /// The offset the next record will get.
    pub fn log_end_offset(&self) -> Offset {
        self.log.log_end_offset()
    }

    /// Appends records (not yet durable; see [`GroupStore::begin_flush`]).
    /// Returns the log end offset after them.
    pub fn append(
        &mut self,
        records: &[GroupRecord],
        now_ms: i64,
    ) -> Result<Offset, GroupStoreError> {
        for batch in build_batches(records, now_ms, self.config.max_batch_bytes as usize)? {
            self.log.append(&batch, now_ms)?;
        }
        Ok(self.log.log_end_offset())
    }

    /// The fsyncs that make every appended record durable, to run without
    /// holding the store; `None` when all is durable.
    pub fn begin_flush(&mut self) -> Option<crate::storage::FlushJob> {
        self.log.begin_flush()
    }

    /// Whether the log has grown enough to be worth compacting.
    pub fn needs_compaction(&self) -> bool {
        let limit = self
            .config
            .compact_min_bytes
            .max(self.snapshot_bytes.saturating_mul(2));
        self.log.reader().size_bytes() > limit
    }

    /// Replaces the log by `snapshot` (see the module docs). Flushes
    /// everything first; blocks on fsync.
    pub fn compact(
        &mut self,
        snapshot: &[GroupRecord],
        now_ms: i64,
    ) -> Result<CompactionReport, GroupStoreError> {
        let reader = self.log.reader();
        let bytes_before = reader.size_bytes();
        self.log.flush()?;
        self.log.roll(now_ms)?;
        let old_bytes = reader.size_bytes();
        self.append(snapshot, now_ms)?;
        self.log.flush()?;
        let snapshot_bytes = reader.size_bytes().saturating_sub(old_bytes);
        // Retention deletes the oldest sealed segments while the log is
        // larger than the limit: exactly the segments before the snapshot.
        let normal = self.log.config().clone();
        self.log.set_config(
            LogConfig {
                retention_bytes: Some(snapshot_bytes),
                retention_ms: None,
                ..normal.clone()
            },
            false,
        );
        let deleted = self.log.enforce_retention(now_ms);
        self.log.set_config(normal, false);
        let deleted_segments = deleted?;
        self.snapshot_bytes = snapshot_bytes;
        Ok(CompactionReport {
            bytes_before,
            snapshot_bytes,
            records: snapshot.len(),
            deleted_segments,
        })
    }

    /// Flushes and closes the log so the next start needs no recovery.
    pub fn close(&mut self) -> Result<(), GroupStoreError> {
        self.log.close()?;
        Ok(())
    }
}

/// The batches holding `records`, each at most `max_bytes` unless a single
/// record is larger.
fn build_batches(
    records: &[GroupRecord],
    now_ms: i64,
    max_bytes: usize,
) -> Result<Vec<Bytes>, GroupStoreError> {
    let mut out = Vec::new();
    let mut builder: Option<BatchBuilder> = None;
    for r in records {
        let key = r.encode_key().map_err(GroupStoreError::Encode)?;
        let value = r.encode_value().map_err(GroupStoreError::Encode)?;
        let record = runnel_protocol::record::NewRecord {
            timestamp: now_ms,
            key: Some(key),
            value,
            headers: Vec::new(),
        };
        let full = builder
            .as_ref()
            .is_some_and(|b| !b.has_room_for(&record, max_bytes));
        if full && let Some(b) = builder.take() {
            out.push(b.build().map_err(GroupStoreError::Build)?);
        }
        let b = match &mut builder {
            Some(b) => b,
            None => builder.insert(
                BatchBuilder::new(BatchOptions::default()).map_err(GroupStoreError::Build)?,
            ),
        };
        b.append(&record).map_err(GroupStoreError::Build)?;
    }
    if let Some(b) = builder {
        out.push(b.build().map_err(GroupStoreError::Build)?);
    }
    Ok(out)
}

/// Every record below the high watermark, in offset order.
fn replay(reader: &LogReader) -> Result<Vec<GroupRecord>, GroupStoreError> {
    let mut out = Vec::new();
    let mut next = reader.log_start_offset();
    let end = reader.high_watermark();
    while next < end {
        let read = reader.read(next, REPLAY_CHUNK_BYTES)?;
        if read.records.is_empty() {
            break;
        }
        let mut progressed = false;
        for batch in Batches::new(read.records) {
            let batch = batch.map_err(|source| GroupStoreError::Batch {
                offset: next.0,
                source,
            })?;
            let records = batch.records().map_err(|source| GroupStoreError::Batch {
                offset: next.0,
                source,
            })?;
            for record in records {
                let record = record.map_err(|source| GroupStoreError::Batch {
                    offset: next.0,
                    source,
                })?;
                if record.offset < next.as_i64() {
                    continue;
                }
                let decoded = GroupRecord::decode(record.key.as_ref(), record.value.as_ref())
                    .map_err(|source| GroupStoreError::Record {
                        offset: record.offset,
                        source,
                    })?;
                out.push(decoded);
            }
            let after = Offset::from_i64(batch.last_offset().saturating_add(1)).unwrap_or(next);
            if after > next {
                next = after;
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::records::tests::arb_record;
    use crate::storage::sim::SimFs;
    use proptest::prelude::*;
    use std::path::PathBuf;

    fn dir() -> PathBuf {
        PathBuf::from("/data/groups")
    }

    fn small() -> StoreConfig {
        StoreConfig {
            compact_min_bytes: 4096,
            segment_bytes: 64 << 10,
            max_batch_bytes: 2048,
            preallocate_bytes: 4096,
        }
    }

    fn offset_record(i: u32) -> GroupRecord {
        GroupRecord::OffsetCommit {
            group_id: "g".into(),
            topic: "t".into(),
            partition: runnel_protocol::PartitionId(i % 4),
            value: Some(crate::group::state::CommittedOffset {
                offset: i64::from(i),
                metadata: None,
                commit_timestamp_ms: 7,
            }),
        }
    }

    fn open(fs: &SimFs, clean: bool) -> (GroupStore, Vec<GroupRecord>) {
        let (store, records, _) =
            GroupStore::open(Arc::new(fs.clone()), &dir(), clean, 0, small()).unwrap();
        (store, records)
    }

    #[test]
    fn records_are_read_back_in_order_after_a_clean_close() {
        let fs = SimFs::new();
        let (mut store, records) = open(&fs, false);
        assert!(records.is_empty());
        let written: Vec<GroupRecord> = (0..50).map(offset_record).collect();
        for chunk in written.chunks(7) {
            store.append(chunk, 1).unwrap();
        }
        store.close().unwrap();
        let (_, back) = open(&fs, true);
        assert_eq!(back, written);
    }

    #[test]
    fn a_crash_keeps_what_was_flushed() {
        let fs = SimFs::new();
        let (mut store, _) = open(&fs, false);
        let durable: Vec<GroupRecord> = (0..10).map(offset_record).collect();
        store.append(&durable, 1).unwrap();
        store.begin_flush().unwrap().run().unwrap();
        store.append(&[offset_record(99)], 1).unwrap();
        let crashed = fs.crash(3);
        let (_, back) = open(&crashed, false);
        assert!(back.starts_with(&durable));
        assert!(back.len() <= durable.len() + 1);
    }

    #[test]
    fn large_calls_are_split_into_batches() {
        let records: Vec<GroupRecord> = (0..200).map(offset_record).collect();
        let batches = build_batches(&records, 1, 2048).unwrap();
        assert!(batches.len() > 1);
        assert!(batches.iter().all(|b| b.len() <= 2048));
    }

    #[test]
    fn compaction_keeps_only_the_snapshot() {
        let fs = SimFs::new();
        let (mut store, _) = open(&fs, false);
        for i in 0..400 {
            store.append(&[offset_record(i)], 1).unwrap();
        }
        assert!(store.needs_compaction());
        let snapshot: Vec<GroupRecord> = (396..400).map(offset_record).collect();
        let report = store.compact(&snapshot, 2).unwrap();
        assert!(report.deleted_segments >= 1);
        assert_eq!(store.reader().segment_count(), 1);
        assert!(!store.needs_compaction());
        assert_eq!(store.reader().size_bytes(), report.snapshot_bytes);
        store.append(&[offset_record(1000)], 3).unwrap();
        store.close().unwrap();
        let (_, back) = open(&fs, true);
        let mut expected = snapshot;
        expected.push(offset_record(1000));
        assert_eq!(back, expected);
    }

    #[test]
    fn an_empty_snapshot_empties_the_log() {
        let fs = SimFs::new();
        let (mut store, _) = open(&fs, false);
        for i in 0..10 {
            store.append(&[offset_record(i)], 1).unwrap();
        }
        store.compact(&[], 2).unwrap();
        store.close().unwrap();
        let (_, back) = open(&fs, true);
        assert!(back.is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn any_records_survive_a_restart(records in proptest::collection::vec(arb_record(), 0..40)) {
            let fs = SimFs::new();
            let (mut store, _) = open(&fs, false);
            store.append(&records, 5).unwrap();
            store.close().unwrap();
            let (_, back) = open(&fs, true);
            prop_assert_eq!(back, records);
        }
    }
}
