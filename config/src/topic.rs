//! A topic's configuration: Kafka's keys, Kafka's defaults, typed values.
//!
//! Values arrive in two forms: as strings from the wire and the command line
//! (`-c retention.ms=1000`), and as TOML values (`"retention.ms" = 1000`) in
//! the broker's `[topic_defaults]` and in `topic.toml`. Both go through one
//! parser per key ([`TopicConfig::set`]), so the two forms accept the same
//! values and report the same errors.
//!
//! "No limit" and "continuous" are `None` in the typed fields and have one
//! spelling each outside: `-1` for the retention limits (Kafka's), the
//! string `continuous` for `flush.ms`.

use serde::ser::SerializeMap as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::defaults::{
    DEFAULT_CLEANUP_POLICY, DEFAULT_FLUSH_MS, DEFAULT_INDEX_INTERVAL_BYTES,
    DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MESSAGE_TIMESTAMP_TYPE, DEFAULT_RETENTION_BYTES,
    DEFAULT_RETENTION_MS, DEFAULT_SEGMENT_BYTES, DEFAULT_SEGMENT_MS, MAX_SEGMENT_BYTES,
    MIN_SEGMENT_BYTES,
};
use crate::{ConfigError, TopicKey, TopicOverrides};

/// How `flush.ms` spells "no interval: flush continuously".
pub const FLUSH_CONTINUOUS: &str = "continuous";

/// The configuration of one topic. Fields are public so code can read them
/// directly; [`TopicConfig::set`], [`TopicConfig::with_overrides`] and
/// deserialization check every value, and code that fills fields by hand
/// should call [`TopicConfig::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    /// `retention.ms`: sealed segments whose newest record is older than this
    /// are deleted; `None` (`-1`) keeps them forever.
    pub retention_ms: Option<u64>,
    /// `retention.bytes`: while a partition log is larger than this, its
    /// oldest sealed segments are deleted; `None` (`-1`) means no limit.
    pub retention_bytes: Option<u64>,
    /// `segment.bytes`: the active segment rolls before it would exceed this.
    /// Within [`MIN_SEGMENT_BYTES`]..=[`MAX_SEGMENT_BYTES`], so file
    /// positions fit the index's u32.
    pub segment_bytes: u32,
    /// `segment.ms`: the active segment rolls once it is this old, so
    /// retention can delete data from a topic that is written slowly.
    pub segment_ms: u64,
    /// `cleanup.policy`: what happens to old data.
    pub cleanup_policy: CleanupPolicy,
    /// `max.message.bytes`: the largest record batch accepted, at most
    /// `i32::MAX` as in Kafka.
    pub max_message_bytes: u32,
    /// `index.interval.bytes`: bytes of log between two offset-index entries
    /// (0: an entry for every batch), at most `i32::MAX`.
    pub index_interval_bytes: u32,
    /// `flush.ms`: `None` (`continuous`, the default) fsyncs as soon as data
    /// is waiting, so concurrent appends share one fsync (group commit);
    /// `Some(ms)` fsyncs on that interval instead, trading a window of loss
    /// on power failure for fewer fsyncs.
    pub flush_ms: Option<u64>,
    /// `message.timestamp.type`: whose clock stamps the records.
    pub message_timestamp_type: TimestampType,
}

/// `cleanup.policy`: what happens to data that is old.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CleanupPolicy {
    /// `delete`: whole segments past the retention limits are deleted.
    Delete,
    /// `compact`: only the last record per key is kept.
    Compact,
    /// `compact,delete`: compacted, and also deleted past the retention
    /// limits.
    CompactDelete,
}

impl CleanupPolicy {
    /// The canonical spelling (`delete`, `compact`, `compact,delete`).
    pub const fn as_str(self) -> &'static str {
        match self {
            CleanupPolicy::Delete => "delete",
            CleanupPolicy::Compact => "compact",
            CleanupPolicy::CompactDelete => "compact,delete",
        }
    }

    /// Whether segments past the retention limits are deleted.
    pub const fn deletes(self) -> bool {
        matches!(self, CleanupPolicy::Delete | CleanupPolicy::CompactDelete)
    }

    /// Whether the log is compacted to the last record per key.
    pub const fn compacts(self) -> bool {
        matches!(self, CleanupPolicy::Compact | CleanupPolicy::CompactDelete)
    }

    /// Parse Kafka's list form: `delete`, `compact`, or both separated by a
    /// comma in either order, with optional spaces.
    fn parse(value: &str) -> Option<CleanupPolicy> {
        let (mut delete, mut compact) = (false, false);
        for part in value.split(',') {
            match part.trim() {
                "delete" => delete = true,
                "compact" => compact = true,
                _ => return None,
            }
        }
        match (delete, compact) {
            (true, false) => Some(CleanupPolicy::Delete),
            (false, true) => Some(CleanupPolicy::Compact),
            (true, true) => Some(CleanupPolicy::CompactDelete),
            (false, false) => None,
        }
    }
}

