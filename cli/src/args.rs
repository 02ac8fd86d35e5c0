//! The command line, as clap parses it: [`Cli`] and one struct per command.
//!
//! Parsing errors (an unknown flag, a missing value, flags that exclude each
//! other, a malformed `KEY=VALUE` or `--format`) are clap's, exit code 2.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use runnel_client::DEFAULT_BROKER;

use crate::format::RecordFormat;

/// Runnel's command-line tool: manage topics, produce and consume records.
#[derive(Debug, Parser)]
#[command(name = "runnel", version, about, propagate_version = true)]
pub struct Cli {
    /// Broker to talk to.
    #[arg(
        long,
        global = true,
        env = "RUNNEL_BROKER",
        default_value = DEFAULT_BROKER,
        value_name = "HOST:PORT"
    )]
    pub broker: String,
    /// Output format: `text` for people, `json` for programs (one JSON
    /// object per record for `consume`).
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Lines and tables for people.
    Text,
    /// JSON for programs.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, list, describe, alter and delete topics.
    #[command(subcommand)]
    Topic(TopicCommand),
    /// Send one record per line of standard input (or of a file).
    Produce(ProduceArgs),
    /// Print the records of a topic, one per line, following new ones.
    Consume(ConsumeArgs),
    /// List, describe and delete consumer groups; reset their offsets.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Measure throughput and latency: produce, consume, or both at once.
    #[command(subcommand)]
    Bench(crate::bench::BenchCommand),
}

/// `runnel topic ...`.
#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Create a topic.
    Create {
        /// Topic name: 1 to 249 characters from A-Z a-z 0-9 . _ -
        name: String,
        /// Number of partitions [default: the broker's default].
        #[arg(short, long, value_name = "PARTITIONS")]
        partitions: Option<u32>,
        /// A topic setting, by its Kafka name (retention.ms, segment.bytes,
        /// cleanup.policy, ...); repeatable.
        #[arg(short, long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
    },
    /// List every topic with its partition count.
    List,
    /// Show a topic's partitions with their offsets, and its settings.
    Describe {
        /// Topic name.
        name: String,
    },
    /// Delete a topic and all its records.
    Delete {
        /// Topic name.
        name: String,
    },
    /// Change a topic's settings: set keys with -c, put keys back to their
    /// default with --delete-config.
    #[command(group = clap::ArgGroup::new("changes").required(true).multiple(true))]
    Alter {
        /// Topic name.
        name: String,
        /// A setting to change, by its Kafka name; repeatable.
        #[arg(short, long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value, group = "changes")]
        configs: Vec<(String, String)>,
        /// A setting to put back to its default (remove the topic's
        /// override); repeatable.
        #[arg(long = "delete-config", value_name = "KEY", group = "changes")]
        delete_configs: Vec<String>,
    },
}

/// `runnel group ...`.
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// List every consumer group with its state and member count.
    List,
    /// Show a group's members and assignments, and per partition the
    /// committed offset, log end offset, lag and time lag.
    Describe {
        /// Group id.
        group: String,
    },
    /// Delete a group without members, with its committed offsets.
    Delete {
        /// Group id.
        group: String,
    },
    /// Move a group's committed offsets in one topic. Prints the plan and
    /// changes nothing unless --execute is given; the group must have no
    /// live members.
    ResetOffsets {
        /// Group id.
        group: String,
        /// The topic whose offsets move (every partition of it).
        #[arg(long, value_name = "T")]
        topic: String,
        /// Where the offsets move.
        #[command(flatten)]
        to: ResetTo,
        /// Commit the new offsets (without it, only print the plan).
        #[arg(long)]
        execute: bool,
    },
}

/// Where `group reset-offsets` moves offsets: exactly one of the flags.
#[derive(Debug, Clone, Args)]
#[group(id = "to", required = true, multiple = false)]
pub struct ResetTo {
    /// To the oldest record still held (the log start offset).
    #[arg(long)]
    pub to_earliest: bool,
    /// To the end (the high watermark): skip everything not yet consumed.
    #[arg(long)]
    pub to_latest: bool,
    /// To offset N (kept within the log start offset and the high
    /// watermark).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(0..))]
    pub to_offset: Option<i64>,
    /// To the first record at or after time T: milliseconds since the Unix
    /// epoch, or RFC 3339 (2026-01-31T12:00:00Z).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub to_time: Option<i64>,
}

/// `runnel produce ...`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Topic to write to.
    pub topic: String,
    /// The key of every record.
    #[arg(short, long, value_name = "KEY", conflicts_with = "key_separator")]
    pub key: Option<String>,
    /// Split each line at the first SEP into key and value.
    #[arg(long, value_name = "SEP")]
    pub key_separator: Option<String>,
    /// Write every record to this partition [default: by key, or spread].
    #[arg(short, long, value_name = "PARTITION")]
    pub partition: Option<u32>,
    /// A header added to every record; repeatable.
    #[arg(short = 'H', long = "header", value_name = "K=V", value_parser = parse_key_value)]
    pub headers: Vec<(String, String)>,
    /// When the broker acknowledges: all (once durable), 1 (once
    /// appended), 0 (no answer).
    #[arg(long, value_parser = ["0", "1", "all"])]
    pub acks: Option<String>,
    /// Batch compression.
    #[arg(long, value_parser = ["none", "lz4", "zstd", "snappy", "gzip"])]
    pub compression: Option<String>,
    /// Read records from FILE instead of standard input.
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// A producer setting by its Kafka name (linger.ms, batch.size, ...);
    /// repeatable.
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub settings: Vec<(String, String)>,
    /// Print `PARTITION OFFSET` for each record once acknowledged, in input
    /// order (offset -1 with --acks 0).
    #[arg(long)]
    pub print_acks: bool,
}

