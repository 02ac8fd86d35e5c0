//! `runnel bench produce | consume | e2e`: the end-to-end load generator.
//!
//! - `produce`: N producers (`--producers`, each its own [`Producer`] on
//!   its own task) send `--count` records (or for `--duration`) as fast
//!   as they can, or at a total `--rate`; the figures are throughput and
//!   send-to-acknowledgement latency.
//! - `consume`: N consumers read `--count` records from the beginning of
//!   the topic (splitting its partitions, or as the members of `--group`);
//!   a topic holding too few records is filled first, untimed.
//! - `e2e`: producers and consumers at once; the latency is from each
//!   record's (intended) send time, which the producer stamps on it, to
//!   the moment a consumer sees it.
//!
//! `--warmup` excludes the start of a run from the figures: a number is a
//! count of records, a number with a unit (`2s`, `500ms`) a time.
//!
//! Layout: [`load`] (producers), [`drain`] (consumers), [`stats`]
//! (histograms, summary, progress line).

pub mod drain;
pub mod load;
pub mod stats;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, Subcommand};
use runnel_client::{Client, ClientConfig, ClientError, NewTopic};
use runnel_consumer::{Consumer, Rebalance, SeekTo};
use runnel_producer::Producer;
use runnel_protocol::api::list_offsets::OffsetSpec;
use runnel_protocol::{ErrorCode, PartitionId};
use serde_json::json;
use tokio::task::JoinSet;

use crate::args::Output;
use crate::error::{CliError, SettingsKind, check_topic_name};
use drain::Drain;
use load::Plan;
use stats::{Progress, Summary, TaskStats};

/// Records per run when neither `--count` nor `--duration` is given.
pub const DEFAULT_COUNT: u64 = 1_000_000;

/// Longest to wait for a group's members to be given every partition
/// before an end-to-end run starts producing.
const ASSIGN_TIMEOUT: Duration = Duration::from_secs(30);

/// `runnel bench ...`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Produce as fast as possible (or at --rate): throughput and
    /// send-to-acknowledgement latency.
    Produce(BenchArgs),
    /// Read records from the beginning of the topic: throughput (a topic
    /// holding too few records is filled first, untimed).
    Consume(BenchArgs),
    /// Produce and consume at once: produce-to-consume latency.
    E2e(BenchArgs),
}

/// The options every benchmark takes.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Topic to use; created with --partitions if missing.
    #[arg(long, default_value = "runnel-bench")]
    pub topic: String,
    /// Partitions of the topic when it is created.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub partitions: u32,
    /// Producers, each with its own connection and task.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub producers: u32,
    /// Consumers (consume, e2e), each with its own connection and task.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub consumers: u32,
    /// Consume as the members of this group (use a new name per run:
    /// members start at the group's committed offsets).
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Value size of each record in bytes.
    #[arg(long, default_value_t = 1024)]
    pub message_size: usize,
    /// Measured records [default: 1000000].
    #[arg(long, conflicts_with = "duration")]
    pub count: Option<u64>,
    /// Measure for this long instead (`30s`, `2m`; a bare number is seconds).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// When the broker acknowledges: all, 1 or 0.
    #[arg(long, default_value = "1", value_parser = ["0", "1", "all"])]
    pub acks: String,
    /// Producer batch.size in bytes [default: the producer's].
    #[arg(long)]
    pub batch_size: Option<u64>,
    /// Producer linger.ms [default: the producer's].
    #[arg(long)]
    pub linger_ms: Option<u64>,
    /// Batch compression.
    #[arg(long, value_parser = ["none", "lz4", "zstd", "snappy", "gzip"])]
    pub compression: Option<String>,
    /// Fixed rate, total records per second over all producers; latency
    /// then counts from each record's intended send time.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate: Option<u64>,
    /// Left out of the figures: a record count (`10000`) or a time (`2s`).
    #[arg(long, value_parser = Warmup::parse)]
    pub warmup: Option<Warmup>,
    /// A producer or consumer setting by its Kafka name; repeatable
    /// (applied to whichever side knows the key).
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = crate::args::parse_key_value)]
    pub settings: Vec<(String, String)>,
}

