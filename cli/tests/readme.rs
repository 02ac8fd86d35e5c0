//! The README's quick start, run as written: the commands are read from
//! the `## Quick start` section of README.md, so the README cannot drift
//! from what works.
//!
//! How each line runs:
//! - `cargo install ...` is skipped: the test uses the binaries cargo built
//!   for it, put first on `PATH` under their installed names.
//! - `runnel-broker ... &` starts the broker through the harness with the
//!   line's arguments, in a temporary working directory; `RUNNEL_LISTEN`
//!   and `RUNNEL_METRICS_LISTEN` move it to free ports (the README's
//!   default port may be taken on a test machine), and the harness waits
//!   until it listens.
//! - Every other line runs with `sh -c` in that directory, with
//!   `RUNNEL_BROKER` pointing at the broker.

mod common;

use std::path::Path;
use std::process::Command;

use common::Broker;

/// The commands of the first `sh` code block under `## Quick start`.
fn quick_start_commands() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("read README.md");
    let section = readme
        .split("\n## Quick start\n")
        .nth(1)
        .expect("README.md has a ## Quick start section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the quick start has a ```sh block");
    block
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_readme_quick_start_works_as_written() {
    let commands = quick_start_commands();
    assert!(commands.len() >= 4, "{commands:?}");
    let dir = tempfile::tempdir().unwrap();
    let bin_dirs = [
        common::runnel_binary().parent().unwrap().to_path_buf(),
        common::broker_binary().parent().unwrap().to_path_buf(),
    ];
    let path = std::env::join_paths(bin_dirs.iter().cloned().chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let mut broker: Option<Broker> = None;
    let mut last_output = String::new();
    let mut produced = String::new();
    for line in &commands {
        if line.starts_with("cargo install") {
            continue;
        }
        if let Some(args) = line.strip_prefix("runnel-broker") {
            let args = args
                .trim()
                .strip_suffix('&')
                .expect("the broker runs in the background");
            let mut command = Command::new(common::broker_binary());
            command
                .args(args.split_whitespace())
                .current_dir(dir.path())
                .env("RUNNEL_LISTEN", "127.0.0.1:0")
                .env("RUNNEL_METRICS_LISTEN", "127.0.0.1:0");
            broker = Some(Broker::spawn(command, &dir.path().join("runnel-data")));
            continue;
        }
        let broker = broker.as_ref().expect("the broker starts first");
        if let Some((input, _)) = line.split_once(" | runnel produce") {
            let mut printf = Command::new("sh");
            printf.arg("-c").arg(input);
            produced = common::run(printf, b"").stdout;
        }
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(line)
            .current_dir(dir.path())
            .env("PATH", &path)
            .env("RUNNEL_BROKER", broker.address());
        let run = common::run(command, b"");
        assert!(run.status.success(), "`{line}` failed: {}", run.stderr);
        last_output = run.stdout;
    }
    let mut got: Vec<&str> = last_output.lines().collect();
    let mut want: Vec<&str> = produced.lines().collect();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(want.len(), 3, "the quick start produces three lines");
    assert_eq!(got, want);
    assert!(
        dir.path().join("runnel-data").is_dir(),
        "data went where the README says"
    );
}
