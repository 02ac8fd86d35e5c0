//! [`run`]: carries out a parsed command line.

use std::io::Write;

use runnel_client::{Client, ClientConfig};

use crate::args::{Cli, Command};
use crate::error::CliError;
use crate::{bench, completions, consume, group, produce, signal, topic};

/// Carries out `cli`, printing results to `out`. Must run inside a tokio
/// runtime; `consume` stops cleanly on SIGINT or SIGTERM.
///
/// ```no_run
/// # async fn run() -> Result<(), runnel_cli::error::CliError> {
/// use clap::Parser;
/// use runnel_cli::args::Cli;
///
/// let cli = Cli::parse_from(["runnel", "topic", "list"]);
/// runnel_cli::app::run(cli, &mut std::io::stdout()).await?;
/// # Ok(())
/// # }
/// ```
pub async fn run(cli: Cli, out: &mut dyn Write) -> Result<(), CliError> {
    match cli.command {
        Command::Topic(command) => {
            let client = Client::connect(ClientConfig::new(&cli.broker)).await?;
            let result = topic::run(&client, command, cli.output, out).await;
            client.close();
            result
        }
        Command::Group(command) => {
            let client = Client::connect(ClientConfig::new(&cli.broker)).await?;
            let result = group::run(&client, command, cli.output, out).await;
            client.close();
            result
        }
        Command::Produce(args) => produce::run(&cli.broker, args, cli.output, out).await,
        Command::Consume(args) => {
            let shutdown = signal::shutdown()?;
            consume::run(&cli.broker, args, cli.output, out, shutdown).await
        }
        Command::Completions(args) => completions::run(args.shell, out),
        Command::Bench(command) => bench::run(&cli.broker, command, cli.output, out).await,
    }
}
