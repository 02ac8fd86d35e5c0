//! The sender task: one per broker, draining ready batches into pipelined
//! produce requests and settling each batch from the answer.
//!
//! The task loops: drain batches for its broker and send them, while fewer
//! than `max.in.flight.requests.per.connection` requests await an answer;
//! then wait for an answer, new data, or the next linger or retry deadline.
//! Requests are queued on the connection one after another from this one
//! task, so they reach the broker in drain order, which keeps each
//! partition's batches in order.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use runnel_client::{BrokerError, ClientError};
use runnel_protocol::api::produce::{
    Acks, ProducePartition, ProduceRequest, ProduceResponse, ProduceTopic,
};
use runnel_protocol::{ErrorCode, NodeId, PartitionId};
use tokio::time::Instant;

use crate::accumulator::Batch;
use crate::delivery::BatchAck;
use crate::error::ProducerError;
use crate::producer::Shared;

/// A produce request awaiting its answer: its batches and the outcome.
type InFlight = Pin<
    Box<dyn Future<Output = (Vec<Batch>, Result<Option<ProduceResponse>, ClientError>)> + Send>,
>;

/// Runs the sender of broker `node` until the producer shuts down.
pub(crate) async fn run(shared: Arc<Shared>, node: NodeId, notify: Arc<tokio::sync::Notify>) {
    let mut in_flight: FuturesUnordered<InFlight> = FuturesUnordered::new();
    let max_in_flight = shared.config.max_in_flight;
    loop {
        let mut next_wake = None;
        while in_flight.len() < max_in_flight {
            let drained = shared.accumulator().drain(node, Instant::now());
            next_wake = drained.next_wake;
            if drained.batches.is_empty() {
                break;
            }
            match send(&shared, node, drained.batches).await {
                Some(request) => in_flight.push(request),
                None => {
                    // The batches went back to the queue to be retried (no
                    // connection) or were failed: wake when a retry is due,
                    // even if nothing new is ever sent.
                    let retry = Instant::now() + shared.config.retry_backoff;
                    next_wake = Some(next_wake.map_or(retry, |w| w.min(retry)));
                    break;
                }
            }
        }
        let sleep = async {
            match next_wake {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some((batches, result)) = in_flight.next(), if !in_flight.is_empty() => {
                settle(&shared, batches, result).await;
            }
            () = notify.notified() => {}
            () = sleep => {}
            () = shared.shutdown.cancelled(), if in_flight.is_empty() => return,
        }
    }
}

/// Builds the batches and queues one produce request; `None` when nothing
/// was sent (the batches were settled: built wrong, or no connection).
async fn send(shared: &Arc<Shared>, node: NodeId, batches: Vec<Batch>) -> Option<InFlight> {
    let mut ready = Vec::with_capacity(batches.len());
    let mut broken = Vec::new();
    for mut batch in batches {
        if batch.built.is_none() {
            match batch
                .builder
                .take()
                .map(runnel_protocol::record::BatchBuilder::build)
            {
                Some(Ok(bytes)) => batch.built = Some(bytes),
                Some(Err(error)) => {
                    broken.push((batch, ProducerError::from(error)));
                    continue;
                }
                None => {}
            }
        }
        ready.push(batch);
    }
    if !broken.is_empty() {
        let mut acc = shared.accumulator();
        for (batch, error) in broken {
            acc.reject(&batch, error);
        }
    }
    if ready.is_empty() {
        return None;
    }
    let batches = ready;
    let conn = match shared.client.connection_to(node).await {
        Ok(conn) => conn,
        Err(error) => {
            let error = ProducerError::from(error);
            let now = Instant::now();
            let mut acc = shared.accumulator();
            for batch in batches {
                acc.retry(batch, error.clone(), now);
            }
            return None;
        }
    };
    let request = produce_request(shared, &batches);
    if shared.config.acks == Acks::None {
        return match conn.send_without_response(&request).await {
            Ok(written) => Some(Box::pin(async move {
                let result = written.await.map(|()| None);
                (batches, result)
            })),
            Err(error) => Some(Box::pin(async move { (batches, Err(error)) })),
        };
    }
    match conn.send(&request).await {
        Ok(response) => Some(Box::pin(async move {
            let result = response.await.map(Some);
            (batches, result)
        })),
        Err(error) => Some(Box::pin(async move { (batches, Err(error)) })),
    }
}

/// One request carrying each batch (one per partition), grouped by topic.
fn produce_request(shared: &Shared, batches: &[Batch]) -> ProduceRequest {
    let mut topics: Vec<ProduceTopic> = Vec::new();
    for batch in batches {
        let partition = ProducePartition {
            partition: PartitionId(batch.tp.partition),
            records: batch.built.clone().unwrap_or_default(),
        };
        match topics.iter_mut().find(|t| *t.name == *batch.tp.topic) {
            Some(topic) => topic.partitions.push(partition),
            None => topics.push(ProduceTopic {
                name: batch.tp.topic.to_string(),
                partitions: vec![partition],
            }),
        }
    }
    ProduceRequest {
        transactional_id: None,
        acks: shared.config.acks,
        timeout_ms: u32::try_from(shared.config.request_timeout.as_millis()).unwrap_or(u32::MAX),
        topics,
    }
}

/// Settles each batch of a request from its answer.
async fn settle(
    shared: &Arc<Shared>,
    batches: Vec<Batch>,
    result: Result<Option<ProduceResponse>, ClientError>,
) {
    let now = Instant::now();
    let mut stale_topics: Vec<Arc<str>> = Vec::new();
    match result {
        Err(error) => {
            if error.invalidates_metadata() {
                stale_topics.extend(batches.iter().map(|b| Arc::clone(&b.tp.topic)));
            }
            let retriable = error.is_retriable();
            let error = ProducerError::from(error);
            let mut acc = shared.accumulator();
            for batch in batches {
                if retriable {
                    acc.retry(batch, error.clone(), now);
                } else {
                    acc.reject(&batch, error.clone());
                }
            }
        }
        Ok(None) => {
            let mut acc = shared.accumulator();
            for batch in &batches {
                acc.complete(
                    batch,
                    BatchAck {
                        base_offset: None,
                        log_append_time: None,
                    },
                );
            }
        }
        Ok(Some(response)) => {
            let mut acc = shared.accumulator();
            for batch in batches {
                let answer = response
                    .topics
                    .iter()
                    .filter(|t| *t.name == *batch.tp.topic)
                    .flat_map(|t| t.partitions.iter())
                    .find(|p| p.partition.0 == batch.tp.partition);
                let Some(answer) = answer else {
                    let error = ProducerError::from(ClientError::Protocol {
                        api: runnel_protocol::ApiKey::Produce,
                        addr: shared.client.config().bootstrap.clone(),
                        reason: format!(
                            "no result for topic {:?} partition {}",
                            batch.tp.topic, batch.tp.partition
                        ),
                    });
                    acc.retry(batch, error, now);
                    continue;
                };
                let ack = BatchAck {
                    base_offset: (answer.base_offset >= 0).then_some(answer.base_offset),
                    log_append_time: (answer.log_append_time_ms >= 0)
                        .then_some(answer.log_append_time_ms),
                };
                let code = answer.error_code;
                if code.is_ok() || code == ErrorCode::DuplicateSequenceNumber {
                    acc.complete(&batch, ack);
                    continue;
                }
                let error = ProducerError::Broker(
                    BrokerError::new(code, answer.error_message.clone()).about(format!(
                        "topic {:?} partition {}",
                        batch.tp.topic, batch.tp.partition
                    )),
                );
                if runnel_client::invalidates_metadata(code) {
                    stale_topics.push(Arc::clone(&batch.tp.topic));
                }
                if code == ErrorCode::OutOfOrderSequenceNumber {
                    acc.out_of_order(batch, error, now);
                } else if code == ErrorCode::MessageTooLarge && acc.can_split(&batch) {
                    acc.split(&batch, error);
                } else if code.is_retriable() {
                    acc.retry(batch, error, now);
                } else {
                    acc.reject(&batch, error);
                }
            }
        }
    }
    stale_topics.sort_unstable();
    stale_topics.dedup();
    for topic in stale_topics {
        shared.refresh_leaders(&topic).await;
    }
}
