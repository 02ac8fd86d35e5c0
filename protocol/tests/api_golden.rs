//! Golden wire fixtures: one whole frame per message under
//! `tests/fixtures/api/`. Each test encodes a fixed value, compares it with
//! the file byte for byte, and decodes the file back to the same value.
//!
//! A change to any layout shows up here as a diff. To regenerate the files
//! after a deliberate change, run with `RUNNEL_BLESS=1`.

use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use runnel_protocol::api::alter_configs::{
    AlterConfigsRequest, AlterConfigsResource, AlterConfigsResponse, AlterConfigsResult,
    AlterableConfig,
};
use runnel_protocol::api::api_versions::{ApiVersionsRequest, ApiVersionsResponse};
use runnel_protocol::api::create_topics::{
    ConfigEntry, CreatableTopic, CreatableTopicResult, CreateTopicsRequest, CreateTopicsResponse,
};
use runnel_protocol::api::delete_topics::{
    DeletableTopicResult, DeleteTopicsRequest, DeleteTopicsResponse,
};
use runnel_protocol::api::describe_configs::{
    DescribeConfigsEntry, DescribeConfigsRequest, DescribeConfigsResource, DescribeConfigsResponse,
    DescribeConfigsResult, ResourceType,
};
use runnel_protocol::api::error_response::ErrorResponse;
use runnel_protocol::api::fetch::{
    FetchPartition, FetchPartitionResponse, FetchRequest, FetchResponse, FetchTopic,
    FetchTopicResponse, IsolationLevel,
};
use runnel_protocol::api::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
use runnel_protocol::api::list_offsets::{
    ListOffsetsPartition, ListOffsetsPartitionResponse, ListOffsetsRequest, ListOffsetsResponse,
    ListOffsetsTopic, ListOffsetsTopicResponse, OffsetSpec,
};
use runnel_protocol::api::metadata::{
    BrokerMetadata, MetadataRequest, MetadataResponse, PartitionMetadata, TopicMetadata,
};
use runnel_protocol::api::produce::{
    Acks, ProducePartition, ProducePartitionResponse, ProduceRequest, ProduceResponse,
    ProduceTopic, ProduceTopicResponse,
};
use runnel_protocol::{
    ApiKey, ErrorCode, FrameCodec, FrameOut, NodeId, PartitionId, Request, Response,
    ResponseHeader, decode_request_frame, decode_response,
};
use tokio_util::codec::Decoder;

const CORRELATION_ID: u32 = 7;
const CLIENT_ID: &str = "runnel-golden";

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/api")
        .join(format!("{name}.bin"))
}

/// Compares `frame` with the fixture `name` (or rewrites it when blessing)
/// and returns the fixture's frame body, split off by the frame codec.
fn check_fixture(name: &str, frame: &FrameOut) -> Bytes {
    let encoded = frame.to_bytes();
    let path = fixture_path(name);
    if std::env::var_os("RUNNEL_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &encoded).unwrap();
    }
    let stored = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; run with RUNNEL_BLESS=1 to create it",
            path.display()
        )
    });
    assert_eq!(
        &encoded[..],
        &stored[..],
        "{name}: encoding differs from {}; if the change is deliberate, rerun with RUNNEL_BLESS=1",
        path.display()
    );
    let mut buf = BytesMut::from(&stored[..]);
    let body = FrameCodec::default()
        .decode(&mut buf)
        .unwrap()
        .expect("fixture holds a whole frame");
    assert!(buf.is_empty(), "{name}: bytes after the frame");
    body
}

fn check_request(name: &str, request: Request) {
    let frame = request.encode_frame(CORRELATION_ID, CLIENT_ID).unwrap();
    let body = check_fixture(name, &frame);
    let incoming = decode_request_frame(body).unwrap();
    assert_eq!(incoming.header.correlation_id, CORRELATION_ID);
    assert_eq!(incoming.header.client_id, CLIENT_ID);
    assert_eq!(incoming.header.api(), Some(request.api_key()));
    assert_eq!(incoming.request, Ok(request), "{name}");
}

fn check_response(name: &str, api: ApiKey, response: &Response) {
    let frame = response.encode_frame(CORRELATION_ID).unwrap();
    let body = check_fixture(name, &frame);
    let (header, body) = ResponseHeader::split(body).unwrap();
    assert_eq!(header.correlation_id, CORRELATION_ID);
    assert_eq!(&decode_response(api, 0, body).unwrap(), response, "{name}");
}

fn node(id: i32) -> NodeId {
    NodeId::new(id).unwrap()
}

