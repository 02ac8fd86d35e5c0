//! The keys a topic sets for itself, on top of the broker's topic defaults.

use std::collections::BTreeSet;

use serde::de::{DeserializeSeed, MapAccess, Visitor};
use serde::ser::SerializeMap as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::topic::{RawValue, TomlValue};
use crate::{ConfigError, TopicConfig, TopicKey};

/// A set of topic config keys with their values: what a topic overrides of
/// the broker's `[topic_defaults]`. Persisted in `topic.toml` so that a
/// topic keeps its own settings while the defaults can change under the
/// keys it does not set. Every value held has passed its key's check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicOverrides {
    /// The overridden values; keys not in `keys` hold their built-in
    /// default, so two equal sets of overrides compare equal.
    values: TopicConfig,
    /// Which keys are overridden.
    keys: BTreeSet<TopicKey>,
}

impl TopicOverrides {
    /// Overrides from `(key, value)` string pairs, later pairs winning. All
    /// or nothing: the first bad pair is the error.
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<TopicOverrides, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut overrides = TopicOverrides::default();
        for (key, value) in pairs {
            overrides.set(key.as_ref(), value.as_ref())?;
        }
        Ok(overrides)
    }

    /// Override `key` with `value` (a string as from the wire or the command
    /// line). On error `self` is unchanged.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let key = TopicKey::from_name(key)?;
        self.set_raw(key, RawValue::Str(value))
    }

    /// The one way values get in, from strings or TOML values.
    fn set_raw(&mut self, key: TopicKey, raw: RawValue<'_>) -> Result<(), ConfigError> {
        self.values.set_raw(key, raw)?;
        self.keys.insert(key);
        Ok(())
    }

    /// Override `key` with `config`'s value for it.
    pub(crate) fn copy_from(&mut self, config: &TopicConfig, key: TopicKey) {
        self.values.copy_key_from(config, key);
        self.keys.insert(key);
    }

    /// Stop overriding `key`, so the topic follows the default again.
    /// Returns whether it was overridden; an unknown key is an error.
    pub fn remove(&mut self, key: &str) -> Result<bool, ConfigError> {
        let key = TopicKey::from_name(key)?;
        self.values.copy_key_from(&TopicConfig::default(), key);
        Ok(self.keys.remove(&key))
    }

    /// Whether `key` is overridden.
    pub fn contains(&self, key: TopicKey) -> bool {
        self.keys.contains(&key)
    }

    /// The overridden value of `key`, in canonical string form.
    pub fn get(&self, key: TopicKey) -> Option<String> {
        self.contains(key).then(|| self.values.value(key))
    }

    /// How many keys are overridden.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is overridden.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The overridden keys, in [`KEYS`](crate::KEYS) order.
    pub fn keys(&self) -> impl Iterator<Item = TopicKey> + '_ {
        self.keys.iter().copied()
    }

    /// The overridden keys with their values, in [`KEYS`](crate::KEYS)
    /// order.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        self.keys
            .iter()
            .map(|&key| (key.name().to_owned(), self.values.value(key)))
            .collect()
    }

    /// `base` with these overrides applied: a topic's effective config when
    /// `base` is the broker's topic defaults.
    pub fn apply_to(&self, base: &TopicConfig) -> TopicConfig {
        let mut config = base.clone();
        for &key in &self.keys {
            config.copy_key_from(&self.values, key);
        }
        config
    }
}

/// A TOML table of the overridden keys, quoted, with typed values.
impl Serialize for TopicOverrides {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.keys.len()))?;
        for &key in &self.keys {
            map.serialize_entry(key.name(), &TomlValue(&self.values, key))?;
        }
        map.end()
    }
}

/// A table of keys to values, integers or strings; each key is resolved and
/// each value checked as it is read, so a TOML error points at the exact
/// key or value.
impl<'de> Deserialize<'de> for TopicOverrides {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(OverridesVisitor)
    }
}

/// Builds [`TopicOverrides`] from a map.
struct OverridesVisitor;

impl<'de> Visitor<'de> for OverridesVisitor {
    type Value = TopicOverrides;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a table of topic config keys such as \"retention.ms\"")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut overrides = TopicOverrides::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            map.next_value_seed(ValueSeed {
                key,
                target: &mut overrides,
            })?;
        }
        Ok(overrides)
    }
}

/// Resolves a map key to a [`TopicKey`], rejecting unknown ones.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = TopicKey;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<TopicKey, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = TopicKey;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a topic config key")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TopicKey, E> {
        TopicKey::from_name(v).map_err(E::custom)
    }
}

/// Reads one value and sets it for `key` in `target`.
struct ValueSeed<'a> {
    /// The key the value belongs to.
    key: TopicKey,
    /// Where the checked value goes.
    target: &'a mut TopicOverrides,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Visitor<'_> for ValueSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} for {}", self.key.expected(), self.key)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.target
            .set_raw(self.key, RawValue::Int(v))
            .map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        let v = i64::try_from(v).map_err(|_| E::custom(self.key.invalid(v.to_string())))?;
        self.visit_i64(v)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.target
            .set_raw(self.key, RawValue::Str(v))
            .map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_pairs_keeps_the_last_value_per_key_in_key_order() {
        let o = TopicOverrides::from_pairs([
            ("segment.bytes", "2048"),
            ("retention.ms", "1"),
            ("retention.ms", "5"),
        ])
        .unwrap();
        assert_eq!(
            o.to_pairs(),
            vec![
                ("retention.ms".to_owned(), "5".to_owned()),
                ("segment.bytes".to_owned(), "2048".to_owned()),
            ]
        );
        assert_eq!(o.len(), 2);
        assert_eq!(o.get(TopicKey::RetentionMs).as_deref(), Some("5"));
        assert_eq!(o.get(TopicKey::FlushMs), None);
    }

    #[test]
    fn overrides_equal_to_the_default_are_still_kept() {
        let o = TopicOverrides::from_pairs([("retention.ms", "604800000")]).unwrap();
        assert!(o.contains(TopicKey::RetentionMs));
        let base = TopicConfig::default()
            .with_overrides([("retention.ms", "1")])
            .unwrap();
        assert_eq!(o.apply_to(&base).retention_ms, Some(604_800_000));
    }

    #[test]
    fn bad_pair_is_rejected() {
        assert!(TopicOverrides::from_pairs([("flush.ms", "-3")]).is_err());
        assert!(TopicOverrides::from_pairs([("flush.msec", "3")]).is_err());
    }

    #[test]
    fn removed_key_follows_the_base_again() {
        let mut o = TopicOverrides::from_pairs([("cleanup.policy", "compact")]).unwrap();
        assert!(o.remove("cleanup.policy").unwrap());
        assert!(!o.remove("cleanup.policy").unwrap());
        assert!(o.remove("cleanup.polcy").is_err());
        assert!(o.is_empty());
        assert_eq!(o, TopicOverrides::default());
    }

    #[test]
    fn continuous_flush_overrides_an_interval_default() {
        let base = TopicConfig::default()
            .with_overrides([("flush.ms", "100")])
            .unwrap();
        let o = TopicOverrides::from_pairs([("flush.ms", "continuous")]).unwrap();
        assert_eq!(o.apply_to(&base).flush_ms, None);
    }
}
