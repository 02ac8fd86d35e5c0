//! The only `unsafe` code of the broker: shared, writable memory maps of
//! segment and index files.
//!
//! A [`Mapping`] maps a file region read-write and shared. It may be longer
//! than the file (the rest is reserved address space, so the map need not be
//! replaced while the file grows); callers only ever touch bytes below the
//! file's allocated length, so no access can fault with SIGBUS.
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

/// A shared read-write mapping of (a prefix of) a file.
#[derive(Debug)]
pub(crate) struct Mapping {
    /// The raw map; raw because the writer and readers share it through
    /// `&self`, which `MmapMut` would not allow.
    raw: MmapRaw,
}

impl Mapping {
    /// Maps the first `len` bytes of `file` (which may extend past its end).
    pub(crate) fn new(file: &File, len: usize) -> io::Result<Mapping> {
        let raw = MmapOptions::new().len(len).map_raw(file)?;
        super::stats::map_created(raw.len());
        Ok(Mapping { raw })
    }

    /// Length of the mapped region.
    pub(crate) fn len(&self) -> usize {
        self.raw.len()
    }

    /// Copies `data` into the map at `pos`.
    ///
    /// The caller guarantees that `[pos, pos + data.len())` lies below the
    /// file's allocated length and that no reader has been handed bytes of
    /// that range (the log only publishes a range after writing it).
    pub(crate) fn write(&self, pos: usize, data: &[u8]) -> io::Result<()> {
        let end = pos
            .checked_add(data.len())
            .filter(|&end| end <= self.raw.len())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "write past mapping"))?;
        debug_assert!(end <= self.raw.len());
        // SAFETY: `pos..end` is inside the mapping (checked above) and inside
        // the file's allocated blocks (the caller's contract), so the pages
        // exist and cannot SIGBUS. No `&[u8]` to this range exists: readers
        // only receive ranges the writer has finished and published, and the
        // single writer never overlaps a published range, so this copy does
        // not race with any read.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.raw.as_mut_ptr().add(pos),
                data.len(),
            );
        }
        Ok(())
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
    let end = pos
        .checked_add(len)
        .filter(|&end| end <= map.len())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "read past mapping"))?;
    debug_assert!(end <= map.len());
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
        // slice lives (append-only log: published bytes are never rewritten,
        // files are only truncated above every published range).
        unsafe { std::slice::from_raw_parts(self.map.raw.as_ptr().add(self.pos), self.len) }
    }
}
