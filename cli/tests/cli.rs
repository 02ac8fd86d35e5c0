//! The `runnel` binary end to end against a real broker: topics, produce,
//! consume, output formats, stop conditions, errors and exit codes.

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;

use common::{Broker, DEADLINE, line_reader, terminate, wait};
use serde_json::Value;

/// `n` lines `line-0` ... `line-{n-1}`.
fn lines(n: usize) -> String {
    concat((0..n).map(|i| format!("line-{i}\n")))
}

/// The pieces joined.
fn concat(pieces: impl Iterator<Item = String>) -> String {
    pieces.collect::<Vec<_>>().concat()
}

#[test]
fn produce_then_consume_from_the_beginning_returns_every_line() {
    let broker = Broker::start();
    broker.ok(&["topic", "create", "t", "-p", "1"], b"");
    broker.ok(&["produce", "t"], lines(50).as_bytes());
    let out = broker.ok(&["consume", "t", "--from-beginning", "--exit-at-end"], b"");
    assert_eq!(out, lines(50));
}

#[test]
fn exit_at_end_reading_unflushed_records_stops_at_the_log_end() {
    let broker = Broker::start();
    // Flushed once an hour: the records stay above the high watermark.
    broker.ok(
        &[
            "topic",
            "create",
            "lazy",
            "-p",
            "2",
            "-c",
            "flush.ms=3600000",
        ],
        b"",
    );
    broker.ok(&["produce", "lazy", "-X", "acks=1"], lines(20).as_bytes());
    let durable = broker.ok(
        &["consume", "lazy", "--from-beginning", "--exit-at-end"],
        b"",
    );
    assert_eq!(durable, "", "nothing is durable yet");
    let out = broker.ok(
        &[
            "consume",
            "lazy",
            "--from-beginning",
            "--exit-at-end",
            "-X",
            "isolation.level=read_unflushed",
        ],
        b"",
    );
    let mut got: Vec<&str> = out.lines().collect();
    got.sort_unstable();
    let want = lines(20);
    let mut want: Vec<&str> = want.lines().collect();
    want.sort_unstable();
    assert_eq!(got, want);
}

#[test]
fn bulk_input_is_produced_in_order() {
    let broker = Broker::start();
    broker.ok(&["topic", "create", "bulk", "-p", "1"], b"");
    let input = lines(20_000);
    broker.ok(&["produce", "bulk", "-X", "linger.ms=20"], input.as_bytes());
    let out = broker.ok(
        &["consume", "bulk", "--from-beginning", "--exit-at-end"],
        b"",
    );
    assert_eq!(out, input);
}

#[test]
fn the_last_line_needs_no_newline_and_crlf_is_stripped() {
    let broker = Broker::start();
    broker.ok(&["topic", "create", "t", "-p", "1"], b"");
    broker.ok(&["produce", "t"], b"a\r\nb\n\nc");
    let out = broker.ok(&["consume", "t", "--from-beginning", "--exit-at-end"], b"");
    assert_eq!(out, "a\nb\n\nc\n");
}

#[test]
fn keys_headers_and_partitions_show_in_the_format() {
    let broker = Broker::start();
    broker.ok(&["topic", "create", "t", "-p", "3"], b"");
    broker.ok(
        &[
            "produce",
            "t",
            "--key-separator",
            ":",
            "-p",
            "2",
            "-H",
            "src=test",
            "-H",
            "v=1",
        ],
        b"k1:hello\nk2:a:b\n",
    );
    broker.ok(&["produce", "t", "-k", "fixed", "-p", "0"], b"x\n");
    let out = broker.ok(
        &[
            "consume",
            "t",
            "-p",
            "2",
            "--from-beginning",
            "--exit-at-end",
            "--format",
            "%t|%p|%o|%k|%v|%h",
        ],
        b"",
    );
    assert_eq!(
        out,
        "t|2|0|k1|hello|src=test,v=1\nt|2|1|k2|a:b|src=test,v=1\n"
    );
    let out = broker.ok(
        &[
            "consume",
            "t",
            "-p",
            "0",
            "--from-beginning",
            "--exit-at-end",
            "--format",
            "%k=%v\\t%T",
        ],
        b"",
    );
    let (record, timestamp) = out.trim_end().split_once('\t').unwrap();
    assert_eq!(record, "fixed=x");
    assert!(timestamp.parse::<i64>().unwrap() > 1_600_000_000_000);
}

