//! [`Batches`]: splits a buffer of back-to-back batches into [`RecordBatch`]es.
//!
//! A fetch response (or a slice of a segment) carries several batches in a
//! row, and the broker may cut the last one short when it hits the fetch's
//! byte limit. The iterator yields every complete batch, then stops: a short
//! tail is not an error but is reported by [`Batches::partial_tail`], while a
//! batch that is present in full but corrupt (bad magic, impossible length,
//! bad CRC) is an error item.
//!
//! A tail counts as partial only while what is present is consistent with a
//! valid batch: fewer than 12 bytes (offset + length unknown), or a sane
//! length with fewer bytes than it declares (and, once the magic byte is
//! present, magic 2). This is Kafka's `ByteBufferLogInputStream` rule.

use std::iter::FusedIterator;

use bytes::Bytes;

use super::RecordError;
use super::batch::RecordBatch;
use super::header::{BATCH_HEADER_LEN, BATCH_LENGTH_POS, LOG_OVERHEAD, MAGIC_POS, MAGIC_V2};

/// A batch cut short at the end of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialBatch {
    /// Byte position of the partial batch in the buffer.
    pub position: usize,
    /// Bytes of it that are present.
    pub available: usize,
    /// Its full length from its header, when the length field is present. A
    /// consumer whose fetch returned only a partial first batch can retry
    /// with a limit of at least this many bytes. It is untrusted: cap it.
    pub declared: Option<usize>,
}

/// Where the iterator stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// More complete batches may follow.
    Reading,
    /// The buffer ended exactly after the last batch.
    Done,
    /// The buffer ends with a partial batch.
    Partial(PartialBatch),
    /// A corrupt batch was reported; nothing more is read.
    Failed,
}

/// Iterator over the batches in a buffer; see the module docs.
#[derive(Debug, Clone)]
pub struct Batches {
    /// The buffer; yielded batches are slices of it.
    bytes: Bytes,
    /// Byte position of the next batch.
    position: usize,
    /// Whether iteration can continue, and why not.
    state: State,
}

impl Batches {
    /// Iterates the batches in `bytes`, from its start.
    pub fn new(bytes: Bytes) -> Self {
        Batches {
            bytes,
            position: 0,
            state: State::Reading,
        }
    }

    /// The partial batch at the end of the buffer, once iteration has
    /// reached it; `None` while iterating, when the buffer ended cleanly, or
    /// after a corrupt batch.
    pub fn partial_tail(&self) -> Option<PartialBatch> {
        match self.state {
            State::Partial(partial) => Some(partial),
            _ => None,
        }
    }

    /// Byte position of the next batch; after an error item, of the corrupt
    /// batch. Everything before it was yielded as complete batches.
    pub fn position(&self) -> usize {
        self.position
    }

    fn step(&mut self) -> Result<Option<RecordBatch>, RecordError> {
        let rest = self.bytes.get(self.position..).unwrap_or_default();
        if rest.is_empty() {
            self.state = State::Done;
            return Ok(None);
        }
        let partial = |declared| PartialBatch {
            position: self.position,
            available: rest.len(),
            declared,
        };
        let Some(length) = rest
            .get(BATCH_LENGTH_POS..LOG_OVERHEAD)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(i32::from_be_bytes)
        else {
            self.state = State::Partial(partial(None));
            return Ok(None);
        };
        let total = usize::try_from(length)
            .ok()
            .filter(|l| *l >= BATCH_HEADER_LEN - LOG_OVERHEAD)
            .and_then(|l| l.checked_add(LOG_OVERHEAD))
            .ok_or(RecordError::BadLength(length))?;
        if let Some(&magic) = rest.get(MAGIC_POS) {
            let magic = i8::from_be_bytes([magic]);
            if magic != MAGIC_V2 {
                return Err(RecordError::BadMagic(magic));
            }
        }
        if rest.len() < total {
            self.state = State::Partial(partial(Some(total)));
            return Ok(None);
        }
        let end = self.position + total;
        let batch = RecordBatch::new(self.bytes.slice(self.position..end))?;
        self.position = end;
        Ok(Some(batch))
    }
}

