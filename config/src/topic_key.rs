//! The topic config keys: their Kafka names, what they mean and what values
//! they accept.

use crate::ConfigError;
use crate::defaults::{MAX_SEGMENT_BYTES, MIN_SEGMENT_BYTES};
use crate::suggest::closest;
use crate::topic::FLUSH_CONTINUOUS;

/// Every supported topic config key, by its Kafka name, in the order
/// describe output and `topic.toml` list them:
///
/// | key | meaning |
/// |---|---|
/// | `retention.ms` | how long a sealed segment is kept, in ms (-1: forever) |
/// | `retention.bytes` | largest a partition log may grow before its oldest segments are deleted (-1: no limit) |
/// | `segment.bytes` | size at which the active segment rolls |
/// | `segment.ms` | age at which the active segment rolls even if not full |
/// | `cleanup.policy` | `delete`, `compact` (keep the last record per key) or `compact,delete` |
/// | `max.message.bytes` | largest record batch the topic accepts |
/// | `index.interval.bytes` | bytes of log between two index entries |
/// | `flush.ms` | `continuous` (group commit, the default) or an fsync interval in ms |
/// | `message.timestamp.type` | `CreateTime` (producer's clock) or `LogAppendTime` (broker's clock) |
///
/// [`TopicKey::description`] gives the same one-liners at run time, and
/// [`topic_config_help`] formats them for `--help`.
pub const KEYS: &[&str] = &[
    TopicKey::RetentionMs.name(),
    TopicKey::RetentionBytes.name(),
    TopicKey::SegmentBytes.name(),
    TopicKey::SegmentMs.name(),
    TopicKey::CleanupPolicy.name(),
    TopicKey::MaxMessageBytes.name(),
    TopicKey::IndexIntervalBytes.name(),
    TopicKey::FlushMs.name(),
    TopicKey::MessageTimestampType.name(),
];

/// One topic config key. Ordered as in [`KEYS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TopicKey {
    /// `retention.ms`
    RetentionMs,
    /// `retention.bytes`
    RetentionBytes,
    /// `segment.bytes`
    SegmentBytes,
    /// `segment.ms`
    SegmentMs,
    /// `cleanup.policy`
    CleanupPolicy,
    /// `max.message.bytes`
    MaxMessageBytes,
    /// `index.interval.bytes`
    IndexIntervalBytes,
    /// `flush.ms`
    FlushMs,
    /// `message.timestamp.type`
    MessageTimestampType,
}

impl TopicKey {
    /// All keys, in the order of [`KEYS`].
    pub const ALL: [TopicKey; 9] = [
        TopicKey::RetentionMs,
        TopicKey::RetentionBytes,
        TopicKey::SegmentBytes,
        TopicKey::SegmentMs,
        TopicKey::CleanupPolicy,
        TopicKey::MaxMessageBytes,
        TopicKey::IndexIntervalBytes,
        TopicKey::FlushMs,
        TopicKey::MessageTimestampType,
    ];

