//! Fetch: whole batches below the high watermark (or, at isolation level
//! read unflushed, below the log end), zero-copy from the segment maps,
//! with long-polling until `min_bytes` are available or `max_wait_ms`
//! passes.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt as _};
use runnel_protocol::api::fetch::{
    FetchPartitionResponse, FetchRequest, FetchResponse, FetchTopicResponse, IsolationLevel,
};
use runnel_protocol::{ErrorCode, PartitionId};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::clock::now_ms;
use crate::context::BrokerContext;
use crate::error::{error_chain, storage_error_code};
use crate::partition::Partition;
use crate::storage::{Offset, StorageError, Visibility};

/// Most record bytes one fetch response carries, whatever the client asks
/// (like Kafka's broker-side `fetch.max.bytes`): keeps a response far from
/// the u32 frame limit and its write short. A single batch larger than this
/// still goes out alone, so a fetch always progresses.
const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// Handles a fetch request; see the module docs.
pub async fn handle(ctx: &Arc<BrokerContext>, request: FetchRequest) -> FetchResponse {
    let wait =
        Duration::from_millis(u64::from(request.max_wait_ms).min(ctx.config.max_fetch_wait_ms));
    let deadline = Instant::now() + wait;
    let resolved = resolve(ctx, &request);
    let visibility = match request.isolation_level {
        IsolationLevel::ReadUncommitted => Visibility::Durable,
        IsolationLevel::ReadUnflushed => Visibility::Appended,
    };
    loop {
        // Subscribe before reading so no move of the visible end is missed.
        let mut watchers: Vec<watch::Receiver<u64>> = resolved
            .iter()
            .flatten()
            .filter_map(|(p, _)| p.as_ref().map(|p| p.subscribe(visibility)))
            .collect();
        let (response, bytes, errors) = read_all(&request, &resolved, visibility);
        if bytes >= request.min_bytes as usize
            || errors
            || Instant::now() >= deadline
            || watchers.is_empty()
            || ctx.shutting_down.is_cancelled()
        {
            record_delivery(&request, &resolved, &response);
            return response;
        }
        let mut changed: FuturesUnordered<_> =
            watchers.iter_mut().map(watch::Receiver::changed).collect();
        tokio::select! {
            _ = changed.next() => {}
            () = tokio::time::sleep_until(deadline) => {}
            () = ctx.shutting_down.cancelled() => {}
        }
    }
}

/// Counts the records the response delivers, per topic, and their
/// delivery latency (see [`crate::metrics::TopicMetrics::delivered`]).
fn record_delivery(request: &FetchRequest, resolved: &Resolved, response: &FetchResponse) {
    let now = now_ms();
    for ((t, parts), out) in request.topics.iter().zip(resolved).zip(&response.topics) {
        for ((p, (part, _)), r) in t.partitions.iter().zip(parts).zip(&out.partitions) {
            if let Some(part) = part {
                part.traffic().delivered(p.fetch_offset, &r.records, now);
            }
        }
    }
}

/// Each requested partition, resolved once: the partition (or the error
/// that replaces it) and the offset asked for.
type Resolved = Vec<Vec<(Option<Arc<Partition>>, Result<(), (ErrorCode, String)>)>>;

fn resolve(ctx: &Arc<BrokerContext>, request: &FetchRequest) -> Resolved {
    request
        .topics
        .iter()
        .map(|t| {
            let topic = ctx.topics.get(&t.name);
            t.partitions
                .iter()
                .map(|p| match &topic {
                    None => (
                        None,
                        Err((
                            ErrorCode::UnknownTopicOrPartition,
                            format!("unknown topic {:?}", t.name),
                        )),
                    ),
                    Some(topic) => match topic.partition(p.partition.0) {
                        Some(part) => (Some(Arc::clone(part)), Ok(())),
                        None => (
                            None,
                            Err((
                                ErrorCode::UnknownTopicOrPartition,
                                format!("topic {:?} has no partition {}", t.name, p.partition.0),
                            )),
                        ),
                    },
                })
                .collect()
        })
        .collect()
}

