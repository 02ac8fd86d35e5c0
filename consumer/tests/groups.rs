//! Consumer groups end to end against the real broker: members sharing a
//! topic's partitions with no loss and no partition owned twice, members
//! whose partitions stay put reading on through a rebalance, a killed
//! member's partitions resumed from its committed offsets, fencing of
//! stale commits, committed offsets across broker restarts.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Board, Commits, Member, create_topic, fast_group_broker};
use runnel_client::{Client, ClientConfig};
use runnel_consumer::Consumer;
use runnel_producer::{Producer, ProducerRecord};
use runnel_protocol::ErrorCode;
use runnel_protocol::PartitionId;
use runnel_protocol::api::consumer_group_heartbeat::{ConsumerGroupHeartbeatRequest, JOIN_EPOCH};
use runnel_protocol::api::offset_commit::{
    NO_MEMBER_EPOCH, OffsetCommitPartition, OffsetCommitRequest, OffsetCommitTopic,
};
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(8);

/// Produces to every partition of `topic` until `stop`, `per_tick` records
/// per partition every 5 ms (at most 20 s); resolves to each partition's
/// end offset once everything is acknowledged.
fn produce_until(
    bootstrap: String,
    topic: &'static str,
    partitions: u32,
    stop: Arc<AtomicBool>,
) -> JoinHandle<BTreeMap<u32, i64>> {
    tokio::spawn(async move {
        let producer = Producer::builder()
            .bootstrap(bootstrap)
            .set("linger.ms", "1")
            .unwrap()
            .build()
            .await
            .unwrap();
        let mut deliveries = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        for i in 0..4_000u32 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            tick.tick().await;
            for p in 0..partitions {
                let record = ProducerRecord::new(topic, i.to_string()).partition(p);
                deliveries.push(producer.enqueue(record).await.unwrap());
            }
        }
        let mut ends = BTreeMap::new();
        for delivery in deliveries {
            let meta = delivery.await.unwrap();
            let end = ends.entry(meta.partition).or_insert(0);
            *end = (*end).max(meta.offset.unwrap() + 1);
        }
        producer.close().await;
        ends
    })
}

