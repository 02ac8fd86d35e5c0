//! Storage-engine benchmarks on the real disk ([`OsFs`]), each meant to be
//! read beside the machine limit it is a fraction of (`bench/limits.sh`):
//!
//! - `storage/append`: appends of 1 KiB records in 16 KiB and 1 MiB batches,
//!   no fsync, in 64 MiB chunks. `fresh` keeps everything it writes, so the
//!   pages are new to the kernel (fio's fresh-file write); `recycled` deletes
//!   each chunk by retention before the next one, so appends reuse pages the
//!   kernel has just freed (a broker in steady state). Beside each engine
//!   figure (`engine/...`), `pwrite/...` writes the same batches into a
//!   fresh preallocated file with one `pwrite` each and nothing else: the
//!   ceiling for the engine's append path, measured at the same time.
//! - `storage/append_fsync`: the same with group commit: a flusher thread
//!   loops `begin_flush` (under the log's mutex) → `FlushJob::run` (without
//!   it); a chunk ends when the high watermark covers its last append. The
//!   `pwrite` ceiling runs the same protocol with one `fdatasync` per flush.
//! - `storage/read_crc`: a consumer's sequential read of a 256 MiB log from
//!   page cache, `read(offset, 1 MiB)` after `read`, every batch CRC-checked.
//! - `storage/lookup`: `read(random offset, 4 KiB)`; per-call percentiles are
//!   printed after the criterion figures.
//! - `storage/open`: opening a log after a crash (`clean = false`) and after
//!   a clean shutdown, for one small and one large segment and for a
//!   thousand small ones, with the page cache warm and evicted, and after a
//!   crash that lost the active segment's index (the whole segment is
//!   scanned).
//! - `storage/roll`: sealing the active segment and creating the next one,
//!   which happens inside an append.
//!
//! Run with `cargo bench -p runnel-broker --bench storage`: about two minutes
//! on a quiet machine, longer when new pages are slow to come by (see
//! BENCHMARKS.md); several GiB are written. Data goes under
//! `target/bench-storage/`, or `RUNNEL_BENCH_DIR`, which must not be tmpfs;
//! it is removed at the end.
//! Lines starting with `storage:` are this file's own measurements.
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "figures are printed as floating-point rates and percentiles"
)]

use std::fs::File;
use std::hint::black_box;
use std::num::NonZeroU64;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use runnel_broker::storage::{LogConfig, LogReader, Offset, OsFs, PartitionLog, RecoveryReport};
use runnel_protocol::record::{BatchBuilder, BatchOptions, Batches, NewRecord};

/// Value size of every record.
const RECORD_VALUE_LEN: usize = 1024;
/// Key size of every record.
const KEY_LEN: usize = 16;
/// Batch sizes appended, with their labels: Kafka's default `batch.size` and
/// the broker's largest batch.
const BATCH_SIZES: [(&str, usize); 2] = [("16KiB", 16 << 10), ("1MiB", 1 << 20)];
/// Bytes appended per timed iteration of the append benchmarks.
const APPEND_CHUNK: usize = 64 << 20;
/// Size of the logs read sequentially and looked up in, and of the large
/// single-segment log opened after a crash.
const LOG_BYTES: usize = 256 << 20;
/// Size of the small single-segment log opened after a crash.
const SMALL_LOG_BYTES: usize = 16 << 20;
/// `max_bytes` of each sequential read (a consumer's fetch).
const FETCH_BYTES: usize = 1 << 20;
/// `max_bytes` of each lookup: less than a batch, so one batch comes back.
const LOOKUP_BYTES: usize = 4 << 10;
/// Lookups timed one by one for the percentiles.
const LOOKUP_CALLS: usize = 200_000;
/// Segments of the many-segment log opened after a crash.
const MANY_SEGMENTS: usize = 1000;
/// Size of each of them.
const SMALL_SEGMENT_BYTES: u64 = 256 << 10;
/// `statfs` magic number of tmpfs.
const TMPFS_MAGIC: u64 = 0x0102_1994;
/// `statfs` magic number of ramfs.
const RAMFS_MAGIC: u64 = 0x8584_58f6;

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let root = bench_root();
    let batches: Vec<(&str, Bytes)> = BATCH_SIZES
        .iter()
        .map(|&(label, size)| (label, build_batch(size)))
        .collect();

    bench_append(&mut c, root.path(), &batches, Durability::None);
    bench_append(&mut c, root.path(), &batches, Durability::GroupCommit);
    bench_read_and_lookup(&mut c, root.path(), &batches);
    bench_open(&mut c, root.path(), &batches[0].1);
    bench_roll(&mut c, root.path(), &batches[0].1);

    c.final_summary();
}

