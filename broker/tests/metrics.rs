//! Black-box tests of the metrics listener: a real broker is driven through
//! the protocol, then `/metrics` is scraped, parsed strictly and checked
//! against exactly what was done; `promtool check metrics` must accept the
//! scrape; the Grafana dashboard and `docs/METRICS.md` must name only
//! families the broker exports.

// Sample values are counts and offsets far below 2^52, exactly
// representable, so comparing them as floats is exact.
#![allow(
    clippy::float_cmp,
    clippy::cast_precision_loss,
    clippy::many_single_char_names
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Broker, batch};
use runnel_broker::metrics::names::{FAMILIES, Kind};
use runnel_protocol::ErrorCode;
use runnel_protocol::api::produce::Acks;

/// One parsed sample.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A scrape, parsed.
#[derive(Debug, Default)]
struct Scrape {
    /// Family name → type.
    types: BTreeMap<String, String>,
    /// Family name → help.
    helps: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

impl Scrape {
    /// Parses the text exposition format strictly: every sample belongs to
    /// a family declared by a `# TYPE` line before it, label syntax and
    /// escapes are checked, values are numbers.
    fn parse(text: &str) -> Scrape {
        let mut s = Scrape::default();
        for (n, line) in text.lines().enumerate() {
            let at = || format!("line {}: {line:?}", n + 1);
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("{}", at()));
                assert!(valid_name(name), "{}", at());
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                    "{}",
                    at()
                );
                assert!(
                    s.types.insert(name.to_owned(), kind.to_owned()).is_none(),
                    "family declared twice: {}",
                    at()
                );
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or_else(|| panic!("{}", at()));
                s.helps.insert(name.to_owned(), help.to_owned());
                continue;
            }
            assert!(!line.starts_with('#') || line.starts_with("# "), "{}", at());
            if line.starts_with('#') {
                continue;
            }
            let sample = parse_sample(line).unwrap_or_else(|| panic!("malformed sample: {}", at()));
            let family = family_of(&s.types, &sample.name)
                .unwrap_or_else(|| panic!("sample of an undeclared family: {}", at()));
            assert!(s.helps.contains_key(family), "no HELP: {}", at());
            s.samples.push(sample);
        }
        s
    }

    /// The value of the sample `name` with exactly these labels.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .map(|s| s.value)
    }

    /// Like [`Scrape::value`], but the sample must exist.
    #[track_caller]
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
            .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
    }

    /// Every sample of `name`.
    fn all(&self, name: &str) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.name == name).collect()
    }

    /// Checks a histogram's buckets are cumulative, end with `+Inf` equal
    /// to the count, and returns the count.
    #[track_caller]
    fn histogram_count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        assert_eq!(self.types.get(name).map(String::as_str), Some("histogram"));
        let count = self.get(&format!("{name}_count"), labels);
        let sum = self.get(&format!("{name}_sum"), labels);
        assert!(sum >= 0.0);
        let bucket = format!("{name}_bucket");
        let mut buckets: Vec<(f64, f64)> = self
            .all(&bucket)
            .into_iter()
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(v))
                    && s.labels.len() == labels.len() + 1
            })
            .map(|s| {
                let le = &s.labels["le"];
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                };
                (bound, s.value)
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(buckets.len() > 2, "{name}: too few buckets");
        assert!(
            buckets.windows(2).all(|w| w[0].1 <= w[1].1),
            "{name}: not cumulative"
        );
        assert_eq!(buckets.last().map(|b| b.0), Some(f64::INFINITY));
        assert_eq!(
            buckets.last().map(|b| b.1),
            Some(count),
            "{name}: +Inf != count"
        );
        count
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// The declared family a sample name belongs to (histograms add suffixes).
fn family_of<'a>(types: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    if let Some((k, _)) = types.get_key_value(name) {
        return Some(k);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        let (k, kind) = types.get_key_value(base)?;
        (kind == "histogram" || kind == "summary").then_some(k.as_str())
    })
}

fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = &line[..name_end];
    if !valid_name(name) {
        return None;
    }
    let (labels, rest) = match line[name_end..].strip_prefix('{') {
        Some(inner) => parse_labels(inner)?,
        None => (BTreeMap::new(), &line[name_end..]),
    };
    let mut parts = rest.strip_prefix(' ')?.split(' ');
    let value = match parts.next()? {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    if let Some(ts) = parts.next() {
        ts.parse::<i64>().ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Parses `name="value",...}` (after the `{`); returns the labels and what
/// follows the `}`.
fn parse_labels(mut rest: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let eq = rest.find('=')?;
        let key = &rest[..eq];
        if !valid_name(key) || key.contains(':') {
            return None;
        }
        let mut value = String::new();
        let mut chars = rest[eq + 1..].char_indices();
        if chars.next()?.1 != '"' {
            return None;
        }
        let close = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    _ => return None,
                },
                '"' => break eq + 1 + i + 1,
                '\n' => return None,
                c => value.push(c),
            }
        };
        if labels.insert(key.to_owned(), value).is_some() {
            return None; // a label given twice
        }
        rest = &rest[close..];
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return None;
        }
    }
}

fn scrape(broker: &Broker) -> (String, Scrape) {
    let (status, body) = broker.http_get("/metrics");
    assert_eq!(status, 200, "{body}");
    let parsed = Scrape::parse(&body);
    (body, parsed)
}

/// Runs `promtool check metrics` on `text`. Without promtool, fails under
/// CI (`CI` set) and otherwise skips loudly.
fn promtool_check(text: &str) {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/local/bin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join("promtool"))
        .find(|p| p.is_file());
    let Some(promtool) = found else {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool not found, and CI is set: .ci/run installs it from Debian's prometheus package"
        );
        eprintln!(
            "\n!!!!! SKIPPING `promtool check metrics`: promtool is not installed \
             (.ci/run installs it; see .ci/run) !!!!!\n"
        );
        return;
    };
    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn health_answers_ok_once_the_broker_serves() {
    let broker = Broker::start();
    assert_eq!(broker.http_get("/health"), (200, "ok\n".to_owned()));
    assert_eq!(broker.http_get("/nope").0, 404);
}

