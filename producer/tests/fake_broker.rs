//! The producer against an in-process fake broker: offsets, partitioning,
//! sequence numbers, retries after a lost connection, duplicates,
//! backpressure, acks=0 and close.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runnel_client::testing::{FakeBroker, Reply, metadata_for};
use runnel_producer::{Producer, ProducerError, ProducerRecord, partition_for_key};
use runnel_protocol::api::init_producer_id::InitProducerIdResponse;
use runnel_protocol::api::produce::{
    ProducePartitionResponse, ProduceRequest, ProduceResponse, ProduceTopicResponse,
};
use runnel_protocol::record::{Batches, NO_SEQUENCE};
use runnel_protocol::{ErrorCode, Request, Response};

/// One batch as the fake broker saw it.
#[derive(Debug, Clone)]
struct Seen {
    partition: u32,
    base_sequence: i32,
    producer_id: i64,
    records: u32,
    values: Vec<Vec<u8>>,
}

/// The fake broker's log: per partition, the next offset; every batch seen.
#[derive(Debug, Default)]
struct Log {
    next_offset: HashMap<u32, i64>,
    seen: Vec<Seen>,
    /// Produce requests to drop the connection on (1-based request numbers).
    close_on: Vec<usize>,
    produce_requests: usize,
    /// Highest sequence appended per partition, for duplicate detection.
    appended: HashMap<(u32, i32), i64>,
    /// Whether to serve InitProducerId.
    idempotence: bool,
    /// Answer produce requests only when true.
    silent: bool,
}

fn produce(log: &Mutex<Log>, request: ProduceRequest) -> Reply {
    let mut log = log.lock().unwrap();
    log.produce_requests += 1;
    let n = log.produce_requests;
    if log.silent {
        return Reply::Nothing;
    }
    let close = log.close_on.contains(&n);
    let mut topics = Vec::new();
    for topic in request.topics {
        let mut partitions = Vec::new();
        for p in topic.partitions {
            let mut base = -1;
            let mut duplicate = false;
            for batch in Batches::new(p.records.clone()) {
                let batch = batch.unwrap();
                let header = *batch.header();
                if let Some(&offset) = log.appended.get(&(p.partition.0, header.base_sequence))
                    && header.base_sequence != NO_SEQUENCE
                {
                    base = offset;
                    duplicate = true;
                    continue;
                }
                let values = batch
                    .records()
                    .unwrap()
                    .map(|r| r.unwrap().value.unwrap_or_default().to_vec())
                    .collect();
                let next = log.next_offset.entry(p.partition.0).or_insert(0);
                if base < 0 {
                    base = *next;
                }
                let offset = *next;
                *next += i64::from(batch.record_count());
                log.appended
                    .insert((p.partition.0, header.base_sequence), offset);
                log.seen.push(Seen {
                    partition: p.partition.0,
                    base_sequence: header.base_sequence,
                    producer_id: header.producer_id,
                    records: batch.record_count(),
                    values,
                });
            }
            partitions.push(ProducePartitionResponse {
                partition: p.partition,
                error_code: if duplicate {
                    ErrorCode::DuplicateSequenceNumber
                } else {
                    ErrorCode::None
                },
                error_message: None,
                base_offset: base,
                log_append_time_ms: -1,
                log_start_offset: 0,
            });
        }
        topics.push(ProduceTopicResponse {
            name: topic.name,
            partitions,
        });
    }
    if close {
        // Appended, but the answer is lost with the connection.
        return Reply::Close;
    }
    Reply::Respond(Response::Produce(ProduceResponse {
        topics,
        throttle_time_ms: 0,
    }))
}

