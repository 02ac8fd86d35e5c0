//! [`ConsumerConfig`]: the consumer's settings, by Apache Kafka's names.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `auto.offset.reset` | `latest` | where to start without a position, or after `OFFSET_OUT_OF_RANGE`: `earliest`, `latest`, or `none` (an error to the caller) |
//! | `fetch.min.bytes` | 1 | the broker answers a fetch once this many bytes are ready (0: at once; an empty answer is then asked again after `fetch.max.wait.ms`) |
//! | `fetch.max.bytes` | 52428800 | most record bytes in one fetch response |
//! | `max.partition.fetch.bytes` | 1048576 | most record bytes per partition in one fetch response |
//! | `fetch.max.wait.ms` | 500 | longest the broker holds a fetch while fewer than `fetch.min.bytes` are ready |
//! | `max.poll.records` | 500 | most records one `poll` returns |
//! | `isolation.level` | `read_uncommitted` | `read_uncommitted`: only durable records (fsynced; Kafka's name, as there are no transactions); `read_unflushed`: every record as soon as it is appended, before its fsync — lower latency, but a power failure may take back records already read |
//! | `fetch.buffer.bytes` | 67108864 | prefetch budget: fetched bytes not yet handed out, plus fetches in flight |
//! | `retry.backoff.ms` | 100 | wait before fetching a partition again after a retriable error |
//! | `group.id` | none | the consumer group, for `subscribe` and for commits |
//! | `enable.auto.commit` | `true` | commit positions every `auto.commit.interval.ms`, on revocation and on close |
//! | `auto.commit.interval.ms` | 5000 | how often positions are committed automatically |
//! | `session.timeout.ms` | the broker's (45000) | a member silent this long is removed from the group |
//! | `max.poll.interval.ms` | 300000 | longest a member may take to give up revoked partitions (they are given up in `poll`) |
//! | `group.remote.assignor` | the group's (`sticky`) | the assignor the member asks for: `range`, `roundrobin` or `sticky` |
//! | `client.id`, `request.timeout.ms`, `bootstrap.servers`, ... | | connection settings, see [`ClientConfig`] |
//!
//! A batch larger than `max.partition.fetch.bytes` or `fetch.max.bytes`
//! is still fetched when it is first in line, so the consumer always makes
//! progress (Kafka's rule).

use std::fmt;
use std::time::Duration;

use runnel_client::ClientConfig;
use runnel_client::config::{ConfigError, parse_bool, parse_ms, parse_number};
use runnel_protocol::api::fetch::IsolationLevel;

/// Every setting name the consumer accepts, its own and the connection's,
/// for messages that list them.
pub const KEYS: &[&str] = &[
    "auto.offset.reset",
    "fetch.min.bytes",
    "fetch.max.bytes",
    "max.partition.fetch.bytes",
    "fetch.max.wait.ms",
    "max.poll.records",
    "isolation.level",
    "fetch.buffer.bytes",
    "retry.backoff.ms",
    "group.id",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "session.timeout.ms",
    "max.poll.interval.ms",
    "group.remote.assignor",
    "bootstrap.servers",
    "client.id",
    "request.timeout.ms",
    "socket.connection.setup.timeout.ms",
    "reconnect.backoff.ms",
    "reconnect.backoff.max.ms",
    "metadata.max.age.ms",
    "max.in.flight.requests.per.connection",
];

/// Longest group id the broker accepts.
const MAX_GROUP_ID_BYTES: usize = 255;

/// Room in a response frame around its record bytes (headers, names,
/// per-partition fields).
const FRAME_OVERHEAD: usize = 1024 * 1024;

/// Where to start reading a partition that has no position, or whose
/// position the broker no longer holds (`OFFSET_OUT_OF_RANGE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AutoOffsetReset {
    /// The oldest record still held (the log start offset).
    Earliest,
    /// Only records written from now on (the high watermark).
    #[default]
    Latest,
    /// No automatic choice: the caller gets an error and must seek.
    None,
}

