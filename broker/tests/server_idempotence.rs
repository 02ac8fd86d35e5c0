//! Idempotent produce against the real broker: a retried batch is stored
//! once and answered with its original offset, gaps are refused, and the
//! sequence state survives restarts (graceful and kill -9).

mod common;

use bytes::Bytes;
use common::{Broker, records_of};
use runnel_protocol::ErrorCode;
use runnel_protocol::api::init_producer_id::InitProducerIdRequest;
use runnel_protocol::api::produce::Acks;
use runnel_protocol::record::{BatchBuilder, BatchOptions, NewRecord};

fn batch(pid: i64, seq: i32, value: &str) -> Bytes {
    let mut b = BatchBuilder::new(BatchOptions {
        producer_id: pid,
        producer_epoch: 0,
        base_sequence: seq,
        ..BatchOptions::default()
    })
    .unwrap();
    b.append(&NewRecord {
        timestamp: 0,
        key: None,
        value: Some(Bytes::from(value.to_owned())),
        headers: Vec::new(),
    })
    .unwrap();
    b.build().unwrap()
}

fn produce(broker: &Broker, records: Bytes) -> (ErrorCode, i64) {
    let r = broker.connect().produce("t", 0, records, Acks::All);
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.base_offset)
}

#[test]
fn retries_are_deduplicated_across_restarts() {
    let broker = Broker::start();
    let mut c = broker.connect();
    c.create_topic("t", 1, &[]);
    let ids = c.call(&InitProducerIdRequest::default());
    assert_eq!(ids.error_code, ErrorCode::None);
    let pid = ids.producer_id;
    let other = c.call(&InitProducerIdRequest::default()).producer_id;
    assert_ne!(pid, other, "producer ids are unique");

    assert_eq!(produce(&broker, batch(pid, 0, "a")), (ErrorCode::None, 0));
    assert_eq!(produce(&broker, batch(pid, 1, "b")), (ErrorCode::None, 1));
    // The response to seq 1 was "lost": the retry gets the same offset.
    assert_eq!(produce(&broker, batch(pid, 1, "b")), (ErrorCode::None, 1));
    let (code, _) = produce(&broker, batch(pid, 5, "gap"));
    assert_eq!(code, ErrorCode::OutOfOrderSequenceNumber);

    let broker = broker.restart(true);
    assert_eq!(produce(&broker, batch(pid, 1, "b")), (ErrorCode::None, 1));
    assert_eq!(produce(&broker, batch(pid, 2, "c")), (ErrorCode::None, 2));

    let broker = broker.restart(false);
    assert_eq!(produce(&broker, batch(pid, 2, "c")), (ErrorCode::None, 2));
    assert_eq!(produce(&broker, batch(pid, 3, "d")), (ErrorCode::None, 3));
    let next = broker
        .connect()
        .call(&InitProducerIdRequest::default())
        .producer_id;
    assert!(next > other, "ids are never reused after a restart");

    let f = broker.connect().fetch("t", 0, 0, 0, 0);
    let values: Vec<String> = records_of(&f.topics[0].partitions[0].records)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(values, ["a", "b", "c", "d"]);
}
