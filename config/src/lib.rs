//! Runnel broker and topic configuration.
//!
//! The broker's settings come from four layers, each overriding the one
//! before: built-in defaults, a TOML config file, `RUNNEL_*` environment
//! variables, and command-line flags. [`BrokerConfig::load`] applies them in
//! that order and checks the result; every error names the key, variable or
//! file, the value given and what is allowed.
//!
//! Topic settings use Kafka's keys and defaults (`retention.ms`,
//! `segment.bytes`, ...). A topic's effective config is the broker's
//! `[topic_defaults]` plus the topic's own overrides, which the broker keeps
//! in `topics/<topic>/topic.toml` ([`TopicManifest`]).
//!
//! This crate only parses and checks; it owns no flags (the broker binary
//! does) and opens no file except the config file handed to it.
//!
//! # Layout
//! - [`broker`] — [`BrokerConfig`], the layering, [`BrokerOverrides`] for
//!   flags, [`LogFormat`].
//! - [`defaults`] — every default and bound as a named constant.
//! - [`topic`] — [`TopicConfig`] and its value types ([`CleanupPolicy`],
//!   [`TimestampType`]).
//! - [`topic_key`] — [`TopicKey`], [`KEYS`] and their descriptions.
//! - [`overrides`] — [`TopicOverrides`], the keys a topic sets itself.
//! - [`manifest`] — [`TopicManifest`], the content of `topic.toml`.
//! - [`topic_name`] — [`validate_topic_name`].
//! - [`error`] — [`ConfigError`].
//!
//! The file `config/broker.example.toml` documents every broker key with its
//! default.

pub mod broker;
pub mod defaults;
pub mod error;
pub mod manifest;
pub mod overrides;
mod suggest;
pub mod topic;
pub mod topic_key;
pub mod topic_name;

pub use broker::{BrokerConfig, BrokerOverrides, ENV_PREFIX, ENV_VARS_READ_ELSEWHERE, LogFormat};
pub use error::ConfigError;
pub use manifest::TopicManifest;
pub use overrides::TopicOverrides;
pub use topic::{CleanupPolicy, FLUSH_CONTINUOUS, TimestampType, TopicConfig};
pub use topic_key::{KEYS, TopicKey, topic_config_help};
pub use topic_name::{MAX_TOPIC_NAME_LEN, TOPIC_NAME_RULE, validate_topic_name};