/// A fresh directory for this run, on the disk that holds `target/`.
fn bench_root() -> tempfile::TempDir {
    let base = std::env::var_os("RUNNEL_BENCH_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-storage"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&base).expect("create the bench directory");
    let fs_type = rustix::fs::statfs(&base)
        .expect("statfs the bench directory")
        .f_type;
    let in_memory = u64::try_from(fs_type).is_ok_and(|t| t == TMPFS_MAGIC || t == RAMFS_MAGIC);
    assert!(
        !in_memory,
        "{} is on tmpfs; set RUNNEL_BENCH_DIR to a directory on disk",
        base.display()
    );
    tempfile::Builder::new()
        .prefix("run-")
        .tempdir_in(&base)
        .expect("create the run directory")
}

/// One batch of 1 KiB records, filled up to `batch_size` bytes the way a
/// producer caps a batch at `batch.size`.
fn build_batch(batch_size: usize) -> Bytes {
    let value: Vec<u8> = (0..RECORD_VALUE_LEN)
        .map(|i| u8::try_from(i % 251).unwrap_or(0))
        .collect();
    let mut record = NewRecord {
        timestamp: 1_700_000_000_000,
        key: Some(Bytes::from(vec![b'k'; KEY_LEN])),
        value: Some(Bytes::from(value)),
        headers: vec![("source".to_owned(), Some(Bytes::from_static(b"bench")))],
    };
    let mut builder = BatchBuilder::with_capacity(BatchOptions::default(), batch_size)
        .expect("uncompressed builder");
    while builder.has_room_for(&record, batch_size) {
        builder.append(&record).expect("record fits");
        record.timestamp += 1;
    }
    builder.build().expect("non-empty batch")
}

/// The settings the benchmarks use: the defaults, without time retention.
fn config() -> LogConfig {
    LogConfig {
        retention_ms: None,
        ..LogConfig::default()
    }
}

fn open_log(dir: &Path, config: LogConfig, clean: bool) -> (PartitionLog, RecoveryReport) {
    PartitionLog::open(Arc::new(OsFs), dir, config, false, clean, 0).expect("open the log")
}

/// How many whole batches of `batch` make up `bytes`, and the bytes they hold.
fn batches_in(bytes: usize, batch: &Bytes) -> (usize, u64) {
    let n = (bytes / batch.len()).max(1);
    (n, (n * batch.len()) as u64)
}

/// Criterion settings for benchmarks whose iterations are long or need
/// untimed set-up: flat sampling (every sample runs the same number of
/// iterations), the minimum of ten samples, short warm-up and measurement.
fn long_iterations<'a>(
    c: &'a mut Criterion,
    name: &str,
    measurement: Duration,
) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(measurement);
    group
}

/// Whether appends wait for durability.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// Appends only (acks=1).
    None,
    /// A flusher thread fsyncs continuously; a chunk ends when durable.
    GroupCommit,
}

/// Which pages appends write into.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pages {
    /// Pages the kernel has not used lately: everything written is kept.
    Fresh,
    /// Pages freed just before: each chunk is deleted before the next.
    Recycled,
}

