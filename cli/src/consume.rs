//! `runnel consume`: prints records one per line, following new ones until
//! interrupted, `-n` records have been printed, or (with `--exit-at-end`)
//! every partition has reached the end offset it had at start.
//!
//! Without a start flag the consumer starts per `auto.offset.reset`
//! (`latest` unless `-X auto.offset.reset=...` says otherwise): only new
//! records. Consumer groups (`-g`) are not available in this build.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::time::Duration;

use runnel_consumer::{Consumer, ConsumerError, ConsumerRecord, SeekTo};
use runnel_protocol::PartitionId;
use runnel_protocol::api::list_offsets::OffsetSpec;

use crate::args::{ConsumeArgs, Output};
use crate::error::{CliError, SettingsKind, check_topic_name};
use crate::format::{RecordFormat, record_json};
use crate::topic::print_json;

/// Longest one poll waits before the loop checks its stop conditions again.
const POLL_WAIT: Duration = Duration::from_millis(500);

/// The message for `-g`, exit code 2.
pub const GROUPS_UNAVAILABLE: &str = "-g: consumer groups are not available in this build of \
     runnel yet; drop -g to read the topic's partitions directly";

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

    /// Whether reading is done.
    fn done(&self, consumer: &Consumer, topic: &str) -> bool {
        if self.remaining == Some(0) {
            return true;
        }
        self.ends.as_ref().is_some_and(|ends| {
            ends.iter().all(|(partition, end)| {
                consumer
                    .position(topic, *partition)
                    .is_some_and(|position| position >= *end)
            })
        })
    }
}

/// Builds the consumer: `-X` settings, each checked by name.
async fn consumer(broker: &str, args: &ConsumeArgs) -> Result<Consumer, CliError> {
    let mut builder = Consumer::builder().bootstrap(broker);
    for (key, value) in &args.settings {
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
    if args.group.is_some() {
        return Err(CliError::Usage(GROUPS_UNAVAILABLE.to_owned()));
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
    let partitions = match args.partition {
        Some(partition) => {
            consumer.assign(topic, &[partition]).await?;
            vec![partition]
        }
        None => consumer.assign_all(topic).await?,
    };
    let start = if args.from_beginning {
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
        let lookups: Vec<(PartitionId, OffsetSpec)> = partitions
            .iter()
            .map(|p| (PartitionId(*p), OffsetSpec::Latest))
            .collect();
        let ends = consumer.client().list_offsets(topic, &lookups).await?;
        stop.ends = Some(
            ends.into_iter()
                .map(|p| (p.partition.0, p.offset.unwrap_or(0)))
                .collect(),
        );
    }
    let format = args.format.clone().unwrap_or_default();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut line = Vec::with_capacity(256);
    while !stop.done(consumer, topic) {
        let records = tokio::select! {
            records = consumer.poll(POLL_WAIT) => records?,
            () = &mut shutdown => break,
        };
        for record in &records {
            if stop.remaining == Some(0) {
                break;
            }
            if stop.beyond_end(record) {
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
