//! `runnel produce`: one record per input line, sent through the producer
//! library (batched, pipelined, in order per partition).
//!
//! A line is the bytes up to `\n` (a `\r` before it is dropped too); the
//! last line needs no newline. With `--key-separator SEP` a line is split
//! at its first SEP into key and value, and a line without SEP is an
//! error. Delivery outcomes are collected as they arrive while reading
//! goes on; at most [`MAX_UNACKED`] records wait for theirs, which bounds
//! memory whatever the input size.

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::FutureExt as _;
use runnel_producer::{DeliveryFuture, Producer, ProducerError, ProducerRecord, RecordMetadata};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::args::{Output, ProduceArgs};
use crate::error::{CliError, SettingsKind, check_topic_name};
use crate::topic::print_json;

/// Most records sent but not yet acknowledged.
pub const MAX_UNACKED: usize = 100_000;

/// Input buffer size: large reads for bulk input.
const READ_BUFFER: usize = 256 * 1024;

/// Every producer setting `-X` accepts, for the hint on a bad one.
pub const PRODUCER_KEYS: &[&str] = &[
    "acks",
    "linger.ms",
    "batch.size",
    "batch.max.bytes",
    "buffer.memory",
    "max.block.ms",
    "compression.type",
    "max.in.flight.requests.per.connection",
    "retries",
    "retry.backoff.ms",
    "delivery.timeout.ms",
    "request.timeout.ms",
    "enable.idempotence",
    "max.request.size",
    "bootstrap.servers",
    "client.id",
    "socket.connection.setup.timeout.ms",
    "reconnect.backoff.ms",
    "reconnect.backoff.max.ms",
    "metadata.max.age.ms",
];

/// How input lines become records.
#[derive(Debug, Clone)]
struct Shape {
    /// The topic.
    topic: Arc<str>,
    /// `-k`: the key of every record.
    key: Option<Bytes>,
    /// `--key-separator`.
    separator: Option<Vec<u8>>,
    /// `-p`.
    partition: Option<u32>,
    /// `-H`.
    headers: Vec<(String, Option<Bytes>)>,
}

impl Shape {
    /// The record for input line number `number` (from 1), without its
    /// line ending.
    fn record(&self, number: u64, line: Bytes) -> Result<ProducerRecord, CliError> {
        let (key, value) = match &self.separator {
            None => (self.key.clone(), line),
            Some(sep) => {
                let at = find(&line, sep).ok_or_else(|| CliError::Input {
                    line: number,
                    reason: format!(
                        "no key separator {:?} in the line",
                        String::from_utf8_lossy(sep)
                    ),
                })?;
                (
                    Some(line.slice(..at)),
                    line.slice(at.saturating_add(sep.len())..),
                )
            }
        };
        Ok(ProducerRecord {
            topic: Arc::clone(&self.topic),
            partition: self.partition,
            key,
            value: Some(value),
            headers: self.headers.clone(),
            timestamp: None,
        })
    }
}

/// The position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Builds the producer for `args`: `-X` settings first, then the flags
/// that name a setting (`--acks`, `--compression`), which win.
async fn producer(broker: &str, args: &ProduceArgs) -> Result<Producer, CliError> {
    let flags = [
        args.acks.as_deref().map(|v| ("acks", v)),
        args.compression.as_deref().map(|v| ("compression.type", v)),
    ];
    let settings = args
        .settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(flags.into_iter().flatten());
    build_producer(broker, settings).await
}

/// A producer for `broker` with `settings` applied in order (a later one
/// wins); a bad setting is an error naming it.
pub(crate) async fn build_producer<'a>(
    broker: &str,
    settings: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<Producer, CliError> {
    let mut builder = Producer::builder().bootstrap(broker);
    for (key, value) in settings {
        builder = builder.set(key, value).map_err(|e| match e {
            ProducerError::Config(source) => {
                CliError::setting(key, value, source, SettingsKind::Producer)
            }
            other => other.into(),
        })?;
    }
    builder.build().await.map_err(|e| match e {
        ProducerError::Config(source) => CliError::Usage(format!("producer settings: {source}")),
        other => other.into(),
    })
}

/// Runs `runnel produce`, reading standard input or `--file`.
///
/// ```no_run
/// # async fn run(args: runnel_cli::args::ProduceArgs) -> Result<(), runnel_cli::error::CliError> {
/// use runnel_cli::args::Output;
/// runnel_cli::produce::run("127.0.0.1:9170", args, Output::Text, &mut std::io::stdout()).await?;
/// # Ok(())
/// # }
/// ```
pub async fn run(
    broker: &str,
    args: ProduceArgs,
    output: Output,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    check_topic_name(&args.topic)?;
    let producer = producer(broker, &args).await?;
    let topic = args.topic.clone();
    let result = async {
        producer
            .client()
            .topic(&topic)
            .await
            .map_err(|e| CliError::from(e).about_topic(&topic))?;
        match &args.file {
            Some(path) => {
                let file = tokio::fs::File::open(path)
                    .await
                    .map_err(|source| read_error(Some(path), source))?;
                send_lines(&producer, &args, file, output, out).await
            }
            None => send_lines(&producer, &args, tokio::io::stdin(), output, out).await,
        }
    }
    .await;
    producer.close().await;
    result.map_err(|e| e.about_topic(&topic))
}

