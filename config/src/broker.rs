//! The broker's configuration and how it is assembled.
//!
//! Layers, each overriding the one before: built-in defaults
//! ([`crate::defaults`]), the TOML config file, `RUNNEL_*` environment
//! variables, command-line flags ([`BrokerOverrides`]). The result is checked
//! once all layers are applied, so a file value may be fixed by a flag.
//!
//! Environment variables are `RUNNEL_` + the field's name in upper case
//! (`RUNNEL_DATA_DIR`, `RUNNEL_LISTEN`, `RUNNEL_MAX_CONNECTIONS`...). Every
//! other `RUNNEL_*` variable is an error naming it, so a misspelt variable
//! is not silently ignored — except the few in [`ENV_VARS_READ_ELSEWHERE`].
//! `[topic_defaults]` can be set only in the file.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::defaults::{
    DEFAULT_AUTO_CREATE_TOPICS, DEFAULT_DATA_DIR, DEFAULT_GROUP_DEFAULT_SESSION_TIMEOUT_MS,
    DEFAULT_GROUP_HEARTBEAT_INTERVAL_MS, DEFAULT_GROUP_MAX_SESSION_TIMEOUT_MS,
    DEFAULT_GROUP_MIN_SESSION_TIMEOUT_MS, DEFAULT_LISTEN, DEFAULT_LOG_FORMAT,
    DEFAULT_MAX_CONNECTION_BUFFER_BYTES, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_FETCH_WAIT_MS,
    DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, DEFAULT_METRICS_LISTEN,
    DEFAULT_METRICS_PER_PARTITION, DEFAULT_PARTIAL_FRAME_TIMEOUT_MS, DEFAULT_PARTITIONS,
    DEFAULT_SHUTDOWN_TIMEOUT_MS, MIN_MAX_FRAME_BYTES,
};
use crate::suggest::closest;
use crate::{ConfigError, TopicConfig};

/// The prefix of the broker's environment variables.
pub const ENV_PREFIX: &str = "RUNNEL_";

/// `RUNNEL_*` variables that belong to other settings than the broker's
/// fields and that [`BrokerConfig::apply_env`] therefore ignores:
/// - `RUNNEL_BROKER`: the `runnel` command-line tool's default broker
///   address; often set in the same shell that starts a broker.
/// - `RUNNEL_CONFIG`: the config file's path, read by the broker binary for
///   `--config`.
pub const ENV_VARS_READ_ELSEWHERE: &[&str] = &["RUNNEL_BROKER", "RUNNEL_CONFIG"];

/// The largest value a millisecond or byte count may have: TOML integers are
/// signed 64-bit, and `--print-config` must be able to write every value.
const MAX_TOML_INT: u64 = i64::MAX.unsigned_abs();

/// The broker's configuration. Fields are public for reading and for tests
/// that build one by hand (`BrokerConfig { listen, ..Default::default() }`);
/// call [`BrokerConfig::validate`] on a hand-built one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// Directory holding topics, groups and the lock file.
    pub data_dir: PathBuf,
    /// Address of the native protocol listener (an IP address and port; use
    /// port 0 for any free port).
    pub listen: SocketAddr,
    /// Address of the Prometheus `/metrics` endpoint.
    pub metrics_listen: SocketAddr,
    /// Client connections served at once; the accept loop waits for a slot
    /// beyond this.
    pub max_connections: u32,
    /// Largest request frame, in bytes; a larger length prefix closes the
    /// connection before its body is read. At least
    /// [`MIN_MAX_FRAME_BYTES`].
    pub max_frame_bytes: u32,
    /// Requests read from one connection and not yet answered; the broker
    /// stops reading the connection at this many.
    pub max_in_flight_requests_per_connection: u32,
    /// Bytes of requests buffered for one connection before the broker stops
    /// reading it, so a client that pipelines faster than it is served gets
    /// backpressure instead of growing the broker's memory.
    pub max_connection_buffer_bytes: u64,
    /// Upper bound on a fetch's long-poll wait, whatever the client asks.
    pub max_fetch_wait_ms: u64,
    /// How long a connection may sit in the middle of a request frame (its
    /// length prefix or body partly received) before the broker closes it,
    /// so clients that send a partial frame and stall (slow-loris) do not
    /// hold a connection slot and buffer memory forever. An idle
    /// connection between frames is not timed.
    pub partial_frame_timeout_ms: u64,
    /// How long shutdown waits for in-flight requests before it stops them.
    pub shutdown_timeout_ms: u64,
    /// Whether producing to or fetching from an unknown topic creates it.
    /// Off by default, as in Redpanda (Kafka defaults to on): a typo in a
    /// topic name should be an error, not a new topic.
    pub auto_create_topics: bool,
    /// Partitions of a topic created without a count (by auto-creation or a
    /// CreateTopics request that leaves it out).
    pub default_partitions: u32,
    /// Format of the broker's log lines.
    pub log_format: LogFormat,
    /// Shortest session timeout a group member may ask for.
    pub group_min_session_timeout_ms: u64,
    /// Longest session timeout a group member may ask for.
    pub group_max_session_timeout_ms: u64,
    /// Session timeout of a member that does not ask for one.
    pub group_default_session_timeout_ms: u64,
    /// How often group members are told to heartbeat; below the minimum
    /// session timeout so a live member is never expired.
    pub group_heartbeat_interval_ms: u64,
    /// Whether metrics carry a `partition` label. With many partitions the
    /// series count grows large; when false, per-partition metrics are
    /// summed per topic.
    pub metrics_per_partition: bool,
    /// Config of topics that do not override a key (`[topic_defaults]`, keys
    /// by their quoted Kafka names).
    pub topic_defaults: TopicConfig,
}

