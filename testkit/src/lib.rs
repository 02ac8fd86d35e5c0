//! Test support shared by every crate's black-box tests: runs the real
//! `runnel-broker` binary on a loopback port with a temporary data
//! directory, and stops, kills and restarts it.
//!
//! # Finding the broker binary
//! The broker's own tests pass `CARGO_BIN_EXE_runnel-broker` in
//! [`BrokerOptions::binary`]. Other packages get no such variable, so
//! [`broker_binary`] looks, in order, at:
//! 1. `RUNNEL_BROKER_BIN`, if set (to test a given build);
//! 2. `cargo build -p runnel-broker --message-format=json`, run once per
//!    test process, and the executable path cargo reports. When the binary
//!    is current (as in CI, where the workspace was just built) this takes
//!    a fraction of a second, and a stale binary is never run;
//! 3. if that build fails (sources mid-edit), the binary last built in
//!    this profile, with a warning on stderr.
//!
//! # Finding the ports
//! The broker listens on port 0 unless told otherwise and logs the
//! addresses it bound (`metrics listening addr=...`, `listening addr=...`);
//! the harness reads its log until the native one appears.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

/// How to start a broker.
#[derive(Debug, Clone, Default)]
pub struct BrokerOptions {
    /// Native listen address; a free port when `None`.
    pub listen: Option<SocketAddr>,
    /// Extra command-line flags.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// The broker binary; [`broker_binary`] when `None`.
    pub binary: Option<PathBuf>,
}

/// A running `runnel-broker` process, killed when dropped.
#[derive(Debug)]
pub struct BrokerProcess {
    /// The process.
    child: Child,
    /// The native protocol address it bound.
    pub addr: SocketAddr,
    /// The metrics address it bound, if it logged one.
    pub metrics_addr: Option<SocketAddr>,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// How it was started (restarts reuse it, with the same port).
    options: BrokerOptions,
    /// Everything it logged.
    log: Arc<Mutex<String>>,
    /// Owns the temporary data directory, if this broker made it.
    tmp: Option<Arc<tempfile::TempDir>>,
}

/// The broker binary; see the crate docs.
pub fn broker_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(find_broker).clone()
}

fn find_broker() -> PathBuf {
    if let Some(p) = std::env::var_os("RUNNEL_BROKER_BIN") {
        return PathBuf::from(p);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", "runnel-broker", "--bin", "runnel-broker"])
        .args([
            "--message-format=json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(&manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let built = cmd.output().ok().filter(|o| o.status.success());
    if let Some(path) = built.and_then(|o| executable_from(&o.stdout)) {
        return path;
    }
    // target/<profile>/deps/<test> → target/<profile>/runnel-broker
    let exe = std::env::current_exe().expect("current exe");
    let fallback = exe
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "deps"))
        .and_then(Path::parent)
        .unwrap_or(Path::new("."))
        .join("runnel-broker");
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

impl BrokerProcess {
    /// A broker on a fresh temporary data directory and a free port.
    pub fn start() -> BrokerProcess {
        BrokerProcess::start_with(BrokerOptions::default())
    }

    /// A broker on a fresh temporary data directory.
    pub fn start_with(options: BrokerOptions) -> BrokerProcess {
        let tmp = Arc::new(tempfile::tempdir().expect("temp dir"));
        let mut b = BrokerProcess::start_in(tmp.path(), options);
        b.tmp = Some(tmp);
        b
    }

    /// A broker on `data_dir`.
    pub fn start_in(data_dir: &Path, options: BrokerOptions) -> BrokerProcess {
        let listen = options
            .listen
            .map_or_else(|| "127.0.0.1:0".to_owned(), |a| a.to_string());
        let binary = options.binary.clone().unwrap_or_else(broker_binary);
        let mut cmd = Command::new(binary);
        cmd.arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", &listen, "--metrics-listen", "127.0.0.1:0"])
            .args(&options.args);
        // The broker rejects RUNNEL_* variables it does not know; the test
        // process may carry some of its own (RUNNEL_BROKER_BIN, ...).
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("RUNNEL_") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in &options.env {
            cmd.env(k, v);
        }
        BrokerProcess::spawn(cmd, data_dir, options)
    }

    /// Runs `cmd`, a prepared `runnel-broker` invocation whose data
    /// directory is `data_dir`, and waits until it logs its address.
    /// `options` is kept for [`BrokerProcess::restart`].
    pub fn spawn(mut cmd: Command, data_dir: &Path, options: BrokerOptions) -> BrokerProcess {
        cmd.env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn runnel-broker");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<(bool, String)>();
        let stderr = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("listening")
                    && let Some(addr) = field(&line, "addr=")
                {
                    let _ = tx.send((line.contains("metrics listening"), addr));
                }
                let mut l = sink
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                l.push_str(&line);
                l.push('\n');
            }
        });
        let deadline = Instant::now() + Duration::from_mins(1);
        let mut addr = None;
        let mut metrics_addr = None;
        while addr.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok((is_metrics, a)) = rx.recv_timeout(left) else {
                let _ = child.kill();
                panic!(
                    "broker did not start: {}",
                    log.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                );
            };
            let parsed: Option<SocketAddr> = a.parse().ok();
            if is_metrics {
                metrics_addr = parsed;
            } else {
                addr = parsed;
            }
        }
        BrokerProcess {
            child,
            addr: addr.expect("address"),
            metrics_addr,
            data_dir: data_dir.to_path_buf(),
            options,
            log,
            tmp: None,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `HOST:PORT` of the native listener.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// SIGTERM, then waits; the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().ok().and_then(|s| s.code())
    }

    /// SIGKILL, then waits.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops (SIGTERM when `graceful`, else SIGKILL) and starts again on the
    /// same data directory and port.
    #[must_use]
    pub fn restart(mut self, graceful: bool) -> BrokerProcess {
        if graceful {
            let code = self.stop();
            assert_eq!(code, Some(0), "unclean stop: {}", self.logs());
        } else {
            self.kill();
        }
        let mut options = self.options.clone();
        options.listen = Some(self.addr);
        let mut b = BrokerProcess::start_in(&self.data_dir, options);
        b.tmp = self.tmp.take();
        b
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Everything logged so far.
    pub fn logs(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Waits (polling the captured log, up to 10 s) until `needle` appears.
    pub fn wait_for_log(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.logs().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "broker never logged {needle:?}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The whitespace-delimited value after `key` on a log line.
fn field(line: &str, key: &str) -> Option<String> {
    let rest = line.split(key).nth(1)?;
    Some(rest.split_whitespace().next()?.trim_matches('"').to_owned())
}
