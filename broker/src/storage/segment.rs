//! A segment: one `.log` file of record batches with its `.index` and
//! `.timeindex`, all named by the segment's base offset.
//!
//! The active segment is appended to by the single writer of its partition;
//! sealed segments are immutable and their files are opened (mapped) only
//! when first read, so a partition with many segments costs no mappings for
//! the ones nobody reads.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use runnel_protocol::record::{BATCH_HEADER_LEN, BatchHeader, RecordError, check_envelope};

use super::config::LogConfig;
use super::error::{Result, StorageError};
use super::fs::{Fs, StorageFile};
use super::index::{Index, OffsetEntry, OffsetIndex, TimeEntry, TimeIndex};
use super::offset::{FilePosition, Offset, RelativeOffset, TimestampMs};

/// Extension of the log file.
pub(crate) const LOG_EXT: &str = "log";
/// Extension of the offset index.
pub(crate) const INDEX_EXT: &str = "index";
/// Extension of the time index.
pub(crate) const TIME_INDEX_EXT: &str = "timeindex";

/// `dir/<base offset, 20 digits>.<ext>`.
pub(crate) fn segment_path(dir: &Path, base: Offset, ext: &str) -> PathBuf {
    dir.join(format!("{:020}.{ext}", base.0))
}

/// The base offset named by a segment file name such as
/// `00000000000000000042.log`, with its extension.
pub(crate) fn parse_segment_name(name: &str) -> Option<(Offset, &str)> {
    let (stem, ext) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((Offset(stem.parse().ok()?), ext))
}

/// The open files of a segment.
#[derive(Debug)]
pub(crate) struct SegmentFiles {
    /// Record batches, back to back.
    pub(crate) log: Arc<dyn StorageFile>,
    /// Sparse offset → position index.
    pub(crate) offset_index: OffsetIndex,
    /// Sparse timestamp → offset index.
    pub(crate) time_index: TimeIndex,
}

impl SegmentFiles {
    /// Makes all three files durable.
    pub(crate) fn sync(&self) -> io::Result<()> {
        self.log.sync()?;
        self.offset_index.file().sync()?;
        self.time_index.file().sync()
    }

    /// Makes all three files of a sealed segment durable, then closes the
    /// log's descriptor: the segment is never written again and reads go
    /// through its mapping. (The descriptor is kept until the sync so that a
    /// write-back error of the log is reported to the fsync that covers it.)
    pub(crate) fn sync_sealed(&self) -> io::Result<()> {
        self.sync()?;
        self.log.release_handle();
        Ok(())
    }
}

/// What a scan of a segment's log found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScanEnd {
    /// Position after the last valid batch.
    pub(crate) position: u64,
    /// Offset after the last valid batch.
    pub(crate) next_offset: Offset,
    /// Whether the scan stopped at bytes that are not a valid batch (as
    /// opposed to the end of the file).
    pub(crate) stopped_early: bool,
}

/// One segment of a partition log.
#[derive(Debug)]
pub(crate) struct Segment {
    /// Offset of the first record; names the files.
    base: Offset,
    /// The partition directory.
    dir: PathBuf,
    /// Where the files live.
    fs: Arc<dyn Fs>,
    /// Index sizing and interval.
    index_interval_bytes: u32,
    /// Capacity of each index file while active.
    max_index_bytes: u32,
    /// Address space to reserve for the log file.
    reserve: u64,
    /// Open files; `None` for a sealed segment nobody has read yet.
    files: Mutex<Option<Arc<SegmentFiles>>>,
    /// Bytes of complete, published batches. Readers never look past it.
    size: AtomicU64,
    /// Offset after the last published batch.
    next_offset: AtomicU64,
    /// Largest record timestamp in the segment (`i64::MIN` when empty or not
    /// yet known for an unopened sealed segment).
    max_timestamp: AtomicI64,
    /// Bytes appended since the last index entry (writer only).
    bytes_since_index: AtomicU32,
    /// When the segment became active, for `segment.ms`.
    created_ms: TimestampMs,
    /// Bytes from here on were appended (and validated) by this process, or
    /// CRC-checked by recovery: reads need not check them again.
    trusted_from: AtomicU64,
    /// Bytes below here have been CRC-checked by a read: a contiguous prefix.
    verified_to: AtomicU64,
    /// Set when retention (or a topic deletion) removed the files.
    deleted: AtomicBool,
}

