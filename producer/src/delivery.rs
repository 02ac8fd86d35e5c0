//! Delivery futures: one shared completion per batch, one small future per
//! record.
//!
//! A record's [`DeliveryFuture`] holds a reference to its batch's
//! [`BatchCompletion`] plus its offset delta and timestamp, so accepting a
//! record allocates nothing for its future. When the batch is acknowledged
//! (or fails) the completion stores the outcome once and wakes every waiter.
//!
//! A batch the broker refused as too large may be split and resent as
//! several smaller ones; its completion then points at theirs, and each
//! future follows the piece holding its record.

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

/// What became of a batch.
#[derive(Debug)]
enum Outcome {
    /// Acknowledged, or failed.
    Done(Result<BatchAck, ProducerError>),
    /// Resent as these pieces, in record order: `first` from the batch's
    /// first record, then each of `rest` from its `first_delta`.
    Split {
        /// The piece holding the first record.
        first: Arc<BatchCompletion>,
        /// The later pieces.
        rest: Box<[Piece]>,
    },
}

/// One of the batches a batch was split into.
#[derive(Debug)]
pub(crate) struct Piece {
    /// Offset delta, in the original batch, of the piece's first record.
    pub first_delta: i32,
    /// The piece's outcome.
    pub completion: Arc<BatchCompletion>,
}

/// The outcome of one batch, shared by the futures of its records.
#[derive(Debug)]
pub(crate) struct BatchCompletion {
    /// The batch's topic, for [`RecordMetadata`].
    topic: Arc<str>,
    /// The batch's partition.
    partition: u32,
    /// Set once, when the batch is acknowledged, fails or is split.
    result: OnceLock<Outcome>,
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
        self.settle(Outcome::Done(result));
    }

    /// Hands the batch's records on to pieces: `first` from the first
    /// record, then `rest` (ordered by `first_delta`); wakes every waiter to
    /// follow them.
    pub fn split(&self, first: Arc<BatchCompletion>, rest: Vec<Piece>) {
        self.settle(Outcome::Split {
            first,
            rest: rest.into_boxed_slice(),
        });
    }

    fn settle(&self, outcome: Outcome) {
        if self.result.set(outcome).is_ok() {
            let wakers = std::mem::take(&mut *self.wakers());
            for waker in wakers {
                waker.wake();
            }
        }
    }

    /// The outcome, or registers the waker in `slot` and returns `Pending`.
    fn poll_result(&self, cx: &Context<'_>, slot: &mut Option<usize>) -> Poll<&Outcome> {
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
            pieces: Vec::new(),
        }
    }
}

/// Resolves when a batch has its outcome (every piece, if it was split).
#[derive(Debug)]
pub(crate) struct CompletionWait {
    /// The batch (or piece) waited for now.
    completion: Arc<BatchCompletion>,
    /// This waiter's waker slot.
    slot: Option<usize>,
    /// Pieces still to wait for after `completion`.
    pieces: Vec<Arc<BatchCompletion>>,
}

impl Future for CompletionWait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        loop {
            if let Outcome::Split { first, rest } =
                std::task::ready!(this.completion.poll_result(cx, &mut this.slot))
            {
                let first = Arc::clone(first);
                let rest: Vec<_> = rest.iter().map(|p| Arc::clone(&p.completion)).collect();
                this.pieces.push(first);
                this.pieces.extend(rest);
            }
            let Some(next) = this.pieces.pop() else {
                return Poll::Ready(());
            };
            this.completion = next;
            this.slot = None;
        }
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
        loop {
            let (offset_delta, timestamp) = (this.offset_delta, this.timestamp);
            let completion = &this.completion;
            let (first, rest) = match std::task::ready!(completion.poll_result(cx, &mut this.slot))
            {
                Outcome::Done(Ok(ack)) => {
                    return Poll::Ready(Ok(RecordMetadata {
                        topic: Arc::clone(&completion.topic),
                        partition: completion.partition,
                        offset: ack
                            .base_offset
                            .map(|base| base.saturating_add(i64::from(offset_delta))),
                        timestamp: ack.log_append_time.unwrap_or(timestamp),
                    }));
                }
                Outcome::Done(Err(error)) => return Poll::Ready(Err(error.clone())),
                Outcome::Split { first, rest } => (first, rest),
            };
            // The last piece starting at or before this record holds it.
            let (next, first_delta) = rest
                .iter()
                .rev()
                .find(|p| p.first_delta <= offset_delta)
                .map_or((first, 0), |p| (&p.completion, p.first_delta));
            let next = Arc::clone(next);
            this.offset_delta = offset_delta - first_delta;
            this.completion = next;
            this.slot = None;
        }
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
