//! Checked reads of the wire primitives from an untrusted [`Bytes`] buffer.
//!
//! Every read names the field it is reading, and a failure reports where it
//! happened: the byte offset, how many bytes the field needed and how many
//! were left. Byte blobs come back as [`Bytes::slice`]s of the input, so a
//! produce request's records are never copied. Array counts are checked
//! against the bytes left before anything is allocated: a hostile count can
//! make a decode fail, never make it allocate. On top of that, the memory
//! all decoded arrays may take is capped at [`ALLOC_FACTOR`] times the input
//! plus [`ALLOC_FLOOR`], so that tiny wire items (2-byte empty strings that
//! each become a 24-byte `String`) cannot multiply a frame's size in memory.
//!
//! Primitive encodings (all integers big-endian):
//!
//! ```text
//! bool             u8, 0 = false, 1 = true (anything else is rejected)
//! string           u16 length N, then N bytes of UTF-8
//! nullable string  i16 length N, then N bytes of UTF-8; N = -1 is null
//! bytes            u32 length N, then N bytes
//! nullable bytes   i32 length N, then N bytes; N = -1 is null
//! array            u32 count N, then N items
//! nullable array   i32 count N, then N items; N = -1 is null
//! ```

use std::fmt;
use std::mem::size_of;

use bytes::Bytes;

/// Decoded arrays may take this many times the input's size in memory...
pub const ALLOC_FACTOR: usize = 4;
/// ...plus this much, so that small messages are never limited.
pub const ALLOC_FLOOR: usize = 1024 * 1024;

/// Which coded value a [`DecodeError::UnknownCode`] was about.
///
/// Kept as an enum rather than a string so that the broker can pick the wire
/// error code for a bad value (an unknown `acks` is `INVALID_REQUIRED_ACKS`,
/// everything else `INVALID_REQUEST`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeKind {
    /// A boolean byte that is neither 0 nor 1.
    Bool,
    /// Produce `acks`: only -1, 0 and 1 exist.
    Acks,
    /// Fetch `isolation_level`: only 0 (read uncommitted) and 2 (read
    /// unflushed) exist.
    IsolationLevel,
    /// Config resource type: only 2 (topic) and 4 (broker) exist.
    ResourceType,
    /// AlterConfigs operation: only 0 (set) and 1 (delete) exist.
    AlterConfigOp,
    /// ListOffsets timestamp: -2, -1 or a non-negative time.
    OffsetSpec,
    /// A nullable length or count below -1.
    NullableLength,
    /// A node id that is negative where only real node ids are allowed.
    NodeId,
}

impl fmt::Display for CodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CodeKind::Bool => "boolean",
            CodeKind::Acks => "acks",
            CodeKind::IsolationLevel => "isolation level",
            CodeKind::ResourceType => "config resource type",
            CodeKind::AlterConfigOp => "alter config operation",
            CodeKind::OffsetSpec => "list offsets timestamp",
            CodeKind::NullableLength => "nullable length",
            CodeKind::NodeId => "node id",
        })
    }
}