fn read_error(path: Option<&PathBuf>, source: std::io::Error) -> CliError {
    CliError::Read {
        what: path.map_or_else(|| "standard input".to_owned(), |p| p.display().to_string()),
        source,
    }
}

/// Sends every line of `input`, then waits for every acknowledgement.
async fn send_lines(
    producer: &Producer,
    args: &ProduceArgs,
    input: impl AsyncRead + Unpin,
    output: Output,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let shape = Shape {
        topic: Arc::from(args.topic.as_str()),
        key: args
            .key
            .as_ref()
            .map(|k| Bytes::copy_from_slice(k.as_bytes())),
        separator: args.key_separator.as_ref().map(|s| s.as_bytes().to_vec()),
        partition: args.partition,
        headers: args
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), Some(Bytes::copy_from_slice(v.as_bytes()))))
            .collect(),
    };
    let mut acks = Acks {
        pending: VecDeque::new(),
        print: args.print_acks,
        output,
    };
    let mut reader = BufReader::with_capacity(READ_BUFFER, input);
    let mut number = 0u64;
    loop {
        let mut line = Vec::new();
        let read = reader
            .read_until(b'\n', &mut line)
            .await
            .map_err(|source| read_error(args.file.as_ref(), source))?;
        if read == 0 {
            break;
        }
        number += 1;
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        let record = shape.record(number, Bytes::from(line))?;
        let delivery = producer.enqueue(record).await?;
        acks.pending.push_back(delivery);
        acks.collect_ready(out)?;
        while acks.pending.len() > MAX_UNACKED {
            acks.collect_next(out).await?;
        }
    }
    producer.flush().await;
    while !acks.pending.is_empty() {
        acks.collect_next(out).await?;
    }
    out.flush().map_err(CliError::Write)
}

/// Deliveries awaiting their outcome, in input order.
struct Acks {
    /// The futures, oldest first.
    pending: VecDeque<DeliveryFuture>,
    /// `--print-acks`.
    print: bool,
    /// How to print them.
    output: Output,
}

impl Acks {
    /// Takes the outcomes that have already arrived, oldest first,
    /// stopping at the first still on its way.
    fn collect_ready(&mut self, out: &mut dyn Write) -> Result<(), CliError> {
        while let Some(front) = self.pending.front_mut() {
            let Some(result) = front.now_or_never() else {
                break;
            };
            self.pending.pop_front();
            self.report(&result?, out)?;
        }
        Ok(())
    }

    /// Waits for the oldest outcome.
    async fn collect_next(&mut self, out: &mut dyn Write) -> Result<(), CliError> {
        if let Some(front) = self.pending.pop_front() {
            let metadata = front.await?;
            self.report(&metadata, out)?;
        }
        Ok(())
    }

    fn report(&self, metadata: &RecordMetadata, out: &mut dyn Write) -> Result<(), CliError> {
        if !self.print {
            return Ok(());
        }
        let offset = metadata.offset.unwrap_or(-1);
        match self.output {
            Output::Text => {
                writeln!(out, "{} {offset}", metadata.partition).map_err(CliError::Write)?;
            }
            Output::Json => print_json(
                out,
                &json!({ "partition": metadata.partition, "offset": offset }),
            )?,
        }
        // Each acknowledgement is visible as soon as it is known.
        out.flush().map_err(CliError::Write)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(separator: Option<&str>) -> Shape {
        Shape {
            topic: Arc::from("t"),
            key: None,
            separator: separator.map(|s| s.as_bytes().to_vec()),
            partition: None,
            headers: Vec::new(),
        }
    }

    #[test]
    fn a_separator_splits_key_from_value_at_its_first_occurrence() {
        let r = shape(Some("::"))
            .record(1, Bytes::from_static(b"user-1::a::b"))
            .unwrap();
        assert_eq!(r.key.as_deref(), Some(&b"user-1"[..]));
        assert_eq!(r.value.as_deref(), Some(&b"a::b"[..]));
        let err = shape(Some("::"))
            .record(7, Bytes::from_static(b"no separator"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 7: no key separator \"::\" in the line"
        );
    }

    #[test]
    fn without_a_separator_the_line_is_the_value() {
        let mut s = shape(None);
        s.key = Some(Bytes::from_static(b"k"));
        let r = s.record(1, Bytes::from_static(b"a:b")).unwrap();
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(r.value.as_deref(), Some(&b"a:b"[..]));
    }

    #[test]
    fn every_listed_producer_key_is_known() {
        let mut config = runnel_producer::ProducerConfig::default();
        for key in PRODUCER_KEYS {
            let result = config.set(key, "not a value");
            assert!(
                !matches!(result, Err(runnel_client::ConfigError::UnknownKey { .. })),
                "{key} is listed but unknown"
            );
        }
    }
}
