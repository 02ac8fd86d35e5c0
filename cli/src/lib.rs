//! The `runnel` command-line tool: topics, produce and consume, consumer
//! groups, over
//! Runnel's client, producer and consumer libraries.
//!
//! `main.rs` only parses the command line ([`args::Cli`]), calls
//! [`app::run`], and turns a [`error::CliError`] into one line on standard
//! error (`runnel: <what and why>`) and an exit code: 0 success, 1 error,
//! 2 bad usage.
//!
//! # Layout
//! - [`args`]: the command line as clap parses it.
//! - [`app`]: dispatch to the command modules.
//! - [`topic`]: `topic create | list | describe | delete | alter`.
//! - [`group`]: `group list | describe | delete | reset-offsets`.
//! - [`produce`]: `produce`, one record per input line.
//! - [`consume`]: `consume`, one record per output line.
//! - [`format`](mod@format): `--format` and the JSON form of a record.
//! - [`bench`](mod@bench): `bench produce | consume | e2e`, the load generator.
//! - [`completions`]: shell completion scripts.
//! - [`signal`]: SIGINT/SIGTERM for a clean stop.
//! - [`error`]: [`error::CliError`] and exit codes.

pub mod app;
pub mod args;
pub mod bench;
pub mod completions;
pub mod consume;
pub mod error;
pub mod format;
pub mod group;
pub mod produce;
pub mod signal;
pub mod topic;