/// The part of a run left out of the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warmup {
    /// The first records.
    Messages(u64),
    /// The first stretch of time.
    Time(Duration),
}

impl Warmup {
    /// A bare number is a record count; with a unit, a time.
    pub fn parse(text: &str) -> Result<Warmup, String> {
        if let Ok(n) = text.parse::<u64>() {
            return Ok(Warmup::Messages(n));
        }
        humantime::parse_duration(text)
            .map_err(|e| format!("expected a record count or a time like 2s ({e})"))
            .and_then(at_most_a_year)
            .map(Warmup::Time)
    }

    fn messages(this: Option<Self>) -> u64 {
        match this {
            Some(Warmup::Messages(n)) => n,
            _ => 0,
        }
    }

    fn time(this: Option<Self>) -> Duration {
        match this {
            Some(Warmup::Time(d)) => d,
            _ => Duration::ZERO,
        }
    }
}

/// Parses `30s`, `2m`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = match text.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(text).map_err(|e| e.to_string())?,
    };
    at_most_a_year(duration)
}

/// Refuses run times no benchmark needs, so that adding them to the
/// clock cannot overflow.
fn at_most_a_year(duration: Duration) -> Result<Duration, String> {
    const YEAR: Duration = Duration::from_hours(365 * 24);
    if duration > YEAR {
        return Err(format!(
            "{} is longer than a year",
            humantime::format_duration(duration)
        ));
    }
    Ok(duration)
}

/// Runs a benchmark against `broker` and prints its summary.
pub async fn run(
    broker: &str,
    command: BenchCommand,
    output: Output,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (mode, args) = match command {
        BenchCommand::Produce(a) => ("produce", a),
        BenchCommand::Consume(a) => ("consume", a),
        BenchCommand::E2e(a) => ("e2e", a),
    };
    check_topic_name(&args.topic)?;
    let mut config = ClientConfig::new(broker);
    for (key, value) in &args.settings {
        // Client settings (request.timeout.ms, ...) apply to topic
        // creation too; the others are the producers' and consumers'.
        match config.set(key, value) {
            Ok(()) => {}
            Err(source @ runnel_client::ConfigError::UnknownKey { .. }) => {
                // Neither side would take it: it would be silently ignored.
                if !SettingsKind::Bench.keys().contains(&key.as_str()) {
                    return Err(CliError::setting(key, value, source, SettingsKind::Bench));
                }
            }
            Err(source) => {
                return Err(CliError::setting(key, value, source, SettingsKind::Bench));
            }
        }
    }
    let client = Client::connect(config).await?;
    let prepared = prepare(&client, broker, mode, &args).await;
    client.close();
    let (partitions, created) = prepared?;
    let mut summary = match mode {
        "produce" => produce(broker, &args, partitions).await?,
        "consume" => consume(broker, &args, partitions).await?,
        _ => e2e(broker, &args, partitions).await?,
    };
    if let (Some(created), Some(settings)) = (created, summary.settings.as_object_mut()) {
        settings.insert(
            "topic_create_ms".to_owned(),
            json!(created.as_secs_f64() * 1000.0),
        );
    }
    summary.print(output, out)
}

/// Creates the topic if missing; for `consume`, fills it up to the
/// records the run needs. Returns the partition count, and how long the
/// topic took to create when this run created it.
async fn prepare(
    client: &Client,
    broker: &str,
    mode: &str,
    args: &BenchArgs,
) -> Result<(u32, Option<Duration>), CliError> {
    let new = NewTopic::new(args.topic.clone(), Some(args.partitions));
    let asked = Instant::now();
    let mut created = None;
    match client.create_topic(new).await {
        Ok(_) => created = Some(asked.elapsed()),
        Err(ClientError::Broker(e)) if e.code == ErrorCode::TopicAlreadyExists => {}
        Err(e) => return Err(CliError::from(e).about_topic(&args.topic)),
    }
    let info = client
        .describe_topic(&args.topic)
        .await
        .map_err(|e| CliError::from(e).about_topic(&args.topic))?;
    let partitions = u32::try_from(info.partition_count()).unwrap_or(u32::MAX);
    if mode == "consume" && args.duration.is_none() {
        let needed = args
            .count
            .unwrap_or(DEFAULT_COUNT)
            .saturating_add(Warmup::messages(args.warmup));
        let held = held(client, &args.topic, partitions).await?;
        if held < needed {
            fill(broker, args, needed - held).await?;
        }
    }
    Ok((partitions, created))
}

