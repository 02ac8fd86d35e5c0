//! [`CliError`]: why a command failed, printed by `main` as one line
//! (`runnel: <what and why>`), and the exit code it maps to.

use std::io;

use runnel_client::{ClientError, ConfigError};
use runnel_consumer::ConsumerError;
use runnel_producer::ProducerError;
use runnel_protocol::ErrorCode;

/// Producer and consumer settings, each once.
static BENCH_KEYS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    let mut keys: Vec<&'static str> = crate::produce::PRODUCER_KEYS
        .iter()
        .chain(runnel_consumer::config::KEYS)
        .copied()
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
});

/// Whose settings a `-X` flag sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsKind {
    /// `runnel produce -X`.
    Producer,
    /// `runnel consume -X`.
    Consumer,
    /// `runnel bench -X`: either side's.
    Bench,
}

impl SettingsKind {
    /// Every setting name accepted.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            SettingsKind::Producer => crate::produce::PRODUCER_KEYS,
            SettingsKind::Consumer => runnel_consumer::config::KEYS,
            SettingsKind::Bench => BENCH_KEYS.as_slice(),
        }
    }
}

impl std::fmt::Display for SettingsKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SettingsKind::Producer => "producer",
            SettingsKind::Consumer => "consumer",
            SettingsKind::Bench => "producer and consumer",
        })
    }
}

