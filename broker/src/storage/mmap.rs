//! The only `unsafe` code of the broker: shared, read-only memory maps of
//! segment and index files.
//!
//! A [`Mapping`] maps a file region read-only and shared, so it sees what
//! `pwrite(2)` puts in the page cache. It may be longer than the file (the
//! rest is reserved address space, so the map need not be replaced while
//! the file grows); callers only ever read bytes below the file's allocated
//! length, so no access can fault with SIGBUS.
//!
//! Readers receive [`Bytes`] that borrow the mapping through an `Arc`; the
//! mapping lives until the last such slice is dropped, even after the file is
//! deleted or a longer mapping has replaced it.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use memmap2::{MmapOptions, MmapRaw};

/// A shared read-only mapping of (a prefix of) a file.
#[derive(Debug)]
pub(crate) struct Mapping {
    /// The raw map; raw because it may extend past the end of the file,
    /// which `Mmap` does not allow for.
    raw: MmapRaw,
}

impl Mapping {
    /// Maps the first `len` bytes of `file` (which may extend past its end).
    pub(crate) fn new(file: &File, len: usize) -> io::Result<Mapping> {
        let raw = MmapOptions::new().len(len).map_raw_read_only(file)?;
        super::stats::map_created(raw.len());
        Ok(Mapping { raw })
    }

    /// Length of the mapped region.
    pub(crate) fn len(&self) -> usize {
        self.raw.len()
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // `MmapRaw` unmaps when it drops, right after this.
        super::stats::map_dropped(self.raw.len());
    }
}

/// Returns `len` bytes at `pos` of `map` as zero-copy `Bytes`.
///
/// The caller guarantees that the range lies below the file's allocated
/// length and has been fully written and published; it is never written
/// again while any slice of it lives.
pub(crate) fn slice(map: &Arc<Mapping>, pos: usize, len: usize) -> io::Result<Bytes> {
    pos.checked_add(len)
        .filter(|&end| end <= map.len())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "read past mapping"))?;
    Ok(Bytes::from_owner(MapSlice {
        map: Arc::clone(map),
        pos,
        len,
    }))
}

/// Owner of a byte range of a mapping, kept alive by `Bytes`.
struct MapSlice {
    /// Keeps the mapping alive while the bytes are in use.
    map: Arc<Mapping>,
    /// Start of the range.
    pos: usize,
    /// Length of the range.
    len: usize,
}

impl AsRef<[u8]> for MapSlice {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `slice` checked that `pos..pos+len` is inside the mapping;
        // the mapping outlives `self` through the `Arc`; the range is below
        // the file's allocated length (no SIGBUS) and immutable while this
        // slice lives: the log is append-only, so published bytes are never
        // written again (by pwrite or anyone), and files are only truncated
        // above every published range.
        unsafe { std::slice::from_raw_parts(self.map.raw.as_ptr().add(self.pos), self.len) }
    }
}
