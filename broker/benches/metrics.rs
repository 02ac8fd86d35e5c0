//! What the broker's metrics add to one produce request, with the real
//! recorder installed: the clock reads and every facade call the request
//! path makes (request timer and outcome, the produce stages, the topic's
//! traffic counters, the partition's durability tracking), and the
//! per-batch delivery accounting of a fetch. Compare the figures with the
//! broker's CPU time per request (BENCHMARKS.md, "Metrics overhead").
//!
//! `contended` runs the same work on two threads at once (the machine's
//! cores), sharing the histograms and counters as a busy broker does.
//!
//! Run with `cargo bench -p runnel-broker --bench metrics`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use runnel_broker::metrics::{
    DurabilityTracker, RequestTimer, TopicMetrics, install, produce_stages,
};
use runnel_protocol::api::produce::{
    ProducePartitionResponse, ProduceResponse, ProduceTopicResponse,
};
use runnel_protocol::record::{BatchBuilder, BatchOptions, NewRecord};
use runnel_protocol::{ApiKey, ErrorCode, PartitionId, Response};

/// The metrics work of one acks=1 produce request of one batch.
fn produce_request(topic: &TopicMetrics, durability: &DurabilityTracker, response: &Response) {
    let received = Instant::now();
    let timer = RequestTimer::new(Some(ApiKey::Produce), received);
    let started = Instant::now();
    durability.appended(16_627, 1_700_000_000_000);
    topic.appended(16, 16_627);
    produce_stages(received, started, Instant::now());
    timer.finish(Some(response));
}

fn response() -> Response {
    Response::Produce(ProduceResponse {
        throttle_time_ms: 0,
        topics: vec![ProduceTopicResponse {
            name: "bench".to_owned(),
            partitions: vec![ProducePartitionResponse {
                partition: PartitionId(0),
                error_code: ErrorCode::None,
                error_message: None,
                base_offset: 0,
                log_append_time_ms: -1,
                log_start_offset: 0,
            }],
        }],
    })
}

fn batch() -> bytes::Bytes {
    let mut b = BatchBuilder::new(BatchOptions::default()).unwrap();
    for _ in 0..16 {
        b.append(&NewRecord {
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(bytes::Bytes::from(vec![b'x'; 1024])),
            headers: vec![],
        })
        .unwrap();
    }
    b.build().unwrap()
}

fn metrics(c: &mut Criterion) {
    let handle = install().unwrap();
    // Drain the histograms as the metrics listener does, so samples do not
    // pile up over millions of iterations.
    let upkeep = handle.clone();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(100));
            upkeep.run_upkeep();
        }
    });
    let topic = TopicMetrics::new("bench");
    let durability = DurabilityTracker::default();
    let resp = response();
    let mut g = c.benchmark_group("metrics");
    g.bench_function("produce_request", |b| {
        b.iter(|| produce_request(&topic, &durability, black_box(&resp)));
    });
    g.bench_function("produce_request_contended", |b| {
        b.iter_custom(|iters| {
            let shared = Arc::new((topic.clone(), DurabilityTracker::default(), response()));
            let other = Arc::clone(&shared);
            let helper = std::thread::spawn(move || {
                for _ in 0..iters {
                    produce_request(&other.0, &other.1, &other.2);
                }
            });
            let start = Instant::now();
            for _ in 0..iters {
                produce_request(&shared.0, &shared.1, &shared.2);
            }
            let elapsed = start.elapsed();
            helper.join().unwrap();
            elapsed
        });
    });
    let fetched = batch();
    g.bench_function("fetch_one_batch", |b| {
        b.iter(|| topic.delivered(0, black_box(&fetched), 1_700_000_001_000));
    });
    g.finish();
    drop(handle);
}

criterion_group!(benches, metrics);
criterion_main!(benches);
