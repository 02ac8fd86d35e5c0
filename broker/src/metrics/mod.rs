//! The broker's metrics, exported in the Prometheus text format at
//! `/metrics` on the metrics listener (`docs/METRICS.md` lists every
//! family).
//!
//! Two kinds of families:
//! - **events** go through the `metrics` facade to the recorder installed by
//!   [`install`]: traffic counters, request counts and latencies, the
//!   produce stages, flush durations, delivery latency. The request path
//!   holds resolved handles ([`TopicMetrics`] per topic, a table per API)
//!   and only bumps atomics.
//! - **state** is computed when `/metrics` is scraped ([`Telemetry::render`]):
//!   offsets, sizes and durability lag per partition, consumer-group lag,
//!   open files and maps, and the process itself from `/proc`. Nothing on
//!   the append path maintains them.
//!
//! Labels come only from bounded sets: topic names (as many as the topics
//! an operator creates), partition numbers (unless `metrics_per_partition`
//! is off), API names, error codes, fixed reasons, and group ids.
//!
//! # Layout
//! - [`names`]: every family's name, type, labels and help.
//! - [`handles`]: cached handles for the request path.
//! - [`events`]: events that log and count together, with rate-limited logs.
//! - [`durability`]: bytes appended but not yet fsynced, per partition.
//! - [`groups`]: the interface the group coordinator implements.
//! - [`scrape`]: [`Telemetry`], rendering and health.
//! - [`text`]: the exposition-format writer; [`process`]: `/proc`.

pub mod durability;
pub mod events;
pub mod groups;
pub mod handles;
pub mod names;
pub mod process;
pub mod scrape;
pub mod text;

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

pub use durability::{DurabilityLag, DurabilityTracker};
pub use events::request_outcome;
pub use groups::{CommittedOffset, GroupMetricsSource, GroupSnapshot, group_rebalance};
pub use handles::{RequestTimer, TopicMetrics, connection_opened, flush_finished, produce_stages};
pub use scrape::{Health, Telemetry};

/// The version in `runnel_build_info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit in `runnel_build_info` (`unknown` when built outside a
/// git checkout).
pub const COMMIT: &str = env!("BROKER_BUILD_COMMIT");

/// Bucket bounds of the latency histograms, in seconds: 50 µs to 10 s, so a
/// page-cache append and a slow fsync both land in a bucket of their own.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

/// Bucket bounds of `runnel_delivery_latency_seconds`: 1 ms to 1 hour, as
/// consumers may run far behind.
pub const DELIVERY_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
    3600.0,
];

/// Seconds from `then_ms` to `now_ms` (both ms since the epoch), 0 when
/// `then_ms` is in the future (clocks disagree).
pub fn age_seconds(now_ms: i64, then_ms: i64) -> f64 {
    #[allow(clippy::cast_precision_loss)] // ms ages are far below 2^52
    let ms = now_ms.saturating_sub(then_ms).max(0) as f64;
    ms / 1000.0
}

/// Why the recorder could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The exporter refused the configuration, or a recorder was already
    /// installed in this process.
    #[error("cannot install the metrics recorder")]
    Install(#[source] BuildError),
}

/// Installs the process-wide recorder, describes every family and
/// registers the process-wide ones (so they appear in the first scrape),
/// and sets `runnel_build_info`. Call once, before the broker starts.
/// Without it every metric is a no-op and `/metrics` is not served.
pub fn install() -> Result<PrometheusHandle, MetricsError> {
    let handle = PrometheusBuilder::new()
        .set_buckets(LATENCY_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(names::DELIVERY_LATENCY.name.to_owned()),
                DELIVERY_BUCKETS,
            )
        })
        .and_then(PrometheusBuilder::install_recorder)
        .map_err(MetricsError::Install)?;
    for f in names::FAMILIES {
        if f.source != names::Source::Recorder {
            continue;
        }
        match f.kind {
            names::Kind::Counter => metrics::describe_counter!(f.name, f.help),
            names::Kind::Gauge => metrics::describe_gauge!(f.name, f.help),
            names::Kind::Histogram => metrics::describe_histogram!(f.name, f.help),
        }
    }
    handles::register_all();
    events::register_connection_counters();
    metrics::counter!(names::PARTITIONS_OPENED.name).absolute(0);
    metrics::gauge!(names::BUILD_INFO.name, "version" => VERSION, "commit" => COMMIT).set(1.0);
    Ok(handle)
}

/// Test helpers shared by this module's tests.
#[cfg(test)]
pub(crate) mod test_support {
    use bytes::Bytes;
    use runnel_protocol::record::{BatchBuilder, BatchOptions, NewRecord};

    /// A batch of `n` one-byte records timestamped `ts`, `ts + 1`, ...
    pub(crate) fn batch(ts: i64, n: usize) -> Bytes {
        let mut b = BatchBuilder::new(BatchOptions::default()).unwrap();
        for i in 0..n {
            b.append(&NewRecord {
                timestamp: ts + i64::try_from(i).unwrap(),
                key: None,
                value: Some(Bytes::from_static(b"v")),
                headers: vec![],
            })
            .unwrap();
        }
        b.build().unwrap()
    }
}
