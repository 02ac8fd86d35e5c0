//! Every metric family the broker exports: name, type and help text, in
//! one table. The recorder's families are described from it at install,
//! the scrape-time families take their `# HELP` lines from it, and
//! `docs/METRICS.md` lists the same names (a test checks both ways).
//!
//! Names follow `<namespace>_<name>_<unit>[_total]`: `runnel_` for the
//! broker's own, `process_` for the standard process metrics every
//! Prometheus client library exports under that name.

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (resets when the process restarts).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations in buckets, with `_bucket`, `_sum` and `_count` series.
    Histogram,
}

impl Kind {
    /// The word in a `# TYPE` line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Where a family's values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Updated as events happen, through the `metrics` facade.
    Recorder,
    /// Computed when `/metrics` is scraped (walks topics, reads `/proc`).
    Scrape,
}

/// One metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    /// The exported name.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Label names, in the order they are written.
    pub labels: &'static [&'static str],
    /// Where its values come from.
    pub source: Source,
    /// The `# HELP` text.
    pub help: &'static str,
}

macro_rules! families {
    ($(
        $(#[$doc:meta])*
        $konst:ident = $name:literal, $kind:ident, [$($label:literal),*], $source:ident, $help:literal;
    )*) => {
        $(
            $(#[$doc])*
            pub const $konst: Family = Family {
                name: $name,
                kind: Kind::$kind,
                labels: &[$($label),*],
                source: Source::$source,
                help: $help,
            };
        )*

        /// Every family, in the order `docs/METRICS.md` lists them.
        pub const FAMILIES: &[Family] = &[$($konst),*];
    };
}

families! {
    // Traffic.
    /// Records appended, per topic.
    MESSAGES_IN = "runnel_messages_in_total", Counter, ["topic"], Recorder,
        "Records appended to the topic's partitions (duplicates of idempotent retries excluded).";
    /// Record-batch bytes appended, per topic.
    BYTES_IN = "runnel_bytes_in_total", Counter, ["topic"], Recorder,
        "Record-batch bytes appended to the topic's partitions.";
    /// Records sent to consumers, per topic.
    MESSAGES_OUT = "runnel_messages_out_total", Counter, ["topic"], Recorder,
        "Records in the batches returned by fetch responses.";
    /// Record-batch bytes sent to consumers, per topic.
    BYTES_OUT = "runnel_bytes_out_total", Counter, ["topic"], Recorder,
        "Record-batch bytes returned by fetch responses.";
    /// Requests answered, per API and error code.
    REQUESTS = "runnel_requests_total", Counter, ["api", "error"], Recorder,
        "Requests completed, by API and by the first error code of the response (NONE when every part succeeded).";
    /// Request latency, per API.
    REQUEST_DURATION = "runnel_request_duration_seconds", Histogram, ["api"], Recorder,
        "Time from reading a request's length prefix to its response being ready to write, by API.";
    // Connections.
    /// Client connections open now.
    CONNECTIONS = "runnel_connections", Gauge, [], Recorder,
        "Client connections open on the native protocol listener.";
    /// Client connections accepted.
    CONNECTIONS_OPENED = "runnel_connections_opened_total", Counter, [], Recorder,
        "Client connections accepted and served.";
    /// Client connections refused.
    CONNECTIONS_REJECTED = "runnel_connections_rejected_total", Counter, ["reason"], Recorder,
        "Client connections closed right after accept, by reason.";
    /// Client connections closed by an error.
    CONNECTION_ERRORS = "runnel_connection_errors_total", Counter, ["reason"], Recorder,
        "Client connections the broker closed because of an error, by reason.";
    // Produce path, stage by stage.
    /// Produce: from the length prefix to the start of the handler.
    PRODUCE_QUEUE = "runnel_produce_queue_duration_seconds", Histogram, [], Recorder,
        "Produce requests: time from reading the length prefix to the start of the append (waiting for the connection's buffer budget, reading and decoding the body).";
    /// Produce: validating and appending the request's batches.
    PRODUCE_APPEND = "runnel_produce_append_duration_seconds", Histogram, [], Recorder,
        "Produce requests: time to validate and append all of the request's batches.";
    /// One flush job's fsyncs.
    FLUSH_DURATION = "runnel_log_flush_duration_seconds", Histogram, [], Recorder,
        "Duration of one partition flush (the fsyncs that advance the high watermark); the count is the number of flushes.";
    // Consumers.
    /// Age of batches when first fetched.
    DELIVERY_LATENCY = "runnel_delivery_latency_seconds", Histogram, [], Recorder,
        "Wall-clock time from a batch's max timestamp to its first fetch by a consumer (batches starting before the fetch offset are not counted again).";
    // Lifecycle.
    /// Partitions opened (startup recovery and topic creation).
    PARTITIONS_OPENED = "runnel_partitions_opened_total", Counter, [], Recorder,
        "Partition logs opened since start (by recovery at startup, then by topic creation); watch it climb during recovery.";
    /// How long startup recovery took.
    RECOVERY_DURATION = "runnel_recovery_duration_seconds", Gauge, [], Recorder,
        "How long loading and recovering every partition took at startup.";
    /// Version and commit of the running build.
    BUILD_INFO = "runnel_build_info", Gauge, ["version", "commit"], Recorder,
        "Always 1; the labels name the running build.";
    // Storage, per partition (or per topic), at scrape time.
    /// First offset stored.
    LOG_START_OFFSET = "runnel_log_start_offset", Gauge, ["topic", "partition"], Scrape,
        "First offset still stored in the partition.";
    /// Next offset to assign.
    LOG_END_OFFSET = "runnel_log_end_offset", Gauge, ["topic", "partition"], Scrape,
        "Next offset the partition will assign.";
    /// End of the durable prefix.
    HIGH_WATERMARK = "runnel_log_high_watermark", Gauge, ["topic", "partition"], Scrape,
        "End of the partition's durable prefix; consumers read below it.";
    /// Bytes stored.
    LOG_SIZE = "runnel_log_size_bytes", Gauge, ["topic", "partition"], Scrape,
        "Bytes stored in the partition's segments.";
    /// Segments.
    LOG_SEGMENTS = "runnel_log_segments", Gauge, ["topic", "partition"], Scrape,
        "Segments of the partition.";
    /// Bytes appended and not yet durable.
    LOG_UNFLUSHED = "runnel_log_unflushed_bytes", Gauge, ["topic", "partition"], Scrape,
        "Bytes appended (acknowledged to acks=1 producers) that are not yet fsynced.";
    /// Age of the oldest non-durable byte.
    DURABILITY_LAG = "runnel_log_durability_lag_seconds", Gauge, ["topic", "partition"], Scrape,
        "Age of the oldest appended byte that is not yet fsynced; 0 when everything is durable.";
    /// Which partitions refuse writes after an I/O error.
    PARTITION_FENCED = "runnel_partition_fenced", Gauge, ["topic", "partition"], Scrape,
        "1 when the partition is fenced after a write or fsync error (it refuses writes until a restart), else 0.";
    /// Partitions refusing writes after an I/O error.
    FENCED_PARTITIONS = "runnel_log_fenced_partitions", Gauge, [], Scrape,
        "Partitions fenced after a write or fsync error; they refuse writes until a restart.";
    /// Topics.
    TOPICS = "runnel_topics", Gauge, [], Scrape,
        "Topics.";
    /// Partitions.
    PARTITIONS = "runnel_partitions", Gauge, [], Scrape,
        "Partitions of all topics.";
    // Storage, whole process, at scrape time.
    /// Segment and index files open.
    OPEN_FILES = "runnel_storage_open_files", Gauge, [], Scrape,
        "Segment and index files open.";
    /// Memory maps of segment and index files.
    MAPS = "runnel_storage_maps", Gauge, [], Scrape,
        "Memory maps of segment and index files alive (a map lives while a fetched slice of it is in use).";
    /// Address space of those maps.
    MAPPED_BYTES = "runnel_storage_mapped_bytes", Gauge, [], Scrape,
        "Address space reserved by the maps of segment and index files (not resident memory).";
    /// fsync calls.
    FSYNCS = "runnel_storage_fsyncs_total", Counter, [], Scrape,
        "fsync and fdatasync calls on segment files, indexes, small files and directories.";
    /// Memory maps of the process.
    MEMORY_MAPS = "runnel_process_memory_maps", Gauge, [], Scrape,
        "Memory maps of the whole process (lines of /proc/self/maps), sampled at scrape time.";
    /// The kernel's limit on memory maps.
    MEMORY_MAPS_LIMIT = "runnel_process_memory_maps_limit", Gauge, [], Scrape,
        "The kernel's per-process limit on memory maps (/proc/sys/vm/max_map_count).";
    // Process, at scrape time.
    /// Resident memory.
    RESIDENT_MEMORY = "process_resident_memory_bytes", Gauge, [], Scrape,
        "Resident memory size in bytes.";
    /// Virtual memory.
    VIRTUAL_MEMORY = "process_virtual_memory_bytes", Gauge, [], Scrape,
        "Virtual memory size in bytes.";
    /// CPU time.
    CPU_SECONDS = "process_cpu_seconds_total", Counter, [], Scrape,
        "User and system CPU time spent in seconds.";
    /// Open file descriptors.
    OPEN_FDS = "process_open_fds", Gauge, [], Scrape,
        "Number of open file descriptors.";
    /// File descriptor limit.
    MAX_FDS = "process_max_fds", Gauge, [], Scrape,
        "Maximum number of open file descriptors (the soft limit).";
    /// Process start time.
    START_TIME = "process_start_time_seconds", Gauge, [], Scrape,
        "Start time of the process since the Unix epoch in seconds.";
    // Consumer groups.
    /// Rebalances, per group.
    GROUP_REBALANCES = "runnel_consumer_group_rebalances_total", Counter, ["group"], Recorder,
        "Rebalances started, by consumer group.";
    /// Groups.
    GROUPS = "runnel_consumer_groups", Gauge, [], Scrape,
        "Consumer groups the coordinator knows.";
    /// Members, per group.
    GROUP_MEMBERS = "runnel_consumer_group_members", Gauge, ["group"], Scrape,
        "Members of the consumer group.";
    /// Offsets behind the log end.
    GROUP_LAG = "runnel_consumer_group_lag", Gauge, ["group", "topic", "partition"], Scrape,
        "Records between the group's committed offset and the log end offset.";
    /// Age of the oldest unconsumed record.
    GROUP_LAG_SECONDS = "runnel_consumer_group_lag_seconds", Gauge, ["group", "topic", "partition"], Scrape,
        "Age of the first record after the group's committed offset (0 when caught up).";
}

/// The family called `name`.
pub fn family(name: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_follow_the_conventions() {
        for (i, f) in FAMILIES.iter().enumerate() {
            assert!(
                FAMILIES[..i].iter().all(|g| g.name != f.name),
                "{} is listed twice",
                f.name
            );
            assert!(
                f.name.starts_with("runnel_") || f.name.starts_with("process_"),
                "{} lacks a namespace",
                f.name
            );
            assert!(
                f.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{} is not snake_case",
                f.name
            );
            assert_eq!(
                f.kind == Kind::Counter,
                f.name.ends_with("_total"),
                "{}: counters and only counters end in _total",
                f.name
            );
            assert!(!f.help.is_empty(), "{} has no help", f.name);
            if f.kind == Kind::Histogram {
                assert!(f.name.ends_with("_seconds"), "{} has no unit", f.name);
            }
        }
    }

    #[test]
    fn family_finds_by_name() {
        assert_eq!(
            family("runnel_log_end_offset").map(|f| f.labels),
            Some(&["topic", "partition"][..])
        );
        assert!(family("runnel_nope").is_none());
    }
}
