//! The one error type of this crate.

use std::path::PathBuf;

/// Why a configuration could not be read, parsed or accepted.
///
/// Every message names what was wrong (the key, environment variable or
/// file), the value given where there is one, and what is allowed. Variants
/// that wrap another error keep it as their `source`; print the whole chain
/// (for example anyhow's `{:#}`) to see it, as TOML errors carry the line
/// and column there.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {}", path.display())]
    ReadFile {
        /// The file that was asked for.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// A TOML document did not parse or did not match the expected shape
    /// (unknown key, wrong type, invalid value).
    #[error("invalid {origin}")]
    Toml {
        /// What was being parsed: `config file <path>`, `topic manifest`...
        origin: String,
        /// toml's error, whose message gives the line and column.
        #[source]
        source: toml::de::Error,
    },

    /// A value could not be written as TOML (a path that is not UTF-8, an
    /// integer beyond TOML's signed 64-bit range).
    #[error("cannot write {what} as TOML")]
    Serialize {
        /// What was being written.
        what: &'static str,
        /// toml's error.
        #[source]
        source: toml::ser::Error,
    },

    /// A topic config key that Runnel does not know.
    #[error("unknown topic config key {key:?}{}; supported keys: {}", did_you_mean(suggestion.as_deref()), crate::KEYS.join(", "))]
    UnknownTopicKey {
        /// The key as given.
        key: String,
        /// The closest supported key, when one is close.
        suggestion: Option<&'static str>,
    },

    /// A key (broker field, topic config key or manifest field) was given a
    /// value outside what it allows.
    #[error("invalid value {value:?} for {key}: expected {expected}")]
    InvalidValue {
        /// The field or topic config key.
        key: String,
        /// The value as given.
        value: String,
        /// What the key accepts.
        expected: String,
    },

    /// A `RUNNEL_*` environment variable that names no broker setting.
    #[error("unknown environment variable {name}{}; RUNNEL_* variables must name a broker setting", did_you_mean(suggestion.as_deref()))]
    UnknownEnvVar {
        /// The variable's name (lossily decoded if it is not UTF-8).
        name: String,
        /// The closest known variable, when one is close.
        suggestion: Option<String>,
    },

    /// A `RUNNEL_*` environment variable names a setting that cannot be
    /// given that way.
    #[error("environment variable {name} is not supported: {reason}")]
    UnsupportedEnvVar {
        /// The variable's name.
        name: String,
        /// Why, and what to use instead.
        reason: &'static str,
    },

    /// A `RUNNEL_*` environment variable holds a value its setting rejects.
    #[error("invalid value {value:?} in environment variable {name}: expected {expected}")]
    InvalidEnvValue {
        /// The variable's name.
        name: String,
        /// The value as given (lossily decoded if it is not UTF-8).
        value: String,
        /// What the setting accepts.
        expected: String,
    },

    /// Settings that are valid one by one but contradict each other.
    #[error("inconsistent configuration: {message}")]
    Inconsistent {
        /// Which settings, their values and the rule they break.
        message: String,
    },

    /// A topic name outside `[A-Za-z0-9._-]{1,249}` (or `.` / `..`).
    #[error(
        "invalid topic name {name:?}: {reason}; {}",
        crate::topic_name::TOPIC_NAME_RULE
    )]
    InvalidTopicName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// ` (did you mean "x"?)` when there is a suggestion, nothing otherwise.
fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion.map_or_else(String::new, |s| format!(" (did you mean {s:?}?)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_topic_key_message_carries_suggestion_and_supported_keys() {
        let err = ConfigError::UnknownTopicKey {
            key: "retention.msx".into(),
            suggestion: Some("retention.ms"),
        };
        let msg = err.to_string();
        assert!(msg.starts_with(
            "unknown topic config key \"retention.msx\" (did you mean \"retention.ms\"?)"
        ));
        assert!(msg.contains("segment.bytes"));
    }

    #[test]
    fn message_without_suggestion_has_no_question() {
        let err = ConfigError::UnknownEnvVar {
            name: "RUNNEL_ZZZ".into(),
            suggestion: None,
        };
        assert!(!err.to_string().contains("did you mean"));
    }
}
