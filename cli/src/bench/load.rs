//! The producing side of a benchmark: one task per producer, each with
//! its own [`Producer`], pipelining records through `enqueue` while a
//! second task per producer resolves the delivery futures in order and
//! times them.
//!
//! Every record's value is a `Bytes` clone of one payload built before
//! the run. At a fixed `--rate` each record has an intended send time,
//! `start + k / rate`; a late sender catches up without waiting, and
//! latency counts from the intended time, so a stall shows in the figures
//! (no coordinated omission).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use runnel_producer::{DeliveryFuture, Producer, ProducerRecord};
use tokio::sync::mpsc;

use crate::bench::stats::TaskStats;
use crate::error::CliError;

/// Header naming a measured record's intended send time (µs since the
/// Unix epoch, 8 bytes big-endian), for end-to-end latency.
pub const MEASURED_HEADER: &str = "bench.ts";

/// The same, on a warm-up record (not measured).
pub const WARMUP_HEADER: &str = "bench.warmup";

/// Delivery futures a producer may hand its resolver before it waits.
const RESOLVER_QUEUE: usize = 1 << 16;

/// What one producer task sends.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Topic.
    pub topic: Arc<str>,
    /// The value of every record.
    pub payload: Bytes,
    /// Measured records to send; `None` to send until `until`.
    pub count: Option<u64>,
    /// With no count: how long to send measured records (after warm-up).
    pub duration: Option<Duration>,
    /// Warm-up records sent first, not measured.
    pub warmup_messages: u64,
    /// Warm-up time at the start, not measured.
    pub warmup_time: Duration,
    /// Time between intended sends at a fixed rate; `None` for as fast as
    /// possible.
    pub interval: Option<Duration>,
    /// Whether to stamp records with [`MEASURED_HEADER`] or
    /// [`WARMUP_HEADER`] for the consumers (end-to-end runs).
    pub stamp: bool,
}

/// Runs one producer through `plan`, starting at `start`; `done` counts
/// acknowledged records (warm-up included) for the progress line.
pub async fn produce(
    producer: Producer,
    plan: Plan,
    start: Instant,
    done: Arc<AtomicU64>,
) -> Result<TaskStats, CliError> {
    let (tx, rx) = mpsc::channel(RESOLVER_QUEUE);
    let record_bytes = u64::try_from(plan.payload.len()).unwrap_or(u64::MAX);
    let resolver = tokio::spawn(resolve(rx, record_bytes, done));
    let sent = send(&producer, &plan, start, tx).await;
    producer.flush().await;
    let outcome = resolver.await;
    producer.close().await;
    let first_send = sent?;
    let mut stats = match outcome {
        Ok(result) => result?,
        Err(join) => return Err(CliError::Usage(format!("the delivery task failed: {join}"))),
    };
    if let Some(first) = first_send {
        stats.window.open(first);
    }
    Ok(stats)
}

/// A delivery on its way to the resolver.
struct Pending {
    /// The record's outcome.
    delivery: DeliveryFuture,
    /// When it was (meant to be) sent.
    sent: Instant,
    /// Whether it counts.
    measured: bool,
}

/// Sends the plan's records; returns the first measured send time.
async fn send(
    producer: &Producer,
    plan: &Plan,
    start: Instant,
    tx: mpsc::Sender<Pending>,
) -> Result<Option<Instant>, CliError> {
    let wall_start = SystemTime::now();
    let warmup_end = start + plan.warmup_time;
    let mut measured = 0u64;
    let mut first_measured: Option<Instant> = None;
    let mut measure_until: Option<Instant> = None;
    let mut k = 0u64;
    loop {
        let intended = match plan.interval {
            Some(interval) => {
                let at = mul(interval, k)
                    .and_then(|offset| start.checked_add(offset))
                    .unwrap_or_else(Instant::now);
                if at > Instant::now() {
                    tokio::time::sleep_until(at.into()).await;
                }
                at
            }
            None => Instant::now(),
        };
        let is_measured = k >= plan.warmup_messages && intended >= warmup_end;
        if is_measured {
            if first_measured.is_none() {
                first_measured = Some(intended);
                measure_until = plan.duration.map(|d| intended + d);
            }
            let done = match (plan.count, measure_until) {
                (Some(count), _) => measured >= count,
                (None, Some(until)) => intended >= until,
                (None, None) => true,
            };
            if done {
                break;
            }
            measured += 1;
        }
        let mut record = ProducerRecord {
            topic: Arc::clone(&plan.topic),
            partition: None,
            key: None,
            value: Some(plan.payload.clone()),
            headers: Vec::new(),
            timestamp: None,
        };
        if plan.stamp {
            let wall = wall_start + intended.saturating_duration_since(start);
            let since = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
            let micros = u64::try_from(since.as_micros()).unwrap_or(u64::MAX);
            let name = if is_measured {
                MEASURED_HEADER
            } else {
                WARMUP_HEADER
            };
            record.timestamp = i64::try_from(since.as_millis()).ok();
            record.headers = vec![(
                name.to_owned(),
                Some(Bytes::copy_from_slice(&micros.to_be_bytes())),
            )];
        }
        let delivery = producer.enqueue(record).await?;
        let pending = Pending {
            delivery,
            sent: intended,
            measured: is_measured,
        };
        if tx.send(pending).await.is_err() {
            // The resolver stopped at a failed delivery; it reports why.
            break;
        }
        k += 1;
    }
    Ok(first_measured)
}

/// `interval × k`, or `None` on overflow.
fn mul(interval: Duration, k: u64) -> Option<Duration> {
    let nanos = interval.as_nanos().checked_mul(u128::from(k))?;
    let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
    let sub = u32::try_from(nanos % 1_000_000_000).ok()?;
    Some(Duration::new(secs, sub))
}

/// Awaits each delivery in send order, timing the measured ones from
/// their (intended) send time to the moment the outcome is seen.
async fn resolve(
    mut rx: mpsc::Receiver<Pending>,
    record_bytes: u64,
    done: Arc<AtomicU64>,
) -> Result<TaskStats, CliError> {
    let mut stats = TaskStats::default();
    while let Some(pending) = rx.recv().await {
        pending.delivery.await?;
        let now = Instant::now();
        if pending.measured {
            stats
                .latencies
                .record(now.saturating_duration_since(pending.sent));
            stats.messages += 1;
            stats.bytes += record_bytes;
            stats.window.close(now);
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(stats)
}

/// Splits `total` into `parts` shares differing by at most one.
pub fn split(total: u64, parts: u32) -> Vec<u64> {
    let parts64 = u64::from(parts.max(1));
    let (share, rest) = (total / parts64, total % parts64);
    (0..parts64).map(|i| share + u64::from(i < rest)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_and_differ_by_at_most_one() {
        assert_eq!(split(10, 3), vec![4, 3, 3]);
        assert_eq!(split(2, 4), vec![1, 1, 0, 0]);
        assert_eq!(split(7, 0), vec![7]);
        assert_eq!(split(9, 3).iter().sum::<u64>(), 9);
    }

    #[test]
    fn intended_times_do_not_overflow() {
        assert_eq!(
            mul(Duration::from_micros(10), 3),
            Some(Duration::from_micros(30))
        );
        assert_eq!(
            mul(Duration::from_millis(700), 3),
            Some(Duration::from_millis(2100))
        );
        assert_eq!(mul(Duration::MAX, 2), None);
    }
}
