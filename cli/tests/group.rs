//! `runnel group` against the real broker: list, describe (text and the
//! documented JSON shape), delete, reset-offsets (plan, refusal while
//! members are live, execution picked up by the next member).

mod common;

use std::process::Stdio;

use common::{Broker, DEADLINE, line_reader, terminate, wait};
use serde_json::Value;

/// `n` lines `line-0` ... `line-{n-1}`.
fn lines(n: usize) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    for i in 0..n {
        let _ = writeln!(text, "line-{i}");
    }
    text
}

/// A topic `t` with 6 records in partition 0 and 4 in partition 1, and a
/// group `billing` that consumed and committed all of them.
fn consumed_group() -> Broker {
    let broker = Broker::start();
    broker.ok(&["topic", "create", "t", "-p", "2"], b"");
    broker.ok(&["produce", "t", "-p", "0"], lines(6).as_bytes());
    broker.ok(&["produce", "t", "-p", "1"], lines(4).as_bytes());
    let read = broker.ok(
        &[
            "consume",
            "t",
            "-g",
            "billing",
            "--from-beginning",
            "--exit-at-end",
        ],
        b"",
    );
    assert_eq!(read.lines().count(), 10);
    broker
}

fn describe_json(broker: &Broker, group: &str) -> Value {
    let text = broker.ok(&["group", "describe", group, "--output", "json"], b"");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// `(partition, committed)` pairs of `describe --output json`.
fn committed(described: &Value) -> Vec<(u64, Value)> {
    described["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["partition"].as_u64().unwrap(), o["committed"].clone()))
        .collect()
}

#[test]
fn list_and_describe_show_the_group_and_its_lag() {
    let broker = consumed_group();
    broker.ok(&["produce", "t", "-p", "1"], b"late-1\nlate-2\n");

    let list = broker.ok(&["group", "list"], b"");
    let rows: Vec<Vec<&str>> = list
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["GROUP", "STATE", "MEMBERS"],
            vec!["billing", "Empty", "0"]
        ]
    );
    let json: Value =
        serde_json::from_str(&broker.ok(&["group", "list", "--output", "json"], b"")).unwrap();
    assert_eq!(
        json,
        serde_json::json!([{ "group": "billing", "state": "Empty", "members": 0 }])
    );

    let described = describe_json(&broker, "billing");
    let object = described.as_object().unwrap();
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["group", "members", "offsets", "state"]);
    assert_eq!(described["group"], "billing");
    assert_eq!(described["state"], "Empty");
    assert_eq!(described["members"], serde_json::json!([]));
    let offsets = described["offsets"].as_array().unwrap();
    assert_eq!(offsets.len(), 2);
    for offset in offsets {
        let mut keys: Vec<&str> = offset
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "committed",
                "error",
                "lag",
                "log_end_offset",
                "partition",
                "time_lag_ms",
                "topic"
            ]
        );
        assert_eq!(offset["topic"], "t");
    }
    let p0 = &offsets[0];
    assert_eq!(
        (p0["partition"].as_u64(), p0["committed"].as_i64()),
        (Some(0), Some(6))
    );
    assert_eq!(
        (p0["log_end_offset"].as_i64(), p0["lag"].as_i64()),
        (Some(6), Some(0))
    );
    assert_eq!(p0["time_lag_ms"].as_i64(), Some(0));
    let p1 = &offsets[1];
    assert_eq!(
        (p1["committed"].as_i64(), p1["log_end_offset"].as_i64()),
        (Some(4), Some(6))
    );
    assert_eq!(p1["lag"].as_i64(), Some(2));
    assert!(p1["time_lag_ms"].as_i64().is_some(), "{p1}");

    let text = broker.ok(&["group", "describe", "billing"], b"");
    assert!(
        text.starts_with("group \"billing\": Empty, 0 members"),
        "{text}"
    );
    assert!(
        text.contains("TOPIC  PARTITION  COMMITTED  LOG_END  LAG  TIME_LAG"),
        "{text}"
    );
    let row: Vec<&str> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.starts_with(&["t", "1"]))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(row[..5], ["t", "1", "4", "6", "2"]);

    let unknown = broker.run(&["group", "describe", "nobody"], b"");
    assert_eq!(unknown.code(), Some(1));
    assert_eq!(unknown.stderr, "runnel: group \"nobody\" does not exist\n");
}

#[test]
fn reset_offsets_prints_a_plan_and_changes_nothing_without_execute() {
    let broker = consumed_group();
    let plan = broker.ok(
        &[
            "group",
            "reset-offsets",
            "billing",
            "--topic",
            "t",
            "--to-earliest",
        ],
        b"",
    );
    let rows: Vec<Vec<&str>> = plan
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["TOPIC", "PARTITION", "CURRENT", "NEW"]);
    assert_eq!(rows[1], ["t", "0", "6", "0"]);
    assert_eq!(rows[2], ["t", "1", "4", "0"]);
    assert!(plan.contains("nothing changed"), "{plan}");
    let after = describe_json(&broker, "billing");
    assert_eq!(
        committed(&after),
        [(0, Value::from(6)), (1, Value::from(4))]
    );

    // --to-time 0 means the earliest record; --to-offset is kept in the log.
    let json: Value = serde_json::from_str(&broker.ok(
        &[
            "group",
            "reset-offsets",
            "billing",
            "--topic",
            "t",
            "--to-offset",
            "5",
            "--output",
            "json",
        ],
        b"",
    ))
    .unwrap();
    assert_eq!(
        json,
        serde_json::json!({ "group": "billing", "topic": "t", "executed": false, "partitions": [
            { "partition": 0, "current": 6, "new": 5 },
            { "partition": 1, "current": 4, "new": 4 },
        ]})
    );
    let by_time = broker.ok(
        &[
            "group",
            "reset-offsets",
            "billing",
            "--topic",
            "t",
            "--to-time",
            "1970-01-01T00:00:00Z",
        ],
        b"",
    );
    assert!(
        by_time
            .lines()
            .any(|l| l.split_whitespace().eq(["t", "0", "6", "0"])),
        "{by_time}"
    );
    let usage = broker.run(&["group", "reset-offsets", "billing", "--topic", "t"], b"");
    assert_eq!(usage.code(), Some(2));
}