impl AutoOffsetReset {
    /// The setting's value as written in configuration.
    pub fn name(self) -> &'static str {
        match self {
            AutoOffsetReset::Earliest => "earliest",
            AutoOffsetReset::Latest => "latest",
            AutoOffsetReset::None => "none",
        }
    }

    /// Parses `earliest`, `latest` or `none`.
    pub fn parse(key: &str, value: &str) -> Result<Self, ConfigError> {
        match value.trim() {
            "earliest" => Ok(AutoOffsetReset::Earliest),
            "latest" => Ok(AutoOffsetReset::Latest),
            "none" => Ok(AutoOffsetReset::None),
            _ => Err(ConfigError::invalid(
                key,
                value,
                "expected earliest, latest or none",
            )),
        }
    }
}

impl fmt::Display for AutoOffsetReset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The consumer's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// Connection settings (bootstrap broker, client id, timeouts, ...).
    pub client: ClientConfig,
    /// Where to start without a position or after `OFFSET_OUT_OF_RANGE`.
    pub auto_offset_reset: AutoOffsetReset,
    /// Bytes that let the broker answer a fetch before `fetch_max_wait`.
    pub fetch_min_bytes: u32,
    /// Cap on record bytes in one fetch response.
    pub fetch_max_bytes: u32,
    /// Cap on record bytes per partition in one fetch response.
    pub max_partition_fetch_bytes: u32,
    /// Longest the broker holds a fetch (long poll).
    pub fetch_max_wait: Duration,
    /// Most records one poll returns.
    pub max_poll_records: usize,
    /// Which records fetches may return: durable ones only (the default),
    /// or every appended one.
    pub isolation_level: IsolationLevel,
    /// Prefetch budget in bytes: fetched-but-unread plus requested bytes
    /// never exceed it (see the crate docs for the one exception).
    pub fetch_buffer_bytes: usize,
    /// Wait before fetching a partition again after a retriable error.
    pub retry_backoff: Duration,
    /// The consumer group: needed by `subscribe`, and lets a manually
    /// assigned consumer start from and commit the group's offsets.
    pub group_id: Option<String>,
    /// Whether positions are committed automatically (periodically, on
    /// revocation and on close).
    pub enable_auto_commit: bool,
    /// Period of automatic commits.
    pub auto_commit_interval: Duration,
    /// A member silent this long is removed; `None` for the broker's
    /// default.
    pub session_timeout: Option<Duration>,
    /// Longest a member may take to give up revoked partitions (the
    /// group's rebalance timeout): the application must poll within it.
    pub max_poll_interval: Duration,
    /// The assignor the member asks for; `None` for the group's choice.
    pub group_remote_assignor: Option<String>,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            client: ClientConfig::default(),
            auto_offset_reset: AutoOffsetReset::Latest,
            fetch_min_bytes: 1,
            fetch_max_bytes: 50 * 1024 * 1024,
            max_partition_fetch_bytes: 1024 * 1024,
            fetch_max_wait: Duration::from_millis(500),
            max_poll_records: 500,
            isolation_level: IsolationLevel::ReadUncommitted,
            fetch_buffer_bytes: 64 * 1024 * 1024,
            retry_backoff: Duration::from_millis(100),
            group_id: None,
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            session_timeout: None,
            max_poll_interval: Duration::from_mins(5),
            group_remote_assignor: None,
        }
    }
}

