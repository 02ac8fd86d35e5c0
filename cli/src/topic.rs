//! `runnel topic create | list | describe | delete | alter`.
//!
//! `describe` reads each partition's log start offset, log end offset and
//! high watermark with one ListOffsets and one zero-wait Fetch at the high
//! watermark (the fetch answer carries all three). Size and segment count
//! are not served by the broker yet: JSON shows them as `null`, text as
//! `-`.

use std::collections::BTreeMap;
use std::io::Write;

use runnel_client::{Client, ClientError, ConfigChange, ConfigResource, NewTopic, TopicInfo};
use runnel_protocol::api::fetch::{FetchPartition, FetchRequest, FetchTopic, IsolationLevel};
use runnel_protocol::api::list_offsets::OffsetSpec;
use runnel_protocol::{ApiKey, NodeId};
use serde_json::{Map, Value, json};

use crate::args::{Output, TopicCommand};
use crate::error::{CliError, check_topic_name};

/// One partition as `describe` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionStatus {
    /// Partition number.
    pub partition: u32,
    /// First offset still held.
    pub log_start_offset: i64,
    /// Offset the next record will get.
    pub log_end_offset: i64,
    /// Offset after the last durable record (what consumers can read).
    pub high_watermark: i64,
    /// Bytes on disk; `None` until the broker reports it.
    pub size_bytes: Option<u64>,
    /// Segment files; `None` until the broker reports it.
    pub segments: Option<u64>,
}

/// Runs a topic command against `client`, printing to `out`.
///
/// ```no_run
/// # async fn run() -> Result<(), runnel_cli::error::CliError> {
/// use runnel_cli::args::{Output, TopicCommand};
/// use runnel_client::{Client, ClientConfig};
///
/// let client = Client::connect(ClientConfig::new("127.0.0.1:9170")).await?;
/// let command = TopicCommand::Describe { name: "orders".into() };
/// runnel_cli::topic::run(&client, command, Output::Json, &mut std::io::stdout()).await?;
/// # Ok(())
/// # }
/// ```
pub async fn run(
    client: &Client,
    command: TopicCommand,
    output: Output,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        TopicCommand::Create {
            name,
            partitions,
            configs,
        } => create(client, &name, partitions, configs, output, out).await,
        TopicCommand::List => list(client, output, out).await,
        TopicCommand::Describe { name } => describe(client, &name, output, out).await,
        TopicCommand::Delete { name } => delete(client, &name, output, out).await,
        TopicCommand::Alter {
            name,
            configs,
            delete_configs,
        } => alter(client, &name, configs, delete_configs, output, out).await,
    }
}

/// `topic create`.
async fn create(
    client: &Client,
    name: &str,
    partitions: Option<u32>,
    configs: Vec<(String, String)>,
    output: Output,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    check_topic_name(name)?;
    let topic = NewTopic {
        name: name.to_owned(),
        partitions,
        configs,
    };
    let created = client.create_topic(topic).await?;
    match output {
        Output::Text => writeln!(
            out,
            "created topic {:?} with {} partition{}",
            created.name,
            created.partitions,
            plural(created.partitions as usize)
        )
        .map_err(CliError::Write),
        Output::Json => print_json(
            out,
            &json!({
                "name": created.name,
                "partitions": created.partitions,
                "config": created.configs,
            }),
        ),
    }
}

/// `topic list`.
async fn list(client: &Client, output: Output, out: &mut dyn Write) -> Result<(), CliError> {
    let topics = client.list_topics().await?;
    match output {
        Output::Text => {
            let width = topics
                .iter()
                .map(|t| t.name.len())
                .max()
                .unwrap_or(0)
                .max("TOPIC".len());
            writeln!(out, "{:width$}  PARTITIONS", "TOPIC").map_err(CliError::Write)?;
            for topic in &topics {
                writeln!(out, "{:width$}  {}", topic.name, topic.partition_count())
                    .map_err(CliError::Write)?;
            }
            Ok(())
        }
        Output::Json => {
            let list: Vec<Value> = topics
                .iter()
                .map(|t| json!({ "name": t.name, "partitions": t.partition_count() }))
                .collect();
            print_json(out, &Value::Array(list))
        }
    }
}

