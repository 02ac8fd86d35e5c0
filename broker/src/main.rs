//! `runnel-broker`: parses flags, sets up logging, runs the broker until
//! SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use runnel_config::{BrokerConfig, BrokerOverrides, LogFormat};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// The Runnel message broker.
#[derive(Debug, Parser)]
#[command(
    name = "runnel-broker",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

/// Offline tools; without one, the broker runs.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Verify every segment and index of a data directory (the broker must
    /// be stopped); exits 1 if anything is damaged.
    Check {
        /// Data directory [default: ./runnel-data].
        #[arg(long, value_name = "DIR", default_value = "./runnel-data")]
        data_dir: PathBuf,
    },
    /// Print the batches of one segment file (`.log`).
    Dump {
        /// The segment file.
        file: PathBuf,
        /// Print every record too.
        #[arg(long)]
        records: bool,
    },
}

/// Flags of the broker itself.
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// TOML config file (also RUNNEL_CONFIG).
    #[arg(long, env = "RUNNEL_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory [default: ./runnel-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address for the native protocol [default: 127.0.0.1:9170].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Address for Prometheus metrics and the health check (`/metrics`,
    /// `/health`) [default: 127.0.0.1:9171].
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Log line format [default: text; config `log_format`, env
    /// RUNNEL_LOG_FORMAT].
    #[arg(long, value_name = "FORMAT", value_parser = ["text", "json"])]
    log_format: Option<String>,
    /// Collect no metrics (`/metrics` answers 404, `/health` still works).
    /// For measuring what metrics cost.
    #[arg(long, hide = true)]
    no_metrics: bool,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("runnel-broker: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.command {
        Some(Command::Check { data_dir }) => return check(&data_dir),
        Some(Command::Dump { file, records }) => return dump(&file, records),
        None => {}
    }
    let args = args.run;
    let overrides = BrokerOverrides {
        data_dir: args.data_dir,
        listen: args.listen,
        metrics_listen: args.metrics_listen,
    };
    let mut config = BrokerConfig::load(args.config.as_deref(), std::env::vars_os(), &overrides)
        .context("invalid configuration")?;
    match args.log_format.as_deref() {
        Some("json") => config.log_format = LogFormat::Json,
        Some(_) => config.log_format = LogFormat::Text,
        None => {}
    }
    if args.print_config {
        print!("{}", config.to_toml_string()?);
        return Ok(());
    }
    init_logging(config.log_format);
    raise_open_file_limit();
    let prometheus = if args.no_metrics {
        None
    } else {
        Some(runnel_broker::metrics::install()?)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("runnel-worker")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let signals = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            signals.cancel();
        });
        runnel_broker::server::run(config, shutdown, None, prometheus).await
    })?;
    Ok(())
}

fn check(data_dir: &std::path::Path) -> anyhow::Result<()> {
    use runnel_broker::storage::{DataDir, check};
    anyhow::ensure!(
        data_dir.is_dir(),
        "{} is not a directory",
        data_dir.display()
    );
    let _lock =
        DataDir::lock(data_dir).context("cannot check a data directory a broker is using")?;
    let report = check::check_data_dir(data_dir)
        .with_context(|| format!("cannot read {}", data_dir.display()))?;
    for problem in &report.problems {
        println!("DAMAGED {problem}");
    }
    println!(
        "checked {} partitions, {} segments, {} batches, {} bytes: {} problems",
        report.partitions,
        report.segments,
        report.batches,
        report.bytes,
        report.problems.len()
    );
    anyhow::ensure!(
        report.problems.is_empty(),
        "{} problems found",
        report.problems.len()
    );
    Ok(())
}

fn dump(file: &std::path::Path, records: bool) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let intact = runnel_broker::storage::check::dump_segment(file, records, &mut out)
        .with_context(|| format!("cannot read {}", file.display()))?;
    std::io::Write::flush(&mut out)?;
    anyhow::ensure!(intact, "{} is damaged", file.display());
    Ok(())
}

/// Raises the soft limit on open files to the hard limit: every partition
/// keeps its active segment's log open, and every client holds a
/// socket.
fn raise_open_file_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    // A privileged broker (root, or CAP_SYS_RESOURCE) may also raise the
    // hard limit, up to the kernel's per-process ceiling.
    let ceiling = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let wanted = ceiling.map_or(limit.maximum, |c| limit.maximum.map(|m| m.max(c)));
    for target in [wanted, limit.maximum] {
        if target.is_some() && limit.current >= target {
            return;
        }
        let raised = Rlimit {
            current: target,
            maximum: target,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            tracing::info!(limit = ?target, "raised the open-file limit");
            return;
        }
    }
    tracing::warn!(current = ?limit.current, "cannot raise the open-file limit");
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers, run until killed.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}
