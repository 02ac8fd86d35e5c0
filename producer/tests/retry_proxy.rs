//! A produce request reaches the real broker, but the connection is cut
//! before its response comes back (a TCP proxy in the middle drops it).
//! With idempotence the producer's retry is recognised by the broker: the
//! final log holds every record exactly once, in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use runnel_client::{Client, ClientConfig, NewTopic};
use runnel_producer::{Producer, ProducerRecord};
use runnel_protocol::api::fetch::{FetchPartition, FetchRequest, FetchTopic, IsolationLevel};
use runnel_protocol::api::metadata::MetadataRequest;
use runnel_protocol::record::Batches;
use runnel_protocol::{ApiKey, PartitionId, ResponseHeader, decode_response_as, encode_response};
use runnel_testkit::BrokerProcess;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// Forwards connections to `upstream`, presenting itself as the broker in
/// Metadata answers so the producer keeps using it. On the connection that
/// carries the `cut_at`-th produce request, the request is forwarded whole
/// and then both sides are closed before any response is returned.
async fn proxy(
    listener: TcpListener,
    upstream: String,
    cut_at: usize,
    produce_count: Arc<AtomicUsize>,
) {
    let me = listener.local_addr().unwrap();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            return;
        };
        let upstream = upstream.clone();
        let produce_count = Arc::clone(&produce_count);
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(&upstream).await else {
                return;
            };
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u32, u16)>();
            // Broker → client, rewriting Metadata so the client stays here.
            let down = tokio::spawn(async move {
                let mut apis = std::collections::HashMap::new();
                while let Some(frame) = read_frame(&mut sr).await {
                    let cid = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
                    while let Ok((id, api)) = rx.try_recv() {
                        apis.insert(id, api);
                    }
                    let mut out = frame.clone();
                    if apis.remove(&cid) == Some(ApiKey::Metadata.code()) {
                        let (_, body) = ResponseHeader::split(Bytes::from(frame)).unwrap();
                        let mut md = decode_response_as::<MetadataRequest>(body)
                            .unwrap()
                            .unwrap();
                        for b in &mut md.brokers {
                            b.host = me.ip().to_string();
                            b.port = me.port();
                        }
                        out = encode_response(&md, cid).unwrap().to_bytes()[4..].to_vec();
                    }
                    let len = u32::try_from(out.len()).unwrap().to_be_bytes();
                    if cw.write_all(&len).await.is_err() || cw.write_all(&out).await.is_err() {
                        return;
                    }
                }
            });
            // Client → broker, frame by frame, counting produce requests.
            while let Some(body) = read_frame(&mut cr).await {
                let api = u16::from_be_bytes([body[0], body[1]]);
                let cid = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                let _ = tx.send((cid, api));
                let cut = api == ApiKey::Produce.code()
                    && produce_count.fetch_add(1, Ordering::SeqCst) + 1 == cut_at;
                let len = u32::try_from(body.len()).unwrap().to_be_bytes();
                if sw.write_all(&len).await.is_err() || sw.write_all(&body).await.is_err() {
                    break;
                }
                if cut {
                    // The broker has the request; its answer never arrives.
                    break;
                }
            }
            down.abort();
        });
    }
}

async fn read_frame(r: &mut (impl tokio::io::AsyncRead + Unpin)) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await.ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    r.read_exact(&mut body).await.ok()?;
    Some(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_response_is_retried_without_duplicates() {
    let broker = BrokerProcess::start();
    let admin = Client::connect(ClientConfig::new(broker.bootstrap()))
        .await
        .unwrap();
    admin
        .create_topic(NewTopic::new("t", Some(1)))
        .await
        .unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_addr = listener.local_addr().unwrap().to_string();
    let produce_count = Arc::new(AtomicUsize::new(0));
    tokio::spawn(proxy(
        listener,
        broker.bootstrap(),
        3,
        Arc::clone(&produce_count),
    ));

    let producer = Producer::builder()
        .bootstrap(proxy_addr)
        .set("linger.ms", "0")
        .unwrap()
        .set("retry.backoff.ms", "20")
        .unwrap()
        .build()
        .await
        .unwrap();
    assert!(producer.is_idempotent());
    let mut deliveries = Vec::new();
    for i in 0..20 {
        let record = ProducerRecord::new("t", Bytes::from(format!("r{i}"))).partition(0);
        deliveries.push(producer.enqueue(record).await.unwrap());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut offsets = Vec::new();
    for d in deliveries {
        let meta = tokio::time::timeout(Duration::from_secs(30), d)
            .await
            .unwrap()
            .unwrap();
        offsets.push(meta.offset.unwrap());
    }
    producer.close().await;
    assert!(
        produce_count.load(Ordering::SeqCst) > 3,
        "the cut request was retried"
    );
    assert_eq!(
        offsets,
        (0..20).collect::<Vec<i64>>(),
        "each record acknowledged once, in order"
    );

    let response = admin
        .call(&FetchRequest {
            max_wait_ms: 0,
            min_bytes: 0,
            max_bytes: 1 << 20,
            isolation_level: IsolationLevel::default(),
            topics: vec![FetchTopic {
                name: "t".into(),
                partitions: vec![FetchPartition {
                    partition: PartitionId(0),
                    fetch_offset: 0,
                    partition_max_bytes: 1 << 20,
                }],
            }],
        })
        .await
        .unwrap();
    let mut values = Vec::new();
    for batch in Batches::new(response.topics[0].partitions[0].records.clone()) {
        for r in batch.unwrap().records().unwrap() {
            values.push(String::from_utf8(r.unwrap().value.unwrap().to_vec()).unwrap());
        }
    }
    let expected: Vec<String> = (0..20).map(|i| format!("r{i}")).collect();
    assert_eq!(
        values, expected,
        "the log holds each record exactly once, in order"
    );
}
