//! `runnel group list | describe | delete | reset-offsets`.
//!
//! Group calls go to the group's coordinator, found with FindCoordinator.
//! `describe` shows what the broker computes in DescribeGroups: members
//! with their assignments, and per partition the committed offset, the log
//! end offset (high watermark), the lag in records and the time lag (age of
//! the oldest unconsumed record). `reset-offsets` commits from outside the
//! group (member id `""`, epoch -1), which the broker accepts only while
//! the group has no members; the command checks first so that it can say
//! so in one readable line, and prints its plan without changing anything
//! unless `--execute` is given.

use std::io::Write;

use runnel_client::{BrokerError, Client, ClientError, Connection};
use runnel_protocol::api::delete_groups::DeleteGroupsRequest;
use runnel_protocol::api::describe_groups::{
    DescribeGroupsRequest, DescribedGroup, DescribedMember, GroupPartitionOffset,
};
use runnel_protocol::api::find_coordinator::{CoordinatorKeyType, FindCoordinatorRequest};
use runnel_protocol::api::list_groups::ListGroupsRequest;
use runnel_protocol::api::list_offsets::OffsetSpec;
use runnel_protocol::api::offset_commit::{
    NO_MEMBER_EPOCH, OffsetCommitPartition, OffsetCommitRequest, OffsetCommitTopic,
};
use runnel_protocol::api::offset_fetch::{OffsetFetchRequest, OffsetFetchTopic};
use runnel_protocol::{ApiKey, ErrorCode, PartitionId};
use serde_json::{Value, json};

use crate::args::{GroupCommand, Output, ResetTo};
use crate::error::{CliError, check_topic_name};
use crate::topic::print_json;

/// Runs a group command against `client`, printing to `out`.
///
/// ```no_run
/// # async fn run() -> Result<(), runnel_cli::error::CliError> {
/// use runnel_cli::args::{GroupCommand, Output};
/// use runnel_client::{Client, ClientConfig};
///
/// let client = Client::connect(ClientConfig::new("127.0.0.1:9170")).await?;
/// let command = GroupCommand::Describe { group: "billing".into() };
/// runnel_cli::group::run(&client, command, Output::Json, &mut std::io::stdout()).await?;
/// # Ok(())
/// # }
/// ```
pub async fn run(
    client: &Client,
    command: GroupCommand,
    output: Output,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        GroupCommand::List => list(client, output, out).await,
        GroupCommand::Describe { group } => describe(client, &group, output, out).await,
        GroupCommand::Delete { group } => delete(client, &group, output, out).await,
        GroupCommand::ResetOffsets {
            group,
            topic,
            to,
            execute,
        } => {
            let to = to.reset_to()?;
            reset_offsets(client, &group, &topic, to, execute, output, out).await
        }
    }
}

/// A connection to the broker coordinating `group`.
async fn coordinator(client: &Client, group: &str) -> Result<Connection, CliError> {
    let mut answer = client
        .call(&FindCoordinatorRequest {
            key_type: CoordinatorKeyType::Group,
            keys: vec![group.to_owned()],
        })
        .await?;
    let found = answer
        .coordinators
        .pop()
        .ok_or_else(|| missing(client, ApiKey::FindCoordinator, group))?;
    BrokerError::check(found.error_code, found.error_message)
        .map_err(|e| ClientError::Broker(e.about(format!("group {group:?}"))))?;
    let bootstrap = &client.config().bootstrap;
    let host = match found.host.as_str() {
        "" | "0.0.0.0" | "::" | "[::]" => bootstrap
            .rsplit_once(':')
            .map_or(bootstrap.as_str(), |(host, _)| host)
            .to_owned(),
        host if host.contains(':') && !host.starts_with('[') => format!("[{host}]"),
        host => host.to_owned(),
    };
    Ok(client
        .connection_to_addr(&format!("{host}:{}", found.port))
        .await?)
}

/// The error for an answer that lacks the group asked about.
fn missing(client: &Client, api: ApiKey, group: &str) -> ClientError {
    ClientError::Protocol {
        api,
        addr: client.config().bootstrap.clone(),
        reason: format!("no answer for group {group:?}"),
    }
}

