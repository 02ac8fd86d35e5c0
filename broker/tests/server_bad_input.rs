//! Bad input never takes the broker down: each case below gets a clear
//! error (or a closed connection for framing violations), and afterwards the
//! broker still serves another connection.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::many_single_char_names
)]

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;

use bytes::{BufMut as _, Bytes, BytesMut};
use common::{Broker, batch};
use runnel_protocol::api::api_versions::ApiVersionsRequest;
use runnel_protocol::api::produce::{Acks, ProduceRequest};
use runnel_protocol::record::{CRC_POS, MAGIC_POS, RECORD_COUNT_POS, compute_crc};
use runnel_protocol::{ErrorCode, ResponseHeader};

/// The broker answers a fresh connection.
fn still_serves(broker: &Broker) {
    let r = broker.connect().call(&ApiVersionsRequest);
    assert_eq!(r.error_code, ErrorCode::None);
}

fn produce_error(
    broker: &Broker,
    topic: &str,
    partition: u32,
    records: Bytes,
) -> (ErrorCode, String) {
    let mut c = broker.connect();
    let r = c.produce(topic, partition, records, Acks::All);
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.error_message.clone().unwrap_or_default())
}

#[test]
fn random_garbage_closes_only_that_connection() {
    let broker = Broker::start();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..20 {
        let mut s = TcpStream::connect(broker.addr).unwrap();
        let mut junk = vec![0u8; 512];
        for b in &mut junk {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            *b = rng as u8;
        }
        let _ = s.write_all(&junk);
        drop(s);
    }
    still_serves(&broker);
}

#[test]
fn a_frame_announcing_4_gib_is_refused_without_allocating() {
    let broker = Broker::start();
    let mut s = TcpStream::connect(broker.addr).unwrap();
    s.write_all(&u32::MAX.to_be_bytes()).unwrap();
    let mut buf = [0u8; 1];
    assert!(
        matches!(s.read(&mut buf), Ok(0) | Err(_)),
        "connection must be closed"
    );
    broker.wait_for_log("exceeds max_frame_bytes");
    still_serves(&broker);
}

#[test]
fn a_truncated_frame_then_hang_up_is_harmless() {
    let broker = Broker::start();
    let mut s = TcpStream::connect(broker.addr).unwrap();
    s.write_all(&100u32.to_be_bytes()).unwrap();
    s.write_all(&[1, 2, 3]).unwrap();
    drop(s);
    still_serves(&broker);
}

fn raw_request(api_key: u16, version: u16) -> Vec<u8> {
    let mut body = BytesMut::new();
    body.put_u16(api_key);
    body.put_u16(version);
    body.put_u32(77);
    body.put_u16(4);
    body.put_slice(b"test");
    let mut frame = Vec::new();
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

fn raw_error_response(broker: &Broker, frame: &[u8]) -> (u32, i16, String) {
    let mut s = TcpStream::connect(broker.addr).unwrap();
    s.write_all(frame).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).unwrap();
    let (h, rest) = ResponseHeader::split(Bytes::from(body)).unwrap();
    let code = i16::from_be_bytes([rest[0], rest[1]]);
    let msg_len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
    let msg = String::from_utf8(rest[4..4 + msg_len].to_vec()).unwrap();
    (h.correlation_id, code, msg)
}

#[test]
fn an_unknown_api_key_gets_an_error_response() {
    let broker = Broker::start();
    let (cid, code, msg) = raw_error_response(&broker, &raw_request(999, 0));
    assert_eq!(cid, 77);
    assert_eq!(code, ErrorCode::UnsupportedVersion.code());
    assert!(msg.contains("unknown api key 999"), "{msg}");
    still_serves(&broker);
}

#[test]
fn an_unsupported_version_gets_an_error_response() {
    let broker = Broker::start();
    let (cid, code, msg) = raw_error_response(&broker, &raw_request(3, 42));
    assert_eq!(cid, 77);
    assert_eq!(code, ErrorCode::UnsupportedVersion.code());
    assert!(msg.contains("version 42"), "{msg}");
    still_serves(&broker);
}

