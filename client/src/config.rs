//! [`ClientConfig`]: connection settings, settable by their Apache Kafka
//! names so that a CLI's `-X request.timeout.ms=5000` works.
//!
//! | key | field | default |
//! |---|---|---|
//! | `bootstrap.servers` | [`ClientConfig::bootstrap`] | `127.0.0.1:9170` |
//! | `client.id` | [`ClientConfig::client_id`] | `runnel` |
//! | `request.timeout.ms` | [`ClientConfig::request_timeout`] | 30 000 |
//! | `socket.connection.setup.timeout.ms` | [`ClientConfig::connect_timeout`] | 10 000 |
//! | `reconnect.backoff.ms` | [`ClientConfig::reconnect_backoff`] | 50 |
//! | `reconnect.backoff.max.ms` | [`ClientConfig::reconnect_backoff_max`] | 1 000 |
//! | `metadata.max.age.ms` | [`ClientConfig::metadata_max_age`] | 300 000 |
//! | `max.in.flight.requests.per.connection` | [`ClientConfig::max_in_flight`] | 5 |
//! | `fetch.max.bytes` / `runnel.max.frame.bytes` | [`ClientConfig::max_frame_bytes`] | 100 MiB |

use std::str::FromStr;
use std::time::Duration;

use runnel_protocol::DEFAULT_MAX_FRAME_BYTES;

/// The broker address used when none is configured.
pub const DEFAULT_BROKER: &str = "127.0.0.1:9170";

/// A setting that could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// No setting has this name.
    #[error("unknown setting {key:?}")]
    UnknownKey {
        /// The name given.
        key: String,
    },
    /// The value does not parse or is out of range.
    #[error("invalid value {value:?} for {key}: {reason}")]
    InvalidValue {
        /// The setting.
        key: String,
        /// The value given.
        value: String,
        /// What is expected.
        reason: String,
    },
    /// Settings that are valid alone but not together.
    #[error("conflicting settings: {0}")]
    Conflict(String),
}

impl ConfigError {
    /// An [`ConfigError::InvalidValue`] for `key`.
    pub fn invalid(key: &str, value: &str, reason: impl Into<String>) -> Self {
        ConfigError::InvalidValue {
            key: key.to_owned(),
            value: value.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Parses a number setting, with a message naming the key.
pub fn parse_number<T: FromStr>(key: &str, value: &str) -> Result<T, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| ConfigError::invalid(key, value, "expected a non-negative whole number"))
}

/// Parses a duration in milliseconds.
pub fn parse_ms(key: &str, value: &str) -> Result<Duration, ConfigError> {
    parse_number::<u64>(key, value).map(Duration::from_millis)
}

/// Parses `true` or `false`.
pub fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError::invalid(key, value, "expected true or false")),
    }
}

/// How a client connects and talks to brokers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// `host:port` of the broker to start from; the others (with
    /// replication) are learned from its metadata.
    pub bootstrap: String,
    /// Sent in every request header, for the broker's logs and metrics.
    pub client_id: String,
    /// Longest wait for a response before the request fails (and the
    /// connection, stalled behind it, is closed).
    pub request_timeout: Duration,
    /// Longest wait for a TCP connection to be established.
    pub connect_timeout: Duration,
    /// Wait before reconnecting after a failed attempt; doubles with each
    /// further failure.
    pub reconnect_backoff: Duration,
    /// Cap on the reconnect wait.
    pub reconnect_backoff_max: Duration,
    /// Cached topic metadata older than this is fetched again.
    pub metadata_max_age: Duration,
    /// Most requests awaiting a response on one connection; further
    /// requests wait for a slot (backpressure).
    pub max_in_flight: usize,
    /// Largest response frame accepted; a larger one closes the connection.
    pub max_frame_bytes: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            bootstrap: DEFAULT_BROKER.to_owned(),
            client_id: "runnel".to_owned(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_secs(1),
            metadata_max_age: Duration::from_mins(5),
            max_in_flight: 5,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
        }
    }
}