/// `group list`.
async fn list(client: &Client, output: Output, out: &mut dyn Write) -> Result<(), CliError> {
    let groups = client.call(&ListGroupsRequest::default()).await?.groups;
    match output {
        Output::Text => {
            let rows: Vec<Vec<String>> = groups
                .iter()
                .map(|g| {
                    vec![
                        g.group_id.clone(),
                        g.group_state.clone(),
                        g.member_count.to_string(),
                    ]
                })
                .collect();
            write_table(out, &["GROUP", "STATE", "MEMBERS"], &rows).map_err(CliError::Write)
        }
        Output::Json => {
            let list: Vec<Value> = groups
                .iter()
                .map(|g| {
                    json!({ "group": g.group_id, "state": g.group_state, "members": g.member_count })
                })
                .collect();
            print_json(out, &Value::Array(list))
        }
    }
}

/// The group as DescribeGroups tells it; `None` when it does not exist.
async fn described(client: &Client, group: &str) -> Result<Option<DescribedGroup>, CliError> {
    let connection = coordinator(client, group).await?;
    let mut answer = connection
        .call(&DescribeGroupsRequest {
            group_ids: vec![group.to_owned()],
        })
        .await?;
    let described = answer
        .groups
        .pop()
        .ok_or_else(|| missing(client, ApiKey::DescribeGroups, group))?;
    if described.error_code == ErrorCode::GroupIdNotFound {
        return Ok(None);
    }
    BrokerError::check(described.error_code, described.error_message.clone())
        .map_err(|e| ClientError::Broker(e.about(format!("group {group:?}"))))?;
    Ok(Some(described))
}

/// `group describe`.
async fn describe(
    client: &Client,
    group: &str,
    output: Output,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let described = described(client, group)
        .await?
        .ok_or_else(|| CliError::UnknownGroup {
            group: group.to_owned(),
        })?;
    match output {
        Output::Text => describe_text(&described, out).map_err(CliError::Write),
        Output::Json => print_json(out, &describe_json(&described)),
    }
}

/// `-1` (unknown) as JSON null.
fn known(value: i64) -> Value {
    if value < 0 { Value::Null } else { json!(value) }
}

/// `-1` (unknown) as `-`.
fn known_text(value: i64) -> String {
    if value < 0 {
        "-".to_owned()
    } else {
        value.to_string()
    }
}

/// The JSON of `group describe --output json`: `{"group", "state",
/// "members": [{"member_id", "client_id", "assignment": [{"topic",
/// "partition"}]}], "offsets": [{"topic", "partition", "committed",
/// "log_end_offset", "lag", "time_lag_ms", "error"}]}`; unknown figures are
/// null, and `error` says why (`CODE: message`) when the broker did.
pub fn describe_json(group: &DescribedGroup) -> Value {
    let members: Vec<Value> = group
        .members
        .iter()
        .map(|m| {
            let assignment: Vec<Value> = assigned(m)
                .map(|(topic, partition)| json!({ "topic": topic, "partition": partition.0 }))
                .collect();
            json!({
                "member_id": m.member_id,
                "client_id": m.client_id,
                "assignment": assignment,
            })
        })
        .collect();
    let offsets: Vec<Value> = offsets(group)
        .map(|(topic, p)| {
            json!({
                "topic": topic,
                "partition": p.partition.0,
                "committed": known(p.committed_offset),
                "log_end_offset": known(p.log_end_offset),
                "lag": known(p.lag),
                "time_lag_ms": known(p.time_lag_ms),
                "error": partition_error(p),
            })
        })
        .collect();
    json!({
        "group": group.group_id,
        "state": group.group_state,
        "members": members,
        "offsets": offsets,
    })
}

/// Why a partition's figures are unknown (`CODE: message`), if the broker
/// said.
fn partition_error(p: &GroupPartitionOffset) -> Option<String> {
    if p.error_code.is_ok() {
        return None;
    }
    Some(match &p.error_message {
        Some(message) => format!("{}: {message}", p.error_code.name()),
        None => p.error_code.name().to_owned(),
    })
}

/// Every partition a member owns, by topic then partition.
fn assigned(member: &DescribedMember) -> impl Iterator<Item = (&str, PartitionId)> {
    member
        .assignment
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.topic.as_str(), *p)))
}

/// Every partition's offsets, by topic then partition.
fn offsets(group: &DescribedGroup) -> impl Iterator<Item = (&str, &GroupPartitionOffset)> {
    group
        .offsets
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.topic.as_str(), p)))
}

