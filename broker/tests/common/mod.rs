//! Black-box test harness: starts the real `runnel-broker` binary on a free
//! loopback port with a temporary data directory and speaks the protocol to
//! it through the protocol crate (no client library).

#![allow(
    dead_code,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
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

/// A running broker process.
pub struct Broker {
    pub child: Child,
    pub addr: SocketAddr,
    /// The metrics listener (`/metrics`, `/health`).
    pub metrics_addr: SocketAddr,
    pub data_dir: PathBuf,
    /// Everything the broker logged so far.
    pub log: Arc<Mutex<String>>,
    tmp: Option<tempfile::TempDir>,
}

impl Broker {
    /// Starts a broker on a fresh temporary data directory.
    pub fn start() -> Broker {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut b = Broker::start_in(&dir, &[]);
        b.tmp = Some(tmp);
        b
    }

    /// Starts a broker on `dir` with extra flags.
    pub fn start_in(dir: &Path, extra: &[&str]) -> Broker {
        Broker::start_with_env(dir, extra, &[])
    }

    /// Starts a broker on `dir` with extra flags and environment.
    pub fn start_with_env(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Broker {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_runnel-broker"));
        cmd.arg("--data-dir")
            .arg(dir)
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                // "metrics listening addr=..." comes first, then
                // "listening addr=..." for the native protocol.
                if line.contains("listening")
                    && let Some(addr) = line.split("addr=").nth(1)
                {
                    let addr = addr.split_whitespace().next().unwrap_or("").to_owned();
                    let _ = tx.send((line.contains("metrics listening"), addr));
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let (mut addr, mut metrics_addr) = (None, None);
        while addr.is_none() {
            let (is_metrics, a) = rx
                .recv_timeout(Duration::from_mins(1))
                .unwrap_or_else(|_| panic!("broker did not start: {}", log.lock().unwrap()));
            if is_metrics {
                metrics_addr = Some(a);
            } else {
                addr = Some(a);
            }
        }
        let metrics_addr =
            metrics_addr.unwrap_or_else(|| panic!("no metrics address: {}", log.lock().unwrap()));
        Broker {
            child,
            metrics_addr: metrics_addr.parse().unwrap(),
            addr: addr.unwrap().parse().unwrap(),
            data_dir: dir.to_path_buf(),
            log,
            tmp: None,
        }
    }

    /// A new connection.
    pub fn connect(&self) -> Conn {
        Conn::new(self.addr)
    }

    /// SIGTERM, then waits for exit; returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        self.child.wait().unwrap().code()
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// `GET path` on the metrics listener: (status code, body).
    pub fn http_get(&self, path: &str) -> (u16, String) {
        http_get(self.metrics_addr, path)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Stops and restarts on the same data directory (keeping the temp dir).
    pub fn restart(mut self, graceful: bool) -> Broker {
        if graceful {
            assert_eq!(self.stop(), Some(0), "{}", self.log.lock().unwrap());
        } else {
            self.kill();
        }
        let tmp = self.tmp.take();
        let mut b = Broker::start_in(&self.data_dir, &[]);
        b.tmp = tmp;
        b
    }

    /// Waits (polling the captured log, up to 10 s) until the broker has
    /// logged `needle`.
    pub fn wait_for_log(&self, needle: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !self.logs().contains(needle) {
            assert!(
                std::time::Instant::now() < deadline,
                "broker never logged {needle:?}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn logs(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