/// Reads every partition once. Returns the response, the record bytes in it
/// and whether any partition reported an error.
fn read_all(
    request: &FetchRequest,
    resolved: &Resolved,
    visibility: Visibility,
) -> (FetchResponse, usize, bool) {
    let mut remaining = (request.max_bytes as usize).min(MAX_RESPONSE_BYTES);
    let mut total = 0usize;
    let mut errors = false;
    let mut topics = Vec::with_capacity(request.topics.len());
    for (t, parts) in request.topics.iter().zip(resolved) {
        let mut out = FetchTopicResponse {
            name: t.name.clone(),
            partitions: Vec::with_capacity(t.partitions.len()),
        };
        for (p, (part, status)) in t.partitions.iter().zip(parts) {
            let resp = match (part, status) {
                (Some(part), Ok(())) => {
                    let budget = (p.partition_max_bytes as usize).min(remaining);
                    let first = total == 0;
                    let r = read_partition(
                        part,
                        p.partition,
                        p.fetch_offset,
                        budget,
                        first,
                        visibility,
                    );
                    if r.error_code != ErrorCode::None {
                        errors = true;
                    }
                    total += r.records.len();
                    remaining = remaining.saturating_sub(r.records.len());
                    r
                }
                (_, Err((code, msg))) => {
                    errors = true;
                    unknown(p.partition, *code, msg.clone())
                }
                (None, Ok(())) => unknown(
                    p.partition,
                    ErrorCode::UnknownTopicOrPartition,
                    String::new(),
                ),
            };
            out.partitions.push(resp);
        }
        topics.push(out);
    }
    (
        FetchResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::None,
            topics,
        },
        total,
        errors,
    )
}

fn unknown(partition: PartitionId, code: ErrorCode, message: String) -> FetchPartitionResponse {
    FetchPartitionResponse {
        partition,
        error_code: code,
        error_message: Some(message),
        high_watermark: -1,
        log_start_offset: -1,
        log_end_offset: -1,
        records: bytes::Bytes::new(),
    }
}

/// Reads one partition, up to what `visibility` lets it see. `first` says
/// nothing has been returned yet, so one batch larger than the budget may
/// still go (a fetch always progresses).
fn read_partition(
    part: &Partition,
    id: PartitionId,
    fetch_offset: i64,
    budget: usize,
    first: bool,
    visibility: Visibility,
) -> FetchPartitionResponse {
    let reader = part.reader();
    let mut resp = FetchPartitionResponse {
        partition: id,
        error_code: ErrorCode::None,
        error_message: None,
        high_watermark: reader.high_watermark().as_i64(),
        log_start_offset: reader.log_start_offset().as_i64(),
        log_end_offset: reader.log_end_offset().as_i64(),
        records: bytes::Bytes::new(),
    };
    let Some(offset) = Offset::from_i64(fetch_offset) else {
        resp.error_code = ErrorCode::OffsetOutOfRange;
        resp.error_message = Some(format!(
            "offset {fetch_offset} is out of range [{}, {}]",
            resp.log_start_offset, resp.log_end_offset
        ));
        return resp;
    };
    if budget == 0 && !first {
        return resp;
    }
    match reader.read_visible(offset, budget.max(1), visibility) {
        Ok(r) => {
            resp.high_watermark = r.high_watermark.as_i64();
            resp.log_start_offset = r.log_start_offset.as_i64();
            resp.log_end_offset = r.log_end_offset.as_i64();
            if first || r.records.len() <= budget {
                resp.records = r.records;
            }
        }
        Err(e) => {
            resp.error_code = storage_error_code(&e);
            resp.error_message = Some(match &e {
                StorageError::OffsetOutOfRange { .. } => format!(
                    "offset {fetch_offset} is out of range [{}, {}]",
                    resp.log_start_offset, resp.log_end_offset
                ),
                other => error_chain(other),
            });
        }
    }
    resp
}