/// A time lag for people: `-`, `0ms`, `1.5s`, `3m12s`.
fn time_lag_text(ms: i64) -> String {
    if ms < 0 {
        return "-".to_owned();
    }
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    let secs = ms / 1_000;
    if secs < 60 {
        return format!("{secs}.{}s", (ms % 1_000) / 100);
    }
    if secs < 3_600 {
        return format!("{}m{}s", secs / 60, secs % 60);
    }
    format!("{}h{}m", secs / 3_600, (secs % 3_600) / 60)
}

fn describe_text(group: &DescribedGroup, out: &mut dyn Write) -> std::io::Result<()> {
    let count = group.members.len();
    writeln!(
        out,
        "group {:?}: {}, {count} member{} (assignor {}, epoch {})",
        group.group_id,
        group.group_state,
        plural(count),
        if group.assignor_name.is_empty() {
            "-"
        } else {
            &group.assignor_name
        },
        group.group_epoch
    )?;
    if !group.members.is_empty() {
        let rows: Vec<Vec<String>> = group
            .members
            .iter()
            .map(|m| {
                vec![
                    m.member_id.clone(),
                    m.client_id.clone(),
                    m.client_host.clone(),
                    assignment_text(m),
                ]
            })
            .collect();
        writeln!(out)?;
        write_table(out, &["MEMBER", "CLIENT_ID", "HOST", "ASSIGNMENT"], &rows)?;
    }
    let rows: Vec<Vec<String>> = offsets(group)
        .map(|(topic, p)| {
            vec![
                topic.to_owned(),
                p.partition.0.to_string(),
                known_text(p.committed_offset),
                known_text(p.log_end_offset),
                known_text(p.lag),
                time_lag_text(p.time_lag_ms),
            ]
        })
        .collect();
    if !rows.is_empty() {
        writeln!(out)?;
        write_table(
            out,
            &[
                "TOPIC",
                "PARTITION",
                "COMMITTED",
                "LOG_END",
                "LAG",
                "TIME_LAG",
            ],
            &rows,
        )?;
    }
    for (topic, p) in offsets(group) {
        if let Some(error) = partition_error(p) {
            writeln!(out, "{topic} partition {}: {error}", p.partition.0)?;
        }
    }
    Ok(())
}

/// `orders:0,1,2 payments:4`, or `-` for none.
fn assignment_text(member: &DescribedMember) -> String {
    let parts: Vec<String> = member
        .assignment
        .iter()
        .filter(|t| !t.partitions.is_empty())
        .map(|t| {
            let partitions: Vec<String> = t.partitions.iter().map(|p| p.0.to_string()).collect();
            format!("{}:{}", t.topic, partitions.join(","))
        })
        .collect();
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join(" ")
    }
}

/// `group delete`.
async fn delete(
    client: &Client,
    group: &str,
    output: Output,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let connection = coordinator(client, group).await?;
    let mut answer = connection
        .call(&DeleteGroupsRequest {
            group_ids: vec![group.to_owned()],
        })
        .await?;
    let result = answer
        .results
        .pop()
        .ok_or_else(|| missing(client, ApiKey::DeleteGroups, group))?;
    match result.error_code {
        ErrorCode::NonEmptyGroup => {
            let members = described(client, group)
                .await
                .ok()
                .flatten()
                .map(|g| g.members.len());
            return Err(CliError::GroupNotEmpty {
                group: group.to_owned(),
                members,
                action: "deleting it",
            });
        }
        ErrorCode::GroupIdNotFound => {
            return Err(CliError::UnknownGroup {
                group: group.to_owned(),
            });
        }
        _ => {}
    }
    BrokerError::check(result.error_code, result.error_message)
        .map_err(|e| ClientError::Broker(e.about(format!("group {group:?}"))))?;
    match output {
        Output::Text => writeln!(out, "deleted group {group:?}").map_err(CliError::Write),
        Output::Json => print_json(out, &json!({ "group": group, "deleted": true })),
    }
}

/// Where `reset-offsets` moves the committed offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTarget {
    /// The log start offset.
    Earliest,
    /// The high watermark.
    Latest,
    /// This offset, kept within the log start offset and the high
    /// watermark.
    Offset(i64),
    /// The first record at or after this time (ms since the epoch); the
    /// high watermark when there is none.
    Time(i64),
}

