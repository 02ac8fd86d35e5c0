//! [`Record`]: one decoded record, its key, value and header values being
//! zero-copy `Bytes` slices of the batch it came from.

use std::iter::FusedIterator;
use std::ops::Range;

use bytes::Bytes;

use super::varint::decode_varint;

/// One record of a batch, as read by [`super::Records`].
///
/// Holding a `Record` keeps the whole batch's buffer alive (its fields are
/// slices of it), which is what makes reading copy-free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Absolute offset: the batch's `base_offset + offset_delta`.
    pub offset: i64,
    /// Absolute timestamp in ms: `base_timestamp + timestamp_delta`, or the
    /// batch's `max_timestamp` when the batch uses `LogAppendTime`.
    pub timestamp: i64,
    /// Offset relative to the batch's base offset, as stored.
    pub offset_delta: i32,
    /// Timestamp relative to the batch's base timestamp, as stored.
    pub timestamp_delta: i64,
    /// Record attributes, as stored (Kafka defines no bits; producers write 0).
    pub attributes: i8,
    /// The key, `None` when null (distinct from an empty key).
    pub key: Option<Bytes>,
    /// The value, `None` when null (a tombstone under compaction).
    pub value: Option<Bytes>,
    /// The record headers.
    pub headers: RecordHeaders,
}

/// The headers of one record: the encoded header entries, checked when the
/// record was decoded and decoded again on iteration without allocating.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordHeaders {
    /// The header entries as stored (key length, key, value length, value),
    /// a slice of the batch. Invariant: holds exactly `count` well-formed
    /// entries with UTF-8 keys.
    raw: Bytes,
    /// Number of entries in `raw`.
    count: u32,
}

impl RecordHeaders {
    /// Wraps header entries the decoder has already checked.
    pub(crate) fn from_checked(raw: Bytes, count: u32) -> Self {
        RecordHeaders { raw, count }
    }

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether the record has no headers.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The headers in stored order (keys may repeat).
    pub fn iter(&self) -> HeaderIter<'_> {
        HeaderIter {
            raw: &self.raw,
            position: 0,
            remaining: self.count,
        }
    }

    /// The last header named `key` (Kafka's `lastHeader`), if any.
    pub fn last(&self, key: &str) -> Option<Header<'_>> {
        self.iter().filter(|h| h.key == key).last()
    }
}

impl<'a> IntoIterator for &'a RecordHeaders {
    type Item = Header<'a>;
    type IntoIter = HeaderIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// One record header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// The header name (Kafka header keys are non-null UTF-8 strings).
    pub key: &'a str,
    /// The value, `None` when null; a slice of the batch.
    pub value: Option<Bytes>,
}

/// Iterator over [`RecordHeaders`].
#[derive(Debug, Clone)]
pub struct HeaderIter<'a> {
    /// The entries being walked.
    raw: &'a Bytes,
    /// Position of the next entry in `raw`.
    position: usize,
    /// Entries not yet returned.
    remaining: u32,
}

impl<'a> HeaderIter<'a> {
    /// Reads the next length-prefixed field; `None` if it is malformed.
    fn field(&mut self) -> Option<Field> {
        let (length, len) = decode_varint(self.raw.get(self.position..)?).ok()?;
        self.position += len;
        if length == -1 {
            return Some(Field::Null);
        }
        let length = usize::try_from(length).ok()?;
        let end = self.position.checked_add(length)?;
        if end > self.raw.len() {
            return None;
        }
        let range = self.position..end;
        self.position = end;
        Some(Field::Bytes(range))
    }

    fn entry(&mut self) -> Option<Header<'a>> {
        let raw: &'a Bytes = self.raw;
        let Field::Bytes(key) = self.field()? else {
            return None;
        };
        let key = std::str::from_utf8(raw.get(key)?).ok()?;
        let value = match self.field()? {
            Field::Null => None,
            Field::Bytes(range) => Some(raw.slice(range)),
        };
        Some(Header { key, value })
    }
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = Header<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        // The entries were checked when the record was decoded, so `entry`
        // succeeds; if it did not, iteration ends rather than panicking.
        let header = self.entry();
        self.remaining = if header.is_some() {
            self.remaining - 1
        } else {
            0
        };
        header
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining as usize))
    }
}

impl FusedIterator for HeaderIter<'_> {}

/// A length-prefixed field of a header entry.
enum Field {
    /// Length -1.
    Null,
    /// The field's bytes within the entries.
    Bytes(Range<usize>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::varint::put_varint;

    fn entries(headers: &[(&str, Option<&[u8]>)]) -> RecordHeaders {
        let mut raw = Vec::new();
        for (key, value) in headers {
            put_varint(&mut raw, i32::try_from(key.len()).unwrap());
            raw.extend_from_slice(key.as_bytes());
            match value {
                Some(v) => {
                    put_varint(&mut raw, i32::try_from(v.len()).unwrap());
                    raw.extend_from_slice(v);
                }
                None => put_varint(&mut raw, -1),
            }
        }
        RecordHeaders::from_checked(Bytes::from(raw), u32::try_from(headers.len()).unwrap())
    }

    #[test]
    fn iterates_headers_in_order_with_null_and_empty_values() {
        let headers = entries(&[("a", Some(b"1")), ("b", None), ("ключ", Some(b""))]);
        let got: Vec<_> = headers.iter().collect();
        assert_eq!(headers.len(), 3);
        assert_eq!(got[0].key, "a");
        assert_eq!(got[0].value.as_deref(), Some(&b"1"[..]));
        assert_eq!(got[1].value, None);
        assert_eq!(got[2].key, "ключ");
        assert_eq!(got[2].value.as_deref(), Some(&b""[..]));
    }

    #[test]
    fn header_values_share_the_record_buffer() {
        let headers = entries(&[("k", Some(b"value"))]);
        let value = headers.iter().next().unwrap().value.unwrap();
        let raw = headers.raw.as_ptr() as usize;
        let start = value.as_ptr() as usize;
        assert!(start > raw && start < raw + headers.raw.len());
    }

    #[test]
    fn last_finds_the_last_header_with_a_key() {
        let headers = entries(&[("k", Some(b"1")), ("x", None), ("k", Some(b"2"))]);
        assert_eq!(
            headers.last("k").and_then(|h| h.value),
            Some(Bytes::from_static(b"2"))
        );
        assert_eq!(headers.last("x").map(|h| h.value), Some(None));
        assert_eq!(headers.last("missing"), None);
    }

    #[test]
    fn empty_headers_iterate_nothing() {
        let headers = RecordHeaders::default();
        assert!(headers.is_empty());
        assert_eq!(headers.iter().count(), 0);
    }

    #[test]
    fn malformed_entries_end_iteration_without_panic() {
        // Not reachable through the decoder; checks the defensive path.
        let headers = RecordHeaders::from_checked(Bytes::from_static(&[0x06, b'a']), 2);
        assert_eq!(headers.iter().count(), 0);
    }
}