impl std::fmt::Display for CleanupPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `message.timestamp.type`: whose clock a record's timestamp comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    /// `CreateTime`: the timestamp the producer set is stored as given.
    CreateTime,
    /// `LogAppendTime`: the broker stamps each batch with its own clock when
    /// appending it.
    LogAppendTime,
}

impl TimestampType {
    /// Kafka's spelling (`CreateTime`, `LogAppendTime`).
    pub const fn as_str(self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

impl std::fmt::Display for TimestampType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value as it arrives: a string (wire, command line, TOML string) or a
/// TOML integer.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RawValue<'a> {
    /// A TOML integer.
    Int(i64),
    /// Text, parsed per key after trimming surrounding whitespace.
    Str(&'a str),
}

impl<'a> RawValue<'a> {
    /// The value as the user wrote it, for error messages.
    fn given(self) -> String {
        match self {
            RawValue::Int(n) => n.to_string(),
            RawValue::Str(s) => s.to_owned(),
        }
    }

    /// The value as an integer within `min..=max`.
    fn integer(self, key: TopicKey, min: i64, max: i64) -> Result<i64, ConfigError> {
        let n = match self {
            RawValue::Int(n) => n,
            RawValue::Str(s) => s.trim().parse().map_err(|_| key.invalid(self.given()))?,
        };
        if (min..=max).contains(&n) {
            Ok(n)
        } else {
            Err(key.invalid(self.given()))
        }
    }

    /// The value as a `u32` within `min..=max`.
    fn u32_in(self, key: TopicKey, min: u32, max: u32) -> Result<u32, ConfigError> {
        let n = self.integer(key, i64::from(min), i64::from(max))?;
        u32::try_from(n).map_err(|_| key.invalid(self.given()))
    }

    /// The value as a `u64` of at least `min` (and at most `i64::MAX`, the
    /// largest TOML integer).
    fn u64_from(self, key: TopicKey, min: u64) -> Result<u64, ConfigError> {
        let min = i64::try_from(min).map_err(|_| key.invalid(self.given()))?;
        let n = self.integer(key, min, i64::MAX)?;
        u64::try_from(n).map_err(|_| key.invalid(self.given()))
    }

    /// A limit where `-1` means none.
    fn limit(self, key: TopicKey) -> Result<Option<u64>, ConfigError> {
        let n = self.integer(key, -1, i64::MAX)?;
        // -1 is the only value that does not convert.
        Ok(u64::try_from(n).ok())
    }

    /// The value as text, for keys whose values are words.
    fn text(self, key: TopicKey) -> Result<&'a str, ConfigError> {
        match self {
            RawValue::Str(s) => Ok(s.trim()),
            RawValue::Int(_) => Err(key.invalid(self.given())),
        }
    }
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            retention_ms: DEFAULT_RETENTION_MS,
            retention_bytes: DEFAULT_RETENTION_BYTES,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            segment_ms: DEFAULT_SEGMENT_MS,
            cleanup_policy: DEFAULT_CLEANUP_POLICY,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            index_interval_bytes: DEFAULT_INDEX_INTERVAL_BYTES,
            flush_ms: DEFAULT_FLUSH_MS,
            message_timestamp_type: DEFAULT_MESSAGE_TIMESTAMP_TYPE,
        }
    }
}