impl Segment {
    fn new(
        fs: Arc<dyn Fs>,
        dir: &Path,
        base: Offset,
        config: &LogConfig,
        created_ms: TimestampMs,
    ) -> Segment {
        Segment {
            base,
            dir: dir.to_path_buf(),
            fs,
            index_interval_bytes: config.index_interval_bytes,
            max_index_bytes: config.max_index_bytes,
            reserve: config.segment_bytes + u64::from(config.max_batch_bytes),
            files: Mutex::new(None),
            size: AtomicU64::new(0),
            next_offset: AtomicU64::new(base.0),
            max_timestamp: AtomicI64::new(i64::MIN),
            bytes_since_index: AtomicU32::new(0),
            created_ms,
            trusted_from: AtomicU64::new(0),
            verified_to: AtomicU64::new(0),
            deleted: AtomicBool::new(false),
        }
    }

    /// Creates the files of a new, empty active segment.
    pub(crate) fn create(
        fs: Arc<dyn Fs>,
        dir: &Path,
        base: Offset,
        config: &LogConfig,
        now_ms: TimestampMs,
    ) -> Result<Segment> {
        let seg = Segment::new(fs, dir, base, config, now_ms);
        let log = seg.open_file(LOG_EXT, true, seg.reserve)?;
        log.truncate(0)
            .map_err(|e| StorageError::io(log.path(), e))?;
        let offset_index = seg.open_index(INDEX_EXT, 0)?;
        let time_index = seg.open_index(TIME_INDEX_EXT, 0)?;
        for f in [offset_index.file(), time_index.file()] {
            f.truncate(0).map_err(|e| StorageError::io(f.path(), e))?;
        }
        seg.install(SegmentFiles {
            log,
            offset_index,
            time_index,
        });
        seg.preallocate_indexes()?;
        Ok(seg)
    }

    /// A sealed segment of `size` bytes holding offsets up to (excluding)
    /// `next_offset`; its files open on first use.
    pub(crate) fn sealed(
        fs: Arc<dyn Fs>,
        dir: &Path,
        base: Offset,
        size: u64,
        next_offset: Offset,
        config: &LogConfig,
    ) -> Segment {
        let seg = Segment::new(fs, dir, base, config, 0);
        seg.trusted_from.store(u64::MAX, Ordering::Release);
        seg.size.store(size, Ordering::Release);
        seg.next_offset.store(next_offset.0, Ordering::Release);
        seg
    }

    /// A segment whose state is unknown until [`Segment::load_clean`] or
    /// [`Segment::recover`] runs.
    pub(crate) fn unloaded(
        fs: Arc<dyn Fs>,
        dir: &Path,
        base: Offset,
        config: &LogConfig,
        now_ms: TimestampMs,
    ) -> Segment {
        let seg = Segment::new(fs, dir, base, config, now_ms);
        seg.trusted_from.store(u64::MAX, Ordering::Release);
        seg
    }

    /// Offset of the first record.
    pub(crate) fn base(&self) -> Offset {
        self.base
    }

    /// Published size in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// Offset after the last published batch.
    pub(crate) fn next_offset(&self) -> Offset {
        Offset(self.next_offset.load(Ordering::Acquire))
    }

    /// When the segment became active.
    pub(crate) fn created_ms(&self) -> TimestampMs {
        self.created_ms
    }

    /// Path of one of the segment's files.
    pub(crate) fn path(&self, ext: &str) -> PathBuf {
        segment_path(&self.dir, self.base, ext)
    }

    fn open_file(&self, ext: &str, create: bool, reserve: u64) -> Result<Arc<dyn StorageFile>> {
        let path = self.path(ext);
        self.fs
            .open(&path, create, reserve)
            .map_err(|e| StorageError::io(path, e))
    }

    fn open_index<E: super::index::Entry>(&self, ext: &str, entries: u32) -> Result<Index<E>> {
        let file = self.open_file(ext, true, u64::from(self.max_index_bytes))?;
        Ok(Index::new(file, entries, self.max_index_bytes))
    }

