//! Black-box tests of every API against the real broker binary.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::many_single_char_names
)]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Broker, batch, fetch_request, produce_request, records_of};
use runnel_protocol::ErrorCode;
use runnel_protocol::api::alter_configs::{
    AlterConfigsRequest, AlterConfigsResource, AlterableConfig,
};
use runnel_protocol::api::api_versions::ApiVersionsRequest;
use runnel_protocol::api::delete_topics::DeleteTopicsRequest;
use runnel_protocol::api::describe_configs::{
    DescribeConfigsRequest, DescribeConfigsResource, ResourceType,
};
use runnel_protocol::api::fetch::{FetchRequest, IsolationLevel};
use runnel_protocol::api::list_offsets::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic, OffsetSpec,
};
use runnel_protocol::api::metadata::MetadataRequest;
use runnel_protocol::api::produce::{Acks, ProduceRequest};
use runnel_protocol::{ApiKey, PartitionId};

#[test]
fn api_versions_lists_the_served_apis() {
    let broker = Broker::start();
    let r = broker.connect().call(&ApiVersionsRequest);
    assert_eq!(r.error_code, ErrorCode::None);
    for key in [
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::Metadata,
        ApiKey::ListOffsets,
    ] {
        assert!(r.range(key).is_some(), "{key:?} missing");
    }
}

#[test]
fn topics_are_created_described_altered_listed_and_deleted() {
    let broker = Broker::start();
    let mut c = broker.connect();
    assert_eq!(
        c.create_topic("orders", 3, &[("retention.ms", "60000")]).0,
        ErrorCode::None
    );
    let (code, msg) = c.create_topic("orders", 3, &[]);
    assert_eq!(code, ErrorCode::TopicAlreadyExists, "{msg:?}");

    let md = c.call(&MetadataRequest { topics: None });
    assert_eq!(md.brokers.len(), 1);
    assert_eq!(md.brokers[0].port, broker.addr.port());
    let t = md.topics.iter().find(|t| t.name == "orders").unwrap();
    assert_eq!(t.partitions.len(), 3);
    assert!(t.partitions.iter().all(|p| p.leader.is_some()));

    let describe = |c: &mut common::Conn| {
        c.call(&DescribeConfigsRequest {
            resources: vec![DescribeConfigsResource {
                resource_type: ResourceType::Topic,
                resource_name: "orders".into(),
                keys: None,
            }],
        })
        .resources
        .remove(0)
    };
    let d = describe(&mut c);
    assert_eq!(d.error_code, ErrorCode::None);
    let entry = |d: &runnel_protocol::api::describe_configs::DescribeConfigsResult, k: &str| {
        d.entries.iter().find(|e| e.name == k).cloned().unwrap()
    };
    assert_eq!(entry(&d, "retention.ms").value.as_deref(), Some("60000"));
    assert!(!entry(&d, "retention.ms").is_default);
    assert!(entry(&d, "segment.bytes").is_default);

    let altered = c.call(&AlterConfigsRequest {
        resources: vec![AlterConfigsResource {
            resource_type: ResourceType::Topic,
            resource_name: "orders".into(),
            ops: vec![
                AlterableConfig::set("segment.bytes", "1048576"),
                AlterableConfig::delete("retention.ms"),
            ],
        }],
        validate_only: false,
    });
    assert_eq!(
        altered.resources[0].error_code,
        ErrorCode::None,
        "{:?}",
        altered.resources[0].error_message
    );
    let d = describe(&mut c);
    assert_eq!(entry(&d, "segment.bytes").value.as_deref(), Some("1048576"));
    assert!(entry(&d, "retention.ms").is_default);

    let del = c.call(&DeleteTopicsRequest {
        names: vec!["orders".into(), "nope".into()],
    });
    assert_eq!(del.topics[0].error_code, ErrorCode::None);
    assert_eq!(del.topics[1].error_code, ErrorCode::UnknownTopicOrPartition);
    let md = c.call(&MetadataRequest {
        topics: Some(vec!["orders".into()]),
    });
    assert_eq!(md.topics[0].error_code, ErrorCode::UnknownTopicOrPartition);
    assert!(!broker.data_dir.join("topics/orders").exists());
}

