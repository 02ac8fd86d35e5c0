//! The fetcher: a background task that keeps fetch requests going to the
//! leaders of the assigned partitions, within the prefetch budget.
//!
//! ```text
//!   loop:
//!     metadata for topics with fetchable partitions (cached by the client)
//!     plan: one request per leader without one in flight, all its
//!           fetchable partitions, max_bytes within the budget
//!     wait for: an answer │ a wake-up (assign, seek, bytes drained)
//!               │ the end of a backoff │ shutdown
//!     answer → FetchState::complete → wake the consumer if data arrived
//! ```
//!
//! The fetcher talks through a [`Client`] of its own, so its long polls
//! never hold back the consumer's metadata and offset calls (responses on
//! one connection come back in request order).

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use runnel_client::{Client, ClientError, TopicInfo};
use runnel_protocol::api::fetch::FetchResponse;
use runnel_protocol::{ErrorCode, NodeId, PartitionId};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::ConsumerError;
use crate::record::TopicPartition;
use crate::state::{FetchPlan, Outcome, Route, Shared};

/// A fetch on its way: resolves to the plan and the broker's answer.
type InFlight = BoxFuture<'static, (FetchPlan, Result<FetchResponse, ClientError>)>;

/// Runs until `shutdown` is cancelled.
pub(crate) async fn run(shared: Arc<Shared>, client: Client, shutdown: CancellationToken) {
    let mut in_flight: FuturesUnordered<InFlight> = FuturesUnordered::new();
    let mut busy: Vec<NodeId> = Vec::new();
    loop {
        let Some(infos) = topic_metadata(&shared, &client, &shutdown).await else {
            break;
        };
        let mut outcome = Outcome::default();
        let plans = shared
            .lock()
            .plan(Instant::now(), &busy, |tp| route(&infos, tp), &mut outcome);
        finish(&shared, &client, &outcome);
        for plan in plans {
            busy.push(plan.node);
            in_flight.push(Box::pin(send(client.clone(), plan)));
        }
        let retry_at = shared.lock().next_retry();
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            Some((plan, result)) = in_flight.next(), if !in_flight.is_empty() => {
                busy.retain(|node| *node != plan.node);
                let outcome = shared.lock().complete(plan, result, Instant::now());
                finish(&shared, &client, &outcome);
            }
            () = shared.fetcher_wake.notified() => {}
            () = sleep_until(retry_at), if retry_at.is_some() => {}
        }
    }
    client.close();
}

/// Metadata for every topic with fetchable partitions. A topic that no
/// longer exists fails its partitions; other lookup failures back off.
/// `None` on shutdown.
async fn topic_metadata(
    shared: &Shared,
    client: &Client,
    shutdown: &CancellationToken,
) -> Option<HashMap<Arc<str>, Arc<TopicInfo>>> {
    let topics = shared.lock().fetchable_topics(Instant::now());
    let mut infos = HashMap::with_capacity(topics.len());
    for topic in topics {
        let result = tokio::select! {
            () = shutdown.cancelled() => return None,
            result = client.topic(&topic) => result,
        };
        match result {
            Ok(info) => {
                infos.insert(topic, info);
            }
            Err(ClientError::Broker(e)) if e.code == ErrorCode::UnknownTopicOrPartition => {
                let error = ConsumerError::UnknownTopic {
                    topic: topic.to_string(),
                };
                let outcome = shared.lock().fail_topic(&topic, &error);
                finish(shared, client, &outcome);
            }
            Err(error) => {
                tracing::warn!(%topic, %error, "cannot look up topic metadata");
                shared.lock().back_off_topic(&topic, Instant::now());
            }
        }
    }
    Some(infos)
}

/// Where `tp` is fetched from, per the metadata at hand.
fn route(infos: &HashMap<Arc<str>, Arc<TopicInfo>>, tp: &TopicPartition) -> Route {
    infos
        .get(&tp.topic)
        .and_then(|info| info.partition(PartitionId(tp.partition)))
        .and_then(|p| p.leader)
        .map_or(Route::NoLeader, Route::Leader)
}

/// Sends a planned fetch on the leader's connection and waits for the
/// answer (within the request timeout, which covers the long poll).
async fn send(client: Client, plan: FetchPlan) -> (FetchPlan, Result<FetchResponse, ClientError>) {
    let result = async {
        let connection = client.connection_to(plan.node).await?;
        connection.call(&plan.request).await
    }
    .await;
    (plan, result)
}

/// Acts on what handling an answer asked for: stale metadata, and waking
/// a waiting poll.
fn finish(shared: &Shared, client: &Client, outcome: &Outcome) {
    for topic in &outcome.invalidate {
        client.invalidate_topic(topic);
    }
    if outcome.queued {
        shared.records_ready.notify_one();
    }
}

/// Sleeps until `at`; never resolves for `None`.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