#[test]
fn a_line_without_the_key_separator_is_an_error() {
    let broker = Broker::start();
    broker.ok(&["topic", "create", "t"], b"");
    let run = broker.run(
        &["produce", "t", "--key-separator", "="],
        b"a=1\nno separator\n",
    );
    assert_eq!(run.code(), Some(1));
    assert_eq!(
        run.stderr,
        "runnel: line 2: no key separator \"=\" in the line\n"
    );
}

#[test]
fn the_same_key_always_lands_on_the_same_partition() {
    let broker = Broker::start();
    broker.ok(&["topic", "create", "t", "-p", "4"], b"");
    let input = concat((0..60).map(|i| format!("key-{}:{i}\n", i % 6)));
    broker.ok(&["produce", "t", "--key-separator", ":"], input.as_bytes());
    let out = broker.ok(
        &[
            "consume",
            "t",
            "--from-beginning",
            "--exit-at-end",
            "--format",
            "%k %p %v",
        ],
        b"",
    );
    let mut partition_of: BTreeMap<String, String> = BTreeMap::new();
    let mut values_of: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for line in out.lines() {
        let mut fields = line.split(' ');
        let (key, partition, value) = (
            fields.next().unwrap().to_owned(),
            fields.next().unwrap().to_owned(),
            fields.next().unwrap().parse().unwrap(),
        );
        let first = partition_of.entry(key.clone()).or_insert(partition.clone());
        assert_eq!(*first, partition, "{key} moved partitions");
        values_of.entry(key).or_default().push(value);
    }
    assert_eq!(values_of.len(), 6);
    for (key, values) in values_of {
        assert_eq!(values.len(), 10, "{key}");
        assert!(values.is_sorted(), "{key} out of order: {values:?}");
    }
}

#[test]
fn every_compression_codec_round_trips() {
    let broker = Broker::start();
    broker.ok(&["topic", "create", "t", "-p", "1"], b"");
    let codecs = ["none", "gzip", "snappy", "lz4", "zstd"];
    let mut expected = String::new();
    for codec in codecs {
        let input =
            concat((0..200).map(|i| format!("{codec} record {i} {}\n", "x".repeat(i % 50))));
        broker.ok(&["produce", "t", "--compression", codec], input.as_bytes());
        expected.push_str(&input);
    }
    let out = broker.ok(&["consume", "t", "--from-beginning", "--exit-at-end"], b"");
    assert_eq!(out, expected);
}

#[test]
fn print_acks_prints_one_partition_and_offset_per_record() {
    let broker = Broker::start();
    broker.ok(&["topic", "create", "t", "-p", "1"], b"");
    let out = broker.ok(&["produce", "t", "--print-acks"], lines(300).as_bytes());
    let expected = concat((0..300).map(|i| format!("0 {i}\n")));
    assert_eq!(out, expected);
    let out = broker.ok(&["produce", "t", "--print-acks", "--acks", "1"], b"a\n");
    assert_eq!(out, "0 300\n");
    let out = broker.ok(&["produce", "t", "--print-acks", "--acks", "0"], b"a\nb\n");
    assert_eq!(out, "0 -1\n0 -1\n");
}

