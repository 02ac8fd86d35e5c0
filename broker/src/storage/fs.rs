//! All file I/O of the storage engine goes through the [`Fs`] and
//! [`StorageFile`] traits, so tests can swap the operating system for a
//! simulated disk that keeps written and durable bytes apart
//! (see [`super::sim`]).
//!
//! The real implementation, [`OsFs`], writes with `pwrite(2)` and reads
//! through shared read-only memory maps, handing out slices of them without
//! copying. Writing through the maps was measured and rejected: with a
//! flush always running, writeback of pages dirtied through a mapping must
//! write-protect them in every CPU's TLB (an IPI per page), which cost more
//! than the copy it saved (figures in BENCHMARKS.md).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;

use super::mmap::{self, Mapping};
use super::stats;

/// A file system: creates, lists and removes files and directories.
pub trait Fs: Send + Sync + fmt::Debug {
    /// Opens `path` for reading and writing, creating it (empty) if `create`
    /// is set and it does not exist. `reserve` is a hint of how large the file
    /// may grow, so an implementation can reserve address space once.
    fn open(&self, path: &Path, create: bool, reserve: u64) -> io::Result<Arc<dyn StorageFile>>;
    /// Creates a directory and its parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Names of the entries of a directory, in no particular order.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    /// Length of a file; `NotFound` if it does not exist.
    fn file_len(&self, path: &Path) -> io::Result<u64>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Removes a directory and everything in it.
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Makes the creations, removals and renames in a directory durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Reads a whole small file; `NotFound` if it does not exist.
    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Replaces a small file atomically and durably: write a temporary file,
    /// sync it, rename it over `path`, sync the directory.
    fn write_file_atomic(&self, path: &Path, data: &[u8]) -> io::Result<()>;
}

/// One open file of a log: a segment's `.log` or one of its indexes.
///
/// Offsets below `len()` are backed by allocated blocks. Writes and reads
/// must stay below `len()`; `allocate` grows the file first.
pub trait StorageFile: Send + Sync + fmt::Debug {
    /// Path, for error messages.
    fn path(&self) -> &Path;
    /// Current file length.
    fn len(&self) -> u64;
    /// Whether the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Grows the file to `len` bytes with allocated, zeroed blocks (never
    /// sparse), so a full disk fails here and not on a later write.
    fn allocate(&self, len: u64) -> io::Result<()>;
    /// Shrinks the file to `len` bytes. No slice handed out by `read` may
    /// reach past `len`.
    fn truncate(&self, len: u64) -> io::Result<()>;
    /// Writes `data` at `pos`; `pos + data.len()` must not exceed `len()`.
    fn write_at(&self, pos: u64, data: &[u8]) -> io::Result<()>;
    /// Returns `len` bytes at `pos`, zero-copy where the implementation can.
    fn read(&self, pos: u64, len: usize) -> io::Result<Bytes>;
    /// Makes everything written so far durable (data and the length).
    fn sync(&self) -> io::Result<()>;
    /// Stops holding an operating-system handle between operations: each
    /// later write, resize or sync opens the file for its own duration;
    /// reads keep using the mapping. For files written rarely (indexes) or
    /// no more (sealed, synced segments), so that open files do not grow
    /// with the number of partitions and segments.
    fn release_handle(&self) {}
}

/// The operating system's file system, with files written and read through
/// shared memory maps.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsFs;

