//! [`CompletedFetch`]: the data one fetch returned for one partition,
//! drained record by record into [`ConsumerRecord`]s without copying.
//!
//! The fetcher splits a partition's bytes into whole batches (checking each
//! batch's length and CRC off the application's path) and queues them here;
//! the consumer later walks their records. A batch may start before the
//! position (the broker returns whole batches, and a seek can land inside
//! one): records below the position are skipped. After a batch the position
//! moves past its last offset, so offsets missing inside a batch
//! (compaction) and control batches are stepped over.
//!
//! An error found while splitting (a damaged batch) or reported by the
//! broker for the partition travels at the end of the queue, so the
//! application first receives every good record before it.

use std::collections::VecDeque;
use std::sync::Arc;

use runnel_protocol::record::{RecordBatch, Records, TimestampType};

use crate::error::{ConsumerError, CorruptCause};
use crate::record::{ConsumerRecord, TopicPartition};

/// The records of one fetch response for one partition, not yet handed out.
#[derive(Debug)]
pub(crate) struct CompletedFetch {
    /// The partition.
    pub tp: TopicPartition,
    /// The partition's epoch when the fetch was planned; a seek or reset
    /// since then makes the data stale.
    pub epoch: u64,
    /// Bytes charged to the prefetch budget until the fetch is drained.
    pub charged: usize,
    /// Whole batches not yet started, in offset order.
    batches: VecDeque<RecordBatch>,
    /// The batch being walked.
    current: Option<CurrentBatch>,
    /// The error to report once the batches are drained.
    error: Option<ConsumerError>,
}

/// A batch whose records are being handed out.
#[derive(Debug)]
struct CurrentBatch {
    /// The record iterator (over the decompressed records, when
    /// compressed).
    records: Records,
    /// The batch's last offset: the position moves past it at the end.
    last_offset: i64,
    /// Whose clock the timestamps are.
    timestamp_type: TimestampType,
}

/// How far a drain got.
#[derive(Debug)]
pub(crate) enum Drain {
    /// `max` records were taken; more may remain.
    Full,
    /// Everything was taken.
    Exhausted,
    /// The data ends with this error, at the position reached.
    Failed(ConsumerError),
}

impl CompletedFetch {
    /// Data for `tp`: `batches` then, optionally, an error.
    pub fn new(
        tp: TopicPartition,
        epoch: u64,
        charged: usize,
        batches: VecDeque<RecordBatch>,
        error: Option<ConsumerError>,
    ) -> Self {
        CompletedFetch {
            tp,
            epoch,
            charged,
            batches,
            current: None,
            error,
        }
    }

    /// Only an error, with nothing before it.
    pub fn failed(tp: TopicPartition, epoch: u64, error: ConsumerError) -> Self {
        CompletedFetch::new(tp, epoch, 0, VecDeque::new(), Some(error))
    }

    /// Moves records at or after `*position` into `out` until `out` holds
    /// `max` records, advancing `*position` past each record taken and past
    /// each finished batch.
    pub fn drain(
        &mut self,
        position: &mut i64,
        max: usize,
        out: &mut Vec<ConsumerRecord>,
    ) -> Drain {
        loop {
            if out.len() >= max {
                return if self.is_exhausted() {
                    Drain::Exhausted
                } else {
                    Drain::Full
                };
            }
            if self.current.is_none() {
                match self.start_next_batch(*position) {
                    Ok(true) => {}
                    Ok(false) => {
                        return match self.error.take() {
                            Some(error) => Drain::Failed(error),
                            None => Drain::Exhausted,
                        };
                    }
                    Err(cause) => return Drain::Failed(self.corrupt(*position, cause)),
                }
            }
            let Some(batch) = &mut self.current else {
                continue;
            };
            match batch.records.next() {
                Some(Ok(record)) => {
                    if record.offset < *position {
                        continue;
                    }
                    *position = record.offset.saturating_add(1);
                    out.push(ConsumerRecord {
                        topic: Arc::clone(&self.tp.topic),
                        partition: self.tp.partition,
                        offset: record.offset,
                        timestamp: record.timestamp,
                        timestamp_type: batch.timestamp_type,
                        key: record.key,
                        value: record.value,
                        headers: record.headers,
                    });
                }
                Some(Err(cause)) => {
                    self.current = None;
                    self.batches.clear();
                    return Drain::Failed(self.corrupt(*position, cause));
                }
                None => {
                    *position = (*position).max(batch.last_offset.saturating_add(1));
                    self.current = None;
                }
            }
        }
    }