/// `topic describe`.
async fn describe(
    client: &Client,
    name: &str,
    output: Output,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    check_topic_name(name)?;
    let info = client
        .describe_topic(name)
        .await
        .map_err(|e| CliError::from(e).about_topic(name))?;
    let partitions = partition_status(client, &info)
        .await
        .map_err(|e| CliError::from(e).about_topic(name))?;
    let config: BTreeMap<String, Option<String>> = client
        .describe_topic_config(name)
        .await
        .map_err(|e| CliError::from(e).about_topic(name))?
        .into_iter()
        .map(|entry| (entry.name, entry.value))
        .collect();
    match output {
        Output::Text => describe_text(name, &partitions, &config, out).map_err(CliError::Write),
        Output::Json => print_json(out, &describe_json(name, &partitions, &config)),
    }
}

/// The JSON of `topic describe --output json`.
pub fn describe_json(
    name: &str,
    partitions: &[PartitionStatus],
    config: &BTreeMap<String, Option<String>>,
) -> Value {
    let partitions: Vec<Value> = partitions
        .iter()
        .map(|p| {
            json!({
                "partition": p.partition,
                "log_start_offset": p.log_start_offset,
                "log_end_offset": p.log_end_offset,
                "high_watermark": p.high_watermark,
                "size_bytes": p.size_bytes,
                "segments": p.segments,
            })
        })
        .collect();
    let config: Map<String, Value> = config
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().map_or(Value::Null, Value::String)))
        .collect();
    json!({ "name": name, "partitions": partitions, "config": config })
}

