//! Black-box test harness: starts the real `runnel-broker` binary (through
//! `runnel-testkit`) on a free loopback port with a temporary data
//! directory and speaks the protocol to it through the protocol crate (no
//! client library).

#![allow(
    dead_code,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use runnel_protocol::api::ApiRequest;
use runnel_protocol::api::create_topics::{ConfigEntry, CreatableTopic, CreateTopicsRequest};
use runnel_protocol::api::error_response::ErrorResponse;
use runnel_protocol::api::fetch::{
    FetchPartition, FetchRequest, FetchResponse, FetchTopic, IsolationLevel,
};
use runnel_protocol::api::produce::{
    Acks, ProducePartition, ProduceRequest, ProduceResponse, ProduceTopic,
};
use runnel_protocol::record::{BatchBuilder, BatchOptions, NewRecord};
use runnel_protocol::{ErrorCode, PartitionId, ResponseHeader, decode_response_as, encode_request};
use runnel_testkit::{BrokerOptions, BrokerProcess};

/// A running broker process: the shared test kit's, started from this
/// package's own binary, plus protocol helpers.
pub struct Broker(BrokerProcess);

impl std::ops::Deref for Broker {
    type Target = BrokerProcess;
    fn deref(&self) -> &BrokerProcess {
        &self.0
    }
}

impl std::ops::DerefMut for Broker {
    fn deref_mut(&mut self) -> &mut BrokerProcess {
        &mut self.0
    }
}

fn options(extra: &[&str], env: &[(&str, &str)]) -> BrokerOptions {
    BrokerOptions {
        args: extra.iter().map(|a| (*a).to_owned()).collect(),
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        binary: Some(PathBuf::from(env!("CARGO_BIN_EXE_runnel-broker"))),
        ..BrokerOptions::default()
    }
}

impl Broker {
    /// Starts a broker on a fresh temporary data directory.
    pub fn start() -> Broker {
        Broker(BrokerProcess::start_with(options(&[], &[])))
    }

    /// Starts a broker on `dir` with extra flags.
    pub fn start_in(dir: &Path, extra: &[&str]) -> Broker {
        Broker::start_with_env(dir, extra, &[])
    }

    /// Starts a broker on `dir` with extra flags and environment.
    pub fn start_with_env(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Broker {
        Broker(BrokerProcess::start_in(dir, options(extra, env)))
    }

    /// A new connection.
    pub fn connect(&self) -> Conn {
        Conn::new(self.addr)
    }

    /// `GET path` on the metrics listener: (status code, body).
    pub fn http_get(&self, path: &str) -> (u16, String) {
        http_get(
            self.metrics_addr
                .expect("the broker logged its metrics address"),
            path,
        )
    }

    /// Stops (SIGTERM when `graceful`, else SIGKILL) and starts again on the
    /// same data directory and port.
    #[must_use]
    pub fn restart(self, graceful: bool) -> Broker {
        Broker(self.0.restart(graceful))
    }
}

/// `GET path` over HTTP/1.1 on `addr`: (status code, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_mins(1))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    (status, body.to_owned())
}

/// A blocking protocol connection.
pub struct Conn {
    pub stream: TcpStream,
    next_id: u32,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_mins(1)))
            .unwrap();
        Conn { stream, next_id: 1 }
    }

    /// Sends a request without waiting; returns its correlation id.
    pub fn send<R: ApiRequest>(&mut self, req: &R) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        let frame = encode_request(req, id, "test").unwrap().to_bytes();
        self.stream.write_all(&frame).unwrap();
        id
    }

    /// Reads one response frame body (after the header), checking its id.
    pub fn recv_body(&mut self, id: u32) -> Bytes {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).unwrap();
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut body).unwrap();
        let (header, rest) = ResponseHeader::split(Bytes::from(body)).unwrap();
        assert_eq!(header.correlation_id, id, "responses out of order");
        rest
    }

    pub fn recv<R: ApiRequest>(&mut self, id: u32) -> Result<R::Response, ErrorResponse> {
        decode_response_as::<R>(self.recv_body(id)).unwrap()
    }

    /// Sends and waits for the typed response.
    pub fn call<R: ApiRequest>(&mut self, req: &R) -> R::Response {
        let id = self.send(req);
        self.recv::<R>(id)
            .unwrap_or_else(|e| panic!("error response {e:?}"))
    }

    pub fn create_topic(
        &mut self,
        name: &str,
        partitions: u32,
        configs: &[(&str, &str)],
    ) -> (ErrorCode, Option<String>) {
        let r = self.call(&CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: name.to_owned(),
                partitions,
                configs: configs
                    .iter()
                    .map(|(k, v)| ConfigEntry::new(*k, *v))
                    .collect(),
            }],
            timeout_ms: 10_000,
            validate_only: false,
        });
        (r.topics[0].error_code, r.topics[0].error_message.clone())
    }

    pub fn produce(
        &mut self,
        topic: &str,
        partition: u32,
        records: Bytes,
        acks: Acks,
    ) -> ProduceResponse {
        self.call(&produce_request(topic, partition, records, acks))
    }

    pub fn fetch(
        &mut self,
        topic: &str,
        partition: u32,
        offset: i64,
        max_wait_ms: u32,
        min_bytes: u32,
    ) -> FetchResponse {
        self.call(&fetch_request(
            topic,
            partition,
            offset,
            max_wait_ms,
            min_bytes,
        ))
    }

    /// Whether the broker closed this connection (EOF or reset on read).
    pub fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.stream.read(&mut b), Ok(0) | Err(_))
    }
}

pub fn produce_request(topic: &str, partition: u32, records: Bytes, acks: Acks) -> ProduceRequest {
    ProduceRequest {
        transactional_id: None,
        acks,
        timeout_ms: 10_000,
        topics: vec![ProduceTopic {
            name: topic.to_owned(),
            partitions: vec![ProducePartition {
                partition: PartitionId(partition),
                records,
            }],
        }],
    }
}

pub fn fetch_request(
    topic: &str,
    partition: u32,
    offset: i64,
    max_wait_ms: u32,
    min_bytes: u32,
) -> FetchRequest {
    FetchRequest {
        max_wait_ms,
        min_bytes,
        max_bytes: 50 << 20,
        isolation_level: IsolationLevel::default(),
        topics: vec![FetchTopic {
            name: topic.to_owned(),
            partitions: vec![FetchPartition {
                partition: PartitionId(partition),
                fetch_offset: offset,
                partition_max_bytes: 10 << 20,
            }],
        }],
    }
}

/// A batch of `values` with keys `k0`, `k1`, ... and timestamps from `ts`.
pub fn batch(ts: i64, values: &[&str]) -> Bytes {
    let mut b = BatchBuilder::new(BatchOptions::default()).unwrap();
    for (i, v) in values.iter().enumerate() {
        b.append(&NewRecord {
            timestamp: ts + i as i64,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(v.to_string())),
            headers: vec![("h".to_owned(), Some(Bytes::from_static(b"v")))],
        })
        .unwrap();
    }
    b.build().unwrap()
}

/// Values of every record in a fetched record set, with their offsets.
pub fn records_of(bytes: &Bytes) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for b in runnel_protocol::record::Batches::new(bytes.clone()) {
        for r in b.unwrap().records().unwrap() {
            let r = r.unwrap();
            out.push((
                r.offset,
                String::from_utf8(r.value.unwrap().to_vec()).unwrap(),
            ));
        }
    }
    out
}
