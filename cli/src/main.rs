//! `runnel`: parses the command line, runs the command, and reports a
//! failure as one line on standard error with exit code 1 (2 for bad
//! usage, which clap reports itself for parse errors).

use std::process::ExitCode;

use clap::Parser;
use runnel_cli::args::Cli;
use runnel_cli::error::{EXIT_ERROR, EXIT_OK};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Quiet unless RUST_LOG asks: errors reach the user as one line.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("runnel: cannot start the async runtime: {error}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let result = runtime.block_on(runnel_cli::app::run(cli, &mut out));
    let result = result
        .and_then(|()| std::io::Write::flush(&mut out).map_err(runnel_cli::error::CliError::Write));
    match result {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(error) => {
            if error.is_reportable() {
                eprintln!("runnel: {error}");
            }
            ExitCode::from(error.exit_code())
        }
    }
}
