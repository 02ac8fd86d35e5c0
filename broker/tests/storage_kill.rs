//! A real process appends with fsync and reports each durable offset on
//! stdout; it is killed with SIGKILL mid-stream. After reopening, every
//! offset it reported durable is present and intact.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use bytes::Bytes;
use runnel_broker::storage::{LogConfig, Offset, OsFs, PartitionLog};
use runnel_protocol::record::{BatchBuilder, BatchOptions, Batches, NewRecord};

const CHILD_ENV: &str = "RUNNEL_STORAGE_KILL_CHILD_DIR";

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 256 * 1024,
        preallocate_bytes: 64 * 1024,
        retention_ms: None,
        ..LogConfig::default()
    }
}

fn batch(n: u64) -> Bytes {
    let mut b = BatchBuilder::new(BatchOptions::default()).unwrap();
    for i in 0..4 {
        b.append(&NewRecord {
            timestamp: n as i64,
            key: None,
            value: Some(Bytes::from(format!("{n}:{i}:{}", "v".repeat(500)))),
            headers: Vec::new(),
        })
        .unwrap();
    }
    b.build().unwrap()
}

/// The child side: append forever, printing the high watermark after each
/// flush. Does nothing when run as an ordinary test.
#[test]
fn child_appends_until_killed() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let (mut log, _) =
        PartitionLog::open(Arc::new(OsFs), Path::new(&dir), config(), false, false, 0).unwrap();
    for n in 0.. {
        log.append(&batch(n), 0).unwrap();
        if n % 4 == 3 {
            let hw = log.flush().unwrap();
            println!("durable {}", hw.0);
        }
    }
}

#[test]
fn sigkill_keeps_every_offset_reported_durable() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_appends_until_killed",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut durable = 0u64;
    let mut reports = 0;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(v) = line.strip_prefix("durable ") {
            durable = v.parse().unwrap();
            reports += 1;
            if reports == 300 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(reports, 300, "child stopped early");

    let (log, report) =
        PartitionLog::open(Arc::new(OsFs), dir.path(), config(), false, false, 0).unwrap();
    assert!(
        report.segments > 1,
        "the workload should span several segments"
    );
    assert!(log.log_end_offset().0 >= durable);
    let mut offset = 0;
    let mut n = 0;
    while offset < durable {
        let r = log.read(Offset(offset), 1 << 20).unwrap();
        assert!(!r.records.is_empty(), "offset {offset} missing");
        for b in Batches::new(r.records) {
            let b = b.unwrap();
            assert_eq!(b.base_offset() as u64, offset);
            assert_eq!(b.as_bytes()[12..], batch(n)[12..], "batch {n} differs");
            offset = b.last_offset() as u64 + 1;
            n += 1;
        }
    }
}
