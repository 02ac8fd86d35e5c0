//! Rate limiting for log lines that a client can provoke at will (rejected
//! connections, failed requests), so a flood of bad requests cannot flood
//! the log: at most `burst` lines per kind per interval, then silence until
//! the interval ends; the first line after that carries how many were
//! suppressed. The metrics count every event regardless.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the caller should do with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Log it; `suppressed` similar lines were dropped since the last
    /// line of this kind (worth mentioning when non-zero).
    Log {
        /// Lines of this kind dropped before this one.
        suppressed: u64,
    },
    /// Drop it: this kind used up its lines for the interval.
    Suppress,
}

/// One kind's window.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// When the current interval began.
    started: Instant,
    /// Lines logged in the current interval.
    logged: u32,
    /// Lines dropped since the last logged one.
    suppressed: u64,
}

/// A per-kind log rate limiter. `K` is a small bounded key (an API and an
/// error code, a rejection reason), so the map stays small.
#[derive(Debug)]
pub struct LogLimiter<K> {
    /// Lines allowed per kind per interval.
    burst: u32,
    /// Length of an interval.
    interval: Duration,
    /// Windows by kind. Only events worth logging take this lock, never a
    /// request that succeeds.
    windows: Mutex<HashMap<K, Window>>,
}

impl<K: Eq + Hash> LogLimiter<K> {
    /// Allows `burst` lines per kind every `interval`.
    pub fn new(burst: u32, interval: Duration) -> Self {
        LogLimiter {
            burst: burst.max(1),
            interval,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Decides about one event of `kind` happening at `now`.
    pub fn check(&self, kind: K, now: Instant) -> Verdict {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let w = windows.entry(kind).or_insert(Window {
            started: now,
            logged: 0,
            suppressed: 0,
        });
        if now.saturating_duration_since(w.started) >= self.interval {
            w.started = now;
            w.logged = 0;
        }
        if w.logged < self.burst {
            w.logged += 1;
            Verdict::Log {
                suppressed: std::mem::take(&mut w.suppressed),
            }
        } else {
            w.suppressed += 1;
            Verdict::Suppress
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn allows_a_burst_per_interval_then_suppresses() {
        let limiter = LogLimiter::new(3, SECOND);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check("a", t0), Verdict::Log { suppressed: 0 });
        }
        assert_eq!(limiter.check("a", t0), Verdict::Suppress);
        assert_eq!(
            limiter.check("a", t0 + Duration::from_millis(999)),
            Verdict::Suppress
        );
    }

    #[test]
    fn the_first_line_after_the_interval_reports_what_was_suppressed() {
        let limiter = LogLimiter::new(1, SECOND);
        let t0 = Instant::now();
        assert_eq!(limiter.check(7, t0), Verdict::Log { suppressed: 0 });
        for _ in 0..5 {
            assert_eq!(limiter.check(7, t0), Verdict::Suppress);
        }
        assert_eq!(
            limiter.check(7, t0 + SECOND),
            Verdict::Log { suppressed: 5 }
        );
        assert_eq!(limiter.check(7, t0 + SECOND), Verdict::Suppress);
    }

    #[test]
    fn kinds_are_limited_separately() {
        let limiter = LogLimiter::new(1, SECOND);
        let t0 = Instant::now();
        assert_eq!(limiter.check("a", t0), Verdict::Log { suppressed: 0 });
        assert_eq!(limiter.check("a", t0), Verdict::Suppress);
        assert_eq!(limiter.check("b", t0), Verdict::Log { suppressed: 0 });
    }

    #[test]
    fn a_zero_burst_still_logs_one_line_per_interval() {
        let limiter = LogLimiter::new(0, SECOND);
        let t0 = Instant::now();
        assert_eq!(limiter.check((), t0), Verdict::Log { suppressed: 0 });
        assert_eq!(limiter.check((), t0), Verdict::Suppress);
    }
}
