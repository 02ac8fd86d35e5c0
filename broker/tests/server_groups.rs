//! Black-box tests of the consumer group APIs against the real broker
//! binary: membership and assignment over the wire, commits and their
//! fencing, durability across a graceful restart and a kill -9, group
//! deletion and the lag figures of DescribeGroups.

#![allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Broker, Conn, batch};
use runnel_protocol::api::consumer_group_heartbeat::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, TopicPartitions,
};
use runnel_protocol::api::delete_groups::DeleteGroupsRequest;
use runnel_protocol::api::describe_groups::{DescribeGroupsRequest, DescribedGroup};
use runnel_protocol::api::find_coordinator::{CoordinatorKeyType, FindCoordinatorRequest};
use runnel_protocol::api::list_groups::ListGroupsRequest;
use runnel_protocol::api::offset_commit::{
    OffsetCommitPartition, OffsetCommitRequest, OffsetCommitTopic,
};
use runnel_protocol::api::offset_fetch::{OffsetFetchRequest, OffsetFetchTopic};
use runnel_protocol::api::produce::Acks;
use runnel_protocol::{ErrorCode, NodeId, PartitionId};

/// A member as a consumer would keep it: id, epoch, owned partitions.
struct Member {
    conn: Conn,
    group: String,
    id: String,
    epoch: i32,
    owned: Vec<TopicPartitions>,
}

impl Member {
    fn join(broker: &Broker, group: &str, topics: &[&str]) -> Member {
        let mut m = Member {
            conn: broker.connect(),
            group: group.to_owned(),
            id: String::new(),
            epoch: 0,
            owned: Vec::new(),
        };
        let r = m.send(&ConsumerGroupHeartbeatRequest {
            subscribed_topic_names: Some(topics.iter().map(|t| (*t).to_owned()).collect()),
            owned_partitions: Some(Vec::new()),
            ..m.request()
        });
        assert_eq!(r.error_code, ErrorCode::None, "{r:?}");
        assert!(!m.id.is_empty());
        m
    }

    fn request(&self) -> ConsumerGroupHeartbeatRequest {
        ConsumerGroupHeartbeatRequest {
            group_id: self.group.clone(),
            member_id: self.id.clone(),
            member_epoch: self.epoch,
            ..ConsumerGroupHeartbeatRequest::default()
        }
    }

    /// Sends a heartbeat and, like a consumer, adopts what it is told.
    fn send(&mut self, req: &ConsumerGroupHeartbeatRequest) -> ConsumerGroupHeartbeatResponse {
        let r = self.conn.call(req);
        if r.error_code == ErrorCode::None {
            self.id.clone_from(&r.member_id);
            self.epoch = r.member_epoch;
            if let Some(a) = &r.assignment {
                self.owned.clone_from(a);
            }
        }
        r
    }

    /// A regular heartbeat reporting what the member owns.
    fn heartbeat(&mut self) -> ConsumerGroupHeartbeatResponse {
        let req = ConsumerGroupHeartbeatRequest {
            owned_partitions: Some(self.owned.clone()),
            ..self.request()
        };
        self.send(&req)
    }

    fn partitions(&self) -> BTreeSet<u32> {
        self.owned
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.0))
            .collect()
    }

    fn commit(&mut self, offsets: &[(u32, i64)], epoch: i32) -> Vec<ErrorCode> {
        let req = commit_request(&self.group, &self.id, epoch, "t", offsets);
        let r = self.conn.call(&req);
        r.topics[0]
            .partitions
            .iter()
            .map(|p| p.error_code)
            .collect()
    }
}

fn commit_request(
    group: &str,
    member: &str,
    epoch: i32,
    topic: &str,
    offsets: &[(u32, i64)],
) -> OffsetCommitRequest {
    OffsetCommitRequest {
        group_id: group.to_owned(),
        member_id: member.to_owned(),
        member_epoch: epoch,
        topics: vec![OffsetCommitTopic {
            name: topic.to_owned(),
            partitions: offsets
                .iter()
                .map(|(p, o)| OffsetCommitPartition {
                    partition: PartitionId(*p),
                    committed_offset: *o,
                    committed_metadata: Some(format!("at {o}")),
                })
                .collect(),
        }],
    }
}

