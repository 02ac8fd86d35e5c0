//! One partition as the server sees it: the single-writer log behind a
//! mutex held only for the append itself, a lock-free reader, and the flush
//! driver that makes appends durable.
//!
//! Flushing (DESIGN §5): in the default continuous mode an append starts a
//! flush loop on the blocking pool unless one is running; the loop runs one
//! fsync after another while data is waiting, so appends that arrive during
//! an fsync share the next one (group commit). With `flush.ms` set, a timer
//! flushes on that interval instead. Each finished flush publishes the new
//! high watermark on a watch channel, which acks=all producers and
//! long-polling fetches wait on; each append publishes the log end on
//! another, for fetches that read unflushed records.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use runnel_protocol::record::BatchHeader;
use tokio::sync::watch;

use crate::metrics::durability::FlushMark;
use crate::metrics::{self, DurabilityLag, DurabilityTracker, TopicMetrics};
use crate::storage::{
    AppendInfo, FlushJob, LogConfig, LogReader, Offset, PartitionLog, StorageError, Visibility,
};

/// A partition of a topic.
#[derive(Debug)]
pub struct Partition {
    /// Topic name, for logs and metrics.
    topic: Arc<str>,
    /// Partition number.
    id: u32,
    /// The writer; held only while appending, rolling or capturing a flush.
    log: Mutex<PartitionLog>,
    /// Reads never take the writer's lock.
    reader: LogReader,
    /// The high watermark, published after every flush.
    hw: watch::Sender<u64>,
    /// The log end, published after every append.
    end: watch::Sender<u64>,
    /// Whether a flush loop is running (continuous mode).
    flushing: AtomicBool,
    /// `flush.ms`, or 0 for continuous flushing.
    flush_interval_ms: AtomicU64,
    /// The topic's traffic counters, resolved once.
    traffic: TopicMetrics,
    /// Bytes appended and not yet durable, for the durability-lag gauges.
    durability: DurabilityTracker,
}

/// Why waiting for durability ended without it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    /// The deadline passed first.
    #[error("timed out waiting for the data to become durable")]
    Timeout,
    /// An fsync failed; the data will never become durable in this run.
    #[error("partition is fenced after an I/O error: {0}")]
    Fenced(String),
}

impl Partition {
    /// Wraps an opened log. `flush_ms` is the topic's `flush.ms` (`None` for
    /// continuous flushing).
    pub fn new(topic: Arc<str>, id: u32, log: PartitionLog, flush_ms: Option<u64>) -> Arc<Self> {
        let reader = log.reader();
        let hw = watch::Sender::new(reader.high_watermark().0);
        let end = watch::Sender::new(reader.log_end_offset().0);
        metrics::events::partition_opened();
        let p = Arc::new(Partition {
            traffic: TopicMetrics::new(&topic),
            topic,
            id,
            log: Mutex::new(log),
            reader,
            hw,
            end,
            flushing: AtomicBool::new(false),
            flush_interval_ms: AtomicU64::new(flush_ms.unwrap_or(0)),
            durability: DurabilityTracker::default(),
        });
        if flush_ms.is_some() {
            p.spawn_interval_flusher();
        }
        p
    }

    /// Topic name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Partition number.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The lock-free read handle.
    pub fn reader(&self) -> &LogReader {
        &self.reader
    }

    /// The topic's traffic counters.
    pub fn traffic(&self) -> &TopicMetrics {
        &self.traffic
    }

    /// Bytes appended and not yet durable, and the age of the oldest, as of
    /// `now_ms`.
    pub fn durability_lag(&self, now_ms: i64) -> DurabilityLag {
        self.durability.lag(now_ms)
    }

    fn lock(&self) -> MutexGuard<'_, PartitionLog> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends one batch validated by the caller and, in continuous mode,
    /// makes sure a flush will cover it.
    pub fn append(
        self: &Arc<Self>,
        batch: &[u8],
        header: &BatchHeader,
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        let info = {
            let mut log = self.lock();
            let info = log.append_validated(batch, header, now_ms)?;
            if !info.duplicate {
                self.durability.appended(info.bytes as u64, now_ms);
            }
            info
        };
        if !info.duplicate {
            self.traffic.appended(info.record_count, info.bytes);
            // Outside the lock, so appends racing here may publish out of
            // order: the channel only ever moves forward.
            let end = info.last_offset.0 + 1;
            self.end.send_if_modified(|v| {
                let moved = end > *v;
                if moved {
                    *v = end;
                }
                moved
            });
        }
        if self.flush_interval_ms.load(Ordering::Relaxed) == 0 {
            self.schedule_flush();
        }
        Ok(info)
    }

