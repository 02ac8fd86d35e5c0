//! Crash-loss torture: several idempotent producers write with `acks=all`
//! to several partitions while the broker is killed with SIGKILL at random
//! moments and restarted on the same data directory and port. Every
//! acknowledgement is recorded; at the end the whole log is read back and
//! the history is checked like a Jepsen checker would:
//!
//! - every acknowledged record is present, at its acknowledged offset;
//! - no record appears twice (retries across crashes are deduplicated);
//! - per producer and partition, records appear in the order sent;
//! - offsets are contiguous (none skipped or reused).
//!
//! Meanwhile a consumer group reads the topic and commits after every poll;
//! at the end every acknowledged commit must still be committed (or
//! superseded by a later one), and every offset below the committed
//! position must have been delivered to some member (at-least-once, no
//! gaps across crashes and rebalances).
//!
//! A third reader follows every partition at isolation level
//! `read_unflushed`, seeing records before their fsync. A SIGKILL must not
//! take any of them back: at the end each record it saw must be in the log
//! at the offset it was seen at, and no offset may have shown it two
//! different records (a lost tail whose offsets were reused).
//!
//! With `acks=1` (no idempotence) the same run measures the loss window
//! instead of asserting zero: acknowledged records missing after a crash.
//!
//! Everything random derives from one seed, so a failing run is repeated
//! with `--seed`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use runnel_client::{Client, ClientConfig, NewTopic};
use runnel_producer::{Producer, ProducerRecord};
use runnel_protocol::api::fetch::{FetchPartition, FetchRequest, FetchTopic, IsolationLevel};
use runnel_protocol::record::Batches;
use runnel_protocol::{ErrorCode, PartitionId};
use runnel_testkit::{BrokerOptions, BrokerProcess};

const TOPIC: &str = "torture";

/// What to run.
#[derive(Debug, Clone)]
pub struct TortureConfig {
    /// Kill/restart cycles.
    pub cycles: u32,
    /// Seed of every random choice.
    pub seed: u64,
    /// Concurrent producers.
    pub producers: u32,
    /// Partitions of the topic.
    pub partitions: u32,
    /// Members of the consumer group reading along.
    pub consumers: u32,
    /// `all` (checked for zero loss) or `1` (loss measured).
    pub acks_all: bool,
    /// Shortest and longest time the broker runs before each kill.
    pub run_ms: (u64, u64),
}

impl Default for TortureConfig {
    fn default() -> Self {
        TortureConfig {
            cycles: 20,
            seed: 1,
            producers: 3,
            partitions: 4,
            consumers: 2,
            acks_all: true,
            run_ms: (50, 400),
        }
    }
}

/// What a run saw.
#[derive(Debug, Clone, Default)]
pub struct TortureReport {
    /// Cycles completed.
    pub cycles: u32,
    /// Records acknowledged to producers.
    pub acknowledged: u64,
    /// Records found in the log at the end.
    pub stored: u64,
    /// Acknowledged records missing from the log.
    pub lost: u64,
    /// Records stored more than once.
    pub duplicated: u64,
    /// Records stored out of their producer's order.
    pub reordered: u64,
    /// Acknowledged records found at another offset than acknowledged.
    pub misplaced: u64,
    /// Records whose send failed for good (not acknowledged).
    pub failed_sends: u64,
    /// Offset commits acknowledged to the consumers.
    pub commits: u64,
    /// Records delivered to the consumers (with redeliveries).
    pub consumed: u64,
    /// Acknowledged commits no longer committed at the end.
    pub lost_commits: u64,
    /// Offsets below the final committed position never delivered.
    pub undelivered: u64,
    /// Records the `read_unflushed` reader saw.
    pub unflushed_seen: u64,
    /// Of those, records missing from the log at the end, or replaced by
    /// another record at their offset.
    pub unflushed_lost: u64,
    /// Problems, described (at most 20 kept).
    pub violations: Vec<String>,
}

impl TortureReport {
    /// Whether nothing acknowledged was lost, duplicated, reordered or moved.
    pub fn is_clean(&self) -> bool {
        self.lost == 0
            && self.duplicated == 0
            && self.reordered == 0
            && self.misplaced == 0
            && self.lost_commits == 0
            && self.undelivered == 0
            && self.unflushed_lost == 0
    }

    fn violation(&mut self, what: String) {
        if self.violations.len() < 20 {
            self.violations.push(what);
        }
    }
}

/// One acknowledgement: (partition, offset) for the record `p<producer>-<n>`.
type Ack = (u32, u64);

