//! One module per API: each turns a request into a response, doing the
//! in-order part (appends) before returning and leaving the waiting part
//! (durability, long-poll) to the returned future.

pub mod admin;
pub mod fetch;
pub mod groups;
pub mod list_offsets;
pub mod metadata;
pub mod produce;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use runnel_protocol::api::api_versions::ApiVersionsResponse;
use runnel_protocol::api::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
use runnel_protocol::{ErrorCode, Request, Response};

use crate::context::BrokerContext;

/// A response still being worked on; `None` means no response is sent
/// (produce with acks=0).
pub type PendingResponse = Pin<Box<dyn Future<Output = Option<Response>> + Send>>;

fn ready(response: Response) -> PendingResponse {
    Box::pin(std::future::ready(Some(response)))
}

/// InitProducerId: a fresh producer id at epoch 0 (no transactions).
fn init_producer_id(
    ctx: &Arc<BrokerContext>,
    request: &InitProducerIdRequest,
) -> InitProducerIdResponse {
    if request.transactional_id.is_some() {
        return InitProducerIdResponse::error(
            ErrorCode::InvalidRequest,
            Some("transactions are not supported; send transactional_id as null".to_owned()),
        );
    }
    match ctx.producer_ids.next() {
        Ok(producer_id) => InitProducerIdResponse {
            error_code: ErrorCode::None,
            error_message: None,
            producer_id,
            producer_epoch: 0,
        },
        Err(e) => {
            tracing::error!(error = %e, "cannot allocate a producer id");
            InitProducerIdResponse::error(ErrorCode::StorageError, Some(e.to_string()))
        }
    }
}

/// Who sent a request, beyond its body: the group coordinator records it
/// for each member.
#[derive(Debug, Clone, Copy)]
pub struct RequestOrigin<'a> {
    /// The request header's client id.
    pub client_id: &'a str,
    /// The connection's remote address.
    pub peer: SocketAddr,
}

/// Routes a decoded request to its handler.
pub fn dispatch(
    ctx: &Arc<BrokerContext>,
    request: Request,
    origin: &RequestOrigin<'_>,
) -> PendingResponse {
    match request {
        Request::ApiVersions(_) => ready(Response::ApiVersions(ApiVersionsResponse::supported(
            ErrorCode::None,
        ))),
        Request::Metadata(r) => ready(Response::Metadata(metadata::handle(ctx, &r))),
        Request::CreateTopics(r) => ready(Response::CreateTopics(admin::create_topics(ctx, &r))),
        Request::DeleteTopics(r) => ready(Response::DeleteTopics(admin::delete_topics(ctx, &r))),
        Request::DescribeConfigs(r) => {
            ready(Response::DescribeConfigs(admin::describe_configs(ctx, &r)))
        }
        Request::AlterConfigs(r) => ready(Response::AlterConfigs(admin::alter_configs(ctx, &r))),
        Request::Produce(r) => produce::handle(ctx, r),
        Request::Fetch(r) => {
            let ctx = Arc::clone(ctx);
            Box::pin(async move { Some(Response::Fetch(fetch::handle(&ctx, r).await)) })
        }
        Request::ListOffsets(r) => ready(Response::ListOffsets(list_offsets::handle(ctx, &r))),
        Request::InitProducerId(r) => ready(Response::InitProducerId(init_producer_id(ctx, &r))),
        Request::FindCoordinator(r) => {
            ready(Response::FindCoordinator(groups::find_coordinator(ctx, &r)))
        }
        Request::ConsumerGroupHeartbeat(r) => {
            groups::heartbeat(ctx, r, origin.client_id, origin.peer)
        }
        Request::OffsetCommit(r) => groups::offset_commit(ctx, r),
        Request::OffsetFetch(r) => groups::offset_fetch(ctx, r),
        Request::ListGroups(r) => groups::list_groups(ctx, r),
        Request::DescribeGroups(r) => groups::describe_groups(ctx, r),
        Request::DeleteGroups(r) => groups::delete_groups(ctx, r),
    }
}