/// Committed offsets of `partitions` of topic `t`, read from outside.
fn fetch(conn: &mut Conn, group: &str, partitions: &[u32]) -> Vec<(i64, Option<String>)> {
    let r = conn.call(&OffsetFetchRequest {
        group_id: group.to_owned(),
        member_id: String::new(),
        member_epoch: -1,
        topics: Some(vec![OffsetFetchTopic {
            name: "t".into(),
            partitions: partitions.iter().copied().map(PartitionId).collect(),
        }]),
    });
    assert_eq!(r.error_code, ErrorCode::None);
    r.topics[0]
        .partitions
        .iter()
        .map(|p| (p.committed_offset, p.committed_metadata.clone()))
        .collect()
}

fn describe(conn: &mut Conn, group: &str) -> DescribedGroup {
    conn.call(&DescribeGroupsRequest {
        group_ids: vec![group.to_owned()],
    })
    .groups
    .remove(0)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn find_coordinator_names_this_broker() {
    let broker = Broker::start();
    let r = broker.connect().call(&FindCoordinatorRequest {
        key_type: CoordinatorKeyType::Group,
        keys: vec!["billing".into(), String::new()],
    });
    assert_eq!(r.coordinators[0].error_code, ErrorCode::None);
    assert_eq!(r.coordinators[0].node_id, NodeId::new(0));
    assert_eq!(r.coordinators[0].port, broker.addr.port());
    assert_eq!(r.coordinators[0].host, broker.addr.ip().to_string());
    assert_eq!(r.coordinators[1].error_code, ErrorCode::InvalidGroupId);
}

#[test]
fn members_share_partitions_without_two_owners() {
    let broker = Broker::start();
    let mut admin = broker.connect();
    admin.create_topic("t", 6, &[]);
    let mut a = Member::join(&broker, "g", &["t"]);
    assert_eq!(a.partitions(), (0..6).collect());
    let mut b = Member::join(&broker, "g", &["t"]);
    assert!(b.partitions().is_empty(), "B gets nothing A still owns");

    // A is told to give up half; B still waits while A reports owning them.
    let revoke = a.heartbeat();
    assert_eq!(revoke.member_epoch, 1, "the epoch waits for the revocation");
    assert_eq!(a.partitions().len(), 3);
    let still = ConsumerGroupHeartbeatRequest {
        owned_partitions: Some(vec![TopicPartitions {
            topic: "t".into(),
            partitions: (0..6).map(PartitionId).collect(),
        }]),
        ..a.request()
    };
    a.conn.call(&still);
    b.heartbeat();
    assert!(b.partitions().is_empty());

    // A confirms; then B gets the rest.
    assert_eq!(a.heartbeat().member_epoch, 2);
    b.heartbeat();
    assert_eq!(b.partitions().len(), 3);
    assert!(a.partitions().is_disjoint(&b.partitions()));
    let all: BTreeSet<u32> = a.partitions().union(&b.partitions()).copied().collect();
    assert_eq!(all, (0..6).collect());

    let g = describe(&mut admin, "g");
    assert_eq!(g.group_state, "Stable");
    assert_eq!(g.group_epoch, 2);
    assert_eq!(g.assignor_name, "sticky");
    assert_eq!(g.members.len(), 2);
    for m in &g.members {
        assert_eq!(m.client_id, "test");
        assert_eq!(m.client_host, "127.0.0.1");
        assert_eq!(m.member_state, "stable");
    }
    let listed = admin.call(&ListGroupsRequest::default());
    assert_eq!(listed.groups.len(), 1);
    assert_eq!(listed.groups[0].member_count, 2);

    // A leaves: B gets everything on its next heartbeat.
    let left = a.send(&ConsumerGroupHeartbeatRequest {
        member_epoch: -1,
        ..a.request()
    });
    assert_eq!(left.member_epoch, -1);
    b.heartbeat();
    assert_eq!(b.partitions(), (0..6).collect());
}

#[test]
fn commits_are_fenced_by_member_and_epoch() {
    let broker = Broker::start();
    let mut admin = broker.connect();
    admin.create_topic("t", 2, &[]);
    let mut a = Member::join(&broker, "g", &["t"]);
    assert_eq!(a.commit(&[(0, 5)], a.epoch), [ErrorCode::None]);
    let mut b = Member::join(&broker, "g", &["t"]);
    a.heartbeat();
    a.heartbeat();
    assert_eq!(a.epoch, 2);
    assert_eq!(a.commit(&[(0, 6)], 1), [ErrorCode::StaleMemberEpoch]);
    assert_eq!(a.commit(&[(0, 6)], 3), [ErrorCode::FencedMemberEpoch]);
    assert_eq!(a.commit(&[(0, 7)], 2), [ErrorCode::None]);
    let r = admin.call(&commit_request("g", "nobody", 2, "t", &[(0, 1)]));
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ErrorCode::UnknownMemberId
    );
    let r = admin.call(&commit_request("g", "", -1, "t", &[(0, 1)]));
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ErrorCode::UnknownMemberId,
        "outsiders may not commit while the group has members"
    );
    assert_eq!(
        b.commit(&[(1, 3), (9, 1)], b.epoch),
        [ErrorCode::None, ErrorCode::UnknownTopicOrPartition]
    );
    assert_eq!(
        fetch(&mut admin, "g", &[0, 1]),
        [(7, Some("at 7".into())), (3, Some("at 3".into()))]
    );
    // Reading as a member is fenced too.
    let r = admin.call(&OffsetFetchRequest {
        group_id: "g".into(),
        member_id: a.id.clone(),
        member_epoch: 1,
        topics: None,
    });
    assert_eq!(r.error_code, ErrorCode::StaleMemberEpoch);
}

