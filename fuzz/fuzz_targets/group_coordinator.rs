//! The consumer-group coordinator driven by arbitrary sequences of joins,
//! heartbeats (honest, stale, lost), leaves, commits, clock jumps, topic
//! resizes, deletes and restarts. After every step the scenario runner
//! checks that no partition has two owners (in the coordinator's state and
//! in the members' own views) and that epochs are consistent; this target
//! adds that a member's epoch, as answered, never goes down while it stays
//! in the group, and that replaying the log gives the live state
//! (`restart`).
//!
//! Each input byte pair is one command: the first byte picks the command,
//! the second its parameters.

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use runnel_broker::group::scenario::Runner;

const MEMBERS: [&str; 4] = ["A", "B", "C", "D"];

fuzz_target!(|data: &[u8]| {
    let mut runner = Runner::new();
    runner.run("topic t 6").expect("setup");
    runner.run("topic u 3").expect("setup");
    let mut epochs: BTreeMap<&str, i32> = BTreeMap::new();
    for pair in data.chunks_exact(2).take(200) {
        let (op, arg) = (pair[0], pair[1]);
        let m = MEMBERS[usize::from(arg % 4)];
        let command = match op % 14 {
            0 => {
                let topics = ["t", "t,u", "u"][usize::from(arg / 4 % 3)];
                let assignor = [
                    "",
                    " assignor=range",
                    " assignor=roundrobin",
                    " assignor=sticky",
                ][usize::from(arg / 12 % 4)];
                epochs.remove(m);
                format!("join {m} topics={topics}{assignor}")
            }
            1..=4 => format!("heartbeat {m}"),
            5 => format!("heartbeat {m} owned=null"),
            6 => format!("heartbeat {m} owned=t:0,1,2,3,4,5;u:0,1,2"),
            7 => format!("heartbeat {m} lost"),
            8 => {
                epochs.remove(m);
                format!("leave {m}")
            }
            9 => format!("commit {m} t:{}={}", arg % 7, arg),
            10 => {
                // Expiry may remove anyone.
                epochs.clear();
                format!("advance {}", u32::from(arg) * 500 + 1)
            }
            11 => format!("topic u {}", arg % 8),
            12 => format!("commit - t:{}={}", arg % 6, arg),
            _ => match arg % 3 {
                0 => "restart".to_owned(),
                1 => {
                    epochs.clear();
                    "delete".to_owned()
                }
                _ => "describe".to_owned(),
            },
        };
        let lines = match runner.run(&command) {
            Ok(lines) => lines,
            Err(e) => panic!("{command}: {e}"),
        };
        for line in &lines {
            // Heartbeat answers read "M: epoch=N assignment=... wrote=K".
            let Some((who, rest)) = line.split_once(": epoch=") else {
                continue;
            };
            let Some(epoch) = rest
                .split_whitespace()
                .next()
                .and_then(|e| e.parse::<i32>().ok())
            else {
                continue;
            };
            let Some(&name) = MEMBERS.iter().find(|n| **n == who) else {
                continue;
            };
            if epoch <= 0 {
                epochs.remove(name);
                continue;
            }
            if let Some(&before) = epochs.get(name) {
                assert!(
                    epoch >= before,
                    "{name}: epoch went from {before} to {epoch} on {command}"
                );
            }
            epochs.insert(name, epoch);
        }
    }
    runner.run("restart").expect("final replay matches");
});
