//! Damaged files on disk: a flipped bit in a sealed segment is reported to
//! the client for that batch only, the broker keeps serving everything
//! else, deleted indexes are rebuilt, and `runnel-broker check` / `dump`
//! find the damage offline.

mod common;

use std::process::Command;

use common::{Broker, batch, records_of};
use runnel_protocol::ErrorCode;
use runnel_protocol::api::produce::Acks;

fn segment(broker: &Broker, topic: &str, partition: u32, base: u64) -> std::path::PathBuf {
    broker
        .data_dir
        .join(format!("topics/{topic}/{partition}/{base:020}.log"))
}

#[test]
fn a_flipped_bit_is_reported_for_that_batch_only() {
    let broker = Broker::start();
    let mut c = broker.connect();
    c.create_topic("t", 2, &[("segment.bytes", "2048")]);
    let mut sizes = Vec::new();
    for i in 0..20 {
        let b = batch(i, &[&"v".repeat(300)]);
        sizes.push(b.len());
        c.produce("t", 0, b.clone(), Acks::All);
        c.produce("t", 1, b, Acks::All);
    }
    drop(c);
    let mut broker = broker.restart(true);
    broker.stop();
    // Damage the third batch of partition 0's first segment.
    let path = segment(&broker, "t", 0, 0);
    let mut bytes = std::fs::read(&path).unwrap();
    let pos = sizes[0] + sizes[1] + 80;
    bytes[pos] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    // The offset index of another segment goes missing.
    std::fs::remove_file(
        broker
            .data_dir
            .join("topics/t/1/00000000000000000000.index"),
    )
    .unwrap();

    let check = Command::new(env!("CARGO_BIN_EXE_runnel-broker"))
        .args(["check", "--data-dir"])
        .arg(&broker.data_dir)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(!check.status.success(), "{out}");
    assert!(
        out.contains("t/0/00000000000000000000.log") && out.contains("damaged"),
        "{out}"
    );
    let dump = Command::new(env!("CARGO_BIN_EXE_runnel-broker"))
        .arg("dump")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!dump.status.success());
    assert!(
        String::from_utf8_lossy(&dump.stdout).contains("offset 2..2"),
        "dump lists batches"
    );

    let broker = Broker::start_in(&broker.data_dir.clone(), &[]);
    let mut c = broker.connect();
    let f = c.fetch("t", 0, 2, 0, 0);
    let p = &f.topics[0].partitions[0];
    assert_eq!(p.error_code, ErrorCode::CorruptData);
    let msg = p.error_message.clone().unwrap_or_default();
    assert!(
        msg.contains("00000000000000000000.log") && msg.contains("offset 2"),
        "{msg}"
    );
    // Batches around it and the other partition are fine.
    assert_eq!(
        records_of(&c.fetch("t", 0, 1, 0, 0).topics[0].partitions[0].records)[0].0,
        1
    );
    let after = c.fetch("t", 0, 3, 0, 0);
    assert_eq!(after.topics[0].partitions[0].error_code, ErrorCode::None);
    let other = c.fetch("t", 1, 0, 0, 0);
    assert_eq!(other.topics[0].partitions[0].error_code, ErrorCode::None);
    assert!(!records_of(&other.topics[0].partitions[0].records).is_empty());
    // Produce still works.
    let r = c.produce("t", 0, batch(0, &["new"]), Acks::All);
    assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::None);
    broker.wait_for_log("damaged batch on disk");
}
