//! Produce: validate every batch, append in request order, then answer —
//! at once for acks=1, after the data is durable for acks=all, never for
//! acks=0. The append happens before this returns, so pipelined produce
//! requests of one connection are appended in order without waiting for
//! each other's fsync.

use std::sync::Arc;
use std::time::Duration;

use runnel_protocol::api::produce::{
    Acks, NO_VALUE, ProducePartitionResponse, ProduceRequest, ProduceResponse, ProduceTopicResponse,
};
use runnel_protocol::record::{BatchHeader, Batches, RecordError, validate_batch};
use runnel_protocol::{ApiKey, ErrorCode, Response};

use super::PendingResponse;
use crate::clock::now_ms;
use crate::context::BrokerContext;
use crate::error::{error_chain, storage_error_code, topic_error};
use crate::partition::{Partition, WaitError};
use crate::storage::Offset;

/// A produce failure for one partition.
type Failure = (ErrorCode, String);

/// Handles a produce request; see the module docs.
pub fn handle(ctx: &Arc<BrokerContext>, request: ProduceRequest) -> PendingResponse {
    let now = now_ms();
    let mut response = ProduceResponse {
        topics: Vec::with_capacity(request.topics.len()),
        throttle_time_ms: 0,
    };
    // (topic index, partition index, partition, end offset) for acks=all.
    let mut waits: Vec<(usize, usize, Arc<Partition>, Offset)> = Vec::new();
    for (ti, topic) in request.topics.into_iter().enumerate() {
        let mut out = ProduceTopicResponse {
            name: topic.name.clone(),
            partitions: Vec::with_capacity(topic.partitions.len()),
        };
        let resolved = if request.transactional_id.is_some() {
            Err((
                ErrorCode::InvalidRequest,
                "transactions are not supported; send transactional_id as null".to_owned(),
            ))
        } else {
            ctx.topic_or_create(&topic.name)
                .map_err(|e| topic_error(&e))
        };
        for (pi, part) in topic.partitions.into_iter().enumerate() {
            let result = resolved.clone().and_then(|t| {
                let p = t.partition(part.partition.0).cloned().ok_or_else(|| {
                    (
                        ErrorCode::UnknownTopicOrPartition,
                        format!(
                            "topic {:?} has no partition {} (it has {})",
                            topic.name,
                            part.partition.0,
                            t.partitions().len()
                        ),
                    )
                })?;
                let max = t.config().max_message_bytes as usize;
                append(&p, &part.records, max, now).map(|r| (p, r))
            });
            out.partitions.push(match result {
                Ok((p, (base, end, append_time))) => {
                    if request.acks == Acks::All {
                        waits.push((ti, pi, Arc::clone(&p), end));
                    }
                    ProducePartitionResponse {
                        partition: part.partition,
                        error_code: ErrorCode::None,
                        error_message: None,
                        base_offset: base.as_i64(),
                        log_append_time_ms: append_time.unwrap_or(NO_VALUE),
                        log_start_offset: p.reader().log_start_offset().as_i64(),
                    }
                }
                Err((code, message)) => {
                    ProducePartitionResponse::error(part.partition, code, Some(message))
                }
            });
        }
        response.topics.push(out);
    }
    if request.acks == Acks::None {
        // No answer will carry the outcome, so count and log it here.
        crate::metrics::request_outcome(Some(ApiKey::Produce), &Response::Produce(response));
        return Box::pin(std::future::ready(None));
    }
    let timeout = Duration::from_millis(u64::from(request.timeout_ms));
    Box::pin(async move {
        for (ti, pi, p, end) in waits {
            if let Err(e) = p.wait_durable(end, timeout).await {
                let code = match e {
                    WaitError::Timeout => ErrorCode::RequestTimedOut,
                    WaitError::Fenced(_) => ErrorCode::StorageError,
                };
                let slot = &mut response.topics[ti].partitions[pi];
                *slot = ProducePartitionResponse::error(slot.partition, code, Some(e.to_string()));
            }
        }
        Some(Response::Produce(response))
    })
}

/// Validates every batch in `records`, then appends them. Returns the first
/// offset, the end offset (after the last record) and the log-append time.
fn append(
    p: &Arc<Partition>,
    records: &bytes::Bytes,
    max_message_bytes: usize,
    now: i64,
) -> Result<(Offset, Offset, Option<i64>), Failure> {
    let mut batches = Vec::new();
    let mut iter = Batches::new(records.clone());
    for batch in iter.by_ref() {
        let batch = batch.map_err(|e| corrupt(&e))?;
        let bytes = batch.into_bytes();
        let header = check_produced(&bytes, max_message_bytes)?;
        batches.push((bytes, header));
    }
    if let Some(tail) = iter.partial_tail() {
        return Err((
            ErrorCode::CorruptMessage,
            format!(
                "record set ends with a truncated batch at byte {} ({} bytes present)",
                tail.position, tail.available
            ),
        ));
    }
    if batches.is_empty() {
        return Err((
            ErrorCode::InvalidRecord,
            "the record set holds no batch".to_owned(),
        ));
    }
    let mut first = None;
    let mut end = Offset(0);
    let mut append_time = None;
    for (bytes, header) in &batches {
        // The failure is logged (rate-limited) with the response, by
        // `metrics::request_outcome`.
        let info = p
            .append(bytes, header, now)
            .map_err(|e| (storage_error_code(&e), error_chain(&e)))?;
        first.get_or_insert(info.base_offset);
        end = info.last_offset.plus(1);
        append_time = info.log_append_time;
    }
    Ok((first.unwrap_or_default(), end, append_time))
}

/// The checks a produced batch must pass beyond the format: Kafka's rules
/// for what a producer may send.
fn check_produced(bytes: &[u8], max_message_bytes: usize) -> Result<BatchHeader, Failure> {
    if bytes.len() > max_message_bytes {
        return Err((
            ErrorCode::MessageTooLarge,
            format!(
                "batch of {} bytes exceeds the topic's max.message.bytes {max_message_bytes}",
                bytes.len()
            ),
        ));
    }
    let header = validate_batch(bytes).map_err(|e| corrupt(&e))?;
    let invalid = |msg: &str| Err((ErrorCode::InvalidRecord, msg.to_owned()));
    if header.record_count < 1 {
        return invalid("a produced batch must hold at least one record");
    }
    if i64::from(header.last_offset_delta) + 1 != i64::from(header.record_count) {
        return invalid("last_offset_delta + 1 must equal the record count in a produced batch");
    }
    if header.is_control() || header.is_transactional() {
        return invalid("transactional and control batches are not supported");
    }
    if header.compression().is_err() {
        return Err((
            ErrorCode::UnsupportedCompressionType,
            format!(
                "unknown compression codec in attributes {:#06x}",
                header.attributes
            ),
        ));
    }
    Ok(header)
}

fn corrupt(e: &RecordError) -> Failure {
    (
        ErrorCode::CorruptMessage,
        format!("invalid record batch: {e}"),
    )
}
