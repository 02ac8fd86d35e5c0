//! Framing: every frame is a `u32` big-endian body length, then the body.
//!
//! ```text
//! offset  size  field
//!      0     4  length  u32  bytes in the body (the prefix itself not counted)
//!      4     …  body    request header + request, or response header + response
//! ```
//!
//! [`FrameCodec`] is the tokio-util [`Decoder`]/[`Encoder`] for this framing
//! with an explicit maximum body size. A length over the maximum is an error
//! as soon as the 4-byte prefix is seen: nothing of the body is buffered and
//! nothing is reserved for it, so a hostile length cannot make the peer
//! allocate. Incomplete input is `Ok(None)`; any error means the stream can
//! no longer be trusted to be in step and the connection should be closed.
//!
//! Outgoing frames are [`FrameOut`]s: a scatter list of [`Bytes`] whose first
//! chunk starts with the length prefix. It implements [`Buf`] with
//! [`Buf::chunks_vectored`], so `AsyncWriteExt::write_all_buf` writes it with
//! vectored writes and record blobs go from the page cache to the socket
//! without a copy.

use std::collections::VecDeque;
use std::io::{self, IoSlice};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Bytes in the frame length prefix.
pub const FRAME_PREFIX_LEN: usize = 4;

/// Default largest frame body: 100 MiB, comfortably above the default
/// `max.message.bytes` plus request overhead.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 100 * 1024 * 1024;

/// Why framing failed. Every case closes the connection.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The socket failed.
    #[error("i/o error on the connection")]
    Io(#[from] io::Error),
    /// A frame announced (or, on encode, had) a body over the maximum.
    #[error("frame of {len} bytes exceeds the maximum frame size of {max} bytes")]
    TooLarge {
        /// Body length announced or encoded.
        len: u64,
        /// The configured maximum.
        max: usize,
    },
    /// The stream ended in the middle of a frame.
    #[error("connection closed inside a frame: {buffered} bytes of an unfinished frame buffered")]
    UnexpectedEof {
        /// Bytes of the unfinished frame that had arrived.
        buffered: usize,
    },
}

/// Splits a byte stream into frame bodies and writes frames, with a maximum
/// body size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameCodec {
    /// Largest body accepted or sent; bounds per-connection buffering.
    max_frame_bytes: usize,
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_BYTES)
    }
}

impl FrameCodec {
    /// A codec that rejects frame bodies over `max_frame_bytes`.
    pub fn new(max_frame_bytes: usize) -> Self {
        FrameCodec { max_frame_bytes }
    }

    /// The largest frame body this codec accepts or sends.
    pub fn max_frame_bytes(&self) -> usize {
        self.max_frame_bytes
    }

    fn check(self, len: usize) -> Result<(), FrameError> {
        if len > self.max_frame_bytes {
            return Err(FrameError::TooLarge {
                len: u64::try_from(len).unwrap_or(u64::MAX),
                max: self.max_frame_bytes,
            });
        }
        Ok(())
    }
}

impl Decoder for FrameCodec {
    /// One frame body, without its length prefix; a zero-copy split of the
    /// read buffer.
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let Some(prefix) = src.get(..FRAME_PREFIX_LEN) else {
            return Ok(None);
        };
        let mut len_bytes = [0u8; FRAME_PREFIX_LEN];
        len_bytes.copy_from_slice(prefix);
        let announced = u32::from_be_bytes(len_bytes);
        let len = usize::try_from(announced).unwrap_or(usize::MAX);
        if len > self.max_frame_bytes {
            return Err(FrameError::TooLarge {
                len: u64::from(announced),
                max: self.max_frame_bytes,
            });
        }
        if src.len() - FRAME_PREFIX_LEN < len {
            // Incomplete: make room for the whole frame now (its length is
            // within `max_frame_bytes`), as Kafka's client allocates a
            // receive of the announced size. Growing the buffer as bytes
            // arrive instead copied a multi-megabyte fetch answer about once
            // more, doubling after doubling.
            src.reserve(FRAME_PREFIX_LEN + len - src.len());
            return Ok(None);
        }
        src.advance(FRAME_PREFIX_LEN);
        Ok(Some(src.split_to(len).freeze()))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(FrameError::UnexpectedEof {
                buffered: src.len(),
            }),
        }
    }
}

impl Encoder<FrameOut> for FrameCodec {
    type Error = FrameError;