fn recrc(mut b: Vec<u8>) -> Bytes {
    let crc = compute_crc(&b).unwrap();
    b[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

#[test]
fn corrupt_batches_are_rejected_with_corrupt_message() {
    let broker = Broker::start();
    broker.connect().create_topic("t", 1, &[]);
    let good = batch(0, &["a", "b"]).to_vec();

    let mut bad_crc = good.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0xff;
    let (code, msg) = produce_error(&broker, "t", 0, Bytes::from(bad_crc));
    assert_eq!(code, ErrorCode::CorruptMessage, "{msg}");
    assert!(msg.contains("CRC"), "{msg}");

    let mut bad_magic = good.clone();
    bad_magic[MAGIC_POS] = 1;
    let (code, msg) = produce_error(&broker, "t", 0, Bytes::from(bad_magic));
    assert_eq!(code, ErrorCode::CorruptMessage, "{msg}");
    assert!(msg.contains("magic"), "{msg}");

    let mut bad_count = good.clone();
    bad_count[RECORD_COUNT_POS..RECORD_COUNT_POS + 4].copy_from_slice(&3i32.to_be_bytes());
    let (code, msg) = produce_error(&broker, "t", 0, recrc(bad_count));
    assert_eq!(code, ErrorCode::CorruptMessage, "{msg}");

    let truncated = Bytes::from(good[..good.len() - 5].to_vec());
    let (code, msg) = produce_error(&broker, "t", 0, truncated);
    assert_eq!(code, ErrorCode::CorruptMessage, "{msg}");

    // Nothing was stored; a good batch gets offset 0.
    let r = broker
        .connect()
        .produce("t", 0, batch(0, &["ok"]), Acks::All);
    assert_eq!(r.topics[0].partitions[0].base_offset, 0);
    still_serves(&broker);
}

#[test]
fn oversized_batches_get_message_too_large() {
    let broker = Broker::start();
    broker
        .connect()
        .create_topic("small", 1, &[("max.message.bytes", "1024")]);
    let (code, msg) = produce_error(&broker, "small", 0, batch(0, &[&"x".repeat(2000)]));
    assert_eq!(code, ErrorCode::MessageTooLarge, "{msg}");
    assert!(msg.contains("max.message.bytes"), "{msg}");
}

#[test]
fn produce_to_an_unknown_topic_or_partition_is_an_error() {
    let broker = Broker::start();
    broker.connect().create_topic("t", 2, &[]);
    let (code, msg) = produce_error(&broker, "missing", 0, batch(0, &["a"]));
    assert_eq!(code, ErrorCode::UnknownTopicOrPartition, "{msg}");
    assert!(msg.contains("missing"), "{msg}");
    let (code, msg) = produce_error(&broker, "t", 7, batch(0, &["a"]));
    assert_eq!(code, ErrorCode::UnknownTopicOrPartition, "{msg}");
    assert!(msg.contains("has no partition 7"), "{msg}");
    still_serves(&broker);
}

#[test]
fn invalid_topic_names_and_configs_are_rejected_with_reasons() {
    let broker = Broker::start();
    let mut c = broker.connect();
    let (code, msg) = c.create_topic("bad name!", 1, &[]);
    assert_eq!(code, ErrorCode::InvalidTopicException);
    assert!(msg.unwrap_or_default().contains("bad name!"));
    let (code, msg) = c.create_topic("t", 1, &[("retention.ms", "soon")]);
    assert_eq!(code, ErrorCode::InvalidConfig);
    let msg = msg.unwrap_or_default();
    assert!(
        msg.contains("retention.ms") && msg.contains("soon"),
        "{msg}"
    );
    let (code, msg) = c.create_topic("t", 1, &[("retention.msx", "1")]);
    assert_eq!(code, ErrorCode::InvalidConfig);
    assert!(msg.unwrap_or_default().contains("retention.ms"));
    let (code, _) = c.create_topic("t", 0, &[]);
    assert_eq!(
        code,
        ErrorCode::None,
        "0 partitions means the broker default"
    );
    still_serves(&broker);
}

#[test]
fn transactional_produce_is_refused() {
    let broker = Broker::start();
    let mut c = broker.connect();
    c.create_topic("t", 1, &[]);
    let mut req = common::produce_request("t", 0, batch(0, &["a"]), Acks::All);
    req.transactional_id = Some("tx".into());
    let r = c.call::<ProduceRequest>(&req);
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ErrorCode::InvalidRequest
    );
}

#[test]
fn a_thousand_idle_connections_do_not_block_a_working_client() {
    let broker = Broker::start();
    let idle: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(broker.addr).unwrap())
        .collect();
    let mut c = broker.connect();
    c.create_topic("t", 1, &[]);
    let r = c.produce("t", 0, batch(0, &["busy"]), Acks::All);
    assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::None);
    drop(idle);
    still_serves(&broker);
}
