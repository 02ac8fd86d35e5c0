//! Black-box test harness: runs the real `runnel-broker` binary on a free
//! loopback port with a temporary data directory, and the `runnel` binary
//! of this package against it.
//!
//! # Finding the broker binary
//! The broker belongs to another package, so cargo gives these tests no
//! `CARGO_BIN_EXE_runnel-broker`. In order:
//! 1. `RUNNEL_BROKER_BIN`, if set (to test a given build);
//! 2. `cargo build -p runnel-broker --bin runnel-broker
//!    --message-format=json`, run once per test process with the cargo that
//!    built the tests, and the executable path cargo reports. Up to date
//!    (as in CI, where `cargo nextest run --workspace` has just built it)
//!    this takes a fraction of a second; it never runs a stale binary;
//! 3. if that build fails (the broker's sources mid-edit), the binary cargo
//!    last built in this profile, with a warning on stderr.
//!
//! # Finding the port
//! The broker listens on `127.0.0.1:0` and logs the address it bound
//! (`listening addr=...`); the harness reads its log until that line.

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Longest a CLI run or a broker start may take before the test fails.
pub const DEADLINE: Duration = Duration::from_mins(1);

/// The `runnel` binary under test.
pub fn runnel_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_runnel"))
}

/// The `runnel-broker` binary; see the module docs.
pub fn broker_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(find_broker).clone()
}

fn find_broker() -> PathBuf {
    if let Some(path) = std::env::var_os("RUNNEL_BROKER_BIN") {
        return PathBuf::from(path);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["build", "-p", "runnel-broker", "--bin", "runnel-broker"])
        .args([
            "--message-format=json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(&manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if !cfg!(debug_assertions) {
        cargo.arg("--release");
    }
    let built = cargo.output().ok().filter(|o| o.status.success());
    if let Some(path) = built.and_then(|o| executable_from(&o.stdout)) {
        return path;
    }
    // Beside this package's own binary: target/<profile>/runnel-broker.
    let fallback = runnel_binary().with_file_name("runnel-broker");
    assert!(
        fallback.exists(),
        "cannot build runnel-broker and none was built before"
    );
    eprintln!(
        "warning: building runnel-broker failed; testing the last build at {}",
        fallback.display()
    );
    fallback
}

/// The path cargo reports for the `runnel-broker` executable.
fn executable_from(messages: &[u8]) -> Option<PathBuf> {
    String::from_utf8_lossy(messages)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "runnel-broker")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
}

/// A running broker, killed when dropped.
pub struct Broker {
    /// The process.
    child: Child,
    /// The native protocol address it bound.
    pub addr: SocketAddr,
    /// Everything it logged so far.
    pub log: Arc<Mutex<String>>,
    /// Its data directory, removed on drop.
    data: Option<tempfile::TempDir>,
}

impl Broker {
    /// A broker on a free port with a fresh data directory.
    pub fn start() -> Broker {
        Broker::start_with_env(&[])
    }

    /// A broker on a free port with a fresh data directory and extra
    /// `RUNNEL_*` settings.
    pub fn start_with_env(env: &[(&str, &str)]) -> Broker {
        let data = tempfile::tempdir().expect("temp dir");
        let mut command = Command::new(broker_binary());
        command
            .arg("--data-dir")
            .arg(data.path())
            .args(["--listen", "127.0.0.1:0"])
            .args(["--metrics-listen", "127.0.0.1:0"])
            .envs(env.iter().copied());
        let mut broker = Broker::spawn(command);
        broker.data = Some(data);
        broker
    }

    /// Starts `command` (a `runnel-broker` invocation) and waits until it
    /// logs its address.
    pub fn spawn(mut command: Command) -> Broker {
        command
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start runnel-broker");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&log);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if !line.contains("metrics")
                    && line.contains("listening")
                    && let Some(addr) = line.split("addr=").nth(1)
                {
                    let _ = tx.send(addr.split_whitespace().next().unwrap_or("").to_owned());
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = rx
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|_| panic!("broker did not start:\n{}", log.lock().unwrap()));
        Broker {
            child,
            addr: addr.parse().expect("a socket address"),
            log,
            data: None,
        }
    }

    /// `host:port` for `--broker`.
    pub fn address(&self) -> String {
        self.addr.to_string()
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

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
