//! Sparse indexes of a segment: the offset index (`.index`) and the time
//! index (`.timeindex`).
//!
//! ```text
//! .index       entry = relative offset u32 BE | file position u32 BE      (8 bytes)
//!              "the batch whose base offset is base+rel starts at position"
//! .timeindex   entry = timestamp i64 BE | relative offset u32 BE          (12 bytes)
//!              "every record before offset base+rel has timestamp <= ts"
//! ```
//!
//! Both are append-only arrays, preallocated with zeros (doubling up to
//! `max_index_bytes`) while the segment is active and trimmed to their
//! entries when it is sealed. New entries are kept in memory and written to
//! the file [`WRITE_BATCH`] at a time (and all of them when the segment is
//! sealed or closed), so an index holds no file descriptor between writes:
//! a partition costs one descriptor, its active log. Entries lost with the
//! process are derived data; recovery re-derives them from the log. An entry is added to both at the same batch, every
//! `index.interval.bytes` of log, so entry `i` of one and entry `i` of the
//! other name the same offset. Offsets strictly increase in both; positions
//! strictly increase; timestamps never decrease. That ordering is what
//! recovery checks: after a crash the longest ordered prefix is kept and the
//! rest is rebuilt from the log, which is the truth.

use std::io;
use std::sync::Arc;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU32, Ordering};

use super::fs::StorageFile;
use super::offset::{FilePosition, RelativeOffset, TimestampMs};

/// One fixed-size index entry.
pub(crate) trait Entry: Copy + std::fmt::Debug {
    /// Encoded size in bytes.
    const SIZE: usize;
    /// Encodes into exactly `SIZE` bytes.
    fn encode(&self, out: &mut [u8]);
    /// Decodes from exactly `SIZE` bytes.
    fn decode(b: &[u8]) -> Self;
    /// Whether `next` may follow `self` in a well-formed index.
    fn may_precede(&self, next: &Self) -> bool;
}

/// An offset-index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    /// Base offset of the batch, relative to the segment.
    pub(crate) offset: RelativeOffset,
    /// Where the batch starts in the `.log` file.
    pub(crate) position: FilePosition,
}

impl Entry for OffsetEntry {
    const SIZE: usize = 8;

    fn encode(&self, out: &mut [u8]) {
        out[..4].copy_from_slice(&self.offset.0.to_be_bytes());
        out[4..8].copy_from_slice(&self.position.0.to_be_bytes());
    }

    fn decode(b: &[u8]) -> Self {
        OffsetEntry {
            offset: RelativeOffset(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            position: FilePosition(u32::from_be_bytes([b[4], b[5], b[6], b[7]])),
        }
    }

    fn may_precede(&self, next: &Self) -> bool {
        self.offset < next.offset && self.position < next.position
    }
}

/// A time-index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    /// Largest timestamp of any record before `offset`.
    pub(crate) timestamp: TimestampMs,
    /// Relative offset the bound holds up to (exclusive).
    pub(crate) offset: RelativeOffset,
}

impl Entry for TimeEntry {
    const SIZE: usize = 12;

    fn encode(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.offset.0.to_be_bytes());
    }

    fn decode(b: &[u8]) -> Self {
        TimeEntry {
            timestamp: i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            offset: RelativeOffset(u32::from_be_bytes([b[8], b[9], b[10], b[11]])),
        }
    }

    fn may_precede(&self, next: &Self) -> bool {
        self.timestamp <= next.timestamp && self.offset < next.offset
    }
}

/// Entries appended since the last write to the file: about 1 MiB of log at
/// the default index interval.
pub(crate) const WRITE_BATCH: usize = 256;

/// A sparse index file of entries `E`.
///
/// The single writer appends; readers see the first `len()` entries, which
/// are fully written (to the file or to the in-memory tail) before `len` is
/// published.
#[derive(Debug)]
pub(crate) struct Index<E: Entry> {
    /// The backing file.
    file: Arc<dyn StorageFile>,
    /// Published entry count: those in the file and those pending.
    entries: AtomicU32,
    /// Capacity in entries while the segment is active.
    max_entries: u32,
    /// Entries not yet written to the file, after those that are.
    pending: RwLock<Pending<E>>,
}

/// The in-memory tail of an index.
#[derive(Debug)]
struct Pending<E> {
    /// Entries in the file; the pending ones follow them.
    written: u32,
    /// Appended, not yet written.
    entries: Vec<E>,
}

impl<E> Pending<E> {
    /// Entries in all: written and pending (at most `WRITE_BATCH` are
    /// pending).
    fn end(&self) -> u32 {
        self.written
            .saturating_add(u32::try_from(self.entries.len()).unwrap_or(u32::MAX))
    }
}

