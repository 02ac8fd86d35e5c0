//! Offline verification of a data directory (`runnel-broker check`) and a
//! printer for one segment file (`runnel-broker dump`), like Kafka's
//! dump-log tool. Both stream the files batch by batch, so memory stays
//! small whatever the segment size, and neither writes anything.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use runnel_protocol::record::{BATCH_HEADER_LEN, BatchHeader, RecordBatch, check_envelope};

use super::offset::Offset;
use super::segment::{INDEX_EXT, LOG_EXT, TIME_INDEX_EXT, parse_segment_name, segment_path};

/// One thing wrong, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The damaged file.
    pub path: PathBuf,
    /// Byte position in it, when known.
    pub position: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.position {
            Some(p) => write!(
                f,
                "{} at position {p}: {}",
                self.path.display(),
                self.message
            ),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// What a check found.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Partitions checked.
    pub partitions: usize,
    /// Segments checked.
    pub segments: usize,
    /// Batches validated.
    pub batches: u64,
    /// Bytes of batches validated.
    pub bytes: u64,
    /// Everything found wrong.
    pub problems: Vec<Problem>,
}

/// One batch as read from a segment file.
#[derive(Debug, Clone)]
pub struct ScannedBatch {
    /// Position in the file.
    pub position: u64,
    /// Its header.
    pub header: BatchHeader,
    /// The whole batch.
    pub bytes: Vec<u8>,
    /// Whether length and CRC check out.
    pub intact: Result<(), String>,
}

/// Where a stream of batches ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// Exactly at the end of the file.
    Clean,
    /// Only zeros follow (preallocated space of an active segment).
    Zeros {
        /// Position of the first zero byte.
        position: u64,
    },
    /// Bytes follow that are not a batch.
    Garbage {
        /// Position of the first such byte.
        position: u64,
        /// Why they are not a batch.
        reason: String,
    },
}

/// Streams the batches of a `.log` file, calling `visit` with each; stops at
/// the first thing that is not a whole batch and says what it was.
pub fn scan_log(path: &Path, mut visit: impl FnMut(ScannedBatch)) -> io::Result<Tail> {
    let mut r = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut position = 0u64;
    loop {
        let mut head = [0u8; BATCH_HEADER_LEN];
        let got = read_full(&mut r, &mut head)?;
        if got == 0 {
            return Ok(Tail::Clean);
        }
        if head[..got].iter().all(|&b| b == 0) && rest_is_zero(&mut r)? {
            return Ok(Tail::Zeros { position });
        }
        if got < BATCH_HEADER_LEN {
            return Ok(Tail::Garbage {
                position,
                reason: format!("{got} bytes at the end, less than a batch header"),
            });
        }
        let header = match BatchHeader::parse(&head) {
            Ok(h) => h,
            Err(e) => {
                return Ok(Tail::Garbage {
                    position,
                    reason: e.to_string(),
                });
            }
        };
        let mut bytes = head.to_vec();
        bytes.resize(header.total_len(), 0);
        let body = read_full(&mut r, &mut bytes[BATCH_HEADER_LEN..])?;
        if BATCH_HEADER_LEN + body < header.total_len() {
            return Ok(Tail::Garbage {
                position,
                reason: format!(
                    "batch declares {} bytes but the file ends after {}",
                    header.total_len(),
                    BATCH_HEADER_LEN + body
                ),
            });
        }
        let intact = check_envelope(&bytes)
            .map(|_| ())
            .map_err(|e| e.to_string());
        let len = bytes.len() as u64;
        visit(ScannedBatch {
            position,
            header,
            bytes,
            intact,
        });
        position += len;
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

fn rest_is_zero(r: &mut impl Read) -> io::Result<bool> {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(true);
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
    }
}

/// Verifies every partition under `<data_dir>/topics` (and the groups log):
/// every batch's length, CRC and offset continuity, segments joining without
/// gaps, and both indexes against the log.
pub fn check_data_dir(data_dir: &Path) -> io::Result<CheckReport> {
    let mut report = CheckReport::default();
    let mut dirs = Vec::new();
    for root in [data_dir.join("topics"), data_dir.join("groups")] {
        if !root.is_dir() {
            continue;
        }
        collect_partition_dirs(&root, &mut dirs)?;
    }
    dirs.sort();
    for dir in dirs {
        report.partitions += 1;
        check_partition(&dir, &mut report)?;
    }
    Ok(report)
}

fn collect_partition_dirs(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut has_log = false;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect_partition_dirs(&path, out)?;
        } else if path.extension().is_some_and(|e| e == LOG_EXT) {
            has_log = true;
        }
    }
    if has_log {
        out.push(dir.to_path_buf());
    }
    Ok(())
}