    /// The key's Kafka name, as written on the wire, on the command line
    /// and in TOML.
    pub const fn name(self) -> &'static str {
        match self {
            TopicKey::RetentionMs => "retention.ms",
            TopicKey::RetentionBytes => "retention.bytes",
            TopicKey::SegmentBytes => "segment.bytes",
            TopicKey::SegmentMs => "segment.ms",
            TopicKey::CleanupPolicy => "cleanup.policy",
            TopicKey::MaxMessageBytes => "max.message.bytes",
            TopicKey::IndexIntervalBytes => "index.interval.bytes",
            TopicKey::FlushMs => "flush.ms",
            TopicKey::MessageTimestampType => "message.timestamp.type",
        }
    }

    /// What the key controls, in one line.
    pub const fn description(self) -> &'static str {
        match self {
            TopicKey::RetentionMs => {
                "how long a sealed segment is kept before it is deleted, in milliseconds (-1: forever)"
            }
            TopicKey::RetentionBytes => {
                "largest a partition log may grow before its oldest segments are deleted, in bytes (-1: no limit)"
            }
            TopicKey::SegmentBytes => "size at which the active segment rolls, in bytes",
            TopicKey::SegmentMs => {
                "age at which the active segment rolls even if it is not full, in milliseconds"
            }
            TopicKey::CleanupPolicy => {
                "delete old segments (delete), keep the last record per key (compact), or both (compact,delete)"
            }
            TopicKey::MaxMessageBytes => "largest record batch the topic accepts, in bytes",
            TopicKey::IndexIntervalBytes => "bytes of log between two offset-index entries",
            TopicKey::FlushMs => {
                "continuous: fsync as soon as data is waiting, sharing fsyncs between appends; \
                 a number: fsync on that interval in milliseconds"
            }
            TopicKey::MessageTimestampType => {
                "CreateTime keeps the producer's timestamp; LogAppendTime stamps the broker's clock"
            }
        }
    }

    /// What values the key accepts, in words, for error messages.
    pub fn expected(self) -> String {
        match self {
            TopicKey::RetentionMs => {
                "an integer number of milliseconds ≥ -1 (-1 = unlimited)".to_owned()
            }
            TopicKey::RetentionBytes => {
                "an integer number of bytes ≥ -1 (-1 = unlimited)".to_owned()
            }
            TopicKey::SegmentBytes => format!(
                "an integer number of bytes from {MIN_SEGMENT_BYTES} to {MAX_SEGMENT_BYTES}"
            ),
            TopicKey::SegmentMs => "an integer number of milliseconds ≥ 1".to_owned(),
            TopicKey::CleanupPolicy => "delete, compact or compact,delete".to_owned(),
            TopicKey::MaxMessageBytes | TopicKey::IndexIntervalBytes => {
                format!("an integer number of bytes from 0 to {}", i32::MAX)
            }
            TopicKey::FlushMs => {
                format!("{FLUSH_CONTINUOUS} or an integer number of milliseconds ≥ 1")
            }
            TopicKey::MessageTimestampType => "CreateTime or LogAppendTime".to_owned(),
        }
    }

    /// The key named `name`, or an error naming it with the closest
    /// supported key.
    pub fn from_name(name: &str) -> Result<TopicKey, ConfigError> {
        TopicKey::ALL
            .into_iter()
            .find(|key| key.name() == name)
            .ok_or_else(|| ConfigError::UnknownTopicKey {
                key: name.to_owned(),
                suggestion: closest(name, KEYS.iter().copied()),
            })
    }

    /// The error for `value` given to this key.
    pub(crate) fn invalid(self, value: impl Into<String>) -> ConfigError {
        ConfigError::InvalidValue {
            key: self.name().to_owned(),
            value: value.into(),
            expected: self.expected(),
        }
    }
}

impl std::fmt::Display for TopicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for TopicKey {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TopicKey::from_name(s)
    }
}

/// The supported topic config keys, one per line with their default and
/// meaning, for a command's `--help`.
pub fn topic_config_help() -> String {
    let defaults = crate::TopicConfig::default();
    let width = KEYS.iter().map(|k| k.len()).max().unwrap_or(0);
    TopicKey::ALL
        .into_iter()
        .map(|key| {
            format!(
                "  {:width$}  {} (default: {})\n",
                key.name(),
                key.description(),
                defaults.value(key)
            )
        })
        .collect::<Vec<_>>()
        .concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_list_every_key_in_order() {
        let names: Vec<&str> = TopicKey::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names, KEYS);
        let mut sorted = TopicKey::ALL.to_vec();
        sorted.sort();
        assert_eq!(sorted, TopicKey::ALL);
    }

    #[test]
    fn every_name_resolves_to_its_key() {
        for key in TopicKey::ALL {
            assert_eq!(TopicKey::from_name(key.name()).unwrap(), key);
            assert_eq!(key.name().parse::<TopicKey>().unwrap(), key);
            assert_eq!(key.to_string(), key.name());
        }
    }

    #[test]
    fn misspelt_key_suggests_the_closest() {
        let err = TopicKey::from_name("retention.msx").unwrap_err();
        assert!(matches!(
            err,
            ConfigError::UnknownTopicKey { ref key, suggestion: Some("retention.ms") } if key == "retention.msx"
        ));
        assert!(err.to_string().contains("(did you mean \"retention.ms\"?)"));
    }

    #[test]
    fn unrelated_key_gets_no_suggestion() {
        let err = TopicKey::from_name("compression.type").unwrap_err();
        assert!(matches!(
            err,
            ConfigError::UnknownTopicKey {
                suggestion: None,
                ..
            }
        ));
    }

    #[test]
    fn help_lists_every_key_with_its_default() {
        let help = topic_config_help();
        assert_eq!(help.lines().count(), KEYS.len());
        assert!(help.contains("retention.ms"));
        assert!(help.contains("(default: 604800000)"));
        assert!(help.contains("(default: continuous)"));
    }
}