/// Why untrusted bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended inside a field.
    #[error("truncated input reading {what} at offset {offset}: need {need} bytes, have {have}")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Byte offset of the field from the start of the decoded buffer.
        offset: usize,
        /// Bytes the field needs.
        need: usize,
        /// Bytes that were left.
        have: usize,
    },
    /// An array count that cannot fit in the bytes left, even if every item
    /// had its minimum size. Rejected before allocating.
    #[error(
        "{what} count {count} at offset {offset} cannot fit: \
         each item needs at least {min_item_bytes} bytes, {have} bytes left"
    )]
    CountTooLarge {
        /// The array being read.
        what: &'static str,
        /// Byte offset of the count.
        offset: usize,
        /// The count announced.
        count: u32,
        /// The smallest an item of this array can encode to.
        min_item_bytes: usize,
        /// Bytes left after the count.
        have: usize,
    },
    /// A string that is not valid UTF-8.
    #[error("{what} at offset {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// The field being read.
        what: &'static str,
        /// Byte offset of the string's first byte.
        offset: usize,
        /// The UTF-8 failure.
        #[source]
        source: std::str::Utf8Error,
    },
    /// A coded value (enum, boolean, sentinel) outside the defined set.
    #[error("unknown {kind} {code} in {what} at offset {offset}")]
    UnknownCode {
        /// Which kind of code.
        kind: CodeKind,
        /// The field being read.
        what: &'static str,
        /// Byte offset of the value.
        offset: usize,
        /// The value found, widened so that every wire integer fits.
        code: i64,
    },
    /// A value that is well-formed but not allowed in this place.
    #[error("invalid {what} at offset {offset}: {reason}")]
    Invalid {
        /// The field being read.
        what: &'static str,
        /// Byte offset of the value.
        offset: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The arrays of the message would take more memory than its size
    /// justifies (see [`ALLOC_FACTOR`]).
    #[error(
        "{what} count {count} at offset {offset} would need {need} bytes of memory, \
         more than the {left} bytes left of this message's allowance"
    )]
    AllocationLimit {
        /// The array being read.
        what: &'static str,
        /// Byte offset of the count.
        offset: usize,
        /// The count announced.
        count: usize,
        /// Memory the array would take.
        need: usize,
        /// Allowance left.
        left: usize,
    },
    /// Bytes left over after the message ended.
    #[error("{remaining} unexpected bytes after the message, at offset {offset}")]
    TrailingBytes {
        /// Byte offset where the message ended.
        offset: usize,
        /// Bytes left over.
        remaining: usize,
    },
}

/// A value that can be read from the wire.
pub trait Decode: Sized {
    /// Reads one value from `r`, leaving `r` just after it.
    fn decode(r: &mut Reader) -> Result<Self, DecodeError>;

    /// Decodes a whole body: the value must use every byte of `body`.
    fn decode_body(body: Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let value = Self::decode(&mut r)?;
        r.finish()?;
        Ok(value)
    }
}

/// A cursor over an untrusted buffer with checked, named reads.
#[derive(Debug, Clone)]
pub struct Reader {
    /// The whole buffer; blobs are returned as slices of it (zero-copy).
    buf: Bytes,
    /// Offset of the next unread byte; always `<= buf.len()`.
    pos: usize,
    /// Memory decoded arrays may still take.
    alloc_left: usize,
}

impl Reader {
    /// A reader positioned at the start of `buf`.
    pub fn new(buf: Bytes) -> Self {
        let alloc_left = buf
            .len()
            .saturating_mul(ALLOC_FACTOR)
            .saturating_add(ALLOC_FLOOR);
        Reader {
            buf,
            pos: 0,
            alloc_left,
        }
    }

    /// Charges `count` items of `T` to the allocation allowance.
    fn reserve_items<T>(
        &mut self,
        what: &'static str,
        offset: usize,
        count: usize,
    ) -> Result<(), DecodeError> {
        let need = count.saturating_mul(size_of::<T>());
        if need > self.alloc_left {
            return Err(DecodeError::AllocationLimit {
                what,
                offset,
                count,
                need,
                left: self.alloc_left,
            });
        }
        self.alloc_left -= need;
        Ok(())
    }