    fn install(&self, files: SegmentFiles) -> Arc<SegmentFiles> {
        let files = Arc::new(files);
        *self
            .files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::clone(&files));
        files
    }

    /// The open files, opening a sealed segment's files on first use and
    /// rebuilding its indexes if they are missing or inconsistent.
    pub(crate) fn files(&self) -> Result<Arc<SegmentFiles>> {
        let mut guard = self
            .files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(files) = guard.as_ref() {
            return Ok(Arc::clone(files));
        }
        let files = Arc::new(self.open_sealed_files()?);
        *guard = Some(Arc::clone(&files));
        Ok(files)
    }

    /// Whether the segment's files were deleted.
    pub(crate) fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    /// Closes the files of a sealed segment; in-flight reads keep their maps.
    pub(crate) fn release(&self) {
        *self
            .files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    fn open_sealed_files(&self) -> Result<SegmentFiles> {
        // A sealed segment is durable and read-only: reads go through the
        // mapping, so no descriptor is kept.
        let log = self.open_file(LOG_EXT, false, 0)?;
        log.release_handle();
        let size = self.size().min(log.len());
        let oi_file = self.open_file(INDEX_EXT, true, 0)?;
        let ti_file = self.open_file(TIME_INDEX_EXT, true, 0)?;
        let oi = whole_entries::<OffsetEntry>(oi_file.as_ref()).filter(|&n| {
            OffsetIndex::valid_prefix(oi_file.as_ref(), |e| {
                e.position.as_u64() + BATCH_HEADER_LEN as u64 <= size
            })
            .is_ok_and(|ok| ok == n)
        });
        let ti = whole_entries::<TimeEntry>(ti_file.as_ref()).filter(|&n| {
            TimeIndex::valid_prefix(ti_file.as_ref(), |_| true).is_ok_and(|ok| ok == n)
        });
        let files = match (oi, ti) {
            (Some(oi), Some(ti)) if oi == ti => SegmentFiles {
                log,
                offset_index: Index::new(oi_file, oi, self.max_index_bytes),
                time_index: Index::new(ti_file, ti, self.max_index_bytes),
            },
            _ => {
                tracing::warn!(
                    segment = %self.path(LOG_EXT).display(),
                    "index files missing or inconsistent; rebuilding them from the log"
                );
                let files = SegmentFiles {
                    log,
                    offset_index: Index::new(oi_file, 0, self.max_index_bytes),
                    time_index: Index::new(ti_file, 0, self.max_index_bytes),
                };
                files
                    .offset_index
                    .truncate_entries(0)
                    .map_err(|e| self.err(INDEX_EXT, e))?;
                files
                    .time_index
                    .truncate_entries(0)
                    .map_err(|e| self.err(TIME_INDEX_EXT, e))?;
                self.bytes_since_index.store(0, Ordering::Relaxed);
                self.max_timestamp.store(i64::MIN, Ordering::Release);
                let expected_next = self.next_offset();
                let end = self.scan(&files, 0, self.base, false)?;
                if end.position != size || end.next_offset != expected_next {
                    return Err(self.corrupt(
                        end.position,
                        &format!(
                            "sealed segment should hold offsets up to {expected_next} in {size} bytes, but its batches end at offset {} after {} bytes",
                            end.next_offset, end.position
                        ),
                    ));
                }
                files
                    .offset_index
                    .trim()
                    .map_err(|e| self.err(INDEX_EXT, e))?;
                files
                    .time_index
                    .trim()
                    .map_err(|e| self.err(TIME_INDEX_EXT, e))?;
                self.verified_to.store(size, Ordering::Release);
                return Ok(files);
            }
        };
        let end = self.walk_tail(&files, size)?;
        let expected = self.next_offset();
        if end.next_offset != expected || end.position != size {
            tracing::error!(
                segment = %self.path(LOG_EXT).display(),
                ends_at = %end.next_offset,
                next_segment_starts_at = %expected,
                "segment does not join the next one: a segment is missing or truncated"
            );
        }
        Ok(files)
    }

    /// Derives the largest timestamp of a segment whose indexes are intact:
    /// the last time-index entry covers everything before the last indexed
    /// batch; the batches from there on are walked (headers only).
    fn walk_tail(&self, files: &SegmentFiles, size: u64) -> Result<ScanEnd> {
        let (pos, offset) = match files
            .offset_index
            .last()
            .map_err(|e| self.err(INDEX_EXT, e))?
        {
            Some(e) => (e.position.as_u64(), e.offset.absolute(self.base)),
            None => (0, self.base),
        };
        if let Some(last) = files
            .time_index
            .last()
            .map_err(|e| self.err(TIME_INDEX_EXT, e))?
        {
            self.max_timestamp
                .fetch_max(last.timestamp, Ordering::AcqRel);
        }
        let end = self.walk(files, pos, offset, size, false, |_, h| {
            self.max_timestamp
                .fetch_max(h.max_timestamp, Ordering::AcqRel);
            Ok(())
        })?;
        self.bytes_since_index.store(
            u32::try_from(end.position - pos).unwrap_or(u32::MAX),
            Ordering::Relaxed,
        );
        Ok(end)
    }

    fn err(&self, ext: &str, e: io::Error) -> StorageError {
        StorageError::io(self.path(ext), e)
    }

    /// Grows both index files to their capacity (active segment).
    fn preallocate_indexes(&self) -> Result<()> {
        let files = self.files()?;
        files
            .offset_index
            .preallocate()
            .map_err(|e| StorageError::grow(self.path(INDEX_EXT), e))?;
        files
            .time_index
            .preallocate()
            .map_err(|e| StorageError::grow(self.path(TIME_INDEX_EXT), e))
    }

    /// Whether appending `len` more bytes would need a roll first.
    pub(crate) fn is_full(&self, len: u64, segment_bytes: u64) -> Result<bool> {
        let size = self.size();
        if size == 0 {
            return Ok(false);
        }
        let files = self.files()?;
        Ok(size + len > segment_bytes
            || size + len > u64::from(u32::MAX)
            || files.offset_index.is_full()
            || files.time_index.is_full())
    }

    /// Appends one validated batch whose header says `header`, stamping
    /// `base_offset` into it. `rewrite` optionally replaces the first
    /// `BATCH_HEADER_LEN` bytes (log-append-time batches get a new header).
    pub(crate) fn append(
        &self,
        batch: &[u8],
        header: &BatchHeader,
        base_offset: Offset,
        new_header: Option<&[u8; BATCH_HEADER_LEN]>,
        preallocate_bytes: u64,
    ) -> Result<()> {
        let files = self.files()?;
        let pos = self.size();
        let len = batch.len() as u64;
        let end = pos + len;
        if end > files.log.len() {
            // Grow geometrically from 64 KiB to `preallocate_bytes` chunks,
            // so a quiet partition holds little disk and a busy one rarely
            // calls fallocate.
            let max = preallocate_bytes.max(1);
            let chunk = files.log.len().clamp(max.min(64 << 10), max);
            let target = end.div_ceil(chunk) * chunk;
            files
                .log
                .allocate(target.min(self.reserve).max(end))
                .map_err(|e| StorageError::grow(self.path(LOG_EXT), e))?;
        }
        self.maybe_index(&files, pos, base_offset)?;
        let write = |at: u64, data: &[u8]| {
            files
                .log
                .write_at(at, data)
                .map_err(|e| StorageError::io(self.path(LOG_EXT), e))
        };
        match new_header {
            Some(h) => {
                write(pos, h)?;
                write(
                    pos + BATCH_HEADER_LEN as u64,
                    batch.get(BATCH_HEADER_LEN..).unwrap_or(&[]),
                )?;
            }
            None => write(pos, batch)?,
        }
        write(pos, &base_offset.as_i64().to_be_bytes())?;
        let max_ts = new_header
            .and_then(|h| BatchHeader::parse(h).ok())
            .map_or(header.max_timestamp, |h| h.max_timestamp);
        self.publish(end, base_offset.plus(header.offset_count()), max_ts, len);
        Ok(())
    }

    fn publish(&self, end: u64, next_offset: Offset, max_ts: TimestampMs, len: u64) {
        self.max_timestamp.fetch_max(max_ts, Ordering::AcqRel);
        self.bytes_since_index
            .fetch_add(u32::try_from(len).unwrap_or(u32::MAX), Ordering::Relaxed);
        self.next_offset.store(next_offset.0, Ordering::Release);
        self.size.store(end, Ordering::Release);
    }

    /// Adds index entries for a batch about to be written at `pos` when an
    /// index interval has passed since the last entry: one in each index or
    /// none (room is made in both before either gets its entry, so a full
    /// disk cannot leave one index with an entry the other lacks).
    fn maybe_index(&self, files: &SegmentFiles, pos: u64, base_offset: Offset) -> Result<()> {
        if self.bytes_since_index.load(Ordering::Relaxed) < self.index_interval_bytes {
            return Ok(());
        }
        let rel = self.relative(base_offset)?;
        let position = FilePosition(
            u32::try_from(pos).map_err(|_| self.corrupt(pos, "position beyond 4 GiB"))?,
        );
        files
            .offset_index
            .make_room()
            .map_err(|e| StorageError::grow(self.path(INDEX_EXT), e))?;
        files
            .time_index
            .make_room()
            .map_err(|e| StorageError::grow(self.path(TIME_INDEX_EXT), e))?;
        files.offset_index.push(OffsetEntry {
            offset: rel,
            position,
        });
        files.time_index.push(TimeEntry {
            timestamp: self.max_timestamp.load(Ordering::Acquire),
            offset: rel,
        });
        self.bytes_since_index.store(0, Ordering::Relaxed);
        Ok(())
    }

    fn relative(&self, offset: Offset) -> Result<RelativeOffset> {
        offset
            .relative_to(self.base)
            .ok_or_else(|| self.corrupt(0, "offset does not fit the segment"))
    }

    fn corrupt(&self, position: u64, reason: &str) -> StorageError {
        StorageError::Corrupt {
            path: self.path(LOG_EXT),
            position,
            reason: reason.to_owned(),
        }
    }

    /// Seals the segment: trims every file to its logical size. Readers hold
    /// slices only below the published size, which the trim keeps.
    pub(crate) fn seal(&self) -> Result<()> {
        let files = self.files()?;
        files
            .log
            .truncate(self.size())
            .map_err(|e| self.err(LOG_EXT, e))?;
        files
            .offset_index
            .trim()
            .map_err(|e| self.err(INDEX_EXT, e))?;
        files
            .time_index
            .trim()
            .map_err(|e| self.err(TIME_INDEX_EXT, e))
    }

    /// Opens a segment that was sealed or closed cleanly and makes it the
    /// active one: its files are trimmed, so the log ends at the file's end;
    /// only the batches after the last index entry are walked (headers only).
    /// Returns `false` when the files are not as a clean close leaves them,
    /// and the caller must recover instead.
    pub(crate) fn load_clean(&self) -> Result<bool> {
        let log = self.open_file(LOG_EXT, false, self.reserve)?;
        let oi_file = self.open_file(INDEX_EXT, true, u64::from(self.max_index_bytes))?;
        let ti_file = self.open_file(TIME_INDEX_EXT, true, u64::from(self.max_index_bytes))?;
        let size = log.len();
        let (Some(oi), Some(ti)) = (
            whole_entries::<OffsetEntry>(oi_file.as_ref()),
            whole_entries::<TimeEntry>(ti_file.as_ref()),
        ) else {
            return Ok(false);
        };
        let oi_ok = OffsetIndex::valid_prefix(oi_file.as_ref(), |e| {
            e.position.as_u64() + BATCH_HEADER_LEN as u64 <= size
        })
        .map_err(|e| self.err(INDEX_EXT, e))?;
        let ti_ok = TimeIndex::valid_prefix(ti_file.as_ref(), |_| true)
            .map_err(|e| self.err(TIME_INDEX_EXT, e))?;
        if oi_ok != oi || ti_ok != ti || oi != ti {
            return Ok(false);
        }
        let files = self.install(SegmentFiles {
            log,
            offset_index: Index::new(oi_file, oi, self.max_index_bytes),
            time_index: Index::new(ti_file, ti, self.max_index_bytes),
        });
        let end = self.walk_tail(&files, size)?;
        if end.stopped_early || end.position != size {
            self.release();
            return Ok(false);
        }
        self.trusted_from.store(size, Ordering::Release);
        self.size.store(end.position, Ordering::Release);
        self.next_offset.store(end.next_offset.0, Ordering::Release);
        self.preallocate_indexes()?;
        Ok(true)
    }

    /// Recovers a segment that may hold data that was never made durable:
    /// keeps the longest ordered prefix of each index, steps back to the last
    /// offset-index entry that points at an intact batch, then validates every
    /// batch from there (length, CRC, contiguous offsets), rebuilds the index
    /// entries after it and truncates the log at the first torn or corrupt
    /// batch. Everything kept is synced before this returns.
    pub(crate) fn recover(&self) -> Result<ScanEnd> {
        let log = self.open_file(LOG_EXT, true, self.reserve)?;
        let oi_file = self.open_file(INDEX_EXT, true, u64::from(self.max_index_bytes))?;
        let ti_file = self.open_file(TIME_INDEX_EXT, true, u64::from(self.max_index_bytes))?;
        let log_len = log.len();
        let oi_n = OffsetIndex::valid_prefix(oi_file.as_ref(), |e| {
            e.position.as_u64() + BATCH_HEADER_LEN as u64 <= log_len
        })
        .map_err(|e| self.err(INDEX_EXT, e))?;
        let ti_n = TimeIndex::valid_prefix(ti_file.as_ref(), |_| true)
            .map_err(|e| self.err(TIME_INDEX_EXT, e))?;
        let files = self.install(SegmentFiles {
            log,
            offset_index: Index::new(oi_file, oi_n, self.max_index_bytes),
            time_index: Index::new(ti_file, ti_n, self.max_index_bytes),
        });

        // Step back to an entry that both indexes hold and whose batch is
        // intact; entry i of each index names the same batch.
        let mut start = (0u64, self.base, 0u32, i64::MIN);
        for i in (0..oi_n.min(ti_n)).rev() {
            let e = files
                .offset_index
                .get(i)
                .map_err(|e| self.err(INDEX_EXT, e))?;
            let t = files
                .time_index
                .get(i)
                .map_err(|e| self.err(TIME_INDEX_EXT, e))?;
            let offset = e.offset.absolute(self.base);
            if t.offset == e.offset
                && Self::intact_batch_at(&files, e.position.as_u64(), offset, log_len)
            {
                start = (e.position.as_u64(), offset, i + 1, t.timestamp);
                break;
            }
        }
        let (start_pos, start_offset, keep, max_before) = start;
        files
            .offset_index
            .truncate_entries(keep)
            .map_err(|e| StorageError::grow(self.path(INDEX_EXT), e))?;
        files
            .time_index
            .truncate_entries(keep)
            .map_err(|e| StorageError::grow(self.path(TIME_INDEX_EXT), e))?;
        self.max_timestamp.store(max_before, Ordering::Release);

        // With an entry at start_pos, the batch there is already indexed.
        self.bytes_since_index.store(0, Ordering::Relaxed);
        let end = self.scan(&files, start_pos, start_offset, keep > 0)?;
        self.trusted_from.store(start_pos, Ordering::Release);
        if end.position < log_len {
            files
                .log
                .truncate(end.position)
                .map_err(|e| self.err(LOG_EXT, e))?;
        }
        files
            .offset_index
            .write_pending()
            .map_err(|e| StorageError::grow(self.path(INDEX_EXT), e))?;
        files
            .time_index
            .write_pending()
            .map_err(|e| StorageError::grow(self.path(TIME_INDEX_EXT), e))?;
        files.sync().map_err(|e| self.err(LOG_EXT, e))?;
        Ok(end)
    }

    /// Whether an intact batch with base offset `offset` starts at `pos`.
    fn intact_batch_at(files: &SegmentFiles, pos: u64, offset: Offset, log_len: u64) -> bool {
        let Ok(head) = files.log.read(pos, BATCH_HEADER_LEN) else {
            return false;
        };
        let Ok(h) = BatchHeader::parse(&head) else {
            return false;
        };
        if Offset::from_i64(h.base_offset) != Some(offset) || pos + h.total_len() as u64 > log_len {
            return false;
        }
        files
            .log
            .read(pos, h.total_len())
            .is_ok_and(|b| check_envelope(&b).is_ok())
    }

    /// Validates batches from `pos` (whose first batch has base offset
    /// `offset`) to the end of the log file, adding index entries as append
    /// would. `first_indexed` says the batch at `pos` already has an entry.
    fn scan(
        &self,
        files: &SegmentFiles,
        pos: u64,
        offset: Offset,
        first_indexed: bool,
    ) -> Result<ScanEnd> {
        let log_len = files.log.len();
        let mut first = first_indexed;
        self.size.store(pos, Ordering::Release);
        self.next_offset.store(offset.0, Ordering::Release);
        self.walk(files, pos, offset, log_len, true, |p, h| {
            if first {
                first = false;
            } else {
                self.maybe_index(files, p, Offset::from_i64(h.base_offset).unwrap_or(offset))?;
            }
            let end = p + h.total_len() as u64;
            let next = Offset::from_i64(h.last_offset()).map_or(offset, |o| o.plus(1));
            self.publish(end, next, h.max_timestamp, h.total_len() as u64);
            Ok(())
        })
    }

    /// Walks the batches in `[pos, end)` of the log, calling `visit` with each
    /// intact one, and stops at the first that is not (bad header, length
    /// past `end`, base offset not following the previous batch, or — with
    /// `check_crc` — a CRC mismatch).
    fn walk(
        &self,
        files: &SegmentFiles,
        mut pos: u64,
        mut expected: Offset,
        end: u64,
        check_crc: bool,
        mut visit: impl FnMut(u64, &BatchHeader) -> Result<()>,
    ) -> Result<ScanEnd> {
        let span = usize::try_from(end.saturating_sub(pos)).unwrap_or(usize::MAX);
        let bytes = files
            .log
            .read(pos, span)
            .map_err(|e| self.err(LOG_EXT, e))?;
        let mut at = 0usize;
        let stopped_early = loop {
            let rest = bytes.get(at..).unwrap_or(&[]);
            if rest.is_empty() {
                break false;
            }
            let Ok(header) = BatchHeader::parse(rest) else {
                break true;
            };
            let total = header.total_len();
            let Some(batch) = rest.get(..total) else {
                break true;
            };
            if Offset::from_i64(header.base_offset) != Some(expected)
                || (check_crc && check_envelope(batch).is_err())
            {
                break true;
            }
            visit(pos, &header)?;
            expected = Offset::from_i64(header.last_offset()).map_or(expected, |o| o.plus(1));
            at += total;
            pos += total as u64;
        };
        Ok(ScanEnd {
            position: pos,
            next_offset: expected,
            stopped_early,
        })
    }

    /// Returns whole batches from the one containing `target` onwards, as one
    /// zero-copy slice: at most `max_bytes` unless the first batch alone is
    /// larger (a fetch always makes progress), and none whose base offset is
    /// at or past `limit` (the high watermark). `None` when the segment holds
    /// nothing at or after `target` below `limit`.
    pub(crate) fn read(
        &self,
        target: Offset,
        max_bytes: usize,
        limit: Offset,
    ) -> Result<Option<Bytes>> {
        let files = self.files()?;
        let size = self.size();
        let start = self.start_position(&files, target)?;
        let window = self.window(&files, start, size)?;
        let mut at = 0usize;
        let mut from = None;
        while let Some(rest) = window.get(at..).filter(|r| !r.is_empty()) {
            let h = self.header_in(rest, start + at as u64)?;
            if Offset::from_i64(h.base_offset).is_none_or(|b| b >= limit) {
                break;
            }
            let total = h.total_len();
            match from {
                None if Offset::from_i64(h.last_offset()).is_some_and(|l| l >= target) => {
                    from = Some(at);
                }
                Some(f) if at + total - f > max_bytes => break,
                _ => {}
            }
            at += total;
        }
        let Some(from) = from else { return Ok(None) };
        let to = self.verify(&window, start, from, at)?;
        Ok(Some(window.slice(from..to)))
    }

    /// CRC-checks the batches of `window[from..to]` (the window starts at
    /// file position `start`) that neither this process wrote nor an earlier
    /// read checked, so data damaged on disk is reported, not served.
    /// Returns where the intact batches end: `to`, or the start of the first
    /// damaged batch; a damaged first batch is an error naming it.
    fn verify(&self, window: &Bytes, start: u64, from: usize, to: usize) -> Result<usize> {
        let (lo, hi) = (start + from as u64, start + to as u64);
        let verified = self.verified_to.load(Ordering::Acquire);
        let trusted = self.trusted_from.load(Ordering::Acquire);
        if hi <= verified || lo >= trusted {
            return Ok(to);
        }
        let mut at = from;
        while at < to {
            let pos = start + at as u64;
            let rest = window.get(at..to).unwrap_or(&[]);
            let h = self.header_in(rest, pos)?;
            let total = h.total_len();
            if pos >= verified && pos < trusted {
                let batch = rest.get(..total).unwrap_or(&[]);
                if let Err(e) = check_envelope(batch) {
                    if at > from {
                        return Ok(at);
                    }
                    tracing::warn!(
                        segment = %self.path(LOG_EXT).display(),
                        position = pos,
                        offset = h.base_offset,
                        error = %e,
                        "damaged batch on disk"
                    );
                    return Err(self.corrupt(
                        pos,
                        &format!(
                            "batch with base offset {} failed validation: {e}",
                            h.base_offset
                        ),
                    ));
                }
            }
            at += total;
        }
        if lo <= verified {
            self.verified_to.fetch_max(hi, Ordering::AcqRel);
        }
        Ok(to)
    }

    fn window(&self, files: &SegmentFiles, start: u64, size: u64) -> Result<Bytes> {
        let span = usize::try_from(size.saturating_sub(start)).unwrap_or(0);
        files
            .log
            .read(start, span)
            .map_err(|e| self.err(LOG_EXT, e))
    }

    fn header_in(&self, rest: &[u8], position: u64) -> Result<BatchHeader> {
        let h = BatchHeader::parse(rest).map_err(|e| self.corrupt(position, &e.to_string()))?;
        if rest.len() < h.total_len() {
            return Err(self.corrupt(
                position,
                &RecordError::Truncated {
                    need: h.total_len(),
                    have: rest.len(),
                }
                .to_string(),
            ));
        }
        Ok(h)
    }

    /// File position to start scanning from for `target`.
    fn start_position(&self, files: &SegmentFiles, target: Offset) -> Result<u64> {
        let Some(rel) = target.relative_to(self.base) else {
            return Ok(0);
        };
        Ok(files
            .offset_index
            .floor(|e| e.offset <= rel)
            .map_err(|e| self.err(INDEX_EXT, e))?
            .map_or(0, |e| e.position.as_u64()))
    }

    /// Calls `visit` with the header and base offset of every batch that
    /// holds offsets at or after `from`, reading headers only (no CRC, no
    /// copies): what rebuilding derived state from the log needs.
    pub(crate) fn walk_headers(
        &self,
        from: Offset,
        mut visit: impl FnMut(&BatchHeader, Offset),
    ) -> Result<()> {
        let files = self.files()?;
        let (pos, offset) = match from.relative_to(self.base) {
            Some(rel) => files
                .offset_index
                .floor(|e| e.offset <= rel)
                .map_err(|e| self.err(INDEX_EXT, e))?
                .map_or((0, self.base), |e| {
                    (e.position.as_u64(), e.offset.absolute(self.base))
                }),
            None => (0, self.base),
        };
        self.walk(&files, pos, offset, self.size(), false, |_, h| {
            if let Some(base) = Offset::from_i64(h.base_offset)
                && Offset::from_i64(h.last_offset()).is_some_and(|l| l >= from)
            {
                visit(h, base);
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Largest record timestamp, opening the files of a sealed segment if
    /// needed.
    pub(crate) fn max_timestamp(&self) -> Result<TimestampMs> {
        self.files()?;
        Ok(self.max_timestamp.load(Ordering::Acquire))
    }

    /// The first batch below `limit` whose largest timestamp is at least
    /// `timestamp`, with its file position.
    pub(crate) fn find_by_timestamp(
        &self,
        timestamp: TimestampMs,
        limit: Offset,
    ) -> Result<Option<Bytes>> {
        let files = self.files()?;
        if self.max_timestamp.load(Ordering::Acquire) < timestamp {
            return Ok(None);
        }
        let from = files
            .time_index
            .floor(|e| e.timestamp < timestamp)
            .map_err(|e| self.err(TIME_INDEX_EXT, e))?
            .map_or(self.base, |e| e.offset.absolute(self.base));
        let start = self.start_position(&files, from)?;
        let window = self.window(&files, start, self.size())?;
        let mut at = 0usize;
        while let Some(rest) = window.get(at..).filter(|r| !r.is_empty()) {
            let h = self.header_in(rest, start + at as u64)?;
            if Offset::from_i64(h.base_offset).is_none_or(|b| b >= limit) {
                break;
            }
            let total = h.total_len();
            if h.max_timestamp >= timestamp
                && Offset::from_i64(h.last_offset()).is_some_and(|l| l >= from)
            {
                return Ok(Some(window.slice(at..at + total)));
            }
            at += total;
        }
        Ok(None)
    }

    /// Deletes the segment's files: the log first, so a crash part-way
    /// leaves at most index files without a log, which startup removes.
    pub(crate) fn delete(&self) -> Result<()> {
        self.deleted.store(true, Ordering::Release);
        self.release();
        for ext in [LOG_EXT, INDEX_EXT, TIME_INDEX_EXT] {
            let path = self.path(ext);
            match self.fs.remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io(path, e)),
            }
        }
        Ok(())
    }
}

/// Number of whole entries in an index file, or `None` if its length is not
/// a multiple of the entry size (a sealed index is always trimmed).
fn whole_entries<E: super::index::Entry>(file: &dyn StorageFile) -> Option<u32> {
    let len = file.len();
    len.is_multiple_of(E::SIZE as u64)
        .then(|| u32::try_from(len / E::SIZE as u64).ok())
        .flatten()
}
