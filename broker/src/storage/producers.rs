//! Idempotent-producer state of one partition: for each producer id, its
//! epoch and the last few batches it wrote, so a retried batch is
//! recognised and answered with its original offsets instead of being
//! written twice, and a gap or reordering is refused (Kafka's semantics).
//!
//! The state is derived from the batch headers in the log. It is
//! snapshotted to `producer-state` at every roll and at clean shutdown
//! (file format below); opening a log loads the snapshot and replays the
//! headers of the batches after it, so startup walks at most what was
//! written since the last snapshot.
//!
//! ```text
//! producer-state   (all integers big-endian)
//!   version u16 = 1
//!   offset u64                     the log end offset the snapshot reflects
//!   count u32                      producers that follow
//!   per producer:
//!     producer_id i64, epoch i16, batches u8 (≤ 5), then per batch:
//!       first_sequence i32, last_sequence i32, base_offset u64, last_offset u64
//!   crc u32                        CRC-32 (IEEE) of everything before it
//! ```

use std::collections::{HashMap, VecDeque};

use runnel_protocol::record::BatchHeader;

use super::offset::Offset;

/// Batches remembered per producer: a producer has at most this many in
/// flight (Kafka's `max.in.flight.requests.per.connection` limit for
/// idempotence).
pub const MAX_REMEMBERED_BATCHES: usize = 5;
const SNAPSHOT_VERSION: u16 = 1;

/// One batch a producer wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    /// Sequence number of the first record.
    pub first_sequence: i32,
    /// Sequence number of the last record.
    pub last_sequence: i32,
    /// Offset of the first record.
    pub base_offset: Offset,
    /// Offset of the last record.
    pub last_offset: Offset,
}

/// What is known of one producer on this partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProducerEntry {
    /// The latest epoch seen.
    pub epoch: i16,
    /// Its most recent batches, oldest first.
    pub batches: VecDeque<BatchMeta>,
}

/// How an idempotent batch relates to what the producer wrote before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Not idempotent, or the next batch in sequence: append it.
    Append,
    /// Already written: answer with these offsets, append nothing.
    Duplicate(BatchMeta),
}

/// Why an idempotent batch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    /// The epoch is older than the producer's current one (a zombie).
    #[error("producer {producer_id} epoch {epoch} is older than the current epoch {current}")]
    StaleEpoch {
        /// The producer.
        producer_id: i64,
        /// Epoch in the batch.
        epoch: i16,
        /// Epoch the partition knows.
        current: i16,
    },
    /// The sequence does not follow the last one written.
    #[error("producer {producer_id}: expected sequence {expected}, got {got}")]
    OutOfOrder {
        /// The producer.
        producer_id: i64,
        /// The next sequence the partition expects.
        expected: i32,
        /// The batch's base sequence.
        got: i32,
    },
}

/// Producer state of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerStates {
    /// By producer id.
    producers: HashMap<i64, ProducerEntry>,
}

/// The sequence after `seq`, wrapping as Kafka does.
fn next_sequence(seq: i32) -> i32 {
    if seq == i32::MAX { 0 } else { seq + 1 }
}

fn last_sequence(header: &BatchHeader) -> i32 {
    let span = header.last_offset_delta;
    // Sequences wrap at i32::MAX back to 0.
    i32::try_from((i64::from(header.base_sequence) + i64::from(span)) % (i64::from(i32::MAX) + 1))
        .unwrap_or(0)
}

impl ProducerStates {
    /// An empty table.
    pub fn new() -> Self {
        ProducerStates::default()
    }