/// Format of the broker's log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `text`: human-readable lines.
    Text,
    /// `json`: one JSON object per line, for log collectors.
    Json,
}

impl LogFormat {
    /// The spelling in TOML and the environment (`text`, `json`).
    pub const fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl std::fmt::Display for LogFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Values given by command-line flags, the top layer. `None` leaves the
/// value from the layers below.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerOverrides {
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--metrics-listen`.
    pub metrics_listen: Option<SocketAddr>,
}

/// The fields settable from the environment (every field but
/// `topic_defaults`), in declaration order.
const ENV_FIELDS: &[&str] = &[
    "data_dir",
    "listen",
    "metrics_listen",
    "max_connections",
    "max_frame_bytes",
    "max_in_flight_requests_per_connection",
    "max_connection_buffer_bytes",
    "max_fetch_wait_ms",
    "partial_frame_timeout_ms",
    "shutdown_timeout_ms",
    "auto_create_topics",
    "default_partitions",
    "log_format",
    "group_min_session_timeout_ms",
    "group_max_session_timeout_ms",
    "group_default_session_timeout_ms",
    "group_heartbeat_interval_ms",
    "metrics_per_partition",
];

/// The field that cannot be set from the environment.
const TOPIC_DEFAULTS: &str = "topic_defaults";

/// What `field` accepts, in words.
fn expected(field: &str) -> String {
    match field {
        "data_dir" => "a non-empty directory path".to_owned(),
        "listen" | "metrics_listen" => {
            "an IP address and port such as 127.0.0.1:9170 or [::]:9170".to_owned()
        }
        "max_connections" => "an integer number of connections ≥ 1".to_owned(),
        "max_frame_bytes" => format!(
            "an integer number of bytes from {MIN_MAX_FRAME_BYTES} to {}",
            u32::MAX
        ),
        "max_in_flight_requests_per_connection" => "an integer number of requests ≥ 1".to_owned(),
        "max_connection_buffer_bytes" => {
            format!("an integer number of bytes from 1 to {MAX_TOML_INT}")
        }
        "max_fetch_wait_ms" | "shutdown_timeout_ms" => {
            format!("an integer number of milliseconds from 0 to {MAX_TOML_INT}")
        }
        "partial_frame_timeout_ms"
        | "group_min_session_timeout_ms"
        | "group_max_session_timeout_ms"
        | "group_default_session_timeout_ms"
        | "group_heartbeat_interval_ms" => {
            format!("an integer number of milliseconds from 1 to {MAX_TOML_INT}")
        }
        "auto_create_topics" | "metrics_per_partition" => "true or false".to_owned(),
        "default_partitions" => "an integer number of partitions ≥ 1".to_owned(),
        "log_format" => "text or json".to_owned(),
        _ => String::new(),
    }
}

/// The environment variable for `field`.
fn env_var_name(field: &str) -> String {
    format!("{ENV_PREFIX}{}", field.to_uppercase())
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            listen: DEFAULT_LISTEN,
            metrics_listen: DEFAULT_METRICS_LISTEN,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_in_flight_requests_per_connection: DEFAULT_MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION,
            max_connection_buffer_bytes: DEFAULT_MAX_CONNECTION_BUFFER_BYTES,
            max_fetch_wait_ms: DEFAULT_MAX_FETCH_WAIT_MS,
            partial_frame_timeout_ms: DEFAULT_PARTIAL_FRAME_TIMEOUT_MS,
            shutdown_timeout_ms: DEFAULT_SHUTDOWN_TIMEOUT_MS,
            auto_create_topics: DEFAULT_AUTO_CREATE_TOPICS,
            default_partitions: DEFAULT_PARTITIONS,
            log_format: DEFAULT_LOG_FORMAT,
            group_min_session_timeout_ms: DEFAULT_GROUP_MIN_SESSION_TIMEOUT_MS,
            group_max_session_timeout_ms: DEFAULT_GROUP_MAX_SESSION_TIMEOUT_MS,
            group_default_session_timeout_ms: DEFAULT_GROUP_DEFAULT_SESSION_TIMEOUT_MS,
            group_heartbeat_interval_ms: DEFAULT_GROUP_HEARTBEAT_INTERVAL_MS,
            metrics_per_partition: DEFAULT_METRICS_PER_PARTITION,
            topic_defaults: TopicConfig::default(),
        }
    }
}

impl BrokerConfig {
    /// The effective configuration: defaults, then `file` if given, then the
    /// `RUNNEL_*` variables in `env`, then `overrides`; checked as a whole.
    /// The binary passes `std::env::vars_os()`; tests pass a list.
    pub fn load<I, K, V>(
        file: Option<&Path>,
        env: I,
        overrides: &BrokerOverrides,
    ) -> Result<BrokerConfig, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let mut config = match file {
            Some(path) => BrokerConfig::read_file(path)?,
            None => BrokerConfig::default(),
        };
        config.apply_env(env)?;
        config.apply_overrides(overrides);
        config.validate()?;
        Ok(config)
    }

    /// Parse and check a config file on its own (no environment, no flags).
    pub fn from_file(path: &Path) -> Result<BrokerConfig, ConfigError> {
        let config = BrokerConfig::read_file(path)?;
        config.validate()?;
        Ok(config)
    }

    /// Parse and check a config file's content. Keys left out take their
    /// defaults; unknown keys are errors.
    pub fn from_toml_str(text: &str) -> Result<BrokerConfig, ConfigError> {
        let config = BrokerConfig::parse(text, "config".to_owned())?;
        config.validate()?;
        Ok(config)
    }

    /// Read and parse `path` without the final check.
    fn read_file(path: &Path) -> Result<BrokerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        BrokerConfig::parse(&text, format!("config file {}", path.display()))
    }

    /// Parse TOML without the final check; `origin` names the text in errors.
    fn parse(text: &str, origin: String) -> Result<BrokerConfig, ConfigError> {
        toml::from_str(text).map_err(|source| ConfigError::Toml { origin, source })
    }

    /// Apply the `RUNNEL_*` variables among `env`; others are ignored. Each
    /// value is checked as it is applied so the error names the variable.
    /// Unknown `RUNNEL_*` variables are errors, except
    /// [`ENV_VARS_READ_ELSEWHERE`]. On error `self` may be partly updated.
    pub fn apply_env<I, K, V>(&mut self, env: I) -> Result<(), ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (name, value) in env {
            let (name, value) = (name.as_ref(), value.as_ref());
            if !name.as_encoded_bytes().starts_with(ENV_PREFIX.as_bytes()) {
                continue;
            }
            let name = name.to_string_lossy();
            if ENV_VARS_READ_ELSEWHERE.contains(&name.as_ref()) {
                continue;
            }
            if name == env_var_name(TOPIC_DEFAULTS) {
                return Err(ConfigError::UnsupportedEnvVar {
                    name: name.into_owned(),
                    reason: "topic defaults are set in the config file's [topic_defaults] table",
                });
            }
            let Some(field) = ENV_FIELDS.iter().find(|f| env_var_name(f) == name) else {
                let known: Vec<String> = ENV_FIELDS.iter().map(|f| env_var_name(f)).collect();
                return Err(ConfigError::UnknownEnvVar {
                    suggestion: closest(&name, known.iter().map(String::as_str)).map(str::to_owned),
                    name: name.into_owned(),
                });
            };
            let invalid = || ConfigError::InvalidEnvValue {
                name: name.clone().into_owned(),
                value: value.to_string_lossy().into_owned(),
                expected: expected(field),
            };
            let text = value.to_str().ok_or_else(invalid)?;
            self.set_field(field, text).ok_or_else(invalid)?;
            self.check_field(field).map_err(|_| invalid())?;
        }
        Ok(())
    }

    /// Apply the values given by flags.
    pub fn apply_overrides(&mut self, overrides: &BrokerOverrides) {
        if let Some(data_dir) = &overrides.data_dir {
            self.data_dir.clone_from(data_dir);
        }
        if let Some(listen) = overrides.listen {
            self.listen = listen;
        }
        if let Some(metrics_listen) = overrides.metrics_listen {
            self.metrics_listen = metrics_listen;
        }
    }

    /// Set `field` from a string; `None` if the string does not parse.
    fn set_field(&mut self, field: &str, text: &str) -> Option<()> {
        fn num<T: TryFrom<i64>>(text: &str) -> Option<T> {
            text.trim()
                .parse::<i64>()
                .ok()
                .and_then(|n| T::try_from(n).ok())
        }
        fn boolean(text: &str) -> Option<bool> {
            match text.trim() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            }
        }
        match field {
            "data_dir" => self.data_dir = PathBuf::from(text),
            "listen" => self.listen = text.trim().parse().ok()?,
            "metrics_listen" => self.metrics_listen = text.trim().parse().ok()?,
            "max_connections" => self.max_connections = num(text)?,
            "max_frame_bytes" => self.max_frame_bytes = num(text)?,
            "max_in_flight_requests_per_connection" => {
                self.max_in_flight_requests_per_connection = num(text)?;
            }
            "max_connection_buffer_bytes" => self.max_connection_buffer_bytes = num(text)?,
            "max_fetch_wait_ms" => self.max_fetch_wait_ms = num(text)?,
            "partial_frame_timeout_ms" => self.partial_frame_timeout_ms = num(text)?,
            "shutdown_timeout_ms" => self.shutdown_timeout_ms = num(text)?,
            "auto_create_topics" => self.auto_create_topics = boolean(text)?,
            "default_partitions" => self.default_partitions = num(text)?,
            "log_format" => {
                self.log_format = match text.trim() {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    _ => return None,
                };
            }
            "group_min_session_timeout_ms" => self.group_min_session_timeout_ms = num(text)?,
            "group_max_session_timeout_ms" => self.group_max_session_timeout_ms = num(text)?,
            "group_default_session_timeout_ms" => {
                self.group_default_session_timeout_ms = num(text)?;
            }
            "group_heartbeat_interval_ms" => self.group_heartbeat_interval_ms = num(text)?,
            "metrics_per_partition" => self.metrics_per_partition = boolean(text)?,
            _ => return None,
        }
        Some(())
    }

    /// Check `field`'s own rule; on failure, its current value as text.
    fn check_field(&self, field: &str) -> Result<(), String> {
        fn within(value: u64, min: u64, max: u64) -> Result<(), String> {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(value.to_string())
            }
        }
        match field {
            "data_dir" if self.data_dir.as_os_str().is_empty() => Err(String::new()),
            "max_connections" => within(self.max_connections.into(), 1, u64::MAX),
            "max_frame_bytes" => within(
                self.max_frame_bytes.into(),
                MIN_MAX_FRAME_BYTES.into(),
                u64::MAX,
            ),
            "max_in_flight_requests_per_connection" => within(
                self.max_in_flight_requests_per_connection.into(),
                1,
                u64::MAX,
            ),
            "max_connection_buffer_bytes" => {
                within(self.max_connection_buffer_bytes, 1, MAX_TOML_INT)
            }
            "max_fetch_wait_ms" => within(self.max_fetch_wait_ms, 0, MAX_TOML_INT),
            "partial_frame_timeout_ms" => within(self.partial_frame_timeout_ms, 1, MAX_TOML_INT),
            "shutdown_timeout_ms" => within(self.shutdown_timeout_ms, 0, MAX_TOML_INT),
            "default_partitions" => within(self.default_partitions.into(), 1, u64::MAX),
            "group_min_session_timeout_ms" => {
                within(self.group_min_session_timeout_ms, 1, MAX_TOML_INT)
            }
            "group_max_session_timeout_ms" => {
                within(self.group_max_session_timeout_ms, 1, MAX_TOML_INT)
            }
            "group_default_session_timeout_ms" => {
                within(self.group_default_session_timeout_ms, 1, MAX_TOML_INT)
            }
            "group_heartbeat_interval_ms" => {
                within(self.group_heartbeat_interval_ms, 1, MAX_TOML_INT)
            }
            _ => Ok(()),
        }
    }

    /// Check every field's own rule, then the rules between fields: group
    /// session timeouts ordered min ≤ default ≤ max, the heartbeat interval
    /// below the minimum session timeout, and the two listeners on different
    /// addresses.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for field in ENV_FIELDS {
            self.check_field(field)
                .map_err(|value| ConfigError::InvalidValue {
                    key: (*field).to_owned(),
                    value,
                    expected: expected(field),
                })?;
        }
        self.topic_defaults.validate()?;

        let ordered = [
            (
                "group_min_session_timeout_ms",
                self.group_min_session_timeout_ms,
                "group_default_session_timeout_ms",
                self.group_default_session_timeout_ms,
            ),
            (
                "group_default_session_timeout_ms",
                self.group_default_session_timeout_ms,
                "group_max_session_timeout_ms",
                self.group_max_session_timeout_ms,
            ),
        ];
        for (low_key, low, high_key, high) in ordered {
            if low > high {
                return Err(ConfigError::Inconsistent {
                    message: format!(
                        "{low_key} ({low}) must not exceed {high_key} ({high}); \
                         session timeouts must satisfy min ≤ default ≤ max"
                    ),
                });
            }
        }
        if self.group_heartbeat_interval_ms >= self.group_min_session_timeout_ms {
            return Err(ConfigError::Inconsistent {
                message: format!(
                    "group_heartbeat_interval_ms ({}) must be less than \
                     group_min_session_timeout_ms ({}), or members would expire between heartbeats",
                    self.group_heartbeat_interval_ms, self.group_min_session_timeout_ms
                ),
            });
        }
        if self.listen == self.metrics_listen && self.listen.port() != 0 {
            return Err(ConfigError::Inconsistent {
                message: format!(
                    "listen and metrics_listen are both {}; they must be different addresses",
                    self.listen
                ),
            });
        }
        Ok(())
    }

    /// The configuration as TOML, for `--print-config`; it parses back to
    /// the same configuration. Fails only for a data directory path that is
    /// not UTF-8 or values beyond TOML's range (which [`validate`] rejects).
    ///
    /// [`validate`]: BrokerConfig::validate
    pub fn to_toml_string(&self) -> Result<String, ConfigError> {
        let body = toml::to_string(self).map_err(|source| ConfigError::Serialize {
            what: "broker config",
            source,
        })?;
        Ok(format!("# Runnel broker configuration\n{body}"))
    }

    /// [`max_fetch_wait_ms`](BrokerConfig::max_fetch_wait_ms) as a duration.
    pub fn max_fetch_wait(&self) -> Duration {
        Duration::from_millis(self.max_fetch_wait_ms)
    }

    /// [`partial_frame_timeout_ms`](BrokerConfig::partial_frame_timeout_ms)
    /// as a duration.
    pub fn partial_frame_timeout(&self) -> Duration {
        Duration::from_millis(self.partial_frame_timeout_ms)
    }

    /// [`shutdown_timeout_ms`](BrokerConfig::shutdown_timeout_ms) as a
    /// duration.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }

    /// [`group_min_session_timeout_ms`](BrokerConfig::group_min_session_timeout_ms)
    /// as a duration.
    pub fn group_min_session_timeout(&self) -> Duration {
        Duration::from_millis(self.group_min_session_timeout_ms)
    }

    /// [`group_max_session_timeout_ms`](BrokerConfig::group_max_session_timeout_ms)
    /// as a duration.
    pub fn group_max_session_timeout(&self) -> Duration {
        Duration::from_millis(self.group_max_session_timeout_ms)
    }

    /// [`group_default_session_timeout_ms`](BrokerConfig::group_default_session_timeout_ms)
    /// as a duration.
    pub fn group_default_session_timeout(&self) -> Duration {
        Duration::from_millis(self.group_default_session_timeout_ms)
    }

    /// [`group_heartbeat_interval_ms`](BrokerConfig::group_heartbeat_interval_ms)
    /// as a duration.
    pub fn group_heartbeat_interval(&self) -> Duration {
        Duration::from_millis(self.group_heartbeat_interval_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CleanupPolicy;
    use crate::topic::tests::any_topic_config;
    use proptest::prelude::*;
    use std::error::Error as _;
    use std::io::Write as _;

    const NO_ENV: [(&str, &str); 0] = [];

    /// The error and its sources, joined as anyhow's `{:#}` would print them.
    fn chain(err: &ConfigError) -> String {
        let mut text = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            text = format!("{text}: {s}");
            source = s.source();
        }
        text
    }