impl Pages {
    fn name(self) -> &'static str {
        match self {
            Pages::Fresh => "fresh",
            Pages::Recycled => "recycled",
        }
    }
}

/// Something that appends batches: the engine, or the bare `pwrite` per
/// batch that is the engine's floor.
trait Appender {
    /// Appends one batch.
    fn append(&mut self, batch: &[u8]);
    /// Blocks until everything appended is durable (group commit only).
    fn wait_durable(&mut self);
    /// Between chunks, untimed: frees what was written, durably, so the next
    /// chunk reuses its pages.
    fn recycle(&mut self);
    /// Flushes run so far, for the group-commit figures.
    fn flushes(&self) -> u64;
}

fn bench_append(c: &mut Criterion, root: &Path, batches: &[(&str, Bytes)], durability: Durability) {
    let name = match durability {
        Durability::None => "storage/append",
        Durability::GroupCommit => "storage/append_fsync",
    };
    let mut group = long_iterations(c, name, Duration::from_secs(2));
    for pages in [Pages::Fresh, Pages::Recycled] {
        for (label, batch) in batches {
            let (per_chunk, chunk_bytes) = batches_in(APPEND_CHUNK, batch);
            group.throughput(Throughput::Bytes(chunk_bytes));
            for engine in [false, true] {
                let dir = root.join(format!(
                    "{}-{}-{label}-{}",
                    name.trim_start_matches("storage/"),
                    pages.name(),
                    if engine { "engine" } else { "pwrite" }
                ));
                let mut appender: Box<dyn Appender> = match (engine, durability) {
                    (true, Durability::None) => Box::new(EngineLog::open(&dir, pages)),
                    (true, Durability::GroupCommit) => {
                        Box::new(GroupCommit::start(EngineLog::open(&dir, pages).log))
                    }
                    (false, Durability::None) => Box::new(RawFile::create(&dir)),
                    (false, Durability::GroupCommit) => {
                        Box::new(RawCommit::start(RawFile::create(&dir)))
                    }
                };
                // Start without an earlier benchmark's dirty pages being
                // written back.
                rustix::fs::sync();
                let mut busy = Duration::ZERO;
                let mut bytes_done = 0u64;
                let id = format!(
                    "{}/{}",
                    if engine { "engine" } else { "pwrite" },
                    pages.name()
                );
                group.bench_function(BenchmarkId::new(id.clone(), label), |b| {
                    b.iter_custom(|iters| {
                        let mut timed = Duration::ZERO;
                        for _ in 0..iters {
                            let start = Instant::now();
                            for _ in 0..per_chunk {
                                appender.append(batch);
                            }
                            appender.wait_durable();
                            timed += start.elapsed();
                            if pages == Pages::Recycled {
                                appender.recycle();
                            }
                        }
                        busy += timed;
                        bytes_done += iters * chunk_bytes;
                        timed
                    });
                });
                let flushes = appender.flushes();
                if durability == Durability::GroupCommit && flushes > 0 {
                    println!(
                        "storage: {name}/{id}/{label}: {:.1} flushes per second, {:.2} MiB per flush",
                        flushes as f64 / busy.as_secs_f64(),
                        bytes_done as f64 / flushes as f64 / f64::from(1 << 20),
                    );
                }
                // Fresh data stays until the end of the run, so no later
                // benchmark reuses its pages.
            }
        }
    }
    group.finish();
}

/// The engine without group commit.
struct EngineLog {
    /// The log appended to.
    log: PartitionLog,
}

impl EngineLog {
    /// A new log in `dir`; for recycled pages, one whose retention keeps no
    /// sealed segment.
    fn open(dir: &Path, pages: Pages) -> EngineLog {
        let config = LogConfig {
            retention_bytes: (pages == Pages::Recycled).then_some(0),
            ..config()
        };
        EngineLog {
            log: open_log(dir, config, false).0,
        }
    }
}

