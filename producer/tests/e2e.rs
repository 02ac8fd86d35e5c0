//! The producer against the real broker: `runnel-broker` started on a free
//! port with a temporary data directory; produces with every codec and
//! acks level and checks the records by listing offsets.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use runnel_client::{Client, ClientConfig, NewTopic};
use runnel_producer::{Producer, ProducerRecord};
use runnel_protocol::api::list_offsets::OffsetSpec;

/// A broker process, killed on drop.
struct Broker {
    /// The process.
    child: Child,
    /// `127.0.0.1:PORT`.
    addr: String,
    /// Keeps the data directory until the broker is gone.
    _dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The broker binary, built if missing.
fn broker_binary() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let binary = target.join("debug").join("runnel-broker");
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "-q",
            "-p",
            "runnel-broker",
            "--bin",
            "runnel-broker",
        ])
        .current_dir(&root)
        .status()
        .expect("run cargo build");
    assert!(status.success(), "building runnel-broker failed");
    assert!(binary.exists(), "no broker binary at {}", binary.display());
    binary
}

fn start_broker() -> Broker {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let metrics = format!("127.0.0.1:{}", free_port());
    let child = Command::new(broker_binary())
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", &addr, "--metrics-listen", &metrics])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start runnel-broker");
    let broker = Broker {
        child,
        addr,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&broker.addr).is_err() {
        assert!(Instant::now() < deadline, "broker did not start listening");
        std::thread::sleep(Duration::from_millis(20));
    }
    broker
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produces_with_every_codec_and_acks_level() {
    let broker = start_broker();
    let client = Client::connect(ClientConfig::new(&broker.addr))
        .await
        .unwrap();
    client
        .create_topic(NewTopic::new("e2e", Some(3)))
        .await
        .unwrap();
    let mut expected_total = 0i64;
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        for acks in ["all", "1", "0"] {
            let producer = Producer::builder()
                .bootstrap(&broker.addr)
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
    let broker = start_broker();
    let client = Client::connect(ClientConfig::new(&broker.addr))
        .await
        .unwrap();
    client
        .create_topic(NewTopic::new("keys", Some(5)))
        .await
        .unwrap();
    let producer = Producer::builder()
        .bootstrap(&broker.addr)
        .build()
        .await
        .unwrap();
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