impl TopicConfig {
    /// Set `key` from a string as it comes from the wire or the command
    /// line. On error `self` is unchanged.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        self.set_key(TopicKey::from_name(key)?, value)
    }

    /// Set an already-resolved key from a string. On error `self` is
    /// unchanged.
    pub fn set_key(&mut self, key: TopicKey, value: &str) -> Result<(), ConfigError> {
        self.set_raw(key, RawValue::Str(value))
    }

    /// The one parser per key behind every way of setting a value.
    pub(crate) fn set_raw(&mut self, key: TopicKey, raw: RawValue<'_>) -> Result<(), ConfigError> {
        let max_i32 = i32::MAX.unsigned_abs();
        match key {
            TopicKey::RetentionMs => self.retention_ms = raw.limit(key)?,
            TopicKey::RetentionBytes => self.retention_bytes = raw.limit(key)?,
            TopicKey::SegmentBytes => {
                self.segment_bytes = raw.u32_in(key, MIN_SEGMENT_BYTES, MAX_SEGMENT_BYTES)?;
            }
            TopicKey::SegmentMs => self.segment_ms = raw.u64_from(key, 1)?,
            TopicKey::CleanupPolicy => {
                self.cleanup_policy =
                    CleanupPolicy::parse(raw.text(key)?).ok_or_else(|| key.invalid(raw.given()))?;
            }
            TopicKey::MaxMessageBytes => self.max_message_bytes = raw.u32_in(key, 0, max_i32)?,
            TopicKey::IndexIntervalBytes => {
                self.index_interval_bytes = raw.u32_in(key, 0, max_i32)?;
            }
            TopicKey::FlushMs => {
                self.flush_ms = match raw {
                    RawValue::Str(s) if s.trim() == FLUSH_CONTINUOUS => None,
                    _ => Some(raw.u64_from(key, 1)?),
                };
            }
            TopicKey::MessageTimestampType => {
                self.message_timestamp_type = match raw.text(key)? {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => return Err(key.invalid(raw.given())),
                };
            }
        }
        Ok(())
    }

    /// `key`'s value in its canonical string form, which [`TopicConfig::set`]
    /// accepts back.
    pub fn value(&self, key: TopicKey) -> String {
        let limit = |v: Option<u64>| v.map_or_else(|| "-1".to_owned(), |n| n.to_string());
        match key {
            TopicKey::RetentionMs => limit(self.retention_ms),
            TopicKey::RetentionBytes => limit(self.retention_bytes),
            TopicKey::SegmentBytes => self.segment_bytes.to_string(),
            TopicKey::SegmentMs => self.segment_ms.to_string(),
            TopicKey::CleanupPolicy => self.cleanup_policy.as_str().to_owned(),
            TopicKey::MaxMessageBytes => self.max_message_bytes.to_string(),
            TopicKey::IndexIntervalBytes => self.index_interval_bytes.to_string(),
            TopicKey::FlushMs => self
                .flush_ms
                .map_or_else(|| FLUSH_CONTINUOUS.to_owned(), |n| n.to_string()),
            TopicKey::MessageTimestampType => self.message_timestamp_type.as_str().to_owned(),
        }
    }

    /// A copy with each `(key, value)` pair applied in order, as given by
    /// `-c KEY=VALUE` flags or a CreateTopics request. All or nothing: the
    /// first bad pair is the error.
    pub fn with_overrides<I, K, V>(&self, pairs: I) -> Result<TopicConfig, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut config = self.clone();
        for (key, value) in pairs {
            config.set(key.as_ref(), value.as_ref())?;
        }
        Ok(config)
    }

    /// Every key with its value, in [`KEYS`](crate::KEYS) order, for
    /// describe output.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        TopicKey::ALL
            .into_iter()
            .map(|key| (key.name().to_owned(), self.value(key)))
            .collect()
    }

    /// The keys whose value differs from `base`, as overrides that turn
    /// `base` back into `self`: what a topic persists in `topic.toml` when
    /// `base` is the broker's topic defaults.
    pub fn overrides(&self, base: &TopicConfig) -> TopicOverrides {
        let mut overrides = TopicOverrides::default();
        for key in TopicKey::ALL {
            if self.value(key) != base.value(key) {
                overrides.copy_from(self, key);
            }
        }
        overrides
    }

    /// Check every value against its key's rule, for configs whose fields
    /// were set directly.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut scratch = TopicConfig::default();
        for key in TopicKey::ALL {
            scratch.set_key(key, &self.value(key))?;
        }
        Ok(())
    }

    /// Copy one key's value from `other`.
    pub(crate) fn copy_key_from(&mut self, other: &TopicConfig, key: TopicKey) {
        match key {
            TopicKey::RetentionMs => self.retention_ms = other.retention_ms,
            TopicKey::RetentionBytes => self.retention_bytes = other.retention_bytes,
            TopicKey::SegmentBytes => self.segment_bytes = other.segment_bytes,
            TopicKey::SegmentMs => self.segment_ms = other.segment_ms,
            TopicKey::CleanupPolicy => self.cleanup_policy = other.cleanup_policy,
            TopicKey::MaxMessageBytes => self.max_message_bytes = other.max_message_bytes,
            TopicKey::IndexIntervalBytes => self.index_interval_bytes = other.index_interval_bytes,
            TopicKey::FlushMs => self.flush_ms = other.flush_ms,
            TopicKey::MessageTimestampType => {
                self.message_timestamp_type = other.message_timestamp_type;
            }
        }
    }
}

