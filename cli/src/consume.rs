//! `runnel consume`: prints records one per line, following new ones until
//! interrupted, `-n` records have been printed, or (with `--exit-at-end`)
//! every partition has reached the end offset it had at start.
//!
//! Without a start flag the consumer starts per `auto.offset.reset`
//! (`latest` unless `-X auto.offset.reset=...` says otherwise): only new
//! records.
//!
//! With `-g GROUP` the consumer joins the group: the group's coordinator
//! shares the topic's partitions among its members, and each starts at the
//! group's committed offset (else at the end, or at the beginning with
//! `--from-beginning`). Positions are committed as records are printed
//! (every `auto.commit.interval.ms`) and when the command stops, which
//! also leaves the group; records read but not printed (past `-n` or past
//! the end offsets) are not committed. `-p`, `--offset` and `--from-time`
//! do not combine with `-g`: the group decides partitions and offsets.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::time::Duration;

use runnel_consumer::{Consumer, ConsumerError, ConsumerRecord, SeekTo};
use runnel_protocol::PartitionId;
use runnel_protocol::api::fetch::IsolationLevel;
use runnel_protocol::api::list_offsets::OffsetSpec;

use crate::args::{ConsumeArgs, Output};
use crate::error::{CliError, SettingsKind, check_topic_name};
use crate::format::{RecordFormat, record_json};
use crate::topic::print_json;

/// Longest one poll waits before the loop checks its stop conditions again.
const POLL_WAIT: Duration = Duration::from_millis(500);

/// The message for `-g` with a flag it does not combine with, exit code 2.
pub const GROUP_CONFLICT: &str = "-g does not combine with -p, --offset or --from-time: the \
     group decides which partitions this member reads and where it starts";

/// Where reading stops.
#[derive(Debug, Default)]
struct Stop {
    /// `-n`: records still to print.
    remaining: Option<u64>,
    /// `--exit-at-end`: partition → end offset seen at start.
    ends: Option<BTreeMap<u32, i64>>,
}

impl Stop {
    /// Whether `record` is past the end offsets (not printed).
    fn beyond_end(&self, record: &ConsumerRecord) -> bool {
        self.ends
            .as_ref()
            .and_then(|ends| ends.get(&record.partition))
            .is_some_and(|end| record.offset >= *end)
    }

    /// Whether reading is done: `-n` records printed, or every partition
    /// read (every partition assigned, for a group member with at least
    /// one) at its end offset.
    fn done(&self, consumer: &Consumer, topic: &str, group: bool) -> bool {
        if self.remaining == Some(0) {
            return true;
        }
        let Some(ends) = &self.ends else {
            return false;
        };
        let reached = |partition: u32| {
            let end = ends.get(&partition).copied().unwrap_or(0);
            consumer
                .position(topic, partition)
                .is_some_and(|position| position >= end)
        };
        if group {
            let assigned = consumer.assignment();
            !assigned.is_empty() && assigned.iter().all(|tp| reached(tp.partition))
        } else {
            ends.keys().all(|p| reached(*p))
        }
    }
}

/// Builds the consumer: `-X` settings, each checked by name.
async fn consumer(broker: &str, args: &ConsumeArgs) -> Result<Consumer, CliError> {
    let mut builder = Consumer::builder().bootstrap(broker);
    let mut settings: Vec<(&str, &str)> = args
        .settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if let Some(group) = &args.group {
        settings.push(("group.id", group));
        if args.from_beginning {
            settings.push(("auto.offset.reset", "earliest"));
        }
    }
    for (key, value) in settings {
        builder = builder.set(key, value).map_err(|e| match e {
            ConsumerError::Config(source) => {
                CliError::setting(key, value, source, SettingsKind::Consumer)
            }
            other => other.into(),
        })?;
    }
    Ok(builder.build().await?)
}

/// Runs `runnel consume` until a stop condition or `shutdown` resolves
/// (Ctrl-C, SIGTERM), which ends it cleanly.
///
/// ```no_run
/// # async fn run(args: runnel_cli::args::ConsumeArgs) -> Result<(), runnel_cli::error::CliError> {
/// use runnel_cli::args::Output;
/// let ctrl_c = async { tokio::signal::ctrl_c().await.ok(); };
/// runnel_cli::consume::run("127.0.0.1:9170", args, Output::Text, &mut std::io::stdout(), ctrl_c)
///     .await?;
/// # Ok(())
/// # }
/// ```
pub async fn run(
    broker: &str,
    args: ConsumeArgs,
    output: Output,
    out: &mut dyn Write,
    shutdown: impl Future<Output = ()>,
) -> Result<(), CliError> {
    if args.group.is_some()
        && (args.partition.is_some() || args.offset.is_some() || args.from_time.is_some())
    {
        return Err(CliError::Usage(GROUP_CONFLICT.to_owned()));
    }
    check_topic_name(&args.topic)?;
    let topic = args.topic.clone();
    let mut consumer = consumer(broker, &args).await?;
    let result = read(&mut consumer, &args, output, out, shutdown).await;
    consumer.close().await;
    result.map_err(|e| e.about_topic(&topic))
}

