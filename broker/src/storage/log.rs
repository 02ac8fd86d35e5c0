//! A partition log: the ordered segments of one partition, appended to by a
//! single writer and read by any number of readers without waiting for it.
//!
//! Offsets: the *log start offset* is the first offset still stored, the *log
//! end offset* the next one to be assigned, and the *high watermark* the end
//! of what is durable. Readers see only offsets below the high watermark, so
//! a consumer never sees a record that a crash could take back.
//!
//! Durability is driven from outside: [`PartitionLog::begin_flush`] captures
//! what must be synced (under the writer's lock, cheaply) and returns a
//! [`FlushJob`] whose [`FlushJob::run`] does the fsyncs without the lock, then
//! advances the high watermark. Appends that arrive during a flush are
//! covered by the next one, which the driver starts as soon as the current
//! one ends (group commit).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use runnel_protocol::record::{
    ATTRIBUTES_POS, BATCH_HEADER_LEN, BatchHeader, CRC_POS, Compression, MAX_TIMESTAMP_POS,
    RecordBatch, TimestampType, validate_batch,
};

use super::config::LogConfig;
use super::error::{Result, StorageError};
use super::fs::Fs;
use super::offset::{Offset, TimestampMs};
use super::producers::{ProducerStates, SequenceCheck};
use super::segment::{
    INDEX_EXT, LOG_EXT, Segment, TIME_INDEX_EXT, parse_segment_name, segment_path,
};

/// Name of the file holding the recovery point.
const RECOVERY_POINT_FILE: &str = "recovery-point";
/// Name of the producer-state snapshot.
const PRODUCER_STATE_FILE: &str = "producer-state";
/// Attribute bit that marks log-append-time timestamps.
const LOG_APPEND_TIME_BIT: i16 = 0x08;

/// State shared by the writer, readers and flush jobs of one partition.
#[derive(Debug)]
struct Shared {
    /// The partition directory, for messages.
    dir: PathBuf,
    /// Segments in offset order; replaced wholesale on roll and retention so
    /// a reader's snapshot never changes under it.
    segments: RwLock<Arc<Vec<Arc<Segment>>>>,
    /// First offset still stored.
    log_start: AtomicU64,
    /// Next offset to assign.
    log_end: AtomicU64,
    /// End of the durable prefix.
    high_watermark: AtomicU64,
    /// Set once a write or sync fails; the message says why.
    fenced: Mutex<Option<String>>,
    /// Fast check of `fenced`.
    is_fenced: AtomicBool,
    /// Serialises flush jobs, so the high watermark only passes data whose
    /// every earlier byte is durable too.
    flush: Mutex<()>,
}

impl Shared {
    fn snapshot(&self) -> Arc<Vec<Arc<Segment>>> {
        Arc::clone(
            &self
                .segments
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    fn replace(&self, segments: Vec<Arc<Segment>>) {
        *self
            .segments
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(segments);
    }

    fn fence(&self, why: String) {
        tracing::error!(partition = %self.dir.display(), reason = %why, "partition fenced: refusing writes until restart");
        let mut f = self
            .fenced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if f.is_none() {
            *f = Some(why);
        }
        self.is_fenced.store(true, Ordering::Release);
    }

    fn check_fenced(&self) -> Result<()> {
        if self.is_fenced.load(Ordering::Acquire) {
            let why = self
                .fenced
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
                .unwrap_or_default();
            return Err(StorageError::Fenced(why));
        }
        Ok(())
    }
}

/// What an append stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset assigned to the first record.
    pub base_offset: Offset,
    /// Offset of the last record.
    pub last_offset: Offset,
    /// The broker's timestamp, when the log uses log-append time.
    pub log_append_time: Option<TimestampMs>,
    /// Records in the batch.
    pub record_count: u32,
    /// Bytes stored.
    pub bytes: usize,
    /// Whether the batch was a retry of one already stored: nothing was
    /// appended and the offsets are the original ones.
    pub duplicate: bool,
}

/// How far a read may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Below the high watermark: only records a crash cannot take back.
    Durable,
    /// Below the log end: every appended record, fsynced or not. A killed
    /// process keeps them (they are in the page cache); a power failure or
    /// a failed fsync may not.
    Appended,
}

/// What a read returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadResult {
    /// Whole batches, back to back; empty when nothing is available yet.
    pub records: Bytes,
    /// End of the durable prefix at the time of the read.
    pub high_watermark: Offset,
    /// First offset still stored.
    pub log_start_offset: Offset,
    /// Next offset to be assigned.
    pub log_end_offset: Offset,
}

/// What opening a partition log found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments found.
    pub segments: usize,
    /// Segments whose tail was validated because they might hold data that
    /// was never synced.
    pub recovered_segments: usize,
    /// Bytes cut off torn or corrupt tails.
    pub truncated_bytes: u64,
    /// Segments deleted because they followed a torn one.
    pub dropped_segments: usize,
}

/// The single-writer handle of a partition log.
#[derive(Debug)]
pub struct PartitionLog {
    /// The partition directory.
    dir: PathBuf,
    /// Where the files live.
    fs: Arc<dyn Fs>,
    /// Roll, retention and index settings.
    config: LogConfig,
    /// Whether timestamps are the broker's (`message.timestamp.type=LogAppendTime`).
    log_append_time: bool,
    /// State readers and flush jobs share.
    shared: Arc<Shared>,
    /// The segment being appended to.
    active: Arc<Segment>,
    /// Sealed segments not yet made durable, oldest first.
    unsynced: Vec<Arc<Segment>>,
    /// Whether files were created since the directory was last synced.
    dir_dirty: bool,
    /// Whether the recovery point must be rewritten by the next flush.
    recovery_point_dirty: bool,
    /// Idempotent producers' sequence state.
    producers: ProducerStates,
    /// A producer-state snapshot to write once the data it reflects is
    /// durable (taken at the last roll).
    pending_snapshot: Option<Vec<u8>>,
}

/// A cheap, cloneable read handle of a partition log.
#[derive(Debug, Clone)]
pub struct LogReader {
    /// The log's shared state.
    shared: Arc<Shared>,
}

/// The fsyncs one flush must do, captured under the writer's lock and run
/// without it.
#[derive(Debug)]
pub struct FlushJob {
    /// Where to publish the result.
    shared: Arc<Shared>,
    /// For the directory and recovery-point syncs.
    fs: Arc<dyn Fs>,
    /// The partition directory.
    dir: PathBuf,
    /// Whether new files need their directory entries synced.
    sync_dir: bool,
    /// Sealed segments to sync completely.
    sealed: Vec<Arc<Segment>>,
    /// The active segment's log.
    active: Arc<Segment>,
    /// Recovery point to record once the sealed segments are durable.
    recovery_point: Option<Offset>,
    /// Producer-state snapshot to write once the sealed segments are durable.
    producer_snapshot: Option<Vec<u8>>,
    /// The high watermark once this job succeeds.
    target: Offset,
}