impl ConsumerConfig {
    /// Applies one setting by its Kafka name; names the consumer does not
    /// know go to [`ClientConfig::set`]. An unknown name is
    /// [`ConfigError::UnknownKey`] naming it.
    ///
    /// ```
    /// use runnel_consumer::{AutoOffsetReset, ConsumerConfig};
    ///
    /// let mut config = ConsumerConfig::default();
    /// config.set("auto.offset.reset", "earliest")?;
    /// config.set("client.id", "billing")?;
    /// assert_eq!(config.auto_offset_reset, AutoOffsetReset::Earliest);
    /// assert!(config.set("group.instance", "x").is_err());
    /// # Ok::<(), runnel_client::ConfigError>(())
    /// ```
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match key {
            "auto.offset.reset" => self.auto_offset_reset = AutoOffsetReset::parse(key, value)?,
            "fetch.min.bytes" => self.fetch_min_bytes = parse_number(key, value)?,
            "fetch.max.bytes" => self.fetch_max_bytes = positive(key, value)?,
            "max.partition.fetch.bytes" => self.max_partition_fetch_bytes = positive(key, value)?,
            "fetch.max.wait.ms" => self.fetch_max_wait = parse_ms(key, value)?,
            "max.poll.records" => {
                let n: usize = parse_number(key, value)?;
                if n == 0 {
                    return Err(ConfigError::invalid(key, value, "must be at least 1"));
                }
                self.max_poll_records = n;
            }
            "isolation.level" => self.isolation_level = parse_isolation(key, value)?,
            "fetch.buffer.bytes" => {
                let n: usize = parse_number(key, value)?;
                if n == 0 {
                    return Err(ConfigError::invalid(key, value, "must be at least 1"));
                }
                self.fetch_buffer_bytes = n;
            }
            "retry.backoff.ms" => self.retry_backoff = parse_ms(key, value)?,
            "group.id" => {
                let id = value.trim();
                if id.is_empty() || id.len() > MAX_GROUP_ID_BYTES {
                    return Err(ConfigError::invalid(key, value, "expected 1 to 255 bytes"));
                }
                self.group_id = Some(id.to_owned());
            }
            "enable.auto.commit" => self.enable_auto_commit = parse_bool(key, value)?,
            "auto.commit.interval.ms" => self.auto_commit_interval = positive_ms(key, value)?,
            "session.timeout.ms" => self.session_timeout = Some(positive_ms(key, value)?),
            "max.poll.interval.ms" => self.max_poll_interval = positive_ms(key, value)?,
            "group.remote.assignor" => match value.trim() {
                name @ ("range" | "roundrobin" | "sticky") => {
                    self.group_remote_assignor = Some(name.to_owned());
                }
                _ => {
                    return Err(ConfigError::invalid(
                        key,
                        value,
                        "expected range, roundrobin or sticky",
                    ));
                }
            },
            _ => self.client.set(key, value)?,
        }
        Ok(())
    }

    /// The connection settings the fetcher needs: response frames large
    /// enough for `fetch.max.bytes` plus one oversized batch, and a request
    /// timeout that covers the long poll.
    pub(crate) fn fetch_client(&self) -> ClientConfig {
        let mut client = self.client.clone();
        let needed = usize::try_from(self.fetch_max_bytes)
            .unwrap_or(usize::MAX)
            .saturating_add(FRAME_OVERHEAD);
        client.max_frame_bytes = client.max_frame_bytes.max(needed);
        client.request_timeout = client.request_timeout.saturating_add(self.fetch_max_wait);
        client
    }
}

/// `isolation.level`: `read_uncommitted` or `read_unflushed`.
fn parse_isolation(key: &str, value: &str) -> Result<IsolationLevel, ConfigError> {
    match value.trim() {
        "read_uncommitted" => Ok(IsolationLevel::ReadUncommitted),
        "read_unflushed" => Ok(IsolationLevel::ReadUnflushed),
        "read_committed" => Err(ConfigError::invalid(
            key,
            value,
            "there are no transactions, so read_uncommitted already returns only \
             committed (durable) records; expected read_uncommitted or read_unflushed",
        )),
        _ => Err(ConfigError::invalid(
            key,
            value,
            "expected read_uncommitted or read_unflushed",
        )),
    }
}

/// A millisecond duration that is not zero and fits the wire's `u32`.
fn positive_ms(key: &str, value: &str) -> Result<Duration, ConfigError> {
    positive(key, value).map(|ms| Duration::from_millis(u64::from(ms)))
}