/// Offsets of every partition of `topic` per `spec`.
async fn offsets(
    client: &Client,
    topic: &str,
    partitions: u32,
    spec: OffsetSpec,
) -> Result<Vec<i64>, CliError> {
    let lookups: Vec<(PartitionId, OffsetSpec)> =
        (0..partitions).map(|p| (PartitionId(p), spec)).collect();
    let found = client
        .list_offsets(topic, &lookups)
        .await
        .map_err(|e| CliError::from(e).about_topic(topic))?;
    Ok(found.iter().map(|o| o.offset.unwrap_or(0)).collect())
}

/// Records the topic holds now.
async fn held(client: &Client, topic: &str, partitions: u32) -> Result<u64, CliError> {
    let start = offsets(client, topic, partitions, OffsetSpec::Earliest).await?;
    let end = offsets(client, topic, partitions, OffsetSpec::Latest).await?;
    Ok(start
        .iter()
        .zip(&end)
        .map(|(s, e)| u64::try_from(e.saturating_sub(*s)).unwrap_or(0))
        .sum())
}

/// Produces `records` untimed records of the run's size, acks=1.
async fn fill(broker: &str, args: &BenchArgs, records: u64) -> Result<(), CliError> {
    let producer = build_producer(broker, args, Some("1")).await?;
    let plan = Plan {
        count: Some(records),
        // Exactly `records`: no warm-up, whatever the run's `--warmup`.
        warmup_messages: 0,
        warmup_time: Duration::ZERO,
        ..plan(args, None, false)
    };
    load::produce(producer, plan, Instant::now(), Arc::new(AtomicU64::new(0))).await?;
    Ok(())
}

/// The producer-side plan shared by every producer of a run; count and
/// warm-up count are per producer and set by the caller.
fn plan(args: &BenchArgs, interval: Option<Duration>, stamp: bool) -> Plan {
    Plan {
        topic: Arc::from(args.topic.as_str()),
        payload: payload(args.message_size),
        count: None,
        duration: args.duration,
        warmup_messages: 0,
        warmup_time: Warmup::time(args.warmup),
        interval,
        stamp,
    }
}

/// The value of every record: built once, shared by `Bytes` clones.
fn payload(size: usize) -> Bytes {
    Bytes::from(
        (0..size)
            .map(|i| b'a' + u8::try_from(i % 26).unwrap_or(0))
            .collect::<Vec<u8>>(),
    )
}

