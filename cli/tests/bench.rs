//! `runnel bench` end to end against a real broker: every mode finishes a
//! small run and reports figures that add up.

mod common;

use common::Broker;
use serde_json::Value;

/// Runs `runnel --output json bench ARGS` and parses the summary.
fn bench(broker: &Broker, args: &[&str]) -> Value {
    let mut full = vec!["--output", "json", "bench"];
    full.extend_from_slice(args);
    let out = broker.ok(&full, b"");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// The fields every summary has, with sane values for `count` records of
/// `size` bytes.
fn check_summary(v: &Value, count: u64, size: u64, timed: bool) {
    assert_eq!(v["messages"].as_u64(), Some(count), "{v}");
    assert_eq!(v["bytes"].as_u64(), Some(count * size), "{v}");
    let seconds = v["seconds"].as_f64().unwrap();
    assert!(seconds > 0.0 && seconds < 60.0, "{v}");
    assert!(v["msgs_per_sec"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["mb_per_sec"].as_f64().unwrap() > 0.0, "{v}");
    let latency = &v["latency_ms"];
    let mut previous = 0.0;
    for key in ["p50", "p90", "p99", "p999", "max"] {
        let value = latency[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key}: {v}"));
        assert!(value >= previous, "{key} below the previous quantile: {v}");
        previous = value;
    }
    if timed {
        assert!(latency["p50"].as_f64().unwrap() > 0.0, "{v}");
        assert_eq!(v["latency_samples"].as_u64(), Some(count), "{v}");
    }
}

#[test]
fn produce_reports_every_record_with_its_latency() {
    let broker = Broker::start();
    let v = bench(
        &broker,
        &[
            "produce",
            "--topic",
            "p",
            "--partitions",
            "2",
            "--count",
            "2000",
            "--message-size",
            "100",
            "--producers",
            "2",
            "--warmup",
            "100",
        ],
    );
    check_summary(&v, 2000, 100, true);
    assert_eq!(v["settings"]["partitions"], 2);
}

#[test]
fn produce_with_acks_all_and_compression_completes() {
    let broker = Broker::start();
    let v = bench(
        &broker,
        &[
            "produce",
            "--count",
            "500",
            "--acks",
            "all",
            "--compression",
            "lz4",
            "--linger-ms",
            "1",
            "--batch-size",
            "16384",
        ],
    );
    check_summary(&v, 500, 1024, true);
}

#[test]
fn fixed_rate_mode_completes_at_about_the_rate() {
    let broker = Broker::start();
    let v = bench(
        &broker,
        &[
            "produce",
            "--count",
            "400",
            "--rate",
            "2000",
            "--message-size",
            "64",
        ],
    );
    check_summary(&v, 400, 64, true);
    // 400 records at 2000/s take about 0.2 s; never much less.
    assert!(v["seconds"].as_f64().unwrap() > 0.15, "{v}");
    assert!(v["msgs_per_sec"].as_f64().unwrap() < 2700.0, "{v}");
}

#[test]
fn consume_fills_the_topic_then_reads_the_count() {
    let broker = Broker::start();
    let v = bench(
        &broker,
        &[
            "consume",
            "--topic",
            "c",
            "--partitions",
            "3",
            "--consumers",
            "2",
            "--count",
            "3000",
            "--message-size",
            "200",
        ],
    );
    check_summary(&v, 3000, 200, false);
}

#[test]
fn consume_as_a_group_reads_the_count() {
    let broker = Broker::start();
    let v = bench(
        &broker,
        &[
            "consume",
            "--topic",
            "g",
            "--partitions",
            "4",
            "--consumers",
            "2",
            "--group",
            "bench-g",
            "--count",
            "2000",
            "--message-size",
            "50",
        ],
    );
    check_summary(&v, 2000, 50, false);
}

#[test]
fn e2e_times_every_measured_record() {
    let broker = Broker::start();
    let v = bench(
        &broker,
        &[
            "e2e",
            "--topic",
            "e",
            "--partitions",
            "2",
            "--count",
            "1000",
            "--message-size",
            "100",
            "--warmup",
            "100",
        ],
    );
    check_summary(&v, 1000, 100, true);
}

#[test]
fn e2e_at_a_fixed_rate_with_a_group_completes() {
    let broker = Broker::start();
    let v = bench(
        &broker,
        &[
            "e2e",
            "--topic",
            "eg",
            "--partitions",
            "2",
            "--consumers",
            "2",
            "--group",
            "bench-e2e",
            "--count",
            "300",
            "--rate",
            "3000",
            "--message-size",
            "100",
        ],
    );
    check_summary(&v, 300, 100, true);
}

#[test]
fn the_text_summary_is_a_table() {
    let broker = Broker::start();
    let out = broker.ok(&["bench", "produce", "--count", "100"], b"");
    assert!(out.contains("msgs/s"), "{out}");
    assert!(out.contains("p99.9"), "{out}");
}

#[test]
fn a_setting_neither_side_knows_is_refused() {
    let broker = Broker::start();
    let run = broker.run(
        &["bench", "produce", "--count", "10", "-X", "linger.msec=5"],
        b"",
    );
    assert_eq!(run.code(), Some(2), "{}", run.stderr);
    let line = run.stderr.trim();
    assert!(line.starts_with("runnel: -X linger.msec=5:"), "{line}");
    // The list names both sides' settings.
    assert!(
        line.contains("linger.ms") && line.contains("fetch.max.wait.ms"),
        "{line}"
    );
    // Settings of either side are taken.
    let v = bench(
        &broker,
        &[
            "produce",
            "--count",
            "10",
            "-X",
            "linger.ms=1",
            "-X",
            "fetch.max.wait.ms=100",
        ],
    );
    check_summary(&v, 10, 1024, true);
    // ...and printed with the figures, so a summary says how it was made.
    assert_eq!(v["settings"]["config"]["linger.ms"], "1", "{v}");
    assert_eq!(v["settings"]["config"]["fetch.max.wait.ms"], "100", "{v}");
}