/// Exit code for success.
pub const EXIT_OK: u8 = 0;
/// Exit code for a failed command.
pub const EXIT_ERROR: u8 = 1;
/// Exit code for a command line that cannot be carried out as written.
pub const EXIT_USAGE: u8 = 2;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A call to the broker failed (unreachable, refused, timed out).
    #[error(transparent)]
    Client(ClientError),
    /// Consuming failed.
    #[error(transparent)]
    Consumer(ConsumerError),
    /// Producing failed.
    #[error(transparent)]
    Producer(ProducerError),
    /// The topic does not exist.
    #[error("topic {topic:?} does not exist; create it with: runnel topic create {topic}")]
    UnknownTopic {
        /// The topic.
        topic: String,
    },
    /// The consumer group does not exist.
    #[error("group {group:?} does not exist")]
    UnknownGroup {
        /// The group.
        group: String,
    },
    /// The group has live members, so the broker refuses the change.
    #[error(
        "group {group:?} has {} live member{}; stop its consumers (or wait for their sessions to time out) before {action}",
        members.map_or_else(|| "a".to_owned(), |n| n.to_string()),
        if *members == Some(1) || members.is_none() { "" } else { "s" }
    )]
    GroupNotEmpty {
        /// The group.
        group: String,
        /// How many members it has, when known.
        members: Option<usize>,
        /// What was refused ("deleting it").
        action: &'static str,
    },
    /// The topic name breaks the naming rule.
    #[error(transparent)]
    InvalidTopicName(runnel_config::ConfigError),
    /// A `-X KEY=VALUE` setting is unknown or its value is malformed.
    #[error("-X {flag}: {source}{}", known_settings(*kind, source))]
    Setting {
        /// The flag's value as given (`KEY=VALUE`).
        flag: String,
        /// What is wrong.
        #[source]
        source: Box<ConfigError>,
        /// Whose settings they are, for the list of valid ones.
        kind: SettingsKind,
    },
    /// The command line asks for something this build cannot do.
    #[error("{0}")]
    Usage(String),
    /// The command ran and failed in a way described in words (a
    /// benchmark's consumer stalled, a task died).
    #[error("{0}")]
    Failed(String),
    /// An input line is not a record as the flags describe it.
    #[error("line {line}: {reason}")]
    Input {
        /// Line number, from 1.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// The input could not be read.
    #[error("cannot read {what}: {source}")]
    Read {
        /// Standard input or the file's path.
        what: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The output could not be written.
    #[error("cannot write the output: {0}")]
    Write(#[source] io::Error),
}

impl CliError {
    /// The process exit code: 2 for usage errors, 0 when the output was
    /// closed by its reader (`runnel consume t | head`), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Setting { .. } | CliError::Usage(_) => EXIT_USAGE,
            CliError::Write(e) if e.kind() == io::ErrorKind::BrokenPipe => EXIT_OK,
            _ => EXIT_ERROR,
        }
    }

    /// Whether `main` should print the error (not when the reader closed
    /// the output: nothing is wrong).
    pub fn is_reportable(&self) -> bool {
        !matches!(self, CliError::Write(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }

    /// The same error, with "the topic does not exist" in any form turned
    /// into [`CliError::UnknownTopic`] naming `topic` and the fix.
    #[must_use]
    pub fn about_topic(self, topic: &str) -> Self {
        let unknown = match &self {
            CliError::Client(ClientError::Broker(e))
            | CliError::Producer(ProducerError::Broker(e)) => {
                e.code == ErrorCode::UnknownTopicOrPartition
            }
            CliError::Producer(ProducerError::Client(e))
            | CliError::Consumer(ConsumerError::Client(e)) => {
                matches!(&**e, ClientError::Broker(b) if b.code == ErrorCode::UnknownTopicOrPartition)
            }
            CliError::Consumer(ConsumerError::UnknownTopic { .. }) => true,
            _ => false,
        };
        if unknown {
            CliError::UnknownTopic {
                topic: topic.to_owned(),
            }
        } else {
            self
        }
    }

    /// A `-X` setting error; the message lists the settings that exist.
    pub fn setting(key: &str, value: &str, source: ConfigError, kind: SettingsKind) -> Self {
        CliError::Setting {
            flag: format!("{key}={value}"),
            source: Box::new(source),
            kind,
        }
    }
}

impl From<ClientError> for CliError {
    fn from(error: ClientError) -> Self {
        CliError::Client(error)
    }
}

impl From<ConsumerError> for CliError {
    fn from(error: ConsumerError) -> Self {
        match error {
            // Unwrap so the message is the client's own.
            ConsumerError::Client(e) => match std::sync::Arc::try_unwrap(e) {
                Ok(e) => CliError::Client(e),
                Err(e) => CliError::Consumer(ConsumerError::Client(e)),
            },
            other => CliError::Consumer(other),
        }
    }
}

impl From<ProducerError> for CliError {
    fn from(error: ProducerError) -> Self {
        CliError::Producer(error)
    }
}

/// For an unknown setting, the list of known ones; nothing otherwise.
fn known_settings(kind: SettingsKind, error: &ConfigError) -> String {
    match error {
        ConfigError::UnknownKey { .. } => {
            format!("; {kind} settings are {}", kind.keys().join(", "))
        }
        _ => String::new(),
    }
}

/// Checks a topic name before it is sent anywhere.
pub fn check_topic_name(name: &str) -> Result<(), CliError> {
    runnel_config::validate_topic_name(name).map_err(CliError::InvalidTopicName)
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnel_client::BrokerError;

    #[test]
    fn exit_codes_separate_usage_from_failure() {
        assert_eq!(CliError::Usage("x".into()).exit_code(), EXIT_USAGE);
        let unknown = ConfigError::UnknownKey { key: "k".into() };
        assert_eq!(
            CliError::setting("k", "v", unknown, SettingsKind::Consumer).exit_code(),
            EXIT_USAGE
        );
        assert_eq!(
            CliError::UnknownTopic { topic: "t".into() }.exit_code(),
            EXIT_ERROR
        );
        assert_eq!(CliError::Failed("x".into()).exit_code(), EXIT_ERROR);
        let pipe = CliError::Write(io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(pipe.exit_code(), EXIT_OK);
        assert!(!pipe.is_reportable());
    }

    #[test]
    fn unknown_topics_name_the_fix() {
        let e = CliError::from(ClientError::Broker(BrokerError::new(
            ErrorCode::UnknownTopicOrPartition,
            None,
        )))
        .about_topic("orders");
        assert_eq!(
            e.to_string(),
            "topic \"orders\" does not exist; create it with: runnel topic create orders"
        );
        let other = CliError::Usage("u".into()).about_topic("orders");
        assert_eq!(other.to_string(), "u");
    }

    #[test]
    fn setting_errors_name_the_flag_and_the_fix() {
        let e = CliError::setting(
            "lingr.ms",
            "5",
            ConfigError::UnknownKey {
                key: "lingr.ms".into(),
            },
            SettingsKind::Producer,
        );
        assert!(
            e.to_string().starts_with(
                "-X lingr.ms=5: unknown setting \"lingr.ms\"; producer settings are acks, linger.ms, "
            ),
            "{e}"
        );
    }

    #[test]
    fn a_bad_value_names_the_expectation_only() {
        let e = CliError::setting(
            "fetch.min.bytes",
            "x",
            ConfigError::invalid("fetch.min.bytes", "x", "expected a number"),
            SettingsKind::Consumer,
        );
        assert_eq!(
            e.to_string(),
            "-X fetch.min.bytes=x: invalid value \"x\" for fetch.min.bytes: expected a number"
        );
    }

    #[test]
    fn a_non_empty_group_says_what_to_do() {
        let e = CliError::GroupNotEmpty {
            group: "g".into(),
            members: Some(2),
            action: "deleting it",
        };
        assert_eq!(
            e.to_string(),
            "group \"g\" has 2 live members; stop its consumers (or wait for their sessions to time out) before deleting it"
        );
        assert_eq!(e.exit_code(), EXIT_ERROR);
    }

    #[test]
    fn invalid_names_say_the_rule() {
        let e = check_topic_name("a b").unwrap_err();
        assert!(
            e.to_string().starts_with("invalid topic name \"a b\""),
            "{e}"
        );
        assert!(check_topic_name("orders.v1_x-2").is_ok());
    }
}