/// A producer for the run: `-X` settings it knows, then the flags.
async fn build_producer(
    broker: &str,
    args: &BenchArgs,
    acks: Option<&str>,
) -> Result<Producer, CliError> {
    let batch = args.batch_size.map(|v| v.to_string());
    let linger = args.linger_ms.map(|v| v.to_string());
    let flags = [
        Some(("acks", acks.unwrap_or(&args.acks))),
        batch.as_deref().map(|v| ("batch.size", v)),
        linger.as_deref().map(|v| ("linger.ms", v)),
        args.compression.as_deref().map(|v| ("compression.type", v)),
    ];
    let settings = args
        .settings
        .iter()
        .filter(|(k, _)| crate::produce::PRODUCER_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(flags.into_iter().flatten());
    crate::produce::build_producer(broker, settings).await
}

/// A consumer for the run: `-X` settings it knows, then `extra`.
async fn build_consumer(
    broker: &str,
    args: &BenchArgs,
    extra: &[(&str, &str)],
) -> Result<Consumer, CliError> {
    let mut builder = Consumer::builder().bootstrap(broker);
    let known = SettingsKind::Consumer.keys();
    let settings = args
        .settings
        .iter()
        .filter(|(k, _)| known.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra.iter().copied());
    for (key, value) in settings {
        builder = builder.set(key, value)?;
    }
    Ok(builder.build().await?)
}

/// The settings printed with the figures, `-X` ones under `config`.
fn settings_json(args: &BenchArgs, partitions: u32) -> serde_json::Value {
    let config: serde_json::Map<String, serde_json::Value> = args
        .settings
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())))
        .collect();
    json!({
        "topic": args.topic,
        "partitions": partitions,
        "producers": args.producers,
        "consumers": args.consumers,
        "group": args.group,
        "message_size": args.message_size,
        "acks": args.acks,
        "batch_size": args.batch_size,
        "linger_ms": args.linger_ms,
        "compression": args.compression,
        "rate": args.rate,
        "config": config,
    })
}

/// Starts the run's producers at `start`; `done` counts acknowledged
/// records.
async fn start_producers(
    broker: &str,
    args: &BenchArgs,
    start: Instant,
    done: &Arc<AtomicU64>,
    stamp: bool,
) -> Result<JoinSet<Result<TaskStats, CliError>>, CliError> {
    let interval = args.rate.map(|rate| {
        // Each producer sends every `producers / rate` seconds (rounded
        // to the nanosecond).
        Duration::from_nanos(1_000_000_000 * u64::from(args.producers) / rate)
    });
    let counts = load::split(args.count.unwrap_or(DEFAULT_COUNT), args.producers);
    let warmups = load::split(Warmup::messages(args.warmup), args.producers);
    let mut producers = Vec::new();
    for _ in 0..args.producers {
        producers.push(build_producer(broker, args, None).await?);
    }
    let mut tasks = JoinSet::new();
    for ((producer, count), warmup) in producers.into_iter().zip(counts).zip(warmups) {
        let plan = Plan {
            count: args.duration.is_none().then_some(count),
            warmup_messages: warmup,
            ..plan(args, interval, stamp)
        };
        tasks.spawn(load::produce(producer, plan, start, Arc::clone(done)));
    }
    Ok(tasks)
}

/// Waits for every task and adds up what they measured.
async fn join_all(mut tasks: JoinSet<Result<TaskStats, CliError>>) -> Result<TaskStats, CliError> {
    let mut total = TaskStats::default();
    let mut failure = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(stats)) => total.merge(&stats),
            Ok(Err(e)) => {
                failure.get_or_insert(e);
            }
            Err(e) => {
                failure.get_or_insert(CliError::Failed(format!("a benchmark task failed: {e}")));
            }
        }
    }
    failure.map_or(Ok(total), Err)
}