impl Iterator for Batches {
    type Item = Result<RecordBatch, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.state != State::Reading {
            return None;
        }
        match self.step() {
            Ok(batch) => batch.map(Ok),
            Err(error) => {
                self.state = State::Failed;
                Some(Err(error))
            }
        }
    }
}

impl FusedIterator for Batches {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::builder::{BatchBuilder, BatchOptions, NewRecord};

    fn batch(base_offset: i64, records: usize) -> Bytes {
        let mut builder = BatchBuilder::new(BatchOptions {
            base_offset,
            ..BatchOptions::default()
        })
        .unwrap();
        for i in 0..records {
            builder
                .append(&NewRecord {
                    timestamp: 10,
                    key: None,
                    value: Some(Bytes::from(vec![u8::try_from(i).unwrap(); 20])),
                    headers: Vec::new(),
                })
                .unwrap();
        }
        builder.build().unwrap()
    }

    fn stream(parts: &[&[u8]]) -> Bytes {
        Bytes::from(parts.concat())
    }

    #[test]
    fn splits_back_to_back_batches() {
        let (a, b, c) = (batch(0, 2), batch(2, 3), batch(5, 1));
        let mut batches = Batches::new(stream(&[&a, &b, &c]));
        let got: Vec<_> = batches.by_ref().map(Result::unwrap).collect();
        assert_eq!(
            got.iter().map(RecordBatch::base_offset).collect::<Vec<_>>(),
            [0, 2, 5]
        );
        assert_eq!(got[1].as_bytes(), &b);
        assert_eq!(batches.partial_tail(), None);
        assert_eq!(batches.position(), a.len() + b.len() + c.len());
    }

    #[test]
    fn empty_buffer_yields_nothing() {
        let mut batches = Batches::new(Bytes::new());
        assert!(batches.next().is_none());
        assert_eq!(batches.partial_tail(), None);
    }

    #[test]
    fn cut_last_batch_is_a_partial_tail_not_an_error() {
        let (a, b) = (batch(0, 2), batch(2, 3));
        for cut in [1, 11, 12, 20, b.len() - 1] {
            let mut batches = Batches::new(stream(&[&a, &b[..cut]]));
            assert!(batches.next().unwrap().is_ok());
            assert!(batches.next().is_none(), "cut {cut}");
            let partial = batches.partial_tail().unwrap();
            assert_eq!(partial.position, a.len());
            assert_eq!(partial.available, cut);
            let declared = (cut >= LOG_OVERHEAD).then_some(b.len());
            assert_eq!(partial.declared, declared, "cut {cut}");
        }
    }

    #[test]
    fn corrupt_batch_is_an_error_and_ends_iteration() {
        let (a, b) = (batch(0, 2), batch(2, 3));
        let mut corrupt = b.to_vec();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        let mut batches = Batches::new(stream(&[&a, &corrupt, &a]));
        assert!(batches.next().unwrap().is_ok());
        assert!(matches!(
            batches.next(),
            Some(Err(RecordError::BadCrc { .. }))
        ));
        assert_eq!(batches.position(), a.len());
        assert!(batches.next().is_none());
        assert_eq!(batches.partial_tail(), None);
    }

    #[test]
    fn impossible_length_is_corruption_even_in_a_short_tail() {
        let mut bytes = vec![0u8; 12];
        bytes[BATCH_LENGTH_POS..LOG_OVERHEAD].copy_from_slice(&10i32.to_be_bytes());
        let mut batches = Batches::new(Bytes::from(bytes));
        assert_eq!(batches.next(), Some(Err(RecordError::BadLength(10))));
    }

    #[test]
    fn wrong_magic_is_corruption_even_in_a_short_tail() {
        let b = batch(0, 1);
        let mut bytes = b[..20].to_vec();
        bytes[MAGIC_POS] = 1;
        let mut batches = Batches::new(Bytes::from(bytes));
        assert_eq!(batches.next(), Some(Err(RecordError::BadMagic(1))));
    }
}
