//! A simulated disk for crash tests: it keeps the bytes a process has written
//! apart from the bytes that are durable, and can "crash", returning the file
//! system a restarted process would find.
//!
//! The model:
//! - File contents become durable on `sync` of that file. At a crash, every
//!   4 KiB page that differs between written and durable content is
//!   independently kept or lost, and one page may be torn at a 512-byte
//!   sector boundary — write-back reorders pages freely.
//! - A file's length becomes durable on `sync`; at a crash an unsynced length
//!   change is kept or lost.
//! - Directory operations (create, remove, rename) are journaled in order:
//!   `sync_dir` makes all earlier ones in that directory durable, and a crash
//!   keeps a random prefix of the ones that were not.
//! - Faults: after a budget of successful syncs, every sync fails with EIO
//!   and persists nothing; an optional space limit makes `allocate` fail with
//!   ENOSPC.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

use super::fs::{Fs, StorageFile, temp_path};

const PAGE: usize = 4096;
const SECTOR: usize = 512;

/// Contents of one simulated file.
#[derive(Debug, Default, Clone)]
struct Inode {
    /// What the process sees.
    written: Vec<u8>,
    /// What survives a crash for certain.
    durable: Vec<u8>,
}

/// A directory operation not yet made durable.
#[derive(Debug, Clone)]
enum DirOp {
    /// A file appeared at this path.
    Link(PathBuf, Arc<Mutex<Inode>>),
    /// The file at this path went away.
    Unlink(PathBuf),
}

impl DirOp {
    fn path(&self) -> &Path {
        match self {
            DirOp::Link(p, _) | DirOp::Unlink(p) => p,
        }
    }
}

/// Shared state of a simulated file system.
#[derive(Default)]
struct State {
    /// The namespace the process sees.
    files: BTreeMap<PathBuf, Arc<Mutex<Inode>>>,
    /// The namespace that survives a crash for certain.
    durable_files: BTreeMap<PathBuf, Arc<Mutex<Inode>>>,
    /// Directories (created durably at once).
    dirs: BTreeSet<PathBuf>,
    /// Directory operations since the last `sync_dir` of their directory.
    pending: Vec<DirOp>,
    /// Successful syncs so far.
    syncs: u64,
    /// After this many successful syncs, syncs fail.
    sync_budget: Option<u64>,
    /// Total bytes that may be allocated across all files.
    space_limit: Option<u64>,
}

impl State {
    fn take_sync(&mut self) -> io::Result<()> {
        if let Some(budget) = self.sync_budget
            && self.syncs >= budget
        {
            return Err(io::Error::other("simulated fsync failure (EIO)"));
        }
        self.syncs += 1;
        Ok(())
    }

    fn used_space(&self) -> u64 {
        self.files
            .values()
            .map(|i| lock(i).written.len() as u64)
            .sum()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A simulated file system; clones share the same disk.
#[derive(Clone, Default)]
pub struct SimFs {
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for SimFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = lock(&self.state);
        f.debug_struct("SimFs")
            .field("files", &s.files.len())
            .field("syncs", &s.syncs)
            .finish_non_exhaustive()
    }
}

impl SimFs {
    /// An empty disk.
    pub fn new() -> SimFs {
        SimFs::default()
    }

    /// Number of successful syncs (file and directory) so far.
    pub fn sync_count(&self) -> u64 {
        lock(&self.state).syncs
    }

    /// Lets `n` more syncs succeed; every later sync fails with EIO.
    pub fn fail_syncs_after(&self, n: u64) {
        let mut s = lock(&self.state);
        s.sync_budget = Some(s.syncs + n);
    }

    /// Limits the total allocated bytes; `None` lifts the limit.
    pub fn set_space_limit(&self, limit: Option<u64>) {
        lock(&self.state).space_limit = limit;
    }