/// Stands in for RecordBatch v2 bytes: the protocol layer carries records
/// as an opaque blob.
fn records() -> Bytes {
    Bytes::from_static(b"\x00\x00\x00\x00\x00\x00\x00\x00record-batch-bytes")
}

#[test]
fn api_versions() {
    check_request("api_versions_request", ApiVersionsRequest.into());
    check_response(
        "api_versions_response",
        ApiKey::ApiVersions,
        &ApiVersionsResponse::supported(ErrorCode::None).into(),
    );
}

#[test]
fn metadata() {
    check_request(
        "metadata_request",
        MetadataRequest {
            topics: Some(vec!["orders".into()]),
        }
        .into(),
    );
    check_request(
        "metadata_request_all",
        MetadataRequest { topics: None }.into(),
    );
    check_response(
        "metadata_response",
        ApiKey::Metadata,
        &MetadataResponse {
            brokers: vec![BrokerMetadata {
                node_id: node(0),
                host: "127.0.0.1".into(),
                port: 9170,
            }],
            topics: vec![TopicMetadata {
                error_code: ErrorCode::None,
                error_message: None,
                name: "orders".into(),
                partitions: vec![PartitionMetadata {
                    partition: PartitionId(0),
                    error_code: ErrorCode::None,
                    leader: Some(node(0)),
                    replicas: vec![node(0)],
                    isr: vec![node(0)],
                }],
            }],
        }
        .into(),
    );
}

#[test]
fn create_topics() {
    check_request(
        "create_topics_request",
        CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "orders".into(),
                partitions: 3,
                configs: vec![ConfigEntry::new("retention.ms", "86400000")],
            }],
            timeout_ms: 5000,
            validate_only: false,
        }
        .into(),
    );
    check_response(
        "create_topics_response",
        ApiKey::CreateTopics,
        &CreateTopicsResponse {
            topics: vec![CreatableTopicResult {
                name: "orders".into(),
                error_code: ErrorCode::None,
                error_message: None,
                partitions: 3,
                configs: vec![ConfigEntry::new("retention.ms", "86400000")],
            }],
        }
        .into(),
    );
}

#[test]
fn delete_topics() {
    check_request(
        "delete_topics_request",
        DeleteTopicsRequest {
            names: vec!["orders".into()],
        }
        .into(),
    );
    check_response(
        "delete_topics_response",
        ApiKey::DeleteTopics,
        &DeleteTopicsResponse {
            topics: vec![DeletableTopicResult {
                name: "orders".into(),
                error_code: ErrorCode::UnknownTopicOrPartition,
                error_message: Some("no topic named orders".into()),
            }],
        }
        .into(),
    );
}

#[test]
fn describe_configs() {
    check_request(
        "describe_configs_request",
        DescribeConfigsRequest {
            resources: vec![DescribeConfigsResource {
                resource_type: ResourceType::Topic,
                resource_name: "orders".into(),
                keys: None,
            }],
        }
        .into(),
    );
    check_response(
        "describe_configs_response",
        ApiKey::DescribeConfigs,
        &DescribeConfigsResponse {
            resources: vec![DescribeConfigsResult {
                error_code: ErrorCode::None,
                error_message: None,
                resource_type: ResourceType::Topic,
                resource_name: "orders".into(),
                entries: vec![DescribeConfigsEntry {
                    name: "retention.ms".into(),
                    value: Some("86400000".into()),
                    is_default: false,
                    read_only: false,
                }],
            }],
        }
        .into(),
    );
}

#[test]
fn alter_configs() {
    check_request(
        "alter_configs_request",
        AlterConfigsRequest {
            resources: vec![AlterConfigsResource {
                resource_type: ResourceType::Topic,
                resource_name: "orders".into(),
                ops: vec![
                    AlterableConfig::set("retention.ms", "3600000"),
                    AlterableConfig::delete("segment.bytes"),
                ],
            }],
            validate_only: true,
        }
        .into(),
    );
    check_response(
        "alter_configs_response",
        ApiKey::AlterConfigs,
        &AlterConfigsResponse {
            resources: vec![AlterConfigsResult {
                error_code: ErrorCode::None,
                error_message: None,
                resource_type: ResourceType::Topic,
                resource_name: "orders".into(),
            }],
        }
        .into(),
    );
}