/// Runs the torture and checks the history.
pub async fn run(config: &TortureConfig) -> anyhow::Result<TortureReport> {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut broker = BrokerProcess::start_with(BrokerOptions::default());
    let bootstrap = broker.bootstrap();
    let admin = Client::connect(ClientConfig::new(bootstrap.clone())).await?;
    admin
        .create_topic(NewTopic::new(TOPIC, Some(config.partitions)))
        .await
        .context("create the topic")?;

    let shared = ProducerShared::default();
    let mut tasks = Vec::new();
    for p in 0..config.producers {
        let key_seed = rng.random::<u64>();
        tasks.push(spawn_producer(&bootstrap, p, config.acks_all, key_seed, shared.clone()).await?);
    }
    let (acks, failed, stop, stopping) = (shared.acks, shared.failed, shared.stop, shared.stopping);

    let group = GroupLog::default();
    let mut consumers = Vec::new();
    for c in 0..config.consumers {
        consumers.push(tokio::spawn(consume(
            bootstrap.clone(),
            c,
            Arc::clone(&stopping),
            group.clone(),
        )));
    }

    let unflushed = UnflushedLog::default();
    let watcher = tokio::spawn(watch_unflushed(
        bootstrap.clone(),
        config.partitions,
        Arc::clone(&stopping),
        unflushed.clone(),
    ));

    for _ in 0..config.cycles {
        let run_for = rng.random_range(config.run_ms.0..=config.run_ms.1);
        tokio::time::sleep(Duration::from_millis(run_for)).await;
        broker = broker.restart(false);
    }
    // Let the producers run a little against the last broker, then stop them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stopping.store(true, std::sync::atomic::Ordering::Release);
    stop.notify_waiters();
    for t in tasks {
        t.await.context("producer task panicked")?;
    }
    for c in consumers {
        c.await.context("consumer task panicked")?;
    }
    watcher.await.context("unflushed reader panicked")?;

    let log = read_all(&admin, config.partitions).await?;
    let acks = acks
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let mut report = check(&acks, &log, config.acks_all);
    check_group(&admin, &group, &mut report).await?;
    check_unflushed(&unflushed, &log, &mut report);
    report.cycles = config.cycles;
    report.failed_sends = *failed
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    drop(broker);
    Ok(report)
}

/// State the producer tasks share with the run.
#[derive(Clone, Default)]
struct ProducerShared {
    /// Acknowledgements, by record.
    acks: Arc<Mutex<HashMap<(u32, u64), Ack>>>,
    /// Sends that failed for good.
    failed: Arc<Mutex<u64>>,
    /// Wakes producers waiting to enqueue when the run stops.
    stop: Arc<tokio::sync::Notify>,
    /// Set when the run stops.
    stopping: Arc<std::sync::atomic::AtomicBool>,
}

/// Starts producer `p`: it sends `p<p>-<n>` for n = 0, 1, ... with keys
/// spread over 64 values until the run stops, recording every outcome.
async fn spawn_producer(
    bootstrap: &str,
    p: u32,
    acks_all: bool,
    key_seed: u64,
    shared: ProducerShared,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let producer = Producer::builder()
        .bootstrap(bootstrap.to_owned())
        .set("acks", if acks_all { "all" } else { "1" })?
        .set(
            "enable.idempotence",
            if acks_all { "true" } else { "false" },
        )?
        .set("linger.ms", "1")?
        .set("retry.backoff.ms", "20")?
        .set("reconnect.backoff.max.ms", "200")?
        .build()
        .await
        .with_context(|| format!("start producer {p}"))?;
    Ok(tokio::spawn(async move {
        let ProducerShared {
            acks,
            failed,
            stop,
            stopping,
        } = shared;
        let mut pending = Vec::new();
        let mut n = 0u64;
        while !stopping.load(std::sync::atomic::Ordering::Acquire) {
            let value = format!("p{p}-{n}");
            let key = format!("k{}", (key_seed.wrapping_add(n)) % 64);
            let record = ProducerRecord::new(TOPIC, Bytes::from(value)).key(Bytes::from(key));
            tokio::select! {
                r = producer.enqueue(record) => match r {
                    Ok(f) => pending.push((n, f)),
                    Err(_) => *failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += 1,
                },
                () = stop.notified() => break,
            }
            n += 1;
            if pending.len() >= 64 {
                settle(p, &mut pending, &acks, &failed).await;
            }
        }
        let finished = tokio::time::timeout(Duration::from_secs(30), async {
            producer.flush().await;
            settle(p, &mut pending, &acks, &failed).await;
            producer.close().await;
        })
        .await;
        if finished.is_err() {
            eprintln!(
                "producer {p} stuck at the end: {} batches pending",
                producer.pending_batches()
            );
        }
    }))
}

