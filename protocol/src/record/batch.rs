//! [`RecordBatch`]: one batch whose envelope checked out, and [`Records`], the
//! zero-copy iterator over its records.

use std::iter::FusedIterator;
use std::ops::Range;

use bytes::Bytes;

use super::RecordError;
use super::compression::DEFAULT_MAX_DECOMPRESSED_BYTES;
use super::decode::{RecordCursor, RecordLayout};
use super::header::{BatchHeader, Compression, check_envelope};
use super::view::{Record, RecordHeaders};

/// Exactly one batch, held as the `Bytes` it arrived in, with its decoded
/// header. Construction checks the envelope (header fields, exact length,
/// CRC-32C); records are decoded lazily by [`RecordBatch::records`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    /// The decoded fixed header.
    header: BatchHeader,
    /// The whole batch, header included; record fields are slices of it.
    bytes: Bytes,
}

impl RecordBatch {
    /// Checks the envelope of `bytes`, which must hold exactly one batch.
    pub fn new(bytes: Bytes) -> Result<Self, RecordError> {
        let header = check_envelope(&bytes)?;
        Ok(RecordBatch { header, bytes })
    }

    /// The decoded fixed header.
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The batch's bytes, exactly as received.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Gives back the batch's bytes.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// Length of the batch in bytes, header included.
    pub fn size_in_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Offset of the first record (`base_offset`).
    pub fn base_offset(&self) -> i64 {
        self.header.base_offset
    }

    /// Offset of the last record (`base_offset + last_offset_delta`).
    pub fn last_offset(&self) -> i64 {
        self.header.last_offset()
    }

    /// Number of records the header declares.
    pub fn record_count(&self) -> u32 {
        self.header.record_count.unsigned_abs()
    }

    /// The batch's compression codec.
    pub fn compression(&self) -> Result<Compression, RecordError> {
        self.header.compression()
    }

    /// An iterator over the records. A compressed batch is decompressed
    /// first, up to [`DEFAULT_MAX_DECOMPRESSED_BYTES`] (see
    /// [`RecordBatch::records_with_limit`]); that fails at once when the
    /// records are corrupt or too large, as does an unknown codec id. Each
    /// item is a record or the first error found; after an error the
    /// iterator ends.
    pub fn records(&self) -> Result<Records, RecordError> {
        self.records_with_limit(DEFAULT_MAX_DECOMPRESSED_BYTES)
    }

    /// [`RecordBatch::records`] with the most bytes a compressed batch's
    /// records may decompress to. For a compressed batch the records'
    /// fields are slices of one decompressed buffer (allocated once per
    /// batch) instead of the batch itself.
    pub fn records_with_limit(&self, max_decompressed: usize) -> Result<Records, RecordError> {
        let batch = match self.header.compression()? {
            Compression::None => self.bytes.clone(),
            codec => Bytes::from(super::validate::decompressed_batch(
                codec,
                &self.bytes,
                max_decompressed,
            )?),
        };
        Ok(Records {
            batch,
            cursor: RecordCursor::new(&self.header),
        })
    }

    /// Decodes every record and checks the batch as [`super::validate_batch`]
    /// does, decompressing a compressed batch first.
    pub fn validate(&self) -> Result<(), RecordError> {
        super::validate::check_records(&self.header, &self.bytes, DEFAULT_MAX_DECOMPRESSED_BYTES)
    }
}

/// Iterator over the records of an uncompressed [`RecordBatch`], yielding
/// [`Record`]s whose byte fields are slices of the batch (no copies).
///
/// The batch is checked as it is walked, with the same checks as
/// [`super::validate_batch`]: once the declared number of records has been
/// read, trailing bytes or a `last_offset_delta` mismatch come out as a final
/// error item.
#[derive(Debug, Clone)]
pub struct Records {
    /// The whole batch; records are sliced out of it.
    batch: Bytes,
    /// Position and checks state.
    cursor: RecordCursor,
}

impl Records {
    fn record(&self, layout: RecordLayout) -> Record {
        Record {
            offset: layout.offset,
            timestamp: layout.timestamp,
            offset_delta: layout.offset_delta,
            timestamp_delta: layout.timestamp_delta,
            attributes: layout.attributes,
            key: layout.key.map(|range| self.slice(range)),
            value: layout.value.map(|range| self.slice(range)),
            headers: RecordHeaders::from_checked(self.slice(layout.headers), layout.header_count),
        }
    }

    /// A slice of the batch; ranges come from the decoder and lie within it.
    fn slice(&self, range: Range<usize>) -> Bytes {
        if range.start <= range.end && range.end <= self.batch.len() {
            self.batch.slice(range)
        } else {
            Bytes::new()
        }
    }
}

impl Iterator for Records {
    type Item = Result<Record, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        let layout = self.cursor.next(&self.batch)?;
        Some(layout.map(|layout| self.record(layout)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // One more item than records is possible: the end-of-batch error.
        let remaining = self.cursor.remaining() as usize;
        (0, Some(remaining + 1))
    }
}

impl FusedIterator for Records {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::builder::{BatchBuilder, BatchOptions, NewRecord};
    use crate::record::header::{ATTRIBUTES_POS, CRC_POS, compute_crc};