#[test]
fn offsets_and_members_survive_a_graceful_restart_and_a_kill() {
    let broker = Broker::start();
    let mut admin = broker.connect();
    admin.create_topic("t", 2, &[]);
    let mut a = Member::join(&broker, "g", &["t"]);
    assert_eq!(a.commit(&[(0, 10), (1, 20)], a.epoch), [ErrorCode::None; 2]);
    drop(admin);
    let (id, epoch, owned) = (a.id.clone(), a.epoch, a.owned.clone());
    drop(a);

    let broker = broker.restart(true);
    let mut admin = broker.connect();
    assert_eq!(
        fetch(&mut admin, "g", &[0, 1]),
        [(10, Some("at 10".into())), (20, Some("at 20".into()))]
    );
    // The member is still known, with its epoch and assignment.
    let mut a = Member {
        conn: broker.connect(),
        group: "g".into(),
        id,
        epoch,
        owned,
    };
    let r = a.heartbeat();
    assert_eq!(r.error_code, ErrorCode::None, "{r:?}");
    assert_eq!(r.member_epoch, epoch);
    assert_eq!(a.partitions(), [0, 1].into());
    // Many commits, each acknowledged, then SIGKILL: every one survives.
    for i in 0..50 {
        assert_eq!(a.commit(&[(0, 100 + i)], a.epoch), [ErrorCode::None]);
    }
    drop(admin);
    drop(a);

    let broker = broker.restart(false);
    let mut admin = broker.connect();
    assert_eq!(
        fetch(&mut admin, "g", &[0, 1]),
        [(149, Some("at 149".into())), (20, Some("at 20".into()))]
    );
    let g = describe(&mut admin, "g");
    assert_eq!(g.members.len(), 1);
    assert_eq!(g.group_epoch, 1);
}

