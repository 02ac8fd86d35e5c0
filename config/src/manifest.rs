//! `topics/<topic>/topic.toml`: what the broker records about a topic
//! besides its data.
//!
//! ```toml
//! partitions = 3
//!
//! [config]
//! "cleanup.policy" = "compact"
//! "retention.ms" = 86400000
//! ```
//!
//! `[config]` holds only the topic's overrides; keys it does not list follow
//! the broker's `[topic_defaults]`, so changing a default reaches every
//! topic that did not set the key itself. Unknown fields are errors, so a
//! manifest written by a newer broker is refused rather than half read.

use serde::{Deserialize, Deserializer, Serialize};

use crate::{ConfigError, TopicConfig, TopicOverrides};

/// The name `partitions` goes by in errors.
const PARTITIONS: &str = "partitions";

/// What a topic's `topic.toml` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicManifest {
    /// How many partitions the topic has, at least 1. Partition directories
    /// `0..partitions` exist under the topic's directory.
    #[serde(deserialize_with = "deserialize_partitions")]
    pub partitions: u32,
    /// The topic's config overrides (TOML table `[config]`).
    #[serde(rename = "config", default)]
    pub overrides: TopicOverrides,
}

impl TopicManifest {
    /// A manifest for `partitions` partitions (at least 1) with `overrides`.
    pub fn new(partitions: u32, overrides: TopicOverrides) -> Result<TopicManifest, ConfigError> {
        check_partitions(partitions)?;
        Ok(TopicManifest {
            partitions,
            overrides,
        })
    }

    /// The topic's effective config over the broker's topic defaults.
    pub fn config(&self, topic_defaults: &TopicConfig) -> TopicConfig {
        self.overrides.apply_to(topic_defaults)
    }

    /// The manifest as TOML, the content of `topic.toml`.
    pub fn to_toml_string(&self) -> Result<String, ConfigError> {
        check_partitions(self.partitions)?;
        toml::to_string(self).map_err(|source| ConfigError::Serialize {
            what: "topic manifest",
            source,
        })
    }

    /// Parse the content of `topic.toml`. Errors give toml's line and
    /// column; the caller adds the file's path.
    pub fn from_toml_str(text: &str) -> Result<TopicManifest, ConfigError> {
        toml::from_str(text).map_err(|source| ConfigError::Toml {
            origin: "topic manifest".to_owned(),
            source,
        })
    }
}

/// At least one partition.
fn check_partitions(partitions: u32) -> Result<(), ConfigError> {
    if partitions == 0 {
        return Err(ConfigError::InvalidValue {
            key: PARTITIONS.to_owned(),
            value: partitions.to_string(),
            expected: "an integer number of partitions ≥ 1".to_owned(),
        });
    }
    Ok(())
}

/// `partitions`, checked where it is read so the error has its position.
fn deserialize_partitions<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let partitions = u32::deserialize(deserializer)?;
    check_partitions(partitions).map_err(serde::de::Error::custom)?;
    Ok(partitions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::tests::any_topic_config;
    use proptest::prelude::*;

    #[test]
    fn manifest_writes_partitions_and_quoted_overrides() {
        let overrides = TopicOverrides::from_pairs([
            ("retention.ms", "86400000"),
            ("cleanup.policy", "compact"),
        ])
        .unwrap();
        let text = TopicManifest::new(3, overrides)
            .unwrap()
            .to_toml_string()
            .unwrap();
        assert_eq!(
            text,
            "partitions = 3\n\n[config]\n\"retention.ms\" = 86400000\n\"cleanup.policy\" = \"compact\"\n"
        );
    }

    #[test]
    fn manifest_round_trips() {
        let overrides = TopicOverrides::from_pairs([
            ("flush.ms", "continuous"),
            ("retention.bytes", "-1"),
            ("message.timestamp.type", "LogAppendTime"),
        ])
        .unwrap();
        let manifest = TopicManifest::new(12, overrides).unwrap();
        let back = TopicManifest::from_toml_str(&manifest.to_toml_string().unwrap()).unwrap();
        assert_eq!(back, manifest);
    }

    #[test]
    fn manifest_without_overrides_round_trips() {
        let manifest = TopicManifest::new(1, TopicOverrides::default()).unwrap();
        let text = manifest.to_toml_string().unwrap();
        assert_eq!(TopicManifest::from_toml_str(&text).unwrap(), manifest);
        assert_eq!(
            TopicManifest::from_toml_str("partitions = 1\n").unwrap(),
            manifest
        );
    }

    #[test]
    fn manifest_config_applies_overrides_to_defaults() {
        let manifest =
            TopicManifest::from_toml_str("partitions = 2\n[config]\n\"segment.bytes\" = 4096\n")
                .unwrap();
        let defaults = TopicConfig::default()
            .with_overrides([("retention.ms", "5")])
            .unwrap();
        let config = manifest.config(&defaults);
        assert_eq!(config.segment_bytes, 4096);
        assert_eq!(config.retention_ms, Some(5));
    }

    #[test]
    fn zero_partitions_is_rejected() {
        assert!(TopicManifest::new(0, TopicOverrides::default()).is_err());
        let err = TopicManifest::from_toml_str("partitions = 0\n").unwrap_err();
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(
            source.contains("invalid value \"0\" for partitions"),
            "{source}"
        );
        assert!(source.contains("line 1"), "{source}");
    }

    #[test]
    fn bad_manifest_names_the_problem_with_its_line() {
        for (text, needle) in [
            ("partitions = 1\nowner = \"x\"\n", "owner"),
            ("[config]\n", "partitions"),
            (
                "partitions = 1\n[config]\n\"retention.mss\" = 1\n",
                "retention.mss",
            ),
            (
                "partitions = 1\n[config]\n\"segment.bytes\" = \"big\"\n",
                "segment.bytes",
            ),
            ("partitions = -1\n", "partitions"),
            ("partitions = ", "line 1"),
        ] {
            let err = TopicManifest::from_toml_str(text).unwrap_err();
            assert!(err.to_string().contains("topic manifest"), "{err}");
            let source = std::error::Error::source(&err).unwrap().to_string();
            assert!(source.contains(needle), "{text:?}: {source}");
        }
    }

    proptest! {
        #[test]
        fn any_manifest_round_trips(
            partitions in 1..=u32::MAX,
            config in any_topic_config(),
            base in any_topic_config(),
        ) {
            let manifest = TopicManifest::new(partitions, config.overrides(&base)).unwrap();
            let back = TopicManifest::from_toml_str(&manifest.to_toml_string().unwrap()).unwrap();
            prop_assert_eq!(back.config(&base), config);
            prop_assert_eq!(back, manifest);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = TopicManifest::from_toml_str(&text);
        }
    }
}
