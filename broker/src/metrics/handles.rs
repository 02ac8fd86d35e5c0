//! Metric handles resolved once and kept, so the request path only bumps
//! atomics: per topic in [`TopicMetrics`] (held by each partition), per API
//! and process-wide in a table built on first use. Label sets are built
//! when a handle is registered, never per request — except on error paths,
//! which register `runnel_requests_total` with the error's code.
//!
//! Handles resolve against the global recorder installed by
//! [`super::install`]; before one is installed (unit tests) they are no-ops.

use std::sync::OnceLock;
use std::time::Instant;

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
use runnel_protocol::ApiKey;
use runnel_protocol::record::{BatchHeader, TimestampType};

use super::names;

/// Traffic counters of one topic.
#[derive(Debug, Clone)]
pub struct TopicMetrics {
    /// `runnel_messages_in_total{topic}`.
    messages_in: Counter,
    /// `runnel_bytes_in_total{topic}`.
    bytes_in: Counter,
    /// `runnel_messages_out_total{topic}`.
    messages_out: Counter,
    /// `runnel_bytes_out_total{topic}`.
    bytes_out: Counter,
}

impl TopicMetrics {
    /// Registers (or finds) the counters of `topic`.
    pub fn new(topic: &str) -> Self {
        TopicMetrics {
            messages_in: counter!(names::MESSAGES_IN.name, "topic" => topic.to_owned()),
            bytes_in: counter!(names::BYTES_IN.name, "topic" => topic.to_owned()),
            messages_out: counter!(names::MESSAGES_OUT.name, "topic" => topic.to_owned()),
            bytes_out: counter!(names::BYTES_OUT.name, "topic" => topic.to_owned()),
        }
    }

    /// Counts an appended batch.
    pub fn appended(&self, records: u32, bytes: usize) {
        self.messages_in.increment(u64::from(records));
        self.bytes_in.increment(bytes as u64);
    }

    /// Counts the batches of a fetch response for one partition and records
    /// the delivery latency of those that start at or after `fetch_offset`
    /// (a batch starting before it was already delivered to this consumer,
    /// which asked for an offset inside it). `records` holds whole batches.
    pub fn delivered(&self, fetch_offset: i64, records: &[u8], now_ms: i64) {
        if records.is_empty() {
            return;
        }
        let delivery = &global().delivery_latency;
        let mut rest = records;
        let mut count = 0u64;
        while let Ok(h) = BatchHeader::parse(rest) {
            count += u64::try_from(h.record_count).unwrap_or(0);
            if h.base_offset >= fetch_offset
                && let Some(age) = batch_age_seconds(&h, now_ms)
            {
                delivery.record(age);
            }
            rest = rest.get(h.total_len()..).unwrap_or_default();
        }
        self.messages_out.increment(count);
        self.bytes_out.increment(records.len() as u64);
    }
}

/// `now_ms` minus the batch's max timestamp (the newest record's create
/// time, or the broker's append time for log-append-time topics), in
/// seconds; `None` for a batch without timestamps. A clock skewed into the
/// future counts as 0.
fn batch_age_seconds(h: &BatchHeader, now_ms: i64) -> Option<f64> {
    if h.max_timestamp < 0 {
        return None;
    }
    Some(super::age_seconds(now_ms, h.max_timestamp))
}

/// The timestamp that best stands for "when the record at the start of this
/// batch was produced": the first record's create time, or the broker's
/// append time for log-append-time batches (which carry it as the max).
pub(crate) fn batch_first_timestamp(h: &BatchHeader) -> i64 {
    match h.timestamp_type() {
        TimestampType::LogAppendTime => h.max_timestamp,
        TimestampType::CreateTime => h.base_timestamp,
    }
}

/// Handles of one API.
#[derive(Debug)]
pub(crate) struct ApiHandles {
    /// The `api` label value: the API's name in snake case.
    pub(crate) label: String,
    /// `runnel_request_duration_seconds{api}`.
    duration: Histogram,
    /// `runnel_requests_total{api, error="NONE"}`, the common case.
    ok: Counter,
}

impl ApiHandles {
    fn new(label: String) -> Self {
        ApiHandles {
            duration: histogram!(names::REQUEST_DURATION.name, "api" => label.clone()),
            ok: counter!(names::REQUESTS.name, "api" => label.clone(), "error" => "NONE"),
            label,
        }
    }

    /// Counts a completed request that succeeded.
    pub(crate) fn succeeded(&self) {
        self.ok.increment(1);
    }
}

/// Process-wide handles.
#[derive(Debug)]
struct Global {
    /// Per API, indexed by the API's wire number; registered on the API's
    /// first request, so APIs nobody calls add no series.
    apis: Vec<OnceLock<ApiHandles>>,
    /// For requests whose API number this build does not know.
    unknown_api: OnceLock<ApiHandles>,
    /// `runnel_produce_queue_duration_seconds`.
    produce_queue: Histogram,
    /// `runnel_produce_append_duration_seconds`.
    produce_append: Histogram,
    /// `runnel_log_flush_duration_seconds`.
    flush_duration: Histogram,
    /// `runnel_delivery_latency_seconds`.
    delivery_latency: Histogram,
    /// `runnel_connections`.
    connections: Gauge,
    /// `runnel_connections_opened_total`.
    connections_opened: Counter,
}

