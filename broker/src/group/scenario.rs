//! Scenario tests of the coordinator, as text files in `testdata/`, in the
//! style of raft-rs: each block is one or more commands, a `----` line, and
//! the output the commands must produce; blocks end at a blank line and
//! `#` lines are comments. Run with `RUNNEL_BLESS=1` to rewrite the
//! expected output after a deliberate change (then read the diff).
//!
//! Commands (the group is `g` unless `group=` says otherwise; members are
//! named, and a member's name is its id):
//!
//! ```text
//! topic NAME PARTITIONS                       create or resize a topic (0 deletes it)
//! join M topics=a,b [assignor=X] [session=MS] [rebalance=MS] [id=client] [group=G]
//! heartbeat M [owned=t:0,1;u:2|owned=-|owned=null] [epoch=N] [topics=..] [assignor=..] [session=MS] [lost]
//! leave M
//! advance MS                                  move the clock, run expiry
//! commit M t:0=10,1=20;u:0=5 [epoch=N]        commit as member M (M=- : from outside the group)
//! fetch [G]                                   every committed offset
//! describe [G]                                state, epochs, members
//! list                                        every group
//! delete [G]
//! restart                                     replay the log (and a snapshot) into a new coordinator
//! ```
//!
//! Members behave as a well-written consumer: a heartbeat reports as owned
//! what the member was last told to own, so it gives up revoked partitions
//! at once (unless `owned=` says otherwise); an error makes it drop
//! everything. `lost` drops the answer on its way to the member, whose view
//! then stays as it was. After every command the runner checks that no partition
//! has two owners — neither in the coordinator's state nor among the
//! members' own views — and that every epoch is consistent.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use runnel_protocol::api::consumer_group_heartbeat::{
    ConsumerGroupHeartbeatRequest, JOIN_EPOCH, LEAVE_EPOCH,
};
use runnel_protocol::api::delete_groups::DeleteGroupsRequest;
use runnel_protocol::api::describe_groups::DescribeGroupsRequest;
use runnel_protocol::api::list_groups::ListGroupsRequest;
use runnel_protocol::api::offset_commit::{
    OffsetCommitPartition, OffsetCommitRequest, OffsetCommitTopic,
};
use runnel_protocol::api::offset_fetch::OffsetFetchRequest;
use runnel_protocol::{ErrorCode, PartitionId};

use super::assignment::Assignment;
use super::coordinator::{Coordinator, CoordinatorConfig, MemberOrigin, Outcome};
use super::records::GroupRecord;
use super::state::{Group, Groups, MemberState};

/// What a member believes about itself.
#[derive(Debug, Clone, Default)]
struct Client {
    /// Its group.
    group: String,
    /// Its epoch, from the last answer.
    epoch: i32,
    /// What it owns, from the last assignment.
    owned: Assignment,
}

/// Drives a coordinator with commands.
#[derive(Debug)]
pub struct Runner {
    /// The coordinator under test.
    coordinator: Coordinator,
    /// Topics and partition counts.
    topics: BTreeMap<String, u32>,
    /// The clock.
    now: i64,
    /// Members by name.
    clients: BTreeMap<String, Client>,
    /// Every record completed so far, in order.
    log: Vec<GroupRecord>,
}

fn config() -> CoordinatorConfig {
    CoordinatorConfig {
        min_session_timeout_ms: 1_000,
        max_session_timeout_ms: 300_000,
        default_session_timeout_ms: 45_000,
        heartbeat_interval_ms: 3_000,
        default_rebalance_timeout_ms: 60_000,
        default_assignor: super::Assignor::Sticky,
    }
}

/// `t:0,1;u:2` (or `-` for none).
fn parse_assignment(s: &str) -> Result<Assignment, String> {
    let mut a = Assignment::new();
    if s == "-" {
        return Ok(a);
    }
    for part in s.split(';') {
        let (topic, ps) = part
            .split_once(':')
            .ok_or_else(|| format!("bad partitions {part:?}"))?;
        for p in ps.split(',') {
            let p: u32 = p.parse().map_err(|_| format!("bad partition {p:?}"))?;
            a.insert(topic, PartitionId(p));
        }
    }
    Ok(a)
}

