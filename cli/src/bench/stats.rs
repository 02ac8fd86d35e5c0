//! What a benchmark measured and how it is printed: [`Latencies`] (an HDR
//! histogram in microseconds), [`Window`] (the measured interval),
//! [`Summary`] (the figures), and [`Progress`] (the TTY progress line).

use std::io::{IsTerminal as _, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;

use crate::args::Output;
use crate::error::CliError;
use crate::topic::print_json;

/// Highest latency the histogram tells apart: an hour, in µs. Larger
/// values are recorded as this.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Significant decimal digits the histogram keeps (0.1 % resolution).
const SIGNIFICANT_DIGITS: u8 = 3;

/// Latencies in microseconds.
#[derive(Debug, Clone)]
pub struct Latencies {
    /// The recorded values.
    histogram: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies::new()
    }
}

impl Latencies {
    /// An empty record.
    pub fn new() -> Self {
        // Constant, valid bounds (1 ≤ low, high ≥ 2 × low, digits ≤ 5):
        // the constructor cannot fail, so fall back to an auto-resizing
        // histogram rather than panic.
        let histogram = Histogram::new_with_bounds(1, MAX_LATENCY_US, SIGNIFICANT_DIGITS)
            .or_else(|_| Histogram::new(SIGNIFICANT_DIGITS))
            .unwrap_or_else(|_| unreachable_histogram());
        Latencies { histogram }
    }

    /// Records one latency (clamped to the histogram's range).
    pub fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.histogram
            .saturating_record(us.clamp(1, MAX_LATENCY_US));
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Latencies) {
        // Both have the same bounds, so adding cannot fail; a failure
        // would only drop the other's values.
        let _ = self.histogram.add(&other.histogram);
    }

    /// How many values were recorded.
    pub fn len(&self) -> u64 {
        self.histogram.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.histogram.is_empty()
    }

    /// The value at `quantile` (0 to 1) in milliseconds.
    pub fn quantile_ms(&self, quantile: f64) -> f64 {
        us_to_ms(self.histogram.value_at_quantile(quantile))
    }

    /// The largest value in milliseconds.
    pub fn max_ms(&self) -> f64 {
        us_to_ms(self.histogram.max())
    }
}

/// A histogram with the library's default 3-digit precision; only reached
/// if both constructors above refuse valid constant arguments.
fn unreachable_histogram() -> Histogram<u64> {
    Histogram::new_with_max(MAX_LATENCY_US, 1).unwrap_or_else(|_| {
        // hdrhistogram accepts these arguments; there is nothing sane left.
        std::process::abort()
    })
}

#[allow(clippy::cast_precision_loss)] // latencies are far below 2^52 µs
fn us_to_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// The interval the figures cover: from the first measured send (or
/// receive) to the last measured acknowledgement (or receive).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    /// When it began; `None` when nothing was measured.
    pub start: Option<Instant>,
    /// When it ended.
    pub end: Option<Instant>,
}

impl Window {
    /// Widens the window to include `at` as a start.
    pub fn open(&mut self, at: Instant) {
        self.start = Some(self.start.map_or(at, |s| s.min(at)));
    }

    /// Widens the window to include `at` as an end.
    pub fn close(&mut self, at: Instant) {
        self.end = Some(self.end.map_or(at, |e| e.max(at)));
    }

    /// Both windows' span.
    pub fn merge(&mut self, other: Window) {
        if let Some(start) = other.start {
            self.open(start);
        }
        if let Some(end) = other.end {
            self.close(end);
        }
    }

    /// Its length (zero when empty).
    pub fn length(&self) -> Duration {
        match (self.start, self.end) {
            (Some(start), Some(end)) => end.saturating_duration_since(start),
            _ => Duration::ZERO,
        }
    }
}

/// What one task measured.
#[derive(Debug, Clone, Default)]
pub struct TaskStats {
    /// Measured messages.
    pub messages: u64,
    /// Their payload bytes (keys and values).
    pub bytes: u64,
    /// Their latencies.
    pub latencies: Latencies,
    /// When the measured messages went and arrived.
    pub window: Window,
}