    /// Copies an already framed [`FrameOut`] into the write buffer. Use
    /// [`FrameOut`] as a [`Buf`] directly to avoid the copy.
    fn encode(&mut self, frame: FrameOut, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.check(frame.len().saturating_sub(FRAME_PREFIX_LEN))?;
        dst.reserve(frame.len());
        for chunk in frame.chunks() {
            dst.put_slice(chunk);
        }
        Ok(())
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = FrameError;

    /// Writes `body` as one frame: its length, then the body.
    fn encode(&mut self, body: Bytes, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.check(body.len())?;
        let len = u32::try_from(body.len()).map_err(|_| FrameError::TooLarge {
            len: u64::try_from(body.len()).unwrap_or(u64::MAX),
            max: self.max_frame_bytes,
        })?;
        dst.reserve(FRAME_PREFIX_LEN + body.len());
        dst.put_u32(len);
        dst.put_slice(&body);
        Ok(())
    }
}

/// An outgoing frame as a scatter list, length prefix included.
///
/// Produced by [`crate::Writer::finish`] (through the `encode_frame` methods
/// of requests and responses). Record blobs are chunks of their own, shared
/// with the storage that produced them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrameOut {
    /// The chunks not yet consumed, none of them empty.
    chunks: VecDeque<Bytes>,
    /// Total bytes in `chunks`.
    remaining: usize,
}

impl FrameOut {
    /// A frame from chunks in order; empty chunks are dropped.
    pub fn from_chunks(chunks: impl IntoIterator<Item = Bytes>) -> Self {
        let chunks: VecDeque<Bytes> = chunks.into_iter().filter(|c| !c.is_empty()).collect();
        let remaining = chunks.iter().map(Bytes::len).sum();
        FrameOut { chunks, remaining }
    }

    /// Bytes left to send, prefix included.
    pub fn len(&self) -> usize {
        self.remaining
    }

    /// Whether nothing is left to send.
    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }

    /// Number of chunks left.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// The chunks left, in order.
    pub fn chunks(&self) -> impl Iterator<Item = &Bytes> {
        self.chunks.iter()
    }

    /// The chunks left, in order, by value.
    pub fn into_chunks(self) -> Vec<Bytes> {
        self.chunks.into()
    }

    /// The whole frame as one contiguous buffer. Copies unless the frame is
    /// already a single chunk.
    pub fn to_bytes(&self) -> Bytes {
        match self.chunks.len() {
            0 => Bytes::new(),
            1 => self.chunks.front().cloned().unwrap_or_default(),
            _ => {
                let mut out = BytesMut::with_capacity(self.remaining);
                for chunk in &self.chunks {
                    out.put_slice(chunk);
                }
                out.freeze()
            }
        }
    }
}