/// Rolls, flushes and applies retention, which deletes every sealed
/// segment of a log opened by [`EngineLog::open`] for recycled pages.
fn drop_sealed(log: &mut PartitionLog) {
    log.roll(0).expect("roll");
    log.flush().expect("flush");
    log.enforce_retention(0).expect("retention");
}

impl Appender for EngineLog {
    fn append(&mut self, batch: &[u8]) {
        self.log.append(batch, 0).expect("append");
    }

    fn wait_durable(&mut self) {}

    fn recycle(&mut self) {
        drop_sealed(&mut self.log);
    }

    fn flushes(&self) -> u64 {
        0
    }
}

/// The floor of the engine's append path: one `pwrite` per batch at the end
/// of a file preallocated in the engine's chunks, nothing else.
struct RawFile {
    /// The file, shared with a flusher thread in group commit.
    file: Arc<File>,
    /// Where the next batch goes.
    pos: u64,
    /// Bytes preallocated.
    allocated: u64,
    /// Preallocation step: the engine's `preallocate_bytes`.
    step: u64,
}

impl RawFile {
    fn create(dir: &Path) -> RawFile {
        std::fs::create_dir_all(dir).expect("create the directory");
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.join("pwrite.log"))
            .expect("create the file");
        RawFile {
            file: Arc::new(file),
            pos: 0,
            allocated: 0,
            step: LogConfig::default().preallocate_bytes,
        }
    }

    fn write(&mut self, batch: &[u8]) -> u64 {
        let end = self.pos + batch.len() as u64;
        if end > self.allocated {
            let target = end.div_ceil(self.step) * self.step;
            rustix::fs::fallocate(
                &*self.file,
                rustix::fs::FallocateFlags::empty(),
                self.allocated,
                target - self.allocated,
            )
            .expect("fallocate");
            self.allocated = target;
        }
        self.file.write_all_at(batch, self.pos).expect("pwrite");
        self.pos = end;
        end
    }

    /// Makes the file durable and empties it, freeing its pages.
    fn empty(&mut self) {
        self.file.sync_data().expect("fdatasync");
        self.file.set_len(0).expect("truncate");
        self.pos = 0;
        self.allocated = 0;
    }
}

impl Appender for RawFile {
    fn append(&mut self, batch: &[u8]) {
        self.write(batch);
    }

    fn wait_durable(&mut self) {}

    fn recycle(&mut self) {
        self.empty();
    }

    fn flushes(&self) -> u64 {
        0
    }
}

/// A partition log driven as the broker drives it: the appender and a
/// flusher thread share it through a mutex, and the flusher loops
/// `begin_flush` (under the mutex) → `FlushJob::run` (without it), so the
/// appends made during one fsync are covered by the next (group commit).
struct GroupCommit {
    /// What the appender and the flusher share.
    shared: Arc<Shared>,
    /// The flusher thread; joined on drop.
    flusher: Option<thread::JoinHandle<()>>,
}

/// State of a [`GroupCommit`].
struct Shared {
    /// The log and the flags that go with it.
    state: Mutex<State>,
    /// Wakes the idle flusher: data is waiting or it must stop.
    work: Condvar,
    /// Wakes the appender after every flush.
    durable: Condvar,
    /// Flush jobs run, for the bytes-per-fsync figure.
    flushes: AtomicU64,
}

/// What the mutex of a [`GroupCommit`] guards.
struct State {
    /// The single writer.
    log: PartitionLog,
    /// Whether the flusher waits on `work` (so appends must wake it).
    flusher_idle: bool,
    /// Asks the flusher to exit.
    stop: bool,
}

impl GroupCommit {
    fn start(log: PartitionLog) -> GroupCommit {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                log,
                flusher_idle: false,
                stop: false,
            }),
            work: Condvar::new(),
            durable: Condvar::new(),
            flushes: AtomicU64::new(0),
        });
        let flusher = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || flush_loop(&shared))
        };
        GroupCommit {
            shared,
            flusher: Some(flusher),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().expect("log mutex")
    }
}