#[test]
fn deleting_a_group_with_members_is_refused() {
    let broker = Broker::start();
    let mut admin = broker.connect();
    admin.create_topic("t", 1, &[]);
    let mut a = Member::join(&broker, "g", &["t"]);
    a.commit(&[(0, 1)], a.epoch);
    let delete = |conn: &mut Conn| {
        conn.call(&DeleteGroupsRequest {
            group_ids: vec!["g".into()],
        })
        .results
        .remove(0)
        .error_code
    };
    assert_eq!(delete(&mut admin), ErrorCode::NonEmptyGroup);
    a.send(&ConsumerGroupHeartbeatRequest {
        member_epoch: -1,
        ..a.request()
    });
    let g = describe(&mut admin, "g");
    assert_eq!(g.group_state, "Empty");
    assert_eq!(delete(&mut admin), ErrorCode::None);
    assert_eq!(
        describe(&mut admin, "g").error_code,
        ErrorCode::GroupIdNotFound
    );
    assert_eq!(fetch(&mut admin, "g", &[0]), [(-1, None)]);
    assert_eq!(delete(&mut admin), ErrorCode::GroupIdNotFound);
    assert!(admin.call(&ListGroupsRequest::default()).groups.is_empty());
}

#[test]
fn describe_reports_lag_in_records_and_time() {
    let broker = Broker::start();
    let mut admin = broker.connect();
    admin.create_topic("t", 2, &[]);
    let old = now_ms() - 60_000;
    admin.produce("t", 0, batch(old, &["a", "b", "c"]), Acks::All);
    admin.produce("t", 0, batch(now_ms(), &["d", "e"]), Acks::All);
    let r = admin.call(&commit_request("g", "", -1, "t", &[(0, 1), (1, 0)]));
    assert!(
        r.topics[0]
            .partitions
            .iter()
            .all(|p| p.error_code == ErrorCode::None)
    );
    let before = now_ms();
    let g = describe(&mut admin, "g");
    let after = now_ms();
    assert_eq!(g.error_code, ErrorCode::None);
    assert_eq!(g.group_state, "Empty");
    let parts = &g.offsets[0].partitions;
    assert_eq!(g.offsets[0].topic, "t");
    let p0 = &parts[0];
    assert_eq!((p0.committed_offset, p0.log_end_offset, p0.lag), (1, 5, 4));
    // The first unconsumed record is offset 1, stamped old + 1.
    let age = p0.time_lag_ms;
    assert!(
        age >= before - (old + 1) && age <= after - (old + 1),
        "time lag {age}"
    );
    let p1 = &parts[1];
    assert_eq!((p1.log_end_offset, p1.lag, p1.time_lag_ms), (0, 0, 0));

    // Caught up: no lag.
    admin.call(&commit_request("g", "", -1, "t", &[(0, 5)]));
    let g = describe(&mut admin, "g");
    let p0 = &g.offsets[0].partitions[0];
    assert_eq!((p0.lag, p0.time_lag_ms), (0, 0));
}

#[test]
fn silent_members_expire_and_their_partitions_move() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Broker::start_with_env(
        tmp.path(),
        &[],
        &[
            ("RUNNEL_GROUP_MIN_SESSION_TIMEOUT_MS", "500"),
            ("RUNNEL_GROUP_HEARTBEAT_INTERVAL_MS", "100"),
        ],
    );
    broker.connect().create_topic("t", 4, &[]);
    let mut a = Member::join(&broker, "g", &["t"]);
    let set_session = ConsumerGroupHeartbeatRequest {
        session_timeout_ms: 500,
        owned_partitions: Some(a.owned.clone()),
        ..a.request()
    };
    assert_eq!(a.send(&set_session).error_code, ErrorCode::None);
    let mut b = Member::join(&broker, "g", &["t"]);
    // A goes silent; B keeps heartbeating until it owns everything.
    let deadline = Instant::now() + Duration::from_secs(20);
    while b.partitions().len() < 4 {
        assert!(Instant::now() < deadline, "A never expired");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(b.heartbeat().error_code, ErrorCode::None);
    }
    broker.wait_for_log("removed group member");
    let r = a.heartbeat();
    assert_eq!(r.error_code, ErrorCode::UnknownMemberId);
    assert_eq!(a.commit(&[(0, 1)], a.epoch), [ErrorCode::UnknownMemberId]);
}