#[test]
fn json_output_parses() {
    let broker = Broker::start();
    let created: Value = serde_json::from_str(&broker.ok(
        &[
            "--output",
            "json",
            "topic",
            "create",
            "t",
            "-p",
            "2",
            "-c",
            "retention.ms=60000",
        ],
        b"",
    ))
    .unwrap();
    assert_eq!(created["name"], "t");
    assert_eq!(created["partitions"], 2);
    assert_eq!(created["config"]["retention.ms"], "60000");
    broker.ok(
        &["produce", "t", "-p", "1", "-k", "key", "-H", "h=x"],
        b"text\n\xff\xfe\n",
    );
    let out = broker.ok(
        &[
            "consume",
            "t",
            "--from-beginning",
            "--exit-at-end",
            "--output",
            "json",
        ],
        b"",
    );
    let records: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    let first = &records[0];
    assert_eq!(first["topic"], "t");
    assert_eq!(first["partition"], 1);
    assert_eq!(first["offset"], 0);
    assert!(first["timestamp"].as_i64().unwrap() > 0);
    assert_eq!(first["key"], "key");
    assert_eq!(first["value"], "text");
    assert_eq!(
        first["headers"],
        serde_json::json!([{"key": "h", "value": "x"}])
    );
    assert_eq!(records[1]["value"], serde_json::json!({"base64": "//4="}));

    let listed: Value =
        serde_json::from_str(&broker.ok(&["topic", "list", "--output", "json"], b"")).unwrap();
    assert_eq!(listed, serde_json::json!([{"name": "t", "partitions": 2}]));

    let described: Value =
        serde_json::from_str(&broker.ok(&["topic", "describe", "t", "--output", "json"], b""))
            .unwrap();
    assert_eq!(described["name"], "t");
    assert_eq!(described["config"]["retention.ms"], "60000");
    let partitions = described["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 2);
    assert_eq!(partitions[1]["partition"], 1);
    assert_eq!(partitions[1]["log_start_offset"], 0);
    assert_eq!(partitions[1]["log_end_offset"], 2);
    assert_eq!(partitions[1]["high_watermark"], 2);
    assert_eq!(partitions[0]["high_watermark"], 0);
    for key in ["size_bytes", "segments"] {
        assert!(partitions[0].get(key).is_some(), "{key} missing");
    }
}

#[test]
fn topics_are_created_listed_altered_and_deleted() {
    let broker = Broker::start();
    assert_eq!(
        broker.ok(&["topic", "create", "orders", "-p", "3"], b""),
        "created topic \"orders\" with 3 partitions\n"
    );
    let run = broker.run(&["topic", "create", "orders"], b"");
    assert_eq!(run.code(), Some(1));
    assert!(
        run.stderr
            .starts_with("runnel: topic \"orders\": TOPIC_ALREADY_EXISTS"),
        "{}",
        run.stderr
    );
    assert_eq!(
        broker.ok(&["topic", "list"], b""),
        "TOPIC   PARTITIONS\norders  3\n"
    );
    broker.ok(
        &["topic", "alter", "orders", "-c", "retention.ms=1000"],
        b"",
    );
    let config = |broker: &Broker| -> Value {
        let out = broker.ok(&["topic", "describe", "orders", "--output", "json"], b"");
        serde_json::from_str::<Value>(&out).unwrap()["config"].clone()
    };
    assert_eq!(config(&broker)["retention.ms"], "1000");
    broker.ok(
        &[
            "topic",
            "alter",
            "orders",
            "--delete-config",
            "retention.ms",
        ],
        b"",
    );
    assert_eq!(config(&broker)["retention.ms"], "604800000");
    let run = broker.run(&["topic", "alter", "orders", "-c", "retention.mss=1"], b"");
    assert_eq!(run.code(), Some(1));
    assert!(run.stderr.contains("retention.mss"), "{}", run.stderr);
    assert_eq!(
        broker.ok(&["topic", "delete", "orders"], b""),
        "deleted topic \"orders\"\n"
    );
    assert_eq!(broker.ok(&["topic", "list"], b""), "TOPIC  PARTITIONS\n");
}

#[test]
fn exit_at_end_stops_at_the_end_seen_at_start() {
    let broker = Broker::start();
    broker.ok(&["topic", "create", "t", "-p", "3"], b"");
    broker.ok(&["produce", "t"], lines(9).as_bytes());
    let out = broker.ok(&["consume", "t", "--from-beginning", "--exit-at-end"], b"");
    let mut got: Vec<&str> = out.lines().collect();
    got.sort_unstable();
    let mut want: Vec<String> = (0..9).map(|i| format!("line-{i}")).collect();
    want.sort();
    assert_eq!(got, want);
    // Without a start flag it starts at the end: nothing to print.
    assert_eq!(broker.ok(&["consume", "t", "--exit-at-end"], b""), "");
    // An empty topic ends at once.
    broker.ok(&["topic", "create", "empty"], b"");
    assert_eq!(
        broker.ok(
            &["consume", "empty", "--from-beginning", "--exit-at-end"],
            b""
        ),
        ""
    );
}

#[test]
fn start_flags_choose_where_reading_begins() {
    let broker = Broker::start();
    broker.ok(&["topic", "create", "t", "-p", "1"], b"");
    broker.ok(&["produce", "t"], lines(10).as_bytes());
    let out = broker.ok(&["consume", "t", "--offset", "7", "--exit-at-end"], b"");
    assert_eq!(out, "line-7\nline-8\nline-9\n");
    let out = broker.ok(&["consume", "t", "--from-time", "0", "-n", "1"], b"");
    assert_eq!(out, "line-0\n");
    let out = broker.ok(
        &[
            "consume",
            "t",
            "--from-time",
            "4000000000000",
            "--exit-at-end",
        ],
        b"",
    );
    assert_eq!(out, "", "a time after every record starts at the end");
    let out = broker.ok(
        &[
            "consume",
            "t",
            "-X",
            "auto.offset.reset=earliest",
            "-n",
            "2",
        ],
        b"",
    );
    assert_eq!(out, "line-0\nline-1\n");
}

#[test]
fn count_stops_after_n_records() {
    let broker = Broker::start();
    broker.ok(&["topic", "create", "t", "-p", "1"], b"");
    broker.ok(&["produce", "t"], lines(10).as_bytes());
    let run = broker.run(&["consume", "t", "--from-beginning", "-n", "3"], b"");
    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, "line-0\nline-1\nline-2\n");
}

