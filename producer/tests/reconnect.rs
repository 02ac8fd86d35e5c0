//! A record sent while the broker is down is delivered once it is back,
//! without anything else being sent to wake the producer.

use std::time::Duration;

use bytes::Bytes;
use runnel_client::{Client, ClientConfig, NewTopic};
use runnel_producer::{Producer, ProducerRecord};
use runnel_testkit::BrokerProcess;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_sent_while_the_broker_is_down_is_delivered_after_restart() {
    let mut broker = BrokerProcess::start();
    let admin = Client::connect(ClientConfig::new(broker.bootstrap()))
        .await
        .unwrap();
    admin
        .create_topic(NewTopic::new("t", Some(1)))
        .await
        .unwrap();
    let producer = Producer::builder()
        .bootstrap(broker.bootstrap())
        .set("retry.backoff.ms", "20")
        .unwrap()
        .set("reconnect.backoff.max.ms", "100")
        .unwrap()
        .build()
        .await
        .unwrap();
    producer
        .send(ProducerRecord::new("t", Bytes::from_static(b"before")))
        .await
        .unwrap();

    broker.kill();
    let delivery = producer
        .enqueue(ProducerRecord::new("t", Bytes::from_static(b"while down")))
        .await
        .unwrap();
    // Let the sender fail to connect and put the batch back for a retry.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _broker = broker.restart(false);

    let meta = tokio::time::timeout(Duration::from_secs(20), delivery)
        .await
        .expect("the retried record was never sent")
        .unwrap();
    assert_eq!(meta.offset, Some(1));
    producer.close().await;
}