fn describe_text(
    name: &str,
    partitions: &[PartitionStatus],
    config: &BTreeMap<String, Option<String>>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    writeln!(
        out,
        "topic {name:?}: {} partition{}",
        partitions.len(),
        plural(partitions.len())
    )?;
    let rows: Vec<[String; 6]> = partitions
        .iter()
        .map(|p| {
            let or_dash = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
            [
                p.partition.to_string(),
                p.log_start_offset.to_string(),
                p.log_end_offset.to_string(),
                p.high_watermark.to_string(),
                or_dash(p.size_bytes),
                or_dash(p.segments),
            ]
        })
        .collect();
    let header = [
        "PARTITION",
        "LOG_START",
        "LOG_END",
        "HIGH_WATERMARK",
        "SIZE",
        "SEGMENTS",
    ];
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(String::len)
                .chain(header.get(i).map(|h| h.len()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| -> String {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in &rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    writeln!(out, "config:")?;
    for (key, value) in config {
        writeln!(out, "  {key} = {}", value.as_deref().unwrap_or("(hidden)"))?;
    }
    Ok(())
}

/// Offsets of every partition of the topic.
pub async fn partition_status(
    client: &Client,
    info: &TopicInfo,
) -> Result<Vec<PartitionStatus>, ClientError> {
    let latest = client
        .list_topic_offsets(&info.name, OffsetSpec::Latest)
        .await?;
    let mut by_leader: BTreeMap<Option<NodeId>, Vec<FetchPartition>> = BTreeMap::new();
    for p in &latest {
        let leader = info.partition(p.partition).and_then(|i| i.leader);
        by_leader.entry(leader).or_default().push(FetchPartition {
            partition: p.partition,
            fetch_offset: p.offset.unwrap_or(0),
            partition_max_bytes: 1,
        });
    }
    let mut status = Vec::with_capacity(latest.len());
    for (leader, partitions) in by_leader {
        let connection = match leader {
            Some(node) => client.connection_to(node).await?,
            None => client.connection().await?,
        };
        let request = FetchRequest {
            max_wait_ms: 0,
            min_bytes: 0,
            max_bytes: 1,
            isolation_level: IsolationLevel::ReadUncommitted,
            topics: vec![FetchTopic {
                name: info.name.clone(),
                partitions,
            }],
        };
        let response = connection.call(&request).await?;
        for topic in response.topics {
            for p in topic.partitions {
                runnel_client::BrokerError::check(p.error_code, p.error_message).map_err(|e| {
                    e.about(format!("topic {:?} partition {}", info.name, p.partition.0))
                })?;
                status.push(PartitionStatus {
                    partition: p.partition.0,
                    log_start_offset: p.log_start_offset,
                    log_end_offset: p.log_end_offset,
                    high_watermark: p.high_watermark,
                    size_bytes: None,
                    segments: None,
                });
            }
        }
    }
    status.sort_by_key(|p| p.partition);
    if status.len() != info.partition_count() {
        return Err(ClientError::Protocol {
            api: ApiKey::Fetch,
            addr: client.config().bootstrap.clone(),
            reason: format!(
                "offsets for {} of {} partitions of topic {:?}",
                status.len(),
                info.partition_count(),
                info.name
            ),
        });
    }
    Ok(status)
}

/// `topic delete`.
async fn delete(
    client: &Client,
    name: &str,
    output: Output,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    check_topic_name(name)?;
    client
        .delete_topic(name)
        .await
        .map_err(|e| CliError::from(e).about_topic(name))?;
    match output {
        Output::Text => writeln!(out, "deleted topic {name:?}").map_err(CliError::Write),
        Output::Json => print_json(out, &json!({ "name": name, "deleted": true })),
    }
}

/// `topic alter`.
async fn alter(
    client: &Client,
    name: &str,
    configs: Vec<(String, String)>,
    delete_configs: Vec<String>,
    output: Output,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    check_topic_name(name)?;
    let mut changes: Vec<ConfigChange> = configs
        .into_iter()
        .map(|(k, v)| ConfigChange::Set(k, v))
        .collect();
    changes.extend(delete_configs.into_iter().map(ConfigChange::Reset));
    let summary: Vec<String> = changes
        .iter()
        .map(|c| match c {
            ConfigChange::Set(k, v) => format!("{k}={v}"),
            ConfigChange::Reset(k) => format!("{k} reset to its default"),
        })
        .collect();
    client
        .alter_configs(&ConfigResource::Topic(name.to_owned()), changes, false)
        .await
        .map_err(|e| CliError::from(e).about_topic(name))?;
    match output {
        Output::Text => {
            writeln!(out, "altered topic {name:?}: {}", summary.join(", ")).map_err(CliError::Write)
        }
        Output::Json => {
            let config: Map<String, Value> = client
                .describe_topic_config(name)
                .await?
                .into_iter()
                .map(|e| (e.name, e.value.map_or(Value::Null, Value::String)))
                .collect();
            print_json(out, &json!({ "name": name, "config": config }))
        }
    }
}

/// `"s"` unless `n` is 1.
fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Prints `value` as one line of JSON.
pub fn print_json(out: &mut dyn Write, value: &Value) -> Result<(), CliError> {
    serde_json::to_writer(&mut *out, value)
        .map_err(|e| CliError::Write(std::io::Error::other(e)))?;
    out.write_all(b"\n").map_err(CliError::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_json_has_the_documented_shape() {
        let partitions = [PartitionStatus {
            partition: 0,
            log_start_offset: 0,
            log_end_offset: 3,
            high_watermark: 3,
            size_bytes: None,
            segments: None,
        }];
        let config = BTreeMap::from([("retention.ms".to_owned(), Some("1000".to_owned()))]);
        assert_eq!(
            describe_json("t", &partitions, &config),
            json!({
                "name": "t",
                "partitions": [{
                    "partition": 0, "log_start_offset": 0, "log_end_offset": 3,
                    "high_watermark": 3, "size_bytes": null, "segments": null
                }],
                "config": { "retention.ms": "1000" }
            })
        );
    }

    #[test]
    fn describe_text_is_a_table_then_the_config() {
        let partitions = [PartitionStatus {
            partition: 0,
            log_start_offset: 0,
            log_end_offset: 12,
            high_watermark: 12,
            size_bytes: None,
            segments: None,
        }];
        let config = BTreeMap::from([("cleanup.policy".to_owned(), Some("delete".to_owned()))]);
        let mut out = Vec::new();
        describe_text("t", &partitions, &config, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "topic \"t\": 1 partition\n\
             PARTITION  LOG_START  LOG_END  HIGH_WATERMARK  SIZE  SEGMENTS\n\
             0          0          12       12              -     -\n\
             config:\n  cleanup.policy = delete\n"
        );
    }
}
