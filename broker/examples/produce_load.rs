//! A produce load generator speaking the protocol crate directly: each
//! connection pipelines acks=1 produce requests of one record batch (16 KiB
//! by default) to its own partition, keeping a fixed number in flight, for
//! a fixed time, then prints the throughput it was acknowledged.
//!
//! ```sh
//! cargo run --release -p runnel-broker --example produce_load -- \
//!     --broker 127.0.0.1:9170 --connections 4 --seconds 10
//! ```
//!
//! Used to measure what the broker's metrics cost (BENCHMARKS.md, "Metrics
//! overhead"): run it against a broker started with and without
//! `--no-metrics`.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use bytes::Bytes;
use clap::Parser;
use runnel_protocol::api::create_topics::{CreatableTopic, CreateTopicsRequest};
use runnel_protocol::api::produce::{
    Acks, ProducePartition, ProduceRequest, ProduceResponse, ProduceTopic,
};
use runnel_protocol::record::{BatchBuilder, BatchOptions, NewRecord};
use runnel_protocol::{ErrorCode, PartitionId, ResponseHeader, decode_response_as, encode_request};

/// Produce load generator.
#[derive(Debug, Parser)]
struct Args {
    /// The broker's native address.
    #[arg(long, default_value = "127.0.0.1:9170")]
    broker: SocketAddr,
    /// Topic to produce to; created with one partition per connection if
    /// it does not exist.
    #[arg(long, default_value = "load")]
    topic: String,
    /// Connections, each producing to its own partition.
    #[arg(long, default_value_t = 4)]
    connections: u32,
    /// Requests in flight per connection.
    #[arg(long, default_value_t = 32)]
    in_flight: u32,
    /// Bytes of record values per batch (the batch adds its headers).
    #[arg(long, default_value_t = 16 * 1024)]
    batch_bytes: usize,
    /// Records per batch.
    #[arg(long, default_value_t = 16)]
    records: usize,
    /// How long to produce.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

/// What one connection achieved.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    /// Requests acknowledged without error.
    acked: u64,
    /// Batch bytes acknowledged.
    bytes: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(
        args.connections > 0 && args.in_flight > 0 && args.records > 0,
        "connections, in-flight and records must be positive"
    );
    create_topic(&args)?;
    let batch = build_batch(args.batch_bytes, args.records)?;
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..args.connections)
        .map(|p| {
            let (addr, topic, batch) = (args.broker, args.topic.clone(), batch.clone());
            let in_flight = args.in_flight;
            std::thread::spawn(move || produce(addr, &topic, p, &batch, in_flight, deadline))
        })
        .collect();
    let mut total = Tally::default();
    for w in workers {
        let t = w
            .join()
            .map_err(|_| anyhow::anyhow!("a worker panicked"))??;
        total.acked += t.acked;
        total.bytes += t.bytes;
    }
    let secs = started.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let (mib, reqs) = (
        total.bytes as f64 / secs / (1024.0 * 1024.0),
        total.acked as f64 / secs,
    );
    println!(
        "batch_bytes={} connections={} in_flight={} seconds={secs:.1} acked={} MiB/s={mib:.1} batches/s={reqs:.0}",
        batch.len(),
        args.connections,
        args.in_flight,
        total.acked
    );
    Ok(())
}

fn build_batch(value_bytes: usize, records: usize) -> anyhow::Result<Bytes> {
    let value = Bytes::from(vec![b'x'; value_bytes / records]);
    let mut b = BatchBuilder::new(BatchOptions::default())?;
    for i in 0..records {
        b.append(&NewRecord {
            timestamp: 1_700_000_000_000,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(value.clone()),
            headers: vec![],
        })?;
    }
    Ok(b.build()?)
}

fn create_topic(args: &Args) -> anyhow::Result<()> {
    let mut s = TcpStream::connect(args.broker).context("cannot connect")?;
    let req = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: args.topic.clone(),
            partitions: args.connections,
            configs: vec![],
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    s.write_all(&encode_request(&req, 1, "produce_load")?.to_bytes())?;
    let (_, body) = ResponseHeader::split(read_frame(&mut s)?)?;
    let resp = decode_response_as::<CreateTopicsRequest>(body)?
        .map_err(|e| anyhow::anyhow!("create topic: {}", e.error_message))?;
    let code = resp
        .topics
        .first()
        .map_or(ErrorCode::None, |t| t.error_code);
    ensure!(
        code == ErrorCode::None || code == ErrorCode::TopicAlreadyExists,
        "create topic: {}",
        code.name()
    );
    Ok(())
}

/// Reads one response frame and returns the body after the length prefix.
fn read_frame(s: &mut TcpStream) -> anyhow::Result<Bytes> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body)?;
    Ok(Bytes::from(body))
}

/// One connection: keeps `in_flight` requests outstanding until the
/// deadline, then waits for the last answers.
fn produce(
    addr: SocketAddr,
    topic: &str,
    partition: u32,
    batch: &Bytes,
    in_flight: u32,
    deadline: Instant,
) -> anyhow::Result<Tally> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    let req = ProduceRequest {
        transactional_id: None,
        acks: Acks::Leader,
        timeout_ms: 30_000,
        topics: vec![ProduceTopic {
            name: topic.to_owned(),
            partitions: vec![ProducePartition {
                partition: PartitionId(partition),
                records: batch.clone(),
            }],
        }],
    };
    // One frame, reused: only the correlation id (bytes 8..12, after the
    // length prefix, api key and version) changes.
    let mut frame = encode_request(&req, 0, "produce_load")?.to_bytes().to_vec();
    let mut tally = Tally::default();
    let mut next_id = 0u32;
    let mut outstanding = 0u32;
    loop {
        let sending = Instant::now() < deadline;
        if sending && outstanding < in_flight {
            frame
                .get_mut(8..12)
                .context("frame too short")?
                .copy_from_slice(&next_id.to_be_bytes());
            s.write_all(&frame)?;
            next_id += 1;
            outstanding += 1;
            continue;
        }
        if outstanding == 0 {
            return Ok(tally);
        }
        let (_, rest) = ResponseHeader::split(read_frame(&mut s)?)?;
        let answer: ProduceResponse = decode_response_as::<ProduceRequest>(rest)?
            .map_err(|e| anyhow::anyhow!("produce: {}", e.error_message))?;
        outstanding -= 1;
        let code = answer
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .map_or(ErrorCode::UnknownServerError, |p| p.error_code);
        if code != ErrorCode::None {
            bail!("produce failed: {}", code.name());
        }
        tally.acked += 1;
        tally.bytes += batch.len() as u64;
    }
}
