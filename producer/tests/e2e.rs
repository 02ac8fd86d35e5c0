//! The producer against the real broker: `runnel-broker` started (by
//! `runnel-testkit`) on a free port with a temporary data directory;
//! produces with every codec and acks level and checks the records by
//! listing offsets.

use std::time::{Duration, Instant};

use runnel_client::{Client, ClientConfig, NewTopic};
use runnel_producer::{Producer, ProducerRecord};
use runnel_protocol::api::list_offsets::OffsetSpec;
use runnel_testkit::BrokerProcess;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produces_with_every_codec_and_acks_level() {
    let broker = BrokerProcess::start();
    let addr = broker.bootstrap();
    let client = Client::connect(ClientConfig::new(&addr)).await.unwrap();
    client
        .create_topic(NewTopic::new("e2e", Some(3)))
        .await
        .unwrap();
    let mut expected_total = 0i64;
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        for acks in ["all", "1", "0"] {
            let producer = Producer::builder()
                .bootstrap(&addr)
                .set_all([
                    ("compression.type", codec),
                    ("acks", acks),
                    ("linger.ms", "2"),
                ])
                .unwrap()
                .build()
                .await
                .unwrap_or_else(|e| panic!("{codec} acks={acks}: {e}"));
            let mut futures = Vec::new();
            for i in 0..50 {
                let record = ProducerRecord::new("e2e", format!("{codec}-{acks}-{i}"))
                    .key(format!("key-{}", i % 7));
                futures.push(producer.enqueue(record).await.unwrap());
            }
            for future in futures {
                let meta = future
                    .await
                    .unwrap_or_else(|e| panic!("{codec} acks={acks}: {e}"));
                assert_eq!(meta.offset.is_some(), acks != "0", "{codec} acks={acks}");
            }
            producer.close().await;
            expected_total += 50;
        }
    }
    // acks=0 records were written before close returned their futures, but
    // their appends may still be in flight: wait for the count to settle.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let latest = client
            .list_topic_offsets("e2e", OffsetSpec::Latest)
            .await
            .unwrap();
        let total: i64 = latest.iter().filter_map(|p| p.offset).sum();
        if total == expected_total {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "log end offsets sum to {total}, expected {expected_total}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_records_land_on_the_kafka_partition() {
    let broker = BrokerProcess::start();
    let addr = broker.bootstrap();
    let client = Client::connect(ClientConfig::new(&addr)).await.unwrap();
    client
        .create_topic(NewTopic::new("keys", Some(5)))
        .await
        .unwrap();
    let producer = Producer::builder().bootstrap(&addr).build().await.unwrap();
    assert!(producer.is_idempotent(), "the broker grants producer ids");
    for key in ["alpha", "beta", "gamma"] {
        let meta = producer
            .send(ProducerRecord::new("keys", "v").key(key))
            .await
            .unwrap();
        assert_eq!(
            meta.partition,
            runnel_producer::partition_for_key(key.as_bytes(), 5)
        );
    }
    producer.close().await;
    let err = client
        .create_topic(NewTopic::new("keys", Some(1)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("TOPIC_ALREADY_EXISTS"), "{err}");
}

/// While a partition is backed up its batch grows past `batch.size`; a
/// topic whose `max.message.bytes` is smaller refuses the grown batch, and
/// the producer resends it split instead of failing its records.
#[tokio::test(flavor = "current_thread")]
async fn a_grown_batch_over_the_topic_limit_is_split_not_lost() {
    let broker = BrokerProcess::start();
    let addr = broker.bootstrap();
    let client = Client::connect(ClientConfig::new(&addr)).await.unwrap();
    client
        .create_topic(NewTopic::new("small", Some(1)).config("max.message.bytes", "20000"))
        .await
        .unwrap();
    let producer = Producer::builder()
        .bootstrap(&addr)
        .set_all([("batch.size", "16384"), ("batch.max.bytes", "1000000")])
        .unwrap()
        .build()
        .await
        .unwrap();
    // On this single-threaded runtime the sender runs only when the test
    // waits, so the records pile up behind the first full batch.
    let mut futures = Vec::new();
    for i in 0..3_000 {
        let record = ProducerRecord::new("small", format!("{i:0>100}"));
        futures.push(producer.enqueue(record).await.unwrap());
    }
    let mut offsets = Vec::new();
    for future in futures {
        offsets.push(future.await.unwrap().offset.unwrap());
    }
    assert_eq!(offsets, (0..3_000).collect::<Vec<i64>>());
    producer.close().await;
    assert!(
        broker
            .logs()
            .contains("exceeds the topic's max.message.bytes"),
        "the broker never refused a grown batch:\n{}",
        broker.logs()
    );
    let latest = client
        .list_topic_offsets("small", OffsetSpec::Latest)
        .await
        .unwrap();
    assert_eq!(latest[0].offset, Some(3_000));
}