impl Buf for FrameOut {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.chunks.front().map_or(&[], |c| &c[..])
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, chunk) in dst.iter_mut().zip(self.chunks.iter()) {
            *slot = IoSlice::new(chunk);
            n += 1;
        }
        n
    }

    /// Advances past `cnt` bytes; advancing past the end empties the frame.
    fn advance(&mut self, mut cnt: usize) {
        while cnt > 0 {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            if cnt < front.len() {
                front.advance(cnt);
                self.remaining -= cnt;
                return;
            }
            cnt -= front.len();
            self.remaining -= front.len();
            self.chunks.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut v = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn incomplete_prefix_is_none() {
        let mut codec = FrameCodec::new(64);
        let mut buf = BytesMut::from(&[0u8, 0, 0][..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert_eq!(buf.len(), 3);
    }

    #[test]
    fn incomplete_body_is_none_and_keeps_the_bytes() {
        let mut codec = FrameCodec::new(64);
        let mut buf = BytesMut::from(&[0u8, 0, 0, 5, 1, 2][..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert_eq!(buf.len(), 6);
        // Room for the rest of the frame is made at once, so the buffer
        // is not grown (and copied) piece by piece as the body arrives.
        assert!(buf.capacity() >= 4 + 5, "{}", buf.capacity());
        let mut big = BytesMut::from(&[0u8, 1, 0, 0, 7][..]);
        let mut codec = FrameCodec::new(1 << 20);
        assert!(codec.decode(&mut big).unwrap().is_none());
        assert!(big.capacity() >= 4 + 65_536, "{}", big.capacity());
    }

    #[test]
    fn complete_frame_is_split_off() {
        let mut codec = FrameCodec::new(64);
        let mut bytes = framed(b"hello");
        bytes.extend_from_slice(&framed(b""));
        bytes.extend_from_slice(&[0, 0]);
        let mut buf = BytesMut::from(&bytes[..]);
        assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"hello");
        assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"");
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert_eq!(&buf[..], &[0, 0]);
    }

    #[test]
    fn four_gib_announcement_is_rejected_without_allocating() {
        let mut codec = FrameCodec::new(1024 * 1024);
        let mut buf = BytesMut::with_capacity(16);
        buf.put_u32(u32::MAX);
        let err = codec.decode(&mut buf).unwrap_err();
        assert!(matches!(
            err,
            FrameError::TooLarge {
                len: 0xffff_ffff,
                max: 1_048_576
            }
        ));
        assert!(buf.capacity() <= 64, "capacity grew to {}", buf.capacity());
    }

    #[test]
    fn length_equal_to_max_is_accepted() {
        let mut codec = FrameCodec::new(3);
        let mut buf = BytesMut::from(&framed(b"abc")[..]);
        assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"abc");
        let mut buf = BytesMut::from(&framed(b"abcd")[..]);
        assert!(codec.decode(&mut buf).is_err());
    }

    #[test]
    fn eof_inside_a_frame_is_an_error() {
        let mut codec = FrameCodec::new(64);
        let mut buf = BytesMut::from(&[0u8, 0, 0, 5, 1][..]);
        assert!(matches!(
            codec.decode_eof(&mut buf),
            Err(FrameError::UnexpectedEof { buffered: 5 })
        ));
        let mut empty = BytesMut::new();
        assert!(codec.decode_eof(&mut empty).unwrap().is_none());
    }

    #[test]
    fn encode_bytes_writes_prefix_and_checks_max() {
        let mut codec = FrameCodec::new(4);
        let mut dst = BytesMut::new();
        codec.encode(Bytes::from_static(b"abcd"), &mut dst).unwrap();
        assert_eq!(&dst[..], &framed(b"abcd")[..]);
        assert!(
            codec
                .encode(Bytes::from_static(b"abcde"), &mut dst)
                .is_err()
        );
    }

    #[test]
    fn encode_frame_out_copies_all_chunks() {
        let frame = FrameOut::from_chunks([
            Bytes::from_static(&[0, 0, 0, 3, b'a']),
            Bytes::new(),
            Bytes::from_static(b"bc"),
        ]);
        assert_eq!(frame.chunk_count(), 2);
        let mut dst = BytesMut::new();
        FrameCodec::new(3).encode(frame.clone(), &mut dst).unwrap();
        assert_eq!(&dst[..], &framed(b"abc")[..]);
        assert!(FrameCodec::new(2).encode(frame, &mut dst).is_err());
    }

    #[test]
    fn frame_out_as_buf_walks_every_chunk() {
        let mut frame = FrameOut::from_chunks([
            Bytes::from_static(b"ab"),
            Bytes::from_static(b"cde"),
            Bytes::from_static(b"f"),
        ]);
        let mut slices = [IoSlice::new(&[]); 8];
        assert_eq!(frame.chunks_vectored(&mut slices), 3);
        assert_eq!(frame.remaining(), 6);
        frame.advance(3);
        assert_eq!(frame.chunk(), b"de");
        assert_eq!(frame.remaining(), 3);
        let rest = frame.copy_to_bytes(3);
        assert_eq!(&rest[..], b"def");
        assert!(frame.is_empty());
        assert_eq!(frame.chunk(), b"");
        frame.advance(10);
        assert_eq!(frame.remaining(), 0);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256), max in 0usize..64) {
            let mut codec = FrameCodec::new(max);
            let mut buf = BytesMut::from(&bytes[..]);
            let mut consumed = 0;
            while let Ok(Some(frame)) = codec.decode(&mut buf) {
                prop_assert!(frame.len() <= max);
                consumed += FRAME_PREFIX_LEN + frame.len();
            }
            prop_assert!(consumed <= bytes.len());
            let _ = codec.decode_eof(&mut buf);
        }

        #[test]
        fn frames_survive_any_split(bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..6), split in 1usize..17) {
            let mut stream = Vec::new();
            for body in &bodies {
                stream.extend_from_slice(&framed(body));
            }
            let mut codec = FrameCodec::new(64);
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            for piece in stream.chunks(split) {
                buf.extend_from_slice(piece);
                while let Some(frame) = codec.decode(&mut buf).unwrap() {
                    out.push(frame.to_vec());
                }
            }
            prop_assert!(codec.decode_eof(&mut buf).unwrap().is_none());
            prop_assert_eq!(out, bodies);
        }
    }
}
