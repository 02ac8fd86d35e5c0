//! The consumer group APIs: FindCoordinator, ConsumerGroupHeartbeat,
//! OffsetCommit, OffsetFetch, ListGroups, DescribeGroups and DeleteGroups.
//!
//! The decisions are the group coordinator's ([`crate::group`]); this
//! module adds what needs the rest of the broker: the advertised address,
//! the topic registry, the request's origin, and the partitions' logs for
//! DescribeGroups' lag figures.

use std::net::SocketAddr;
use std::sync::Arc;

use runnel_protocol::api::consumer_group_heartbeat::ConsumerGroupHeartbeatRequest;
use runnel_protocol::api::delete_groups::DeleteGroupsRequest;
use runnel_protocol::api::describe_groups::{DescribeGroupsRequest, DescribeGroupsResponse};
use runnel_protocol::api::error_response::ErrorResponse;
use runnel_protocol::api::find_coordinator::{
    Coordinator, FindCoordinatorRequest, FindCoordinatorResponse,
};
use runnel_protocol::api::list_groups::ListGroupsRequest;
use runnel_protocol::api::offset_commit::OffsetCommitRequest;
use runnel_protocol::api::offset_fetch::OffsetFetchRequest;
use runnel_protocol::{ErrorCode, NodeId, Response};

use super::PendingResponse;
use super::metadata::NODE_ID;
use crate::clock::now_ms;
use crate::context::BrokerContext;
use crate::error::{error_chain, storage_error_code};
use crate::group::TopicMetadata;
use crate::group::coordinator::MAX_ID_BYTES;
use crate::group::lag::partition_lag;
use crate::topics::TopicRegistry;

impl TopicMetadata for TopicRegistry {
    fn partition_count(&self, topic: &str) -> Option<u32> {
        self.get(topic)
            .map(|t| u32::try_from(t.partitions().len()).unwrap_or(u32::MAX))
    }
}

impl TopicMetadata for BrokerContext {
    fn partition_count(&self, topic: &str) -> Option<u32> {
        self.topics.partition_count(topic)
    }
}

/// FindCoordinator: this broker coordinates every group (a single broker
/// is node 0 at its advertised address).
pub fn find_coordinator(
    ctx: &Arc<BrokerContext>,
    request: &FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let coordinators = request
        .keys
        .iter()
        .map(|key| {
            if key.is_empty() || key.len() > MAX_ID_BYTES {
                return Coordinator::error(
                    key.clone(),
                    ErrorCode::InvalidGroupId,
                    format!("group id must be 1 to {MAX_ID_BYTES} bytes"),
                );
            }
            Coordinator {
                key: key.clone(),
                error_code: ErrorCode::None,
                error_message: None,
                node_id: NodeId::new(NODE_ID),
                host: ctx.advertised.ip().to_string(),
                port: ctx.advertised.port(),
            }
        })
        .collect();
    FindCoordinatorResponse { coordinators }
}

/// ConsumerGroupHeartbeat, recording the member's client id and address.
pub fn heartbeat(
    ctx: &Arc<BrokerContext>,
    request: ConsumerGroupHeartbeatRequest,
    client_id: &str,
    peer: SocketAddr,
) -> PendingResponse {
    let ctx = Arc::clone(ctx);
    let client_id = client_id.to_owned();
    let host = peer.ip().to_string();
    Box::pin(async move {
        let r = ctx
            .groups
            .heartbeat(&request, &client_id, &host, ctx.as_ref())
            .await;
        Some(Response::ConsumerGroupHeartbeat(r))
    })
}

/// OffsetCommit, answered once the offsets are durable.
pub fn offset_commit(ctx: &Arc<BrokerContext>, request: OffsetCommitRequest) -> PendingResponse {
    let ctx = Arc::clone(ctx);
    Box::pin(async move {
        let r = ctx.groups.commit_offsets(&request, ctx.as_ref()).await;
        Some(Response::OffsetCommit(r))
    })
}

/// OffsetFetch.
pub fn offset_fetch(ctx: &Arc<BrokerContext>, request: OffsetFetchRequest) -> PendingResponse {
    let ctx = Arc::clone(ctx);
    Box::pin(async move {
        Some(Response::OffsetFetch(
            ctx.groups.fetch_offsets(&request).await,
        ))
    })
}

/// ListGroups (an error response when the coordinator cannot answer).
pub fn list_groups(ctx: &Arc<BrokerContext>, request: ListGroupsRequest) -> PendingResponse {
    let ctx = Arc::clone(ctx);
    Box::pin(async move {
        Some(match ctx.groups.list_groups(&request).await {
            Ok(r) => Response::ListGroups(r),
            Err((code, message)) => Response::Error(ErrorResponse::new(code, message)),
        })
    })
}

/// DescribeGroups, with the lag of every committed or owned partition.
pub fn describe_groups(
    ctx: &Arc<BrokerContext>,
    request: DescribeGroupsRequest,
) -> PendingResponse {
    let ctx = Arc::clone(ctx);
    Box::pin(async move {
        let mut r = ctx.groups.describe_groups(&request).await;
        fill_lag(&ctx, &mut r, now_ms());
        Some(Response::DescribeGroups(r))
    })
}

/// Fills in log end offsets and lag from the partitions' logs.
fn fill_lag(ctx: &BrokerContext, response: &mut DescribeGroupsResponse, now_ms: i64) {
    for group in &mut response.groups {
        for topic in &mut group.offsets {
            let t = ctx.topics.get(&topic.topic);
            for p in &mut topic.partitions {
                let Some(partition) = t.as_ref().and_then(|t| t.partition(p.partition.0)) else {
                    p.error_code = ErrorCode::UnknownTopicOrPartition;
                    p.error_message = Some(format!(
                        "unknown topic or partition {}/{}",
                        topic.topic, p.partition
                    ));
                    continue;
                };
                match partition_lag(partition.reader(), p.committed_offset, now_ms) {
                    Ok(lag) => {
                        p.log_end_offset = lag.log_end_offset;
                        p.lag = lag.lag;
                        p.time_lag_ms = lag.time_lag_ms;
                    }
                    Err(e) => {
                        p.log_end_offset = partition.reader().high_watermark().as_i64();
                        p.error_code = storage_error_code(&e);
                        p.error_message = Some(error_chain(&e));
                    }
                }
            }
        }
    }
}

/// DeleteGroups, answered once the deletion is durable.
pub fn delete_groups(ctx: &Arc<BrokerContext>, request: DeleteGroupsRequest) -> PendingResponse {
    let ctx = Arc::clone(ctx);
    Box::pin(async move {
        Some(Response::DeleteGroups(
            ctx.groups.delete_groups(&request).await,
        ))
    })
}