    fn built(records: &[NewRecord], options: BatchOptions) -> Bytes {
        let mut builder = BatchBuilder::new(options).unwrap();
        for record in records {
            builder.append(record).unwrap();
        }
        builder.build().unwrap()
    }

    fn simple(n: usize) -> Vec<NewRecord> {
        (0..n)
            .map(|i| NewRecord {
                timestamp: 1_000 + i64::try_from(i).unwrap(),
                key: Some(Bytes::from(format!("key-{i}"))),
                value: Some(Bytes::from(format!("value-{i}"))),
                headers: vec![("h".to_owned(), Some(Bytes::from_static(b"x")))],
            })
            .collect()
    }

    #[test]
    fn records_carry_absolute_offsets_and_timestamps() {
        let options = BatchOptions {
            base_offset: 500,
            ..BatchOptions::default()
        };
        let batch = RecordBatch::new(built(&simple(3), options)).unwrap();
        let records: Vec<Record> = batch.records().unwrap().map(Result::unwrap).collect();
        assert_eq!(records.len(), 3);
        assert_eq!(batch.record_count(), 3);
        assert_eq!(batch.last_offset(), 502);
        for (i, record) in records.iter().enumerate() {
            let i64_i = i64::try_from(i).unwrap();
            assert_eq!(record.offset, 500 + i64_i);
            assert_eq!(record.timestamp, 1_000 + i64_i);
            assert_eq!(record.key.as_deref(), Some(format!("key-{i}").as_bytes()));
            assert_eq!(record.headers.len(), 1);
        }
    }

    #[test]
    fn record_fields_are_slices_of_the_batch() {
        let batch = RecordBatch::new(built(&simple(1), BatchOptions::default())).unwrap();
        let record = batch.records().unwrap().next().unwrap().unwrap();
        let range = batch.as_bytes().as_ptr_range();
        let value = record.value.unwrap();
        assert!(range.contains(&value.as_ptr()));
        let header_value = record.headers.iter().next().unwrap().value.unwrap();
        assert!(range.contains(&header_value.as_ptr()));
    }

    #[test]
    fn null_key_and_value_read_back_as_none() {
        let record = NewRecord {
            timestamp: 5,
            key: None,
            value: None,
            headers: Vec::new(),
        };
        let batch = RecordBatch::new(built(&[record], BatchOptions::default())).unwrap();
        let read = batch.records().unwrap().next().unwrap().unwrap();
        assert_eq!(read.key, None);
        assert_eq!(read.value, None);
        assert!(read.headers.is_empty());
    }

    #[test]
    fn bad_crc_is_rejected_on_construction() {
        let mut bytes = built(&simple(2), BatchOptions::default()).to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        assert!(matches!(
            RecordBatch::new(Bytes::from(bytes)),
            Err(RecordError::BadCrc { .. })
        ));
    }

    #[test]
    fn compressed_batch_records_read_like_plain_ones() {
        let plain = RecordBatch::new(built(&simple(5), BatchOptions::default())).unwrap();
        let want: Vec<Record> = plain.records().unwrap().map(Result::unwrap).collect();
        let options = BatchOptions {
            compression: Compression::Lz4,
            ..BatchOptions::default()
        };
        let packed = RecordBatch::new(built(&simple(5), options)).unwrap();
        assert_eq!(packed.compression(), Ok(Compression::Lz4));
        let got: Vec<Record> = packed.records().unwrap().map(Result::unwrap).collect();
        assert_eq!(got, want);
        assert_eq!(packed.validate(), Ok(()));
        assert!(matches!(
            packed.records_with_limit(10).err(),
            Some(RecordError::Compression(_))
        ));
    }

    #[test]
    fn mislabelled_codec_fails_to_read() {
        let mut bytes = built(&simple(1), BatchOptions::default()).to_vec();
        bytes[ATTRIBUTES_POS + 1] |= 0x04; // zstd
        let crc = compute_crc(&bytes).unwrap();
        bytes[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
        let batch = RecordBatch::new(Bytes::from(bytes)).unwrap();
        assert!(matches!(
            batch.records().err(),
            Some(RecordError::Compression(_))
        ));
        assert!(batch.validate().is_err());
    }

    #[test]
    fn iteration_stops_after_the_first_error() {
        // A count one higher than the records present, CRC fixed up.
        let mut bytes = built(&simple(2), BatchOptions::default()).to_vec();
        let count_pos = crate::record::header::RECORD_COUNT_POS;
        bytes[count_pos..count_pos + 4].copy_from_slice(&3i32.to_be_bytes());
        let crc = compute_crc(&bytes).unwrap();
        bytes[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
        let batch = RecordBatch::new(Bytes::from(bytes)).unwrap();
        let items: Vec<_> = batch.records().unwrap().collect();
        assert_eq!(items.len(), 3);
        assert_eq!(
            items[2],
            Err(RecordError::RecordCountMismatch {
                declared: 3,
                actual: 2
            })
        );
        assert!(batch.validate().is_err());
    }

    #[test]
    fn into_bytes_returns_the_batch_unchanged() {
        let bytes = built(&simple(2), BatchOptions::default());
        let batch = RecordBatch::new(bytes.clone()).unwrap();
        assert_eq!(batch.size_in_bytes(), bytes.len());
        assert_eq!(batch.into_bytes(), bytes);
    }
}