/// Waits for the pending sends' outcomes and records the acknowledgements.
async fn settle(
    producer: u32,
    pending: &mut Vec<(u64, runnel_producer::DeliveryFuture)>,
    acks: &Mutex<HashMap<(u32, u64), Ack>>,
    failed: &Mutex<u64>,
) {
    for (n, f) in pending.drain(..) {
        match f.await {
            Ok(meta) => {
                if let Some(offset) = meta.offset.and_then(|o| u64::try_from(o).ok()) {
                    acks.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert((producer, n), (meta.partition, offset));
                }
            }
            Err(_) => {
                *failed
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
            }
        }
    }
}

/// What the consumer group saw: offsets delivered and commits acknowledged.
#[derive(Debug, Clone, Default)]
struct GroupLog {
    /// Offsets delivered to any member, by partition.
    delivered: Arc<Mutex<HashMap<u32, std::collections::BTreeSet<u64>>>>,
    /// Highest acknowledged commit, by partition.
    committed: Arc<Mutex<HashMap<u32, i64>>>,
    /// Counts: commits acknowledged, records delivered.
    counts: Arc<Mutex<(u64, u64)>>,
}

const GROUP: &str = "torture-group";

/// One group member: poll, record what was delivered, commit, record the
/// acknowledged commit; errors (the broker is being killed) are retried.
async fn consume(
    bootstrap: String,
    member: u32,
    stopping: Arc<std::sync::atomic::AtomicBool>,
    log: GroupLog,
) {
    let client_id = format!("torture-consumer-{member}");
    let built = runnel_consumer::Consumer::builder()
        .bootstrap(bootstrap)
        .set_all([
            ("group.id", GROUP),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            ("fetch.max.wait.ms", "50"),
            ("client.id", client_id.as_str()),
        ])
        .map(runnel_consumer::ConsumerBuilder::build);
    let Ok(built) = built else { return };
    let Ok(mut consumer) = built.await else {
        return;
    };
    if consumer.subscribe(&[TOPIC]).is_err() {
        return;
    }
    while !stopping.load(std::sync::atomic::Ordering::Acquire) {
        let Ok(records) = consumer.poll(Duration::from_millis(50)).await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        {
            let mut delivered = log
                .delivered
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for r in &records {
                if let Ok(o) = u64::try_from(r.offset) {
                    delivered.entry(r.partition).or_default().insert(o);
                }
            }
        }
        log.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1 += records.len() as u64;
        if consumer.commit().await.is_ok() {
            let mut committed = log
                .committed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for tp in consumer.assignment() {
                if let Some(pos) = consumer.position(&tp.topic, tp.partition) {
                    let slot = committed.entry(tp.partition).or_insert(pos);
                    *slot = (*slot).max(pos);
                }
            }
            log.counts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0 += 1;
        }
    }
    consumer.close().await;
}

/// What the `read_unflushed` reader saw: the record at each (partition,
/// offset), and offsets that showed two different records.
#[derive(Debug, Clone, Default)]
struct UnflushedLog {
    seen: Arc<Mutex<HashMap<(u32, u64), String>>>,
    changed: Arc<Mutex<Vec<String>>>,
}

