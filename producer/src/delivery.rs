//! Delivery futures: one shared completion per batch, one small future per
//! record.
//!
//! A record's [`DeliveryFuture`] holds a reference to its batch's
//! [`BatchCompletion`] plus its offset delta and timestamp, so accepting a
//! record allocates nothing for its future. When the batch is acknowledged
//! (or fails) the completion stores the outcome once and wakes every waiter.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::error::ProducerError;
use crate::record::RecordMetadata;

/// The acknowledgement of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchAck {
    /// Offset of the batch's first record; `None` with acks=0.
    pub base_offset: Option<i64>,
    /// The broker's append time when the topic uses `LogAppendTime`.
    pub log_append_time: Option<i64>,
}

/// The outcome of one batch, shared by the futures of its records.
#[derive(Debug)]
pub(crate) struct BatchCompletion {
    /// The batch's topic, for [`RecordMetadata`].
    topic: Arc<str>,
    /// The batch's partition.
    partition: u32,
    /// Set once, when the batch is acknowledged or fails.
    result: OnceLock<Result<BatchAck, ProducerError>>,
    /// Wakers of futures waiting for `result`; each future remembers its
    /// slot, so re-polling replaces rather than grows.
    wakers: Mutex<Vec<Waker>>,
}

impl BatchCompletion {
    pub fn new(topic: Arc<str>, partition: u32) -> Arc<Self> {
        Arc::new(BatchCompletion {
            topic,
            partition,
            result: OnceLock::new(),
            wakers: Mutex::new(Vec::new()),
        })
    }

    fn wakers(&self) -> MutexGuard<'_, Vec<Waker>> {
        self.wakers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the outcome (the first one wins) and wakes every waiter.
    pub fn complete(&self, result: Result<BatchAck, ProducerError>) {
        if self.result.set(result).is_ok() {
            let wakers = std::mem::take(&mut *self.wakers());
            for waker in wakers {
                waker.wake();
            }
        }
    }

    /// The outcome, or registers the waker in `slot` and returns `Pending`.
    fn poll_result(
        &self,
        cx: &Context<'_>,
        slot: &mut Option<usize>,
    ) -> Poll<&Result<BatchAck, ProducerError>> {
        if let Some(result) = self.result.get() {
            return Poll::Ready(result);
        }
        let mut wakers = self.wakers();
        // `complete` sets the result before taking the wakers, so checking
        // again under the lock cannot miss a completion.
        if let Some(result) = self.result.get() {
            return Poll::Ready(result);
        }
        match slot.and_then(|i| wakers.get_mut(i)) {
            Some(waker) => {
                if !waker.will_wake(cx.waker()) {
                    waker.clone_from(cx.waker());
                }
            }
            None => {
                *slot = Some(wakers.len());
                wakers.push(cx.waker().clone());
            }
        }
        Poll::Pending
    }

    /// Waits for the outcome.
    pub fn wait(self: &Arc<Self>) -> CompletionWait {
        CompletionWait {
            completion: Arc::clone(self),
            slot: None,
        }
    }
}

/// Resolves when a batch has its outcome.
#[derive(Debug)]
pub(crate) struct CompletionWait {
    /// The batch.
    completion: Arc<BatchCompletion>,
    /// This waiter's waker slot.
    slot: Option<usize>,
}

impl Future for CompletionWait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.completion.poll_result(cx, &mut this.slot).map(drop)
    }
}

/// Resolves to where a record was written, or why it was not.
#[derive(Debug)]
#[must_use = "the delivery outcome is lost unless the future is awaited"]
pub struct DeliveryFuture {
    /// The record's batch.
    completion: Arc<BatchCompletion>,
    /// The record's position in the batch.
    offset_delta: i32,
    /// The record's creation time.
    timestamp: i64,
    /// This future's waker slot in the completion.
    slot: Option<usize>,
}

impl DeliveryFuture {
    pub(crate) fn new(completion: Arc<BatchCompletion>, offset_delta: i32, timestamp: i64) -> Self {
        DeliveryFuture {
            completion,
            offset_delta,
            timestamp,
            slot: None,
        }
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, ProducerError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let (offset_delta, timestamp) = (this.offset_delta, this.timestamp);
        let completion = &this.completion;
        completion
            .poll_result(cx, &mut this.slot)
            .map(|result| match result {
                Ok(ack) => Ok(RecordMetadata {
                    topic: Arc::clone(&completion.topic),
                    partition: completion.partition,
                    offset: ack
                        .base_offset
                        .map(|base| base.saturating_add(i64::from(offset_delta))),
                    timestamp: ack.log_append_time.unwrap_or(timestamp),
                }),
                Err(error) => Err(error.clone()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_record_future_sees_the_batch_outcome() {
        let completion = BatchCompletion::new(Arc::from("t"), 4);
        let futures: Vec<DeliveryFuture> = (0..3)
            .map(|i| DeliveryFuture::new(Arc::clone(&completion), i, 100 + i64::from(i)))
            .collect();
        let waiter = tokio::spawn({
            let completion = Arc::clone(&completion);
            async move { completion.wait().await }
        });
        let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
        tokio::task::yield_now().await;
        completion.complete(Ok(BatchAck {
            base_offset: Some(40),
            log_append_time: None,
        }));
        completion.complete(Err(ProducerError::Closed));
        waiter.await.unwrap();
        for (i, handle) in handles.into_iter().enumerate() {
            let meta = handle.await.unwrap().unwrap();
            let i = i64::try_from(i).unwrap();
            assert_eq!(meta.offset, Some(40 + i));
            assert_eq!(meta.timestamp, 100 + i);
            assert_eq!(meta.partition, 4);
        }
    }

    #[tokio::test]
    async fn failures_and_append_time_reach_the_records() {
        let completion = BatchCompletion::new(Arc::from("t"), 0);
        let record = DeliveryFuture::new(Arc::clone(&completion), 0, 1);
        completion.complete(Err(ProducerError::Closed));
        assert!(matches!(record.await, Err(ProducerError::Closed)));
        let completion = BatchCompletion::new(Arc::from("t"), 0);
        completion.complete(Ok(BatchAck {
            base_offset: None,
            log_append_time: Some(999),
        }));
        let meta = DeliveryFuture::new(completion, 2, 1).await.unwrap();
        assert_eq!((meta.offset, meta.timestamp), (None, 999));
    }
}