/// Checks one partition directory, adding what it finds to `report`.
pub fn check_partition(dir: &Path, report: &mut CheckReport) -> io::Result<()> {
    let mut bases: Vec<Offset> = fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| {
            parse_segment_name(&n)
                .filter(|(_, ext)| *ext == LOG_EXT)
                .map(|(b, _)| b)
        })
        .collect();
    bases.sort_unstable();
    let mut expected: Option<Offset> = None;
    for (i, &base) in bases.iter().enumerate() {
        report.segments += 1;
        let path = segment_path(dir, base, LOG_EXT);
        let last = i + 1 == bases.len();
        if let Some(e) = expected
            && e != base
        {
            report.problems.push(Problem {
                path: path.clone(),
                position: None,
                message: format!(
                    "segment starts at offset {base} but the previous one ends at {e}: a segment is missing or truncated"
                ),
            });
        }
        let mut next = base;
        let mut batches: Vec<(u64, Offset, i64)> = Vec::new();
        let mut first_bad: Option<Problem> = None;
        let mut max_ts = i64::MIN;
        let tail = scan_log(&path, |b| {
            let start = Offset::from_i64(b.header.base_offset);
            if first_bad.is_none() {
                if let Err(reason) = &b.intact {
                    first_bad = Some(Problem {
                        path: path.clone(),
                        position: Some(b.position),
                        message: format!(
                            "batch at offset {} is damaged: {reason}",
                            b.header.base_offset
                        ),
                    });
                } else if start != Some(next) {
                    first_bad = Some(Problem {
                        path: path.clone(),
                        position: Some(b.position),
                        message: format!(
                            "batch has base offset {} where {next} was expected",
                            b.header.base_offset
                        ),
                    });
                }
            }
            report.batches += 1;
            report.bytes += b.bytes.len() as u64;
            batches.push((b.position, start.unwrap_or(next), max_ts));
            max_ts = max_ts.max(b.header.max_timestamp);
            next = Offset::from_i64(b.header.last_offset()).map_or(next, |l| l.plus(1));
        })?;
        report.problems.extend(first_bad);
        match tail {
            Tail::Clean => {}
            Tail::Zeros { position } if last => {
                let _ = position; // preallocated space of the active segment
            }
            Tail::Zeros { position } => report.problems.push(Problem {
                path: path.clone(),
                position: Some(position),
                message: "sealed segment has zeros after its last batch (not trimmed)".into(),
            }),
            Tail::Garbage { position, reason } => report.problems.push(Problem {
                path: path.clone(),
                position: Some(position),
                message: format!("bytes after the last whole batch are not a batch: {reason}"),
            }),
        }
        check_indexes(dir, base, &batches, report);
        expected = Some(next);
    }
    Ok(())
}

/// Checks both indexes of a segment against its batches
/// `(position, base offset, max timestamp before it)`.
fn check_indexes(
    dir: &Path,
    base: Offset,
    batches: &[(u64, Offset, i64)],
    report: &mut CheckReport,
) {
    let oi_path = segment_path(dir, base, INDEX_EXT);
    let ti_path = segment_path(dir, base, TIME_INDEX_EXT);
    let (Ok(oi), Ok(ti)) = (fs::read(&oi_path), fs::read(&ti_path)) else {
        report.problems.push(Problem {
            path: oi_path,
            position: None,
            message: "index files missing (the broker rebuilds them when the segment is opened)"
                .into(),
        });
        return;
    };
    let oi: Vec<[u8; 8]> = oi
        .chunks_exact(8)
        .filter_map(|c| c.try_into().ok())
        .collect();
    let ti: Vec<[u8; 12]> = ti
        .chunks_exact(12)
        .filter_map(|c| c.try_into().ok())
        .collect();
    let mut entries = 0;
    for (i, e) in oi.iter().enumerate() {
        let rel = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
        let pos = u64::from(u32::from_be_bytes([e[4], e[5], e[6], e[7]]));
        if i > 0 && rel == 0 && pos == 0 {
            break; // preallocated zeros of an active segment
        }
        entries += 1;
        let offset = base.plus(u64::from(rel));
        match batches.iter().find(|(p, _, _)| *p == pos) {
            Some((_, o, before)) if *o == offset => {
                if let Some(t) = ti.get(i) {
                    let ts = i64::from_be_bytes([t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]]);
                    let trel = u32::from_be_bytes([t[8], t[9], t[10], t[11]]);
                    if trel != rel || ts != *before {
                        report.problems.push(Problem {
                            path: ti_path.clone(),
                            position: Some(i as u64 * 12),
                            message: format!(
                                "time index entry {i} is ({ts}, +{trel}) but the log says ({before}, +{rel})"
                            ),
                        });
                        return;
                    }
                }
            }
            _ => {
                report.problems.push(Problem {
                    path: oi_path.clone(),
                    position: Some(i as u64 * 8),
                    message: format!("index entry {i} points at offset {offset} position {pos}, where no such batch starts"),
                });
                return;
            }
        }
    }
    if ti.iter().skip(entries).any(|t| t.iter().any(|&b| b != 0)) {
        report.problems.push(Problem {
            path: ti_path,
            position: Some(entries as u64 * 12),
            message: "time index has more entries than the offset index".into(),
        });
    }
}