/// One key's value in its TOML form: integers as integers, words as
/// strings.
pub(crate) struct TomlValue<'a>(pub(crate) &'a TopicConfig, pub(crate) TopicKey);

impl Serialize for TomlValue<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let TomlValue(config, key) = *self;
        let limit = |v: Option<u64>, s: S| match v {
            None => s.serialize_i64(-1),
            Some(n) => s.serialize_u64(n),
        };
        match key {
            TopicKey::RetentionMs => limit(config.retention_ms, serializer),
            TopicKey::RetentionBytes => limit(config.retention_bytes, serializer),
            TopicKey::SegmentBytes => serializer.serialize_u32(config.segment_bytes),
            TopicKey::SegmentMs => serializer.serialize_u64(config.segment_ms),
            TopicKey::MaxMessageBytes => serializer.serialize_u32(config.max_message_bytes),
            TopicKey::IndexIntervalBytes => serializer.serialize_u32(config.index_interval_bytes),
            TopicKey::FlushMs => match config.flush_ms {
                None => serializer.serialize_str(FLUSH_CONTINUOUS),
                Some(n) => serializer.serialize_u64(n),
            },
            TopicKey::CleanupPolicy | TopicKey::MessageTimestampType => {
                serializer.serialize_str(&config.value(key))
            }
        }
    }
}

/// A TOML table of every key, quoted (`"retention.ms" = 604800000`).
impl Serialize for TopicConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(TopicKey::ALL.len()))?;
        for key in TopicKey::ALL {
            map.serialize_entry(key.name(), &TomlValue(self, key))?;
        }
        map.end()
    }
}

