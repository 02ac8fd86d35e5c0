//! A full disk, black-box: the data directory is a 64 MiB tmpfs mounted by
//! the test. Producing until it is full fails with STORAGE_FULL and a clear
//! message; reads and group commits keep working; the broker stays up; and
//! once deleting a topic frees space, producing works again.
//!
//! Mounting needs root (CAP_SYS_ADMIN). Without it the test is skipped with
//! a loud message, unless `CI` is set, where it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Broker, batch, records_of};
use runnel_protocol::api::delete_topics::DeleteTopicsRequest;
use runnel_protocol::api::offset_commit::{
    OffsetCommitPartition, OffsetCommitRequest, OffsetCommitTopic,
};
use runnel_protocol::api::produce::Acks;
use runnel_protocol::{ErrorCode, PartitionId};

/// A tmpfs mounted for the test's lifetime; unmounted on drop, so also
/// when the test fails.
struct Tmpfs {
    /// The mount point.
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .ok()?;
        if out.status.success() {
            Some(Tmpfs {
                path: path.to_path_buf(),
            })
        } else {
            eprintln!("mount: {}", String::from_utf8_lossy(&out.stderr));
            None
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn commit(c: &mut common::Conn, offset: i64) -> ErrorCode {
    let r = c.call(&OffsetCommitRequest {
        group_id: "outsider".to_owned(),
        member_id: String::new(),
        member_epoch: -1,
        topics: vec![OffsetCommitTopic {
            name: "keep".to_owned(),
            partitions: vec![OffsetCommitPartition {
                partition: PartitionId(0),
                committed_offset: offset,
                committed_metadata: None,
            }],
        }],
    });
    r.topics[0].partitions[0].error_code
}

#[test]
fn a_full_disk_refuses_produce_keeps_serving_and_recovers_after_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("data");
    let Some(fs) = Tmpfs::mount(&mnt, "64m") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "cannot mount a tmpfs (needs root); CI must run this test"
        );
        eprintln!("!!!!! SKIPPED: cannot mount a tmpfs (needs root); full-disk test not run !!!!!");
        return;
    };
    let mut broker = Broker::start_in(&fs.path, &[]);
    let mut c = broker.connect();
    for topic in ["keep", "filler"] {
        let (code, msg) = c.create_topic(topic, 1, &[("segment.bytes", "4194304")]);
        assert_eq!(code, ErrorCode::None, "{msg:?}");
    }
    let r = c.produce("keep", 0, batch(1, &["kept"]), Acks::All);
    assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::None);
    assert_eq!(commit(&mut c, 1), ErrorCode::None);

    // Fill the disk.
    let value = "x".repeat(256 * 1024);
    let mut acked: i64 = 0;
    let full = loop {
        let r = c.produce("filler", 0, batch(acked, &[value.as_str()]), Acks::All);
        let p = &r.topics[0].partitions[0];
        if p.error_code != ErrorCode::None {
            break p.clone();
        }
        acked += 1;
        assert!(acked < 1024, "64 MiB never filled");
    };
    assert_eq!(full.error_code, ErrorCode::StorageFull, "{full:?}");
    let message = full.error_message.clone().unwrap_or_default();
    eprintln!("after {acked} batches: {message}");
    assert!(!message.is_empty());
    assert!(broker.is_running());

    // Reads and group commits keep working.
    let f = c.fetch("keep", 0, 0, 0, 1);
    assert_eq!(
        records_of(&f.topics[0].partitions[0].records),
        vec![(0, "kept".to_owned())]
    );
    let f = c.fetch("filler", 0, 0, 0, 1);
    assert!(!f.topics[0].partitions[0].records.is_empty());
    assert_eq!(commit(&mut c, 1), ErrorCode::None);

    // Free space: produce works again.
    let del = c.call(&DeleteTopicsRequest {
        names: vec!["filler".to_owned()],
    });
    assert_eq!(del.topics[0].error_code, ErrorCode::None);
    let r = c.produce("keep", 0, batch(2, &[value.as_str()]), Acks::All);
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ErrorCode::None,
        "{:?}",
        r.topics[0].partitions[0]
    );
    assert!(broker.is_running());
    assert_eq!(broker.stop(), Some(0), "{}", broker.logs());
}