#[test]
#[allow(clippy::too_many_lines)] // one scenario, checked metric by metric
fn metrics_move_by_exactly_what_was_produced_and_consumed() {
    let broker = Broker::start();
    let mut c = broker.connect();
    assert_eq!(c.create_topic("m", 2, &[]).0, ErrorCode::None);

    // Partition 0: three acks=all batches of 4; partition 1: one acks=1
    // batch of 5.
    let mut bytes = [0u64; 2];
    for i in 0..3 {
        let b = batch(1_000 + i, &["a", "b", "c", "d"]);
        bytes[0] += b.len() as u64;
        let r = c.produce("m", 0, b, Acks::All);
        assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::None);
    }
    let b = batch(2_000, &["v", "w", "x", "y", "z"]);
    bytes[1] += b.len() as u64;
    let r = c.produce("m", 1, b, Acks::Leader);
    assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::None);
    // One failure.
    let r = c.produce("nope", 0, batch(0, &["x"]), Acks::All);
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ErrorCode::UnknownTopicOrPartition
    );

    // Consume everything once; partition 1 waits until its batch is durable.
    let f0 = c.fetch("m", 0, 0, 5_000, 1);
    assert_eq!(f0.topics[0].partitions[0].records.len() as u64, bytes[0]);
    let f1 = c.fetch("m", 1, 0, 5_000, u32::try_from(bytes[1]).unwrap());
    assert_eq!(f1.topics[0].partitions[0].records.len() as u64, bytes[1]);
    // A fetch from inside the last batch (offsets 8..12) re-sends it:
    // counted as traffic, not as another delivery.
    let again = c.fetch("m", 0, 9, 0, 0);
    let resent = again.topics[0].partitions[0].records.len() as u64;
    assert!(resent > 0);

    let (text, s) = scrape(&broker);
    let t = [("topic", "m")];
    assert_eq!(s.get("runnel_messages_in_total", &t), 17.0);
    assert_eq!(
        s.get("runnel_bytes_in_total", &t),
        (bytes[0] + bytes[1]) as f64
    );
    assert_eq!(s.get("runnel_messages_out_total", &t), 17.0 + 4.0);
    assert_eq!(
        s.get("runnel_bytes_out_total", &t),
        (bytes[0] + bytes[1] + resent) as f64
    );
    assert_eq!(
        s.get(
            "runnel_requests_total",
            &[("api", "produce"), ("error", "NONE")]
        ),
        4.0
    );
    assert_eq!(
        s.get(
            "runnel_requests_total",
            &[("api", "produce"), ("error", "UNKNOWN_TOPIC_OR_PARTITION")]
        ),
        1.0
    );
    assert_eq!(
        s.get(
            "runnel_requests_total",
            &[("api", "create_topics"), ("error", "NONE")]
        ),
        1.0
    );
    assert_eq!(
        s.get(
            "runnel_requests_total",
            &[("api", "fetch"), ("error", "NONE")]
        ),
        3.0
    );
    assert_eq!(
        s.histogram_count("runnel_request_duration_seconds", &[("api", "produce")]),
        5.0
    );
    assert_eq!(
        s.histogram_count("runnel_request_duration_seconds", &[("api", "fetch")]),
        3.0
    );
    assert_eq!(
        s.histogram_count("runnel_produce_queue_duration_seconds", &[]),
        5.0
    );
    assert_eq!(
        s.histogram_count("runnel_produce_append_duration_seconds", &[]),
        5.0
    );
    assert!(s.histogram_count("runnel_log_flush_duration_seconds", &[]) >= 2.0);
    // Four batches delivered for the first time; the re-sent one is not
    // counted again.
    assert_eq!(
        s.histogram_count("runnel_delivery_latency_seconds", &[]),
        4.0
    );

    for (p, end, size) in [("0", 12.0, bytes[0]), ("1", 5.0, bytes[1])] {
        let l = [("topic", "m"), ("partition", p)];
        assert_eq!(s.get("runnel_log_start_offset", &l), 0.0);
        assert_eq!(s.get("runnel_log_end_offset", &l), end);
        assert_eq!(s.get("runnel_log_high_watermark", &l), end);
        assert_eq!(s.get("runnel_log_size_bytes", &l), size as f64);
        assert_eq!(s.get("runnel_log_segments", &l), 1.0);
        assert_eq!(s.get("runnel_log_unflushed_bytes", &l), 0.0);
        assert_eq!(s.get("runnel_log_durability_lag_seconds", &l), 0.0);
    }
    assert_eq!(s.get("runnel_log_fenced_partitions", &[]), 0.0);
    assert_eq!(s.get("runnel_topics", &[]), 1.0);
    assert_eq!(s.get("runnel_partitions", &[]), 2.0);
    assert_eq!(s.get("runnel_partitions_opened_total", &[]), 2.0);
    assert_eq!(s.get("runnel_connections", &[]), 1.0);
    assert_eq!(s.get("runnel_connections_opened_total", &[]), 1.0);
    assert!(s.get("runnel_recovery_duration_seconds", &[]) >= 0.0);
    let build = s.all("runnel_build_info");
    assert_eq!(build.len(), 1);
    assert_eq!(build[0].value, 1.0);
    assert_eq!(build[0].labels["version"], env!("CARGO_PKG_VERSION"));
    assert!(!build[0].labels["commit"].is_empty());

    // A log holds one descriptor, its active segment's; the indexes are
    // opened only to write a batch of entries. Two partitions and the group
    // coordinator's log make three.
    assert_eq!(s.get("runnel_storage_open_files", &[]), 3.0);
    assert!(s.get("runnel_storage_maps", &[]) >= 2.0);
    assert!(s.get("runnel_storage_mapped_bytes", &[]) > 0.0);
    assert!(s.get("runnel_storage_fsyncs_total", &[]) >= 2.0);
    assert!(s.get("runnel_process_memory_maps", &[]) > 0.0);
    assert!(s.get("runnel_process_memory_maps_limit", &[]) > 0.0);
    assert!(s.get("process_resident_memory_bytes", &[]) > 0.0);
    assert!(s.get("process_cpu_seconds_total", &[]) >= 0.0); // 10 ms ticks
    assert!(s.get("process_open_fds", &[]) > 0.0);
    assert!(s.get("process_start_time_seconds", &[]) > 1.5e9);

    promtool_check(&text);

    // A second scrape sees the same counters (scraping changes nothing).
    let (_, again) = scrape(&broker);
    assert_eq!(again.get("runnel_messages_in_total", &t), 17.0);
}

#[test]
fn without_per_partition_metrics_storage_is_summed_per_topic() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start_with_env(
        dir.path(),
        &[],
        &[("RUNNEL_METRICS_PER_PARTITION", "false")],
    );
    let mut c = broker.connect();
    assert_eq!(c.create_topic("agg", 3, &[]).0, ErrorCode::None);
    c.produce("agg", 0, batch(0, &["a", "b"]), Acks::All);
    c.produce("agg", 2, batch(0, &["c"]), Acks::All);
    let (text, s) = scrape(&broker);
    let t = [("topic", "agg")];
    assert_eq!(s.get("runnel_log_end_offset", &t), 3.0);
    assert_eq!(s.get("runnel_log_high_watermark", &t), 3.0);
    assert_eq!(s.get("runnel_log_segments", &t), 3.0);
    assert!(
        s.samples
            .iter()
            .filter(|x| x.name.starts_with("runnel_log_"))
            .all(|x| !x.labels.contains_key("partition")),
        "a partition label leaked"
    );
    promtool_check(&text);
}