impl TaskStats {
    /// Adds `other` to this.
    pub fn merge(&mut self, other: &TaskStats) {
        self.messages += other.messages;
        self.bytes += other.bytes;
        self.latencies.merge(&other.latencies);
        self.window.merge(other.window);
    }
}

/// The figures of one benchmark run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// `produce`, `consume` or `e2e`.
    pub mode: &'static str,
    /// Which latency the histogram holds, for the table.
    pub latency_kind: &'static str,
    /// The measured totals.
    pub stats: TaskStats,
    /// The run's settings, printed with the figures.
    pub settings: serde_json::Value,
}

impl Summary {
    /// Length of the measured window in seconds.
    pub fn seconds(&self) -> f64 {
        self.stats.window.length().as_secs_f64()
    }

    /// Messages per second over the window (0 for an empty window).
    #[allow(clippy::cast_precision_loss)] // counts are far below 2^52
    pub fn msgs_per_sec(&self) -> f64 {
        rate(self.stats.messages as f64, self.seconds())
    }

    /// Megabytes (10^6 bytes) per second over the window.
    #[allow(clippy::cast_precision_loss)]
    pub fn mb_per_sec(&self) -> f64 {
        rate(self.stats.bytes as f64 / 1e6, self.seconds())
    }

    /// The JSON form: `messages`, `bytes`, `seconds`, `msgs_per_sec`,
    /// `mb_per_sec`, `latency_ms` {`p50`, `p90`, `p99`, `p999`, `max`},
    /// plus `mode`, `latency` (what was timed), `latency_samples` and
    /// `settings`.
    pub fn to_json(&self) -> serde_json::Value {
        let l = &self.stats.latencies;
        json!({
            "mode": self.mode,
            "messages": self.stats.messages,
            "bytes": self.stats.bytes,
            "seconds": self.seconds(),
            "msgs_per_sec": self.msgs_per_sec(),
            "mb_per_sec": self.mb_per_sec(),
            "latency": self.latency_kind,
            "latency_samples": l.len(),
            "latency_ms": {
                "p50": l.quantile_ms(0.50),
                "p90": l.quantile_ms(0.90),
                "p99": l.quantile_ms(0.99),
                "p999": l.quantile_ms(0.999),
                "max": l.max_ms(),
            },
            "settings": self.settings,
        })
    }

    /// Prints the summary as `output` asks.
    pub fn print(&self, output: Output, out: &mut dyn Write) -> Result<(), CliError> {
        match output {
            Output::Json => print_json(out, &self.to_json()),
            Output::Text => self.print_table(out).map_err(CliError::Write),
        }
    }

    fn print_table(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let l = &self.stats.latencies;
        writeln!(out, "bench {}  {}", self.mode, self.settings)?;
        writeln!(out, "  messages      {:>14}", self.stats.messages)?;
        writeln!(out, "  bytes         {:>14}", self.stats.bytes)?;
        writeln!(out, "  seconds       {:>14.3}", self.seconds())?;
        writeln!(out, "  msgs/s        {:>14.0}", self.msgs_per_sec())?;
        writeln!(out, "  MB/s          {:>14.1}", self.mb_per_sec())?;
        if l.is_empty() {
            return Ok(());
        }
        writeln!(
            out,
            "  latency ({}, ms, {} samples)",
            self.latency_kind,
            l.len()
        )?;
        for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999)] {
            writeln!(out, "    {name:<6}      {:>14.3}", l.quantile_ms(q))?;
        }
        writeln!(out, "    max         {:>14.3}", l.max_ms())
    }
}

/// `amount / seconds`, or 0 when no time passed.
fn rate(amount: f64, seconds: f64) -> f64 {
    if seconds > 0.0 { amount / seconds } else { 0.0 }
}