impl ClientConfig {
    /// A configuration for the broker at `bootstrap`, defaults otherwise.
    pub fn new(bootstrap: impl Into<String>) -> Self {
        ClientConfig {
            bootstrap: bootstrap.into(),
            ..ClientConfig::default()
        }
    }

    /// Applies one setting by its Kafka name. Fails with
    /// [`ConfigError::UnknownKey`] for a name that is not a client setting,
    /// so that a producer or consumer can try its own names first.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match key {
            "bootstrap.servers" => {
                // Only the first of a comma-separated list is used for now.
                let first = value.split(',').map(str::trim).find(|s| !s.is_empty());
                first
                    .ok_or_else(|| ConfigError::invalid(key, value, "expected host:port"))?
                    .clone_into(&mut self.bootstrap);
            }
            "client.id" => value.clone_into(&mut self.client_id),
            "request.timeout.ms" => self.request_timeout = positive_ms(key, value)?,
            "socket.connection.setup.timeout.ms" => self.connect_timeout = positive_ms(key, value)?,
            "reconnect.backoff.ms" => self.reconnect_backoff = parse_ms(key, value)?,
            "reconnect.backoff.max.ms" => self.reconnect_backoff_max = parse_ms(key, value)?,
            "metadata.max.age.ms" => self.metadata_max_age = parse_ms(key, value)?,
            "max.in.flight.requests.per.connection" => {
                let n: usize = parse_number(key, value)?;
                if n == 0 {
                    return Err(ConfigError::invalid(key, value, "must be at least 1"));
                }
                self.max_in_flight = n;
            }
            "fetch.max.bytes" | "runnel.max.frame.bytes" => {
                let n: usize = parse_number(key, value)?;
                if n < 1024 {
                    return Err(ConfigError::invalid(key, value, "must be at least 1024"));
                }
                self.max_frame_bytes = n.saturating_add(64 * 1024);
            }
            _ => {
                return Err(ConfigError::UnknownKey {
                    key: key.to_owned(),
                });
            }
        }
        Ok(())
    }
}

/// A millisecond duration that must not be zero.
fn positive_ms(key: &str, value: &str) -> Result<Duration, ConfigError> {
    let d = parse_ms(key, value)?;
    if d.is_zero() {
        return Err(ConfigError::invalid(key, value, "must be at least 1"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_names_set_fields() {
        let mut c = ClientConfig::default();
        c.set("bootstrap.servers", "h1:1, h2:2").unwrap();
        c.set("client.id", "cli").unwrap();
        c.set("request.timeout.ms", "1500").unwrap();
        c.set("reconnect.backoff.max.ms", "2000").unwrap();
        c.set("max.in.flight.requests.per.connection", "3").unwrap();
        assert_eq!(c.bootstrap, "h1:1");
        assert_eq!(c.client_id, "cli");
        assert_eq!(c.request_timeout, Duration::from_millis(1500));
        assert_eq!(c.reconnect_backoff_max, Duration::from_secs(2));
        assert_eq!(c.max_in_flight, 3);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let mut c = ClientConfig::default();
        assert_eq!(
            c.set("linger.ms", "5").unwrap_err().to_string(),
            "unknown setting \"linger.ms\""
        );
        assert_eq!(
            c.set("request.timeout.ms", "soon").unwrap_err().to_string(),
            "invalid value \"soon\" for request.timeout.ms: expected a non-negative whole number"
        );
        assert!(c.set("request.timeout.ms", "0").is_err());
        assert!(c.set("max.in.flight.requests.per.connection", "0").is_err());
        assert!(c.set("bootstrap.servers", " , ").is_err());
        assert_eq!(c, ClientConfig::default());
    }

    #[test]
    fn booleans_parse_strictly() {
        assert_eq!(parse_bool("k", "true"), Ok(true));
        assert_eq!(parse_bool("k", " false "), Ok(false));
        assert!(parse_bool("k", "yes").is_err());
    }
}