    /// Offset of the next unread byte from the start of the buffer.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Fails unless every byte has been read.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            remaining => Err(DecodeError::TrailingBytes {
                offset: self.pos,
                remaining,
            }),
        }
    }

    /// The unread rest of the buffer (zero-copy), consuming the reader.
    pub fn into_rest(self) -> Bytes {
        self.buf.slice(self.pos.min(self.buf.len())..)
    }

    /// Claims the next `n` bytes and returns their range.
    fn claim(&mut self, what: &'static str, n: usize) -> Result<(usize, usize), DecodeError> {
        let have = self.remaining();
        if n > have {
            return Err(DecodeError::Truncated {
                what,
                offset: self.pos,
                need: n,
                have,
            });
        }
        let start = self.pos;
        self.pos += n;
        Ok((start, self.pos))
    }

    fn fixed<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let (start, end) = self.claim(what, N)?;
        let mut out = [0u8; N];
        if let Some(src) = self.buf.get(start..end) {
            out.copy_from_slice(src);
        }
        Ok(out)
    }

    /// Reads a `u8`.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        self.fixed::<1>(what).map(u8::from_be_bytes)
    }

    /// Reads an `i8`.
    pub fn i8(&mut self, what: &'static str) -> Result<i8, DecodeError> {
        self.fixed::<1>(what).map(i8::from_be_bytes)
    }

    /// Reads a big-endian `u16`.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        self.fixed::<2>(what).map(u16::from_be_bytes)
    }

    /// Reads a big-endian `i16`.
    pub fn i16(&mut self, what: &'static str) -> Result<i16, DecodeError> {
        self.fixed::<2>(what).map(i16::from_be_bytes)
    }

    /// Reads a big-endian `u32`.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        self.fixed::<4>(what).map(u32::from_be_bytes)
    }

    /// Reads a big-endian `i32`.
    pub fn i32(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        self.fixed::<4>(what).map(i32::from_be_bytes)
    }

    /// Reads a big-endian `i64`.
    pub fn i64(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        self.fixed::<8>(what).map(i64::from_be_bytes)
    }

    /// Reads a boolean byte; only 0 and 1 are accepted, so that every value
    /// has exactly one encoding.
    pub fn bool(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        let offset = self.pos;
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DecodeError::UnknownCode {
                kind: CodeKind::Bool,
                what,
                offset,
                code: i64::from(other),
            }),
        }
    }

    fn utf8(&mut self, what: &'static str, len: usize) -> Result<String, DecodeError> {
        let (start, end) = self.claim(what, len)?;
        let raw = self.buf.get(start..end).unwrap_or_default();
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(s.to_owned()),
            Err(source) => Err(DecodeError::InvalidUtf8 {
                what,
                offset: start,
                source,
            }),
        }
    }

    /// Reads a string: `u16` length, then UTF-8.
    pub fn string(&mut self, what: &'static str) -> Result<String, DecodeError> {
        let len = self.u16(what)?;
        self.utf8(what, usize::from(len))
    }

    /// Reads a nullable string: `i16` length (-1 = null), then UTF-8.
    pub fn nullable_string(&mut self, what: &'static str) -> Result<Option<String>, DecodeError> {
        let offset = self.pos;
        let len = self.i16(what)?;
        match nullable_len(what, offset, i64::from(len))? {
            None => Ok(None),
            Some(len) => self.utf8(what, len).map(Some),
        }
    }

    fn blob(&mut self, what: &'static str, len: usize) -> Result<Bytes, DecodeError> {
        let (start, end) = self.claim(what, len)?;
        Ok(self.buf.slice(start..end))
    }

    /// Reads a byte blob: `u32` length, then the bytes, as a zero-copy slice.
    pub fn bytes(&mut self, what: &'static str) -> Result<Bytes, DecodeError> {
        let len = self.u32(what)?;
        self.blob(what, widen(len))
    }

    /// Reads a nullable byte blob: `i32` length (-1 = null), then the bytes.
    pub fn nullable_bytes(&mut self, what: &'static str) -> Result<Option<Bytes>, DecodeError> {
        let offset = self.pos;
        let len = self.i32(what)?;
        match nullable_len(what, offset, i64::from(len))? {
            None => Ok(None),
            Some(len) => self.blob(what, len).map(Some),
        }
    }

    fn check_count(
        &self,
        what: &'static str,
        offset: usize,
        count: u32,
        min_item_bytes: usize,
    ) -> Result<usize, DecodeError> {
        let n = widen(count);
        let have = self.remaining();
        let min_item_bytes = min_item_bytes.max(1);
        if n.checked_mul(min_item_bytes).is_none_or(|need| need > have) {
            return Err(DecodeError::CountTooLarge {
                what,
                offset,
                count,
                min_item_bytes,
                have,
            });
        }
        Ok(n)
    }

    /// Reads an array count (`u32`) and checks that `count` items of at least
    /// `min_item_bytes` each fit in the bytes left.
    pub fn array_len(
        &mut self,
        what: &'static str,
        min_item_bytes: usize,
    ) -> Result<usize, DecodeError> {
        let offset = self.pos;
        let count = self.u32(what)?;
        self.check_count(what, offset, count, min_item_bytes)
    }

    /// Reads a nullable array count (`i32`, -1 = null) with the same check as
    /// [`Reader::array_len`].
    pub fn nullable_array_len(
        &mut self,
        what: &'static str,
        min_item_bytes: usize,
    ) -> Result<Option<usize>, DecodeError> {
        let offset = self.pos;
        let count = self.i32(what)?;
        if count == -1 {
            return Ok(None);
        }
        let count = u32::try_from(count).map_err(|_| DecodeError::UnknownCode {
            kind: CodeKind::NullableLength,
            what,
            offset,
            code: i64::from(count),
        })?;
        self.check_count(what, offset, count, min_item_bytes)
            .map(Some)
    }

    /// Reads an array: a checked count, then each item with `item`.
    pub fn array<T>(
        &mut self,
        what: &'static str,
        min_item_bytes: usize,
        mut item: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let offset = self.pos;
        let n = self.array_len(what, min_item_bytes)?;
        self.reserve_items::<T>(what, offset, n)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(item(self)?);
        }
        Ok(out)
    }

    /// Reads a nullable array: a checked count (-1 = null), then each item.
    pub fn nullable_array<T>(
        &mut self,
        what: &'static str,
        min_item_bytes: usize,
        mut item: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<Vec<T>>, DecodeError> {
        let offset = self.pos;
        let Some(n) = self.nullable_array_len(what, min_item_bytes)? else {
            return Ok(None);
        };
        self.reserve_items::<T>(what, offset, n)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(item(self)?);
        }
        Ok(Some(out))
    }

    /// Reads an array of values that implement [`Decode`].
    pub fn array_of<T: Decode>(
        &mut self,
        what: &'static str,
        min_item_bytes: usize,
    ) -> Result<Vec<T>, DecodeError> {
        self.array(what, min_item_bytes, T::decode)
    }
}

