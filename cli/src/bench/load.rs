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

use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use runnel_producer::{DeliveryFuture, Producer, ProducerRecord};
use tokio::runtime::Handle;
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

/// Delivery futures handed to the resolver at once: one channel message
/// (and resolver wake-up) per record was a tenth of the generator's time
/// at 100-byte records. A record's acknowledgement is then seen at most
/// one chunk of sends late (tens of microseconds), against the
/// milliseconds of queueing that latency measures at full load. At a
/// fixed rate the chunk also goes whenever the sender is about to sleep,
/// so nothing sent waits in it.
const CHUNK: usize = 64;

/// Shortest sleep of a fixed-rate sender. Each sleep costs ~15 µs of CPU
/// on a virtual machine (programming the timer exits to the hypervisor)
/// and wakes ~50 µs late anyway; sleeping for every record's own time was
/// a third of the generator's CPU at 200k records/s. Records due during a
/// sleep go together when it ends, each timed from its own intended send
/// time, so the lateness is counted, never hidden.
const MIN_SLEEP: Duration = Duration::from_micros(100);

/// Uses of one clock reading while nothing waits: reading the clock for
/// every record cost a sixth of the generator's time at 100-byte records.
const CLOCK_EVERY: u32 = 16;

/// The time, read from the OS once every [`CLOCK_EVERY`] uses, and at once
/// after the caller waited (so a stall is never hidden). Between readings
/// a use returns the last one, which is early by at most the time to
/// handle `CLOCK_EVERY` records that needed no wait (microseconds, against
/// latencies of tenths of milliseconds and more).
struct CoarseClock {
    now: Instant,
    uses: u32,
}

impl CoarseClock {
    fn new() -> CoarseClock {
        CoarseClock {
            now: Instant::now(),
            uses: 0,
        }
    }

    fn now(&mut self, waited: bool) -> Instant {
        if waited || self.uses >= CLOCK_EVERY {
            self.now = Instant::now();
            self.uses = 0;
        }
        self.uses += 1;
        self.now
    }
}