    /// Number of producers tracked.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// Whether no producer is tracked.
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Checks an incoming batch against the producer's history.
    pub fn check(&self, header: &BatchHeader) -> Result<SequenceCheck, SequenceError> {
        if header.producer_id < 0 || header.base_sequence < 0 {
            return Ok(SequenceCheck::Append);
        }
        let pid = header.producer_id;
        let Some(entry) = self.producers.get(&pid) else {
            // A producer new to this partition starts at sequence 0.
            return if header.base_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(SequenceError::OutOfOrder {
                    producer_id: pid,
                    expected: 0,
                    got: header.base_sequence,
                })
            };
        };
        if header.producer_epoch < entry.epoch {
            return Err(SequenceError::StaleEpoch {
                producer_id: pid,
                epoch: header.producer_epoch,
                current: entry.epoch,
            });
        }
        if header.producer_epoch > entry.epoch {
            return if header.base_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(SequenceError::OutOfOrder {
                    producer_id: pid,
                    expected: 0,
                    got: header.base_sequence,
                })
            };
        }
        let last = last_sequence(header);
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_sequence == header.base_sequence && b.last_sequence == last)
        {
            return Ok(SequenceCheck::Duplicate(*dup));
        }
        let expected = entry
            .batches
            .back()
            .map_or(0, |b| next_sequence(b.last_sequence));
        if header.base_sequence == expected {
            Ok(SequenceCheck::Append)
        } else {
            Err(SequenceError::OutOfOrder {
                producer_id: pid,
                expected,
                got: header.base_sequence,
            })
        }
    }

    /// Records a batch that was appended at `base_offset`.
    pub fn record(&mut self, header: &BatchHeader, base_offset: Offset) {
        if header.producer_id < 0 || header.base_sequence < 0 {
            return;
        }
        let entry = self.producers.entry(header.producer_id).or_default();
        if header.producer_epoch != entry.epoch {
            entry.epoch = header.producer_epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == MAX_REMEMBERED_BATCHES {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchMeta {
            first_sequence: header.base_sequence,
            last_sequence: last_sequence(header),
            base_offset,
            last_offset: base_offset.plus(u64::from(header.last_offset_delta.unsigned_abs())),
        });
    }

    /// The snapshot file's bytes for a log whose end offset is `offset`.
    pub fn encode_snapshot(&self, offset: Offset) -> Vec<u8> {
        let mut out = Vec::with_capacity(18 + self.producers.len() * 64);
        out.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
        out.extend_from_slice(&offset.0.to_be_bytes());
        out.extend_from_slice(
            &u32::try_from(self.producers.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        let mut ids: Vec<_> = self.producers.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let e = &self.producers[&id];
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&e.epoch.to_be_bytes());
            out.push(u8::try_from(e.batches.len()).unwrap_or(0));
            for b in &e.batches {
                out.extend_from_slice(&b.first_sequence.to_be_bytes());
                out.extend_from_slice(&b.last_sequence.to_be_bytes());
                out.extend_from_slice(&b.base_offset.0.to_be_bytes());
                out.extend_from_slice(&b.last_offset.0.to_be_bytes());
            }
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Decodes a snapshot: the table and the offset it reflects. `None` if
    /// the bytes are damaged or of another version.
    pub fn decode_snapshot(bytes: &[u8]) -> Option<(ProducerStates, Offset)> {
        let (body, crc) = bytes.split_last_chunk::<4>()?;
        if crc32fast::hash(body) != u32::from_be_bytes(*crc) {
            return None;
        }
        let mut r = Cursor(body);
        if r.u16()? != SNAPSHOT_VERSION {
            return None;
        }
        let offset = Offset(r.u64()?);
        let count = r.u32()?;
        let mut producers = HashMap::new();
        for _ in 0..count {
            let id = i64::from_be_bytes(r.take()?);
            let epoch = i16::from_be_bytes(r.take()?);
            let n = r.take::<1>()?[0] as usize;
            if n > MAX_REMEMBERED_BATCHES {
                return None;
            }
            let mut batches = VecDeque::with_capacity(n);
            for _ in 0..n {
                batches.push_back(BatchMeta {
                    first_sequence: i32::from_be_bytes(r.take()?),
                    last_sequence: i32::from_be_bytes(r.take()?),
                    base_offset: Offset(r.u64()?),
                    last_offset: Offset(r.u64()?),
                });
            }
            producers.insert(id, ProducerEntry { epoch, batches });
        }
        r.0.is_empty()
            .then_some((ProducerStates { producers }, offset))
    }
}

/// A checked reader over snapshot bytes.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_be_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_be_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_be_bytes)
    }
}