    /// The disk as a restarted process finds it after a crash at this moment.
    /// `seed` decides which unsynced pages and directory operations survive.
    #[must_use]
    pub fn crash(&self, seed: u64) -> SimFs {
        let s = lock(&self.state);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut names = s.durable_files.clone();
        let keep = rng.random_range(0..=s.pending.len());
        for op in s.pending.iter().take(keep) {
            match op {
                DirOp::Link(p, inode) => {
                    names.insert(p.clone(), Arc::clone(inode));
                }
                DirOp::Unlink(p) => {
                    names.remove(p);
                }
            }
        }
        let mut copies: Vec<(*const Mutex<Inode>, Arc<Mutex<Inode>>)> = Vec::new();
        let mut files = BTreeMap::new();
        for (path, inode) in names {
            let key = Arc::as_ptr(&inode);
            let copy = if let Some((_, c)) = copies.iter().find(|(k, _)| *k == key) {
                Arc::clone(c)
            } else {
                let c = Arc::new(Mutex::new(crash_image(&lock(&inode), &mut rng)));
                copies.push((key, Arc::clone(&c)));
                c
            };
            files.insert(path, copy);
        }
        SimFs {
            state: Arc::new(Mutex::new(State {
                durable_files: files.clone(),
                files,
                dirs: s.dirs.clone(),
                ..State::default()
            })),
        }
    }

    /// The disk as a restarted process finds it after a clean shutdown or
    /// power loss with every write durable (no crash effects).
    #[must_use]
    pub fn snapshot(&self) -> SimFs {
        let s = lock(&self.state);
        let files: BTreeMap<_, _> = s
            .files
            .iter()
            .map(|(p, i)| {
                let w = lock(i).written.clone();
                (
                    p.clone(),
                    Arc::new(Mutex::new(Inode {
                        durable: w.clone(),
                        written: w,
                    })),
                )
            })
            .collect();
        SimFs {
            state: Arc::new(Mutex::new(State {
                durable_files: files.clone(),
                files,
                dirs: s.dirs.clone(),
                ..State::default()
            })),
        }
    }

    /// Overwrites bytes of a file in place, bypassing everything (for
    /// corruption tests). The change is durable.
    pub fn corrupt(&self, path: &Path, pos: usize, data: &[u8]) -> io::Result<()> {
        let s = lock(&self.state);
        let inode = s.files.get(path).ok_or_else(|| not_found(path))?;
        let mut guard = lock(inode);
        let i = &mut *guard;
        for buf in [&mut i.written, &mut i.durable] {
            let end = (pos + data.len()).min(buf.len());
            if pos < end {
                buf[pos..end].copy_from_slice(&data[..end - pos]);
            }
        }
        Ok(())
    }

    /// Current length of a file as the process sees it.
    pub fn len_of(&self, path: &Path) -> Option<u64> {
        let s = lock(&self.state);
        s.files.get(path).map(|i| lock(i).written.len() as u64)
    }

