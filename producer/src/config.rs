//! [`ProducerConfig`]: the producer's settings, by Apache Kafka's names.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `acks` | `all` | `all` (or `-1`): after the batch is durable; `1`: after append; `0`: no answer |
//! | `linger.ms` | 5 | how long a batch waits for more records before it is sent |
//! | `batch.size` | 16384 | bytes (uncompressed) at which a batch is sent without waiting |
//! | `batch.max.bytes` | 1000000 | while earlier batches of its partition wait to be sent, a batch keeps growing past `batch.size` up to this (and never past `max.request.size`); a grown batch the topic refuses as larger than its `max.message.bytes` is resent split into `batch.size` pieces, and that topic's batches stop growing (`batch.size` or less turns growth off) |
//! | `buffer.memory` | 33554432 | bytes of batches held for sending; `send` waits when full |
//! | `max.block.ms` | 60000 | longest `send` waits for buffer room or metadata |
//! | `compression.type` | `none` | `none`, `gzip`, `snappy`, `lz4`, `zstd` |
//! | `max.in.flight.requests.per.connection` | 5 | produce requests awaiting an answer per broker |
//! | `retries` | 2147483647 | resends of a failed batch (bounded by `delivery.timeout.ms`) |
//! | `retry.backoff.ms` | 100 | wait before a resend |
//! | `delivery.timeout.ms` | 120000 | longest from `send` to success or failure |
//! | `request.timeout.ms` | 30000 | longest wait for one produce answer |
//! | `enable.idempotence` | `true` | producer id + sequence numbers: retries never duplicate |
//! | `max.request.size` | 1048576 | largest produce request (and record) |
//! | `client.id`, `bootstrap.servers`, ... | | connection settings, see [`ClientConfig`] |
//!
//! Idempotence needs `acks=all`, `retries` > 0 and at most 5 requests in
//! flight. Left at its default it turns itself off when another setting
//! conflicts (as in Kafka); set explicitly to `true`, a conflict is an error.

use std::time::Duration;

use runnel_client::ClientConfig;
use runnel_client::config::{ConfigError, parse_bool, parse_ms, parse_number};
use runnel_protocol::api::produce::Acks;
use runnel_protocol::record::Compression;

/// Most in-flight requests with idempotence (the broker remembers this many
/// batches per producer and partition).
pub const MAX_IDEMPOTENT_IN_FLIGHT: usize = 5;

/// The producer's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerConfig {
    /// Connection settings (bootstrap broker, client id, backoff, ...).
    pub client: ClientConfig,
    /// When the broker acknowledges.
    pub acks: Acks,
    /// How long a batch waits for more records.
    pub linger: Duration,
    /// Batch size (uncompressed bytes) that triggers sending.
    pub batch_size: usize,
    /// Size a batch may grow to while earlier batches of its partition wait
    /// to be sent (the pipeline to the broker is full): requests then carry
    /// what gathered during the wait, as one batch, so a broker that waits
    /// for an fsync per round trip gets more data per fsync.
    pub batch_max_bytes: usize,
    /// Total bytes of batches held; bounds memory.
    pub buffer_memory: usize,
    /// Longest `send` blocks for buffer room or metadata.
    pub max_block: Duration,
    /// Batch compression codec.
    pub compression: Compression,
    /// Produce requests in flight per broker connection.
    pub max_in_flight: usize,
    /// Resends of a batch after retriable errors.
    pub retries: u32,
    /// Wait before a resend.
    pub retry_backoff: Duration,
    /// Longest from `send` to an outcome.
    pub delivery_timeout: Duration,
    /// Longest wait for one produce answer.
    pub request_timeout: Duration,
    /// Whether to use a producer id and sequence numbers; `None` is the
    /// default (on unless another setting conflicts).
    pub enable_idempotence: Option<bool>,
    /// Largest produce request in bytes.
    pub max_request_size: usize,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            client: ClientConfig::default(),
            acks: Acks::All,
            linger: Duration::from_millis(5),
            batch_size: 16 * 1024,
            batch_max_bytes: 1_000_000,
            buffer_memory: 32 * 1024 * 1024,
            max_block: Duration::from_mins(1),
            compression: Compression::None,
            max_in_flight: 5,
            retries: i32::MAX.cast_unsigned(),
            retry_backoff: Duration::from_millis(100),
            delivery_timeout: Duration::from_mins(2),
            request_timeout: Duration::from_secs(30),
            enable_idempotence: None,
            max_request_size: 1024 * 1024,
        }
    }
}