impl PartitionLog {
    /// Opens (or creates) the partition log in `dir`. After a clean shutdown
    /// (`clean`), nothing is scanned; otherwise every segment at or after the
    /// recovery point is validated and torn tails are cut off.
    #[allow(clippy::too_many_lines)] // one linear procedure, read top to bottom
    pub fn open(
        fs: Arc<dyn Fs>,
        dir: &Path,
        config: LogConfig,
        log_append_time: bool,
        clean: bool,
        now_ms: TimestampMs,
    ) -> Result<(PartitionLog, RecoveryReport)> {
        fs.create_dir_all(dir)
            .map_err(|e| StorageError::io(dir, e))?;
        let bases = list_segments(fs.as_ref(), dir)?;
        let mut report = RecoveryReport {
            segments: bases.len(),
            ..RecoveryReport::default()
        };
        let mut segments: Vec<Arc<Segment>> = Vec::with_capacity(bases.len().max(1));
        let mut dir_dirty = false;
        if bases.is_empty() {
            segments.push(Arc::new(Segment::create(
                Arc::clone(&fs),
                dir,
                Offset(0),
                &config,
                now_ms,
            )?));
            dir_dirty = true;
        } else {
            let recover_from = if clean {
                None
            } else {
                Some(
                    read_recovery_point(fs.as_ref(), dir)
                        .filter(|rp| bases.contains(rp))
                        .unwrap_or(bases[0]),
                )
            };
            let last = bases.len() - 1;
            for (i, &base) in bases.iter().enumerate() {
                let log_path = segment_path(dir, base, LOG_EXT);
                let size = fs
                    .file_len(&log_path)
                    .map_err(|e| StorageError::io(&log_path, e))?;
                let needs_recovery = recover_from.is_some_and(|from| base >= from);
                if i < last && !needs_recovery {
                    segments.push(Arc::new(Segment::sealed(
                        Arc::clone(&fs),
                        dir,
                        base,
                        size,
                        bases[i + 1],
                        &config,
                    )));
                    continue;
                }
                let seg = Segment::unloaded(Arc::clone(&fs), dir, base, &config, now_ms);
                let loaded = !needs_recovery && seg.load_clean()?;
                if !loaded {
                    if !needs_recovery {
                        tracing::warn!(segment = %log_path.display(), "active segment not closed cleanly; recovering it");
                    }
                    let end = seg.recover()?;
                    report.recovered_segments += 1;
                    report.truncated_bytes += size.saturating_sub(end.position);
                    if i < last && end.next_offset != bases[i + 1] {
                        tracing::warn!(
                            segment = %log_path.display(),
                            valid_up_to = %end.next_offset,
                            next_segment = %bases[i + 1],
                            "segment ends early after a crash; dropping the segments after it, which were never durable"
                        );
                        for &later in &bases[i + 1..] {
                            Segment::unloaded(Arc::clone(&fs), dir, later, &config, now_ms)
                                .delete()?;
                            report.dropped_segments += 1;
                        }
                        dir_dirty = true;
                        segments.push(Arc::new(seg));
                        break;
                    }
                    if i < last {
                        seg.seal()?;
                        seg.files()?
                            .sync_sealed()
                            .map_err(|e| StorageError::io(&log_path, e))?;
                    }
                }
                segments.push(Arc::new(seg));
            }
        }
        let active = Arc::clone(segments.last().ok_or_else(|| {
            StorageError::io(dir, std::io::Error::other("partition has no segment"))
        })?);
        let log_start = segments[0].base();
        let log_end = active.next_offset();
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            segments: RwLock::new(Arc::new(segments)),
            log_start: AtomicU64::new(log_start.0),
            log_end: AtomicU64::new(log_end.0),
            high_watermark: AtomicU64::new(log_end.0),
            fenced: Mutex::new(None),
            is_fenced: AtomicBool::new(false),
            flush: Mutex::new(()),
        });
        if dir_dirty {
            fs.sync_dir(dir).map_err(|e| StorageError::io(dir, e))?;
        }
        let mut log = PartitionLog {
            dir: dir.to_path_buf(),
            fs,
            config,
            log_append_time,
            shared,
            active,
            unsynced: Vec::new(),
            dir_dirty: false,
            recovery_point_dirty: false,
            producers: ProducerStates::new(),
            pending_snapshot: None,
        };
        if read_recovery_point(log.fs.as_ref(), dir) != Some(log.active.base()) {
            write_recovery_point(log.fs.as_ref(), dir, log.active.base())?;
        }
        log.load_producer_state()?;
        Ok((log, report))
    }

    /// Loads the producer-state snapshot and replays the batch headers
    /// written after it (all of them without a usable snapshot).
    fn load_producer_state(&mut self) -> Result<()> {
        let path = self.dir.join(PRODUCER_STATE_FILE);
        let end = self.log_end_offset();
        let start = self.log_start_offset();
        let (states, from) = match self.fs.read_file(&path) {
            Ok(bytes) => match ProducerStates::decode_snapshot(&bytes) {
                Some((s, at)) if at <= end => (s, at.max(start)),
                _ => {
                    tracing::warn!(file = %path.display(), "producer-state snapshot unusable; rebuilding from the log");
                    (ProducerStates::new(), start)
                }
            },
            Err(_) => (ProducerStates::new(), start),
        };
        self.producers = states;
        // Headers only, segment by segment: the work is bounded by what was
        // written since the snapshot, and no batch is read or checked whole.
        let segments = self.shared.snapshot();
        let first = segments
            .partition_point(|seg| seg.base() <= from)
            .saturating_sub(1);
        for seg in &segments[first..] {
            let producers = &mut self.producers;
            seg.walk_headers(from, |h, base| producers.record(h, base))?;
        }
        Ok(())
    }

    /// A read handle that does not borrow the writer.
    pub fn reader(&self) -> LogReader {
        LogReader {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log's settings.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Replaces the settings (topic config altered); they apply from the
    /// next append, roll or retention pass.
    pub fn set_config(&mut self, config: LogConfig, log_append_time: bool) {
        self.config = config;
        self.log_append_time = log_append_time;
    }

    /// Validates one untrusted batch, assigns it the next offsets and appends
    /// it as received (only `base_offset` is stamped; with log-append time,
    /// the max timestamp, attributes and CRC are rewritten too). Rolls first
    /// if the batch does not fit the active segment or it is too old.
    pub fn append(&mut self, batch: &[u8], now_ms: TimestampMs) -> Result<AppendInfo> {
        let header = validate_batch(batch).map_err(StorageError::InvalidBatch)?;
        self.append_validated(batch, &header, now_ms)
    }

    /// Appends a batch the caller has already checked with
    /// [`runnel_protocol::record::validate_batch`], which returned `header`.
    pub fn append_validated(
        &mut self,
        batch: &[u8],
        header: &BatchHeader,
        now_ms: TimestampMs,
    ) -> Result<AppendInfo> {
        self.shared.check_fenced()?;
        let max = self.config.max_batch_bytes as usize;
        if batch.len() > max {
            return Err(StorageError::BatchTooLarge {
                size: batch.len(),
                max,
            });
        }
        if let SequenceCheck::Duplicate(original) = self.producers.check(header)? {
            return Ok(AppendInfo {
                base_offset: original.base_offset,
                last_offset: original.last_offset,
                log_append_time: None,
                record_count: u32::try_from(header.record_count).unwrap_or(0),
                bytes: 0,
                duplicate: true,
            });
        }
        let base = Offset(self.shared.log_end.load(Ordering::Acquire));
        if self.should_roll(batch.len() as u64, header.offset_count(), now_ms)? {
            self.roll(now_ms)?;
        }
        let new_header = self
            .log_append_time
            .then(|| log_append_header(batch, now_ms));
        let result = self.active.append(
            batch,
            header,
            base,
            new_header.as_ref(),
            self.config.preallocate_bytes,
        );
        if let Err(e) = result {
            if !matches!(e, StorageError::StorageFull { .. }) {
                self.shared.fence(e.to_string());
            }
            return Err(e);
        }
        let next = base.plus(header.offset_count());
        self.producers.record(header, base);
        self.shared.log_end.store(next.0, Ordering::Release);
        Ok(AppendInfo {
            base_offset: base,
            last_offset: Offset(next.0 - 1),
            log_append_time: self.log_append_time.then_some(now_ms),
            record_count: u32::try_from(header.record_count).unwrap_or(0),
            bytes: batch.len(),
            duplicate: false,
        })
    }

    fn should_roll(&self, len: u64, offsets: u64, now_ms: TimestampMs) -> Result<bool> {
        let active = &self.active;
        if active.size() == 0 {
            return Ok(false);
        }
        let age = u64::try_from(now_ms.saturating_sub(active.created_ms())).unwrap_or(0);
        let relative_end = active.next_offset().0 + offsets - active.base().0;
        Ok(active.is_full(len, self.config.segment_bytes)?
            || age >= self.config.segment_ms
            || relative_end > u64::from(u32::MAX))
    }

    /// Seals the active segment and starts a new one at the log end offset.
    /// Does nothing when the active segment is empty.
    pub fn roll(&mut self, now_ms: TimestampMs) -> Result<()> {
        self.shared.check_fenced()?;
        if self.active.size() == 0 {
            return Ok(());
        }
        let base = Offset(self.shared.log_end.load(Ordering::Acquire));
        let new = Arc::new(Segment::create(
            Arc::clone(&self.fs),
            &self.dir,
            base,
            &self.config,
            now_ms,
        )?);
        if let Err(e) = self.active.seal() {
            self.shared.fence(e.to_string());
            return Err(e);
        }
        let old = std::mem::replace(&mut self.active, Arc::clone(&new));
        self.unsynced.push(old);
        self.dir_dirty = true;
        self.recovery_point_dirty = true;
        self.pending_snapshot = Some(self.producers.encode_snapshot(base));
        let mut segments = self.shared.snapshot().as_ref().clone();
        segments.push(new);
        self.shared.replace(segments);
        Ok(())
    }

    /// Captures the fsyncs needed to make everything appended so far durable,
    /// or `None` if it already is. Run the job without holding the writer.
    pub fn begin_flush(&mut self) -> Option<FlushJob> {
        let target = Offset(self.shared.log_end.load(Ordering::Acquire));
        let hw = Offset(self.shared.high_watermark.load(Ordering::Acquire));
        if self.shared.is_fenced.load(Ordering::Acquire)
            || (target == hw && self.unsynced.is_empty() && !self.dir_dirty)
        {
            return None;
        }
        Some(FlushJob {
            shared: Arc::clone(&self.shared),
            fs: Arc::clone(&self.fs),
            dir: self.dir.clone(),
            sync_dir: std::mem::take(&mut self.dir_dirty),
            sealed: std::mem::take(&mut self.unsynced),
            active: Arc::clone(&self.active),
            recovery_point: std::mem::take(&mut self.recovery_point_dirty)
                .then(|| self.active.base()),
            producer_snapshot: self.pending_snapshot.take(),
            target,
        })
    }

    /// Makes everything appended so far durable, in the calling thread.
    pub fn flush(&mut self) -> Result<Offset> {
        if let Some(job) = self.begin_flush() {
            job.run()
        } else {
            self.shared.check_fenced()?;
            Ok(self.high_watermark())
        }
    }

    /// Deletes whole sealed segments past `retention.ms` (by their newest
    /// record) or beyond `retention.bytes`, oldest first, never the active
    /// segment and never data above the high watermark. Returns how many
    /// segments were deleted.
    pub fn enforce_retention(&mut self, now_ms: TimestampMs) -> Result<usize> {
        let segments = self.shared.snapshot();
        let hw = self.high_watermark();
        let mut total: u64 = segments.iter().map(|s| s.size()).sum();
        let mut doomed = 0;
        for seg in segments.iter().take(segments.len().saturating_sub(1)) {
            if seg.next_offset() > hw {
                break;
            }
            let by_size = self
                .config
                .retention_bytes
                .is_some_and(|limit| total.saturating_sub(limit) >= seg.size());
            let by_time = match self.config.retention_ms {
                Some(limit) if !by_size => {
                    let newest = seg.max_timestamp()?;
                    u64::try_from(now_ms.saturating_sub(newest)).unwrap_or(0) > limit
                }
                _ => false,
            };
            if !(by_size || by_time) {
                break;
            }
            total -= seg.size();
            doomed += 1;
        }
        if doomed == 0 {
            return Ok(0);
        }
        let keep = segments[doomed..].to_vec();
        self.shared
            .log_start
            .store(keep[0].base().0, Ordering::Release);
        self.shared.replace(keep);
        for seg in &segments[..doomed] {
            self.unsynced.retain(|s| !Arc::ptr_eq(s, seg));
            seg.delete()?;
            // One segment at a time: a crash resurrects at most the newest
            // deleted one, which still joins the rest without a gap.
            self.fs
                .sync_dir(&self.dir)
                .map_err(|e| StorageError::io(&self.dir, e))?;
        }
        tracing::debug!(partition = %self.dir.display(), deleted = doomed, "retention deleted segments");
        Ok(doomed)
    }

    /// Flushes everything and trims the active segment so the next open needs
    /// no recovery. Appending afterwards still works (the files grow again),
    /// but then the log must be closed again before a clean shutdown.
    pub fn close(&mut self) -> Result<()> {
        self.flush()?;
        let path = self.dir.join(PRODUCER_STATE_FILE);
        let snapshot = self.producers.encode_snapshot(self.log_end_offset());
        self.fs
            .write_file_atomic(&path, &snapshot)
            .map_err(|e| StorageError::io(path, e))?;
        self.active.seal()?;
        self.active
            .files()?
            .sync()
            .map_err(|e| StorageError::io(self.active.path(LOG_EXT), e))?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| StorageError::io(&self.dir, e))
    }

    /// Removes the partition's files (the topic is being deleted).
    pub fn delete(self) -> Result<()> {
        self.fs
            .remove_dir_all(&self.dir)
            .map_err(|e| StorageError::io(&self.dir, e))
    }

    /// First offset still stored.
    pub fn log_start_offset(&self) -> Offset {
        self.reader().log_start_offset()
    }

    /// Next offset to be assigned.
    pub fn log_end_offset(&self) -> Offset {
        self.reader().log_end_offset()
    }

    /// End of the durable prefix.
    pub fn high_watermark(&self) -> Offset {
        self.reader().high_watermark()
    }

    /// Reads whole batches from `offset` on; see [`LogReader::read`].
    pub fn read(&self, offset: Offset, max_bytes: usize) -> Result<ReadResult> {
        self.reader().read(offset, max_bytes)
    }
}

