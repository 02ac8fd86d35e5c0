//! Producer ids for idempotent producers (InitProducerId), unique across
//! restarts: ids are handed out from blocks whose end is persisted, durably,
//! before any id of the block is given out, so after a crash the next start
//! begins past every id ever granted.
//!
//! File `<data_dir>/producer-ids`: `next block start u64 BE | CRC-32 (IEEE)
//! of those 8 bytes u32 BE`, replaced atomically.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::BrokerError;

/// Ids reserved per durable write.
const BLOCK: u64 = 1000;
const FILE: &str = "producer-ids";

/// Hands out producer ids.
#[derive(Debug)]
pub struct ProducerIds {
    /// The persisted file.
    path: PathBuf,
    /// (next id, end of the persisted block).
    state: Mutex<(u64, u64)>,
}

impl ProducerIds {
    /// Loads the allocator; ids start past the last persisted block.
    pub fn open(data_dir: &Path) -> Result<ProducerIds, BrokerError> {
        let path = data_dir.join(FILE);
        let start = match fs::read(&path) {
            Ok(bytes) => decode(&bytes).ok_or_else(|| BrokerError::ProducerIds {
                path: path.clone(),
                source: std::io::Error::other("damaged file (bad length or checksum)"),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(source) => return Err(BrokerError::ProducerIds { path, source }),
        };
        Ok(ProducerIds {
            path,
            state: Mutex::new((start, start)),
        })
    }

    /// The next producer id; persists a new block when the current one is
    /// used up (a blocking fsync about once every thousand calls).
    pub fn next(&self) -> Result<i64, BrokerError> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.0 >= state.1 {
            let end = state.0 + BLOCK;
            persist(&self.path, end).map_err(|source| BrokerError::ProducerIds {
                path: self.path.clone(),
                source,
            })?;
            state.1 = end;
        }
        let id = state.0;
        state.0 += 1;
        i64::try_from(id).map_err(|_| BrokerError::ProducerIds {
            path: self.path.clone(),
            source: std::io::Error::other("producer ids exhausted"),
        })
    }
}

fn decode(bytes: &[u8]) -> Option<u64> {
    let (value, crc) = bytes.split_first_chunk::<8>()?;
    let crc: [u8; 4] = crc.try_into().ok()?;
    (crc32fast::hash(value) == u32::from_be_bytes(crc)).then(|| u64::from_be_bytes(*value))
}

fn persist(path: &Path, end: u64) -> std::io::Result<()> {
    let mut buf = [0u8; 12];
    buf[..8].copy_from_slice(&end.to_be_bytes());
    let crc = crc32fast::hash(&buf[..8]);
    buf[8..].copy_from_slice(&crc.to_be_bytes());
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&buf)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let a = ProducerIds::open(dir.path()).unwrap();
        let first: Vec<i64> = (0..1500).map(|_| a.next().unwrap()).collect();
        drop(a);
        let b = ProducerIds::open(dir.path()).unwrap();
        let next = b.next().unwrap();
        assert!(next > *first.iter().max().unwrap());
        assert_eq!(first, (0..1500).collect::<Vec<_>>());
    }

    #[test]
    fn a_damaged_file_is_an_error_not_a_reuse() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE), b"garbage").unwrap();
        assert!(ProducerIds::open(dir.path()).is_err());
    }
}
