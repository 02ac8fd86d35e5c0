//! `runnel-torture`: the crash-loss torture harness for long runs.

use clap::Parser;
use runnel_torture::{TortureConfig, run};

/// Kill the broker with SIGKILL over and over while idempotent producers
/// write with acks=all, then verify no acknowledged record was lost,
/// duplicated or reordered.
#[derive(Debug, Parser)]
#[command(name = "runnel-torture", version)]
struct Args {
    /// Kill/restart cycles.
    #[arg(long, default_value_t = 20)]
    cycles: u32,
    /// Seed of every random choice (repeat a run with the same seed).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Concurrent producers.
    #[arg(long, default_value_t = 3)]
    producers: u32,
    /// Partitions.
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    /// Members of the consumer group reading along.
    #[arg(long, default_value_t = 2)]
    consumers: u32,
    /// `all` (zero loss is required) or `1` (the loss window is measured).
    #[arg(long, default_value = "all", value_parser = ["all", "1"])]
    acks: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = TortureConfig {
        cycles: args.cycles,
        seed: args.seed,
        producers: args.producers,
        partitions: args.partitions,
        consumers: args.consumers,
        acks_all: args.acks == "all",
        ..TortureConfig::default()
    };
    let report = run(&config).await?;
    println!(
        "cycles {} acknowledged {} stored {} lost {} duplicated {} reordered {} misplaced {} failed_sends {} commits {} consumed {} lost_commits {} undelivered {} unflushed_seen {} unflushed_lost {}",
        report.cycles,
        report.acknowledged,
        report.stored,
        report.lost,
        report.duplicated,
        report.reordered,
        report.misplaced,
        report.failed_sends,
        report.commits,
        report.consumed,
        report.lost_commits,
        report.undelivered,
        report.unflushed_seen,
        report.unflushed_lost
    );
    for v in &report.violations {
        println!("VIOLATION {v}");
    }
    if config.acks_all && !report.is_clean() {
        anyhow::bail!(
            "acknowledged records were lost, duplicated, reordered or moved (seed {})",
            config.seed
        );
    }
    Ok(())
}