fn global() -> &'static Global {
    static GLOBAL: OnceLock<Global> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        let max = ApiKey::ALL.iter().map(|k| k.code()).max().unwrap_or(0);
        Global {
            apis: (0..=max).map(|_| OnceLock::new()).collect(),
            unknown_api: OnceLock::new(),
            produce_queue: histogram!(names::PRODUCE_QUEUE.name),
            produce_append: histogram!(names::PRODUCE_APPEND.name),
            flush_duration: histogram!(names::FLUSH_DURATION.name),
            delivery_latency: histogram!(names::DELIVERY_LATENCY.name),
            connections: gauge!(names::CONNECTIONS.name),
            connections_opened: counter!(names::CONNECTIONS_OPENED.name),
        }
    })
}

/// Registers every process-wide handle now, so each family shows up in the
/// first scrape (with zero values) rather than after its first event.
pub(crate) fn register_all() {
    let _ = global();
}

/// The handles of `api` (`None`: a number this build does not know).
pub(crate) fn api(api: Option<ApiKey>) -> &'static ApiHandles {
    let g = global();
    match api.and_then(|k| Some((k, g.apis.get(usize::from(k.code()))?))) {
        Some((key, slot)) => slot.get_or_init(|| ApiHandles::new(snake_case(key.name()))),
        None => g
            .unknown_api
            .get_or_init(|| ApiHandles::new("unknown".to_owned())),
    }
}

/// `CamelCase` → `snake_case`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Times one request from its length prefix to its response.
#[derive(Debug, Clone, Copy)]
pub struct RequestTimer {
    /// The API, if the header named a known one.
    api: Option<ApiKey>,
    /// When the length prefix was read.
    received: Instant,
}

impl RequestTimer {
    /// Starts timing a request whose length prefix was read at `received`.
    pub fn new(api: Option<ApiKey>, received: Instant) -> Self {
        RequestTimer { api, received }
    }

    /// Records the request's duration and outcome. `response` is `None` for
    /// a request answered with nothing (acks=0 produce counts its outcome
    /// itself, see [`super::request_outcome`]).
    pub fn finish(self, response: Option<&runnel_protocol::Response>) {
        let handles = api(self.api);
        handles
            .duration
            .record(self.received.elapsed().as_secs_f64());
        if let Some(response) = response {
            super::events::request_outcome(self.api, response);
        }
    }
}

/// Records the stages of a produce request: `received` when its length
/// prefix was read, `started` when its handler began, `appended` when every
/// batch was appended.
pub fn produce_stages(received: Instant, started: Instant, appended: Instant) {
    let g = global();
    g.produce_queue
        .record(started.saturating_duration_since(received).as_secs_f64());
    g.produce_append
        .record(appended.saturating_duration_since(started).as_secs_f64());
}

/// Records one finished flush.
pub fn flush_finished(started: Instant) {
    global()
        .flush_duration
        .record(started.elapsed().as_secs_f64());
}

/// Counts a connection that is now served; the returned guard counts it
/// closed when dropped.
pub fn connection_opened() -> ConnectionGuard {
    let g = global();
    g.connections_opened.increment(1);
    g.connections.increment(1.0);
    ConnectionGuard(())
}

/// Keeps a connection counted in `runnel_connections` while it lives.
#[derive(Debug)]
pub struct ConnectionGuard(());

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        global().connections.decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use runnel_protocol::record::set_base_offset;

    use super::*;
    use crate::metrics::test_support;

    fn batch(base_offset: i64, ts: i64, n: usize) -> Vec<u8> {
        let mut bytes = test_support::batch(ts, n).to_vec();
        set_base_offset(&mut bytes, base_offset);
        bytes
    }

    #[test]
    fn api_labels_are_snake_case() {
        assert_eq!(snake_case("ApiVersions"), "api_versions");
        assert_eq!(snake_case("Produce"), "produce");
        assert_eq!(
            snake_case("ConsumerGroupHeartbeat"),
            "consumer_group_heartbeat"
        );
    }

    #[test]
    fn every_known_api_has_its_own_handles_and_unknown_numbers_share_one() {
        for key in ApiKey::ALL {
            assert_eq!(api(Some(*key)).label, snake_case(key.name()));
        }
        assert_eq!(api(None).label, "unknown");
    }

    #[test]
    fn batch_age_is_measured_from_the_max_timestamp() {
        let bytes = batch(0, 10_000, 3);
        let h = BatchHeader::parse(&bytes).unwrap();
        assert_eq!(h.max_timestamp, 10_002);
        assert_eq!(batch_age_seconds(&h, 12_002), Some(2.0));
        assert_eq!(batch_age_seconds(&h, 9_000), Some(0.0), "clock skew");
        assert_eq!(batch_first_timestamp(&h), 10_000);
    }

    #[test]
    fn delivered_walks_every_batch_without_failing_on_a_partial_tail() {
        // With the no-op recorder nothing is counted, but the walk must
        // stop cleanly at a partial batch and never panic.
        let mut records = batch(0, 1, 2);
        records.extend(batch(2, 1, 3));
        records.extend_from_slice(&batch(5, 1, 1)[..20]);
        TopicMetrics::new("t").delivered(1, &records, 5);
        TopicMetrics::new("t").delivered(0, &[0u8; 3], 5);
    }
}