#[test]
fn produce_then_fetch_returns_the_records_in_order() {
    let broker = Broker::start();
    let mut c = broker.connect();
    c.create_topic("t", 2, &[]);
    let r = c.produce("t", 1, batch(1000, &["a", "b", "c"]), Acks::All);
    let p = &r.topics[0].partitions[0];
    assert_eq!((p.error_code, p.base_offset), (ErrorCode::None, 0));
    let r = c.produce("t", 1, batch(2000, &["d"]), Acks::Leader);
    assert_eq!(r.topics[0].partitions[0].base_offset, 3);

    let f = c.fetch("t", 1, 0, 5_000, 1);
    let p = &f.topics[0].partitions[0];
    assert_eq!(p.error_code, ErrorCode::None);
    // acks=1 data becomes visible once flushed; wait for it with long-poll.
    let mut got = records_of(&p.records);
    let mut hw = p.high_watermark;
    while hw < 4 {
        let f = c.fetch("t", 1, hw, 5_000, 1);
        got.extend(records_of(&f.topics[0].partitions[0].records));
        hw = f.topics[0].partitions[0].high_watermark;
    }
    let values: Vec<_> = got.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(values, ["a", "b", "c", "d"]);
    assert_eq!(
        got.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    // The other partition is empty.
    let f = c.fetch("t", 0, 0, 0, 0);
    assert!(f.topics[0].partitions[0].records.is_empty());
}

#[test]
fn acks_zero_gets_no_response_but_is_stored() {
    let broker = Broker::start();
    let mut c = broker.connect();
    c.create_topic("t", 1, &[]);
    c.send(&produce_request("t", 0, batch(0, &["quiet"]), Acks::None));
    // The next response on the connection is for the next request.
    let r = c.produce("t", 0, batch(0, &["loud"]), Acks::All);
    assert_eq!(r.topics[0].partitions[0].base_offset, 1);
    let f = c.fetch("t", 0, 0, 0, 0);
    assert_eq!(records_of(&f.topics[0].partitions[0].records).len(), 2);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let broker = Broker::start();
    let mut c = broker.connect();
    c.create_topic("t", 1, &[]);
    let ids: Vec<u32> = (0..200)
        .map(|i| {
            c.send(&produce_request(
                "t",
                0,
                batch(i, &[&format!("v{i}")]),
                Acks::All,
            ))
        })
        .collect();
    for (i, id) in ids.into_iter().enumerate() {
        let r = c.recv::<ProduceRequest>(id).unwrap();
        assert_eq!(r.topics[0].partitions[0].base_offset, i as i64);
    }
}

#[test]
fn long_poll_fetch_wakes_when_data_arrives() {
    let broker = Broker::start();
    let mut consumer = broker.connect();
    let mut producer = broker.connect();
    consumer.create_topic("t", 1, &[]);
    let started = Instant::now();
    let id = consumer.send(&fetch_request("t", 0, 0, 30_000, 1));
    producer.produce("t", 0, batch(0, &["wake"]), Acks::All);
    let f = consumer.recv::<FetchRequest>(id).unwrap();
    let records = records_of(&f.topics[0].partitions[0].records);
    assert_eq!(records, vec![(0, "wake".to_owned())]);
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// A topic whose appends stay unflushed for an hour: what a fetch returns
/// then depends on its isolation level alone.
const NEVER_FLUSHED: &[(&str, &str)] = &[("flush.ms", "3600000")];

#[test]
fn read_unflushed_fetches_see_appends_before_their_fsync() {
    let broker = Broker::start();
    let mut consumer = broker.connect();
    let mut producer = broker.connect();
    consumer.create_topic("t", 1, NEVER_FLUSHED);
    producer.produce("t", 0, batch(0, &["a", "b"]), Acks::Leader);

    let durable = consumer.call(&fetch_request("t", 0, 0, 0, 0));
    let p = &durable.topics[0].partitions[0];
    assert_eq!(p.error_code, ErrorCode::None);
    assert!(p.records.is_empty(), "level 0 returns only durable records");
    assert_eq!((p.high_watermark, p.log_end_offset), (0, 2));

    let mut unflushed = fetch_request("t", 0, 0, 0, 0);
    unflushed.isolation_level = IsolationLevel::ReadUnflushed;
    let f = consumer.call(&unflushed);
    let p = &f.topics[0].partitions[0];
    assert_eq!(
        records_of(&p.records),
        vec![(0, "a".to_owned()), (1, "b".to_owned())]
    );
    assert_eq!(p.high_watermark, 0, "still not durable");

    // A long poll at level 2 wakes on the append itself: no flush comes
    // within the hour, and the poll would otherwise last its 30 s.
    let started = Instant::now();
    let mut poll = fetch_request("t", 0, 2, 30_000, 1);
    poll.isolation_level = IsolationLevel::ReadUnflushed;
    let id = consumer.send(&poll);
    producer.produce("t", 0, batch(0, &["c"]), Acks::Leader);
    let f = consumer.recv::<FetchRequest>(id).unwrap();
    assert_eq!(
        records_of(&f.topics[0].partitions[0].records),
        vec![(2, "c".to_owned())]
    );
    assert!(started.elapsed() < Duration::from_secs(30));

    // Past the log end is out of range, and the message names the range
    // of valid fetch offsets, which reaches the log end, not the HW.
    let f = consumer.call(&fetch_request("t", 0, 4, 0, 0));
    let p = &f.topics[0].partitions[0];
    assert_eq!(p.error_code, ErrorCode::OffsetOutOfRange);
    assert_eq!((p.high_watermark, p.log_end_offset), (0, 3));
    assert!(
        p.error_message.as_deref().unwrap().contains("[0, 3]"),
        "{:?}",
        p.error_message
    );

    // SIGKILL: the records read above were in the page cache, and the
    // restarted broker still holds them, durable now.
    let broker = broker.restart(false);
    let f = broker.connect().call(&fetch_request("t", 0, 0, 0, 0));
    let p = &f.topics[0].partitions[0];
    assert_eq!(records_of(&p.records).len(), 3);
    assert_eq!(p.high_watermark, 3);
}

#[test]
fn fetch_with_zero_wait_returns_at_once_and_respects_max_bytes() {
    let broker = Broker::start();
    let mut c = broker.connect();
    c.create_topic("t", 1, &[]);
    for i in 0..10 {
        c.produce("t", 0, batch(i, &[&"x".repeat(1000)]), Acks::All);
    }
    let mut req = fetch_request("t", 0, 0, 0, 0);
    req.topics[0].partitions[0].partition_max_bytes = 2500;
    let f = c.call(&req);
    let n = records_of(&f.topics[0].partitions[0].records).len();
    assert!((1..=2).contains(&n), "{n} batches for 2500 bytes");
    // A budget smaller than one batch still returns one batch.
    req.topics[0].partitions[0].partition_max_bytes = 10;
    let f = c.call(&req);
    assert_eq!(records_of(&f.topics[0].partitions[0].records).len(), 1);
}

#[test]
fn fetch_out_of_range_reports_the_valid_range() {
    let broker = Broker::start();
    let mut c = broker.connect();
    c.create_topic("t", 1, &[]);
    c.produce("t", 0, batch(0, &["a", "b"]), Acks::All);
    let f = c.fetch("t", 0, 99, 0, 0);
    let p = &f.topics[0].partitions[0];
    assert_eq!(p.error_code, ErrorCode::OffsetOutOfRange);
    assert_eq!((p.log_start_offset, p.high_watermark), (0, 2));
    assert!(p.error_message.as_deref().unwrap().contains("[0, 2]"));
}

#[test]
fn list_offsets_earliest_latest_and_by_time() {
    let broker = Broker::start();
    let mut c = broker.connect();
    c.create_topic("t", 1, &[]);
    c.produce("t", 0, batch(1_000, &["a", "b"]), Acks::All);
    c.produce("t", 0, batch(5_000, &["c", "d"]), Acks::All);
    let ask = |c: &mut common::Conn, spec| {
        let r = c.call(&ListOffsetsRequest {
            topics: vec![ListOffsetsTopic {
                name: "t".into(),
                partitions: vec![ListOffsetsPartition {
                    partition: PartitionId(0),
                    spec,
                }],
            }],
        });
        let p = r.topics[0].partitions[0].clone();
        assert_eq!(p.error_code, ErrorCode::None);
        (p.offset, p.timestamp)
    };
    assert_eq!(ask(&mut c, OffsetSpec::Earliest).0, 0);
    assert_eq!(ask(&mut c, OffsetSpec::Latest).0, 4);
    assert_eq!(ask(&mut c, OffsetSpec::Timestamp(1_001)), (1, 1_001));
    assert_eq!(ask(&mut c, OffsetSpec::Timestamp(2_000)), (2, 5_000));
    assert_eq!(ask(&mut c, OffsetSpec::Timestamp(9_000)).0, -1);
}

#[test]
fn log_append_time_topics_stamp_the_broker_clock() {
    let broker = Broker::start();
    let mut c = broker.connect();
    c.create_topic("t", 1, &[("message.timestamp.type", "LogAppendTime")]);
    let r = c.produce("t", 0, batch(5, &["a"]), Acks::All);
    let t = r.topics[0].partitions[0].log_append_time_ms;
    assert!(t > 1_600_000_000_000, "{t}");
    let f = c.fetch("t", 0, 0, 0, 0);
    let b = runnel_protocol::record::Batches::new(f.topics[0].partitions[0].records.clone())
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(b.header().max_timestamp, t);
}

#[test]
fn acks_all_produce_is_durable_when_answered() {
    // Answered acks=all data survives kill -9 immediately after the answer.
    let broker = Broker::start();
    let mut c = broker.connect();
    c.create_topic("t", 1, &[]);
    for i in 0..50 {
        let r = c.produce("t", 0, batch(i, &[&format!("r{i}")]), Acks::All);
        assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::None);
    }
    let broker = broker.restart(false);
    let mut c = broker.connect();
    let f = c.fetch("t", 0, 0, 0, 0);
    assert_eq!(records_of(&f.topics[0].partitions[0].records).len(), 50);
}

#[test]
fn restart_keeps_topics_configs_and_data() {
    let broker = Broker::start();
    let mut c = broker.connect();
    c.create_topic("kept", 2, &[("retention.bytes", "123456789")]);
    c.produce("kept", 1, batch(0, &["one", "two"]), Acks::All);
    drop(c);
    let broker = broker.restart(true);
    assert!(
        broker.logs().contains("clean_shutdown=true"),
        "{}",
        broker.logs()
    );
    let mut c = broker.connect();
    let f = c.fetch("kept", 1, 0, 0, 0);
    assert_eq!(records_of(&f.topics[0].partitions[0].records).len(), 2);
    let r = c.produce("kept", 1, batch(0, &["three"]), Acks::All);
    assert_eq!(r.topics[0].partitions[0].base_offset, 2);
    let d = c.call(&DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type: ResourceType::Topic,
            resource_name: "kept".into(),
            keys: Some(vec!["retention.bytes".into()]),
        }],
    });
    assert_eq!(
        d.resources[0].entries[0].value.as_deref(),
        Some("123456789")
    );
}

#[test]
fn sigterm_finishes_in_flight_requests_and_exits_cleanly() {
    let mut broker = Broker::start();
    let mut c = broker.connect();
    c.create_topic("t", 1, &[]);
    let id = c.send(&fetch_request("t", 0, 0, 3_000, 1));
    // Make sure the broker has read the fetch before signalling.
    let mut other = broker.connect();
    other.call(&ApiVersionsRequest);
    assert_eq!(broker.stop(), Some(0), "{}", broker.logs());
    let f = c.recv::<FetchRequest>(id).unwrap();
    assert_eq!(f.topics[0].partitions[0].error_code, ErrorCode::None);
    assert!(broker.logs().contains("clean shutdown"));
    assert!(broker.data_dir.join(".clean_shutdown").exists());
}

#[test]
fn a_second_broker_on_the_same_data_dir_is_refused() {
    let broker = Broker::start();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_runnel-broker"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&broker.data_dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another process"), "{err}");
    let _ = Bytes::new();
}