/// `runnel consume ...`.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Topic to read.
    pub topic: String,
    /// Consumer group to join: the group shares the topic's partitions
    /// among its members and keeps their committed offsets (a member starts
    /// at them, else at the end, or at the beginning with
    /// --from-beginning). Not with -p, --offset or --from-time.
    #[arg(short, long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Start at the oldest record [default: only new records].
    #[arg(long, conflicts_with_all = ["offset", "from_time"])]
    pub from_beginning: bool,
    /// Start at this offset (in every partition read).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(0..), conflicts_with = "from_time")]
    pub offset: Option<i64>,
    /// Start at the first record at or after time T: milliseconds since
    /// the Unix epoch, or RFC 3339 (2026-01-31T12:00:00Z).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub from_time: Option<i64>,
    /// Read only this partition [default: all].
    #[arg(short, long, value_name = "PARTITION")]
    pub partition: Option<u32>,
    /// Stop after COUNT records.
    #[arg(short = 'n', long = "count", value_name = "COUNT")]
    pub count: Option<u64>,
    /// How to print each record: %t topic, %p partition, %o offset, %k key,
    /// %v value, %T timestamp (ms), %h headers (k=v,...), %% a percent
    /// sign; \n, \t and \\ escapes. A newline follows each record.
    #[arg(long, value_name = "FMT", value_parser = RecordFormat::parse)]
    pub format: Option<RecordFormat>,
    /// Stop at the end offsets seen at start instead of following new
    /// records.
    #[arg(long)]
    pub exit_at_end: bool,
    /// A consumer setting by its Kafka name (fetch.max.wait.ms,
    /// auto.offset.reset, ...); repeatable.
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub settings: Vec<(String, String)>,
}

/// `runnel completions ...`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Shells with completion scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// GNU bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

/// Parses `KEY=VALUE` (the value may be empty and may hold `=`).
pub fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

/// Parses a time: milliseconds since the Unix epoch, or RFC 3339.
pub fn parse_time(text: &str) -> Result<i64, String> {
    if let Ok(ms) = text.parse::<i64>() {
        return if ms >= 0 {
            Ok(ms)
        } else {
            Err("a time in milliseconds may not be negative".to_owned())
        };
    }
    let time = humantime::parse_rfc3339_weak(text).map_err(|e| {
        format!("expected milliseconds since the Unix epoch or an RFC 3339 time ({e})")
    })?;
    let since = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| "times before 1970 are not supported".to_owned())?;
    i64::try_from(since.as_millis()).map_err(|_| "the time is too far in the future".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("runnel").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn key_values_split_at_the_first_equals_sign() {
        assert_eq!(
            parse_key_value("a=b=c"),
            Ok(("a".to_owned(), "b=c".to_owned()))
        );
        assert_eq!(parse_key_value("a="), Ok(("a".to_owned(), String::new())));
        assert!(parse_key_value("a").is_err());
        assert!(parse_key_value("=b").is_err());
    }

    #[test]
    fn times_are_milliseconds_or_rfc3339() {
        assert_eq!(parse_time("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Ok(1_000));
        assert!(parse_time("-5").is_err());
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn global_flags_go_before_or_after_the_command() {
        let cli = parse(&["topic", "list", "--output", "json", "--broker", "h:1"]).unwrap();
        assert_eq!(cli.output, Output::Json);
        assert_eq!(cli.broker, "h:1");
        let cli = parse(&["--broker", "h:2", "topic", "list"]).unwrap();
        assert_eq!(cli.broker, "h:2");
    }

    #[test]
    fn start_positions_exclude_each_other() {
        assert!(parse(&["consume", "t", "--from-beginning", "--offset", "3"]).is_err());
        assert!(parse(&["consume", "t", "--offset", "3", "--from-time", "5"]).is_err());
        assert!(parse(&["consume", "t", "--offset", "-3"]).is_err());
        assert!(parse(&["produce", "t", "-k", "a", "--key-separator", ":"]).is_err());
        assert!(parse(&["produce", "t", "--acks", "2"]).is_err());
    }

    #[test]
    fn alter_needs_a_change() {
        assert!(parse(&["topic", "alter", "t"]).is_err());
        let cli = parse(&["topic", "alter", "t", "--delete-config", "retention.ms"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Topic(TopicCommand::Alter { ref delete_configs, .. }) if delete_configs == &["retention.ms"]
        ));
    }

    #[test]
    fn reset_offsets_takes_exactly_one_target() {
        let base = ["group", "reset-offsets", "g", "--topic", "t"];
        let with = |extra: &[&str]| parse(&[&base[..], extra].concat());
        assert_eq!(with(&[]).unwrap_err().exit_code(), 2);
        assert_eq!(
            with(&["--to-earliest", "--to-latest"])
                .unwrap_err()
                .exit_code(),
            2
        );
        let cli = with(&["--to-time", "1970-01-01T00:00:02Z", "--execute"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Group(GroupCommand::ResetOffsets { ref to, execute: true, .. })
                if to.to_time == Some(2_000)
        ));
        assert!(with(&["--to-offset", "-1"]).is_err());
    }

    #[test]
    fn a_bad_format_is_a_usage_error() {
        let err = parse(&["consume", "t", "--format", "%q"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