impl FlushJob {
    /// The high watermark once this job succeeds.
    pub fn target(&self) -> Offset {
        self.target
    }

    /// Does the fsyncs, then advances the high watermark. A failure fences
    /// the partition: an fsync is never retried, because after a failed
    /// fsync the kernel may already have dropped the dirty pages.
    pub fn run(self) -> Result<Offset> {
        let _serial = self
            .shared
            .flush
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.shared.check_fenced()?;
        if let Err(e) = self.sync() {
            self.shared.fence(e.to_string());
            return Err(StorageError::Fenced(e.to_string()));
        }
        let hw = self
            .shared
            .high_watermark
            .fetch_max(self.target.0, Ordering::AcqRel)
            .max(self.target.0);
        Ok(Offset(hw))
    }

    fn sync(&self) -> Result<()> {
        if self.sync_dir {
            self.fs
                .sync_dir(&self.dir)
                .map_err(|e| StorageError::io(&self.dir, e))?;
        }
        for seg in &self.sealed {
            let synced = seg.files().and_then(|files| {
                files
                    .sync_sealed()
                    .map_err(|e| StorageError::io(seg.path(LOG_EXT), e))
            });
            match synced {
                // Retention only deletes segments below the high watermark,
                // which an earlier flush made durable: nothing to sync.
                Err(_) if seg.is_deleted() => {}
                other => other?,
            }
        }
        if let Some(rp) = self.recovery_point {
            write_recovery_point(self.fs.as_ref(), &self.dir, rp)?;
        }
        if let Some(snapshot) = &self.producer_snapshot {
            let path = self.dir.join(PRODUCER_STATE_FILE);
            self.fs
                .write_file_atomic(&path, snapshot)
                .map_err(|e| StorageError::io(path, e))?;
        }
        self.active
            .files()?
            .log
            .sync()
            .map_err(|e| StorageError::io(self.active.path(LOG_EXT), e))
    }
}