/// The offset index of a segment.
pub(crate) type OffsetIndex = Index<OffsetEntry>;
/// The time index of a segment.
pub(crate) type TimeIndex = Index<TimeEntry>;

impl<E: Entry> Index<E> {
    /// Wraps `file` holding `entries` valid entries (already checked). The
    /// file's descriptor is released: each later write opens it briefly.
    pub(crate) fn new(file: Arc<dyn StorageFile>, entries: u32, max_index_bytes: u32) -> Self {
        let max_entries = (max_index_bytes / Self::entry_size()).max(entries);
        file.release_handle();
        Index {
            file,
            entries: AtomicU32::new(entries),
            max_entries,
            pending: RwLock::new(Pending {
                written: entries,
                entries: Vec::new(),
            }),
        }
    }

    fn pending(&self) -> std::sync::RwLockReadGuard<'_, Pending<E>> {
        self.pending
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn pending_mut(&self) -> std::sync::RwLockWriteGuard<'_, Pending<E>> {
        self.pending
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn entry_size() -> u32 {
        // SIZE is 8 or 12.
        u32::try_from(E::SIZE).unwrap_or(u32::MAX)
    }

    /// The backing file.
    pub(crate) fn file(&self) -> &Arc<dyn StorageFile> {
        &self.file
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> u32 {
        self.entries.load(Ordering::Acquire)
    }

    /// Whether no more entries fit.
    pub(crate) fn is_full(&self) -> bool {
        self.len() >= self.max_entries
    }

    /// The last entry, if any.
    pub(crate) fn last(&self) -> io::Result<Option<E>> {
        let n = self.len();
        if n == 0 {
            return Ok(None);
        }
        self.get(n - 1).map(Some)
    }

    /// Entry `i` (< `len()`).
    pub(crate) fn get(&self, i: u32) -> io::Result<E> {
        let pending = self.pending();
        if i >= pending.written {
            return pending
                .entries
                .get((i - pending.written) as usize)
                .copied()
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no such entry"));
        }
        let b = self
            .file
            .read(u64::from(i) * u64::from(Self::entry_size()), E::SIZE)?;
        Ok(E::decode(&b))
    }

    /// Appends an entry; the caller keeps the ordering invariant. Writes the
    /// pending entries to the file first when a batch of them has gathered,
    /// so a failed write leaves no entry behind.
    #[cfg(test)]
    pub(crate) fn append(&self, entry: E) -> io::Result<()> {
        self.make_room()?;
        self.push(entry);
        Ok(())
    }

    /// Makes sure the next [`Index::push`] has room among the pending
    /// entries, writing them to the file when a batch has gathered.
    pub(crate) fn make_room(&self) -> io::Result<()> {
        if self.pending().entries.len() >= WRITE_BATCH {
            self.write_pending()?;
        }
        Ok(())
    }

    /// Adds an entry to the pending ones; cannot fail. Call
    /// [`Index::make_room`] first, or the pending entries grow past a batch.
    pub(crate) fn push(&self, entry: E) {
        let mut pending = self.pending_mut();
        pending.entries.push(entry);
        self.entries.store(pending.end(), Ordering::Release);
    }

    /// Writes the pending entries to the file. Writer only.
    pub(crate) fn write_pending(&self) -> io::Result<()> {
        let (start, count, bytes) = {
            let pending = self.pending();
            let mut bytes = vec![0u8; pending.entries.len() * E::SIZE];
            for (e, out) in pending.entries.iter().zip(bytes.chunks_exact_mut(E::SIZE)) {
                e.encode(out);
            }
            (pending.written, pending.entries.len(), bytes)
        };
        if count == 0 {
            return Ok(());
        }
        let pos = u64::from(start) * u64::from(Self::entry_size());
        let end = pos + bytes.len() as u64;
        if end > self.file.len() {
            self.file.allocate(self.next_allocation(end))?;
        }
        self.file.write_at(pos, &bytes)?;
        let mut pending = self.pending_mut();
        pending.entries.drain(..count);
        pending.written = pending
            .written
            .saturating_add(u32::try_from(count).unwrap_or(u32::MAX));
        Ok(())
    }

    /// The last entry for which `le(entry)` holds, assuming `le` is true for
    /// a prefix of the entries (binary search).
    pub(crate) fn floor(&self, le: impl Fn(&E) -> bool) -> io::Result<Option<E>> {
        Ok(self.floor_with_index(le)?.map(|(_, e)| e))
    }

    /// Like [`Index::floor`], with the entry's position in the index.
    pub(crate) fn floor_with_index(&self, le: impl Fn(&E) -> bool) -> io::Result<Option<(u32, E)>> {
        let n = self.len();
        if n == 0 {
            return Ok(None);
        }
        let pending = self.pending();
        let written = pending.written.min(n) as usize;
        let n = n.min(pending.end());
        let on_file = self.file.read(0, written * E::SIZE)?;
        let entry = |i: usize| match i.checked_sub(written) {
            None => E::decode(&on_file[i * E::SIZE..(i + 1) * E::SIZE]),
            Some(j) => pending.entries[j],
        };
        // Invariant: entries [0, lo) satisfy `le`, entries [hi, n) do not.
        let (mut lo, mut hi) = (0usize, n as usize);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if le(&entry(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        // lo <= n, which came from a u32.
        Ok(lo
            .checked_sub(1)
            .map(|i| (u32::try_from(i).unwrap_or(u32::MAX), entry(i))))
    }

    /// Drops every entry from `keep` on: the count shrinks and the bytes are
    /// zeroed so a later crash cannot resurrect them. Writer only, before any
    /// reader can see the dropped entries.
    pub(crate) fn truncate_entries(&self, keep: u32) -> io::Result<()> {
        let keep = keep.min(self.len());
        let written = {
            let mut pending = self.pending_mut();
            self.entries.store(keep, Ordering::Release);
            let tail = keep.saturating_sub(pending.written);
            pending.entries.truncate(tail as usize);
            pending.written = pending.written.min(keep);
            pending.written
        };
        // Whatever the file holds past the written entries (a stale tail
        // found by recovery, or dropped entries) is zeroed.
        let cap = self.file.len();
        let keep_bytes = u64::from(written) * u64::from(Self::entry_size());
        self.file.truncate(keep_bytes)?;
        self.file.allocate(cap.max(keep_bytes))
    }

    /// Shrinks the file to exactly its entries (sealing).
    pub(crate) fn trim(&self) -> io::Result<()> {
        self.write_pending()?;
        self.file
            .truncate(u64::from(self.len()) * u64::from(Self::entry_size()))
    }

    /// Grows the file back to its full capacity (reopening for append).
    pub(crate) fn preallocate(&self) -> io::Result<()> {
        let end = u64::from(self.len()) * u64::from(Self::entry_size()) + E::SIZE as u64;
        self.file.allocate(self.next_allocation(end))
    }

    /// The file length to allocate so that `end` bytes fit: doubling from
    /// one page, capped at the index's capacity, so a partition that holds
    /// little data costs little disk (many partitions would otherwise each
    /// hold two full-size index files).
    fn next_allocation(&self, end: u64) -> u64 {
        const PAGE: u64 = 4096;
        let cap = u64::from(self.max_entries) * u64::from(Self::entry_size());
        let doubled = (self.file.len() * 2).max(PAGE);
        doubled.max(end).min(cap.max(end))
    }

    /// Counts the longest well-ordered prefix of entries in `file`, stopping
    /// at the first entry `accept` rejects.
    pub(crate) fn valid_prefix(
        file: &dyn StorageFile,
        accept: impl Fn(&E) -> bool,
    ) -> io::Result<u32> {
        let n = file.len() / E::SIZE as u64;
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        let all = file.read(0, n * E::SIZE)?;
        let mut prev: Option<E> = None;
        let mut count = 0u32;
        for chunk in all.chunks_exact(E::SIZE) {
            let e = E::decode(chunk);
            if prev.is_some_and(|p| !p.may_precede(&e)) || !accept(&e) {
                break;
            }
            prev = Some(e);
            count += 1;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::fs::Fs;
    use crate::storage::sim::SimFs;
    use std::path::Path;

    fn index(max_bytes: u32) -> (SimFs, OffsetIndex) {
        let fs = SimFs::new();
        fs.create_dir_all(Path::new("/p")).unwrap();
        let f = fs.open(Path::new("/p/0.index"), true, 0).unwrap();
        f.allocate(u64::from(max_bytes)).unwrap();
        (fs, OffsetIndex::new(f, 0, max_bytes))
    }

    fn e(o: u32, p: u32) -> OffsetEntry {
        OffsetEntry {
            offset: RelativeOffset(o),
            position: FilePosition(p),
        }
    }

    #[test]
    fn floor_finds_the_last_entry_at_or_below_the_target() {
        let (_fs, idx) = index(800);
        for i in 1..=10 {
            idx.append(e(i * 10, i * 1000)).unwrap();
        }
        let floor = |t: u32| idx.floor(|x| x.offset.0 <= t).unwrap().map(|x| x.offset.0);
        assert_eq!(floor(5), None);
        assert_eq!(floor(10), Some(10));
        assert_eq!(floor(55), Some(50));
        assert_eq!(floor(1000), Some(100));
    }

    #[test]
    fn fills_at_capacity() {
        let (_fs, idx) = index(16);
        idx.append(e(1, 1)).unwrap();
        assert!(!idx.is_full());
        idx.append(e(2, 2)).unwrap();
        assert!(idx.is_full());
    }

    #[test]
    fn valid_prefix_stops_at_trailing_zeros_and_disorder() {
        let (_fs, idx) = index(80);
        idx.append(e(0, 0)).unwrap();
        idx.append(e(5, 100)).unwrap();
        idx.append(e(9, 90)).unwrap(); // position goes backwards
        idx.write_pending().unwrap();
        let n = OffsetIndex::valid_prefix(idx.file().as_ref(), |_| true).unwrap();
        assert_eq!(n, 2);
        let (_fs, idx) = index(80);
        idx.append(e(0, 0)).unwrap();
        idx.write_pending().unwrap();
        let n = OffsetIndex::valid_prefix(idx.file().as_ref(), |_| true).unwrap();
        assert_eq!(n, 1, "a zeroed tail after the first entry is not an entry");
    }

    #[test]
    fn truncate_zeroes_dropped_entries() {
        let (_fs, idx) = index(80);
        for i in 1..=5 {
            idx.append(e(i, i * 10)).unwrap();
        }
        idx.write_pending().unwrap();
        idx.truncate_entries(2).unwrap();
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.file().len(), 80);
        let n = OffsetIndex::valid_prefix(idx.file().as_ref(), |_| true).unwrap();
        assert_eq!(n, 2);
    }

    #[test]
    fn keeping_every_valid_entry_still_zeroes_a_stale_tail() {
        // As recovery finds it: five entries on file, of which only the
        // first three are trusted.
        let (fs, idx) = index(80);
        for i in 1..=5 {
            idx.append(e(i, i * 10)).unwrap();
        }
        idx.write_pending().unwrap();
        let file = fs.open(Path::new("/p/0.index"), false, 0).unwrap();
        let recovered = OffsetIndex::new(file, 3, 80);
        recovered.truncate_entries(3).unwrap();
        assert_eq!(recovered.len(), 3);
        let stale = recovered.file().read(3 * 8, 2 * 8).unwrap();
        assert!(stale.iter().all(|&b| b == 0), "stale entries survive");
    }

    #[test]
    fn pending_entries_are_read_with_written_ones_and_written_in_batches() {
        let batch = u32::try_from(WRITE_BATCH).unwrap();
        let total = batch + 10;
        let (_fs, idx) = index(total * 8);
        // Entries on file (every entry here is non-zero; the rest is zeros).
        let on_file = || {
            let f = idx.file();
            let bytes = f.read(0, usize::try_from(f.len()).unwrap()).unwrap();
            let n = bytes
                .chunks_exact(8)
                .take_while(|c| c.iter().any(|&b| b != 0))
                .count();
            u32::try_from(n).unwrap()
        };
        for i in 1..=total {
            idx.append(e(i, i * 10)).unwrap();
            // Nothing reaches the file until a batch has gathered.
            let expected = if i > batch { batch } else { 0 };
            assert_eq!(on_file(), expected, "after {i} appends");
        }
        assert_eq!(idx.len(), total);
        // Lookups span the written entries and the in-memory tail.
        for t in [1, 5, batch, batch + 1, total] {
            let found = idx.floor(|x| x.offset.0 <= t).unwrap().map(|x| x.offset.0);
            assert_eq!(found, Some(t));
            assert_eq!(idx.get(t - 1).unwrap(), e(t, t * 10));
        }
        assert_eq!(idx.last().unwrap(), Some(e(total, total * 10)));

        // Dropping entries inside the tail keeps the file; below it, zeroes it.
        idx.truncate_entries(total - 3).unwrap();
        assert_eq!(idx.len(), total - 3);
        assert_eq!(on_file(), batch);
        idx.truncate_entries(3).unwrap();
        assert_eq!(on_file(), 3);
        assert_eq!(idx.floor(|x| x.offset.0 <= 100).unwrap(), Some(e(3, 30)));

        // Sealing writes the tail and trims the file to the entries.
        idx.append(e(4, 40)).unwrap();
        idx.trim().unwrap();
        assert_eq!(idx.file().len(), 4 * 8);
        assert_eq!(on_file(), 4);
    }

    #[test]
    fn time_entries_may_repeat_a_timestamp_but_not_an_offset() {
        let t = |ts, o| TimeEntry {
            timestamp: ts,
            offset: RelativeOffset(o),
        };
        assert!(t(5, 1).may_precede(&t(5, 2)));
        assert!(!t(5, 2).may_precede(&t(6, 2)));
        assert!(!t(5, 1).may_precede(&t(4, 2)));
    }

    #[test]
    fn time_entries_round_trip() {
        let t = TimeEntry {
            timestamp: -5,
            offset: RelativeOffset(7),
        };
        let mut b = [0u8; 12];
        t.encode(&mut b);
        assert_eq!(TimeEntry::decode(&b), t);
    }
}