/// Follows every partition from the start at `read_unflushed` (outside
/// the group), recording each record seen; errors (the broker is being
/// killed) are retried.
async fn watch_unflushed(
    bootstrap: String,
    partitions: u32,
    stopping: Arc<std::sync::atomic::AtomicBool>,
    log: UnflushedLog,
) {
    let built = runnel_consumer::Consumer::builder()
        .bootstrap(bootstrap)
        .set_all([
            ("isolation.level", "read_unflushed"),
            ("auto.offset.reset", "earliest"),
            ("fetch.max.wait.ms", "50"),
            ("client.id", "torture-unflushed"),
        ])
        .map(runnel_consumer::ConsumerBuilder::build);
    let Ok(built) = built else { return };
    let Ok(mut consumer) = built.await else {
        return;
    };
    let all: Vec<u32> = (0..partitions).collect();
    while consumer.assign(TOPIC, &all).await.is_err() {
        if stopping.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    while !stopping.load(std::sync::atomic::Ordering::Acquire) {
        let Ok(records) = consumer.poll(Duration::from_millis(50)).await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let mut seen = log
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for r in &records {
            let Ok(offset) = u64::try_from(r.offset) else {
                continue;
            };
            let value =
                String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned();
            if let Some(before) = seen.insert((r.partition, offset), value.clone())
                && before != value
            {
                log.changed
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(format!(
                        "partition {} offset {offset}: read {before} unflushed, later {value}",
                        r.partition
                    ));
            }
        }
    }
    consumer.close().await;
}

/// Checks that every record the `read_unflushed` reader saw is in the
/// final log where it was seen.
fn check_unflushed(
    log: &UnflushedLog,
    stored: &[BTreeMap<u64, String>],
    report: &mut TortureReport,
) {
    let seen = log
        .seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    report.unflushed_seen = seen.len() as u64;
    for (&(partition, offset), value) in seen.iter() {
        let now = usize::try_from(partition)
            .ok()
            .and_then(|p| stored.get(p))
            .and_then(|records| records.get(&offset));
        if now != Some(value) {
            report.unflushed_lost += 1;
            report.violation(format!(
                "partition {partition} offset {offset}: read {value} unflushed, {now:?} at the end"
            ));
        }
    }
    for change in log
        .changed
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
    {
        report.unflushed_lost += 1;
        report.violation(change.clone());
    }
}

/// Checks the group's final committed offsets against what was
/// acknowledged and delivered.
async fn check_group(
    client: &Client,
    log: &GroupLog,
    report: &mut TortureReport,
) -> anyhow::Result<()> {
    use runnel_protocol::api::offset_fetch::OffsetFetchRequest;
    let response = client
        .call(&OffsetFetchRequest {
            group_id: GROUP.to_owned(),
            member_id: String::new(),
            member_epoch: -1,
            topics: None,
        })
        .await?;
    let mut final_committed: HashMap<u32, i64> = HashMap::new();
    for t in &response.topics {
        for p in &t.partitions {
            final_committed.insert(p.partition.0, p.committed_offset);
        }
    }
    let (commits, consumed) = *log
        .counts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    report.commits = commits;
    report.consumed = consumed;
    let acked = log
        .committed
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    for (partition, offset) in &acked {
        let now = final_committed.get(partition).copied().unwrap_or(-1);
        if now < *offset {
            report.lost_commits += 1;
            report.violation(format!(
                "partition {partition}: commit {offset} acknowledged, {now} committed at the end"
            ));
        }
    }
    let delivered = log
        .delivered
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (partition, committed) in &final_committed {
        let seen = delivered.get(partition);
        let end = u64::try_from(*committed).unwrap_or(0);
        let missing = (0..end)
            .filter(|o| !seen.is_some_and(|s| s.contains(o)))
            .count() as u64;
        if missing > 0 {
            report.undelivered += missing;
            report.violation(format!("partition {partition}: {missing} offsets below committed {committed} never delivered"));
        }
    }
    Ok(())
}

/// Every record of every partition: partition → (offset → value).
async fn read_all(client: &Client, partitions: u32) -> anyhow::Result<Vec<BTreeMap<u64, String>>> {
    let mut out = Vec::new();
    for partition in 0..partitions {
        let mut records = BTreeMap::new();
        let mut offset = 0i64;
        loop {
            let response = client
                .call(&FetchRequest {
                    max_wait_ms: 0,
                    min_bytes: 0,
                    max_bytes: 8 << 20,
                    isolation_level: IsolationLevel::default(),
                    topics: vec![FetchTopic {
                        name: TOPIC.to_owned(),
                        partitions: vec![FetchPartition {
                            partition: PartitionId(partition),
                            fetch_offset: offset,
                            partition_max_bytes: 8 << 20,
                        }],
                    }],
                })
                .await?;
            let p = &response.topics[0].partitions[0];
            if p.error_code != ErrorCode::None {
                bail!(
                    "fetch {partition}@{offset}: {} {:?}",
                    p.error_code,
                    p.error_message
                );
            }
            if p.records.is_empty() {
                break;
            }
            for batch in Batches::new(p.records.clone()) {
                for record in batch?.records()? {
                    let record = record?;
                    let value =
                        String::from_utf8_lossy(record.value.as_deref().unwrap_or_default())
                            .into_owned();
                    let o = u64::try_from(record.offset)?;
                    records.insert(o, value);
                    offset = record.offset + 1;
                }
            }
        }
        out.push(records);
    }
    Ok(out)
}

/// Checks the log against the acknowledgements.
pub fn check<S: std::hash::BuildHasher>(
    acks: &HashMap<(u32, u64), Ack, S>,
    log: &[BTreeMap<u64, String>],
    strict_order: bool,
) -> TortureReport {
    let mut report = TortureReport {
        acknowledged: acks.len() as u64,
        ..TortureReport::default()
    };
    let mut seen: HashMap<(u32, u64), (u32, u64)> = HashMap::new();
    for (partition, records) in log.iter().enumerate() {
        let partition = u32::try_from(partition).unwrap_or(u32::MAX);
        let mut expected_offset = 0;
        let mut last_n: HashMap<u32, u64> = HashMap::new();
        for (&offset, value) in records {
            report.stored += 1;
            if offset != expected_offset {
                report.violation(format!(
                    "partition {partition}: offset {offset} follows {expected_offset}"
                ));
            }
            expected_offset = offset + 1;
            let Some((p, n)) = parse(value) else {
                report.violation(format!(
                    "partition {partition} offset {offset}: foreign value {value:?}"
                ));
                continue;
            };
            match seen.entry((p, n)) {
                std::collections::hash_map::Entry::Occupied(first) => {
                    report.duplicated += 1;
                    let first = *first.get();
                    report.violation(format!(
                        "{value} stored twice: {first:?} and ({partition}, {offset})"
                    ));
                }
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert((partition, offset));
                }
            }
            if let Some(&prev) = last_n.get(&p)
                && n <= prev
                && strict_order
            {
                report.reordered += 1;
                report.violation(format!(
                    "partition {partition}: {value} at {offset} after p{p}-{prev}"
                ));
            }
            last_n.insert(p, n);
        }
    }
    for (&(p, n), &(partition, offset)) in acks {
        match seen.get(&(p, n)) {
            None => {
                report.lost += 1;
                report.violation(format!(
                    "p{p}-{n} acknowledged at ({partition}, {offset}) but missing"
                ));
            }
            Some(&at) if at != (partition, offset) => {
                report.misplaced += 1;
                report.violation(format!(
                    "p{p}-{n} acknowledged at ({partition}, {offset}) but stored at {at:?}"
                ));
            }
            Some(_) => {}
        }
    }
    report
}

