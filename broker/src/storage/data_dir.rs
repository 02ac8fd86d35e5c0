//! The data directory: an exclusive lock so two brokers never share one, and
//! the clean-shutdown marker that lets the next start skip recovery.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use super::error::{Result, StorageError};

/// File holding the lock (and the holder's pid, for the error message).
const LOCK_FILE: &str = ".lock";
/// Present only between a clean shutdown and the next start.
const CLEAN_SHUTDOWN_FILE: &str = ".clean_shutdown";

/// A locked data directory. The lock is held until this value is dropped
/// (or the process dies: the kernel releases it).
#[derive(Debug)]
pub struct DataDir {
    /// The directory.
    path: PathBuf,
    /// The open, locked `.lock` file.
    _lock: File,
    /// Whether the previous run shut down cleanly.
    was_clean: bool,
}

impl DataDir {
    /// Creates the directory if needed, takes its lock, and consumes the
    /// clean-shutdown marker (so a crash from now on is noticed).
    pub fn open(path: &Path) -> Result<DataDir> {
        fs::create_dir_all(path).map_err(|e| StorageError::io(path, e))?;
        let mut dir = DataDir::lock(path)?;
        let marker = path.join(CLEAN_SHUTDOWN_FILE);
        dir.was_clean = marker.exists();
        if dir.was_clean {
            fs::remove_file(&marker).map_err(|e| StorageError::io(&marker, e))?;
            File::open(path)
                .and_then(|d| d.sync_all())
                .map_err(|e| StorageError::io(path, e))?;
        }
        Ok(dir)
    }

    /// Takes the lock of an existing directory without touching anything
    /// else (offline tools).
    pub fn lock(path: &Path) -> Result<DataDir> {
        let lock_path = path.join(LOCK_FILE);
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| StorageError::io(&lock_path, e))?;
        if let Err(e) =
            rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        {
            if e == rustix::io::Errno::WOULDBLOCK {
                let mut pid = String::new();
                let _ = lock.read_to_string(&mut pid);
                let pid = pid.trim();
                return Err(StorageError::Locked {
                    path: path.to_path_buf(),
                    holder: if pid.is_empty() {
                        String::new()
                    } else {
                        format!(" (pid {pid})")
                    },
                });
            }
            return Err(StorageError::io(&lock_path, io::Error::from(e)));
        }
        let write_pid = |lock: &mut File| -> io::Result<()> {
            lock.set_len(0)?;
            lock.rewind()?;
            writeln!(lock, "{}", std::process::id())
        };
        write_pid(&mut lock).map_err(|e| StorageError::io(&lock_path, e))?;
        Ok(DataDir {
            path: path.to_path_buf(),
            _lock: lock,
            was_clean: false,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the previous run shut down cleanly (every log closed).
    pub fn was_clean(&self) -> bool {
        self.was_clean
    }

    /// Records a clean shutdown. Call only after every partition log has
    /// been closed.
    pub fn mark_clean(&self) -> Result<()> {
        let marker = self.path.join(CLEAN_SHUTDOWN_FILE);
        File::create(&marker)
            .and_then(|f| f.sync_all())
            .and_then(|()| File::open(&self.path)?.sync_all())
            .map_err(|e| StorageError::io(marker, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_of_a_locked_dir_fails_with_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDir::open(dir.path()).unwrap();
        let err = DataDir::open(dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, StorageError::Locked { .. }), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(first);
        DataDir::open(dir.path()).unwrap();
    }

    #[test]
    fn the_clean_marker_is_consumed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let d = DataDir::open(dir.path()).unwrap();
        assert!(!d.was_clean());
        d.mark_clean().unwrap();
        drop(d);
        let d = DataDir::open(dir.path()).unwrap();
        assert!(d.was_clean());
        drop(d);
        assert!(!DataDir::open(dir.path()).unwrap().was_clean());
    }
}