    fn link(&self, path: &Path, inode: Arc<Mutex<Inode>>) {
        let mut s = lock(&self.state);
        s.files.insert(path.to_path_buf(), Arc::clone(&inode));
        s.pending.push(DirOp::Link(path.to_path_buf(), inode));
    }
}

/// What survives of one file at a crash.
fn crash_image(inode: &Inode, rng: &mut StdRng) -> Inode {
    let len = if inode.written.len() == inode.durable.len() || rng.random_bool(0.5) {
        inode.written.len()
    } else {
        inode.durable.len()
    };
    let mut out = vec![0u8; len];
    let keep_old = inode.durable.len().min(len);
    out[..keep_old].copy_from_slice(&inode.durable[..keep_old]);
    let mut torn_done = false;
    let mut page = 0;
    while page < len {
        let end = (page + PAGE).min(len);
        let new = inode.written.get(page..end.min(inode.written.len()));
        let old = inode.durable.get(page..end.min(inode.durable.len()));
        if new != old
            && let Some(new) = new
        {
            if !torn_done && rng.random_bool(0.1) {
                torn_done = true;
                let sectors = new.len().div_ceil(SECTOR);
                let cut = (rng.random_range(0..=sectors) * SECTOR).min(new.len());
                out[page..page + cut].copy_from_slice(&new[..cut]);
            } else if rng.random_bool(0.5) {
                out[page..page + new.len()].copy_from_slice(new);
            }
        }
        page = end;
    }
    Inode {
        written: out.clone(),
        durable: out,
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file", path.display()),
    )
}

impl Fs for SimFs {
    fn open(&self, path: &Path, create: bool, _reserve: u64) -> io::Result<Arc<dyn StorageFile>> {
        let existing = lock(&self.state).files.get(path).cloned();
        let inode = match existing {
            Some(i) => i,
            None if create => {
                let parent_exists = path
                    .parent()
                    .is_none_or(|p| p.as_os_str().is_empty() || lock(&self.state).dirs.contains(p));
                if !parent_exists {
                    return Err(not_found(path));
                }
                let i = Arc::new(Mutex::new(Inode::default()));
                self.link(path, Arc::clone(&i));
                i
            }
            None => return Err(not_found(path)),
        };
        Ok(Arc::new(SimFile {
            path: path.to_path_buf(),
            inode,
            fs: self.clone(),
        }))
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut s = lock(&self.state);
        for anc in path.ancestors() {
            if !anc.as_os_str().is_empty() {
                s.dirs.insert(anc.to_path_buf());
            }
        }
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let s = lock(&self.state);
        if !s.dirs.contains(path) {
            return Err(not_found(path));
        }
        let mut names: BTreeSet<String> = BTreeSet::new();
        for p in s.files.keys().chain(s.dirs.iter()) {
            if p.parent() == Some(path)
                && let Some(n) = p.file_name().and_then(|n| n.to_str())
            {
                names.insert(n.to_owned());
            }
        }
        Ok(names.into_iter().collect())
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        self.len_of(path).ok_or_else(|| not_found(path))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut s = lock(&self.state);
        if s.files.remove(path).is_none() {
            return Err(not_found(path));
        }
        s.pending.push(DirOp::Unlink(path.to_path_buf()));
        Ok(())
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut s = lock(&self.state);
        let doomed: Vec<PathBuf> = s
            .files
            .keys()
            .filter(|p| p.starts_with(path))
            .cloned()
            .collect();
        for p in doomed {
            s.files.remove(&p);
            s.durable_files.remove(&p);
        }
        s.dirs.retain(|d| !d.starts_with(path));
        s.pending.retain(|op| !op.path().starts_with(path));
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut s = lock(&self.state);
        s.take_sync()?;
        let pending = std::mem::take(&mut s.pending);
        for op in pending {
            if op.path().parent() == Some(path) {
                match op {
                    DirOp::Link(p, i) => {
                        s.durable_files.insert(p, i);
                    }
                    DirOp::Unlink(p) => {
                        s.durable_files.remove(&p);
                    }
                }
            } else {
                s.pending.push(op);
            }
        }
        Ok(())
    }

    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        let s = lock(&self.state);
        let inode = s.files.get(path).ok_or_else(|| not_found(path))?;
        Ok(lock(inode).written.clone())
    }

    fn write_file_atomic(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let tmp = temp_path(path);
        let file = self.open(&tmp, true, 0)?;
        file.truncate(0)?;
        file.allocate(data.len() as u64)?;
        file.write_at(0, data)?;
        file.sync()?;
        let inode = {
            let mut s = lock(&self.state);
            let inode = s.files.remove(&tmp).ok_or_else(|| not_found(&tmp))?;
            s.pending.push(DirOp::Unlink(tmp.clone()));
            inode
        };
        self.link(path, inode);
        let dir = path.parent().unwrap_or(Path::new(""));
        self.sync_dir(dir)
    }
}

/// A file of [`SimFs`].
struct SimFile {
    /// For error messages.
    path: PathBuf,
    /// The contents, shared with other handles to the same file.
    inode: Arc<Mutex<Inode>>,
    /// For sync accounting and fault injection.
    fs: SimFs,
}

impl fmt::Debug for SimFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SimFile {
    fn range(&self, pos: u64, len: usize, have: usize) -> io::Result<std::ops::Range<usize>> {
        let start = usize::try_from(pos).map_err(|_| io::Error::other("position too large"))?;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= have)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "range {start}+{len} is past the end ({have}) of {}",
                        self.path.display()
                    ),
                )
            })?;
        Ok(start..end)
    }
}