/// One partition of a `reset-offsets` plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedReset {
    /// Partition number.
    pub partition: u32,
    /// The group's committed offset now; `None` when nothing is committed.
    pub current: Option<i64>,
    /// The offset to commit.
    pub new: i64,
}

/// The new offset of one partition: `target` resolved against the
/// partition's log start offset and high watermark, and, for a time, the
/// offset found for it (`None`: no record at or after the time).
pub fn new_offset(target: ResetTarget, earliest: i64, latest: i64, by_time: Option<i64>) -> i64 {
    match target {
        ResetTarget::Earliest => earliest,
        ResetTarget::Latest => latest,
        ResetTarget::Offset(n) => n.clamp(earliest, latest.max(earliest)),
        ResetTarget::Time(_) => by_time.unwrap_or(latest),
    }
}

/// `group reset-offsets`.
async fn reset_offsets(
    client: &Client,
    group: &str,
    topic: &str,
    target: ResetTarget,
    execute: bool,
    output: Output,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    check_topic_name(topic)?;
    if let Some(live) = described(client, group).await?
        && !live.members.is_empty()
    {
        return Err(CliError::GroupNotEmpty {
            group: group.to_owned(),
            members: Some(live.members.len()),
            action: "resetting its offsets",
        });
    }
    let info = client
        .topic(topic)
        .await
        .map_err(|e| CliError::from(e).about_topic(topic))?;
    let partitions: Vec<PartitionId> = info.partitions.iter().map(|p| p.partition).collect();
    let earliest = client
        .list_topic_offsets(topic, OffsetSpec::Earliest)
        .await?;
    let latest = client.list_topic_offsets(topic, OffsetSpec::Latest).await?;
    let by_time = match target {
        ResetTarget::Time(ms) => Some(
            client
                .list_topic_offsets(topic, OffsetSpec::Timestamp(ms))
                .await?,
        ),
        _ => None,
    };
    let connection = coordinator(client, group).await?;
    let committed = connection
        .call(&OffsetFetchRequest {
            group_id: group.to_owned(),
            member_id: String::new(),
            member_epoch: NO_MEMBER_EPOCH,
            topics: Some(vec![OffsetFetchTopic {
                name: topic.to_owned(),
                partitions: partitions.clone(),
            }]),
        })
        .await?;
    BrokerError::check(committed.error_code, committed.error_message)
        .map_err(|e| ClientError::Broker(e.about(format!("group {group:?}"))))?;
    let current_of = |partition: PartitionId| {
        committed
            .topics
            .iter()
            .filter(|t| t.name == topic)
            .flat_map(|t| &t.partitions)
            .find(|p| p.partition == partition)
            .map(|p| p.committed_offset)
            .filter(|offset| *offset >= 0)
    };
    let offset_of = |list: &[runnel_client::PartitionOffset], partition: PartitionId| {
        list.iter()
            .find(|p| p.partition == partition)
            .and_then(|p| p.offset)
    };
    let plan: Vec<PlannedReset> = partitions
        .iter()
        .map(|&partition| {
            let start = offset_of(&earliest, partition).unwrap_or(0);
            let end = offset_of(&latest, partition).unwrap_or(start);
            let found = by_time
                .as_deref()
                .and_then(|list| offset_of(list, partition));
            PlannedReset {
                partition: partition.0,
                current: current_of(partition),
                new: new_offset(target, start, end, found),
            }
        })
        .collect();
    if execute {
        commit_plan(&connection, group, topic, &plan).await?;
    }
    match output {
        Output::Text => reset_text(group, topic, &plan, execute, out).map_err(CliError::Write),
        Output::Json => print_json(out, &reset_json(group, topic, &plan, execute)),
    }
}