/// `t:0=10,1=20;u:0=5`.
fn parse_offsets(s: &str) -> Result<Vec<OffsetCommitTopic>, String> {
    let mut out = Vec::new();
    for part in s.split(';') {
        let (topic, ps) = part
            .split_once(':')
            .ok_or_else(|| format!("bad offsets {part:?}"))?;
        let mut partitions = Vec::new();
        for item in ps.split(',') {
            let (p, o) = item
                .split_once('=')
                .ok_or_else(|| format!("bad offset {item:?}"))?;
            partitions.push(OffsetCommitPartition {
                partition: PartitionId(p.parse().map_err(|_| format!("bad partition {p:?}"))?),
                committed_offset: o.parse().map_err(|_| format!("bad offset {o:?}"))?,
                committed_metadata: None,
            });
        }
        out.push(OffsetCommitTopic {
            name: topic.to_owned(),
            partitions,
        });
    }
    Ok(out)
}

/// A command's words: positional arguments and `key=value` options.
struct Args<'a> {
    positional: Vec<&'a str>,
    options: BTreeMap<&'a str, &'a str>,
}

impl<'a> Args<'a> {
    fn parse(words: &[&'a str]) -> Self {
        let mut positional = Vec::new();
        let mut options = BTreeMap::new();
        for w in words {
            match w.split_once('=') {
                Some((k, v)) if !w.contains(':') || k.chars().all(char::is_alphabetic) => {
                    options.insert(k, v);
                }
                _ => positional.push(*w),
            }
        }
        Args {
            positional,
            options,
        }
    }

    fn pos(&self, i: usize, what: &str) -> Result<&'a str, String> {
        self.positional
            .get(i)
            .copied()
            .ok_or_else(|| format!("missing {what}"))
    }

    fn num<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, String> {
        self.options
            .get(key)
            .map(|v| v.parse().map_err(|_| format!("bad {key}={v}")))
            .transpose()
    }

    fn list(&self, key: &str) -> Option<Vec<String>> {
        self.options.get(key).map(|v| {
            if v.is_empty() {
                Vec::new()
            } else {
                v.split(',').map(str::to_owned).collect()
            }
        })
    }
}

impl Default for Runner {
    fn default() -> Self {
        Runner::new()
    }
}