impl Appender for GroupCommit {
    fn append(&mut self, batch: &[u8]) {
        let mut state = self.lock();
        state.log.append(batch, 0).expect("append");
        if state.flusher_idle {
            state.flusher_idle = false;
            self.shared.work.notify_one();
        }
    }

    fn wait_durable(&mut self) {
        let mut state = self.lock();
        while state.log.high_watermark() < state.log.log_end_offset() {
            state = self.shared.durable.wait(state).expect("log mutex");
        }
    }

    fn recycle(&mut self) {
        drop_sealed(&mut self.lock().log);
    }

    fn flushes(&self) -> u64 {
        self.shared.flushes.load(Ordering::Relaxed)
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.lock().stop = true;
        self.shared.work.notify_one();
        if let Some(flusher) = self.flusher.take() {
            flusher.join().expect("flusher thread");
        }
    }
}

fn flush_loop(shared: &Shared) {
    loop {
        let job = {
            let mut state = shared.state.lock().expect("log mutex");
            loop {
                if state.stop {
                    return;
                }
                if let Some(job) = state.log.begin_flush() {
                    break job;
                }
                state.flusher_idle = true;
                state = shared.work.wait(state).expect("log mutex");
            }
        };
        job.run().expect("flush");
        shared.flushes.fetch_add(1, Ordering::Relaxed);
        // Under the mutex, so an appender that saw the old high watermark is
        // already waiting and cannot miss this.
        let _state = shared.state.lock().expect("log mutex");
        shared.durable.notify_all();
    }
}

/// [`GroupCommit`]'s protocol around a [`RawFile`]: the appender publishes
/// how far it wrote, a flusher thread `fdatasync`s while that moves.
struct RawCommit {
    /// The file; only the appender writes it.
    raw: RawFile,
    /// What the appender and the flusher share.
    shared: Arc<RawShared>,
    /// The flusher thread; joined on drop.
    flusher: Option<thread::JoinHandle<()>>,
}

/// State of a [`RawCommit`].
struct RawShared {
    /// Written and durable ends, and the flags.
    state: Mutex<RawState>,
    /// Wakes the idle flusher: data is waiting or it must stop.
    work: Condvar,
    /// Wakes the appender after every flush.
    durable: Condvar,
    /// `fdatasync`s done.
    flushes: AtomicU64,
}

/// What the mutex of a [`RawCommit`] guards.
struct RawState {
    /// End of what was written.
    written: u64,
    /// End of what is durable.
    durable: u64,
    /// Whether the flusher waits on `work`.
    flusher_idle: bool,
    /// Asks the flusher to exit.
    stop: bool,
}

impl RawCommit {
    fn start(raw: RawFile) -> RawCommit {
        let shared = Arc::new(RawShared {
            state: Mutex::new(RawState {
                written: 0,
                durable: 0,
                flusher_idle: false,
                stop: false,
            }),
            work: Condvar::new(),
            durable: Condvar::new(),
            flushes: AtomicU64::new(0),
        });
        let flusher = {
            let shared = Arc::clone(&shared);
            let file = Arc::clone(&raw.file);
            thread::spawn(move || raw_flush_loop(&shared, &file))
        };
        RawCommit {
            raw,
            shared,
            flusher: Some(flusher),
        }
    }

    fn lock(&self) -> MutexGuard<'_, RawState> {
        self.shared.state.lock().expect("raw mutex")
    }
}

impl Appender for RawCommit {
    fn append(&mut self, batch: &[u8]) {
        let end = self.raw.write(batch);
        let mut state = self.lock();
        state.written = end;
        if state.flusher_idle {
            state.flusher_idle = false;
            self.shared.work.notify_one();
        }
    }

