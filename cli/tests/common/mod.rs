//! Black-box test harness: runs the real `runnel-broker` binary (through
//! `runnel-testkit`, which finds or builds it and reads the address it
//! bound from its log) on a free loopback port with a temporary data
//! directory, and the `runnel` binary of this package against it.

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use runnel_testkit::{BrokerOptions, BrokerProcess};

/// Longest a CLI run may take before the test fails.
pub const DEADLINE: Duration = Duration::from_mins(1);

/// The `runnel` binary under test.
pub fn runnel_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_runnel"))
}

/// The `runnel-broker` binary (see `runnel_testkit::broker_binary`).
pub fn broker_binary() -> PathBuf {
    runnel_testkit::broker_binary()
}

/// A running broker, killed when dropped.
pub struct Broker(BrokerProcess);

impl Broker {
    /// A broker on a free port with a fresh data directory.
    pub fn start() -> Broker {
        Broker::start_with_env(&[])
    }

    /// A broker on a free port with a fresh data directory and extra
    /// `RUNNEL_*` settings.
    pub fn start_with_env(env: &[(&str, &str)]) -> Broker {
        Broker(BrokerProcess::start_with(BrokerOptions {
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..BrokerOptions::default()
        }))
    }

    /// Starts `command` (a `runnel-broker` invocation whose data directory
    /// is `data_dir`) and waits until it logs its address.
    pub fn spawn(command: Command, data_dir: &std::path::Path) -> Broker {
        Broker(BrokerProcess::spawn(
            command,
            data_dir,
            BrokerOptions::default(),
        ))
    }

    /// `host:port` for `--broker`.
    pub fn address(&self) -> String {
        self.0.bootstrap()
    }

    /// Everything the broker logged so far.
    pub fn logs(&self) -> String {
        self.0.logs()
    }

    /// A `runnel` command aimed at this broker.
    pub fn runnel(&self, args: &[&str]) -> Command {
        let mut command = Command::new(runnel_binary());
        command.arg("--broker").arg(self.address()).args(args);
        command.env_remove("RUNNEL_BROKER").env_remove("RUST_LOG");
        command
    }

    /// Runs `runnel ARGS` with `input` on standard input.
    pub fn run(&self, args: &[&str], input: &[u8]) -> Run {
        run(self.runnel(args), input)
    }

    /// Runs `runnel ARGS`, asserting success, and returns standard output.
    pub fn ok(&self, args: &[&str], input: &[u8]) -> String {
        let run = self.run(args, input);
        assert!(
            run.status.success(),
            "runnel {args:?} failed: {}",
            run.stderr
        );
        run.stdout
    }
}

/// A finished CLI run.
#[derive(Debug)]
pub struct Run {
    /// How it exited.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// The exit code.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Standard output's lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

/// Runs `command` with `input` on standard input, killing it if it runs
/// past [`DEADLINE`].
pub fn run(mut command: Command, input: &[u8]) -> Run {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start runnel");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = wait(child, DEADLINE)
        .unwrap_or_else(|| panic!("{command:?} did not finish within {DEADLINE:?}"));
    let _ = writer.join();
    Run {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

/// Waits for `child` to exit, up to `limit`; past it, kills it and
/// returns `None`.
pub fn wait(mut child: Child, limit: Duration) -> Option<ExitStatus> {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    match rx.recv_timeout(limit) {
        Ok(status) => status.ok(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            None
        }
    }
}

/// Sends SIGTERM to process `pid`.
pub fn terminate(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// Reads lines from `reader` on a thread; each arrives on the channel.
pub fn line_reader(reader: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}