#[test]
fn group_metrics_report_members_lag_and_rebalances() {
    use runnel_protocol::PartitionId;
    use runnel_protocol::api::consumer_group_heartbeat::ConsumerGroupHeartbeatRequest;
    use runnel_protocol::api::offset_commit::{
        OffsetCommitPartition, OffsetCommitRequest, OffsetCommitTopic,
    };

    let broker = Broker::start();
    let mut c = broker.connect();
    assert_eq!(c.create_topic("gt", 2, &[]).0, ErrorCode::None);
    // Four records produced 5 s ago, in one batch.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let ts = i64::try_from(now).unwrap() - 5_000;
    c.produce("gt", 0, batch(ts, &["a", "b", "c", "d"]), Acks::All);
    let joined = c.call(&ConsumerGroupHeartbeatRequest {
        group_id: "g".to_owned(),
        subscribed_topic_names: Some(vec!["gt".to_owned()]),
        owned_partitions: Some(Vec::new()),
        ..ConsumerGroupHeartbeatRequest::default()
    });
    assert_eq!(joined.error_code, ErrorCode::None, "{joined:?}");
    let committed = c.call(&OffsetCommitRequest {
        group_id: "g".to_owned(),
        member_id: joined.member_id.clone(),
        member_epoch: joined.member_epoch,
        topics: vec![OffsetCommitTopic {
            name: "gt".to_owned(),
            partitions: vec![OffsetCommitPartition {
                partition: PartitionId(0),
                committed_offset: 1,
                committed_metadata: None,
            }],
        }],
    });
    assert_eq!(
        committed.topics[0].partitions[0].error_code,
        ErrorCode::None
    );

    let (text, s) = scrape(&broker);
    let g = [("group", "g")];
    assert_eq!(s.get("runnel_consumer_groups", &[]), 1.0);
    assert_eq!(s.get("runnel_consumer_group_members", &g), 1.0);
    assert!(s.get("runnel_consumer_group_rebalances_total", &g) >= 1.0);
    let p0 = [("group", "g"), ("topic", "gt"), ("partition", "0")];
    assert_eq!(s.get("runnel_consumer_group_lag", &p0), 3.0);
    let age = s.get("runnel_consumer_group_lag_seconds", &p0);
    assert!((5.0..60.0).contains(&age), "lag of {age} s");
    promtool_check(&text);
}

/// Metric names in a PromQL expression: identifiers that start with
/// `runnel_` or `process_`.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in expr.chars().chain([' ']) {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            current.push(c);
        } else {
            if (current.starts_with("runnel_") || current.starts_with("process_"))
                && !out.contains(&current)
            {
                out.push(current.clone());
            }
            current.clear();
        }
    }
    out
}

fn collect_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                if k == "expr"
                    && let Some(s) = v.as_str()
                {
                    out.push(s.to_owned());
                }
                collect_exprs(v, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

/// The family a series name belongs to in [`FAMILIES`].
fn documented_family(series: &str) -> Option<&'static str> {
    FAMILIES.iter().map(|f| f.name).find(|f| {
        *f == series
            || ["_bucket", "_sum", "_count"]
                .iter()
                .any(|suffix| series.strip_suffix(suffix) == Some(f))
    })
}

/// Families that appear only once a group exists.
fn needs_groups(name: &str) -> bool {
    name.starts_with("runnel_consumer_group_")
}