/// Produces `per_partition` records to each partition of `topic`.
async fn produce(bootstrap: &str, topic: &'static str, partitions: u32, per_partition: u32) {
    let producer = Producer::builder()
        .bootstrap(bootstrap)
        .build()
        .await
        .unwrap();
    let mut deliveries = Vec::new();
    for i in 0..per_partition {
        for p in 0..partitions {
            let record = ProducerRecord::new(topic, i.to_string()).partition(p);
            deliveries.push(producer.enqueue(record).await.unwrap());
        }
    }
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    producer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_then_three_members_share_six_partitions_without_loss_or_overlap() {
    let broker = fast_group_broker();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "events", 6).await;
    let board = Board::new();
    let stop = Arc::new(AtomicBool::new(false));
    let producing = produce_until(bootstrap.clone(), "events", 6, Arc::clone(&stop));

    let settings = [("max.poll.records", "20")];
    let a = Member::start(
        0,
        &bootstrap,
        "g",
        "events",
        &settings,
        Commits::Auto,
        &board,
    )
    .await;
    let b = Member::start(
        1,
        &bootstrap,
        "g",
        "events",
        &settings,
        Commits::Auto,
        &board,
    )
    .await;
    board
        .wait_until("two members with 3 partitions each", WAIT, |s| {
            s.balanced(6, &[0, 1]) && s.received.iter().any(|r| r.member == 1)
        })
        .await;

    let joined = std::time::Instant::now();
    let c = Member::start(
        2,
        &bootstrap,
        "g",
        "events",
        &settings,
        Commits::Auto,
        &board,
    )
    .await;
    let settled = board
        .wait_until("three members with 2 partitions each", WAIT, |s| {
            s.balanced(6, &[0, 1, 2])
        })
        .await;
    let (kept_reads, rebalance) = {
        let state = board.state();
        let kept = state
            .received
            .iter()
            .filter(|r| r.member != 2 && r.at >= joined && r.at <= settled)
            .filter(|r| state.owners.get(&r.partition) == Some(&r.member))
            .count();
        (kept, settled - joined)
    };
    assert!(
        kept_reads > 0,
        "members whose partitions stayed received nothing during the {rebalance:?} rebalance"
    );

    stop.store(true, Ordering::Relaxed);
    let ends = producing.await.unwrap();
    assert_eq!(ends.len(), 6);
    board
        .wait_until("every produced record", WAIT, |s| s.has_everything(&ends))
        .await;
    for member in [a, b, c] {
        member.close().await;
    }
    let state = board.state();
    assert!(state.violations.is_empty(), "{:#?}", state.violations);
    assert!(state.errors.is_empty(), "{:#?}", state.errors);
    assert!(state.owners.is_empty(), "closing members revoke everything");
    for (p, end) in &ends {
        let seen = &state.seen[p];
        assert_eq!(seen.first(), Some(&0));
        assert_eq!(seen.last(), Some(&(end - 1)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_member_loses_its_partitions_after_the_session_timeout_and_its_work_resumes() {
    let broker = fast_group_broker();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "jobs", 6).await;
    produce(&bootstrap, "jobs", 6, 50).await;
    let board = Board::new();
    let settings = [("session.timeout.ms", "1000"), ("max.poll.records", "10")];
    let a = Member::start(
        0,
        &bootstrap,
        "g",
        "jobs",
        &settings,
        Commits::EveryPoll,
        &board,
    )
    .await;
    let b = Member::start(
        1,
        &bootstrap,
        "g",
        "jobs",
        &settings,
        Commits::EveryPoll,
        &board,
    )
    .await;
    board
        .wait_until("both members hold partitions", WAIT, |s| {
            s.balanced(6, &[0, 1])
        })
        .await;
    // The first member may have read every record before the second joined:
    // more records give each member something to read and commit.
    produce(&bootstrap, "jobs", 6, 50).await;
    board
        .wait_until("both members committed", WAIT, |s| {
            s.committed.keys().any(|(m, _)| *m == 0) && s.committed.keys().any(|(m, _)| *m == 1)
        })
        .await;
    let a_partitions = board.state().owned_by(0);
    a.kill(&board).await;
    let killed = std::time::Instant::now();
    produce(&bootstrap, "jobs", 6, 50).await;
    let ends: BTreeMap<u32, i64> = (0..6).map(|p| (p, 150)).collect();

    let taken_over = board
        .wait_until("the survivor owns every partition", WAIT, |s| {
            s.owned_by(1).len() == 6
        })
        .await;
    assert!(
        taken_over - killed >= Duration::from_millis(700),
        "partitions moved {:?} after the kill, before the 1 s session could expire",
        taken_over - killed
    );
    board
        .wait_until("every produced record", WAIT, |s| s.has_everything(&ends))
        .await;
    b.close().await;

    let state = board.state();
    assert!(state.violations.is_empty(), "{:#?}", state.violations);
    assert!(state.errors.is_empty(), "{:#?}", state.errors);
    for p in a_partitions {
        let committed_by_a = state.committed.get(&(0, p)).copied().unwrap_or(0);
        let read_by_a = state
            .received
            .iter()
            .filter(|r| r.member == 0 && r.partition == p)
            .map(|r| r.offset + 1)
            .max()
            .unwrap_or(0);
        let resumed_at = state
            .received
            .iter()
            .find(|r| r.member == 1 && r.partition == p)
            .map_or_else(|| panic!("partition {p} was never resumed"), |r| r.offset);
        assert!(
            committed_by_a <= resumed_at && resumed_at <= read_by_a,
            "partition {p}: resumed at {resumed_at}, A committed {committed_by_a} and read up to {read_by_a}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_from_fenced_or_unknown_members_are_rejected() {
    let broker = fast_group_broker();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "t", 2).await;
    let client = Client::connect(ClientConfig::new(&bootstrap))
        .await
        .unwrap();
    let joined = client
        .call(&ConsumerGroupHeartbeatRequest {
            group_id: "g".into(),
            member_epoch: JOIN_EPOCH,
            rebalance_timeout_ms: 30_000,
            subscribed_topic_names: Some(vec!["t".into()]),
            ..ConsumerGroupHeartbeatRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(joined.error_code, ErrorCode::None);
    let commit = |member_id: &str, member_epoch: i32| OffsetCommitRequest {
        group_id: "g".into(),
        member_id: member_id.to_owned(),
        member_epoch,
        topics: vec![OffsetCommitTopic {
            name: "t".into(),
            partitions: vec![OffsetCommitPartition {
                partition: PartitionId(0),
                committed_offset: 7,
                committed_metadata: None,
            }],
        }],
    };
    let code = |answer: runnel_protocol::api::offset_commit::OffsetCommitResponse| {
        answer.topics[0].partitions[0].error_code
    };
    let id = joined.member_id.as_str();
    let epoch = joined.member_epoch;
    assert_eq!(
        code(client.call(&commit(id, epoch)).await.unwrap()),
        ErrorCode::None
    );
    assert_eq!(
        code(client.call(&commit(id, epoch + 1)).await.unwrap()),
        ErrorCode::FencedMemberEpoch
    );
    assert_eq!(
        code(client.call(&commit("not-a-member", epoch)).await.unwrap()),
        ErrorCode::UnknownMemberId
    );
    assert_ne!(
        code(client.call(&commit("", NO_MEMBER_EPOCH)).await.unwrap()),
        ErrorCode::None,
        "an outsider may not commit while the group has members"
    );
    client.close();
}

/// Reads `n` records of group `g` on the one partition of `t` with a
/// fresh member, commits, leaves, and returns the first offset read and the
/// committed position.
async fn read_and_commit(bootstrap: &str, n: usize) -> (i64, i64) {
    let mut consumer = Consumer::builder()
        .bootstrap(bootstrap)
        .set_all([
            ("group.id", "g"),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
            ("max.poll.records", "5"),
            ("session.timeout.ms", "1000"),
        ])
        .unwrap()
        .build()
        .await
        .unwrap();
    consumer.subscribe(&["t"]).unwrap();
    let mut offsets = Vec::new();
    while offsets.len() < n {
        let records = consumer.poll(Duration::from_secs(5)).await.unwrap();
        offsets.extend(records.iter().map(|r| r.offset));
    }
    // Give back what was read past `n`: the next member starts right after
    // the n-th record.
    let first = offsets[0];
    consumer
        .seek(
            "t",
            0,
            runnel_consumer::SeekTo::Offset(first + i64::try_from(n).unwrap()),
        )
        .await
        .unwrap();
    consumer.commit().await.unwrap();
    let position = consumer.position("t", 0).unwrap();
    consumer.close().await;
    (first, position)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_graceful_and_kill_9_restarts() {
    let broker = fast_group_broker();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "t", 1).await;
    produce(&bootstrap, "t", 1, 100).await;

    assert_eq!(read_and_commit(&bootstrap, 30).await, (0, 30));
    let broker = broker.restart(true);
    assert_eq!(
        read_and_commit(&broker.bootstrap(), 30).await,
        (30, 60),
        "after a SIGTERM restart the group resumes at its commit"
    );
    let broker = broker.restart(false);
    assert_eq!(
        read_and_commit(&broker.bootstrap(), 30).await,
        (60, 90),
        "after a SIGKILL restart the group resumes at its commit"
    );
    drop(broker);
}
