//! Every default and every bound, in one place. The `Default` impls of
//! [`BrokerConfig`](crate::BrokerConfig) and
//! [`TopicConfig`](crate::TopicConfig) are built from these constants, and
//! `config/broker.example.toml` is tested against them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::{CleanupPolicy, LogFormat, TimestampType};

const KIB: u32 = 1024;
const MIB: u32 = 1024 * KIB;
const SECOND_MS: u64 = 1000;
const DAY_MS: u64 = 24 * 60 * 60 * SECOND_MS;

// ---- broker ----

/// `data_dir`: where topics, groups and the lock file live.
pub const DEFAULT_DATA_DIR: &str = "./runnel-data";
/// `listen`: the native protocol port, loopback only until configured.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9170);
/// `metrics_listen`: the Prometheus endpoint, loopback only until configured.
pub const DEFAULT_METRICS_LISTEN: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9171);
/// `max_connections`: open client connections at once.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 4096;
/// `max_frame_bytes`: 100 MiB, Kafka's `socket.request.max.bytes`.
pub const DEFAULT_MAX_FRAME_BYTES: u32 = 100 * MIB;
/// The smallest `max_frame_bytes` accepted: any less and ordinary requests
/// (a metadata request with a few topic names) would not fit.
pub const MIN_MAX_FRAME_BYTES: u32 = KIB;
/// `max_in_flight_requests_per_connection`: pipelined requests read from one
/// connection before the broker stops reading it until responses go out.
pub const DEFAULT_MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION: u32 = 128;
/// `max_connection_buffer_bytes`: 64 MiB of requests buffered per
/// connection before the broker stops reading it.
pub const DEFAULT_MAX_CONNECTION_BUFFER_BYTES: u64 = 64 * MIB as u64;
/// `max_fetch_wait_ms`: 30 s, the longest a fetch may long-poll whatever
/// the client asks.
pub const DEFAULT_MAX_FETCH_WAIT_MS: u64 = 30 * SECOND_MS;
/// `partial_frame_timeout_ms`: 60 s for a client to finish sending a
/// request frame it has started.
pub const DEFAULT_PARTIAL_FRAME_TIMEOUT_MS: u64 = 60 * SECOND_MS;
/// `shutdown_timeout_ms`: 30 s for in-flight requests to finish on shutdown.
pub const DEFAULT_SHUTDOWN_TIMEOUT_MS: u64 = 30 * SECOND_MS;
/// `auto_create_topics`: off, as in Redpanda, so a typo in a topic name is an
/// error instead of a new topic.
pub const DEFAULT_AUTO_CREATE_TOPICS: bool = false;
/// `default_partitions`: partitions of a topic created without a count.
pub const DEFAULT_PARTITIONS: u32 = 1;
/// `log_format`: human-readable text.
pub const DEFAULT_LOG_FORMAT: LogFormat = LogFormat::Text;
/// `group_min_session_timeout_ms`: 6 s, Kafka's `group.min.session.timeout.ms`.
pub const DEFAULT_GROUP_MIN_SESSION_TIMEOUT_MS: u64 = 6 * SECOND_MS;
/// `group_max_session_timeout_ms`: 300 s, Kafka's `group.max.session.timeout.ms`.
pub const DEFAULT_GROUP_MAX_SESSION_TIMEOUT_MS: u64 = 300 * SECOND_MS;
/// `group_default_session_timeout_ms`: 45 s, Kafka's consumer default.
pub const DEFAULT_GROUP_DEFAULT_SESSION_TIMEOUT_MS: u64 = 45 * SECOND_MS;
/// `group_heartbeat_interval_ms`: 3 s, Kafka's consumer default.
pub const DEFAULT_GROUP_HEARTBEAT_INTERVAL_MS: u64 = 3 * SECOND_MS;
/// `metrics_per_partition`: label metrics by partition.
pub const DEFAULT_METRICS_PER_PARTITION: bool = true;

// ---- topic ----

/// `retention.ms`: 7 days, Kafka's default.
pub const DEFAULT_RETENTION_MS: Option<u64> = Some(7 * DAY_MS);
/// `retention.bytes`: no size limit, Kafka's default.
pub const DEFAULT_RETENTION_BYTES: Option<u64> = None;
/// `segment.bytes`: 1 GiB, Kafka's default.
pub const DEFAULT_SEGMENT_BYTES: u32 = 1024 * MIB;
/// The smallest `segment.bytes`: 1 KiB, small enough for tests to roll
/// segments after a few records.
pub const MIN_SEGMENT_BYTES: u32 = KIB;
/// The largest `segment.bytes`: 2 GiB - 1, so every file position in a
/// segment fits the index's u32 and Kafka's signed 32-bit setting.
pub const MAX_SEGMENT_BYTES: u32 = i32::MAX.unsigned_abs();
/// `segment.ms`: 7 days, Kafka's default.
pub const DEFAULT_SEGMENT_MS: u64 = 7 * DAY_MS;
/// `cleanup.policy`: delete old segments, Kafka's default.
pub const DEFAULT_CLEANUP_POLICY: CleanupPolicy = CleanupPolicy::Delete;
/// `max.message.bytes`: 1 MiB + 12, Kafka's 1048588.
pub const DEFAULT_MAX_MESSAGE_BYTES: u32 = MIB + 12;
/// `index.interval.bytes`: 4 KiB, Kafka's default.
pub const DEFAULT_INDEX_INTERVAL_BYTES: u32 = 4 * KIB;
/// `flush.ms`: `None`, continuous group-commit flushing.
pub const DEFAULT_FLUSH_MS: Option<u64> = None;
/// `message.timestamp.type`: the producer's timestamp, Kafka's default.
pub const DEFAULT_MESSAGE_TIMESTAMP_TYPE: TimestampType = TimestampType::CreateTime;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_kafka_figures() {
        assert_eq!(DEFAULT_MAX_FRAME_BYTES, 104_857_600);
        assert_eq!(DEFAULT_MAX_MESSAGE_BYTES, 1_048_588);
        assert_eq!(DEFAULT_SEGMENT_BYTES, 1_073_741_824);
        assert_eq!(DEFAULT_RETENTION_MS, Some(604_800_000));
        assert_eq!(MAX_SEGMENT_BYTES, 2_147_483_647);
        assert_eq!(DEFAULT_LISTEN.to_string(), "127.0.0.1:9170");
        assert_eq!(DEFAULT_METRICS_LISTEN.to_string(), "127.0.0.1:9171");
    }
}