impl LogReader {
    /// First offset still stored.
    pub fn log_start_offset(&self) -> Offset {
        Offset(self.shared.log_start.load(Ordering::Acquire))
    }

    /// Next offset to be assigned.
    pub fn log_end_offset(&self) -> Offset {
        Offset(self.shared.log_end.load(Ordering::Acquire))
    }

    /// End of the durable prefix.
    pub fn high_watermark(&self) -> Offset {
        Offset(self.shared.high_watermark.load(Ordering::Acquire))
    }

    /// Whether an I/O error fenced the partition, and why.
    pub fn fenced(&self) -> Option<String> {
        self.shared
            .fenced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Bytes stored in all segments.
    pub fn size_bytes(&self) -> u64 {
        self.shared.snapshot().iter().map(|s| s.size()).sum()
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.shared.snapshot().len()
    }

    /// Whole batches from the one containing `offset` on, below the high
    /// watermark, at most `max_bytes` of them unless the first alone is
    /// larger. An offset below the log start or above the log end is out of
    /// range; one at or above the high watermark reads nothing yet.
    pub fn read(&self, offset: Offset, max_bytes: usize) -> Result<ReadResult> {
        self.read_visible(offset, max_bytes, Visibility::Durable)
    }

    /// [`LogReader::read`], up to the high watermark or, with
    /// [`Visibility::Appended`], up to the log end.
    pub fn read_visible(
        &self,
        offset: Offset,
        max_bytes: usize,
        visibility: Visibility,
    ) -> Result<ReadResult> {
        // The high watermark first: it never passes the log end, so the two
        // loads see hw <= end whatever happens between them.
        let hw = self.high_watermark();
        let (start, end) = (self.log_start_offset(), self.log_end_offset());
        let limit = match visibility {
            Visibility::Durable => hw,
            Visibility::Appended => end,
        };
        let mut out = ReadResult {
            records: Bytes::new(),
            high_watermark: hw,
            log_start_offset: start,
            log_end_offset: end,
        };
        if offset < start || offset > end {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start: start,
                log_end: end,
            });
        }
        if offset >= limit {
            return Ok(out);
        }
        let segments = self.shared.snapshot();
        let first = segments
            .partition_point(|s| s.base() <= offset)
            .saturating_sub(1);
        for seg in &segments[first..] {
            match seg.read(offset, max_bytes, limit) {
                Ok(Some(records)) => {
                    out.records = records;
                    return Ok(out);
                }
                Ok(None) => {}
                Err(e) => {
                    // Retention may have deleted the segment since the snapshot.
                    let start = self.log_start_offset();
                    if offset < start {
                        return Err(StorageError::OffsetOutOfRange {
                            offset,
                            log_start: start,
                            log_end: self.log_end_offset(),
                        });
                    }
                    return Err(e);
                }
            }
            if seg.next_offset() > offset {
                break;
            }
        }
        Ok(out)
    }

    /// The first offset below the high watermark whose record timestamp is
    /// at least `timestamp`, with that timestamp; `None` if every record is
    /// older (Kafka's ListOffsets by time). Within a compressed batch the
    /// answer is the batch's first offset and largest timestamp.
    pub fn offset_for_timestamp(
        &self,
        timestamp: TimestampMs,
    ) -> Result<Option<(Offset, TimestampMs)>> {
        let Some(bytes) = self.batch_for_timestamp(timestamp)? else {
            return Ok(None);
        };
        let batch = RecordBatch::new(bytes).map_err(StorageError::InvalidBatch)?;
        let header = *batch.header();
        let base = Offset::from_i64(header.base_offset).unwrap_or_default();
        if header.compression() != Ok(Compression::None)
            || header.timestamp_type() == TimestampType::LogAppendTime
        {
            return Ok(Some((base, header.max_timestamp)));
        }
        let records = batch.records().map_err(StorageError::InvalidBatch)?;
        for record in records {
            let record = record.map_err(StorageError::InvalidBatch)?;
            if record.timestamp >= timestamp {
                return Ok(Some((
                    Offset::from_i64(record.offset).unwrap_or(base),
                    record.timestamp,
                )));
            }
        }
        Ok(Some((base, header.max_timestamp)))
    }

    /// The first batch below the high watermark holding a record whose
    /// timestamp is at least `timestamp` (by its max timestamp), or `None`
    /// if every record is older.
    pub fn batch_for_timestamp(&self, timestamp: TimestampMs) -> Result<Option<Bytes>> {
        let hw = self.high_watermark();
        for seg in self.shared.snapshot().iter() {
            if seg.base() >= hw {
                break;
            }
            if let Some(batch) = seg.find_by_timestamp(timestamp, hw)? {
                return Ok(Some(batch));
            }
        }
        Ok(None)
    }
}

