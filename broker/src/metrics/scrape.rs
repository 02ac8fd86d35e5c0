//! [`Telemetry`]: what the metrics listener serves — the recorder's
//! families, the families computed at scrape time, and the health state.
//!
//! Per-partition gauges are computed here, by walking the topic registry
//! when `/metrics` is requested, so the append path pays nothing for them.
//! With `metrics_per_partition = false` they are aggregated per topic and
//! carry no `partition` label: offsets, sizes, segment counts and unflushed
//! bytes are summed, the durability lag is the maximum; consumer-group lag
//! likewise (records summed, seconds the maximum).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use metrics_exporter_prometheus::PrometheusHandle;

use super::groups::{self, GroupMetricsSource};
use super::names::{self, Family};
use super::process;
use super::text::{TextWriter, Value};
use crate::clock::now_ms;
use crate::context::BrokerContext;
use crate::storage::stats;
use crate::topics::TopicRegistry;

/// Whether the broker serves, as `/health` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Recovering the logs or binding the listener: not yet serving.
    Starting,
    /// Recovery finished and the native listener is bound.
    Ready,
    /// Shutdown has begun: no new connections.
    ShuttingDown,
}

impl Health {
    fn from_u8(v: u8) -> Health {
        match v {
            1 => Health::Ready,
            2 => Health::ShuttingDown,
            _ => Health::Starting,
        }
    }

    const fn as_u8(self) -> u8 {
        match self {
            Health::Starting => 0,
            Health::Ready => 1,
            Health::ShuttingDown => 2,
        }
    }
}

/// The metrics listener's state. Shared by the server (which moves the
/// health along and attaches the broker once it is up) and the HTTP
/// listener (which renders scrapes and answers health checks).
#[derive(Debug)]
pub struct Telemetry {
    /// The installed recorder's handle; `None` when metrics are disabled,
    /// and then `/metrics` answers 404.
    prometheus: Option<PrometheusHandle>,
    /// `metrics_per_partition`: label per-partition families with their
    /// partition, or aggregate them per topic.
    per_partition: bool,
    /// [`Health`] as a number, read without a lock by health checks.
    health: AtomicU8,
    /// The broker, once recovery finished; scrapes before that report only
    /// the process and the recorder's families.
    broker: OnceLock<Arc<BrokerContext>>,
    /// The group coordinator, once it registers.
    groups: RwLock<Option<Arc<dyn GroupMetricsSource>>>,
}

impl Telemetry {
    /// `prometheus` is the handle of the installed recorder (`None`:
    /// metrics disabled).
    pub fn new(prometheus: Option<PrometheusHandle>, per_partition: bool) -> Self {
        Telemetry {
            prometheus,
            per_partition,
            health: AtomicU8::new(Health::Starting.as_u8()),
            broker: OnceLock::new(),
            groups: RwLock::new(None),
        }
    }

    /// Whether metrics are collected and served.
    pub fn enabled(&self) -> bool {
        self.prometheus.is_some()
    }

    /// The health state.
    pub fn health(&self) -> Health {
        Health::from_u8(self.health.load(Ordering::Acquire))
    }

    /// Moves the health state.
    pub fn set_health(&self, health: Health) {
        self.health.store(health.as_u8(), Ordering::Release);
    }

    /// Makes the broker's topics visible to scrapes (once; later calls are
    /// ignored).
    pub fn attach(&self, broker: Arc<BrokerContext>) {
        let _ = self.broker.set(broker);
    }

    /// Registers the group coordinator, replacing any earlier one.
    pub fn set_group_source(&self, source: Arc<dyn GroupMetricsSource>) {
        *self
            .groups
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(source);
    }

    /// Drains the recorder's histogram samples into their buckets, so
    /// memory stays bounded between scrapes. Run it every few seconds.
    pub fn run_upkeep(&self) {
        if let Some(p) = &self.prometheus {
            p.run_upkeep();
        }
    }

    /// The text exposition of every family, or `None` when metrics are
    /// disabled. Reads `/proc` and walks every partition: call it on a
    /// blocking thread.
    pub fn render(&self) -> Option<String> {
        let prometheus = self.prometheus.as_ref()?;
        let mut out = prometheus.render();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        let now = now_ms();
        let mut w = TextWriter::new(&mut out);
        if let Some(broker) = self.broker.get() {
            write_partitions(&mut w, &broker.topics, self.per_partition, now);
            let source = self
                .groups
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            if let Some(source) = source {
                write_groups(
                    &mut w,
                    &broker.topics,
                    &source.snapshot(),
                    self.per_partition,
                    now,
                );
            }
        }
        write_storage(&mut w);
        write_process(&mut w, &process::read());
        w.finish();
        Some(out)
    }
}