/// Awaits `future`, telling whether it had to wait (was not ready at once).
async fn await_noting_wait<F: std::future::Future>(future: F) -> (F::Output, bool) {
    let mut future = std::pin::pin!(future);
    match futures_util::poll!(future.as_mut()) {
        std::task::Poll::Ready(out) => (out, false),
        std::task::Poll::Pending => (future.await, true),
    }
}

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
    let (tx, rx) = mpsc::channel(RESOLVER_QUEUE / CHUNK);
    let record_bytes = u64::try_from(plan.payload.len()).unwrap_or(u64::MAX);
    let resolver = tokio::spawn(resolve(rx, record_bytes, done));
    let sent = if plan.interval.is_some() {
        // At a fixed rate the sends are paced by a thread of their own:
        // tokio's timer wakes at millisecond ticks, which would release
        // records in bursts up to ~1.5 ms after their intended time and
        // count that against the broker.
        let (producer, plan, runtime) = (producer.clone(), plan.clone(), Handle::current());
        tokio::task::spawn_blocking(move || {
            // Wake from a sleep within microseconds rather than the
            // default 50 µs of slack (best effort).
            let _ = rustix::thread::set_current_timer_slack(NonZeroU64::new(1_000));
            runtime.block_on(send(&producer, &plan, start, tx))
        })
        .await
        .map_err(|join| CliError::Failed(format!("the sending thread failed: {join}")))?
    } else {
        send(&producer, &plan, start, tx).await
    };
    producer.flush().await;
    let outcome = resolver.await;
    producer.close().await;
    let first_send = sent?;
    let mut stats = match outcome {
        Ok(result) => result?,
        Err(join) => {
            return Err(CliError::Failed(format!(
                "the delivery task failed: {join}"
            )));
        }
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
    tx: mpsc::Sender<Vec<Pending>>,
) -> Result<Option<Instant>, CliError> {
    let mut chunk = Vec::with_capacity(CHUNK);
    // The wall-clock time of `start` (not of this call, which may come
    // later): stamps must not run ahead of the records' real send times.
    let wall_start = SystemTime::now()
        .checked_sub(start.elapsed())
        .unwrap_or_else(SystemTime::now);
    let warmup_end = start + plan.warmup_time;
    let mut measured = 0u64;
    let mut first_measured: Option<Instant> = None;
    let mut measure_until: Option<Instant> = None;
    let mut k = 0u64;
    let mut clock = CoarseClock::new();
    let mut waited = true;
    loop {
        let intended = match plan.interval {
            Some(interval) => {
                let at = mul(interval, k)
                    .and_then(|offset| start.checked_add(offset))
                    .unwrap_or_else(Instant::now);
                let now = Instant::now();
                if at > now {
                    // What was sent goes to the resolver first, so its
                    // acknowledgements are timed as they arrive.
                    if !chunk.is_empty() && tx.send(std::mem::take(&mut chunk)).await.is_err() {
                        break;
                    }
                    // Only fixed-rate runs wait, and they run on a thread
                    // of their own (see `produce`).
                    std::thread::sleep((at - now).max(MIN_SLEEP));
                }
                at
            }
            None => clock.now(waited),
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
        let record = record_for(plan, is_measured, start, wall_start, intended);
        let mut enqueue = std::pin::pin!(producer.enqueue(record));
        let (delivery, enqueue_waited) = match futures_util::poll!(enqueue.as_mut()) {
            std::task::Poll::Ready(delivery) => (delivery, false),
            std::task::Poll::Pending => {
                // Waiting for buffer memory: hand over what was sent first,
                // so its acknowledgements are timed as they arrive.
                if !chunk.is_empty() && tx.send(std::mem::take(&mut chunk)).await.is_err() {
                    break;
                }
                (enqueue.await, true)
            }
        };
        chunk.push(Pending {
            delivery: delivery?,
            sent: intended,
            measured: is_measured,
        });
        let mut send_waited = false;
        if chunk.len() >= CHUNK {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
            let (sent, waited_to_send) = await_noting_wait(tx.send(full)).await;
            if sent.is_err() {
                // The resolver stopped at a failed delivery; it reports why.
                break;
            }
            send_waited = waited_to_send;
        }
        waited = enqueue_waited || send_waited;
        k += 1;
    }
    if !chunk.is_empty() {
        // An error here means the resolver stopped, and it reports why.
        let _ = tx.send(chunk).await;
    }
    Ok(first_measured)
}

/// The record sent at `intended`: the plan's payload, stamped with its
/// intended send time (wall clock, from the run's `start` at `wall_start`)
/// for the consumers of an end-to-end run.
fn record_for(
    plan: &Plan,
    is_measured: bool,
    start: Instant,
    wall_start: SystemTime,
    intended: Instant,
) -> ProducerRecord {
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
    record
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
    mut rx: mpsc::Receiver<Vec<Pending>>,
    record_bytes: u64,
    done: Arc<AtomicU64>,
) -> Result<TaskStats, CliError> {
    let mut stats = TaskStats::default();
    let mut clock = CoarseClock::new();
    loop {
        let (next, mut waited) = await_noting_wait(rx.recv()).await;
        let Some(chunk) = next else { break };
        for pending in chunk {
            let (outcome, delivery_waited) = await_noting_wait(pending.delivery).await;
            outcome?;
            let now = clock.now(waited || delivery_waited);
            waited = false;
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
    fn the_coarse_clock_rereads_every_few_uses_and_after_a_wait() {
        let mut clock = CoarseClock::new();
        let first = clock.now(false);
        for _ in 1..CLOCK_EVERY {
            assert_eq!(clock.now(false), first);
        }
        assert_eq!(clock.uses, CLOCK_EVERY);
        let reread = clock.now(false);
        assert_eq!(clock.uses, 1, "the reading after CLOCK_EVERY uses is fresh");
        assert!(reread >= first);
        clock.now(false);
        let after_wait = clock.now(true);
        assert_eq!(clock.uses, 1, "a wait forces a fresh reading");
        assert!(after_wait >= reread);
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
