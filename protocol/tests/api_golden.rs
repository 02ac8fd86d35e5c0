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
use runnel_protocol::api::consumer_group_heartbeat::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, TopicPartitions,
};
use runnel_protocol::api::create_topics::{
    ConfigEntry, CreatableTopic, CreatableTopicResult, CreateTopicsRequest, CreateTopicsResponse,
};
use runnel_protocol::api::delete_groups::{
    DeletableGroupResult, DeleteGroupsRequest, DeleteGroupsResponse,
};
use runnel_protocol::api::delete_topics::{
    DeletableTopicResult, DeleteTopicsRequest, DeleteTopicsResponse,
};
use runnel_protocol::api::describe_configs::{
    DescribeConfigsEntry, DescribeConfigsRequest, DescribeConfigsResource, DescribeConfigsResponse,
    DescribeConfigsResult, ResourceType,
};
use runnel_protocol::api::describe_groups::{
    DescribeGroupsRequest, DescribeGroupsResponse, DescribedGroup, DescribedMember,
    GroupOffsetsTopic, GroupPartitionOffset,
};
use runnel_protocol::api::error_response::ErrorResponse;
use runnel_protocol::api::fetch::{
    FetchPartition, FetchPartitionResponse, FetchRequest, FetchResponse, FetchTopic,
    FetchTopicResponse, IsolationLevel,
};
use runnel_protocol::api::find_coordinator::{
    Coordinator, CoordinatorKeyType, FindCoordinatorRequest, FindCoordinatorResponse,
};
use runnel_protocol::api::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
use runnel_protocol::api::list_groups::{ListGroupsRequest, ListGroupsResponse, ListedGroup};
use runnel_protocol::api::list_offsets::{
    ListOffsetsPartition, ListOffsetsPartitionResponse, ListOffsetsRequest, ListOffsetsResponse,
    ListOffsetsTopic, ListOffsetsTopicResponse, OffsetSpec,
};
use runnel_protocol::api::metadata::{
    BrokerMetadata, MetadataRequest, MetadataResponse, PartitionMetadata, TopicMetadata,
};
use runnel_protocol::api::offset_commit::{
    OffsetCommitPartition, OffsetCommitPartitionResponse, OffsetCommitRequest,
    OffsetCommitResponse, OffsetCommitTopic, OffsetCommitTopicResponse,
};
use runnel_protocol::api::offset_fetch::{
    OffsetFetchPartitionResponse, OffsetFetchRequest, OffsetFetchResponse, OffsetFetchTopic,
    OffsetFetchTopicResponse,
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

fn topic_partitions(topic: &str, partitions: &[u32]) -> TopicPartitions {
    TopicPartitions {
        topic: topic.into(),
        partitions: partitions.iter().copied().map(PartitionId).collect(),
    }
}

#[test]
fn find_coordinator() {
    check_request(
        "find_coordinator_request",
        FindCoordinatorRequest {
            key_type: CoordinatorKeyType::Group,
            keys: vec!["billing".into()],
        }
        .into(),
    );
    check_response(
        "find_coordinator_response",
        ApiKey::FindCoordinator,
        &FindCoordinatorResponse {
            coordinators: vec![Coordinator {
                key: "billing".into(),
                error_code: ErrorCode::None,
                error_message: None,
                node_id: Some(node(0)),
                host: "127.0.0.1".into(),
                port: 9170,
            }],
        }
        .into(),
    );
}

#[test]
fn consumer_group_heartbeat() {
    check_request(
        "consumer_group_heartbeat_request",
        ConsumerGroupHeartbeatRequest {
            group_id: "billing".into(),
            member_id: String::new(),
            member_epoch: 0,
            instance_id: None,
            rack_id: Some("rack-a".into()),
            rebalance_timeout_ms: 300_000,
            session_timeout_ms: 45_000,
            subscribed_topic_names: Some(vec!["orders".into()]),
            server_assignor: Some("sticky".into()),
            owned_partitions: Some(vec![]),
        }
        .into(),
    );
    check_response(
        "consumer_group_heartbeat_response",
        ApiKey::ConsumerGroupHeartbeat,
        &ConsumerGroupHeartbeatResponse {
            error_code: ErrorCode::None,
            error_message: None,
            member_id: "3f2a9c".into(),
            member_epoch: 1,
            heartbeat_interval_ms: 3_000,
            assignment: Some(vec![topic_partitions("orders", &[0, 1, 2])]),
        }
        .into(),
    );
}

#[test]
fn offset_commit() {
    check_request(
        "offset_commit_request",
        OffsetCommitRequest {
            group_id: "billing".into(),
            member_id: "3f2a9c".into(),
            member_epoch: 1,
            topics: vec![OffsetCommitTopic {
                name: "orders".into(),
                partitions: vec![OffsetCommitPartition {
                    partition: PartitionId(0),
                    committed_offset: 101,
                    committed_metadata: Some("host-1".into()),
                }],
            }],
        }
        .into(),
    );
    check_response(
        "offset_commit_response",
        ApiKey::OffsetCommit,
        &OffsetCommitResponse {
            topics: vec![OffsetCommitTopicResponse {
                name: "orders".into(),
                partitions: vec![OffsetCommitPartitionResponse {
                    partition: PartitionId(0),
                    error_code: ErrorCode::None,
                    error_message: None,
                }],
            }],
        }
        .into(),
    );
}

#[test]
fn offset_fetch() {
    check_request(
        "offset_fetch_request",
        OffsetFetchRequest {
            group_id: "billing".into(),
            member_id: "3f2a9c".into(),
            member_epoch: 1,
            topics: Some(vec![OffsetFetchTopic {
                name: "orders".into(),
                partitions: vec![PartitionId(0), PartitionId(1)],
            }]),
        }
        .into(),
    );
    check_response(
        "offset_fetch_response",
        ApiKey::OffsetFetch,
        &OffsetFetchResponse {
            topics: vec![OffsetFetchTopicResponse {
                name: "orders".into(),
                partitions: vec![
                    OffsetFetchPartitionResponse {
                        partition: PartitionId(0),
                        committed_offset: 101,
                        committed_metadata: Some("host-1".into()),
                        error_code: ErrorCode::None,
                        error_message: None,
                    },
                    OffsetFetchPartitionResponse {
                        partition: PartitionId(1),
                        committed_offset: -1,
                        committed_metadata: None,
                        error_code: ErrorCode::None,
                        error_message: None,
                    },
                ],
            }],
            error_code: ErrorCode::None,
            error_message: None,
        }
        .into(),
    );
}

#[test]
fn list_groups() {
    check_request(
        "list_groups_request",
        ListGroupsRequest {
            states_filter: vec![],
        }
        .into(),
    );
    check_response(
        "list_groups_response",
        ApiKey::ListGroups,
        &ListGroupsResponse {
            groups: vec![ListedGroup {
                group_id: "billing".into(),
                group_state: "Stable".into(),
                member_count: 2,
            }],
        }
        .into(),
    );
}

#[test]
fn describe_groups() {
    check_request(
        "describe_groups_request",
        DescribeGroupsRequest {
            group_ids: vec!["billing".into()],
        }
        .into(),
    );
    check_response(
        "describe_groups_response",
        ApiKey::DescribeGroups,
        &DescribeGroupsResponse {
            groups: vec![DescribedGroup {
                group_id: "billing".into(),
                error_code: ErrorCode::None,
                error_message: None,
                group_state: "Stable".into(),
                group_epoch: 1,
                assignment_epoch: 1,
                assignor_name: "sticky".into(),
                members: vec![DescribedMember {
                    member_id: "3f2a9c".into(),
                    instance_id: None,
                    rack_id: Some("rack-a".into()),
                    client_id: "billing-app".into(),
                    client_host: "127.0.0.1".into(),
                    member_epoch: 1,
                    member_state: "stable".into(),
                    subscribed_topic_names: vec!["orders".into()],
                    assignment: vec![topic_partitions("orders", &[0, 1])],
                    pending_revocation: vec![],
                    target_assignment: vec![topic_partitions("orders", &[0, 1])],
                }],
                offsets: vec![GroupOffsetsTopic {
                    topic: "orders".into(),
                    partitions: vec![GroupPartitionOffset {
                        partition: PartitionId(0),
                        error_code: ErrorCode::None,
                        error_message: None,
                        committed_offset: 101,
                        committed_metadata: Some("host-1".into()),
                        log_end_offset: 120,
                        lag: 19,
                        time_lag_ms: 2_500,
                    }],
                }],
            }],
        }
        .into(),
    );
}

#[test]
fn delete_groups() {
    check_request(
        "delete_groups_request",
        DeleteGroupsRequest {
            group_ids: vec!["billing".into()],
        }
        .into(),
    );
    check_response(
        "delete_groups_response",
        ApiKey::DeleteGroups,
        &DeleteGroupsResponse {
            results: vec![DeletableGroupResult {
                group_id: "billing".into(),
                error_code: ErrorCode::NonEmptyGroup,
                error_message: Some("the group still has 2 members".into()),
            }],
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