async fn broker(log: Arc<Mutex<Log>>, partitions: u32) -> FakeBroker {
    FakeBroker::start(move |ctx, request| match request {
        Request::Metadata(_) => Reply::Respond(metadata_for(ctx.local_addr, &[("t", partitions)])),
        Request::InitProducerId(_) => {
            if log.lock().unwrap().idempotence {
                Reply::Respond(Response::InitProducerId(InitProducerIdResponse {
                    error_code: ErrorCode::None,
                    error_message: None,
                    producer_id: 42,
                    producer_epoch: 0,
                }))
            } else {
                Reply::Respond(Response::Error(
                    runnel_protocol::api::error_response::ErrorResponse::new(
                        ErrorCode::UnsupportedVersion,
                        "not served",
                    ),
                ))
            }
        }
        Request::Produce(p) => produce(&log, p),
        _ => Reply::Close,
    })
    .await
}

fn log(idempotence: bool) -> Arc<Mutex<Log>> {
    Arc::new(Mutex::new(Log {
        idempotence,
        ..Log::default()
    }))
}

async fn producer(broker: &FakeBroker, settings: &[(&str, &str)]) -> Producer {
    Producer::builder()
        .bootstrap(broker.addr())
        .set_all(settings.iter().copied())
        .unwrap()
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn records_get_consecutive_offsets_and_keys_pick_kafka_partitions() {
    let log = log(true);
    let broker = broker(Arc::clone(&log), 4).await;
    let producer = producer(&broker, &[("linger.ms", "0")]).await;
    assert!(producer.is_idempotent());
    let mut offsets = Vec::new();
    for i in 0..5 {
        let meta = producer
            .send(ProducerRecord::new("t", format!("v{i}")).key("user-7"))
            .await
            .unwrap();
        assert_eq!(meta.partition, partition_for_key(b"user-7", 4));
        offsets.push(meta.offset.unwrap());
    }
    assert_eq!(offsets, [0, 1, 2, 3, 4]);
    let explicit = producer
        .send(ProducerRecord::new("t", "x").partition(3).timestamp(1234))
        .await
        .unwrap();
    assert_eq!((explicit.partition, explicit.timestamp), (3, 1234));
    let err = producer
        .send(ProducerRecord::new("t", "x").partition(9))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "topic \"t\" has 4 partitions; partition 9 does not exist"
    );
    producer.close().await;
    let seen = log.lock().unwrap().seen.clone();
    assert!(seen.iter().all(|b| b.producer_id == 42));
}

#[tokio::test]
async fn pipelined_sends_batch_and_number_records_per_partition() {
    let log = log(true);
    let broker = broker(Arc::clone(&log), 2).await;
    let producer = producer(&broker, &[("linger.ms", "20"), ("batch.size", "1000")]).await;
    let mut futures = Vec::new();
    for i in 0..200u32 {
        let record = ProducerRecord::new("t", format!("value-{i:04}")).partition(i % 2);
        futures.push(producer.enqueue(record).await.unwrap());
    }
    for (i, future) in futures.into_iter().enumerate() {
        let meta = future.await.unwrap();
        assert_eq!(meta.offset, Some(i64::try_from(i / 2).unwrap()));
    }
    let seen = log.lock().unwrap().seen.clone();
    assert!(
        seen.len() < 200,
        "records were batched: {} batches",
        seen.len()
    );
    for partition in 0..2 {
        let mut expected_sequence = 0;
        let mut values = Vec::new();
        for batch in seen.iter().filter(|b| b.partition == partition) {
            assert_eq!(batch.base_sequence, expected_sequence);
            expected_sequence += i32::try_from(batch.records).unwrap();
            values.extend(batch.values.iter().cloned());
        }
        assert_eq!(expected_sequence, 100);
        let want: Vec<Vec<u8>> = (0..200u32)
            .filter(|i| i % 2 == partition)
            .map(|i| format!("value-{i:04}").into_bytes())
            .collect();
        assert_eq!(values, want, "partition {partition} kept its order");
    }
}