/// A family and how to read its value from a row.
type Column<R> = (&'static Family, fn(&R) -> Value);

/// One partition's storage gauges, or a topic's aggregate of them.
#[derive(Debug, Default)]
struct PartitionRow {
    /// Topic name.
    topic: String,
    /// The partition number as a label value; `None` for a topic aggregate.
    partition: Option<String>,
    /// Log start offset (summed over a topic).
    start: u64,
    /// Log end offset (summed).
    end: u64,
    /// High watermark (summed).
    hw: u64,
    /// Bytes stored (summed).
    size: u64,
    /// Segments (summed).
    segments: u64,
    /// Unflushed bytes (summed).
    unflushed: u64,
    /// 1 when fenced after an I/O error (summed: fenced partitions of the
    /// topic), so an alert names the partition.
    fenced: u64,
    /// Durability lag in seconds (the maximum).
    lag: f64,
}

fn write_partitions(w: &mut TextWriter<'_>, topics: &TopicRegistry, per_partition: bool, now: i64) {
    let list = topics.list();
    let mut rows: Vec<PartitionRow> = Vec::new();
    let mut partitions = 0u64;
    let mut fenced = 0u64;
    for topic in &list {
        let mut agg = PartitionRow {
            topic: topic.name().to_owned(),
            ..PartitionRow::default()
        };
        for p in topic.partitions() {
            partitions += 1;
            let r = p.reader();
            let is_fenced = u64::from(r.fenced().is_some());
            fenced += is_fenced;
            let lag = p.durability_lag(now);
            let row = PartitionRow {
                topic: topic.name().to_owned(),
                partition: Some(p.id().to_string()),
                start: r.log_start_offset().0,
                end: r.log_end_offset().0,
                hw: r.high_watermark().0,
                size: r.size_bytes(),
                segments: r.segment_count() as u64,
                unflushed: lag.unflushed_bytes,
                lag: lag.seconds,
                fenced: is_fenced,
            };
            if per_partition {
                rows.push(row);
            } else {
                agg.start += row.start;
                agg.end += row.end;
                agg.hw += row.hw;
                agg.size += row.size;
                agg.segments += row.segments;
                agg.unflushed += row.unflushed;
                agg.lag = agg.lag.max(row.lag);
                agg.fenced += row.fenced;
            }
        }
        if !per_partition {
            rows.push(agg);
        }
    }
    let columns: [Column<PartitionRow>; 8] = [
        (&names::LOG_START_OFFSET, |r| Value::Int(r.start)),
        (&names::LOG_END_OFFSET, |r| Value::Int(r.end)),
        (&names::HIGH_WATERMARK, |r| Value::Int(r.hw)),
        (&names::LOG_SIZE, |r| Value::Int(r.size)),
        (&names::LOG_SEGMENTS, |r| Value::Int(r.segments)),
        (&names::LOG_UNFLUSHED, |r| Value::Int(r.unflushed)),
        (&names::DURABILITY_LAG, |r| Value::Float(r.lag)),
        (&names::PARTITION_FENCED, |r| Value::Int(r.fenced)),
    ];
    for (family, value) in columns {
        for row in &rows {
            match &row.partition {
                Some(p) => w.sample(
                    family,
                    &[("topic", &row.topic), ("partition", p)],
                    value(row),
                ),
                None => w.sample(family, &[("topic", &row.topic)], value(row)),
            }
        }
    }
    w.sample(&names::FENCED_PARTITIONS, &[], Value::Int(fenced));
    w.sample(&names::TOPICS, &[], Value::Int(list.len() as u64));
    w.sample(&names::PARTITIONS, &[], Value::Int(partitions));
}

/// One group's lag on a partition (or a topic, aggregated).
#[derive(Debug, Clone, Copy, Default)]
struct Lag {
    /// Records behind the log end.
    records: u64,
    /// Age of the first unconsumed record, in seconds.
    seconds: f64,
}

fn write_groups(
    w: &mut TextWriter<'_>,
    topics: &TopicRegistry,
    groups: &[groups::GroupSnapshot],
    per_partition: bool,
    now: i64,
) {
    // (group, topic, partition label) → lag; a BTreeMap keeps the output
    // stable and merges partitions when aggregating per topic.
    let mut lags: BTreeMap<(&str, &str, Option<String>), Lag> = BTreeMap::new();
    for g in groups {
        for c in &g.committed {
            if c.offset < 0 {
                continue; // nothing committed yet
            }
            let Some(topic) = topics.get(&c.topic) else {
                continue; // the topic was deleted
            };
            let Some(p) = topic.partition(c.partition) else {
                continue;
            };
            let (records, seconds) = groups::partition_lag(p.reader(), c.offset, now);
            let key = (
                g.group.as_str(),
                c.topic.as_str(),
                per_partition.then(|| c.partition.to_string()),
            );
            let lag = lags.entry(key).or_default();
            lag.records += records;
            lag.seconds = lag.seconds.max(seconds);
        }
    }
    w.sample(&names::GROUPS, &[], Value::Int(groups.len() as u64));
    for g in groups {
        w.sample(
            &names::GROUP_MEMBERS,
            &[("group", &g.group)],
            Value::Int(g.members),
        );
    }
    let columns: [Column<Lag>; 2] = [
        (&names::GROUP_LAG, |l| Value::Int(l.records)),
        (&names::GROUP_LAG_SECONDS, |l| Value::Float(l.seconds)),
    ];
    for (family, value) in columns {
        for ((group, topic, partition), lag) in &lags {
            match partition {
                Some(p) => w.sample(
                    family,
                    &[("group", group), ("topic", topic), ("partition", p)],
                    value(lag),
                ),
                None => w.sample(family, &[("group", group), ("topic", topic)], value(lag)),
            }
        }
    }
}

fn write_storage(w: &mut TextWriter<'_>) {
    let s = stats::snapshot();
    w.sample(&names::OPEN_FILES, &[], Value::Int(s.open_files()));
    w.sample(&names::MAPS, &[], Value::Int(s.live_maps()));
    w.sample(&names::MAPPED_BYTES, &[], Value::Int(s.mapped_bytes));
    w.sample(&names::FSYNCS, &[], Value::Int(s.fsyncs));
}

fn write_process(w: &mut TextWriter<'_>, p: &process::ProcessStats) {
    let ints: [(&'static Family, Option<u64>); 6] = [
        (&names::MEMORY_MAPS, p.memory_maps),
        (&names::MEMORY_MAPS_LIMIT, p.memory_maps_limit),
        (&names::RESIDENT_MEMORY, p.resident_bytes),
        (&names::VIRTUAL_MEMORY, p.virtual_bytes),
        (&names::OPEN_FDS, p.open_fds),
        (&names::MAX_FDS, p.max_fds),
    ];
    for (family, value) in ints {
        if let Some(v) = value {
            w.sample(family, &[], Value::Int(v));
        }
    }
    if let Some(v) = p.cpu_seconds {
        w.sample(&names::CPU_SECONDS, &[], Value::Float(v));
    }
    if let Some(v) = p.start_time_seconds {
        w.sample(&names::START_TIME, &[], Value::Float(v));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use runnel_config::TopicConfig;
    use runnel_protocol::record::validate_batch;

    use super::*;
    use crate::metrics::groups::{CommittedOffset, GroupSnapshot};
    use crate::metrics::test_support::batch;
    use crate::storage::OsFs;

    /// A registry with topic `t` of two partitions: 3 durable records in
    /// partition 0 (created at 1 s), 2 in partition 1 (at 5 s).
    async fn registry(dir: &std::path::Path) -> TopicRegistry {
        let (topics, _) =
            TopicRegistry::load(dir, TopicConfig::default(), Arc::new(OsFs), true, 0).unwrap();
        let t = topics.create("t", 2, &[], 0).unwrap();
        for (p, ts, n) in [(0, 1_000, 3), (1, 5_000, 2)] {
            let bytes = batch(ts, n);
            let header = validate_batch(&bytes).unwrap();
            let part = t.partition(p).unwrap();
            let info = part.append(&bytes, &header, ts).unwrap();
            part.wait_durable(info.last_offset.plus(1), Duration::from_secs(10))
                .await
                .unwrap();
        }
        topics
    }

    fn render(f: impl FnOnce(&mut TextWriter<'_>)) -> String {
        let mut out = String::new();
        let mut w = TextWriter::new(&mut out);
        f(&mut w);
        w.finish();
        out
    }

    #[tokio::test]
    async fn partitions_are_reported_one_by_one_or_summed_per_topic() {
        let dir = tempfile::tempdir().unwrap();
        let topics = registry(dir.path()).await;
        let each = render(|w| write_partitions(w, &topics, true, 10_000));
        assert!(each.contains("runnel_log_end_offset{topic=\"t\",partition=\"0\"} 3\n"));
        assert!(each.contains("runnel_log_end_offset{topic=\"t\",partition=\"1\"} 2\n"));
        assert!(each.contains("runnel_log_unflushed_bytes{topic=\"t\",partition=\"1\"} 0\n"));
        assert!(
            each.contains("runnel_log_durability_lag_seconds{topic=\"t\",partition=\"0\"} 0\n")
        );
        assert!(each.contains("runnel_partitions 2\n"));
        assert!(each.contains("runnel_log_fenced_partitions 0\n"));
        assert!(each.contains("runnel_partition_fenced{topic=\"t\",partition=\"1\"} 0\n"));

        let summed = render(|w| write_partitions(w, &topics, false, 10_000));
        assert!(
            summed.contains("runnel_log_end_offset{topic=\"t\"} 5\n"),
            "{summed}"
        );
        assert!(summed.contains("runnel_log_segments{topic=\"t\"} 2\n"));
        assert!(!summed.contains("partition=\""));
        assert_eq!(
            summed.matches("# TYPE runnel_log_size_bytes gauge").count(),
            1
        );
    }

    #[tokio::test]
    async fn a_partition_fenced_by_an_fsync_error_is_named_by_its_gauge() {
        let fs = crate::storage::sim::SimFs::new();
        let dir = std::path::Path::new("/data");
        let (topics, _) =
            TopicRegistry::load(dir, TopicConfig::default(), Arc::new(fs.clone()), true, 0)
                .unwrap();
        let t = topics.create("t", 2, &[], 0).unwrap();
        fs.fail_syncs_after(0);
        let bytes = batch(1_000, 1);
        let header = validate_batch(&bytes).unwrap();
        let part = t.partition(1).unwrap();
        let info = part.append(&bytes, &header, 1_000).unwrap();
        assert!(
            part.wait_durable(info.last_offset.plus(1), Duration::from_secs(10))
                .await
                .is_err()
        );
        assert!(part.reader().fenced().is_some());
        let each = render(|w| write_partitions(w, &topics, true, 10_000));
        assert!(
            each.contains("runnel_partition_fenced{topic=\"t\",partition=\"1\"} 1\n"),
            "{each}"
        );
        assert!(each.contains("runnel_partition_fenced{topic=\"t\",partition=\"0\"} 0\n"));
        assert!(each.contains("runnel_log_fenced_partitions 1\n"));
        let summed = render(|w| write_partitions(w, &topics, false, 10_000));
        assert!(
            summed.contains("runnel_partition_fenced{topic=\"t\"} 1\n"),
            "{summed}"
        );
    }

    #[tokio::test]
    async fn group_lag_is_derived_from_commits_and_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let topics = registry(dir.path()).await;
        let commit = |topic: &str, partition, offset| CommittedOffset {
            topic: topic.to_owned(),
            partition,
            offset,
        };
        let groups = vec![
            GroupSnapshot {
                group: "g".to_owned(),
                members: 2,
                committed: vec![
                    commit("t", 0, 1),
                    commit("t", 1, 2),
                    commit("gone", 0, 5),
                    commit("t", 9, 0),
                ],
            },
            GroupSnapshot {
                group: "new".to_owned(),
                members: 0,
                committed: vec![commit("t", 0, -1)],
            },
        ];
        let each = render(|w| write_groups(w, &topics, &groups, true, 11_000));
        assert!(each.contains("runnel_consumer_groups 2\n"));
        assert!(each.contains("runnel_consumer_group_members{group=\"g\"} 2\n"));
        assert!(each.contains("runnel_consumer_group_members{group=\"new\"} 0\n"));
        assert!(
            each.contains("runnel_consumer_group_lag{group=\"g\",topic=\"t\",partition=\"0\"} 2\n"),
            "{each}"
        );
        assert!(
            each.contains("runnel_consumer_group_lag{group=\"g\",topic=\"t\",partition=\"1\"} 0\n")
        );
        assert!(each.contains(
            "runnel_consumer_group_lag_seconds{group=\"g\",topic=\"t\",partition=\"0\"} 10\n"
        ));
        assert!(each.contains(
            "runnel_consumer_group_lag_seconds{group=\"g\",topic=\"t\",partition=\"1\"} 0\n"
        ));
        assert!(!each.contains("gone"), "deleted topics are skipped");
        assert!(!each.contains("group=\"new\",topic"), "no commit, no lag");

        let summed = render(|w| write_groups(w, &topics, &groups, false, 11_000));
        assert!(
            summed.contains("runnel_consumer_group_lag{group=\"g\",topic=\"t\"} 2\n"),
            "{summed}"
        );
        assert!(summed.contains("runnel_consumer_group_lag_seconds{group=\"g\",topic=\"t\"} 10\n"));
    }

    #[test]
    fn disabled_telemetry_renders_nothing_and_starts_unhealthy() {
        let t = Telemetry::new(None, true);
        assert!(!t.enabled());
        assert_eq!(t.render(), None);
        assert_eq!(t.health(), Health::Starting);
        t.set_health(Health::ShuttingDown);
        assert_eq!(t.health(), Health::ShuttingDown);
    }
}