/// A copy of the batch header with log-append time stamped in: the
/// timestamp-type bit set, `max_timestamp = now_ms`, and a CRC recomputed
/// over the new attributes and the unchanged records.
fn log_append_header(batch: &[u8], now_ms: TimestampMs) -> [u8; BATCH_HEADER_LEN] {
    let mut h = [0u8; BATCH_HEADER_LEN];
    h.copy_from_slice(&batch[..BATCH_HEADER_LEN]);
    let attrs =
        i16::from_be_bytes([h[ATTRIBUTES_POS], h[ATTRIBUTES_POS + 1]]) | LOG_APPEND_TIME_BIT;
    h[ATTRIBUTES_POS..ATTRIBUTES_POS + 2].copy_from_slice(&attrs.to_be_bytes());
    h[MAX_TIMESTAMP_POS..MAX_TIMESTAMP_POS + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(&h[ATTRIBUTES_POS..]),
        &batch[BATCH_HEADER_LEN..],
    );
    h[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
    h
}

/// Base offsets of the segments in `dir`, sorted; removes leftovers of
/// interrupted operations (index files without a log, temporary files).
fn list_segments(fs: &dyn Fs, dir: &Path) -> Result<Vec<Offset>> {
    let names = fs.list_dir(dir).map_err(|e| StorageError::io(dir, e))?;
    let mut bases: Vec<Offset> = names
        .iter()
        .filter_map(|n| parse_segment_name(n))
        .filter(|(_, ext)| *ext == LOG_EXT)
        .map(|(b, _)| b)
        .collect();
    bases.sort_unstable();
    for name in &names {
        let orphan = match parse_segment_name(name) {
            Some((base, ext)) => {
                (ext == INDEX_EXT || ext == TIME_INDEX_EXT) && bases.binary_search(&base).is_err()
            }
            None => Path::new(name).extension().is_some_and(|e| e == "tmp"),
        };
        if orphan {
            let path = dir.join(name);
            tracing::info!(file = %path.display(), "removing leftover file");
            fs.remove_file(&path)
                .map_err(|e| StorageError::io(&path, e))?;
        }
    }
    Ok(bases)
}

/// Reads the recovery point: the base offset of the first segment that may
/// hold data not yet durable. Absent or damaged means "recover everything".
fn read_recovery_point(fs: &dyn Fs, dir: &Path) -> Option<Offset> {
    let bytes = fs.read_file(&dir.join(RECOVERY_POINT_FILE)).ok()?;
    let (value, crc) = bytes.split_first_chunk::<8>()?;
    let crc: [u8; 4] = crc.try_into().ok()?;
    (crc32fast::hash(value) == u32::from_be_bytes(crc)).then(|| Offset(u64::from_be_bytes(*value)))
}

fn write_recovery_point(fs: &dyn Fs, dir: &Path, rp: Offset) -> Result<()> {
    let mut buf = [0u8; 12];
    buf[..8].copy_from_slice(&rp.0.to_be_bytes());
    let crc = crc32fast::hash(&buf[..8]);
    buf[8..].copy_from_slice(&crc.to_be_bytes());
    let path = dir.join(RECOVERY_POINT_FILE);
    fs.write_file_atomic(&path, &buf)
        .map_err(|e| StorageError::io(path, e))
}

#[cfg(test)]
#[allow(
    clippy::cast_possible_wrap,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
mod tests {
    use super::*;
    use crate::storage::fs::OsFs;
    use crate::storage::sim::SimFs;
    use bytes::Bytes;
    use runnel_protocol::record::{BatchBuilder, BatchOptions, NewRecord};

    pub(crate) fn batch(first_ts: i64, values: &[&[u8]]) -> Bytes {
        let mut b = BatchBuilder::new(BatchOptions::default()).unwrap();
        for (i, v) in values.iter().enumerate() {
            b.append(&NewRecord {
                timestamp: first_ts + i as i64,
                key: None,
                value: Some(Bytes::copy_from_slice(v)),
                headers: Vec::new(),
            })
            .unwrap();
        }
        b.build().unwrap()
    }

    fn small_config() -> LogConfig {
        LogConfig {
            segment_bytes: 1024,
            index_interval_bytes: 128,
            max_index_bytes: 4096,
            preallocate_bytes: 4096,
            retention_ms: None,
            ..LogConfig::default()
        }
    }

    fn open(fs: &SimFs, config: LogConfig, clean: bool) -> (PartitionLog, RecoveryReport) {
        PartitionLog::open(
            Arc::new(fs.clone()),
            Path::new("/data/t/0"),
            config,
            false,
            clean,
            0,
        )
        .unwrap()
    }

    fn offsets_of(bytes: &Bytes) -> Vec<i64> {
        let mut out = Vec::new();
        for b in runnel_protocol::record::Batches::new(bytes.clone()) {
            let b = b.unwrap();
            for r in b.records().unwrap() {
                out.push(r.unwrap().offset);
            }
        }
        out
    }

    #[test]
    fn appends_assign_consecutive_offsets_and_reads_return_them() {
        let fs = SimFs::new();
        let (mut log, _) = open(&fs, small_config(), false);
        let a = log.append(&batch(10, &[b"a", b"b", b"c"]), 0).unwrap();
        let b = log.append(&batch(20, &[b"d"]), 0).unwrap();
        assert_eq!((a.base_offset, a.last_offset), (Offset(0), Offset(2)));
        assert_eq!((b.base_offset, b.last_offset), (Offset(3), Offset(3)));
        assert_eq!(log.log_end_offset(), Offset(4));
        assert_eq!(
            log.high_watermark(),
            Offset(0),
            "nothing is durable before a flush"
        );
        assert!(log.read(Offset(0), 1 << 20).unwrap().records.is_empty());
        assert_eq!(log.flush().unwrap(), Offset(4));
        let r = log.read(Offset(0), 1 << 20).unwrap();
        assert_eq!(offsets_of(&r.records), vec![0, 1, 2, 3]);
        // An offset inside a batch returns that whole batch.
        let r = log.read(Offset(1), 1 << 20).unwrap();
        assert_eq!(offsets_of(&r.records), vec![0, 1, 2, 3]);
        let r = log.read(Offset(3), 1 << 20).unwrap();
        assert_eq!(offsets_of(&r.records), vec![3]);
    }

    #[test]
    fn appended_reads_return_unflushed_batches_which_a_killed_process_keeps() {
        let fs = SimFs::new();
        let (mut log, _) = open(&fs, small_config(), false);
        let one = batch(0, &[&[7u8; 300]]);
        for _ in 0..6 {
            log.append(&one, 0).unwrap();
        }
        assert!(log.reader().segment_count() > 1, "the appends rolled");
        let reader = log.reader();
        let durable = reader.read_visible(Offset(0), 1 << 20, Visibility::Durable);
        assert!(durable.unwrap().records.is_empty());
        let mut seen = Vec::new();
        let mut next = Offset(0);
        while next < log.log_end_offset() {
            let r = reader
                .read_visible(next, 1 << 20, Visibility::Appended)
                .unwrap();
            let offsets = offsets_of(&r.records);
            assert!(!offsets.is_empty(), "stuck at {next:?}");
            next = Offset(*offsets.last().unwrap() as u64 + 1);
            seen.extend(offsets);
        }
        assert_eq!(seen, (0..6).collect::<Vec<_>>());
        // At the log end there is nothing yet; past it is out of range.
        let end = reader.read_visible(Offset(6), 100, Visibility::Appended);
        assert!(end.unwrap().records.is_empty());
        assert!(
            reader
                .read_visible(Offset(7), 100, Visibility::Appended)
                .is_err()
        );
        // SIGKILL: the page cache survives, so does every record read above.
        let (reopened, _) = open(&fs.snapshot(), small_config(), false);
        assert_eq!(reopened.log_end_offset(), Offset(6));
    }

    #[test]
    fn reads_stop_at_max_bytes_but_return_at_least_one_batch() {
        let fs = SimFs::new();
        let (mut log, _) = open(&fs, small_config(), false);
        let one = batch(0, &[&[7u8; 100]]);
        for _ in 0..5 {
            log.append(&one, 0).unwrap();
        }
        log.flush().unwrap();
        let r = log.read(Offset(0), one.len() * 2 + 1).unwrap();
        assert_eq!(offsets_of(&r.records), vec![0, 1]);
        let r = log.read(Offset(0), 1).unwrap();
        assert_eq!(offsets_of(&r.records), vec![0]);
    }

    #[test]
    fn out_of_range_offsets_are_rejected_and_the_end_reads_empty() {
        let fs = SimFs::new();
        let (mut log, _) = open(&fs, small_config(), false);
        log.append(&batch(0, &[b"x"]), 0).unwrap();
        log.flush().unwrap();
        assert!(log.read(Offset(1), 100).unwrap().records.is_empty());
        let err = log.read(Offset(2), 100).unwrap_err();
        assert!(
            matches!(err, StorageError::OffsetOutOfRange { .. }),
            "{err}"
        );
    }

    #[test]
    fn segments_roll_at_segment_bytes_and_reads_cross_them() {
        let fs = SimFs::new();
        let (mut log, _) = open(&fs, small_config(), false);
        let one = batch(0, &[&[1u8; 200]]);
        for _ in 0..12 {
            log.append(&one, 0).unwrap();
        }
        log.flush().unwrap();
        assert!(log.reader().segment_count() >= 3);
        let mut next = Offset(0);
        let mut seen = Vec::new();
        while next < log.log_end_offset() {
            let r = log.read(next, 10_000).unwrap();
            let offs = offsets_of(&r.records);
            next = Offset(u64::try_from(*offs.last().unwrap()).unwrap() + 1);
            seen.extend(offs);
        }
        assert_eq!(seen, (0..12).collect::<Vec<_>>());
    }

    #[test]
    fn segments_roll_at_segment_ms() {
        let fs = SimFs::new();
        let config = LogConfig {
            segment_ms: 1000,
            ..small_config()
        };
        let (mut log, _) = open(&fs, config, false);
        log.append(&batch(0, &[b"a"]), 0).unwrap();
        log.append(&batch(0, &[b"b"]), 999).unwrap();
        assert_eq!(log.reader().segment_count(), 1);
        log.append(&batch(0, &[b"c"]), 1000).unwrap();
        assert_eq!(log.reader().segment_count(), 2);
    }

    #[test]
    fn retention_by_bytes_deletes_oldest_sealed_segments() {
        let fs = SimFs::new();
        let config = LogConfig {
            retention_bytes: Some(1500),
            ..small_config()
        };
        let (mut log, _) = open(&fs, config, false);
        let one = batch(0, &[&[1u8; 200]]);
        for _ in 0..20 {
            log.append(&one, 0).unwrap();
        }
        log.flush().unwrap();
        let before = log.reader().size_bytes();
        let deleted = log.enforce_retention(0).unwrap();
        assert!(deleted > 0);
        let after = log.reader().size_bytes();
        assert!(after < before && after >= 1500 - 1024, "{after}");
        let start = log.log_start_offset();
        assert!(start > Offset(0));
        assert!(matches!(
            log.read(Offset(0), 100),
            Err(StorageError::OffsetOutOfRange { .. })
        ));
        assert!(!log.read(start, 100).unwrap().records.is_empty());
    }

    #[test]
    fn a_flush_holding_a_segment_that_retention_deleted_does_not_fence() {
        let fs = SimFs::new();
        let config = LogConfig {
            retention_bytes: Some(0),
            ..small_config()
        };
        let (mut log, _) = open(&fs, config, false);
        let one = batch(0, &[&[1u8; 200]]);
        log.append(&one, 0).unwrap();
        // The first flush covers the batch while its segment is active...
        let first = log.begin_flush().unwrap();
        log.roll(0).unwrap();
        // ...the second holds that segment, now sealed, to sync it.
        let second = log.begin_flush().unwrap();
        first.run().unwrap();
        assert_eq!(log.enforce_retention(0).unwrap(), 1);
        second.run().unwrap();
        log.append(&one, 0).unwrap();
        assert_eq!(log.flush().unwrap(), Offset(2));
    }

    #[test]
    fn retention_by_time_uses_the_newest_record_of_a_segment() {
        let fs = SimFs::new();
        let config = LogConfig {
            retention_ms: Some(1000),
            ..small_config()
        };
        let (mut log, _) = open(&fs, config, false);
        log.append(&batch(100, &[&[1u8; 600]]), 0).unwrap();
        log.append(&batch(5000, &[&[1u8; 600]]), 0).unwrap();
        log.append(&batch(9000, &[&[1u8; 600]]), 0).unwrap();
        log.flush().unwrap();
        assert_eq!(log.reader().segment_count(), 3);
        assert_eq!(
            log.enforce_retention(1100).unwrap(),
            0,
            "newest record is 1000 ms old"
        );
        assert_eq!(log.enforce_retention(1101).unwrap(), 1);
        assert_eq!(
            log.enforce_retention(100_000).unwrap(),
            1,
            "the active segment stays"
        );
        assert_eq!(log.log_start_offset(), Offset(2));
    }

    #[test]
    fn retention_never_deletes_what_is_not_yet_durable() {
        let fs = SimFs::new();
        let config = LogConfig {
            retention_bytes: Some(1),
            ..small_config()
        };
        let (mut log, _) = open(&fs, config, false);
        for _ in 0..6 {
            log.append(&batch(0, &[&[1u8; 600]]), 0).unwrap();
        }
        assert_eq!(log.enforce_retention(0).unwrap(), 0);
        log.flush().unwrap();
        assert!(log.enforce_retention(0).unwrap() > 0);
    }

    #[test]
    fn clean_reopen_keeps_everything_without_recovery() {
        let fs = SimFs::new();
        let (mut log, _) = open(&fs, small_config(), false);
        for i in 0..10 {
            log.append(&batch(i, &[&[1u8; 150]]), 0).unwrap();
        }
        log.close().unwrap();
        let (mut log, report) = open(&fs.crash(7), small_config(), true);
        assert_eq!(report.recovered_segments, 0);
        assert_eq!(log.log_end_offset(), Offset(10));
        assert_eq!(log.high_watermark(), Offset(10));
        let a = log.append(&batch(0, &[b"more"]), 0).unwrap();
        assert_eq!(a.base_offset, Offset(10));
        log.flush().unwrap();
        assert_eq!(
            offsets_of(&log.read(Offset(10), 100).unwrap().records),
            vec![10]
        );
    }

    #[test]
    fn crash_recovery_truncates_a_torn_tail() {
        let fs = SimFs::new();
        let (mut log, _) = open(&fs, small_config(), false);
        log.append(&batch(0, &[b"durable"]), 0).unwrap();
        log.flush().unwrap();
        log.append(&batch(0, &[b"lost"]), 0).unwrap();
        // Tear the second batch: corrupt one byte of it in the durable image.
        let path = Path::new("/data/t/0/00000000000000000000.log");
        let first_len = batch(0, &[b"durable"]).len();
        log.flush().unwrap();
        fs.corrupt(path, first_len + 70, &[0xff]).unwrap();
        let (log, report) = open(&fs.crash(1), small_config(), false);
        assert_eq!(report.recovered_segments, 1);
        assert_eq!(log.log_end_offset(), Offset(1));
        assert_eq!(
            offsets_of(&log.read(Offset(0), 1000).unwrap().records),
            vec![0]
        );
    }

    #[test]
    fn failed_fsync_fences_the_partition() {
        let fs = SimFs::new();
        let (mut log, _) = open(&fs, small_config(), false);
        log.append(&batch(0, &[b"a"]), 0).unwrap();
        fs.fail_syncs_after(0);
        assert!(matches!(log.flush(), Err(StorageError::Fenced(_))));
        assert!(matches!(
            log.append(&batch(0, &[b"b"]), 0),
            Err(StorageError::Fenced(_))
        ));
        assert_eq!(log.high_watermark(), Offset(0));
        assert!(log.reader().fenced().is_some());
    }

    /// Bytes the partition's files hold.
    fn used_space(fs: &SimFs) -> u64 {
        let dir = Path::new("/data/t/0");
        fs.list_dir(dir)
            .unwrap()
            .iter()
            .map(|n| fs.file_len(&dir.join(n)).unwrap())
            .sum()
    }

    #[test]
    fn a_full_disk_rejects_appends_without_fencing() {
        let fs = SimFs::new();
        let (mut log, _) = open(&fs, small_config(), false);
        fs.set_space_limit(Some(used_space(&fs)));
        let err = log.append(&batch(0, &[b"a"]), 0).unwrap_err();
        assert!(matches!(err, StorageError::StorageFull { .. }), "{err}");
        fs.set_space_limit(None);
        assert_eq!(
            log.append(&batch(0, &[b"a"]), 0).unwrap().base_offset,
            Offset(0)
        );
    }

    #[test]
    fn a_full_disk_never_leaves_one_index_with_an_entry_the_other_lacks() {
        // An entry for every batch: after a batch of pending entries, the
        // next one writes them out. The second such write grows the time
        // index (12-byte entries) but not the offset index (8 bytes).
        let config = LogConfig {
            segment_bytes: 1 << 20,
            index_interval_bytes: 1,
            max_index_bytes: 1 << 16,
            ..small_config()
        };
        let mut time_index_full = 0;
        for extra in (0..=16_384).step_by(256) {
            let fs = SimFs::new();
            let (mut log, _) = open(&fs, config.clone(), false);
            // The first batch gets no entry: 2 batches of entries, plus one.
            for _ in 0..=2 * crate::storage::index::WRITE_BATCH {
                log.append(&batch(0, &[b"a"]), 0).unwrap();
            }
            fs.set_space_limit(Some(used_space(&fs) + extra));
            let result = log.append(&batch(0, &[b"a"]), 0);
            if let Err(StorageError::StorageFull { path, .. }) = &result
                && path.extension() == Some(TIME_INDEX_EXT.as_ref())
            {
                time_index_full += 1;
            }
            let files = log.active.files().unwrap();
            assert_eq!(
                files.offset_index.len(),
                files.time_index.len(),
                "{extra} bytes free: {result:?}"
            );
            fs.set_space_limit(None);
            log.append(&batch(0, &[b"b"]), 0).unwrap();
            assert_eq!(files.offset_index.len(), files.time_index.len());
        }
        assert!(
            time_index_full > 0,
            "no case ran out of room at the time index"
        );
    }

    #[test]
    fn invalid_and_oversized_batches_are_rejected() {
        let fs = SimFs::new();
        let (mut log, _) = open(
            &fs,
            LogConfig {
                max_batch_bytes: 100,
                ..small_config()
            },
            false,
        );
        let mut bad = batch(0, &[b"x"]).to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(matches!(
            log.append(&bad, 0),
            Err(StorageError::InvalidBatch(_))
        ));
        let big = batch(0, &[&[0u8; 200]]);
        assert!(matches!(
            log.append(&big, 0),
            Err(StorageError::BatchTooLarge { .. })
        ));
        assert_eq!(log.log_end_offset(), Offset(0));
    }

    #[test]
    fn log_append_time_rewrites_the_timestamp_and_keeps_the_crc_valid() {
        let fs = SimFs::new();
        let (mut log, _) = PartitionLog::open(
            Arc::new(fs.clone()),
            Path::new("/p"),
            small_config(),
            true,
            false,
            0,
        )
        .unwrap();
        let info = log.append(&batch(5, &[b"a", b"b"]), 77_000).unwrap();
        assert_eq!(info.log_append_time, Some(77_000));
        log.flush().unwrap();
        let r = log.read(Offset(0), 1000).unwrap();
        let b = RecordBatch::new(r.records).unwrap();
        assert_eq!(b.header().max_timestamp, 77_000);
        assert_eq!(b.header().timestamp_type(), TimestampType::LogAppendTime);
        validate_batch(b.as_bytes()).unwrap();
    }

    #[test]
    fn offsets_are_found_by_timestamp() {
        let fs = SimFs::new();
        let (mut log, _) = open(&fs, small_config(), false);
        for i in 0..20 {
            log.append(&batch(i * 100, &[&[0u8; 90], &[0u8; 90]]), 0)
                .unwrap();
        }
        log.flush().unwrap();
        let r = log.reader();
        assert_eq!(r.offset_for_timestamp(0).unwrap(), Some((Offset(0), 0)));
        assert_eq!(r.offset_for_timestamp(101).unwrap(), Some((Offset(3), 101)));
        assert_eq!(r.offset_for_timestamp(150).unwrap(), Some((Offset(4), 200)));
        assert_eq!(
            r.offset_for_timestamp(1901).unwrap(),
            Some((Offset(39), 1901))
        );
        assert_eq!(r.offset_for_timestamp(1902).unwrap(), None);
    }

    fn idempotent(pid: i64, seq: i32, values: &[&[u8]]) -> Bytes {
        let mut b = BatchBuilder::new(BatchOptions {
            producer_id: pid,
            producer_epoch: 0,
            base_sequence: seq,
            ..BatchOptions::default()
        })
        .unwrap();
        for v in values {
            b.append(&NewRecord {
                timestamp: 0,
                key: None,
                value: Some(Bytes::copy_from_slice(v)),
                headers: Vec::new(),
            })
            .unwrap();
        }
        b.build().unwrap()
    }

    #[test]
    fn a_retried_idempotent_batch_gets_its_original_offsets() {
        let fs = SimFs::new();
        let (mut log, _) = open(&fs, small_config(), false);
        let first = idempotent(9, 0, &[b"a", b"b"]);
        assert_eq!(log.append(&first, 0).unwrap().base_offset, Offset(0));
        log.append(&idempotent(9, 2, &[b"c"]), 0).unwrap();
        let retry = log.append(&first, 0).unwrap();
        assert!(retry.duplicate);
        assert_eq!(
            (retry.base_offset, retry.last_offset),
            (Offset(0), Offset(1))
        );
        assert_eq!(log.log_end_offset(), Offset(3));
        let gap = log.append(&idempotent(9, 7, &[b"x"]), 0).unwrap_err();
        assert!(matches!(gap, StorageError::Sequence(_)), "{gap}");
    }

    #[test]
    fn producer_state_survives_clean_reopen_roll_and_crash() {
        let fs = SimFs::new();
        let (mut log, _) = open(&fs, small_config(), false);
        let mut seq = 0;
        let mut batches = Vec::new();
        for i in 0..30 {
            let b = idempotent(4, seq, &[&[i as u8; 100]]);
            log.append(&b, 0).unwrap();
            batches.push(b);
            seq += 1;
        }
        assert!(log.reader().segment_count() > 2, "the workload must roll");
        log.flush().unwrap();
        let last = batches.last().unwrap().clone();
        // Crash: the state comes from the last roll's snapshot plus a replay.
        let (mut crashed, _) = open(&fs.crash(3), small_config(), false);
        assert!(crashed.append(&last, 0).unwrap().duplicate);
        assert!(crashed.append(&idempotent(4, seq, &[b"next"]), 0).is_ok());
        // Clean close and reopen: from the snapshot alone.
        log.close().unwrap();
        let (mut reopened, _) = open(&fs.snapshot(), small_config(), true);
        assert!(reopened.append(&last, 0).unwrap().duplicate);
        assert!(matches!(
            reopened.append(&idempotent(4, seq + 1, &[b"gap"]), 0),
            Err(StorageError::Sequence(_))
        ));
    }

    #[test]
    fn damaged_batches_on_disk_are_reported_not_served() {
        let fs = SimFs::new();
        let (mut log, _) = open(&fs, small_config(), false);
        let one = batch(0, &[&[5u8; 200]]);
        for _ in 0..12 {
            log.append(&one, 0).unwrap();
        }
        log.close().unwrap();
        // Flip a byte inside the second batch of the first (sealed) segment.
        let path = Path::new("/data/t/0/00000000000000000000.log");
        fs.corrupt(path, one.len() + 100, &[0xAA]).unwrap();
        let (log, _) = open(&fs.snapshot(), small_config(), true);
        let err = log.read(Offset(1), 1).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, StorageError::Corrupt { .. }), "{msg}");
        assert!(
            msg.contains("00000000000000000000.log") && msg.contains("offset 1"),
            "{msg}"
        );
        // Other batches, before and after, are still served.
        assert_eq!(
            offsets_of(&log.read(Offset(0), 1).unwrap().records),
            vec![0]
        );
        assert_eq!(
            offsets_of(&log.read(Offset(2), 1).unwrap().records),
            vec![2]
        );
        assert!(log.read(Offset(11), 1).is_ok());
    }

    /// Descriptors of this process open on files under `dir`.
    fn descriptors_under(dir: &Path) -> usize {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|target| target.starts_with(dir))
            .count()
    }

    #[test]
    fn a_log_holds_one_descriptor_however_many_segments_it_has() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("t").join("0");
        let open = |clean| {
            PartitionLog::open(Arc::new(OsFs), &dir, small_config(), false, clean, 0).unwrap()
        };
        let (mut log, _) = open(false);
        let one = batch(0, &[&[5u8; 200]]);
        for _ in 0..40 {
            log.append(&one, 0).unwrap();
            log.flush().unwrap();
        }
        assert!(log.reader().segment_count() > 5);
        // Every segment is readable, sealed ones through their mappings.
        assert_eq!(
            offsets_of(&log.read(Offset(0), 1).unwrap().records),
            vec![0]
        );
        assert_eq!(descriptors_under(tmp.path()), 1, "only the active log");
        log.close().unwrap();
        drop(log);
        assert_eq!(descriptors_under(tmp.path()), 0);

        // Reopened, sealed segments are opened only to map them.
        let (log, _) = open(true);
        for o in 0..40 {
            assert_eq!(
                offsets_of(&log.read(Offset(o), 1).unwrap().records),
                vec![o as i64]
            );
        }
        assert_eq!(descriptors_under(tmp.path()), 1);
    }
}