impl StorageFile for SimFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn len(&self) -> u64 {
        lock(&self.inode).written.len() as u64
    }

    fn allocate(&self, len: u64) -> io::Result<()> {
        let cur = self.len();
        if len <= cur {
            return Ok(());
        }
        {
            let s = lock(&self.fs.state);
            if let Some(limit) = s.space_limit
                && s.used_space() + (len - cur) > limit
            {
                return Err(io::Error::from_raw_os_error(
                    rustix::io::Errno::NOSPC.raw_os_error(),
                ));
            }
        }
        let len = usize::try_from(len).map_err(|_| io::Error::other("file too large"))?;
        lock(&self.inode).written.resize(len, 0);
        Ok(())
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(|_| io::Error::other("file too large"))?;
        lock(&self.inode).written.truncate(len);
        Ok(())
    }

    fn write_at(&self, pos: u64, data: &[u8]) -> io::Result<()> {
        let mut inode = lock(&self.inode);
        let r = self.range(pos, data.len(), inode.written.len())?;
        inode.written[r].copy_from_slice(data);
        Ok(())
    }

    fn read(&self, pos: u64, len: usize) -> io::Result<Bytes> {
        let inode = lock(&self.inode);
        let r = self.range(pos, len, inode.written.len())?;
        Ok(Bytes::copy_from_slice(&inode.written[r]))
    }

    fn sync(&self) -> io::Result<()> {
        lock(&self.fs.state).take_sync()?;
        let mut inode = lock(&self.inode);
        let Inode { written, durable } = &mut *inode;
        durable.clone_from(written);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synced_bytes_survive_a_crash() {
        let fs = SimFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        let f = fs.open(Path::new("/d/a"), true, 0).unwrap();
        f.allocate(8).unwrap();
        f.write_at(0, b"durable!").unwrap();
        f.sync().unwrap();
        fs.sync_dir(Path::new("/d")).unwrap();
        for seed in 0..20 {
            let after = fs.crash(seed);
            assert_eq!(after.read_file(Path::new("/d/a")).unwrap(), b"durable!");
        }
    }

    #[test]
    fn unsynced_bytes_may_be_lost_or_kept() {
        let fs = SimFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        let f = fs.open(Path::new("/d/a"), true, 0).unwrap();
        fs.sync_dir(Path::new("/d")).unwrap();
        f.allocate(4).unwrap();
        f.sync().unwrap();
        f.write_at(0, b"gone").unwrap();
        let outcomes: BTreeSet<Vec<u8>> = (0..64)
            .map(|seed| fs.crash(seed).read_file(Path::new("/d/a")).unwrap())
            .collect();
        assert!(outcomes.contains(b"gone".as_slice()));
        assert!(outcomes.contains(&vec![0, 0, 0, 0]));
    }

    #[test]
    fn unsynced_creation_may_vanish() {
        let fs = SimFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        fs.open(Path::new("/d/a"), true, 0).unwrap();
        let present: BTreeSet<bool> = (0..32)
            .map(|seed| fs.crash(seed).file_len(Path::new("/d/a")).is_ok())
            .collect();
        assert_eq!(present, BTreeSet::from([false, true]));
    }

    #[test]
    fn syncs_fail_after_the_budget() {
        let fs = SimFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        let f = fs.open(Path::new("/d/a"), true, 0).unwrap();
        fs.fail_syncs_after(1);
        f.sync().unwrap();
        assert!(f.sync().is_err());
        assert_eq!(fs.sync_count(), 1);
    }

    #[test]
    fn allocation_past_the_space_limit_is_enospc() {
        let fs = SimFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        let f = fs.open(Path::new("/d/a"), true, 0).unwrap();
        fs.set_space_limit(Some(100));
        f.allocate(100).unwrap();
        let err = f.allocate(101).unwrap_err();
        assert_eq!(
            err.raw_os_error(),
            Some(rustix::io::Errno::NOSPC.raw_os_error())
        );
    }

    #[test]
    fn atomic_write_replaces_whole_file() {
        let fs = SimFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        fs.write_file_atomic(Path::new("/d/cp"), b"one").unwrap();
        fs.write_file_atomic(Path::new("/d/cp"), b"two!").unwrap();
        assert_eq!(fs.crash(1).read_file(Path::new("/d/cp")).unwrap(), b"two!");
        assert_eq!(
            fs.list_dir(Path::new("/d")).unwrap(),
            vec!["cp".to_string()]
        );
    }
}