/// A progress line on standard error, drawn once a second while a run
/// goes on, only when standard error is a terminal.
#[derive(Debug)]
pub struct Progress {
    /// The drawing task; `None` when standard error is not a terminal.
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Starts drawing: `done` counts finished messages out of `total`
    /// (`None` when the run is bounded by time, `until`).
    pub fn start(done: Arc<AtomicU64>, total: Option<u64>, until: Option<Instant>) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress { task: None };
        }
        let started = Instant::now();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                let line = progress_line(
                    done.load(Ordering::Relaxed),
                    total,
                    started.elapsed(),
                    until.map(|u| u.saturating_duration_since(Instant::now())),
                );
                eprint!("\r{line}\x1b[K");
            }
        });
        Progress { task: Some(task) }
    }

    /// Stops drawing and clears the line.
    pub fn finish(self) {
        if let Some(task) = self.task {
            task.abort();
            eprint!("\r\x1b[K");
        }
    }
}

/// `N msgs, R msgs/s, elapsed E s, ETA T s`.
#[allow(clippy::cast_precision_loss)]
fn progress_line(
    done: u64,
    total: Option<u64>,
    elapsed: Duration,
    left: Option<Duration>,
) -> String {
    let rate = rate(done as f64, elapsed.as_secs_f64());
    let eta = match (total, left) {
        (_, Some(left)) => format!("{:.0} s", left.as_secs_f64()),
        (Some(total), None) if rate > 0.0 => {
            format!("{:.0} s", total.saturating_sub(done) as f64 / rate)
        }
        _ => "?".to_owned(),
    };
    format!(
        "{done} msgs, {rate:.0} msgs/s, elapsed {:.0} s, ETA {eta}",
        elapsed.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_back_in_milliseconds() {
        let mut l = Latencies::new();
        for us in 1..=1000u64 {
            l.record(Duration::from_micros(us));
        }
        assert_eq!(l.len(), 1000);
        assert!((l.quantile_ms(0.5) - 0.5).abs() < 0.001);
        assert!((l.max_ms() - 1.0).abs() < 0.001);
    }

    #[test]
    fn huge_latencies_are_clamped_not_dropped() {
        let mut l = Latencies::new();
        l.record(Duration::from_secs(100_000));
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn windows_merge_to_their_span() {
        let t = Instant::now();
        let mut a = Window::default();
        a.open(t + Duration::from_secs(1));
        a.close(t + Duration::from_secs(2));
        let mut b = Window::default();
        b.open(t);
        b.close(t + Duration::from_secs(3));
        a.merge(b);
        assert_eq!(a.length(), Duration::from_secs(3));
        assert_eq!(Window::default().length(), Duration::ZERO);
    }

    #[test]
    fn json_has_the_documented_fields() {
        let mut stats = TaskStats {
            messages: 10,
            bytes: 10_000_000,
            ..TaskStats::default()
        };
        let t = Instant::now();
        stats.window.open(t);
        stats.window.close(t + Duration::from_secs(2));
        stats.latencies.record(Duration::from_millis(3));
        let summary = Summary {
            mode: "produce",
            latency_kind: "send-to-ack",
            stats,
            settings: json!({}),
        };
        let v = summary.to_json();
        assert_eq!(v["messages"], 10);
        assert!((v["mb_per_sec"].as_f64().unwrap() - 5.0).abs() < 1e-9);
        assert!((v["msgs_per_sec"].as_f64().unwrap() - 5.0).abs() < 1e-9);
        for key in ["p50", "p90", "p99", "p999", "max"] {
            assert!(v["latency_ms"][key].as_f64().unwrap() > 2.9, "{key}");
        }
    }

    #[test]
    fn the_progress_line_estimates_time_left() {
        let line = progress_line(50, Some(100), Duration::from_secs(5), None);
        assert_eq!(line, "50 msgs, 10 msgs/s, elapsed 5 s, ETA 5 s");
        let line = progress_line(0, None, Duration::from_secs(1), None);
        assert!(line.ends_with("ETA ?"));
    }
}
