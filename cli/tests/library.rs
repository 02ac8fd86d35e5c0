//! The producer and consumer libraries end to end against a real broker.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::Broker;
use futures_util::StreamExt;
use runnel_client::{Client, ClientConfig, NewTopic};
use runnel_consumer::{Consumer, ConsumerRecord, SeekTo};
use runnel_producer::{Producer, ProducerRecord, partition_of_key};

async fn create(broker: &Broker, topic: &str, partitions: u32) {
    let client = Client::connect(ClientConfig::new(broker.address()))
        .await
        .unwrap();
    client
        .create_topic(NewTopic::new(topic, Some(partitions)))
        .await
        .unwrap();
    client.close();
}

async fn consumer(broker: &Broker, settings: &[(&str, &str)]) -> Consumer {
    Consumer::builder()
        .bootstrap(broker.address())
        .set_all(settings.iter().copied())
        .unwrap()
        .build()
        .await
        .unwrap()
}

/// Polls until `n` records have arrived.
async fn read(consumer: &mut Consumer, n: usize) -> Vec<ConsumerRecord> {
    let mut records = Vec::new();
    while records.len() < n {
        records.extend(consumer.poll(Duration::from_secs(30)).await.unwrap());
    }
    records
}

fn text(bytes: Option<&bytes::Bytes>) -> String {
    String::from_utf8_lossy(bytes.map(AsRef::as_ref).unwrap_or_default()).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_records_keep_their_order_and_partition() {
    let broker = Broker::start();
    create(&broker, "orders", 4).await;
    let producer = Producer::builder()
        .bootstrap(broker.address())
        .set("linger.ms", "2")
        .unwrap()
        .build()
        .await
        .unwrap();
    let mut deliveries = Vec::new();
    for i in 0..400u32 {
        let key = format!("customer-{}", i % 8);
        let record = ProducerRecord::new("orders", i.to_string()).key(key);
        deliveries.push(producer.enqueue(record).await.unwrap());
    }
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    producer.close().await;

    let mut consumer = consumer(&broker, &[("auto.offset.reset", "earliest")]).await;
    assert_eq!(
        consumer.assign_all("orders").await.unwrap(),
        vec![0, 1, 2, 3]
    );
    let records = read(&mut consumer, 400).await;
    let mut by_key: BTreeMap<String, (u32, Vec<u32>)> = BTreeMap::new();
    for record in &records {
        let key = text(record.key.as_ref());
        let expected = partition_of_key(key.as_bytes(), 4).0;
        assert_eq!(
            record.partition, expected,
            "{key} is on the wrong partition"
        );
        let entry = by_key
            .entry(key)
            .or_insert_with(|| (record.partition, Vec::new()));
        assert_eq!(entry.0, record.partition);
        entry.1.push(text(record.value.as_ref()).parse().unwrap());
    }
    assert_eq!(by_key.len(), 8);
    for (key, (_, values)) in by_key {
        assert_eq!(values.len(), 50, "{key}");
        assert!(values.is_sorted(), "{key} out of order");
    }
    for p in 0..4 {
        assert_eq!(
            consumer.position("orders", p),
            consumer.high_watermark("orders", p)
        );
    }
    consumer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_codec_round_trips_through_the_libraries() {
    let broker = Broker::start();
    create(&broker, "codecs", 1).await;
    let codecs = ["none", "gzip", "snappy", "lz4", "zstd"];
    for codec in codecs {
        let producer = Producer::builder()
            .bootstrap(broker.address())
            .set("compression.type", codec)
            .unwrap()
            .build()
            .await
            .unwrap();
        let mut deliveries = Vec::new();
        for i in 0..50 {
            let value = format!("{codec}-{i}-{}", "z".repeat(i));
            let record = ProducerRecord::new("codecs", value).header("codec", codec);
            deliveries.push(producer.enqueue(record).await.unwrap());
        }
        for delivery in deliveries {
            delivery.await.unwrap();
        }
        producer.close().await;
    }
    let mut consumer = consumer(&broker, &[("auto.offset.reset", "earliest")]).await;
    consumer.assign("codecs", &[0]).await.unwrap();
    let records = read(&mut consumer, 250).await;
    for (n, record) in records.iter().enumerate() {
        let codec = codecs[n / 50];
        let i = n % 50;
        assert_eq!(record.offset, i64::try_from(n).unwrap());
        assert_eq!(
            text(record.value.as_ref()),
            format!("{codec}-{i}-{}", "z".repeat(i))
        );
        let header = record.headers.last("codec").unwrap();
        assert_eq!(text(header.value.as_ref()), codec);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_follows_new_records_and_seeks() {
    let broker = Broker::start();
    create(&broker, "live", 1).await;
    let mut consumer = consumer(&broker, &[]).await;
    consumer.assign("live", &[0]).await.unwrap();
    assert_eq!(consumer.position("live", 0), Some(0));
    let producer = Producer::builder()
        .bootstrap(broker.address())
        .build()
        .await
        .unwrap();
    for i in 0..5 {
        producer
            .send(ProducerRecord::new("live", format!("v{i}")))
            .await
            .unwrap();
    }
    let stream = consumer.stream().take(5);
    let values: Vec<String> = stream
        .map(|r| text(r.unwrap().value.as_ref()))
        .collect()
        .await;
    assert_eq!(values, ["v0", "v1", "v2", "v3", "v4"]);
    consumer.seek("live", 0, SeekTo::Offset(3)).await.unwrap();
    let again = read(&mut consumer, 2).await;
    assert_eq!(again[0].offset, 3);
    consumer.seek("live", 0, SeekTo::Latest).await.unwrap();
    assert_eq!(consumer.position("live", 0), Some(5));
    producer.close().await;
    consumer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_level_read_unflushed_reads_records_before_their_fsync() {
    let broker = Broker::start();
    let client = Client::connect(ClientConfig::new(broker.address()))
        .await
        .unwrap();
    // Flushed once an hour: nothing becomes durable during the test.
    client
        .create_topic(NewTopic::new("lazy", Some(1)).config("flush.ms", "3600000"))
        .await
        .unwrap();
    client.close();
    let producer = Producer::builder()
        .bootstrap(broker.address())
        .set("acks", "1")
        .unwrap()
        .build()
        .await
        .unwrap();
    producer
        .send(ProducerRecord::new("lazy", "early"))
        .await
        .unwrap();
    let mut eager = consumer(&broker, &[("isolation.level", "read_unflushed")]).await;
    eager.assign("lazy", &[0]).await.unwrap();
    eager.seek("lazy", 0, SeekTo::Earliest).await.unwrap();
    let records = read(&mut eager, 1).await;
    assert_eq!(text(records[0].value.as_ref()), "early");
    // The default level waits for the fsync, which does not come.
    let mut durable = consumer(&broker, &[("fetch.max.wait.ms", "50")]).await;
    durable.assign("lazy", &[0]).await.unwrap();
    durable.seek("lazy", 0, SeekTo::Earliest).await.unwrap();
    for _ in 0..3 {
        let polled = durable.poll(Duration::from_millis(100)).await.unwrap();
        assert!(polled.is_empty(), "read an unflushed record: {polled:?}");
    }
    producer.close().await;
    eager.close().await;
    durable.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_prefetch_budget_still_reads_everything() {
    let broker = Broker::start();
    create(&broker, "big", 2).await;
    let producer = Producer::builder()
        .bootstrap(broker.address())
        .build()
        .await
        .unwrap();
    let mut deliveries = Vec::new();
    for i in 0..200u32 {
        let record = ProducerRecord::new("big", vec![b'x'; 2_000]).partition(i % 2);
        deliveries.push(producer.enqueue(record).await.unwrap());
    }
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    producer.close().await;
    // Budget smaller than one batch: the consumer reads one batch at a
    // time and still gets everything.
    let mut consumer = consumer(
        &broker,
        &[
            ("auto.offset.reset", "earliest"),
            ("fetch.buffer.bytes", "4096"),
            ("max.partition.fetch.bytes", "1024"),
        ],
    )
    .await;
    consumer.assign_all("big").await.unwrap();
    let records = read(&mut consumer, 200).await;
    assert_eq!(records.len(), 200);
}

/// Polls `consumer` once, briefly, and returns its assignment.
async fn assignment_after_poll(consumer: &mut Consumer) -> Vec<u32> {
    consumer.poll(Duration::from_millis(20)).await.unwrap();
    consumer
        .assignment()
        .iter()
        .map(|tp| tp.partition)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_members_share_partitions_without_overlap() {
    let broker = Broker::start_with_env(&[("RUNNEL_GROUP_HEARTBEAT_INTERVAL_MS", "20")]);
    create(&broker, "shared", 4).await;
    let settings = [
        ("group.id", "workers"),
        ("auto.offset.reset", "earliest"),
        ("auto.commit.interval.ms", "50"),
    ];
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut a = consumer(&broker, &settings).await;
    let seen = std::sync::Arc::clone(&events);
    a.on_rebalance(move |change| seen.lock().unwrap().push(format!("a {change:?}")));
    a.subscribe(&["shared"]).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while assignment_after_poll(&mut a).await.len() != 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a never got 4 partitions"
        );
    }
    let mut b = consumer(&broker, &settings).await;
    b.subscribe(&["shared"]).unwrap();
    loop {
        let owned_a = assignment_after_poll(&mut a).await;
        let owned_b = assignment_after_poll(&mut b).await;
        assert!(
            owned_a.iter().all(|p| !owned_b.contains(p)),
            "a partition has two owners: {owned_a:?} {owned_b:?}"
        );
        if owned_a.len() == 2 && owned_b.len() == 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never balanced: {owned_a:?} {owned_b:?}"
        );
    }
    let events = events.lock().unwrap().clone();
    assert!(
        events.iter().any(|e| e.starts_with("a Revoked")),
        "{events:?}"
    );

    // Records produced now reach exactly one member each.
    let producer = Producer::builder()
        .bootstrap(broker.address())
        .build()
        .await
        .unwrap();
    for i in 0..40u32 {
        let record = ProducerRecord::new("shared", i.to_string()).partition(i % 4);
        producer.send(record).await.unwrap();
    }
    producer.close().await;
    let mut values = Vec::new();
    while values.len() < 40 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "read {} of 40",
            values.len()
        );
        for member in [&mut a, &mut b] {
            for record in member.poll(Duration::from_millis(20)).await.unwrap() {
                values.push(text(record.value.as_ref()).parse::<u32>().unwrap());
            }
        }
    }
    values.sort_unstable();
    assert_eq!(values, (0..40).collect::<Vec<_>>());
    b.commit().await.unwrap();
    a.close().await;
    // With a gone, b takes over every partition, from a's commits.
    while assignment_after_poll(&mut b).await.len() != 4 {
        assert!(tokio::time::Instant::now() < deadline, "b never took over");
    }
    assert!(
        b.poll(Duration::from_millis(200)).await.unwrap().is_empty(),
        "nothing is read twice"
    );
    b.close().await;
}
