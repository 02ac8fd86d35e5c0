//! Rebalance benchmark (ignored by default; run with
//! `cargo nextest run -p runnel-consumer --test rebalance_bench --run-ignored only --no-capture`):
//! on a 48-partition topic, three members of a group own 16 partitions
//! each; a fourth joins, and the time is measured from just before the
//! fourth member is built until the rebalance callbacks of all four show
//! every partition owned again with 12 each. Five runs per broker setting,
//! each on a fresh group; prints every run and the median.

mod common;

use std::time::{Duration, Instant};

use common::{Board, Commits, Member, create_topic};
use runnel_testkit::{BrokerOptions, BrokerProcess};

const PARTITIONS: u32 = 48;
const RUNS: usize = 5;

async fn one_run(bootstrap: &str, group: &str) -> Duration {
    let board = Board::new();
    let limit = Duration::from_mins(1);
    let mut members = Vec::new();
    for id in 0..3 {
        members
            .push(Member::start(id, bootstrap, group, "bench", &[], Commits::Auto, &board).await);
    }
    board
        .wait_until("three members with 16 partitions each", limit, |s| {
            s.balanced(PARTITIONS, &[0, 1, 2])
        })
        .await;
    let joined = Instant::now();
    members.push(Member::start(3, bootstrap, group, "bench", &[], Commits::Auto, &board).await);
    let settled = board
        .wait_until("four members with 12 partitions each", limit, |s| {
            s.balanced(PARTITIONS, &[0, 1, 2, 3])
        })
        .await;
    {
        let state = board.state();
        assert!(state.violations.is_empty(), "{:#?}", state.violations);
    }
    for member in members {
        member.close().await;
    }
    settled - joined
}

async fn bench(label: &str, env: Vec<(String, String)>) {
    let broker = BrokerProcess::start_with(BrokerOptions {
        env,
        ..BrokerOptions::default()
    });
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "bench", PARTITIONS).await;
    let mut times = Vec::new();
    for run in 0..RUNS {
        let time = one_run(&bootstrap, &format!("bench-{run}")).await;
        println!("{label}: run {run}: 3 -> 4 members rebalance in {time:?}");
        times.push(time);
    }
    times.sort_unstable();
    println!(
        "{label}: median {:?} (min {:?}, max {:?}) over {RUNS} runs",
        times[RUNS / 2],
        times[0],
        times[RUNS - 1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run explicitly"]
async fn rebalance_three_to_four_members_on_48_partitions() {
    bench("heartbeat 3000 ms (default)", Vec::new()).await;
    bench(
        "heartbeat 100 ms",
        vec![("RUNNEL_GROUP_HEARTBEAT_INTERVAL_MS".into(), "100".into())],
    )
    .await;
}
