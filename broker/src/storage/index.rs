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
//! Both are append-only arrays, preallocated to `max_index_bytes` (zeros)
//! while the segment is active and trimmed to their entries when it is
//! sealed. An entry is added to both at the same batch, every
//! `index.interval.bytes` of log, so entry `i` of one and entry `i` of the
//! other name the same offset. Offsets strictly increase in both; positions
//! strictly increase; timestamps never decrease. That ordering is what
//! recovery checks: after a crash the longest ordered prefix is kept and the
//! rest is rebuilt from the log, which is the truth.

use std::io;
use std::marker::PhantomData;
use std::sync::Arc;
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

/// A sparse index file of entries `E`.
///
/// The single writer appends; readers see the first `len()` entries, which
/// are fully written before `len` is published.
#[derive(Debug)]
pub(crate) struct Index<E: Entry> {
    /// The backing file.
    file: Arc<dyn StorageFile>,
    /// Published entry count.
    entries: AtomicU32,
    /// Capacity in entries while the segment is active.
    max_entries: u32,
    _entry: PhantomData<E>,
}

/// The offset index of a segment.
pub(crate) type OffsetIndex = Index<OffsetEntry>;
/// The time index of a segment.
pub(crate) type TimeIndex = Index<TimeEntry>;

impl<E: Entry> Index<E> {
    /// Wraps `file` holding `entries` valid entries (already checked).
    pub(crate) fn new(file: Arc<dyn StorageFile>, entries: u32, max_index_bytes: u32) -> Self {
        let max_entries = (max_index_bytes / Self::entry_size()).max(entries);
        Index {
            file,
            entries: AtomicU32::new(entries),
            max_entries,
            _entry: PhantomData,
        }
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
        let b = self
            .file
            .read(u64::from(i) * u64::from(Self::entry_size()), E::SIZE)?;
        Ok(E::decode(&b))
    }

    /// Appends an entry; the caller keeps the ordering invariant.
    pub(crate) fn append(&self, entry: E) -> io::Result<()> {
        let n = self.len();
        let pos = u64::from(n) * u64::from(Self::entry_size());
        let end = pos + E::SIZE as u64;
        if end > self.file.len() {
            self.file.allocate(self.next_allocation(end))?;
        }
        let mut buf = [0u8; 16];
        entry.encode(&mut buf[..E::SIZE]);
        self.file.write_at(pos, &buf[..E::SIZE])?;
        self.entries.store(n + 1, Ordering::Release);
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
        let all = self.file.read(0, n as usize * E::SIZE)?;
        let entry = |i: usize| E::decode(&all[i * E::SIZE..(i + 1) * E::SIZE]);
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
        let cap = self.file.len();
        self.entries.store(keep, Ordering::Release);
        let keep_bytes = u64::from(keep) * u64::from(Self::entry_size());
        self.file.truncate(keep_bytes)?;
        self.file.allocate(cap.max(keep_bytes))
    }

    /// Shrinks the file to exactly its entries (sealing).
    pub(crate) fn trim(&self) -> io::Result<()> {
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
        let n = OffsetIndex::valid_prefix(idx.file().as_ref(), |_| true).unwrap();
        assert_eq!(n, 2);
        let (_fs, idx) = index(80);
        idx.append(e(0, 0)).unwrap();
        let n = OffsetIndex::valid_prefix(idx.file().as_ref(), |_| true).unwrap();
        assert_eq!(n, 1, "a zeroed tail after the first entry is not an entry");
    }

    #[test]
    fn truncate_zeroes_dropped_entries() {
        let (_fs, idx) = index(80);
        for i in 1..=5 {
            idx.append(e(i, i * 10)).unwrap();
        }
        idx.truncate_entries(2).unwrap();
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.file().len(), 80);
        let n = OffsetIndex::valid_prefix(idx.file().as_ref(), |_| true).unwrap();
        assert_eq!(n, 2);
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