async fn read(
    consumer: &mut Consumer,
    args: &ConsumeArgs,
    output: Output,
    out: &mut dyn Write,
    shutdown: impl Future<Output = ()>,
) -> Result<(), CliError> {
    let topic = args.topic.as_str();
    let group = args.group.is_some();
    let partitions = if group {
        let info = consumer.client().topic(topic).await?;
        consumer.subscribe(&[topic])?;
        info.partitions.iter().map(|p| p.partition.0).collect()
    } else if let Some(partition) = args.partition {
        consumer.assign(topic, &[partition]).await?;
        vec![partition]
    } else {
        consumer.assign_all(topic).await?
    };
    let start = if group {
        None
    } else if args.from_beginning {
        Some(SeekTo::Earliest)
    } else if let Some(offset) = args.offset {
        Some(SeekTo::Offset(offset))
    } else {
        args.from_time.map(SeekTo::Timestamp)
    };
    if let Some(start) = start {
        consumer.seek_all(start).await?;
    }
    let mut stop = Stop {
        remaining: args.count,
        ends: None,
    };
    if args.exit_at_end {
        stop.ends = Some(end_offsets(consumer, topic, &partitions).await?);
    }
    let format = args.format.clone().unwrap_or_default();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut line = Vec::with_capacity(256);
    while !stop.done(consumer, topic, group) {
        let records = tokio::select! {
            records = consumer.poll(POLL_WAIT) => records?,
            () = &mut shutdown => break,
        };
        // Partition → first offset read but not printed.
        let mut unprinted: BTreeMap<u32, i64> = BTreeMap::new();
        for record in &records {
            if stop.remaining == Some(0) || stop.beyond_end(record) {
                unprinted.entry(record.partition).or_insert(record.offset);
                continue;
            }
            line.clear();
            print(record, &format, output, &mut line)?;
            out.write_all(&line).map_err(CliError::Write)?;
            if let Some(remaining) = &mut stop.remaining {
                *remaining -= 1;
            }
        }
        out.flush().map_err(CliError::Write)?;
        // Step back so that what was not printed is not committed either.
        for (partition, offset) in unprinted {
            consumer
                .seek(topic, partition, SeekTo::Offset(offset))
                .await?;
        }
    }
    out.flush().map_err(CliError::Write)
}

fn print(
    record: &ConsumerRecord,
    format: &RecordFormat,
    output: Output,
    line: &mut Vec<u8>,
) -> Result<(), CliError> {
    match output {
        Output::Text => format.write(record, line).map_err(CliError::Write),
        Output::Json => print_json(line, &record_json(record)),
    }
}

/// Where `--exit-at-end` stops in each partition: the high watermark,
/// or the log end for a consumer reading unflushed records (ListOffsets
/// answers the high watermark; a one-byte fetch carries the log end).
async fn end_offsets(
    consumer: &Consumer,
    topic: &str,
    partitions: &[u32],
) -> Result<BTreeMap<u32, i64>, CliError> {
    if consumer.config().isolation_level == IsolationLevel::ReadUnflushed {
        let info = consumer.client().topic(topic).await?;
        let status = crate::topic::partition_status(consumer.client(), &info).await?;
        return Ok(status
            .into_iter()
            .filter(|s| partitions.contains(&s.partition))
            .map(|s| (s.partition, s.log_end_offset))
            .collect());
    }
    let lookups: Vec<(PartitionId, OffsetSpec)> = partitions
        .iter()
        .map(|p| (PartitionId(*p), OffsetSpec::Latest))
        .collect();
    let ends = consumer.client().list_offsets(topic, &lookups).await?;
    Ok(ends
        .into_iter()
        .map(|p| (p.partition.0, p.offset.unwrap_or(0)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn record(partition: u32, offset: i64) -> ConsumerRecord {
        ConsumerRecord {
            topic: Arc::from("t"),
            partition,
            offset,
            timestamp: 0,
            timestamp_type: runnel_consumer::TimestampType::CreateTime,
            key: None,
            value: None,
            headers: runnel_consumer::RecordHeaders::default(),
        }
    }

    #[test]
    fn records_at_or_past_the_end_offsets_are_not_printed() {
        let stop = Stop {
            remaining: None,
            ends: Some(BTreeMap::from([(0, 5), (1, 0)])),
        };
        assert!(!stop.beyond_end(&record(0, 4)));
        assert!(stop.beyond_end(&record(0, 5)));
        assert!(stop.beyond_end(&record(1, 0)));
        assert!(!stop.beyond_end(&record(2, 100)), "not a partition read");
    }
}
