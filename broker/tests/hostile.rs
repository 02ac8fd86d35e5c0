//! Hostile clients against the real broker binary: stalled partial frames,
//! connection floods past `max_connections`, frames announcing huge
//! lengths, fetches asking for `u32::MAX` bytes and pipelined produce
//! floods. Each time the broker stays up, bounded, and keeps serving a
//! well-behaved client. Figures are recorded in `docs/RELIABILITY.md`.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Broker, batch, fetch_request, produce_request, records_of};
use runnel_protocol::ErrorCode;
use runnel_protocol::api::produce::{Acks, ProduceRequest};

/// Resident memory of a process, from `/proc/<pid>/status`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// A well-behaved client can create a topic, produce and read back.
fn served(broker: &Broker, topic: &str) {
    let mut c = broker.connect();
    let (code, msg) = c.create_topic(topic, 1, &[]);
    assert_eq!(code, ErrorCode::None, "{msg:?}");
    let r = c.produce(topic, 0, batch(1, &["ok"]), Acks::All);
    assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::None);
    let f = c.fetch(topic, 0, 0, 0, 1);
    let got = records_of(&f.topics[0].partitions[0].records);
    assert_eq!(got, vec![(0, "ok".to_owned())]);
}

/// Whether a new connection gets an answer (false when it is refused).
fn answers_requests(broker: &Broker) -> bool {
    round_trip(&mut broker.connect())
}

/// Whether the broker closed `s` (end of stream or reset) rather than
/// leaving it open until the read timeout.
fn closed_by_broker(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// Whether a request on `c` gets an answer.
fn round_trip(c: &mut common::Conn) -> bool {
    let request = runnel_protocol::api::list_groups::ListGroupsRequest::default();
    let frame = runnel_protocol::encode_request(&request, 1, "probe")
        .unwrap()
        .to_bytes();
    if c.stream.write_all(&frame).is_err() {
        return false;
    }
    let mut len = [0u8; 4];
    c.stream.read_exact(&mut len).is_ok()
}

#[test]
fn stalled_partial_frames_are_closed_and_others_are_served() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Broker::start_with_env(
        tmp.path(),
        &[],
        &[("RUNNEL_PARTIAL_FRAME_TIMEOUT_MS", "300")],
    );
    // Half of them stall inside the length prefix, half inside the body.
    let mut loris: Vec<TcpStream> = (0..100)
        .map(|i| {
            let mut s = TcpStream::connect(broker.addr).unwrap();
            if i % 2 == 0 {
                s.write_all(&[0, 0]).unwrap();
            } else {
                s.write_all(&[0, 0, 0, 100, 0, 1]).unwrap();
            }
            s
        })
        .collect();
    served(&broker, "during-loris");
    // Every stalled connection is closed by the broker (EOF or reset), well
    // within the read timeout below.
    let started = Instant::now();
    for s in &mut loris {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        assert!(closed_by_broker(s));
    }
    assert!(started.elapsed() < Duration::from_secs(20));
    broker.wait_for_log("partial_frame_timeout");
    served(&broker, "after-loris");
}

#[test]
fn idle_connections_between_frames_are_not_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Broker::start_with_env(
        tmp.path(),
        &[],
        &[("RUNNEL_PARTIAL_FRAME_TIMEOUT_MS", "100")],
    );
    let mut c = broker.connect();
    let (code, _) = c.create_topic("idle", 1, &[]);
    assert_eq!(code, ErrorCode::None);
    // Idle for several timeouts: the next request is still served. (This
    // test must wait real time: the timeout runs in another process.)
    std::thread::sleep(Duration::from_millis(500));
    let r = c.produce("idle", 0, batch(1, &["x"]), Acks::All);
    assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::None);
}

#[test]
fn connections_beyond_max_connections_are_refused_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Broker::start_with_env(tmp.path(), &[], &[("RUNNEL_MAX_CONNECTIONS", "50")]);
    // Each held connection is answered once, so all 50 are accepted
    // before the flood.
    let held: Vec<common::Conn> = (0..50)
        .map(|_| {
            let mut c = broker.connect();
            assert!(round_trip(&mut c));
            c
        })
        .collect();
    let started = Instant::now();
    let mut refused = 0;
    for _ in 0..300 {
        let Ok(mut s) = TcpStream::connect(broker.addr) else {
            refused += 1;
            continue;
        };
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        if closed_by_broker(&mut s) {
            refused += 1;
        }
    }
    assert_eq!(refused, 300);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    drop(held);
    // Slots free up as the held connections close.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !answers_requests(&broker) {
        assert!(Instant::now() < deadline, "never served after the flood");
        std::thread::sleep(Duration::from_millis(20));
    }
    served(&broker, "after-flood");
    broker.wait_for_log("max_connections");
}

