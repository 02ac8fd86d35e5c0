//! Writes the wire primitives into a scatter list of [`Bytes`] chunks.
//!
//! Fixed fields go into one growing [`BytesMut`]; a byte blob handed over as
//! [`Bytes`] (records in a fetch response or a produce request) is not
//! copied but becomes a chunk of its own, between the chunks of surrounding
//! fields. The result is a [`FrameOut`] ready for a vectored socket write.
//! A message without blobs is a single chunk.
//!
//! Lengths that do not fit their prefix are errors, never silently
//! truncated: a string is at most 65 535 bytes, a nullable string at most
//! 32 767, a blob or array at most `u32::MAX` (nullable: `i32::MAX`).

use bytes::{BufMut, Bytes, BytesMut};

use crate::frame::{FRAME_PREFIX_LEN, FrameOut};

/// Longest string: its length is a `u16`.
pub const MAX_STRING_LEN: usize = u16::MAX as usize;
/// Longest nullable string: its length is an `i16`, -1 meaning null.
pub const MAX_NULLABLE_STRING_LEN: usize = i16::MAX as usize;
/// Longest blob, and largest array count: a `u32`.
pub const MAX_BLOB_LEN: usize = u32::MAX as usize;
/// Longest nullable blob, and largest nullable array count: an `i32`.
pub const MAX_NULLABLE_BLOB_LEN: usize = i32::MAX as usize;

/// How many bytes the writer reserves up front; most messages fit.
const INITIAL_CAPACITY: usize = 256;

/// Why a value could not be encoded. Every case is a value the caller built
/// that the wire format cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A string longer than its length prefix allows.
    #[error("string of {len} bytes is longer than the {max} bytes its length prefix allows")]
    StringTooLong {
        /// Bytes in the string.
        len: usize,
        /// Largest encodable length.
        max: usize,
    },
    /// A byte blob longer than its length prefix allows.
    #[error("byte blob of {len} bytes is longer than the {max} bytes its length prefix allows")]
    BlobTooLong {
        /// Bytes in the blob.
        len: usize,
        /// Largest encodable length.
        max: usize,
    },
    /// An array with more items than its count prefix allows.
    #[error("array of {len} items is longer than the {max} items its count prefix allows")]
    ArrayTooLong {
        /// Items in the array.
        len: usize,
        /// Largest encodable count.
        max: usize,
    },
    /// A frame body longer than the `u32` length prefix (or the configured
    /// maximum frame size) allows.
    #[error("frame body of {len} bytes is larger than the maximum of {max} bytes")]
    FrameTooLarge {
        /// Bytes in the frame body.
        len: usize,
        /// Largest allowed body.
        max: usize,
    },
}

/// A value that can be written to the wire.
pub trait Encode {
    /// Appends the encoding of `self` to `w`.
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError>;

    /// The encoding of `self` as one contiguous buffer. This copies blobs;
    /// it is meant for tests, fixtures and small messages.
    fn encode_body(&self) -> Result<Bytes, EncodeError> {
        let mut w = Writer::new();
        self.encode(&mut w)?;
        Ok(w.finish()?.to_bytes())
    }
}

/// Builds a scatter list of chunks from wire primitives.
#[derive(Debug)]
pub struct Writer {
    /// Bytes written since the last shared chunk; grows as fields are added.
    buf: BytesMut,
    /// The first chunk, kept mutable so that the frame length can be patched
    /// into it once the total is known. `None` until a shared chunk forces
    /// `buf` to be cut.
    first: Option<BytesMut>,
    /// Chunks after the first, in order: cut pieces of `buf` and shared blobs.
    rest: Vec<Bytes>,
    /// Bytes in `rest`, so the total length is known without a walk.
    rest_len: usize,
    /// Whether the output starts with a 4-byte frame length prefix.
    framed: bool,
}

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}

impl Writer {
    /// A writer for a bare body, without a frame length prefix.
    pub fn new() -> Self {
        Writer {
            buf: BytesMut::with_capacity(INITIAL_CAPACITY),
            first: None,
            rest: Vec::new(),
            rest_len: 0,
            framed: false,
        }
    }

    /// A writer for a whole frame: it starts with a 4-byte length prefix
    /// that [`Writer::finish`] fills in to cover every chunk.
    pub fn frame() -> Self {
        let mut w = Self::new();
        w.framed = true;
        w.buf.put_u32(0);
        w
    }