/// A byte count that fits the wire's `u32` and is not zero.
fn positive(key: &str, value: &str) -> Result<u32, ConfigError> {
    let n: u32 = parse_number(key, value)?;
    if n == 0 {
        return Err(ConfigError::invalid(key, value, "must be at least 1"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_kafka() {
        let c = ConsumerConfig::default();
        assert_eq!(c.auto_offset_reset, AutoOffsetReset::Latest);
        assert_eq!(c.fetch_min_bytes, 1);
        assert_eq!(c.fetch_max_bytes, 52_428_800);
        assert_eq!(c.max_partition_fetch_bytes, 1_048_576);
        assert_eq!(c.fetch_max_wait, Duration::from_millis(500));
        assert_eq!(c.max_poll_records, 500);
        assert_eq!(c.fetch_buffer_bytes, 64 * 1024 * 1024);
    }

    #[test]
    fn every_key_parses() {
        let mut c = ConsumerConfig::default();
        for (k, v) in [
            ("auto.offset.reset", "earliest"),
            ("fetch.min.bytes", "0"),
            ("fetch.max.bytes", "2000"),
            ("max.partition.fetch.bytes", "1000"),
            ("fetch.max.wait.ms", "10"),
            ("max.poll.records", "7"),
            ("isolation.level", "read_unflushed"),
            ("fetch.buffer.bytes", "4096"),
            ("retry.backoff.ms", "5"),
            ("group.id", "billing"),
            ("enable.auto.commit", "false"),
            ("auto.commit.interval.ms", "250"),
            ("session.timeout.ms", "10000"),
            ("max.poll.interval.ms", "60000"),
            ("group.remote.assignor", "range"),
            ("client.id", "cli"),
            ("request.timeout.ms", "1500"),
        ] {
            c.set(k, v).unwrap_or_else(|e| panic!("{k}: {e}"));
        }
        assert_eq!(c.auto_offset_reset, AutoOffsetReset::Earliest);
        assert_eq!(c.fetch_min_bytes, 0);
        assert_eq!(c.fetch_max_bytes, 2000);
        assert_eq!(c.max_partition_fetch_bytes, 1000);
        assert_eq!(c.fetch_max_wait, Duration::from_millis(10));
        assert_eq!(c.max_poll_records, 7);
        assert_eq!(c.isolation_level, IsolationLevel::ReadUnflushed);
        assert_eq!(c.fetch_buffer_bytes, 4096);
        assert_eq!(c.retry_backoff, Duration::from_millis(5));
        assert_eq!(c.group_id.as_deref(), Some("billing"));
        assert!(!c.enable_auto_commit);
        assert_eq!(c.auto_commit_interval, Duration::from_millis(250));
        assert_eq!(c.session_timeout, Some(Duration::from_secs(10)));
        assert_eq!(c.max_poll_interval, Duration::from_mins(1));
        assert_eq!(c.group_remote_assignor.as_deref(), Some("range"));
        assert_eq!(c.client.client_id, "cli");
        assert_eq!(c.client.request_timeout, Duration::from_millis(1500));
    }

    #[test]
    fn every_listed_key_is_known() {
        let mut c = ConsumerConfig::default();
        for key in KEYS {
            let err = c.set(key, "not a value");
            assert!(
                !matches!(err, Err(ConfigError::UnknownKey { .. })),
                "{key} is listed but unknown"
            );
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let mut c = ConsumerConfig::default();
        assert_eq!(
            c.set("auto.offset.rest", "earliest")
                .unwrap_err()
                .to_string(),
            "unknown setting \"auto.offset.rest\""
        );
        assert_eq!(
            c.set("auto.offset.reset", "smallest")
                .unwrap_err()
                .to_string(),
            "invalid value \"smallest\" for auto.offset.reset: expected earliest, latest or none"
        );
        assert_eq!(
            c.set("isolation.level", "read_committed")
                .unwrap_err()
                .to_string(),
            "invalid value \"read_committed\" for isolation.level: there are no transactions, \
             so read_uncommitted already returns only committed (durable) records; expected \
             read_uncommitted or read_unflushed"
        );
        assert!(c.set("max.poll.records", "0").is_err());
        assert!(c.set("fetch.max.bytes", "0").is_err());
        assert!(c.set("fetch.max.bytes", "5000000000").is_err());
        assert!(c.set("fetch.buffer.bytes", "0").is_err());
        assert!(c.set("group.id", "").is_err());
        assert!(c.set("group.id", &"g".repeat(256)).is_err());
        assert!(c.set("group.remote.assignor", "greedy").is_err());
        assert!(c.set("enable.auto.commit", "yes").is_err());
        assert_eq!(c, ConsumerConfig::default());
    }

    #[test]
    fn fetch_client_fits_the_largest_response_and_the_long_poll() {
        let mut c = ConsumerConfig::default();
        c.set("fetch.max.bytes", "200000000").unwrap();
        let client = c.fetch_client();
        assert!(client.max_frame_bytes >= 200_000_000 + FRAME_OVERHEAD);
        assert_eq!(
            client.request_timeout,
            c.client.request_timeout + c.fetch_max_wait
        );
    }
}