    /// Applies a changed topic config.
    pub fn reconfigure(
        self: &Arc<Self>,
        config: LogConfig,
        log_append_time: bool,
        flush_ms: Option<u64>,
    ) {
        self.lock().set_config(config, log_append_time);
        let was = self
            .flush_interval_ms
            .swap(flush_ms.unwrap_or(0), Ordering::AcqRel);
        if was == 0 && flush_ms.is_some() {
            self.spawn_interval_flusher();
        }
        if flush_ms.is_none() {
            self.schedule_flush();
        }
    }

    /// Starts a flush loop on the blocking pool unless one is running.
    fn schedule_flush(self: &Arc<Self>) {
        if self.flushing.swap(true, Ordering::AcqRel) {
            return;
        }
        let p = Arc::clone(self);
        tokio::task::spawn_blocking(move || p.flush_loop());
    }

    /// Flushes until nothing is waiting. Runs on a blocking thread.
    fn flush_loop(&self) {
        loop {
            match self.begin_flush() {
                Some((job, mark)) => {
                    if !self.run_flush(job, mark) {
                        return;
                    }
                }
                None => {
                    self.flushing.store(false, Ordering::Release);
                    // An append may have slipped in after begin_flush found
                    // nothing and before the flag dropped.
                    let pending = self.reader.log_end_offset() > self.reader.high_watermark();
                    if pending
                        && self.reader.fenced().is_none()
                        && !self.flushing.swap(true, Ordering::AcqRel)
                    {
                        continue;
                    }
                    return;
                }
            }
        }
    }

    /// Flushes once, now, on the calling (blocking) thread.
    fn flush_once(&self) {
        if let Some((job, mark)) = self.begin_flush() {
            self.run_flush(job, mark);
        }
    }

    /// Captures a flush job and what it covers, under the writer's lock.
    fn begin_flush(&self) -> Option<(FlushJob, FlushMark)> {
        let mut log = self.lock();
        let job = log.begin_flush()?;
        Some((job, self.durability.flush_captured()))
    }

    /// Runs a captured flush without the writer's lock and publishes the new
    /// high watermark. On failure (the partition is fenced) wakes every
    /// waiter so it sees the error, and returns `false`.
    fn run_flush(&self, job: FlushJob, mark: FlushMark) -> bool {
        let started = Instant::now();
        match job.run() {
            Ok(hw) => {
                metrics::flush_finished(started);
                self.durability.flush_succeeded(mark);
                self.hw.send_replace(hw.0);
                true
            }
            Err(_) => {
                self.hw.send_modify(|_| {});
                false
            }
        }
    }

    /// `flush.ms` mode: flush on a timer for as long as the interval is set
    /// and the partition is alive.
    fn spawn_interval_flusher(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(p) = weak.upgrade() else { return };
                let ms = p.flush_interval_ms.load(Ordering::Acquire);
                if ms == 0 {
                    return;
                }
                drop(p);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                let Some(p) = weak.upgrade() else { return };
                if p.reader.log_end_offset() > p.reader.high_watermark() {
                    let _ = tokio::task::spawn_blocking(move || p.flush_once()).await;
                }
            }
        });
    }

    /// Waits until every offset below `end` is durable, or `timeout` passes.
    pub async fn wait_durable(&self, end: Offset, timeout: Duration) -> Result<(), WaitError> {
        let mut rx = self.hw.subscribe();
        let wait = async {
            loop {
                if *rx.borrow_and_update() >= end.0 {
                    return Ok(());
                }
                if let Some(why) = self.reader.fenced() {
                    return Err(WaitError::Fenced(why));
                }
                if rx.changed().await.is_err() {
                    return Err(WaitError::Timeout);
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .unwrap_or(Err(WaitError::Timeout))
    }

    /// A receiver that wakes when what a read at `visibility` may return
    /// grows: the high watermark, or the log end (fetch long-poll).
    pub fn subscribe(&self, visibility: Visibility) -> watch::Receiver<u64> {
        match visibility {
            Visibility::Durable => self.hw.subscribe(),
            Visibility::Appended => self.end.subscribe(),
        }
    }

    /// Deletes segments past retention.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize, StorageError> {
        self.lock().enforce_retention(now_ms)
    }

    /// Closes the log cleanly (shutdown): flush, trim, sync.
    pub fn close(&self) -> Result<(), StorageError> {
        self.flush_interval_ms.store(0, Ordering::Release);
        let mut log = self.lock();
        log.close()?;
        self.durability.all_durable();
        Ok(())
    }
}