#[test]
fn executed_reset_is_where_the_next_member_starts() {
    let broker = consumed_group();
    let done = broker.ok(
        &[
            "group",
            "reset-offsets",
            "billing",
            "--topic",
            "t",
            "--to-offset",
            "3",
            "--execute",
        ],
        b"",
    );
    assert!(done.contains("committed the new offsets"), "{done}");
    assert_eq!(
        committed(&describe_json(&broker, "billing")),
        [(0, Value::from(3)), (1, Value::from(3))]
    );
    let again = broker.ok(
        &[
            "consume",
            "t",
            "-g",
            "billing",
            "--exit-at-end",
            "--format",
            "%p %o",
        ],
        b"",
    );
    let mut got: Vec<&str> = again.lines().collect();
    got.sort_unstable();
    assert_eq!(got, ["0 3", "0 4", "0 5", "1 3"]);

    broker.ok(
        &[
            "group",
            "reset-offsets",
            "billing",
            "--topic",
            "t",
            "--to-latest",
            "--execute",
        ],
        b"",
    );
    let none = broker.ok(&["consume", "t", "-g", "billing", "--exit-at-end"], b"");
    assert_eq!(none, "");
}

#[test]
fn live_members_block_reset_and_delete_until_they_leave() {
    let broker = consumed_group();
    let mut member = broker.runnel(&["consume", "t", "-g", "billing", "--format", "%p %o"]);
    let mut child = member
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let output = line_reader(child.stdout.take().unwrap());
    // Once it prints a new record it has joined and owns both partitions.
    broker.ok(&["produce", "t", "-p", "0"], b"new\n");
    assert_eq!(output.recv_timeout(DEADLINE).unwrap(), "0 6");

    let described = describe_json(&broker, "billing");
    let members = described["members"].as_array().unwrap();
    assert_eq!(members.len(), 1);
    let member = members[0].as_object().unwrap();
    let mut keys: Vec<&str> = member.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["assignment", "client_id", "member_id"]);
    assert_eq!(
        member["assignment"],
        serde_json::json!([{ "topic": "t", "partition": 0 }, { "topic": "t", "partition": 1 }])
    );
    let text = broker.ok(&["group", "describe", "billing"], b"");
    assert!(text.contains("t:0,1"), "{text}");

    let reset = broker.run(
        &[
            "group",
            "reset-offsets",
            "billing",
            "--topic",
            "t",
            "--to-earliest",
            "--execute",
        ],
        b"",
    );
    assert_eq!(reset.code(), Some(1));
    assert_eq!(
        reset.stderr,
        "runnel: group \"billing\" has 1 live member; stop its consumers (or wait for their \
         sessions to time out) before resetting its offsets\n"
    );
    let delete = broker.run(&["group", "delete", "billing"], b"");
    assert_eq!(delete.code(), Some(1));
    assert_eq!(delete.stderr.lines().count(), 1, "{}", delete.stderr);
    assert!(delete.stderr.contains("live member"), "{}", delete.stderr);
    assert!(
        broker.ok(&["group", "list"], b"").contains("billing"),
        "nothing was deleted"
    );

    terminate(child.id());
    assert!(wait(child, DEADLINE).is_some_and(|s| s.success()));
    assert_eq!(
        broker.ok(&["group", "delete", "billing"], b""),
        "deleted group \"billing\"\n"
    );
    assert_eq!(
        broker.ok(&["group", "list"], b""),
        "GROUP  STATE  MEMBERS\n"
    );
    let gone = broker.run(&["group", "delete", "billing"], b"");
    assert_eq!(gone.code(), Some(1));
    assert_eq!(gone.stderr, "runnel: group \"billing\" does not exist\n");
}

#[test]
fn describe_says_why_a_partitions_lag_is_unknown() {
    let broker = consumed_group();
    broker.ok(&["topic", "delete", "t"], b"");
    let described = describe_json(&broker, "billing");
    let offsets = described["offsets"].as_array().unwrap();
    assert!(!offsets.is_empty(), "{described}");
    for offset in offsets {
        assert!(offset["lag"].is_null(), "{offset}");
        let error = offset["error"].as_str().unwrap_or_default();
        assert!(error.starts_with("UNKNOWN_TOPIC_OR_PARTITION"), "{offset}");
    }
    let text = broker.ok(&["group", "describe", "billing"], b"");
    assert!(
        text.contains("t partition 0: UNKNOWN_TOPIC_OR_PARTITION"),
        "{text}"
    );
}