/// Commits `plan` from outside the group.
async fn commit_plan(
    connection: &Connection,
    group: &str,
    topic: &str,
    plan: &[PlannedReset],
) -> Result<(), CliError> {
    let answer = connection
        .call(&OffsetCommitRequest {
            group_id: group.to_owned(),
            member_id: String::new(),
            member_epoch: NO_MEMBER_EPOCH,
            topics: vec![OffsetCommitTopic {
                name: topic.to_owned(),
                partitions: plan
                    .iter()
                    .map(|p| OffsetCommitPartition {
                        partition: PartitionId(p.partition),
                        committed_offset: p.new,
                        committed_metadata: None,
                    })
                    .collect(),
            }],
        })
        .await?;
    for p in answer.topics.into_iter().flat_map(|t| t.partitions) {
        if p.error_code == ErrorCode::UnknownMemberId {
            // A member joined between the check and the commit.
            return Err(CliError::GroupNotEmpty {
                group: group.to_owned(),
                members: None,
                action: "resetting its offsets",
            });
        }
        BrokerError::check(p.error_code, p.error_message).map_err(|e| {
            ClientError::Broker(e.about(format!(
                "group {group:?} topic {topic:?} partition {}",
                p.partition.0
            )))
        })?;
    }
    Ok(())
}

/// The JSON of `reset-offsets --output json`: `{"group", "topic",
/// "executed", "partitions": [{"partition", "current", "new"}]}`, with
/// `current` null where nothing was committed.
pub fn reset_json(group: &str, topic: &str, plan: &[PlannedReset], executed: bool) -> Value {
    let partitions: Vec<Value> = plan
        .iter()
        .map(|p| json!({ "partition": p.partition, "current": p.current, "new": p.new }))
        .collect();
    json!({
        "group": group,
        "topic": topic,
        "executed": executed,
        "partitions": partitions,
    })
}

fn reset_text(
    group: &str,
    topic: &str,
    plan: &[PlannedReset],
    executed: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let rows: Vec<Vec<String>> = plan
        .iter()
        .map(|p| {
            vec![
                topic.to_owned(),
                p.partition.to_string(),
                p.current.map_or_else(|| "-".to_owned(), |c| c.to_string()),
                p.new.to_string(),
            ]
        })
        .collect();
    write_table(out, &["TOPIC", "PARTITION", "CURRENT", "NEW"], &rows)?;
    if executed {
        writeln!(out, "committed the new offsets of group {group:?}")
    } else {
        writeln!(
            out,
            "nothing changed: add --execute to commit these offsets for group {group:?}"
        )
    }
}