/// Writes a description of every batch of a `.log` file to `out` (and of
/// every record with `records`). Returns whether the file is intact.
pub fn dump_segment(path: &Path, records: bool, out: &mut impl io::Write) -> io::Result<bool> {
    let mut intact = true;
    let mut write_err = None;
    let tail = scan_log(path, |b| {
        let h = &b.header;
        let status = match &b.intact {
            Ok(()) => "ok".to_owned(),
            Err(e) => {
                intact = false;
                format!("DAMAGED ({e})")
            }
        };
        let line = format!(
            "offset {}..{} position {} size {} records {} compression {} timestamps {}..{} producer {}/{}/{} crc {:#010x} {status}",
            h.base_offset,
            h.last_offset(),
            b.position,
            b.bytes.len(),
            h.record_count,
            h.compression().map_or("unknown", |c| c.name()),
            h.base_timestamp,
            h.max_timestamp,
            h.producer_id,
            h.producer_epoch,
            h.base_sequence,
            h.crc,
        );
        let mut text = line + "\n";
        if records
            && b.intact.is_ok()
            && let Ok(batch) = RecordBatch::new(b.bytes.clone().into())
            && let Ok(iter) = batch.records()
        {
            for r in iter {
                let _ = match r {
                    Ok(r) => writeln!(
                        text,
                        "  offset {} timestamp {} key {} value {} headers {}",
                        r.offset,
                        r.timestamp,
                        show(r.key.as_deref()),
                        show(r.value.as_deref()),
                        r.headers.len()
                    ),
                    Err(e) => writeln!(text, "  undecodable record: {e}"),
                };
            }
        }
        if write_err.is_none()
            && let Err(e) = out.write_all(text.as_bytes())
        {
            write_err = Some(e);
        }
    })?;
    if let Some(e) = write_err {
        return Err(e);
    }
    match tail {
        Tail::Clean => {}
        Tail::Zeros { position } => writeln!(
            out,
            "zeros from position {position} to the end (preallocated)"
        )?,
        Tail::Garbage { position, reason } => {
            intact = false;
            writeln!(out, "DAMAGED at position {position}: {reason}")?;
        }
    }
    Ok(intact)
}

/// A key or value for display: UTF-8 text if it is, else hex; at most 80
/// characters.
fn show(v: Option<&[u8]>) -> String {
    let Some(v) = v else { return "null".into() };
    let text = match std::str::from_utf8(v) {
        Ok(s) => format!("{s:?}"),
        Err(_) => v.iter().fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        }),
    };
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(77).collect();
        format!("{cut}...")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{LogConfig, OsFs, PartitionLog};
    use runnel_protocol::record::{BatchBuilder, BatchOptions, NewRecord};
    use std::sync::Arc;

    fn fill(dir: &Path) {
        let config = LogConfig {
            segment_bytes: 2048,
            index_interval_bytes: 100,
            ..LogConfig::default()
        };
        let (mut log, _) =
            PartitionLog::open(Arc::new(OsFs), dir, config, false, false, 0).unwrap();
        for i in 0..30 {
            let mut b = BatchBuilder::new(BatchOptions::default()).unwrap();
            b.append(&NewRecord {
                timestamp: i,
                key: Some(bytes::Bytes::from(format!("k{i}"))),
                value: Some(bytes::Bytes::from(vec![b'v'; 150])),
                headers: Vec::new(),
            })
            .unwrap();
            log.append(&b.build().unwrap(), 0).unwrap();
        }
        log.close().unwrap();
    }

    #[test]
    fn an_intact_partition_has_no_problems() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("topics/t/0");
        fill(&dir);
        let report = check_data_dir(tmp.path()).unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(report.batches, 30);
        assert!(report.segments > 2);
    }

    #[test]
    fn a_flipped_bit_and_a_missing_segment_are_found() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("topics/t/0");
        fill(&dir);
        let first = segment_path(&dir, Offset(0), LOG_EXT);
        let mut bytes = fs::read(&first).unwrap();
        bytes[300] ^= 0x10;
        fs::write(&first, bytes).unwrap();
        let mut bases: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| {
                parse_segment_name(&e.unwrap().file_name().into_string().unwrap()).map(|(b, _)| b)
            })
            .collect();
        bases.sort_unstable();
        bases.dedup();
        fs::remove_file(segment_path(&dir, bases[1], LOG_EXT)).unwrap();
        let report = check_data_dir(tmp.path()).unwrap();
        let text: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|p| p.contains("damaged") && p.contains("00000000000000000000.log")),
            "{text:?}"
        );
        assert!(text.iter().any(|p| p.contains("missing")), "{text:?}");
    }

    #[test]
    fn dump_prints_every_batch_and_flags_damage() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("topics/t/0");
        fill(&dir);
        let path = segment_path(&dir, Offset(0), LOG_EXT);
        let mut out = Vec::new();
        assert!(dump_segment(&path, true, &mut out).unwrap());
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("offset 0..0 position 0"), "{text}");
        assert!(text.contains("key \"k0\""), "{text}");
        let mut bytes = fs::read(&path).unwrap();
        bytes[100] ^= 1;
        fs::write(&path, bytes).unwrap();
        let mut out = Vec::new();
        assert!(!dump_segment(&path, false, &mut out).unwrap());
        assert!(String::from_utf8(out).unwrap().contains("DAMAGED"));
    }
}