#[test]
fn produce() {
    check_request(
        "produce_request",
        ProduceRequest {
            transactional_id: None,
            acks: Acks::All,
            timeout_ms: 30_000,
            topics: vec![ProduceTopic {
                name: "orders".into(),
                partitions: vec![ProducePartition {
                    partition: PartitionId(0),
                    records: records(),
                }],
            }],
        }
        .into(),
    );
    check_response(
        "produce_response",
        ApiKey::Produce,
        &ProduceResponse {
            topics: vec![ProduceTopicResponse {
                name: "orders".into(),
                partitions: vec![ProducePartitionResponse {
                    partition: PartitionId(0),
                    error_code: ErrorCode::None,
                    error_message: None,
                    base_offset: 100,
                    log_append_time_ms: -1,
                    log_start_offset: 0,
                }],
            }],
            throttle_time_ms: 0,
        }
        .into(),
    );
}

#[test]
fn fetch() {
    check_request(
        "fetch_request",
        FetchRequest {
            max_wait_ms: 500,
            min_bytes: 1,
            max_bytes: 52_428_800,
            isolation_level: IsolationLevel::ReadUncommitted,
            topics: vec![FetchTopic {
                name: "orders".into(),
                partitions: vec![FetchPartition {
                    partition: PartitionId(0),
                    fetch_offset: 100,
                    partition_max_bytes: 1_048_576,
                }],
            }],
        }
        .into(),
    );
    check_response(
        "fetch_response",
        ApiKey::Fetch,
        &FetchResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::None,
            topics: vec![FetchTopicResponse {
                name: "orders".into(),
                partitions: vec![
                    FetchPartitionResponse {
                        partition: PartitionId(0),
                        error_code: ErrorCode::None,
                        error_message: None,
                        high_watermark: 101,
                        log_start_offset: 0,
                        log_end_offset: 101,
                        records: records(),
                    },
                    FetchPartitionResponse {
                        partition: PartitionId(1),
                        error_code: ErrorCode::OffsetOutOfRange,
                        error_message: Some("offset 100 is outside [0, 40)".into()),
                        high_watermark: 40,
                        log_start_offset: 0,
                        log_end_offset: 40,
                        records: Bytes::new(),
                    },
                ],
            }],
        }
        .into(),
    );
}

#[test]
fn list_offsets() {
    check_request(
        "list_offsets_request",
        ListOffsetsRequest {
            topics: vec![ListOffsetsTopic {
                name: "orders".into(),
                partitions: vec![
                    ListOffsetsPartition {
                        partition: PartitionId(0),
                        spec: OffsetSpec::Earliest,
                    },
                    ListOffsetsPartition {
                        partition: PartitionId(1),
                        spec: OffsetSpec::Timestamp(1_700_000_000_000),
                    },
                ],
            }],
        }
        .into(),
    );
    check_response(
        "list_offsets_response",
        ApiKey::ListOffsets,
        &ListOffsetsResponse {
            topics: vec![ListOffsetsTopicResponse {
                name: "orders".into(),
                partitions: vec![
                    ListOffsetsPartitionResponse {
                        partition: PartitionId(0),
                        error_code: ErrorCode::None,
                        error_message: None,
                        timestamp: -1,
                        offset: 0,
                    },
                    ListOffsetsPartitionResponse {
                        partition: PartitionId(1),
                        error_code: ErrorCode::None,
                        error_message: None,
                        timestamp: 1_700_000_000_042,
                        offset: 57,
                    },
                ],
            }],
        }
        .into(),
    );
}

#[test]
fn init_producer_id() {
    check_request(
        "init_producer_id_request",
        InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: 0,
        }
        .into(),
    );
    check_response(
        "init_producer_id_response",
        ApiKey::InitProducerId,
        &InitProducerIdResponse {
            error_code: ErrorCode::None,
            error_message: None,
            producer_id: 4_000,
            producer_epoch: 0,
        }
        .into(),
    );
}

#[test]
fn error_response() {
    check_response(
        "error_response",
        ApiKey::Metadata,
        &ErrorResponse::new(ErrorCode::UnsupportedVersion, "unknown api key 999").into(),
    );
}

#[test]
fn fetch_response_fixture_splits_around_the_records() {
    let response = Response::Fetch(FetchResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::None,
        topics: vec![FetchTopicResponse {
            name: "orders".into(),
            partitions: vec![FetchPartitionResponse {
                records: records(),
                ..FetchPartitionResponse::default()
            }],
        }],
    });
    let frame = response.encode_frame(CORRELATION_ID).unwrap();
    let chunks: Vec<&Bytes> = frame.chunks().collect();
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[1].as_ptr(), records().as_ptr());
}