/// Writes `header` and `rows` as left-aligned columns two spaces apart.
fn write_table(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let widths: Vec<usize> = header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(String::len)
                .chain(std::iter::once(h.len()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
        cells
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    writeln!(out, "{}", line(&mut header.iter().copied()))?;
    for row in rows {
        writeln!(out, "{}", line(&mut row.iter().map(String::as_str)))?;
    }
    Ok(())
}

/// `"s"` unless `n` is 1.
fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

impl ResetTo {
    /// The one target the flags name.
    pub fn reset_to(&self) -> Result<ResetTarget, CliError> {
        match (
            self.to_earliest,
            self.to_latest,
            self.to_offset,
            self.to_time,
        ) {
            (true, false, None, None) => Ok(ResetTarget::Earliest),
            (false, true, None, None) => Ok(ResetTarget::Latest),
            (false, false, Some(n), None) => Ok(ResetTarget::Offset(n)),
            (false, false, None, Some(t)) => Ok(ResetTarget::Time(t)),
            _ => Err(CliError::Usage(
                "give exactly one of --to-earliest, --to-latest, --to-offset, --to-time".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnel_protocol::api::consumer_group_heartbeat::TopicPartitions;
    use runnel_protocol::api::describe_groups::GroupOffsetsTopic;

    fn sample() -> DescribedGroup {
        DescribedGroup {
            group_id: "billing".into(),
            group_state: "Stable".into(),
            group_epoch: 3,
            assignment_epoch: 3,
            assignor_name: "uniform".into(),
            members: vec![DescribedMember {
                member_id: "m1".into(),
                client_id: "app".into(),
                client_host: "/127.0.0.1".into(),
                assignment: vec![TopicPartitions {
                    topic: "orders".into(),
                    partitions: vec![PartitionId(0), PartitionId(1)],
                }],
                ..DescribedMember::default()
            }],
            offsets: vec![GroupOffsetsTopic {
                topic: "orders".into(),
                partitions: vec![
                    GroupPartitionOffset {
                        partition: PartitionId(0),
                        committed_offset: 5,
                        log_end_offset: 8,
                        lag: 3,
                        time_lag_ms: 1_500,
                        ..GroupPartitionOffset::default()
                    },
                    GroupPartitionOffset {
                        partition: PartitionId(1),
                        committed_offset: -1,
                        log_end_offset: 2,
                        lag: -1,
                        time_lag_ms: -1,
                        ..GroupPartitionOffset::default()
                    },
                    GroupPartitionOffset {
                        partition: PartitionId(2),
                        error_code: ErrorCode::UnknownTopicOrPartition,
                        error_message: Some("topic \"orders\" has no partition 2".into()),
                        committed_offset: 4,
                        log_end_offset: -1,
                        lag: -1,
                        time_lag_ms: -1,
                        ..GroupPartitionOffset::default()
                    },
                ],
            }],
            ..DescribedGroup::default()
        }
    }

    #[test]
    fn describe_json_has_the_documented_shape() {
        assert_eq!(
            describe_json(&sample()),
            json!({
                "group": "billing",
                "state": "Stable",
                "members": [{
                    "member_id": "m1",
                    "client_id": "app",
                    "assignment": [
                        { "topic": "orders", "partition": 0 },
                        { "topic": "orders", "partition": 1 }
                    ]
                }],
                "offsets": [
                    { "topic": "orders", "partition": 0, "committed": 5,
                      "log_end_offset": 8, "lag": 3, "time_lag_ms": 1500, "error": null },
                    { "topic": "orders", "partition": 1, "committed": null,
                      "log_end_offset": 2, "lag": null, "time_lag_ms": null, "error": null },
                    { "topic": "orders", "partition": 2, "committed": 4,
                      "log_end_offset": null, "lag": null, "time_lag_ms": null,
                      "error": "UNKNOWN_TOPIC_OR_PARTITION: topic \"orders\" has no partition 2" }
                ]
            })
        );
    }

    #[test]
    fn describe_text_shows_members_then_offsets() {
        let mut out = Vec::new();
        describe_text(&sample(), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "group \"billing\": Stable, 1 member (assignor uniform, epoch 3)\n\
             \n\
             MEMBER  CLIENT_ID  HOST        ASSIGNMENT\n\
             m1      app        /127.0.0.1  orders:0,1\n\
             \n\
             TOPIC   PARTITION  COMMITTED  LOG_END  LAG  TIME_LAG\n\
             orders  0          5          8        3    1.5s\n\
             orders  1          -          2        -    -\n\
             orders  2          4          -        -    -\n\
             orders partition 2: UNKNOWN_TOPIC_OR_PARTITION: topic \"orders\" has no partition 2\n"
        );
    }

    #[test]
    fn new_offsets_follow_the_target_within_the_log() {
        assert_eq!(new_offset(ResetTarget::Earliest, 4, 10, None), 4);
        assert_eq!(new_offset(ResetTarget::Latest, 4, 10, None), 10);
        assert_eq!(new_offset(ResetTarget::Offset(7), 4, 10, None), 7);
        assert_eq!(new_offset(ResetTarget::Offset(1), 4, 10, None), 4);
        assert_eq!(new_offset(ResetTarget::Offset(99), 4, 10, None), 10);
        assert_eq!(new_offset(ResetTarget::Time(5), 4, 10, Some(6)), 6);
        assert_eq!(new_offset(ResetTarget::Time(5), 4, 10, None), 10);
    }

    #[test]
    fn time_lags_read_for_people() {
        assert_eq!(time_lag_text(-1), "-");
        assert_eq!(time_lag_text(0), "0ms");
        assert_eq!(time_lag_text(1_540), "1.5s");
        assert_eq!(time_lag_text(192_000), "3m12s");
        assert_eq!(time_lag_text(7_260_000), "2h1m");
    }

    #[test]
    fn reset_plans_print_as_a_table_and_say_whether_anything_changed() {
        let plan = [PlannedReset {
            partition: 0,
            current: None,
            new: 3,
        }];
        let mut out = Vec::new();
        reset_text("g", "t", &plan, false, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("TOPIC  PARTITION  CURRENT  NEW\nt      0          -        3\n"));
        assert!(text.contains("nothing changed"), "{text}");
        assert_eq!(
            reset_json("g", "t", &plan, true),
            json!({ "group": "g", "topic": "t", "executed": true,
                    "partitions": [{ "partition": 0, "current": null, "new": 3 }] })
        );
    }
}
