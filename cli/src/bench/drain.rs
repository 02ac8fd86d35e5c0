//! The consuming side of a benchmark: one task per [`Consumer`], each
//! looking at every record it is given (key and value lengths, and the
//! send-time header in an end-to-end run) without copying it.
//!
//! The consumers share a count of records taken and stop together at a
//! target; each record is claimed before it counts, so the total is
//! exact however the polls interleave.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use runnel_consumer::{Consumer, ConsumerRecord, SeekTo};

use crate::bench::load::{MEASURED_HEADER, WARMUP_HEADER};
use crate::bench::stats::TaskStats;
use crate::error::CliError;

/// Longest a consumer waits in one poll before checking whether to stop.
const POLL: Duration = Duration::from_millis(100);

/// With no new record for this long, the run fails instead of hanging.
pub const STALL: Duration = Duration::from_secs(30);

/// What the consumers of one run share.
#[derive(Debug, Clone)]
pub struct Drain {
    /// Stop once `taken` reaches this (`u64::MAX` until known).
    pub target: Arc<AtomicU64>,
    /// Records counted so far by all consumers, warm-up included.
    pub taken: Arc<AtomicU64>,
    /// The first records taken, not measured (consume runs).
    pub warmup_messages: u64,
    /// Records taken before this are not measured (consume runs).
    pub warmup_until: Instant,
    /// Stop at this time (`--duration` consume runs).
    pub until: Option<Instant>,
    /// End-to-end: count only records stamped by this run's producers
    /// (sent at or after `since_us`), measured when stamped as such.
    pub stamped_since_us: Option<u64>,
    /// Group consume runs: set once every member holds its share of the
    /// partitions. Until then the members join at the end of the topic
    /// (reading nothing); then each seeks its partitions to the earliest
    /// offset, so the figures leave out the group forming.
    pub settled: Option<Arc<AtomicBool>>,
}

/// Reads until the shared target is reached (or `until`), and returns
/// what this consumer measured.
pub async fn drain(mut consumer: Consumer, plan: Drain) -> Result<TaskStats, CliError> {
    let result = drain_with(&mut consumer, &plan).await;
    consumer.close().await;
    result
}

async fn drain_with(consumer: &mut Consumer, plan: &Drain) -> Result<TaskStats, CliError> {
    if let Some(settled) = &plan.settled {
        let waited = Instant::now();
        while !settled.load(Ordering::Acquire) {
            // Polling is how a member joins; the records, if any, are
            // before the measured run.
            consumer.poll(Duration::from_millis(10)).await?;
            if waited.elapsed() > STALL {
                return Err(CliError::Failed(format!(
                    "the group did not settle within {} s",
                    STALL.as_secs()
                )));
            }
        }
        consumer.seek_all(SeekTo::Earliest).await?;
    }
    let mut stats = TaskStats::default();
    let mut last_progress = Instant::now();
    loop {
        let target = plan.target.load(Ordering::Acquire);
        if plan.taken.load(Ordering::Acquire) >= target {
            return Ok(stats);
        }
        if plan.until.is_some_and(|until| Instant::now() >= until) {
            return Ok(stats);
        }
        let records = consumer.poll(POLL).await?;
        let now = Instant::now();
        if records.is_empty() {
            if now.saturating_duration_since(last_progress) > STALL {
                return Err(CliError::Failed(format!(
                    "no records for {} s with {} of {target} taken",
                    STALL.as_secs(),
                    plan.taken.load(Ordering::Acquire)
                )));
            }
            continue;
        }
        last_progress = now;
        match plan.stamped_since_us {
            Some(since) => take_stamped(&records, since, plan, &mut stats),
            None => take_all(&records, now, plan, &mut stats),
        }
    }
}

/// Claims up to `wanted` records of the shared target; returns the index
/// (in the run's order) of the first and how many were granted.
fn claim(plan: &Drain, wanted: u64) -> (u64, u64) {
    let mut granted = 0;
    let previous = plan
        .taken
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| {
            let left = plan.target.load(Ordering::Acquire).saturating_sub(taken);
            granted = wanted.min(left);
            (granted > 0).then_some(taken + granted)
        })
        .unwrap_or(0);
    (previous, granted)
}

/// Consume runs: every record counts; the warm-up ones are not measured.
fn take_all(records: &[ConsumerRecord], now: Instant, plan: &Drain, stats: &mut TaskStats) {
    let wanted = u64::try_from(records.len()).unwrap_or(u64::MAX);
    let (first, granted) = claim(plan, wanted);
    let warm = now < plan.warmup_until;
    let mut measured_any = false;
    for (index, record) in (first..).zip(records.iter().take(usize::try_from(granted).unwrap_or(0)))
    {
        let size = record_size(record);
        if !warm && index >= plan.warmup_messages {
            stats.messages += 1;
            stats.bytes += size;
            measured_any = true;
        }
    }
    if measured_any {
        // The window opens at the first measured poll's return: its
        // records were fetched before, so it is slightly conservative.
        stats.window.open(now);
        stats.window.close(now);
    }
}

/// End-to-end runs: count this run's stamped records; time the measured
/// ones from their intended send time to now.
fn take_stamped(records: &[ConsumerRecord], since_us: u64, plan: &Drain, stats: &mut TaskStats) {
    let now_us = wall_micros();
    let now = Instant::now();
    for record in records {
        let size = record_size(record);
        let Some((measured, sent_us)) = stamp(record) else {
            continue;
        };
        if sent_us < since_us || claim(plan, 1).1 == 0 {
            continue;
        }
        if measured {
            stats.messages += 1;
            stats.bytes += size;
            stats
                .latencies
                .record(Duration::from_micros(now_us.saturating_sub(sent_us)));
            stats.window.close(now);
        }
    }
}

/// Key plus value length: the record is looked at, not copied.
fn record_size(record: &ConsumerRecord) -> u64 {
    let key = record.key.as_ref().map_or(0, bytes::Bytes::len);
    let value = record.value.as_ref().map_or(0, bytes::Bytes::len);
    u64::try_from(key + value).unwrap_or(u64::MAX)
}

/// The bench header of a record: whether measured, and its send time in
/// µs since the epoch. `None` for a record without one (or a malformed
/// one: records from elsewhere are skipped, never trusted).
fn stamp(record: &ConsumerRecord) -> Option<(bool, u64)> {
    record.headers.iter().find_map(|header| {
        let measured = match header.key {
            MEASURED_HEADER => true,
            WARMUP_HEADER => false,
            _ => return None,
        };
        let value = header.value?;
        let bytes: [u8; 8] = value.as_ref().try_into().ok()?;
        Some((measured, u64::from_be_bytes(bytes)))
    })
}

/// Now, in µs since the Unix epoch.
pub fn wall_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(target: u64) -> Drain {
        Drain {
            target: Arc::new(AtomicU64::new(target)),
            taken: Arc::new(AtomicU64::new(0)),
            warmup_messages: 0,
            warmup_until: Instant::now(),
            until: None,
            stamped_since_us: None,
            settled: None,
        }
    }

    #[test]
    fn claims_never_pass_the_target() {
        let p = plan(10);
        assert_eq!(claim(&p, 4), (0, 4));
        assert_eq!(claim(&p, 4), (4, 4));
        assert_eq!(claim(&p, 4), (8, 2));
        assert_eq!(claim(&p, 4).1, 0);
        assert_eq!(p.taken.load(Ordering::Relaxed), 10);
    }

    #[test]
    fn an_unknown_target_grants_everything() {
        let p = plan(u64::MAX);
        assert_eq!(claim(&p, 1000), (0, 1000));
    }
}