    fn wait_durable(&mut self) {
        let mut state = self.lock();
        while state.durable < state.written {
            state = self.shared.durable.wait(state).expect("raw mutex");
        }
    }

    fn recycle(&mut self) {
        // Durable already, so the flusher is idle until the next append.
        self.raw.empty();
        let mut state = self.lock();
        state.written = 0;
        state.durable = 0;
    }

    fn flushes(&self) -> u64 {
        self.shared.flushes.load(Ordering::Relaxed)
    }
}

impl Drop for RawCommit {
    fn drop(&mut self) {
        self.lock().stop = true;
        self.shared.work.notify_one();
        if let Some(flusher) = self.flusher.take() {
            flusher.join().expect("flusher thread");
        }
    }
}

fn raw_flush_loop(shared: &RawShared, file: &File) {
    loop {
        let target = {
            let mut state = shared.state.lock().expect("raw mutex");
            loop {
                if state.stop {
                    return;
                }
                if state.written > state.durable {
                    break state.written;
                }
                state.flusher_idle = true;
                state = shared.work.wait(state).expect("raw mutex");
            }
        };
        file.sync_data().expect("fdatasync");
        shared.flushes.fetch_add(1, Ordering::Relaxed);
        let mut state = shared.state.lock().expect("raw mutex");
        state.durable = state.durable.max(target);
        shared.durable.notify_all();
    }
}

/// Appends `bytes` worth of `batch` to a new log in `dir` and makes it
/// durable.
fn fill(dir: &Path, config: LogConfig, batch: &Bytes, bytes: usize) -> PartitionLog {
    let (mut log, _) = open_log(dir, config, false);
    let (n, _) = batches_in(bytes, batch);
    for _ in 0..n {
        log.append(batch, 0).expect("append");
    }
    log.flush().expect("flush");
    log
}

/// Reads the whole log as a consumer does, CRC-checking every batch;
/// returns the bytes read.
fn read_all(reader: &LogReader) -> u64 {
    let mut offset = reader.log_start_offset();
    let end = reader.high_watermark();
    let mut bytes = 0u64;
    while offset < end {
        let read = reader.read(offset, FETCH_BYTES).expect("read");
        assert!(!read.records.is_empty(), "no batch at offset {offset}");
        for batch in Batches::new(read.records) {
            let batch = batch.expect("intact batch");
            bytes += batch.size_in_bytes() as u64;
            offset = Offset::from_i64(batch.last_offset())
                .expect("stored offsets are positive")
                .plus(1);
        }
    }
    bytes
}

fn bench_read_and_lookup(c: &mut Criterion, root: &Path, batches: &[(&str, Bytes)]) {
    let logs: Vec<(&str, PartitionLog)> = batches
        .iter()
        .map(|(label, batch)| {
            let log = fill(
                &root.join(format!("read-{label}")),
                config(),
                batch,
                LOG_BYTES,
            );
            (*label, log)
        })
        .collect();
    rustix::fs::sync();

    let mut group = c.benchmark_group("storage/read_crc");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (label, log) in &logs {
        let reader = log.reader();
        group.throughput(Throughput::Bytes(reader.size_bytes()));
        group.bench_function(BenchmarkId::new("fetch_1MiB", label), |b| {
            b.iter(|| black_box(read_all(&reader)));
        });
    }
    group.finish();

    let mut group = c.benchmark_group("storage/lookup");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    let mut measured = Vec::new();
    for (label, log) in &logs {
        let reader = log.reader();
        let offsets = random_offsets(&reader, 4096);
        let mut next = 0usize;
        group.bench_function(BenchmarkId::new("random_offset", label), |b| {
            b.iter(|| {
                next = (next + 1) % offsets.len();
                black_box(reader.read(offsets[next], LOOKUP_BYTES).expect("read"))
            });
        });
        if next > 0 {
            measured.push((*label, reader));
        }
    }
    group.finish();
    for (label, reader) in &measured {
        print_lookup_percentiles(label, reader);
    }
}

