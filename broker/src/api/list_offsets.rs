//! ListOffsets: earliest (log start), latest (high watermark), or the first
//! offset at or after a timestamp (time index).

use std::sync::Arc;

use runnel_protocol::ErrorCode;
use runnel_protocol::api::list_offsets::{
    ListOffsetsPartitionResponse, ListOffsetsRequest, ListOffsetsResponse,
    ListOffsetsTopicResponse, NONE, OffsetSpec,
};

use crate::context::BrokerContext;
use crate::error::{error_chain, storage_error_code};

/// Handles a ListOffsets request.
pub fn handle(ctx: &Arc<BrokerContext>, request: &ListOffsetsRequest) -> ListOffsetsResponse {
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let topic = ctx.topics.get(&t.name);
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut resp = ListOffsetsPartitionResponse {
                        partition: p.partition,
                        error_code: ErrorCode::None,
                        error_message: None,
                        timestamp: NONE,
                        offset: NONE,
                    };
                    let Some(part) = topic.as_ref().and_then(|t| t.partition(p.partition.0)) else {
                        resp.error_code = ErrorCode::UnknownTopicOrPartition;
                        resp.error_message = Some(format!(
                            "unknown topic or partition {}/{}",
                            t.name, p.partition.0
                        ));
                        return resp;
                    };
                    let reader = part.reader();
                    match p.spec {
                        OffsetSpec::Earliest => resp.offset = reader.log_start_offset().as_i64(),
                        OffsetSpec::Latest => resp.offset = reader.high_watermark().as_i64(),
                        OffsetSpec::Timestamp(ts) => match reader.offset_for_timestamp(ts) {
                            Ok(Some((offset, found))) => {
                                resp.offset = offset.as_i64();
                                resp.timestamp = found;
                            }
                            Ok(None) => {}
                            Err(e) => {
                                resp.error_code = storage_error_code(&e);
                                resp.error_message = Some(error_chain(&e));
                            }
                        },
                    }
                    resp
                })
                .collect();
            ListOffsetsTopicResponse {
                name: t.name.clone(),
                partitions,
            }
        })
        .collect();
    ListOffsetsResponse { topics }
}