#[test]
fn docs_and_dashboard_name_exactly_the_families_the_broker_exports() {
    // docs/METRICS.md lists every family with its type and labels.
    let doc = std::fs::read_to_string(repo_root().join("docs/METRICS.md")).unwrap();
    let mut documented = BTreeSet::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(name) = cells
            .get(1)
            .and_then(|c| c.strip_prefix('`'))
            .and_then(|c| c.strip_suffix('`'))
            .filter(|n| n.starts_with("runnel_") || n.starts_with("process_"))
        else {
            continue;
        };
        let f = FAMILIES
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("METRICS.md lists unknown {name}"));
        assert_eq!(cells.get(2).copied(), Some(f.kind.as_str()), "{name} type");
        let labels = f
            .labels
            .iter()
            .map(|l| format!("`{l}`"))
            .collect::<Vec<_>>()
            .join(", ");
        assert_eq!(
            cells.get(3).copied(),
            Some(labels.as_str()),
            "{name} labels"
        );
        documented.insert(name);
    }
    for f in FAMILIES {
        assert!(documented.contains(f.name), "METRICS.md lacks {}", f.name);
    }

    // A running broker exports every documented family (group families
    // need a coordinator) and nothing undocumented, with the same types.
    let broker = Broker::start();
    let mut c = broker.connect();
    c.create_topic("d", 1, &[]);
    c.produce("d", 0, batch(0, &["x"]), Acks::All);
    c.fetch("d", 0, 0, 0, 0);
    let (_, s) = scrape(&broker);
    for (name, kind) in &s.types {
        let f = FAMILIES
            .iter()
            .find(|f| f.name == name.as_str())
            .unwrap_or_else(|| panic!("{name} is exported but not in names.rs/METRICS.md"));
        assert_eq!(kind, f.kind.as_str(), "{name}");
    }
    for f in FAMILIES {
        if !needs_groups(f.name) {
            assert!(s.types.contains_key(f.name), "{} is not exported", f.name);
        }
    }
    for f in FAMILIES.iter().filter(|f| f.kind == Kind::Counter) {
        assert!(f.name.ends_with("_total"));
    }

    // Every metric the dashboard queries is documented (and so exported).
    let path = repo_root().join("deploy/grafana/runnel-dashboard.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).expect("valid JSON");
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 10, "the dashboard has few queries");
    let mut used = BTreeSet::new();
    for expr in &exprs {
        for name in metric_names(expr) {
            let family =
                documented_family(&name).unwrap_or_else(|| panic!("{expr}: unknown {name}"));
            used.insert(family);
        }
    }
    for must in [
        "runnel_bytes_in_total",
        "runnel_request_duration_seconds",
        "runnel_log_durability_lag_seconds",
        "runnel_consumer_group_lag",
        "runnel_log_size_bytes",
    ] {
        assert!(used.contains(must), "the dashboard does not show {must}");
    }
}

#[test]
fn metric_names_are_found_in_promql() {
    assert_eq!(
        metric_names(
            "histogram_quantile(0.99, sum by (le, api) (rate(runnel_request_duration_seconds_bucket{api=~\"produce\"}[5m])))"
        ),
        vec!["runnel_request_duration_seconds_bucket"]
    );
    assert_eq!(
        documented_family("runnel_request_duration_seconds_bucket"),
        Some("runnel_request_duration_seconds")
    );
    assert_eq!(documented_family("runnel_nope_bucket"), None);
}

#[test]
fn the_scrape_parser_rejects_malformed_text() {
    assert!(parse_sample("a_b{x=\"1\",y=\"q\\\"\"} 2").is_some());
    assert!(parse_sample("a_b{x=\"1\",} 2").is_some());
    assert!(parse_sample("a_b 1 1700000000000").is_some());
    assert!(parse_sample("a_b{x=\"1\" 2").is_none());
    assert!(parse_sample("a_b{x=1} 2").is_none());
    assert!(parse_sample("a_b{x=\"1\",x=\"2\"} 2").is_none());
    assert!(parse_sample("9ab 2").is_none());
    assert!(parse_sample("a_b two").is_none());
    assert!(parse_sample("a_b{x=\"\\q\"} 2").is_none());
}

#[test]
fn log_format_json_writes_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_runnel-broker"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .args(["--log-format", "json"])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let message = v["fields"]["message"].as_str().unwrap_or("").to_owned();
        seen.push(message.clone());
        if message == "listening" {
            assert!(v["fields"]["addr"].as_str().is_some());
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    // The startup lines, in this order (others may come between).
    let mut expected = [
        "starting",
        "metrics listening",
        "recovery complete",
        "listening",
    ]
    .into_iter()
    .peekable();
    for message in &seen {
        if expected.peek() == Some(&message.as_str()) {
            expected.next();
        }
    }
    assert_eq!(expected.next(), None, "{seen:?}");
}

#[test]
fn print_config_reflects_the_log_format_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_runnel-broker"))
        .args(["--print-config", "--log-format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("log_format = \"json\""), "{text}");
    assert!(
        text.contains("metrics_listen = \"127.0.0.1:9171\""),
        "{text}"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_runnel-broker"))
        .args(["--print-config", "--log-format", "xml"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "bad usage");
}

#[test]
fn no_metrics_serves_health_but_not_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start_in(dir.path(), &["--no-metrics"]);
    assert_eq!(broker.http_get("/health").0, 200);
    assert_eq!(broker.http_get("/metrics").0, 404);
}
