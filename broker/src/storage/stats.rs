//! Process-wide counters of the real file system ([`super::OsFs`]): open
//! files, memory maps and fsyncs. They feed the broker's metrics, so an
//! operator can see the process approach `vm.max_map_count` or the file
//! descriptor limit, and how many fsyncs group commit actually issues.
//!
//! The counters are plain relaxed atomics bumped where a file is opened or
//! dropped, a map is created or dropped, or an fsync is issued: a few
//! nanoseconds next to the system call each one accompanies. The simulated
//! disk ([`super::sim`]) does not touch them.

use std::sync::atomic::{AtomicU64, Ordering};

/// Files opened through [`super::OsFs::open`] (segment logs and indexes).
static FILES_OPENED: AtomicU64 = AtomicU64::new(0);
/// Those files closed again.
static FILES_CLOSED: AtomicU64 = AtomicU64::new(0);
/// Memory maps created.
static MAPS_CREATED: AtomicU64 = AtomicU64::new(0);
/// Memory maps unmapped.
static MAPS_DROPPED: AtomicU64 = AtomicU64::new(0);
/// Bytes of address space mapped by maps created.
static BYTES_MAPPED: AtomicU64 = AtomicU64::new(0);
/// Bytes of address space released by maps dropped.
static BYTES_UNMAPPED: AtomicU64 = AtomicU64::new(0);
/// `fsync`/`fdatasync` calls on files and directories.
static FSYNCS: AtomicU64 = AtomicU64::new(0);

/// A snapshot of the counters. Totals only ever grow; the `*_live` and
/// `mapped_bytes` views are differences of two totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageStats {
    /// Files opened since the process started.
    pub files_opened: u64,
    /// Files closed since the process started.
    pub files_closed: u64,
    /// Memory maps created since the process started.
    pub maps_created: u64,
    /// Memory maps dropped since the process started.
    pub maps_dropped: u64,
    /// Address space of the maps that are still live, in bytes. A map may
    /// reserve more than its file holds (room to grow without remapping),
    /// so this is address space, not resident memory.
    pub mapped_bytes: u64,
    /// fsyncs issued since the process started.
    pub fsyncs: u64,
}

impl StorageStats {
    /// Files open now.
    pub fn open_files(&self) -> u64 {
        self.files_opened.saturating_sub(self.files_closed)
    }

    /// Maps live now.
    pub fn live_maps(&self) -> u64 {
        self.maps_created.saturating_sub(self.maps_dropped)
    }
}

/// Reads the counters. Each is read on its own, so a snapshot taken while
/// files open and close may be off by the few in flight.
pub fn snapshot() -> StorageStats {
    StorageStats {
        files_opened: FILES_OPENED.load(Ordering::Relaxed),
        files_closed: FILES_CLOSED.load(Ordering::Relaxed),
        maps_created: MAPS_CREATED.load(Ordering::Relaxed),
        maps_dropped: MAPS_DROPPED.load(Ordering::Relaxed),
        mapped_bytes: BYTES_MAPPED
            .load(Ordering::Relaxed)
            .saturating_sub(BYTES_UNMAPPED.load(Ordering::Relaxed)),
        fsyncs: FSYNCS.load(Ordering::Relaxed),
    }
}

pub(crate) fn file_opened() {
    FILES_OPENED.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn file_closed() {
    FILES_CLOSED.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn map_created(len: usize) {
    MAPS_CREATED.fetch_add(1, Ordering::Relaxed);
    BYTES_MAPPED.fetch_add(len as u64, Ordering::Relaxed);
}

pub(crate) fn map_dropped(len: usize) {
    // Bytes first, so a concurrent snapshot never sees more bytes
    // unmapped than mapped for a map it still counts as live.
    BYTES_UNMAPPED.fetch_add(len as u64, Ordering::Relaxed);
    MAPS_DROPPED.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn fsync() {
    FSYNCS.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Fs as _, OsFs};

    // Other tests of this process use the real file system concurrently, so
    // these tests check lower bounds of the growth of the totals, which
    // hold whatever else runs.

    #[test]
    fn opening_mapping_and_dropping_a_file_moves_the_totals() {
        let dir = tempfile::tempdir().unwrap();
        let before = snapshot();
        let file = OsFs.open(&dir.path().join("f"), true, 1 << 20).unwrap();
        file.allocate(4096).unwrap();
        file.write_at(0, b"hello").unwrap();
        assert_eq!(&file.read(0, 5).unwrap()[..], b"hello"); // maps the file
        let open = snapshot();
        assert!(open.files_opened > before.files_opened);
        assert!(open.maps_created > before.maps_created);
        file.sync().unwrap();
        assert!(snapshot().fsyncs > before.fsyncs);
        drop(file);
        let after = snapshot();
        assert!(after.files_closed > before.files_closed);
        assert!(after.maps_dropped > before.maps_dropped);
    }

    #[test]
    fn live_views_are_differences_of_totals() {
        let s = StorageStats {
            files_opened: 10,
            files_closed: 4,
            maps_created: 7,
            maps_dropped: 9,
            mapped_bytes: 0,
            fsyncs: 0,
        };
        assert_eq!(s.open_files(), 6);
        assert_eq!(s.live_maps(), 0, "saturates rather than wrapping");
    }
}