impl Runner {
    /// A coordinator with no topics, groups or members, at a fixed time.
    pub fn new() -> Self {
        Runner {
            coordinator: Coordinator::new(config()),
            topics: BTreeMap::new(),
            now: 1_000_000,
            clients: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    fn complete<R>(&mut self, outcome: Outcome<R>) -> (R, usize) {
        let written = outcome.records.len();
        self.log.extend(outcome.records.iter().cloned());
        (self.coordinator.complete(outcome), written)
    }

    /// Runs one command line and returns its output lines.
    pub fn run(&mut self, line: &str) -> Result<Vec<String>, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((cmd, rest)) = words.split_first() else {
            return Ok(Vec::new());
        };
        let args = Args::parse(rest);
        let group = args.options.get("group").copied().unwrap_or("g").to_owned();
        let out = match *cmd {
            "topic" => {
                let name = args.pos(0, "topic name")?;
                let n: u32 = args
                    .pos(1, "partition count")?
                    .parse()
                    .map_err(|_| "bad partition count".to_owned())?;
                if n == 0 {
                    self.topics.remove(name);
                } else {
                    self.topics.insert(name.to_owned(), n);
                }
                vec!["ok".to_owned()]
            }
            "join" | "heartbeat" | "leave" => self.heartbeat(cmd, &args, &group)?,
            "advance" => self.advance(&args)?,
            "commit" => self.commit(&args, &group)?,
            "fetch" => {
                let g = args.positional.first().copied().unwrap_or(&group);
                vec![self.fetch(g)]
            }
            "describe" => {
                let g = args
                    .positional
                    .first()
                    .copied()
                    .unwrap_or(&group)
                    .to_owned();
                self.describe(&g)
            }
            "list" => {
                let groups = self
                    .coordinator
                    .list_groups(&ListGroupsRequest::default())
                    .groups;
                if groups.is_empty() {
                    vec!["no groups".to_owned()]
                } else {
                    groups
                        .iter()
                        .map(|g| {
                            format!(
                                "{} {} members={}",
                                g.group_id, g.group_state, g.member_count
                            )
                        })
                        .collect()
                }
            }
            "delete" => {
                let g = args
                    .positional
                    .first()
                    .copied()
                    .unwrap_or(&group)
                    .to_owned();
                let outcome = self
                    .coordinator
                    .delete_groups(&DeleteGroupsRequest { group_ids: vec![g] });
                let (r, written) = self.complete(outcome);
                r.results
                    .iter()
                    .map(|x| format!("{} {} wrote={written}", x.group_id, x.error_code.name()))
                    .collect()
            }
            "restart" => {
                self.restart()?;
                vec!["ok".to_owned()]
            }
            other => return Err(format!("unknown command {other}")),
        };
        self.check_invariants()?;
        Ok(out)
    }

    fn advance(&mut self, args: &Args<'_>) -> Result<Vec<String>, String> {
        let ms: i64 = args
            .pos(0, "milliseconds")?
            .parse()
            .map_err(|_| "bad milliseconds".to_owned())?;
        self.now += ms;
        let outcome = self.coordinator.expire(&self.topics, self.now);
        let (expired, written) = self.complete(outcome);
        let mut out: Vec<String> = expired
            .iter()
            .map(|e| format!("expired {} ({})", e.member_id, e.reason.name()))
            .collect();
        if out.is_empty() {
            out.push("nothing expired".to_owned());
        } else {
            out.push(format!("wrote={written}"));
        }
        Ok(out)
    }

    fn fetch(&self, group: &str) -> String {
        let r = self.coordinator.fetch_offsets(&OffsetFetchRequest {
            group_id: group.to_owned(),
            member_id: String::new(),
            member_epoch: -1,
            topics: None,
        });
        let mut line = String::new();
        for t in &r.topics {
            for p in &t.partitions {
                let _ = write!(line, "{}:{}={} ", t.name, p.partition, p.committed_offset);
            }
        }
        if !line.is_empty() {
            line.trim_end().to_owned()
        } else if r.error_code.is_ok() {
            "-".to_owned()
        } else {
            r.error_code.name().to_owned()
        }
    }

    fn heartbeat(
        &mut self,
        cmd: &str,
        args: &Args<'_>,
        group: &str,
    ) -> Result<Vec<String>, String> {
        let name = args.pos(0, "member name")?.to_owned();
        let client = self.clients.get(&name).cloned();
        let group = match &client {
            Some(c) if cmd != "join" => c.group.clone(),
            _ => group.to_owned(),
        };
        let owned = match args.options.get("owned") {
            Some(&"null") => None,
            Some(spec) => Some(parse_assignment(spec)?),
            None => Some(client.as_ref().map(|c| c.owned.clone()).unwrap_or_default()),
        };
        let (member_id, epoch) = match cmd {
            "join" => (
                if args.options.get("id") == Some(&"client") {
                    name.clone()
                } else {
                    String::new()
                },
                JOIN_EPOCH,
            ),
            "leave" => (name.clone(), LEAVE_EPOCH),
            _ => (
                name.clone(),
                args.num("epoch")?
                    .unwrap_or(client.as_ref().map_or(0, |c| c.epoch)),
            ),
        };
        let req = ConsumerGroupHeartbeatRequest {
            group_id: group.clone(),
            member_id,
            member_epoch: epoch,
            instance_id: None,
            rack_id: None,
            rebalance_timeout_ms: args.num("rebalance")?.unwrap_or(0),
            session_timeout_ms: args.num("session")?.unwrap_or(0),
            subscribed_topic_names: args.list("topics"),
            server_assignor: args.options.get("assignor").map(|s| (*s).to_owned()),
            owned_partitions: if cmd == "join" {
                Some(Vec::new())
            } else {
                owned.map(|o| o.to_wire())
            },
        };
        let origin = MemberOrigin {
            client_id: "client",
            client_host: "10.0.0.1",
            new_member_id: &name,
        };
        let outcome = self
            .coordinator
            .heartbeat(&req, &origin, &self.topics, self.now);
        let (r, written) = self.complete(outcome);
        if args.positional.contains(&"lost") {
            return Ok(vec![format!("{name}: answer lost wrote={written}")]);
        }
        if !r.error_code.is_ok() {
            // A consumer drops everything on an error.
            if let Some(c) = self.clients.get_mut(&name) {
                c.owned = Assignment::new();
            }
            return Ok(vec![format!("{name}: error={}", r.error_code.name())]);
        }
        if cmd == "leave" {
            self.clients.remove(&name);
            return Ok(vec![format!("{name}: left wrote={written}")]);
        }
        let c = self.clients.entry(name.clone()).or_default();
        c.group = group;
        c.epoch = r.member_epoch;
        let assignment = match &r.assignment {
            Some(a) => {
                c.owned = Assignment::from_wire(a);
                c.owned.to_string()
            }
            None => "unchanged".to_owned(),
        };
        Ok(vec![format!(
            "{name}: epoch={} assignment={assignment} wrote={written}",
            r.member_epoch
        )])
    }

    fn commit(&mut self, args: &Args<'_>, group: &str) -> Result<Vec<String>, String> {
        let name = args.pos(0, "member name or -")?;
        let offsets = parse_offsets(args.pos(1, "offsets")?)?;
        let (group, member_id, epoch) = if name == "-" {
            (group.to_owned(), String::new(), -1)
        } else {
            let c = self.clients.get(name);
            (
                c.map_or(group.to_owned(), |c| c.group.clone()),
                name.to_owned(),
                args.num("epoch")?.unwrap_or(c.map_or(0, |c| c.epoch)),
            )
        };
        let req = OffsetCommitRequest {
            group_id: group,
            member_id,
            member_epoch: epoch,
            topics: offsets,
        };
        let outcome = self
            .coordinator
            .commit_offsets(&req, &self.topics, self.now);
        let (r, written) = self.complete(outcome);
        let mut out: Vec<String> = Vec::new();
        for t in &r.topics {
            for p in &t.partitions {
                out.push(format!(
                    "{}:{} {}",
                    t.name,
                    p.partition,
                    p.error_code.name()
                ));
            }
        }
        out.push(format!("wrote={written}"));
        Ok(vec![out.join(" ")])
    }

    fn describe(&self, group: &str) -> Vec<String> {
        let r = self.coordinator.describe_groups(&DescribeGroupsRequest {
            group_ids: vec![group.to_owned()],
        });
        let mut out = Vec::new();
        for g in &r.groups {
            if g.error_code != ErrorCode::None {
                out.push(format!("group {}: {}", g.group_id, g.error_code.name()));
                continue;
            }
            out.push(format!(
                "group {}: {} epoch={} assignment_epoch={} assignor={}",
                g.group_id, g.group_state, g.group_epoch, g.assignment_epoch, g.assignor_name
            ));
            for m in &g.members {
                out.push(format!(
                    "  {} epoch={} {} assigned={} pending={} target={}",
                    m.member_id,
                    m.member_epoch,
                    m.member_state,
                    Assignment::from_wire(&m.assignment),
                    Assignment::from_wire(&m.pending_revocation),
                    Assignment::from_wire(&m.target_assignment),
                ));
            }
        }
        out
    }

    /// Replays the log, and separately a snapshot, into new coordinators;
    /// both must equal the live state. Continues with the replayed one.
    fn restart(&mut self) -> Result<(), String> {
        let mut replayed = Coordinator::new(config());
        for r in &self.log {
            replayed.replay(r);
        }
        if replayed.groups() != self.coordinator.groups() {
            return Err(format!(
                "replay differs:\n{:#?}\nvs live\n{:#?}",
                replayed.groups(),
                self.coordinator.groups()
            ));
        }
        let snapshot = self.coordinator.snapshot();
        let mut from_snapshot = Groups::new();
        for r in &snapshot {
            from_snapshot.apply(r);
        }
        if &from_snapshot != self.coordinator.groups() {
            return Err("snapshot replay differs from the live state".to_owned());
        }
        replayed.start_timers(self.now);
        self.coordinator = replayed;
        self.log = snapshot;
        Ok(())
    }

    /// The invariants that must hold after every command.
    pub fn check_invariants(&self) -> Result<(), String> {
        for g in self.coordinator.groups().iter() {
            check_group(g)?;
            // Members' own views: no two live members believe they own the
            // same partition.
            let mut seen: BTreeMap<(String, PartitionId), &str> = BTreeMap::new();
            for (name, c) in &self.clients {
                if c.group != g.group_id || !g.members.contains_key(name) {
                    continue;
                }
                for (t, p) in c.owned.iter() {
                    if let Some(other) = seen.insert((t.to_owned(), p), name) {
                        return Err(format!(
                            "{t}:{p} is consumed by both {other} and {name} in group {}",
                            g.group_id
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Ownership and epoch invariants of one group's state.
fn check_group(g: &Group) -> Result<(), String> {
    if !g.members.is_empty() && g.assignment_epoch != g.metadata.group_epoch {
        return Err(format!(
            "group {}: assignment epoch {} behind group epoch {}",
            g.group_id, g.assignment_epoch, g.metadata.group_epoch
        ));
    }
    let mut owners: BTreeMap<(String, PartitionId), &str> = BTreeMap::new();
    for (id, m) in &g.members {
        let c = &m.current;
        if c.member_epoch > g.assignment_epoch {
            return Err(format!("{id}: epoch {} ahead of the group", c.member_epoch));
        }
        if (c.state == MemberState::UnrevokedPartitions) == c.pending_revocation.is_empty() {
            return Err(format!(
                "{id}: state {:?} with pending {}",
                c.state, c.pending_revocation
            ));
        }
        for (t, p) in c.owned().iter() {
            if let Some(other) = owners.insert((t.to_owned(), p), id) {
                return Err(format!("{t}:{p} is owned by both {other} and {id}"));
            }
        }
    }
    for id in g.target.keys() {
        if !g.members.contains_key(id) {
            return Err(format!("target for {id}, who is not a member"));
        }
    }
    Ok(())
}

/// Runs one scenario file; returns the rewritten text and the mismatches.
#[cfg(test)]
fn run_file(text: &str) -> (String, Vec<String>) {
    let mut runner = Runner::new();
    let mut out = String::new();
    let mut failures = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((n, line)) = lines.next() {
        if line.trim().is_empty() || line.starts_with('#') {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut commands = vec![(n, line)];
        let mut separated = false;
        for (m, l) in lines.by_ref() {
            if l == "----" {
                separated = true;
                break;
            }
            commands.push((m, l));
        }
        let mut expected = Vec::new();
        if separated {
            while let Some((_, l)) = lines.peek() {
                if l.trim().is_empty() {
                    break;
                }
                expected.push(l.to_owned());
                lines.next();
            }
        }
        let mut actual = Vec::new();
        for (m, cmd) in &commands {
            out.push_str(cmd);
            out.push('\n');
            match runner.run(cmd) {
                Ok(lines) => actual.extend(lines),
                Err(e) => {
                    actual.push(format!("FAILED: {e}"));
                    failures.push(format!("line {}: {cmd}: {e}", m + 1));
                }
            }
        }
        out.push_str("----\n");
        for l in &actual {
            out.push_str(l);
            out.push('\n');
        }
        if actual != expected {
            failures.push(format!(
                "line {}: {}\n  expected:\n    {}\n  got:\n    {}",
                n + 1,
                commands
                    .iter()
                    .map(|(_, c)| *c)
                    .collect::<Vec<_>>()
                    .join(" / "),
                expected.join("\n    "),
                actual.join("\n    ")
            ));
        }
    }
    (out, failures)
}

#[test]
fn scenarios() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/group/testdata");
    let bless = std::env::var_os("RUNNEL_BLESS").is_some_and(|v| v == "1");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("testdata directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no scenarios in {}", dir.display());
    let mut report = String::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("scenario file");
        let (rewritten, failures) = run_file(&text);
        if bless && rewritten != text {
            std::fs::write(&path, &rewritten).expect("rewrite scenario");
        }
        let invariant_broken = failures.iter().any(|f| f.contains("FAILED"));
        if !failures.is_empty() && (!bless || invariant_broken) {
            let _ = writeln!(report, "{}:", path.display());
            for f in failures {
                let _ = writeln!(report, "  {f}");
            }
        }
    }
    assert!(
        report.is_empty(),
        "scenario mismatches (RUNNEL_BLESS=1 rewrites):\n{report}"
    );
}

#[cfg(test)]
mod random {
    //! Random operation sequences: the invariants hold after every step,
    //! and replaying the log gives the live state.

    use super::Runner;
    use proptest::prelude::*;

    fn arb_command() -> impl Strategy<Value = String> {
        let member = prop_oneof![Just("A"), Just("B"), Just("C"), Just("D")];
        let assignor = prop_oneof![
            Just(""),
            Just(" assignor=range"),
            Just(" assignor=roundrobin"),
            Just(" assignor=sticky")
        ];
        prop_oneof![
            1 => (member.clone(), prop_oneof![Just("t"), Just("t,u"), Just("u")], assignor, prop_oneof![Just(""), Just(" id=client")])
                .prop_map(|(m, topics, a, id)| format!("join {m} topics={topics}{a}{id}")),
            4 => member.clone().prop_map(|m| format!("heartbeat {m}")),
            1 => member.clone().prop_map(|m| format!("heartbeat {m} owned=null")),
            1 => member.clone().prop_map(|m| format!("heartbeat {m} owned=t:0,1,2,3,4,5;u:0,1,2")),
            1 => member.clone().prop_map(|m| format!("leave {m}")),
            1 => member.clone().prop_map(|m| format!("commit {m} t:0=5,3=9")),
            1 => (1i64..70_000).prop_map(|ms| format!("advance {ms}")),
            1 => (1u32..8).prop_map(|n| format!("topic u {n}")),
            1 => Just("restart".to_owned()),
            1 => Just("commit - t:1=3".to_owned()),
            1 => Just("delete".to_owned()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn invariants_hold_and_replay_matches(commands in proptest::collection::vec(arb_command(), 1..60)) {
            let mut r = Runner::new();
            r.run("topic t 6").unwrap();
            r.run("topic u 3").unwrap();
            for c in &commands {
                if let Err(e) = r.run(c) {
                    prop_assert!(false, "{c}: {e}\nafter {commands:?}");
                }
            }
            if let Err(e) = r.run("restart") {
                prop_assert!(false, "{e}");
            }
        }

        /// Members that keep heartbeating converge: everyone stable and
        /// every subscribed partition owned.
        #[test]
        fn heartbeating_members_converge(commands in proptest::collection::vec(arb_command(), 1..40)) {
            let mut r = Runner::new();
            r.run("topic t 6").unwrap();
            r.run("topic u 3").unwrap();
            for c in &commands {
                r.run(c).unwrap();
            }
            for _ in 0..4 {
                for m in ["A", "B", "C", "D"] {
                    if r.clients.contains_key(m) {
                        r.run(&format!("heartbeat {m}")).unwrap();
                    }
                }
            }
            for g in r.coordinator.groups().iter() {
                prop_assert!(
                    g.members.is_empty()
                        || g.state() == crate::group::state::GroupState::Stable,
                    "{g:#?}"
                );
            }
        }
    }
}