#[test]
fn frame_announcing_a_huge_length_is_refused() {
    let broker = Broker::start();
    let mut s = TcpStream::connect(broker.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&u32::MAX.to_be_bytes()).unwrap();
    s.write_all(&[0u8; 64]).unwrap();
    assert!(closed_by_broker(&mut s));
    served(&broker, "after-huge-frame");
}

#[test]
fn fetch_of_u32_max_bytes_is_bounded() {
    let broker = Broker::start();
    let pid = broker.pid();
    let mut c = broker.connect();
    let (code, _) = c.create_topic("big", 1, &[]);
    assert_eq!(code, ErrorCode::None);
    // 64 MiB in 256 KiB batches.
    let value = "v".repeat(256 * 1024);
    for i in 0..256 {
        let r = c.produce("big", 0, batch(i, &[value.as_str()]), Acks::Leader);
        assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::None);
    }
    let before = rss_kib(pid);
    let mut req = fetch_request("big", 0, 0, 0, 1);
    req.max_bytes = u32::MAX;
    req.topics[0].partitions[0].partition_max_bytes = u32::MAX;
    let r = c.call(&req);
    let got = r.topics[0].partitions[0].records.len();
    let after = rss_kib(pid);
    eprintln!("fetch u32::MAX: {got} bytes returned, RSS {before} KiB -> {after} KiB");
    assert!(got > 0);
    // The response carries at most the partition's data (64 MiB) and the
    // broker does not allocate anything like u32::MAX for it.
    assert!(got <= 65 << 20, "{got}");
    assert!(
        after < before + 512 * 1024,
        "RSS grew from {before} to {after} KiB"
    );
}

#[test]
fn produce_flood_is_bounded_and_loses_nothing_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Broker::start_with_env(
        tmp.path(),
        &[],
        &[("RUNNEL_MAX_CONNECTION_BUFFER_BYTES", "8388608")],
    );
    let pid = broker.pid();
    let mut c = broker.connect();
    let (code, _) = c.create_topic("flood", 1, &[]);
    assert_eq!(code, ErrorCode::None);
    let baseline = rss_kib(pid);
    let value = "f".repeat(512 * 1024);
    let request: ProduceRequest =
        produce_request("flood", 0, batch(0, &[value.as_str()]), Acks::All);
    // 4 connections × 64 pipelined 512 KiB produces = 128 MiB sent, far
    // more than the 8 MiB per-connection buffer.
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let addr = broker.addr;
            let req = request.clone();
            std::thread::spawn(move || {
                let mut conn = common::Conn::new(addr);
                let ids: Vec<u32> = (0..64).map(|_| conn.send(&req)).collect();
                let mut acked = 0;
                for id in ids {
                    let r = conn.recv::<ProduceRequest>(id).unwrap();
                    if r.topics[0].partitions[0].error_code == ErrorCode::None {
                        acked += 1;
                    }
                }
                acked
            })
        })
        .collect();
    let mut peak = baseline;
    let mut bystander_served = false;
    while senders.iter().any(|s| !s.is_finished()) {
        peak = peak.max(rss_kib(pid));
        if !bystander_served {
            served(&broker, "bystander");
            bystander_served = true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let acked: u32 = senders.into_iter().map(|s| s.join().unwrap()).sum();
    peak = peak.max(rss_kib(pid));
    eprintln!("produce flood: {acked} acked, RSS baseline {baseline} KiB, peak {peak} KiB");
    assert_eq!(acked, 256);
    // Bound: 4 connections × 8 MiB of request budget + 64 MiB of slack,
    // below the 128 MiB the senders push (appends go through `pwrite`, so
    // the page cache they fill is not in the broker's RSS).
    assert!(
        peak < baseline + (4 * 8 + 64) * 1024,
        "RSS peak {peak} KiB from {baseline} KiB"
    );
    // Everything acknowledged is there.
    let mut offset = 0;
    let mut count = 0;
    while offset < 256 {
        let f = c.fetch("flood", 0, offset, 0, 1);
        let got = records_of(&f.topics[0].partitions[0].records);
        assert!(!got.is_empty());
        count += got.len();
        offset = got.last().unwrap().0 + 1;
    }
    assert_eq!(count, 256);
}