    /// Bytes written so far, including the frame prefix if any.
    pub fn len(&self) -> usize {
        self.first.as_ref().map_or(0, BytesMut::len) + self.rest_len + self.buf.len()
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes a `u8`.
    pub fn u8(&mut self, v: u8) {
        self.buf.put_u8(v);
    }

    /// Writes an `i8`.
    pub fn i8(&mut self, v: i8) {
        self.buf.put_i8(v);
    }

    /// Writes a big-endian `u16`.
    pub fn u16(&mut self, v: u16) {
        self.buf.put_u16(v);
    }

    /// Writes a big-endian `i16`.
    pub fn i16(&mut self, v: i16) {
        self.buf.put_i16(v);
    }

    /// Writes a big-endian `u32`.
    pub fn u32(&mut self, v: u32) {
        self.buf.put_u32(v);
    }

    /// Writes a big-endian `i32`.
    pub fn i32(&mut self, v: i32) {
        self.buf.put_i32(v);
    }

    /// Writes a big-endian `i64`.
    pub fn i64(&mut self, v: i64) {
        self.buf.put_i64(v);
    }

    /// Writes a boolean as one byte, 0 or 1.
    pub fn bool(&mut self, v: bool) {
        self.buf.put_u8(u8::from(v));
    }

    /// Writes a string: `u16` length, then UTF-8.
    pub fn string(&mut self, s: &str) -> Result<(), EncodeError> {
        let len = u16::try_from(s.len()).map_err(|_| EncodeError::StringTooLong {
            len: s.len(),
            max: MAX_STRING_LEN,
        })?;
        self.buf.put_u16(len);
        self.buf.put_slice(s.as_bytes());
        Ok(())
    }

    /// Writes a nullable string: `i16` length (-1 = null), then UTF-8.
    pub fn nullable_string(&mut self, s: Option<&str>) -> Result<(), EncodeError> {
        let Some(s) = s else {
            self.buf.put_i16(-1);
            return Ok(());
        };
        let len = i16::try_from(s.len()).map_err(|_| EncodeError::StringTooLong {
            len: s.len(),
            max: MAX_NULLABLE_STRING_LEN,
        })?;
        self.buf.put_i16(len);
        self.buf.put_slice(s.as_bytes());
        Ok(())
    }

    /// Writes a byte blob: `u32` length, then the bytes as a chunk of their
    /// own (not copied).
    pub fn bytes(&mut self, b: &Bytes) -> Result<(), EncodeError> {
        let len = u32::try_from(b.len()).map_err(|_| EncodeError::BlobTooLong {
            len: b.len(),
            max: MAX_BLOB_LEN,
        })?;
        self.buf.put_u32(len);
        self.push_shared(b.clone());
        Ok(())
    }

    /// Writes a nullable byte blob: `i32` length (-1 = null), then the bytes
    /// as a chunk of their own.
    pub fn nullable_bytes(&mut self, b: Option<&Bytes>) -> Result<(), EncodeError> {
        let Some(b) = b else {
            self.buf.put_i32(-1);
            return Ok(());
        };
        let len = i32::try_from(b.len()).map_err(|_| EncodeError::BlobTooLong {
            len: b.len(),
            max: MAX_NULLABLE_BLOB_LEN,
        })?;
        self.buf.put_i32(len);
        self.push_shared(b.clone());
        Ok(())
    }

    /// Writes an array count (`u32`).
    pub fn array_len(&mut self, len: usize) -> Result<(), EncodeError> {
        let n = u32::try_from(len).map_err(|_| EncodeError::ArrayTooLong {
            len,
            max: MAX_BLOB_LEN,
        })?;
        self.buf.put_u32(n);
        Ok(())
    }

    /// Writes a nullable array count (`i32`, -1 = null).
    pub fn nullable_array_len(&mut self, len: Option<usize>) -> Result<(), EncodeError> {
        let n = match len {
            None => -1,
            Some(len) => i32::try_from(len).map_err(|_| EncodeError::ArrayTooLong {
                len,
                max: MAX_NULLABLE_BLOB_LEN,
            })?,
        };
        self.buf.put_i32(n);
        Ok(())
    }

    /// Writes an array: the count, then each item with `item`.
    pub fn array<T>(
        &mut self,
        items: &[T],
        mut item: impl FnMut(&mut Self, &T) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        self.array_len(items.len())?;
        items.iter().try_for_each(|v| item(self, v))
    }

    /// Writes a nullable array: the count (-1 = null), then each item.
    pub fn nullable_array<T>(
        &mut self,
        items: Option<&[T]>,
        mut item: impl FnMut(&mut Self, &T) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        self.nullable_array_len(items.map(<[T]>::len))?;
        items
            .unwrap_or_default()
            .iter()
            .try_for_each(|v| item(self, v))
    }

    /// Writes an array of values that implement [`Encode`].
    pub fn array_of<T: Encode>(&mut self, items: &[T]) -> Result<(), EncodeError> {
        self.array(items, |w, v| v.encode(w))
    }

    /// Cuts `buf` and appends `chunk` after it without copying.
    fn push_shared(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        let piece = self.buf.split();
        if self.first.is_none() {
            self.first = Some(piece);
        } else if !piece.is_empty() {
            self.rest_len += piece.len();
            self.rest.push(piece.freeze());
        }
        self.rest_len += chunk.len();
        self.rest.push(chunk);
    }

    /// Finishes the output. For a framed writer, fills in the length prefix
    /// (the byte count of everything after it, across all chunks); fails when
    /// that does not fit a `u32`.
    pub fn finish(mut self) -> Result<FrameOut, EncodeError> {
        let total = self.len();
        let mut first = match self.first.take() {
            Some(first) => {
                if !self.buf.is_empty() {
                    self.rest.push(self.buf.freeze());
                }
                first
            }
            None => self.buf,
        };
        if self.framed {
            let body = total.saturating_sub(FRAME_PREFIX_LEN);
            let prefix = u32::try_from(body).map_err(|_| EncodeError::FrameTooLarge {
                len: body,
                max: MAX_BLOB_LEN,
            })?;
            if let Some(slot) = first.get_mut(..FRAME_PREFIX_LEN) {
                slot.copy_from_slice(&prefix.to_be_bytes());
            }
        }
        let mut chunks = Vec::with_capacity(1 + self.rest.len());
        if !first.is_empty() {
            chunks.push(first.freeze());
        }
        chunks.extend(self.rest);
        Ok(FrameOut::from_chunks(chunks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::Reader;
    use proptest::prelude::*;

    #[test]
    fn small_message_is_one_chunk() {
        let mut w = Writer::new();
        w.u32(7);
        w.string("abc").unwrap();
        let out = w.finish().unwrap();
        assert_eq!(out.chunk_count(), 1);
        assert_eq!(&out.to_bytes()[..], &[0, 0, 0, 7, 0, 3, b'a', b'b', b'c']);
    }

    #[test]
    fn blobs_are_separate_chunks_and_not_copied() {
        let blob = Bytes::from(vec![5u8; 100]);
        let mut w = Writer::frame();
        w.u16(1);
        w.bytes(&blob).unwrap();
        w.u16(2);
        let out = w.finish().unwrap();
        let chunks: Vec<&Bytes> = out.chunks().collect();
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[1].as_ptr(), blob.as_ptr());
        let flat = out.to_bytes();
        assert_eq!(flat.len(), 4 + 2 + 4 + 100 + 2);
        assert_eq!(&flat[..4], &108u32.to_be_bytes());
    }

    #[test]
    fn frame_prefix_covers_all_chunks() {
        let mut w = Writer::frame();
        w.bytes(&Bytes::from_static(b"xyz")).unwrap();
        w.bytes(&Bytes::from_static(b"uv")).unwrap();
        let flat = w.finish().unwrap().to_bytes();
        assert_eq!(
            &flat[..4],
            &u32::try_from(flat.len() - 4).unwrap().to_be_bytes()
        );
    }

    #[test]
    fn empty_blob_adds_no_chunk() {
        let mut w = Writer::new();
        w.bytes(&Bytes::new()).unwrap();
        let out = w.finish().unwrap();
        assert_eq!(out.chunk_count(), 1);
        assert_eq!(&out.to_bytes()[..], &[0, 0, 0, 0]);
    }

    #[test]
    fn overlong_strings_are_errors() {
        let long = "x".repeat(MAX_STRING_LEN + 1);
        assert_eq!(
            Writer::new().string(&long).unwrap_err(),
            EncodeError::StringTooLong {
                len: MAX_STRING_LEN + 1,
                max: MAX_STRING_LEN
            }
        );
        let nullable = "x".repeat(MAX_NULLABLE_STRING_LEN + 1);
        assert!(Writer::new().nullable_string(Some(&nullable)).is_err());
        assert!(
            Writer::new()
                .nullable_string(Some(&"x".repeat(MAX_NULLABLE_STRING_LEN)))
                .is_ok()
        );
    }

    #[test]
    fn nulls_are_minus_one() {
        let mut w = Writer::new();
        w.nullable_string(None).unwrap();
        w.nullable_bytes(None).unwrap();
        w.nullable_array_len(None).unwrap();
        assert_eq!(&w.finish().unwrap().to_bytes()[..], &[0xff; 10]);
    }

    proptest! {
        #[test]
        fn primitives_round_trip(
            a in any::<u8>(), b in any::<i16>(), c in any::<u32>(), d in any::<i64>(), e in any::<bool>(),
            s in ".{0,20}", ns in proptest::option::of(".{0,20}"),
            blob in proptest::collection::vec(any::<u8>(), 0..40),
            nblob in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        ) {
            let blob = Bytes::from(blob);
            let nblob = nblob.map(Bytes::from);
            let mut w = Writer::new();
            w.u8(a); w.i16(b); w.u32(c); w.i64(d); w.bool(e);
            w.string(&s).unwrap();
            w.nullable_string(ns.as_deref()).unwrap();
            w.bytes(&blob).unwrap();
            w.nullable_bytes(nblob.as_ref()).unwrap();
            let mut r = Reader::new(w.finish().unwrap().to_bytes());
            prop_assert_eq!(r.u8("a").unwrap(), a);
            prop_assert_eq!(r.i16("b").unwrap(), b);
            prop_assert_eq!(r.u32("c").unwrap(), c);
            prop_assert_eq!(r.i64("d").unwrap(), d);
            prop_assert_eq!(r.bool("e").unwrap(), e);
            prop_assert_eq!(r.string("s").unwrap(), s);
            prop_assert_eq!(r.nullable_string("ns").unwrap(), ns);
            prop_assert_eq!(r.bytes("blob").unwrap(), blob);
            prop_assert_eq!(r.nullable_bytes("nblob").unwrap(), nblob);
            prop_assert!(r.finish().is_ok());
        }
    }
}