#[cfg(test)]
#[allow(
    clippy::cast_possible_wrap,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, records: i32) -> BatchHeader {
        BatchHeader {
            base_offset: 0,
            batch_length: 49,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: records - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            record_count: records,
        }
    }

    #[test]
    fn in_order_batches_append_and_retries_are_duplicates() {
        let mut s = ProducerStates::new();
        let a = header(7, 0, 0, 3);
        assert_eq!(s.check(&a), Ok(SequenceCheck::Append));
        s.record(&a, Offset(10));
        let b = header(7, 0, 3, 2);
        assert_eq!(s.check(&b), Ok(SequenceCheck::Append));
        s.record(&b, Offset(13));
        match s.check(&a).unwrap() {
            SequenceCheck::Duplicate(m) => {
                assert_eq!((m.base_offset, m.last_offset), (Offset(10), Offset(12)));
            }
            SequenceCheck::Append => panic!("retry of the first batch must be a duplicate"),
        }
        assert!(matches!(s.check(&b), Ok(SequenceCheck::Duplicate(_))));
    }

    #[test]
    fn gaps_and_reordering_are_refused() {
        let mut s = ProducerStates::new();
        assert!(matches!(
            s.check(&header(7, 0, 5, 1)),
            Err(SequenceError::OutOfOrder { expected: 0, .. })
        ));
        s.record(&header(7, 0, 0, 1), Offset(0));
        assert!(matches!(
            s.check(&header(7, 0, 2, 1)),
            Err(SequenceError::OutOfOrder {
                expected: 1,
                got: 2,
                ..
            })
        ));
    }

    #[test]
    fn an_older_epoch_is_fenced_and_a_newer_one_restarts_at_zero() {
        let mut s = ProducerStates::new();
        s.record(&header(7, 3, 0, 1), Offset(0));
        assert!(matches!(
            s.check(&header(7, 2, 1, 1)),
            Err(SequenceError::StaleEpoch { .. })
        ));
        assert_eq!(s.check(&header(7, 4, 0, 1)), Ok(SequenceCheck::Append));
        assert!(s.check(&header(7, 4, 1, 1)).is_err());
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut s = ProducerStates::new();
        for i in 0..7 {
            s.record(&header(1, 0, i, 1), Offset(i as u64));
        }
        assert!(s.check(&header(1, 0, 0, 1)).is_err());
        assert!(matches!(
            s.check(&header(1, 0, 6, 1)),
            Ok(SequenceCheck::Duplicate(_))
        ));
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        let mut s = ProducerStates::new();
        s.record(&header(1, 0, 0, 1), Offset(0));
        let mut near_end = header(1, 0, 1, 1);
        near_end.base_sequence = i32::MAX - 1;
        s.producers
            .get_mut(&1)
            .unwrap()
            .batches
            .back_mut()
            .unwrap()
            .last_sequence = i32::MAX - 2;
        assert_eq!(s.check(&near_end), Ok(SequenceCheck::Append));
        let wrapping = header(1, 0, i32::MAX, 2);
        s.record(&near_end, Offset(1));
        assert_eq!(s.check(&wrapping), Ok(SequenceCheck::Append));
        s.record(&wrapping, Offset(2));
        assert_eq!(s.producers[&1].batches.back().unwrap().last_sequence, 0);
        assert_eq!(s.check(&header(1, 0, 1, 1)), Ok(SequenceCheck::Append));
    }

    #[test]
    fn snapshots_round_trip_and_reject_damage() {
        let mut s = ProducerStates::new();
        for pid in 1..4 {
            for i in 0..3 {
                s.record(
                    &header(pid, 1, i * 2, 2),
                    Offset((pid * 100 + i64::from(i)) as u64),
                );
            }
        }
        let bytes = s.encode_snapshot(Offset(999));
        assert_eq!(
            ProducerStates::decode_snapshot(&bytes),
            Some((s.clone(), Offset(999)))
        );
        let mut bad = bytes.clone();
        bad[10] ^= 1;
        assert_eq!(ProducerStates::decode_snapshot(&bad), None);
        assert_eq!(ProducerStates::decode_snapshot(&bytes[..5]), None);
    }
}