/// Parses `compression.type`.
pub fn parse_compression(key: &str, value: &str) -> Result<Compression, ConfigError> {
    Ok(match value.trim() {
        "none" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        _ => {
            return Err(ConfigError::invalid(
                key,
                value,
                "expected none, gzip, snappy, lz4 or zstd",
            ));
        }
    })
}

/// Parses `acks`.
pub fn parse_acks(key: &str, value: &str) -> Result<Acks, ConfigError> {
    match value.trim() {
        "all" | "-1" => Ok(Acks::All),
        "1" => Ok(Acks::Leader),
        "0" => Ok(Acks::None),
        _ => Err(ConfigError::invalid(key, value, "expected all, -1, 1 or 0")),
    }
}

impl ProducerConfig {
    /// Applies one setting by its Kafka name; names the producer does not
    /// know go to [`ClientConfig::set`]. An unknown name is an error naming
    /// it.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match key {
            "acks" => self.acks = parse_acks(key, value)?,
            "linger.ms" => self.linger = parse_ms(key, value)?,
            "batch.size" => self.batch_size = parse_number(key, value)?,
            "batch.max.bytes" => self.batch_max_bytes = parse_number(key, value)?,
            "buffer.memory" => {
                let n: usize = parse_number(key, value)?;
                if n == 0 || u32::try_from(n).is_err() {
                    return Err(ConfigError::invalid(key, value, "must be 1 to 4294967295"));
                }
                self.buffer_memory = n;
            }
            "max.block.ms" => self.max_block = parse_ms(key, value)?,
            "compression.type" => self.compression = parse_compression(key, value)?,
            "max.in.flight.requests.per.connection" => {
                let n: usize = parse_number(key, value)?;
                if n == 0 {
                    return Err(ConfigError::invalid(key, value, "must be at least 1"));
                }
                self.max_in_flight = n;
            }
            "retries" => self.retries = parse_number(key, value)?,
            "retry.backoff.ms" => self.retry_backoff = parse_ms(key, value)?,
            "delivery.timeout.ms" => self.delivery_timeout = parse_ms(key, value)?,
            "request.timeout.ms" => {
                self.request_timeout = parse_ms(key, value)?;
                if self.request_timeout.is_zero() {
                    return Err(ConfigError::invalid(key, value, "must be at least 1"));
                }
            }
            "enable.idempotence" => self.enable_idempotence = Some(parse_bool(key, value)?),
            "max.request.size" => {
                let n: usize = parse_number(key, value)?;
                if n < 1024 {
                    return Err(ConfigError::invalid(key, value, "must be at least 1024"));
                }
                self.max_request_size = n;
            }
            _ => self.client.set(key, value)?,
        }
        Ok(())
    }

    /// Checks the settings together and returns whether idempotence is on.
    pub fn validate(&self) -> Result<bool, ConfigError> {
        let conflicts: Vec<&str> = [
            (self.acks != Acks::All, "acks must be all"),
            (self.retries == 0, "retries must be above 0"),
            (
                self.max_in_flight > MAX_IDEMPOTENT_IN_FLIGHT,
                "max.in.flight.requests.per.connection must be at most 5",
            ),
        ]
        .into_iter()
        .filter_map(|(bad, why)| bad.then_some(why))
        .collect();
        let idempotent = match self.enable_idempotence {
            Some(true) if !conflicts.is_empty() => {
                return Err(ConfigError::Conflict(format!(
                    "enable.idempotence=true needs: {}",
                    conflicts.join(", ")
                )));
            }
            Some(explicit) => explicit,
            None => conflicts.is_empty(),
        };
        let floor = self.linger.saturating_add(self.request_timeout);
        if self.delivery_timeout < floor {
            return Err(ConfigError::Conflict(format!(
                "delivery.timeout.ms ({} ms) must be at least linger.ms + request.timeout.ms ({} ms)",
                self.delivery_timeout.as_millis(),
                floor.as_millis()
            )));
        }
        if self.batch_size > self.buffer_memory {
            return Err(ConfigError::Conflict(format!(
                "batch.size ({}) must not exceed buffer.memory ({})",
                self.batch_size, self.buffer_memory
            )));
        }
        Ok(idempotent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_kafka() {
        let c = ProducerConfig::default();
        assert_eq!(c.acks, Acks::All);
        assert_eq!(c.linger, Duration::from_millis(5));
        assert_eq!(c.batch_size, 16_384);
        assert_eq!(c.buffer_memory, 33_554_432);
        assert_eq!(c.max_block, Duration::from_mins(1));
        assert_eq!(c.delivery_timeout, Duration::from_mins(2));
        assert_eq!(c.validate(), Ok(true));
    }

    #[test]
    fn every_key_parses() {
        let mut c = ProducerConfig::default();
        for (k, v) in [
            ("acks", "1"),
            ("linger.ms", "0"),
            ("batch.size", "1000"),
            ("buffer.memory", "100000"),
            ("max.block.ms", "10"),
            ("compression.type", "zstd"),
            ("max.in.flight.requests.per.connection", "1"),
            ("retries", "3"),
            ("retry.backoff.ms", "7"),
            ("delivery.timeout.ms", "40000"),
            ("request.timeout.ms", "2000"),
            ("enable.idempotence", "false"),
            ("max.request.size", "2048"),
            ("client.id", "cli"),
            ("bootstrap.servers", "h:1"),
        ] {
            c.set(k, v).unwrap_or_else(|e| panic!("{k}: {e}"));
        }
        assert_eq!(c.acks, Acks::Leader);
        assert_eq!(c.linger, Duration::ZERO);
        assert_eq!(c.compression, Compression::Zstd);
        assert_eq!(c.retries, 3);
        assert_eq!(c.enable_idempotence, Some(false));
        assert_eq!(c.client.client_id, "cli");
        assert_eq!(c.client.bootstrap, "h:1");
        assert_eq!(c.validate(), Ok(false));
        for acks in ["all", "-1"] {
            c.set("acks", acks).unwrap();
            assert_eq!(c.acks, Acks::All);
        }
        c.set("acks", "0").unwrap();
        assert_eq!(c.acks, Acks::None);
    }

    #[test]
    fn unknown_key_and_bad_values_are_named() {
        let mut c = ProducerConfig::default();
        assert_eq!(
            c.set("linger", "5").unwrap_err().to_string(),
            "unknown setting \"linger\""
        );
        assert_eq!(
            c.set("compression.type", "brotli").unwrap_err().to_string(),
            "invalid value \"brotli\" for compression.type: expected none, gzip, snappy, lz4 or zstd"
        );
        assert!(c.set("acks", "2").is_err());
        assert!(c.set("enable.idempotence", "yes").is_err());
        assert!(c.set("buffer.memory", "0").is_err());
        assert_eq!(c, ProducerConfig::default());
    }

    #[test]
    fn idempotence_conflicts_depend_on_whether_it_was_asked_for() {
        let mut c = ProducerConfig::default();
        c.set("acks", "1").unwrap();
        assert_eq!(c.validate(), Ok(false), "default idempotence steps aside");
        c.set("enable.idempotence", "true").unwrap();
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "conflicting settings: enable.idempotence=true needs: acks must be all"
        );
        let mut c = ProducerConfig::default();
        c.set("max.in.flight.requests.per.connection", "6").unwrap();
        assert_eq!(c.validate(), Ok(false));
    }

    #[test]
    fn delivery_timeout_must_cover_linger_and_request_timeout() {
        let mut c = ProducerConfig::default();
        c.set("delivery.timeout.ms", "1000").unwrap();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("delivery.timeout.ms")
        );
    }
}