impl Fs for OsFs {
    fn open(&self, path: &Path, create: bool, reserve: u64) -> io::Result<Arc<dyn StorageFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(path)?;
        let len = file.metadata()?.len();
        stats::file_opened();
        Ok(Arc::new(OsFile {
            path: path.to_path_buf(),
            file: RwLock::new(Some(file)),
            len: AtomicU64::new(len),
            reserve,
            map: RwLock::new(None),
        }))
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(path)? {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        Ok(fs::metadata(path)?.len())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::remove_dir_all(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        stats::fsync();
        File::open(path)?.sync_all()
    }

    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn write_file_atomic(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let tmp = temp_path(path);
        {
            let mut f = File::create(&tmp)?;
            f.write_all(data)?;
            stats::fsync();
            f.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => self.sync_dir(dir),
            _ => self.sync_dir(Path::new(".")),
        }
    }
}

/// `path` with `.tmp` appended, for atomic replacement.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// A file of [`OsFs`].
struct OsFile {
    /// For error messages.
    path: PathBuf,
    /// The open file; pwrite, fallocate, ftruncate and fdatasync go through
    /// it. `None` once released: each operation then opens the file anew.
    file: RwLock<Option<File>>,
    /// File length as last set through this handle.
    len: AtomicU64,
    /// How much address space to map at once, so a growing file is rarely
    /// remapped.
    reserve: u64,
    /// The current read-only mapping, created on first read and replaced by
    /// a longer one when the file outgrows it. Readers clone the `Arc`; the
    /// lock is held only for that.
    map: RwLock<Option<Arc<Mapping>>>,
}

impl Drop for OsFile {
    fn drop(&mut self) {
        let held = self
            .file
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if held.is_some() {
            stats::file_closed();
        }
    }
}

impl fmt::Debug for OsFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OsFile")
            .field("path", &self.path)
            .field("len", &self.len.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl OsFile {
    /// Runs `op` on the file's handle, opening the file for just this call
    /// when the handle has been released.
    fn with_handle<T>(&self, op: impl FnOnce(&File) -> io::Result<T>) -> io::Result<T> {
        {
            let guard = self
                .file
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(file) = guard.as_ref() {
                return op(file);
            }
        }
        let file = OpenOptions::new().read(true).write(true).open(&self.path)?;
        op(&file)
    }

    /// A mapping that covers `[0, end)`, creating or growing it as needed.
    fn mapping(&self, end: u64) -> io::Result<Arc<Mapping>> {
        {
            let guard = self
                .map
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(map) = guard.as_ref()
                && map.len() as u64 >= end
            {
                return Ok(Arc::clone(map));
            }
        }
        let mut guard = self
            .map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(map) = guard.as_ref()
            && map.len() as u64 >= end
        {
            return Ok(Arc::clone(map));
        }
        let want = end.max(self.reserve).max(self.len.load(Ordering::Acquire));
        let len = usize::try_from(round_up_to_page(want))
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "mapping too large"))?;
        let map = Arc::new(self.with_handle(|file| Mapping::new(file, len))?);
        *guard = Some(Arc::clone(&map));
        Ok(map)
    }

    fn check_range(&self, pos: u64, len: u64) -> io::Result<u64> {
        let end = pos
            .checked_add(len)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "range overflows"))?;
        if end > self.len.load(Ordering::Acquire) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "range {pos}..{end} is past the end of {}",
                    self.path.display()
                ),
            ));
        }
        Ok(end)
    }
}

fn round_up_to_page(n: u64) -> u64 {
    const PAGE: u64 = 4096;
    n.div_ceil(PAGE).max(1) * PAGE
}

impl StorageFile for OsFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    fn allocate(&self, len: u64) -> io::Result<()> {
        let cur = self.len.load(Ordering::Acquire);
        if len <= cur {
            return Ok(());
        }
        self.with_handle(|file| {
            rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), cur, len - cur)
                .map_err(io::Error::from)
        })?;
        self.len.store(len, Ordering::Release);
        Ok(())
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        self.with_handle(|file| file.set_len(len))?;
        self.len.store(len, Ordering::Release);
        Ok(())
    }

    fn write_at(&self, pos: u64, data: &[u8]) -> io::Result<()> {
        self.check_range(pos, data.len() as u64)?;
        self.with_handle(|file| std::os::unix::fs::FileExt::write_all_at(file, data, pos))
    }

    fn read(&self, pos: u64, len: usize) -> io::Result<Bytes> {
        let end = self.check_range(pos, len as u64)?;
        if len == 0 {
            return Ok(Bytes::new());
        }
        let map = self.mapping(end)?;
        let pos = usize::try_from(pos)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "position too large"))?;
        mmap::slice(&map, pos, len)
    }

    fn sync(&self) -> io::Result<()> {
        stats::fsync();
        self.with_handle(File::sync_data)
    }

    fn release_handle(&self) {
        let released = self
            .file
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if released.is_some() {
            stats::file_closed();
        }
    }
}