/// Waits until the readers own all `partitions`, failing with a reader's
/// own error if one stops first, or after [`ASSIGN_TIMEOUT`].
async fn await_assignment(
    readers: &mut JoinSet<Result<TaskStats, CliError>>,
    assigned: &AtomicU64,
    partitions: u32,
) -> Result<(), CliError> {
    let waited = Instant::now();
    while assigned.load(Ordering::Acquire) < u64::from(partitions) {
        if let Some(finished) = readers.try_join_next() {
            // A reader only ends before anything is sent when it failed:
            // report why rather than waiting out the timeout.
            readers.abort_all();
            return Err(match finished {
                Ok(Err(e)) => e,
                Ok(Ok(_)) => {
                    CliError::Failed("a consumer stopped before any record was sent".into())
                }
                Err(e) => CliError::Failed(format!("a benchmark task failed: {e}")),
            });
        }
        if waited.elapsed() > ASSIGN_TIMEOUT {
            readers.abort_all();
            return Err(CliError::Failed(format!(
                "the group's members were not given all {partitions} partitions within {} s",
                ASSIGN_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// How long the progress line expects the run to take.
fn progress_until(args: &BenchArgs, start: Instant) -> Option<Instant> {
    args.duration.map(|d| start + d + Warmup::time(args.warmup))
}

/// Records the progress line counts to.
fn progress_total(args: &BenchArgs) -> Option<u64> {
    args.duration.is_none().then(|| {
        args.count
            .unwrap_or(DEFAULT_COUNT)
            .saturating_add(Warmup::messages(args.warmup))
    })
}

async fn produce(broker: &str, args: &BenchArgs, partitions: u32) -> Result<Summary, CliError> {
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks = start_producers(broker, args, start, &done, false).await?;
    let progress = Progress::start(done, progress_total(args), progress_until(args, start));
    let stats = join_all(tasks).await;
    progress.finish();
    Ok(Summary {
        mode: "produce",
        latency_kind: "send to acknowledgement",
        stats: stats?,
        settings: settings_json(args, partitions),
    })
}

async fn consume(broker: &str, args: &BenchArgs, partitions: u32) -> Result<Summary, CliError> {
    let client = Client::connect(ClientConfig::new(broker)).await?;
    let available = held(&client, &args.topic, partitions).await;
    client.close();
    let target = match args.duration {
        Some(_) => available?,
        None => args
            .count
            .unwrap_or(DEFAULT_COUNT)
            .saturating_add(Warmup::messages(args.warmup)),
    };
    let mut consumers = Vec::new();
    let mut shares = Vec::new();
    for index in 0..args.consumers {
        let mut settings = vec![("auto.offset.reset", "earliest")];
        if let Some(group) = &args.group {
            // Members join at the end and seek to the beginning once the
            // group has settled (see `Drain::settled`).
            settings = vec![
                ("auto.offset.reset", "latest"),
                ("group.id", group.as_str()),
            ];
        }
        let mut consumer = build_consumer(broker, args, &settings).await?;
        match &args.group {
            Some(_) => {
                let share = Arc::new(AtomicU64::new(0));
                count_assigned(&mut consumer, Arc::clone(&share));
                shares.push(share);
                consumer.subscribe(&[args.topic.as_str()])?;
            }
            None => {
                let mine: Vec<u32> = (0..partitions)
                    .filter(|p| p % args.consumers == index)
                    .collect();
                consumer.assign(&args.topic, &mine).await?;
                for &p in &mine {
                    consumer.seek(&args.topic, p, SeekTo::Earliest).await?;
                }
            }
        }
        consumers.push(consumer);
    }
    let settled = args
        .group
        .is_some()
        .then(|| watch_settled(shares, partitions));
    let start = Instant::now();
    let taken = Arc::new(AtomicU64::new(0));
    let plan = Drain {
        target: Arc::new(AtomicU64::new(target)),
        taken: Arc::clone(&taken),
        warmup_messages: Warmup::messages(args.warmup),
        warmup_until: start + Warmup::time(args.warmup),
        until: progress_until(args, start),
        stamped_since_us: None,
        settled: settled.clone(),
    };
    let mut tasks = JoinSet::new();
    for consumer in consumers {
        tasks.spawn(drain::drain(consumer, plan.clone()));
    }
    let progress = Progress::start(taken, Some(target), plan.until);
    let stats = join_all(tasks).await;
    progress.finish();
    Ok(Summary {
        mode: "consume",
        latency_kind: "none",
        stats: stats?,
        settings: settings_json(args, partitions),
    })
}

/// Keeps `counter` at the number of partitions `consumer` holds (added
/// to whatever else counts into it).
fn count_assigned(consumer: &mut Consumer, counter: Arc<AtomicU64>) {
    consumer.on_rebalance(move |change| match change {
        Rebalance::Assigned(p) => {
            counter.fetch_add(p.len() as u64, Ordering::AcqRel);
        }
        Rebalance::Revoked(p) | Rebalance::Lost(p) => {
            counter.fetch_sub(p.len() as u64, Ordering::AcqRel);
        }
    });
}

/// A flag set once the members' `shares` cover all `partitions` and each
/// member that can have one holds at least one partition.
fn watch_settled(shares: Vec<Arc<AtomicU64>>, partitions: u32) -> Arc<AtomicBool> {
    let settled = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&settled);
    tokio::spawn(async move {
        let wanted_owners = shares.len().min(partitions as usize);
        loop {
            let held: Vec<u64> = shares.iter().map(|s| s.load(Ordering::Acquire)).collect();
            let owners = held.iter().filter(|&&n| n > 0).count();
            if held.iter().sum::<u64>() == u64::from(partitions) && owners >= wanted_owners {
                flag.store(true, Ordering::Release);
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    settled
}

async fn e2e(broker: &str, args: &BenchArgs, partitions: u32) -> Result<Summary, CliError> {
    let since_us = drain::wall_micros();
    let assigned = Arc::new(AtomicU64::new(0));
    let mut consumers = Vec::new();
    let ends = {
        let client = Client::connect(ClientConfig::new(broker)).await?;
        let ends = offsets(&client, &args.topic, partitions, OffsetSpec::Latest).await;
        client.close();
        ends?
    };
    for index in 0..args.consumers {
        let consumer = match &args.group {
            Some(group) => {
                let settings = [
                    ("group.id", group.as_str()),
                    ("auto.offset.reset", "latest"),
                ];
                let mut c = build_consumer(broker, args, &settings).await?;
                count_assigned(&mut c, Arc::clone(&assigned));
                c.subscribe(&[args.topic.as_str()])?;
                c
            }
            None => {
                let mut c = build_consumer(broker, args, &[]).await?;
                let mine: Vec<u32> = (0..partitions)
                    .filter(|p| p % args.consumers == index)
                    .collect();
                c.assign(&args.topic, &mine).await?;
                for &p in &mine {
                    let end = ends.get(p as usize).copied().unwrap_or(0);
                    c.seek(&args.topic, p, SeekTo::Offset(end)).await?;
                }
                assigned.fetch_add(mine.len() as u64, Ordering::AcqRel);
                c
            }
        };
        consumers.push(consumer);
    }
    let target = Arc::new(AtomicU64::new(u64::MAX));
    let taken = Arc::new(AtomicU64::new(0));
    let plan = Drain {
        target: Arc::clone(&target),
        taken: Arc::clone(&taken),
        warmup_messages: 0,
        warmup_until: Instant::now(),
        until: None,
        stamped_since_us: Some(since_us),
        settled: None,
    };
    let mut readers = JoinSet::new();
    for consumer in consumers {
        readers.spawn(drain::drain(consumer, plan.clone()));
    }
    // Group members join while polling: produce once all partitions have
    // an owner, so no record is sent before its reader has a position.
    await_assignment(&mut readers, &assigned, partitions).await?;
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    if let Some(count) = args
        .duration
        .is_none()
        .then(|| progress_total(args))
        .flatten()
    {
        target.store(count, Ordering::Release);
    }
    let producers = start_producers(broker, args, start, &done, true).await?;
    let progress = Progress::start(taken, progress_total(args), progress_until(args, start));
    let sent = join_all(producers).await;
    // Every record is acknowledged: the readers stop once they have all.
    target.store(done.load(Ordering::Acquire), Ordering::Release);
    let received = join_all(readers).await;
    progress.finish();
    let sent = sent?;
    let mut stats = received?;
    if let Some(first) = sent.window.start {
        stats.window.open(first);
    }
    Ok(Summary {
        mode: "e2e",
        latency_kind: "send to consume",
        stats,
        settings: settings_json(args, partitions),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_times_beyond_a_year_are_refused_not_overflowed() {
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_mins(2)));
        assert!(parse_duration("18446744073709551615").is_err());
        assert!(parse_duration("400days").is_err());
        assert!(matches!(Warmup::parse("1s"), Ok(Warmup::Time(_))));
        assert!(matches!(Warmup::parse("7"), Ok(Warmup::Messages(7))));
        assert!(Warmup::parse("400days").is_err());
    }
}