fn parse(value: &str) -> Option<(u32, u64)> {
    let (p, n) = value.strip_prefix('p')?.split_once('-')?;
    Some((p.parse().ok()?, n.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checker_finds_loss_duplication_reordering_and_misplacement() {
        let mut acks = HashMap::new();
        acks.insert((0, 0), (0, 0));
        acks.insert((0, 1), (0, 1));
        acks.insert((0, 2), (0, 2));
        acks.insert((1, 0), (0, 3));
        let mut log = vec![BTreeMap::new()];
        log[0].insert(0, "p0-0".to_owned());
        log[0].insert(1, "p0-2".to_owned());
        log[0].insert(2, "p0-1".to_owned());
        log[0].insert(3, "p0-0".to_owned());
        let r = check(&acks, &log, true);
        assert_eq!(r.lost, 1, "p1-0 is missing");
        assert_eq!(r.duplicated, 1);
        assert!(r.reordered >= 1);
        assert_eq!(r.misplaced, 2, "p0-1 and p0-2 swapped");
        assert!(!r.is_clean());
    }

    #[test]
    fn unflushed_reads_taken_back_or_replaced_are_found() {
        let log = UnflushedLog::default();
        {
            let mut seen = log.seen.lock().unwrap();
            seen.insert((0, 0), "p0-0".to_owned());
            seen.insert((0, 1), "p0-1".to_owned());
            seen.insert((1, 0), "p1-0".to_owned());
        }
        log.changed
            .lock()
            .unwrap()
            .push("partition 1 offset 0: read p1-9 unflushed, later p1-0".to_owned());
        let stored = vec![
            BTreeMap::from([(0, "p0-0".to_owned())]),
            BTreeMap::from([(0, "p1-0".to_owned())]),
        ];
        let mut report = TortureReport::default();
        check_unflushed(&log, &stored, &mut report);
        assert_eq!(report.unflushed_seen, 3);
        assert_eq!(report.unflushed_lost, 2, "{:?}", report.violations);
        assert!(!report.is_clean());
    }

    #[test]
    fn a_faithful_log_is_clean() {
        let mut acks = HashMap::new();
        let mut log = vec![BTreeMap::new()];
        for n in 0..10 {
            acks.insert((0, n), (0, n));
            log[0].insert(n, format!("p0-{n}"));
        }
        assert!(check(&acks, &log, true).is_clean());
    }
}