/// A TOML table of some keys; the others take their built-in defaults.
/// Unknown keys and bad values are errors naming the key.
impl<'de> Deserialize<'de> for TopicConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let overrides = TopicOverrides::deserialize(deserializer)?;
        Ok(overrides.apply_to(&TopicConfig::default()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::KEYS;
    use proptest::prelude::*;

    fn invalid(key: &str, value: &str) -> String {
        TopicConfig::default()
            .with_overrides([(key, value)])
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn defaults_are_kafkas() {
        let c = TopicConfig::default();
        assert_eq!(c.retention_ms, Some(7 * 24 * 3600 * 1000));
        assert_eq!(c.retention_bytes, None);
        assert_eq!(c.segment_bytes, 1 << 30);
        assert_eq!(c.segment_ms, 7 * 24 * 3600 * 1000);
        assert_eq!(c.cleanup_policy, CleanupPolicy::Delete);
        assert_eq!(c.max_message_bytes, 1_048_588);
        assert_eq!(c.index_interval_bytes, 4096);
        assert_eq!(c.flush_ms, None);
        assert_eq!(c.message_timestamp_type, TimestampType::CreateTime);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn set_parses_each_key() {
        let mut c = TopicConfig::default();
        c.set("retention.ms", "1000").unwrap();
        c.set("retention.bytes", "-1").unwrap();
        c.set("segment.bytes", "1024").unwrap();
        c.set("segment.ms", " 60000 ").unwrap();
        c.set("cleanup.policy", "delete, compact").unwrap();
        c.set("max.message.bytes", "0").unwrap();
        c.set("index.interval.bytes", "2147483647").unwrap();
        c.set("flush.ms", "250").unwrap();
        c.set("message.timestamp.type", "LogAppendTime").unwrap();
        assert_eq!(
            c,
            TopicConfig {
                retention_ms: Some(1000),
                retention_bytes: None,
                segment_bytes: 1024,
                segment_ms: 60_000,
                cleanup_policy: CleanupPolicy::CompactDelete,
                max_message_bytes: 0,
                index_interval_bytes: i32::MAX.unsigned_abs(),
                flush_ms: Some(250),
                message_timestamp_type: TimestampType::LogAppendTime,
            }
        );
        c.set("retention.ms", "-1").unwrap();
        c.set("flush.ms", "continuous").unwrap();
        assert_eq!(c.retention_ms, None);
        assert_eq!(c.flush_ms, None);
    }

    #[test]
    fn cleanup_policy_accepts_kafkas_list_forms() {
        for (given, policy) in [
            ("delete", CleanupPolicy::Delete),
            ("compact", CleanupPolicy::Compact),
            ("compact,delete", CleanupPolicy::CompactDelete),
            ("delete,compact", CleanupPolicy::CompactDelete),
            ("compact , delete", CleanupPolicy::CompactDelete),
        ] {
            assert_eq!(CleanupPolicy::parse(given), Some(policy), "{given}");
        }
        for given in ["", ",", "delete,", "Delete", "compact,deletes"] {
            assert_eq!(CleanupPolicy::parse(given), None, "{given}");
        }
        assert!(CleanupPolicy::CompactDelete.deletes() && CleanupPolicy::CompactDelete.compacts());
        assert!(!CleanupPolicy::Compact.deletes() && !CleanupPolicy::Delete.compacts());
    }

    #[test]
    fn bad_value_names_key_value_and_what_is_allowed() {
        assert_eq!(
            invalid("retention.ms", "abc"),
            "invalid value \"abc\" for retention.ms: expected an integer number of milliseconds ≥ -1 (-1 = unlimited)"
        );
        assert_eq!(
            invalid("segment.bytes", "1023"),
            "invalid value \"1023\" for segment.bytes: expected an integer number of bytes from 1024 to 2147483647"
        );
        assert!(invalid("segment.bytes", "2147483648").contains("from 1024 to 2147483647"));
        assert!(invalid("retention.bytes", "-2").contains("≥ -1"));
        assert!(invalid("segment.ms", "0").contains("segment.ms"));
        assert!(invalid("flush.ms", "0").contains("continuous or an integer"));
        assert!(invalid("flush.ms", "sometimes").contains("\"sometimes\""));
        assert!(invalid("cleanup.policy", "purge").contains("delete, compact or compact,delete"));
        assert!(
            invalid("message.timestamp.type", "createtime").contains("CreateTime or LogAppendTime")
        );
        assert!(invalid("max.message.bytes", "-1").contains("from 0 to 2147483647"));
        assert!(invalid("index.interval.bytes", "1.5").contains("index.interval.bytes"));
        assert!(invalid("retention.ms", "99999999999999999999").contains("retention.ms"));
    }

    #[test]
    fn unknown_key_is_rejected_with_suggestion() {
        let msg = invalid("retention.msx", "1");
        assert!(
            msg.starts_with(
                "unknown topic config key \"retention.msx\" (did you mean \"retention.ms\"?)"
            ),
            "{msg}"
        );
    }

    #[test]
    fn failed_set_leaves_config_unchanged() {
        let mut c = TopicConfig::default();
        assert!(c.set("segment.bytes", "1").is_err());
        assert_eq!(c, TopicConfig::default());
    }

    #[test]
    fn with_overrides_applies_pairs_in_order_and_keeps_the_base() {
        let base = TopicConfig::default();
        let c = base
            .with_overrides([
                ("retention.ms", "1"),
                ("retention.ms", "2"),
                ("cleanup.policy", "compact"),
            ])
            .unwrap();
        assert_eq!(c.retention_ms, Some(2));
        assert_eq!(c.cleanup_policy, CleanupPolicy::Compact);
        assert_eq!(base, TopicConfig::default());
        let owned = vec![("segment.bytes".to_owned(), "4096".to_owned())];
        assert_eq!(base.with_overrides(owned).unwrap().segment_bytes, 4096);
    }

    #[test]
    fn to_pairs_lists_every_key_in_order() {
        let pairs = TopicConfig::default().to_pairs();
        let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, KEYS);
        assert_eq!(
            pairs[0],
            ("retention.ms".to_owned(), "604800000".to_owned())
        );
        assert_eq!(pairs[1], ("retention.bytes".to_owned(), "-1".to_owned()));
        assert_eq!(pairs[7], ("flush.ms".to_owned(), "continuous".to_owned()));
    }

    #[test]
    fn overrides_list_only_differing_keys() {
        let base = TopicConfig::default();
        let c = base
            .with_overrides([("retention.ms", "1000"), ("segment.bytes", "1073741824")])
            .unwrap();
        assert_eq!(
            c.overrides(&base).to_pairs(),
            vec![("retention.ms".to_owned(), "1000".to_owned())]
        );
        assert!(base.overrides(&base).is_empty());
        assert_eq!(c.overrides(&base).apply_to(&base), c);
    }

    #[test]
    fn validate_rejects_hand_built_out_of_range_values() {
        let c = TopicConfig {
            segment_bytes: 10,
            ..TopicConfig::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("segment.bytes")
        );
        let c = TopicConfig {
            flush_ms: Some(0),
            ..TopicConfig::default()
        };
        assert!(c.validate().is_err());
        let c = TopicConfig {
            retention_ms: Some(u64::MAX),
            ..TopicConfig::default()
        };
        assert!(c.validate().is_err());
    }

    #[test]
    fn toml_table_uses_quoted_kafka_keys_and_typed_values() {
        #[derive(Serialize, Deserialize)]
        struct Doc {
            topic: TopicConfig,
        }
        let text = toml::to_string(&Doc {
            topic: TopicConfig::default(),
        })
        .unwrap();
        assert!(text.contains("\"retention.ms\" = 604800000"), "{text}");
        assert!(text.contains("\"retention.bytes\" = -1"), "{text}");
        assert!(text.contains("\"cleanup.policy\" = \"delete\""), "{text}");
        assert!(text.contains("\"flush.ms\" = \"continuous\""), "{text}");
        let back: Doc = toml::from_str(&text).unwrap();
        assert_eq!(back.topic, TopicConfig::default());
    }

    #[test]
    fn toml_table_rejects_unknown_keys_and_bad_values_with_position() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Doc {
            topic: TopicConfig,
        }
        let err = toml::from_str::<Doc>("[topic]\n\"segment.byte\" = 1024\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("line 2"), "{msg}");
        assert!(msg.contains("did you mean \"segment.bytes\""), "{msg}");
        let err = toml::from_str::<Doc>("[topic]\n\"segment.bytes\" = 12\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("line 2"), "{msg}");
        assert!(
            msg.contains("invalid value \"12\" for segment.bytes"),
            "{msg}"
        );
        let err = toml::from_str::<Doc>("[topic]\n\"retention.ms\" = 1.5\n").unwrap_err();
        assert!(err.to_string().contains("retention.ms"), "{err}");
    }

    prop_compose! {
        /// Any valid topic config.
        pub(crate) fn any_topic_config()(
            retention_ms in prop::option::of(0..=i64::MAX.unsigned_abs()),
            retention_bytes in prop::option::of(0..=i64::MAX.unsigned_abs()),
            segment_bytes in MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES,
            segment_ms in 1..=i64::MAX.unsigned_abs(),
            cleanup_policy in prop_oneof![
                Just(CleanupPolicy::Delete),
                Just(CleanupPolicy::Compact),
                Just(CleanupPolicy::CompactDelete),
            ],
            max_message_bytes in 0..=i32::MAX.unsigned_abs(),
            index_interval_bytes in 0..=i32::MAX.unsigned_abs(),
            flush_ms in prop::option::of(1..=i64::MAX.unsigned_abs()),
            message_timestamp_type in prop_oneof![
                Just(TimestampType::CreateTime),
                Just(TimestampType::LogAppendTime),
            ],
        ) -> TopicConfig {
            TopicConfig {
                retention_ms, retention_bytes, segment_bytes, segment_ms, cleanup_policy,
                max_message_bytes, index_interval_bytes, flush_ms, message_timestamp_type,
            }
        }
    }

    proptest! {
        #[test]
        fn pairs_round_trip(config in any_topic_config()) {
            prop_assert!(config.validate().is_ok());
            let back = TopicConfig::default().with_overrides(config.to_pairs()).unwrap();
            prop_assert_eq!(back, config);
        }

        #[test]
        fn toml_round_trip(config in any_topic_config()) {
            #[derive(Serialize, Deserialize)]
            struct Doc {
                topic: TopicConfig,
            }
            let text = toml::to_string(&Doc { topic: config.clone() }).unwrap();
            let back: Doc = toml::from_str(&text).unwrap();
            prop_assert_eq!(back.topic, config);
        }

        #[test]
        fn overrides_rebuild_the_config_from_any_base(
            config in any_topic_config(),
            base in any_topic_config(),
        ) {
            prop_assert_eq!(config.overrides(&base).apply_to(&base), config);
        }

        #[test]
        fn set_never_panics_on_arbitrary_input(key in "\\PC{0,30}", value in "\\PC{0,30}") {
            let mut c = TopicConfig::default();
            let _ = c.set(&key, &value);
        }
    }
}