/// `n` offsets drawn uniformly from the readable part of the log.
fn random_offsets(reader: &LogReader, n: usize) -> Vec<Offset> {
    let mut rng = StdRng::seed_from_u64(0x5EED);
    let (start, end) = (reader.log_start_offset().0, reader.high_watermark().0);
    (0..n)
        .map(|_| Offset(rng.random_range(start..end)))
        .collect()
}

/// Times [`LOOKUP_CALLS`] lookups one by one and prints their percentiles,
/// which criterion's mean and median do not show.
fn print_lookup_percentiles(label: &str, reader: &LogReader) {
    let offsets = random_offsets(reader, LOOKUP_CALLS);
    let mut timer = Vec::with_capacity(LOOKUP_CALLS);
    for _ in 0..LOOKUP_CALLS {
        let start = Instant::now();
        timer.push(start.elapsed());
    }
    let mut samples = Vec::with_capacity(LOOKUP_CALLS);
    for &offset in &offsets {
        let start = Instant::now();
        let read = reader.read(offset, LOOKUP_BYTES);
        samples.push(start.elapsed());
        let read = read.expect("read");
        assert!(!read.records.is_empty(), "no batch at offset {offset}");
    }
    timer.sort_unstable();
    samples.sort_unstable();
    let pct = |sorted: &[Duration], p: f64| {
        let rank = (sorted.len() as f64 * p).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1].as_nanos()
    };
    println!(
        "storage: lookup/{label}: p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns over {} calls (timer alone: p50 {} ns)",
        pct(&samples, 0.50),
        pct(&samples, 0.99),
        pct(&samples, 0.999),
        pct(&samples, 1.0),
        samples.len(),
        pct(&timer, 0.50),
    );
}

/// A log left as a crash leaves it, for repeated recovery.
struct Crashed {
    /// Label in the benchmark id.
    label: &'static str,
    /// Partition directory.
    dir: PathBuf,
    /// The active segment's `.log`.
    active: PathBuf,
    /// Its length at the crash: written batches, then preallocated zeros.
    active_len: u64,
    /// Settings it was written with.
    config: LogConfig,
}

impl Crashed {
    /// Writes `bytes` of `batch` with `config`, makes them durable and drops
    /// the log without closing it: the active segment keeps its preallocated
    /// tail and indexes, and the recovery point names it.
    fn build(
        label: &'static str,
        dir: PathBuf,
        config: LogConfig,
        batch: &Bytes,
        bytes: usize,
    ) -> Crashed {
        drop(fill(&dir, config.clone(), batch, bytes));
        let active = last_with_extension(&dir, "log");
        let active_len = std::fs::metadata(&active).expect("stat").len();
        Crashed {
            label,
            dir,
            active,
            active_len,
            config,
        }
    }

    /// Puts back the preallocated tail that recovery cut off. (The indexes
    /// it trimmed, recovery itself preallocates again.)
    fn restore_tail(&self) {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.active)
            .expect("open the active segment");
        rustix::fs::fallocate(
            &file,
            rustix::fs::FallocateFlags::empty(),
            0,
            self.active_len,
        )
        .expect("fallocate");
    }

    /// Empties the active segment's indexes, as a power failure does when
    /// their pages never reached the disk.
    fn lose_index(&self) {
        for ext in ["index", "timeindex"] {
            let path = self.active.with_extension(ext);
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(0))
                .expect("truncate an index");
        }
    }
}

/// The last file (by name) in `dir` with extension `ext`.
fn last_with_extension(dir: &Path, ext: &str) -> PathBuf {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    paths.sort();
    paths.pop().expect("a segment")
}