#[test]
fn sigterm_stops_a_following_consumer_cleanly() {
    let broker = Broker::start();
    broker.ok(&["topic", "create", "t", "-p", "1"], b"");
    broker.ok(&["produce", "t"], b"before\n");
    let mut child = broker
        .runnel(&["consume", "t", "--from-beginning"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = line_reader(child.stdout.take().unwrap());
    assert_eq!(out.recv_timeout(DEADLINE).unwrap(), "before");
    // It follows new records.
    broker.ok(&["produce", "t"], b"after\n");
    assert_eq!(out.recv_timeout(DEADLINE).unwrap(), "after");
    let stderr = line_reader(child.stderr.take().unwrap());
    terminate(child.id());
    let status = wait(child, DEADLINE).expect("exits after SIGTERM");
    assert_eq!(status.code(), Some(0));
    assert!(stderr.recv_timeout(DEADLINE).is_err(), "nothing on stderr");
}

#[test]
fn an_unreachable_broker_is_one_line_and_exit_1() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    for args in [
        vec!["topic", "list"],
        vec!["produce", "t"],
        vec!["consume", "t"],
    ] {
        let mut command = std::process::Command::new(common::runnel_binary());
        command.args(&args).env("RUNNEL_BROKER", &addr);
        let run = common::run(command, b"x\n");
        assert_eq!(run.code(), Some(1), "{args:?}");
        assert_eq!(
            run.stderr,
            format!("runnel: cannot reach broker at {addr}: connection refused\n"),
            "{args:?}"
        );
    }
}

#[test]
fn an_unknown_topic_is_named_with_the_fix() {
    let broker = Broker::start();
    let expected =
        "runnel: topic \"nope\" does not exist; create it with: runnel topic create nope\n";
    for args in [
        vec!["consume", "nope"],
        vec!["produce", "nope"],
        vec!["topic", "describe", "nope"],
        vec!["topic", "delete", "nope"],
    ] {
        let run = broker.run(&args, b"x\n");
        assert_eq!(run.code(), Some(1), "{args:?}");
        assert_eq!(run.stderr, expected, "{args:?}");
    }
}

#[test]
fn an_invalid_topic_name_states_the_rule() {
    let broker = Broker::start();
    let run = broker.run(&["topic", "create", "no/slash"], b"");
    assert_eq!(run.code(), Some(1));
    assert!(
        run.stderr
            .starts_with("runnel: invalid topic name \"no/slash\": character '/'"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1);
}

#[test]
fn bad_usage_exits_2() {
    let broker = Broker::start();
    broker.ok(&["topic", "create", "t"], b"");
    for args in [
        vec!["--bogus"],
        vec!["consume"],
        vec!["consume", "t", "--from-beginning", "--offset", "1"],
        vec!["consume", "t", "--format", "%q"],
        vec!["produce", "t", "--acks", "2"],
        vec!["topic", "create", "t", "-c", "no-equals-sign"],
    ] {
        let run = broker.run(&args, b"");
        assert_eq!(run.code(), Some(2), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn an_unknown_setting_exits_2_naming_it_and_the_known_ones() {
    let broker = Broker::start();
    broker.ok(&["topic", "create", "t"], b"");
    let run = broker.run(&["consume", "t", "-X", "fetch.max.wait=5"], b"");
    assert_eq!(run.code(), Some(2));
    assert!(
        run.stderr.starts_with(
            "runnel: -X fetch.max.wait=5: unknown setting \"fetch.max.wait\"; consumer settings are"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("fetch.max.wait.ms"));
    let run = broker.run(&["produce", "t", "-X", "linger=5"], b"");
    assert_eq!(run.code(), Some(2));
    assert!(
        run.stderr.contains("producer settings are acks, linger.ms"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_group_resumes_from_its_committed_offsets() {
    let broker = Broker::start();
    broker.ok(&["topic", "create", "t", "-p", "2"], b"");
    broker.ok(&["produce", "t", "-p", "0"], lines(10).as_bytes());
    let first = broker.ok(
        &[
            "consume",
            "t",
            "-g",
            "billing",
            "--from-beginning",
            "-n",
            "4",
        ],
        b"",
    );
    assert_eq!(first, lines(4));
    // The next member starts where the last one stopped: records read but
    // not printed were not committed.
    let second = broker.ok(&["consume", "t", "-g", "billing", "-n", "3"], b"");
    assert_eq!(second, "line-4\nline-5\nline-6\n");
    let rest = broker.ok(&["consume", "t", "-g", "billing", "--exit-at-end"], b"");
    assert_eq!(rest, "line-7\nline-8\nline-9\n");
    // Another group has its own offsets.
    let other = broker.ok(
        &[
            "consume",
            "t",
            "-g",
            "audit",
            "--from-beginning",
            "--exit-at-end",
        ],
        b"",
    );
    assert_eq!(other, lines(10));
}

#[test]
fn group_flags_that_pick_partitions_or_offsets_exit_2() {
    let broker = Broker::start();
    for args in [
        vec!["consume", "t", "-g", "g", "-p", "0"],
        vec!["consume", "t", "-g", "g", "--offset", "3"],
        vec!["consume", "t", "-g", "g", "--from-time", "0"],
    ] {
        let run = broker.run(&args, b"");
        assert_eq!(run.code(), Some(2), "{args:?}");
        assert_eq!(
            run.stderr,
            format!("runnel: {}\n", runnel_cli::consume::GROUP_CONFLICT)
        );
    }
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let run = common::run(
            {
                let mut c = std::process::Command::new(common::runnel_binary());
                c.args(["completions", shell]);
                c
            },
            b"",
        );
        assert_eq!(run.code(), Some(0));
        assert!(run.stdout.contains("consume"), "{shell}");
    }
}