    /// Starts the next batch that holds records at or after `position`,
    /// stepping over batches wholly below it and control batches. `false`
    /// when no batch is left.
    fn start_next_batch(
        &mut self,
        position: i64,
    ) -> Result<bool, runnel_protocol::record::RecordError> {
        while let Some(batch) = self.batches.pop_front() {
            if batch.last_offset() < position || batch.header().is_control() {
                continue;
            }
            let records = batch.records()?;
            self.current = Some(CurrentBatch {
                records,
                last_offset: batch.last_offset(),
                timestamp_type: batch.header().timestamp_type(),
            });
            return Ok(true);
        }
        Ok(false)
    }

    /// Whether nothing is left: no records, no error.
    fn is_exhausted(&self) -> bool {
        self.current.is_none() && self.batches.is_empty() && self.error.is_none()
    }

    /// The error for damaged records at `offset`; nothing after it is read.
    fn corrupt(
        &mut self,
        offset: i64,
        cause: runnel_protocol::record::RecordError,
    ) -> ConsumerError {
        self.batches.clear();
        self.error = None;
        ConsumerError::Corrupt {
            topic: self.tp.topic.to_string(),
            partition: self.tp.partition,
            offset,
            cause: CorruptCause::Record(cause),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use runnel_protocol::record::{
        BatchBuilder, BatchOptions, Compression, NewRecord, set_base_offset,
    };

    fn batch(base: i64, values: &[&str], options: BatchOptions) -> RecordBatch {
        let mut b = BatchBuilder::new(options).unwrap();
        for v in values {
            b.append(&NewRecord {
                timestamp: 1_000 + base,
                key: Some(Bytes::from_static(b"k")),
                value: Some(Bytes::copy_from_slice(v.as_bytes())),
                headers: vec![("h".into(), Some(Bytes::from_static(b"x")))],
            })
            .unwrap();
        }
        let mut bytes = b.build().unwrap().to_vec();
        set_base_offset(&mut bytes, base);
        RecordBatch::new(Bytes::from(bytes)).unwrap()
    }

    fn fetch(batches: Vec<RecordBatch>, error: Option<ConsumerError>) -> CompletedFetch {
        CompletedFetch::new(TopicPartition::new("t", 0), 1, 100, batches.into(), error)
    }

    fn values(records: &[ConsumerRecord]) -> Vec<String> {
        records
            .iter()
            .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
            .collect()
    }

    #[test]
    fn drains_in_order_up_to_max_and_tracks_the_position() {
        let mut f = fetch(
            vec![
                batch(0, &["a", "b"], BatchOptions::default()),
                batch(2, &["c"], BatchOptions::default()),
            ],
            None,
        );
        let mut position = 0;
        let mut out = Vec::new();
        assert!(matches!(f.drain(&mut position, 2, &mut out), Drain::Full));
        assert_eq!(values(&out), ["a", "b"]);
        assert_eq!(position, 2);
        assert!(matches!(
            f.drain(&mut position, 10, &mut out),
            Drain::Exhausted
        ));
        assert_eq!(values(&out), ["a", "b", "c"]);
        assert_eq!(position, 3);
        assert_eq!(out[2].offset, 2);
        assert_eq!(out[2].timestamp, 1_002);
        assert_eq!(out[2].headers.len(), 1);
    }

    #[test]
    fn records_below_the_position_are_skipped() {
        let mut f = fetch(
            vec![
                batch(0, &["a", "b", "c"], BatchOptions::default()),
                batch(3, &["d"], BatchOptions::default()),
            ],
            None,
        );
        let mut position = 2;
        let mut out = Vec::new();
        assert!(matches!(
            f.drain(&mut position, 10, &mut out),
            Drain::Exhausted
        ));
        assert_eq!(values(&out), ["c", "d"]);
        assert_eq!(position, 4);
    }

    #[test]
    fn record_fields_are_slices_of_the_fetched_bytes() {
        let b = batch(0, &["value"], BatchOptions::default());
        let range = b.as_bytes().as_ptr_range();
        let mut f = fetch(vec![b], None);
        let mut position = 0;
        let mut out = Vec::new();
        f.drain(&mut position, 10, &mut out);
        let value = out[0].value.as_ref().unwrap();
        assert!(range.contains(&value.as_ptr()), "value was copied");
    }

    #[test]
    fn compressed_batches_decompress_transparently() {
        for compression in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let options = BatchOptions {
                compression,
                ..BatchOptions::default()
            };
            let mut f = fetch(vec![batch(5, &["x", "y"], options)], None);
            let mut position = 5;
            let mut out = Vec::new();
            f.drain(&mut position, 10, &mut out);
            assert_eq!(values(&out), ["x", "y"], "{compression}");
            assert_eq!(position, 7);
        }
    }

    #[test]
    fn control_batches_are_stepped_over() {
        let control = BatchOptions {
            control: true,
            ..BatchOptions::default()
        };
        let mut f = fetch(
            vec![
                batch(0, &["marker"], control),
                batch(1, &["a"], BatchOptions::default()),
            ],
            None,
        );
        let mut position = 0;
        let mut out = Vec::new();
        f.drain(&mut position, 10, &mut out);
        assert_eq!(values(&out), ["a"]);
        assert_eq!(position, 2);
    }

    #[test]
    fn an_error_comes_after_the_good_records() {
        let error = ConsumerError::Closed;
        let mut f = fetch(vec![batch(0, &["a"], BatchOptions::default())], Some(error));
        let mut position = 0;
        let mut out = Vec::new();
        assert!(matches!(
            f.drain(&mut position, 10, &mut out),
            Drain::Failed(ConsumerError::Closed)
        ));
        assert_eq!(values(&out), ["a"]);
        // With room for exactly the good records, the error is still due.
        let mut f = fetch(
            vec![batch(0, &["a"], BatchOptions::default())],
            Some(ConsumerError::Closed),
        );
        let mut position = 0;
        let mut out = Vec::new();
        assert!(matches!(f.drain(&mut position, 1, &mut out), Drain::Full));
        assert!(matches!(
            f.drain(&mut position, 2, &mut out),
            Drain::Failed(_)
        ));
    }

    #[test]
    fn damaged_records_name_the_partition_and_offset() {
        // A batch whose compressed payload is garbage but whose envelope
        // (length, CRC) is valid.
        let options = BatchOptions {
            compression: Compression::Zstd,
            ..BatchOptions::default()
        };
        let good = batch(7, &["a"], options);
        let mut bytes = good.as_bytes().to_vec();
        let header_len = runnel_protocol::record::BATCH_HEADER_LEN;
        for b in bytes.iter_mut().skip(header_len) {
            *b = 0xAB;
        }
        let crc = runnel_protocol::record::compute_crc(&bytes).unwrap();
        bytes[runnel_protocol::record::CRC_POS..runnel_protocol::record::CRC_POS + 4]
            .copy_from_slice(&crc.to_be_bytes());
        let damaged = RecordBatch::new(Bytes::from(bytes)).unwrap();
        let mut f = fetch(vec![damaged], None);
        let mut position = 7;
        let mut out = Vec::new();
        match f.drain(&mut position, 10, &mut out) {
            Drain::Failed(e) => assert!(
                e.to_string()
                    .starts_with("topic \"t\" partition 0: corrupt data at offset 7: "),
                "{e}"
            ),
            other => panic!("expected an error, got {other:?}"),
        }
        assert!(out.is_empty());
    }
}