    fn file_with(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = BrokerConfig::default();
        assert_eq!(c.data_dir, PathBuf::from("./runnel-data"));
        assert_eq!(c.listen, addr("127.0.0.1:9170"));
        assert_eq!(c.metrics_listen, addr("127.0.0.1:9171"));
        assert_eq!(c.max_connections, 4096);
        assert_eq!(c.max_frame_bytes, 100 * 1024 * 1024);
        assert_eq!(c.max_in_flight_requests_per_connection, 128);
        assert_eq!(c.max_connection_buffer_bytes, 64 * 1024 * 1024);
        assert_eq!(c.max_fetch_wait(), Duration::from_secs(30));
        assert_eq!(c.shutdown_timeout(), Duration::from_secs(30));
        assert!(!c.auto_create_topics);
        assert_eq!(c.default_partitions, 1);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.group_min_session_timeout(), Duration::from_secs(6));
        assert_eq!(c.group_max_session_timeout(), Duration::from_mins(5));
        assert_eq!(c.group_default_session_timeout(), Duration::from_secs(45));
        assert_eq!(c.group_heartbeat_interval(), Duration::from_secs(3));
        assert!(c.metrics_per_partition);
        assert_eq!(c.topic_defaults, TopicConfig::default());
        assert!(c.validate().is_ok());
    }

    #[test]
    fn load_without_anything_gives_defaults() {
        let c = BrokerConfig::load(None, NO_ENV, &BrokerOverrides::default()).unwrap();
        assert_eq!(c, BrokerConfig::default());
    }

    #[test]
    fn file_sets_fields_and_leaves_the_rest_default() {
        let c = BrokerConfig::from_toml_str(
            r#"
            data_dir = "/var/lib/runnel"
            listen = "0.0.0.0:9170"
            max_connections = 10
            log_format = "json"
            auto_create_topics = true

            [topic_defaults]
            "retention.ms" = 1000
            "cleanup.policy" = "compact"
            "#,
        )
        .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/runnel"));
        assert_eq!(c.listen, addr("0.0.0.0:9170"));
        assert_eq!(c.max_connections, 10);
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(c.auto_create_topics);
        assert_eq!(c.topic_defaults.retention_ms, Some(1000));
        assert_eq!(c.topic_defaults.cleanup_policy, CleanupPolicy::Compact);
        assert_eq!(c.topic_defaults.segment_bytes, 1 << 30);
        assert_eq!(c.metrics_listen, addr("127.0.0.1:9171"));
    }

    #[test]
    fn load_reads_the_file() {
        let file = file_with("max_frame_bytes = 2048\n");
        let c = BrokerConfig::load(Some(file.path()), NO_ENV, &BrokerOverrides::default()).unwrap();
        assert_eq!(c.max_frame_bytes, 2048);
        assert_eq!(BrokerConfig::from_file(file.path()).unwrap(), c);
    }

    #[test]
    fn missing_file_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.toml");
        let err = BrokerConfig::load(Some(&path), NO_ENV, &BrokerOverrides::default()).unwrap_err();
        assert!(matches!(err, ConfigError::ReadFile { .. }));
        assert!(err.to_string().contains("absent.toml"), "{err}");
    }

    #[test]
    fn env_overrides_file() {
        let file = file_with("max_connections = 10\nlisten = \"127.0.0.1:1000\"\n");
        let env = [
            ("RUNNEL_MAX_CONNECTIONS", "20"),
            ("RUNNEL_DATA_DIR", "/data"),
            ("PATH", "/usr/bin"),
            ("RUNNEL_BROKER", "somewhere:9170"),
        ];
        let c = BrokerConfig::load(Some(file.path()), env, &BrokerOverrides::default()).unwrap();
        assert_eq!(c.max_connections, 20);
        assert_eq!(c.data_dir, PathBuf::from("/data"));
        assert_eq!(c.listen, addr("127.0.0.1:1000"));
    }

    #[test]
    fn flags_override_env() {
        let file = file_with("listen = \"127.0.0.1:1000\"\ndata_dir = \"/file\"\n");
        let env = [
            ("RUNNEL_LISTEN", "127.0.0.1:2000"),
            ("RUNNEL_DATA_DIR", "/env"),
        ];
        let flags = BrokerOverrides {
            listen: Some(addr("127.0.0.1:3000")),
            metrics_listen: Some(addr("127.0.0.1:3001")),
            data_dir: None,
        };
        let c = BrokerConfig::load(Some(file.path()), env, &flags).unwrap();
        assert_eq!(c.listen, addr("127.0.0.1:3000"));
        assert_eq!(c.metrics_listen, addr("127.0.0.1:3001"));
        assert_eq!(c.data_dir, PathBuf::from("/env"));
    }

    #[test]
    fn every_field_is_settable_from_its_env_var() {
        let env = [
            ("RUNNEL_DATA_DIR", "/d"),
            ("RUNNEL_LISTEN", "[::1]:1"),
            ("RUNNEL_METRICS_LISTEN", "10.0.0.1:2"),
            ("RUNNEL_MAX_CONNECTIONS", "3"),
            ("RUNNEL_MAX_FRAME_BYTES", "4096"),
            ("RUNNEL_MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION", "5"),
            ("RUNNEL_MAX_CONNECTION_BUFFER_BYTES", "6"),
            ("RUNNEL_MAX_FETCH_WAIT_MS", "0"),
            ("RUNNEL_PARTIAL_FRAME_TIMEOUT_MS", "7"),
            ("RUNNEL_SHUTDOWN_TIMEOUT_MS", "8"),
            ("RUNNEL_AUTO_CREATE_TOPICS", "true"),
            ("RUNNEL_DEFAULT_PARTITIONS", "9"),
            ("RUNNEL_LOG_FORMAT", "json"),
            ("RUNNEL_GROUP_MIN_SESSION_TIMEOUT_MS", "100"),
            ("RUNNEL_GROUP_MAX_SESSION_TIMEOUT_MS", "300"),
            ("RUNNEL_GROUP_DEFAULT_SESSION_TIMEOUT_MS", "200"),
            ("RUNNEL_GROUP_HEARTBEAT_INTERVAL_MS", "10"),
            ("RUNNEL_METRICS_PER_PARTITION", "false"),
        ];
        assert_eq!(env.len(), ENV_FIELDS.len());
        let c = BrokerConfig::load(None, env, &BrokerOverrides::default()).unwrap();
        let expected = BrokerConfig {
            data_dir: PathBuf::from("/d"),
            listen: addr("[::1]:1"),
            metrics_listen: addr("10.0.0.1:2"),
            max_connections: 3,
            max_frame_bytes: 4096,
            max_in_flight_requests_per_connection: 5,
            max_connection_buffer_bytes: 6,
            max_fetch_wait_ms: 0,
            partial_frame_timeout_ms: 7,
            shutdown_timeout_ms: 8,
            auto_create_topics: true,
            default_partitions: 9,
            log_format: LogFormat::Json,
            group_min_session_timeout_ms: 100,
            group_max_session_timeout_ms: 300,
            group_default_session_timeout_ms: 200,
            group_heartbeat_interval_ms: 10,
            metrics_per_partition: false,
            topic_defaults: TopicConfig::default(),
        };
        assert_eq!(c, expected);
    }

    #[test]
    fn env_fields_are_exactly_the_scalar_fields() {
        let text = BrokerConfig::default().to_toml_string().unwrap();
        let table: toml::Table = toml::from_str(&text).unwrap();
        let mut keys: Vec<&str> = table.keys().map(String::as_str).collect();
        keys.retain(|k| *k != TOPIC_DEFAULTS);
        let mut fields = ENV_FIELDS.to_vec();
        keys.sort_unstable();
        fields.sort_unstable();
        assert_eq!(keys, fields);
        for field in ENV_FIELDS {
            assert!(!expected(field).is_empty(), "{field}");
        }
    }

    #[test]
    fn unknown_env_var_is_named_with_a_suggestion() {
        let err = BrokerConfig::load(None, [("RUNNEL_LISTN", "x")], &BrokerOverrides::default())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown environment variable RUNNEL_LISTN (did you mean \"RUNNEL_LISTEN\"?); \
             RUNNEL_* variables must name a broker setting"
        );
        let err = BrokerConfig::load(
            None,
            [("RUNNEL_data_dir", "/x")],
            &BrokerOverrides::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("did you mean \"RUNNEL_DATA_DIR\""),
            "{err}"
        );
    }

    #[test]
    fn topic_defaults_cannot_come_from_env() {
        let err = BrokerConfig::load(
            None,
            [("RUNNEL_TOPIC_DEFAULTS", "x")],
            &BrokerOverrides::default(),
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::UnsupportedEnvVar { .. }));
        assert!(err.to_string().contains("[topic_defaults]"), "{err}");
    }

    #[test]
    fn bad_env_value_names_variable_value_and_what_is_allowed() {
        for (name, value, allowed) in [
            (
                "RUNNEL_MAX_CONNECTIONS",
                "abc",
                "an integer number of connections ≥ 1",
            ),
            ("RUNNEL_MAX_CONNECTIONS", "0", "≥ 1"),
            ("RUNNEL_MAX_FRAME_BYTES", "512", "from 1024 to 4294967295"),
            ("RUNNEL_MAX_FRAME_BYTES", "4294967296", "from 1024"),
            ("RUNNEL_LISTEN", "localhost:9170", "an IP address and port"),
            ("RUNNEL_LOG_FORMAT", "yaml", "text or json"),
            ("RUNNEL_AUTO_CREATE_TOPICS", "yes", "true or false"),
            ("RUNNEL_DATA_DIR", "", "a non-empty directory path"),
            ("RUNNEL_MAX_FETCH_WAIT_MS", "-1", "milliseconds from 0"),
        ] {
            let err =
                BrokerConfig::load(None, [(name, value)], &BrokerOverrides::default()).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.starts_with(&format!(
                    "invalid value {value:?} in environment variable {name}: expected"
                )),
                "{msg}"
            );
            assert!(msg.contains(allowed), "{msg}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn non_unicode_env_values_are_errors_only_for_runnel_vars() {
        use std::ffi::OsString;
        use std::os::unix::ffi::OsStringExt as _;
        let garbage = OsString::from_vec(vec![0xff, 0xfe]);
        let env = vec![
            (OsString::from("OTHER"), garbage.clone()),
            (OsString::from_vec(vec![b'X', 0xff]), OsString::from("1")),
        ];
        assert!(BrokerConfig::load(None, env, &BrokerOverrides::default()).is_ok());
        let env = vec![(OsString::from("RUNNEL_DATA_DIR"), garbage)];
        let err = BrokerConfig::load(None, env, &BrokerOverrides::default()).unwrap_err();
        assert!(err.to_string().contains("RUNNEL_DATA_DIR"), "{err}");
    }

    #[test]
    fn unknown_key_in_file_is_rejected_with_the_key_named() {
        let file = file_with("data_dir = \"/d\"\nlistn = \"127.0.0.1:1\"\n");
        let err =
            BrokerConfig::load(Some(file.path()), NO_ENV, &BrokerOverrides::default()).unwrap_err();
        let msg = chain(&err);
        assert!(msg.starts_with("invalid config file "), "{msg}");
        assert!(msg.contains("unknown field `listn`"), "{msg}");
        assert!(msg.contains("line 2, column 1"), "{msg}");
    }

    #[test]
    fn unknown_topic_default_key_is_rejected_with_suggestion_and_line() {
        let err =
            BrokerConfig::from_toml_str("[topic_defaults]\n\"retention.msx\" = 1\n").unwrap_err();
        let msg = chain(&err);
        assert!(
            msg.contains("unknown topic config key \"retention.msx\""),
            "{msg}"
        );
        assert!(msg.contains("did you mean \"retention.ms\""), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn wrongly_typed_file_value_keeps_tomls_position() {
        let err = BrokerConfig::from_toml_str("max_connections = \"many\"\n").unwrap_err();
        let msg = chain(&err);
        assert!(msg.contains("line 1"), "{msg}");
        assert!(msg.contains("max_connections"), "{msg}");
        let err = BrokerConfig::from_toml_str("listen = \"nowhere\"\n").unwrap_err();
        assert!(chain(&err).contains("listen"), "{}", chain(&err));
        let err = BrokerConfig::from_toml_str("log_format = \"xml\"\n").unwrap_err();
        assert!(chain(&err).contains("xml"), "{}", chain(&err));
    }

    #[test]
    fn out_of_range_file_value_names_key_value_and_what_is_allowed() {
        let err = BrokerConfig::from_toml_str("max_frame_bytes = 512\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value \"512\" for max_frame_bytes: expected an integer number of bytes from 1024 to 4294967295"
        );
        let err = BrokerConfig::from_toml_str("default_partitions = 0\n").unwrap_err();
        assert!(err.to_string().contains("for default_partitions"), "{err}");
        let err = BrokerConfig::from_toml_str("data_dir = \"\"\n").unwrap_err();
        assert!(err.to_string().contains("for data_dir"), "{err}");
    }

    #[test]
    fn a_later_layer_may_fix_a_file_value() {
        let file = file_with("max_frame_bytes = 10\n");
        let env = [("RUNNEL_MAX_FRAME_BYTES", "2048")];
        let c = BrokerConfig::load(Some(file.path()), env, &BrokerOverrides::default()).unwrap();
        assert_eq!(c.max_frame_bytes, 2048);
    }

    #[test]
    fn session_timeouts_must_be_ordered() {
        let err = BrokerConfig::from_toml_str(
            "group_min_session_timeout_ms = 50000\ngroup_default_session_timeout_ms = 45000\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "inconsistent configuration: group_min_session_timeout_ms (50000) must not exceed \
             group_default_session_timeout_ms (45000); session timeouts must satisfy min ≤ default ≤ max"
        );
        let err =
            BrokerConfig::from_toml_str("group_max_session_timeout_ms = 10000\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("group_default_session_timeout_ms (45000) must not exceed")
        );
        assert!(
            BrokerConfig::from_toml_str(
                "group_min_session_timeout_ms = 45000\ngroup_max_session_timeout_ms = 45000\n"
            )
            .is_ok()
        );
    }

    #[test]
    fn heartbeat_must_be_below_the_minimum_session_timeout() {
        let err = BrokerConfig::from_toml_str("group_heartbeat_interval_ms = 6000\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("group_heartbeat_interval_ms (6000)"),
            "{err}"
        );
    }

    #[test]
    fn listeners_must_differ_unless_port_zero() {
        let err = BrokerConfig::from_toml_str(
            "listen = \"127.0.0.1:9000\"\nmetrics_listen = \"127.0.0.1:9000\"\n",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("listen and metrics_listen are both 127.0.0.1:9000")
        );
        assert!(
            BrokerConfig::from_toml_str(
                "listen = \"127.0.0.1:0\"\nmetrics_listen = \"127.0.0.1:0\"\n"
            )
            .is_ok()
        );
    }

    #[test]
    fn printed_config_parses_back_to_the_same_config() {
        let config = BrokerConfig::load(
            None,
            [
                ("RUNNEL_LOG_FORMAT", "json"),
                ("RUNNEL_MAX_FETCH_WAIT_MS", "0"),
            ],
            &BrokerOverrides {
                data_dir: Some(PathBuf::from("/srv/runnel data")),
                listen: Some(addr("[::]:9170")),
                metrics_listen: None,
            },
        )
        .unwrap();
        let text = config.to_toml_string().unwrap();
        assert!(text.contains("data_dir = \"/srv/runnel data\""), "{text}");
        assert!(text.contains("[topic_defaults]"), "{text}");
        assert!(text.contains("\"retention.ms\" = 604800000"), "{text}");
        assert_eq!(BrokerConfig::from_toml_str(&text).unwrap(), config);
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_data_dir_cannot_be_printed() {
        use std::ffi::OsString;
        use std::os::unix::ffi::OsStringExt as _;
        let config = BrokerConfig {
            data_dir: PathBuf::from(OsString::from_vec(vec![0xff])),
            ..BrokerConfig::default()
        };
        assert!(matches!(
            config.to_toml_string(),
            Err(ConfigError::Serialize { .. })
        ));
    }

    /// The example shipped next to the crate.
    const EXAMPLE: &str = include_str!("../broker.example.toml");

    #[test]
    fn example_file_parses_to_the_defaults() {
        assert_eq!(
            BrokerConfig::from_toml_str(EXAMPLE).unwrap(),
            BrokerConfig::default()
        );
    }

    #[test]
    fn example_file_shows_every_key() {
        let example: toml::Table = toml::from_str(EXAMPLE).unwrap();
        let printed: toml::Table =
            toml::from_str(&BrokerConfig::default().to_toml_string().unwrap()).unwrap();
        assert_eq!(example, printed);
    }

    proptest! {
        #[test]
        fn any_valid_config_round_trips_through_toml(
            max_connections in 1..=u32::MAX,
            max_frame_bytes in MIN_MAX_FRAME_BYTES..=u32::MAX,
            buffer in 1..=MAX_TOML_INT,
            fetch_wait in 0..=MAX_TOML_INT,
            port in 1..=u16::MAX,
            json in any::<bool>(),
            per_partition in any::<bool>(),
            heartbeat in 1..=MAX_TOML_INT / 4,
            topic_defaults in any_topic_config(),
        ) {
            let config = BrokerConfig {
                listen: SocketAddr::from(([0, 0, 0, 0], port)),
                max_connections,
                max_frame_bytes,
                max_connection_buffer_bytes: buffer,
                max_fetch_wait_ms: fetch_wait,
                log_format: if json { LogFormat::Json } else { LogFormat::Text },
                metrics_per_partition: per_partition,
                group_heartbeat_interval_ms: heartbeat,
                group_min_session_timeout_ms: heartbeat + 1,
                group_default_session_timeout_ms: heartbeat * 2,
                group_max_session_timeout_ms: heartbeat * 3,
                topic_defaults,
                ..BrokerConfig::default()
            };
            prop_assert!(config.validate().is_ok());
            let text = config.to_toml_string().unwrap();
            prop_assert_eq!(BrokerConfig::from_toml_str(&text).unwrap(), config);
        }

        #[test]
        fn arbitrary_env_values_never_panic(field in prop::sample::select(ENV_FIELDS), value in "\\PC{0,24}") {
            let _ = BrokerConfig::load(None, [(env_var_name(field), value)], &BrokerOverrides::default());
        }

        #[test]
        fn arbitrary_file_text_never_panics(text in "\\PC{0,200}") {
            let _ = BrokerConfig::from_toml_str(&text);
        }
    }
}