#[tokio::test]
async fn a_lost_answer_is_retried_and_deduplicated_by_sequence() {
    let log = log(true);
    log.lock().unwrap().close_on = vec![1];
    let broker = broker(Arc::clone(&log), 1).await;
    let producer = producer(
        &broker,
        &[
            ("linger.ms", "0"),
            ("retry.backoff.ms", "1"),
            ("reconnect.backoff.ms", "1"),
        ],
    )
    .await;
    let meta = producer
        .send(ProducerRecord::new("t", "once"))
        .await
        .unwrap();
    // The first attempt was appended but its answer lost; the retry is a
    // duplicate, answered with the original offset.
    assert_eq!(meta.offset, Some(0));
    let seen = log.lock().unwrap().seen.clone();
    assert_eq!(seen.len(), 1, "appended once");
    let next = producer
        .send(ProducerRecord::new("t", "twice"))
        .await
        .unwrap();
    assert_eq!(next.offset, Some(1));
    assert!(broker.connections() >= 2);
}

#[tokio::test]
async fn full_buffer_makes_send_wait_then_time_out() {
    let log = log(false);
    log.lock().unwrap().silent = true;
    let broker = broker(Arc::clone(&log), 1).await;
    let producer = producer(
        &broker,
        &[
            ("buffer.memory", "32768"),
            ("batch.size", "16384"),
            ("max.block.ms", "50"),
            ("linger.ms", "0"),
            ("request.timeout.ms", "60000"),
        ],
    )
    .await;
    assert!(
        !producer.is_idempotent(),
        "the broker grants no producer id"
    );
    let value = vec![b'x'; 10_000];
    let mut accepted = Vec::new();
    let err = loop {
        match producer
            .enqueue(ProducerRecord::new("t", value.clone()))
            .await
        {
            Ok(future) => accepted.push(future),
            Err(error) => break error,
        }
        assert!(accepted.len() <= 2, "memory grew past buffer.memory");
    };
    assert_eq!(accepted.len(), 2, "two 16 KiB batches fill 32 KiB");
    assert!(
        matches!(err, ProducerError::BufferExhausted { .. }),
        "{err}"
    );
    assert_eq!(producer.available_memory(), 0);
}

#[tokio::test]
async fn acks_zero_resolves_without_offsets() {
    let log = log(false);
    let broker = broker(Arc::clone(&log), 1).await;
    let producer = producer(&broker, &[("acks", "0"), ("linger.ms", "0")]).await;
    let meta = producer
        .send(ProducerRecord::new("t", "fire"))
        .await
        .unwrap();
    assert_eq!(meta.offset, None);
    producer.close().await;
    assert_eq!(log.lock().unwrap().seen.len(), 1);
}

#[tokio::test]
async fn close_delivers_everything_accepted_and_refuses_more() {
    let log = log(true);
    let broker = broker(Arc::clone(&log), 3).await;
    let producer = producer(&broker, &[("linger.ms", "60000")]).await;
    let mut futures = Vec::new();
    for i in 0..30 {
        futures.push(
            producer
                .enqueue(ProducerRecord::new("t", format!("{i}")))
                .await
                .unwrap(),
        );
    }
    producer.close().await;
    for future in futures {
        future.await.unwrap();
    }
    assert_eq!(producer.pending_batches(), 0);
    assert!(matches!(
        producer.send(ProducerRecord::new("t", "late")).await,
        Err(ProducerError::Closed)
    ));
    let total: u32 = log.lock().unwrap().seen.iter().map(|b| b.records).sum();
    assert_eq!(total, 30);
}

#[tokio::test]
async fn flush_sends_lingering_batches_now() {
    let log = log(true);
    let broker = broker(Arc::clone(&log), 1).await;
    let producer = producer(&broker, &[("linger.ms", "60000")]).await;
    let future = producer
        .enqueue(ProducerRecord::new("t", "a"))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), producer.flush())
        .await
        .expect("flush finished");
    assert_eq!(future.await.unwrap().offset, Some(0));
}

#[tokio::test]
async fn unknown_setting_is_named() {
    let err = Producer::builder().set("linger.msec", "5").unwrap_err();
    assert_eq!(err.to_string(), "unknown setting \"linger.msec\"");
}

#[tokio::test]
async fn unreachable_broker_fails_build_with_a_printable_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let err = Producer::builder()
        .bootstrap(&addr)
        .build()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot reach broker at {addr}: connection refused")
    );
}