/// `u32` to `usize`; every supported target has at least 32-bit pointers.
fn widen(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Interprets a nullable length: -1 is null, other negatives are rejected.
fn nullable_len(what: &'static str, offset: usize, len: i64) -> Result<Option<usize>, DecodeError> {
    if len == -1 {
        return Ok(None);
    }
    usize::try_from(len)
        .map(Some)
        .map_err(|_| DecodeError::UnknownCode {
            kind: CodeKind::NullableLength,
            what,
            offset,
            code: len,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reader(bytes: &[u8]) -> Reader {
        Reader::new(Bytes::copy_from_slice(bytes))
    }

    #[test]
    fn integers_are_big_endian() {
        let mut r = reader(&[0x01, 0x02, 0xff, 0xfe, 0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(r.u16("a").unwrap(), 0x0102);
        assert_eq!(r.i16("b").unwrap(), -2);
        assert_eq!(r.i64("c").unwrap(), 7);
        r.finish().unwrap();
    }

    #[test]
    fn truncated_read_reports_offset_need_and_have() {
        let mut r = reader(&[0, 0, 0]);
        r.u8("first").unwrap();
        let err = r.u32("second").unwrap_err();
        assert_eq!(
            err,
            DecodeError::Truncated {
                what: "second",
                offset: 1,
                need: 4,
                have: 2
            }
        );
        assert!(err.to_string().contains("need 4 bytes, have 2"));
    }

    #[test]
    fn failed_read_does_not_advance() {
        let mut r = reader(&[0, 5, b'a']);
        assert!(r.string("s").is_err());
        // The length was consumed but the body was not.
        assert_eq!(r.position(), 2);
    }

    #[test]
    fn string_and_nullable_string() {
        let mut r = reader(&[0, 2, b'h', b'i', 0xff, 0xff, 0, 0]);
        assert_eq!(r.string("s").unwrap(), "hi");
        assert_eq!(r.nullable_string("n").unwrap(), None);
        assert_eq!(r.nullable_string("e").unwrap(), Some(String::new()));
    }

    #[test]
    fn nullable_string_rejects_lengths_below_minus_one() {
        let err = reader(&[0xff, 0xfe]).nullable_string("n").unwrap_err();
        assert!(matches!(
            err,
            DecodeError::UnknownCode {
                kind: CodeKind::NullableLength,
                code: -2,
                ..
            }
        ));
    }

    #[test]
    fn invalid_utf8_is_rejected() {
        let err = reader(&[0, 1, 0xff]).string("s").unwrap_err();
        assert!(matches!(err, DecodeError::InvalidUtf8 { offset: 2, .. }));
    }

    #[test]
    fn bytes_are_zero_copy_slices() {
        let buf = Bytes::from_static(&[0, 0, 0, 3, 9, 8, 7]);
        let mut r = Reader::new(buf.clone());
        let blob = r.bytes("b").unwrap();
        assert_eq!(&blob[..], &[9, 8, 7]);
        assert_eq!(blob.as_ptr(), buf[4..].as_ptr());
    }

    #[test]
    fn nullable_bytes_null() {
        let mut r = reader(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(r.nullable_bytes("b").unwrap(), None);
    }

    #[test]
    fn bool_accepts_only_zero_and_one() {
        let mut r = reader(&[0, 1, 2]);
        assert!(!r.bool("a").unwrap());
        assert!(r.bool("b").unwrap());
        assert!(matches!(
            r.bool("c").unwrap_err(),
            DecodeError::UnknownCode {
                kind: CodeKind::Bool,
                code: 2,
                ..
            }
        ));
    }

    #[test]
    fn hostile_count_is_rejected_before_allocating() {
        let mut r = reader(&[0xff, 0xff, 0xff, 0xff, 0, 0]);
        let err = r.array("items", 4, |r| r.u32("item")).unwrap_err();
        assert!(matches!(
            err,
            DecodeError::CountTooLarge {
                count: u32::MAX,
                have: 2,
                ..
            }
        ));
    }

    #[test]
    fn tiny_items_cannot_multiply_memory() {
        // 1 MiB of empty strings: 2 bytes each on the wire, 24 in memory.
        let n = 512 * 1024;
        let mut bytes = u32::try_from(n).unwrap().to_be_bytes().to_vec();
        bytes.resize(4 + 2 * n, 0);
        let err = reader(&bytes)
            .array("names", 2, |r| r.string("name"))
            .unwrap_err();
        assert!(matches!(err, DecodeError::AllocationLimit { .. }), "{err}");
        // A tenth of that is well within the allowance.
        let n = n / 10;
        let mut bytes = u32::try_from(n).unwrap().to_be_bytes().to_vec();
        bytes.resize(4 + 2 * n, 0);
        let names = reader(&bytes)
            .array("names", 2, |r| r.string("name"))
            .unwrap();
        assert_eq!(names.len(), n);
    }

    #[test]
    fn zero_min_item_size_still_bounds_the_count() {
        let err = reader(&[0, 0, 0, 3, 0, 0]).array_len("a", 0).unwrap_err();
        assert!(matches!(err, DecodeError::CountTooLarge { .. }));
    }

    #[test]
    fn nullable_array_null_and_negative() {
        assert_eq!(
            reader(&[0xff, 0xff, 0xff, 0xff])
                .nullable_array("a", 1, |r| r.u8("x"))
                .unwrap(),
            None
        );
        assert!(
            reader(&[0xff, 0xff, 0xff, 0xfe])
                .nullable_array_len("a", 1)
                .is_err()
        );
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut r = reader(&[1, 2]);
        r.u8("a").unwrap();
        assert_eq!(
            r.finish().unwrap_err(),
            DecodeError::TrailingBytes {
                offset: 1,
                remaining: 1
            }
        );
    }

    #[test]
    fn into_rest_is_the_unread_tail() {
        let mut r = reader(&[1, 2, 3]);
        r.u8("a").unwrap();
        assert_eq!(&r.into_rest()[..], &[2, 3]);
    }

    proptest! {
        #[test]
        fn arbitrary_reads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), ops in proptest::collection::vec(0u8..10, 0..16)) {
            let mut r = Reader::new(Bytes::from(bytes));
            for op in ops {
                let before = r.position();
                let ok = match op {
                    0 => r.u8("x").is_ok(),
                    1 => r.i16("x").is_ok(),
                    2 => r.u32("x").is_ok(),
                    3 => r.i64("x").is_ok(),
                    4 => r.bool("x").is_ok(),
                    5 => r.string("x").is_ok(),
                    6 => r.nullable_string("x").is_ok(),
                    7 => r.bytes("x").is_ok(),
                    8 => r.nullable_bytes("x").is_ok(),
                    _ => r.array("x", 2, |r| r.u16("y")).is_ok(),
                };
                prop_assert!(r.position() >= before);
                prop_assert!(r.remaining() + r.position() >= r.position());
                let _ = ok;
            }
        }
    }
}