/// Writes back and drops from the page cache every file of `dir`, as after
/// a reboot (directory entries and inodes stay cached). Only clean pages
/// can be dropped, hence the `fdatasync` first (cheap: recovery synced them).
fn evict(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("list") {
        let file = File::open(entry.expect("entry").path()).expect("open");
        file.sync_data().expect("fdatasync");
        rustix::fs::fadvise(&file, 0, None::<NonZeroU64>, rustix::fs::Advice::DontNeed)
            .expect("fadvise");
    }
}

/// The state a log is opened from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    /// After a crash, page cache warm (the process died, the machine did not).
    Crash,
    /// After a crash, page cache evicted (the machine restarted).
    CrashCold,
    /// After a crash that lost the active segment's indexes.
    IndexLost,
    /// After a clean shutdown.
    Clean,
}

impl Start {
    fn name(self) -> &'static str {
        match self {
            Start::Crash => "crash",
            Start::CrashCold => "crash_cold_cache",
            Start::IndexLost => "crash_index_lost",
            Start::Clean => "clean",
        }
    }
}

fn bench_open(c: &mut Criterion, root: &Path, batch: &Bytes) {
    // Whole batches per small segment, so the log has exactly MANY_SEGMENTS.
    let per_segment = usize::try_from(SMALL_SEGMENT_BYTES).unwrap_or(usize::MAX) / batch.len();
    let many = LogConfig {
        segment_bytes: SMALL_SEGMENT_BYTES,
        ..config()
    };
    let logs = [
        Crashed::build(
            "1x16MiB",
            root.join("open-small"),
            config(),
            batch,
            SMALL_LOG_BYTES,
        ),
        Crashed::build(
            "1x256MiB",
            root.join("open-one"),
            config(),
            batch,
            LOG_BYTES,
        ),
        Crashed::build(
            "1000x256KiB",
            root.join("open-many"),
            many,
            batch,
            MANY_SEGMENTS * per_segment * batch.len(),
        ),
    ];
    rustix::fs::sync();

    let mut group = long_iterations(c, "storage/open", Duration::from_millis(500));
    for start in [
        Start::Crash,
        Start::CrashCold,
        Start::IndexLost,
        Start::Clean,
    ] {
        for log in &logs {
            if start == Start::IndexLost && log.label != "1x256MiB" {
                continue;
            }
            if start == Start::Clean {
                // Shut down cleanly once; every iteration closes again.
                let (mut opened, _) = open_log(&log.dir, log.config.clone(), false);
                opened.close().expect("close");
            }
            let mut last = RecoveryReport::default();
            group.bench_function(BenchmarkId::new(start.name(), log.label), |b| {
                b.iter_custom(|iters| {
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        if start != Start::Clean {
                            log.restore_tail();
                        }
                        if start == Start::IndexLost {
                            log.lose_index();
                        }
                        if start == Start::CrashCold {
                            evict(&log.dir);
                        }
                        let begin = Instant::now();
                        let (mut opened, report) =
                            open_log(&log.dir, log.config.clone(), start == Start::Clean);
                        timed += begin.elapsed();
                        last = report;
                        if start == Start::Clean {
                            opened.close().expect("close");
                        }
                    }
                    timed
                });
            });
            if last.segments == 0 {
                continue; // filtered out
            }
            println!(
                "storage: open/{}/{}: {} segments, {} recovered, {} bytes truncated",
                start.name(),
                log.label,
                last.segments,
                last.recovered_segments,
                last.truncated_bytes,
            );
        }
    }
    group.finish();
}

fn bench_roll(c: &mut Criterion, root: &Path, batch: &Bytes) {
    let (mut log, _) = open_log(&root.join("roll"), config(), false);
    let mut group = long_iterations(c, "storage/roll", Duration::from_millis(500));
    group.bench_function("after_one_batch", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                log.append(batch, 0).expect("append");
                let start = Instant::now();
                log.roll(0).expect("roll");
                timed += start.elapsed();
                log.flush().expect("flush");
            }
            timed
        });
    });
    group.finish();
}
