//! The durability lag of one partition: bytes appended (and so
//! acknowledged to acks=1 producers) that no fsync has covered yet, and the
//! age of the oldest of them.
//!
//! Appends and flush captures both happen under the partition's writer
//! lock, so the append side is two relaxed atomics and no lock of its own.
//! The flush side (capture and completion, once per fsync, not per append)
//! keeps what the running flush covers under a small mutex.
//!
//! ```text
//!   appended ──────────────────────────────────────────────▶ (bytes, ever)
//!   durable  ───────────────▶ (covered by a finished flush)
//!            |   captured    |   pending    |
//!            | by the flush  | since the    |
//!            | running now   | last capture |
//!   oldest unflushed byte = captured_since, else pending_since
//! ```
//!
//! A partition runs one flush at a time, except for a moment while its topic
//! switches between continuous and `flush.ms` flushing; if two overlap and
//! the older finishes first, the age is overstated (never understated)
//! until the newer one finishes.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// What a running flush covers, captured with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushMark {
    /// `appended` when the flush was captured: durable once it succeeds.
    bytes: u64,
}

/// The oldest bytes handed to flushes that have not finished.
#[derive(Debug, Default)]
struct Captured {
    /// Append time of the oldest byte captured by a flush that has not
    /// finished; 0 when none.
    since_ms: i64,
    /// `appended` at the latest capture: a flush that reaches it leaves
    /// nothing captured behind.
    bytes: u64,
}

/// Tracks one partition's non-durable bytes. See the module docs.
#[derive(Debug, Default)]
pub struct DurabilityTracker {
    /// Bytes appended since the partition was opened.
    appended: AtomicU64,
    /// Bytes covered by finished flushes.
    durable: AtomicU64,
    /// Append time (ms since the epoch) of the oldest byte appended since the
    /// last capture; 0 when none.
    pending_since_ms: AtomicI64,
    /// The running flushes' share.
    captured: Mutex<Captured>,
}

/// The lag at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DurabilityLag {
    /// Bytes appended and not yet durable.
    pub unflushed_bytes: u64,
    /// Age of the oldest of them; 0 when there are none.
    pub seconds: f64,
}

impl DurabilityTracker {
    /// Records an append of `bytes` at `now_ms`. Call under the writer's
    /// lock, after the append succeeded.
    pub fn appended(&self, bytes: u64, now_ms: i64) {
        self.appended.fetch_add(bytes, Ordering::Relaxed);
        if self.pending_since_ms.load(Ordering::Relaxed) == 0 {
            self.pending_since_ms
                .store(now_ms.max(1), Ordering::Relaxed);
        }
    }

    /// Records that a flush covering everything appended so far was
    /// captured. Call under the writer's lock, with the capture.
    pub fn flush_captured(&self) -> FlushMark {
        let since = self.pending_since_ms.swap(0, Ordering::Relaxed);
        let bytes = self.appended.load(Ordering::Relaxed);
        let mut c = self.captured();
        if c.since_ms == 0 {
            c.since_ms = since;
        }
        c.bytes = bytes;
        FlushMark { bytes }
    }

    /// Records that the flush marked `mark` made its bytes durable.
    pub fn flush_succeeded(&self, mark: FlushMark) {
        self.durable.fetch_max(mark.bytes, Ordering::Relaxed);
        let mut c = self.captured();
        if mark.bytes >= c.bytes {
            c.since_ms = 0;
        }
    }

    /// Records that everything appended is durable (a clean close). Call
    /// under the writer's lock.
    pub fn all_durable(&self) {
        let bytes = self.appended.load(Ordering::Relaxed);
        self.pending_since_ms.store(0, Ordering::Relaxed);
        self.flush_succeeded(FlushMark { bytes });
    }

    /// The lag as of `now_ms`.
    pub fn lag(&self, now_ms: i64) -> DurabilityLag {
        let captured_since = self.captured().since_ms;
        let pending_since = self.pending_since_ms.load(Ordering::Relaxed);
        let unflushed_bytes = self
            .appended
            .load(Ordering::Relaxed)
            .saturating_sub(self.durable.load(Ordering::Relaxed));
        let oldest = if captured_since != 0 {
            captured_since
        } else {
            pending_since
        };
        let seconds = if unflushed_bytes == 0 || oldest == 0 {
            0.0
        } else {
            super::age_seconds(now_ms, oldest)
        };
        DurabilityLag {
            unflushed_bytes,
            seconds,
        }
    }

    fn captured(&self) -> std::sync::MutexGuard<'_, Captured> {
        self.captured
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lag(t: &DurabilityTracker, now: i64) -> (u64, f64) {
        let l = t.lag(now);
        (l.unflushed_bytes, l.seconds)
    }

    #[test]
    fn nothing_appended_means_no_lag() {
        let t = DurabilityTracker::default();
        assert_eq!(lag(&t, 5_000), (0, 0.0));
    }

    #[test]
    fn lag_is_the_age_of_the_oldest_unflushed_append() {
        let t = DurabilityTracker::default();
        t.appended(100, 1_000);
        t.appended(50, 1_500);
        assert_eq!(lag(&t, 3_000), (150, 2.0));
    }

    #[test]
    fn a_finished_flush_clears_what_it_captured() {
        let t = DurabilityTracker::default();
        t.appended(100, 1_000);
        let mark = t.flush_captured();
        assert_eq!(lag(&t, 1_250), (100, 0.25), "captured bytes still count");
        t.flush_succeeded(mark);
        assert_eq!(lag(&t, 1_300), (0, 0.0));
    }

    #[test]
    fn appends_during_a_flush_are_aged_from_their_own_time() {
        let t = DurabilityTracker::default();
        t.appended(100, 1_000);
        let mark = t.flush_captured();
        t.appended(10, 2_000);
        assert_eq!(
            lag(&t, 3_000),
            (110, 2.0),
            "the flush's bytes are the oldest"
        );
        t.flush_succeeded(mark);
        assert_eq!(lag(&t, 3_000), (10, 1.0));
        let next = t.flush_captured();
        t.flush_succeeded(next);
        assert_eq!(lag(&t, 3_000), (0, 0.0));
    }

    #[test]
    fn an_older_flush_finishing_late_leaves_the_newer_capture_pending() {
        let t = DurabilityTracker::default();
        t.appended(100, 1_000);
        let first = t.flush_captured();
        t.appended(10, 2_000);
        let second = t.flush_captured();
        t.flush_succeeded(first);
        assert_eq!(lag(&t, 3_000).0, 10);
        assert!(lag(&t, 3_000).1 > 0.0, "the second flush is still running");
        t.flush_succeeded(second);
        assert_eq!(lag(&t, 3_000), (0, 0.0));
    }

    #[test]
    fn a_failed_flush_leaves_the_lag_growing() {
        let t = DurabilityTracker::default();
        t.appended(100, 1_000);
        let _never_finished = t.flush_captured();
        assert_eq!(lag(&t, 61_000), (100, 60.0));
    }

    #[test]
    fn a_clean_close_makes_everything_durable() {
        let t = DurabilityTracker::default();
        t.appended(100, 1_000);
        let _running = t.flush_captured();
        t.appended(5, 1_100);
        t.all_durable();
        assert_eq!(lag(&t, 9_000), (0, 0.0));
    }
}
