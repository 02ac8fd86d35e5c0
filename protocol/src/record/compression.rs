//! Record compression: the codecs of attribute bits 0-2, in the framings
//! Apache Kafka's clients write, so that batches cross between Runnel and
//! Kafka tooling unchanged.
//!
//! | codec  | id | bytes after the batch header |
//! |--------|----|------------------------------|
//! | gzip   | 1  | one or more RFC 1952 members (`flate2`) |
//! | snappy | 2  | xerial framing (below); a bare Snappy block is also read |
//! | lz4    | 3  | LZ4 frame format: 64 KiB independent blocks, no checksums, no content size (`lz4_flex`) |
//! | zstd   | 4  | one or more Zstandard frames (`zstd`), level 3 as Kafka's default |
//!
//! Kafka's Java client writes Snappy through snappy-java's
//! `SnappyOutputStream`, the "xerial" framing:
//!
//! ```text
//! magic            8 bytes  0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00
//! version          i32      1
//! compatible       i32      1
//! block*           i32 compressed length, then a raw Snappy block of at
//!                  most 32 KiB of input
//! ```
//!
//! Decompression is bounded: the caller names the most bytes the records may
//! expand to ([`DEFAULT_MAX_DECOMPRESSED_BYTES`] unless told otherwise), and
//! a codec that would produce more stops with
//! [`CompressionError::TooLarge`] before allocating past the limit, so a
//! small batch cannot expand without bound (a "zip bomb").

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::Arc;

use bytes::{BufMut, BytesMut};

use super::header::Compression;

/// Default bound on the decompressed size of one batch's records: 64 MiB.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 64 * 1024 * 1024;

/// The xerial Snappy stream magic.
pub const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Bytes of the xerial header: magic, version, compatible version.
const XERIAL_HEADER_LEN: usize = XERIAL_MAGIC.len() + 4 + 4;
/// The xerial format version snappy-java writes.
const XERIAL_VERSION: i32 = 1;
/// Input bytes per xerial block, snappy-java's default block size.
const XERIAL_BLOCK: usize = 32 * 1024;
/// Kafka's default gzip level (`Deflater.DEFAULT_COMPRESSION`).
const GZIP_LEVEL: u32 = 6;
/// Kafka's default zstd level.
const ZSTD_LEVEL: i32 = 3;

/// Why records could not be compressed or decompressed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CompressionError {
    /// The codec failed while compressing (only resource failures inside
    /// the codec can cause this).
    #[error("{codec} compression failed")]
    Compress {
        /// The codec.
        codec: Compression,
        /// The codec's error.
        #[source]
        source: Arc<io::Error>,
    },
    /// The compressed bytes are not a valid stream of the codec.
    #[error("{codec} compressed records are corrupt")]
    Corrupt {
        /// The codec.
        codec: Compression,
        /// What the decoder found wrong.
        #[source]
        source: Arc<io::Error>,
    },
    /// The records would decompress to more than the allowed size.
    #[error("{codec} compressed records expand to more than the limit of {limit} bytes")]
    TooLarge {
        /// The codec.
        codec: Compression,
        /// The limit in force.
        limit: usize,
    },
}

impl PartialEq for CompressionError {
    /// Errors compare by kind, codec and the message of their cause (I/O
    /// errors themselves are not comparable).
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (
                Self::Compress {
                    codec: a,
                    source: x,
                },
                Self::Compress {
                    codec: b,
                    source: y,
                },
            )
            | (
                Self::Corrupt {
                    codec: a,
                    source: x,
                },
                Self::Corrupt {
                    codec: b,
                    source: y,
                },
            ) => a == b && x.kind() == y.kind() && x.to_string() == y.to_string(),
            (Self::TooLarge { codec: a, limit: x }, Self::TooLarge { codec: b, limit: y }) => {
                a == b && x == y
            }
            _ => false,
        }
    }
}

impl Eq for CompressionError {}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Appends `input` compressed with `codec` to `out`. With
/// [`Compression::None`] the bytes are appended as they are.
pub fn compress(
    codec: Compression,
    input: &[u8],
    out: &mut BytesMut,
) -> Result<(), CompressionError> {
    let failed = |source: io::Error| CompressionError::Compress {
        codec,
        source: Arc::new(source),
    };
    match codec {
        Compression::None => {
            out.put_slice(input);
            Ok(())
        }
        Compression::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(out.writer(), flate2::Compression::new(GZIP_LEVEL));
            encoder.write_all(input).map_err(failed)?;
            encoder.finish().map(drop).map_err(failed)
        }
        Compression::Snappy => snappy_xerial_compress(input, out).map_err(failed),
        Compression::Lz4 => {
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(info, out.writer());
            encoder.write_all(input).map_err(failed)?;
            encoder
                .finish()
                .map(drop)
                .map_err(|e| failed(io::Error::other(e)))
        }
        Compression::Zstd => {
            let mut encoder =
                zstd::stream::write::Encoder::new(out.writer(), ZSTD_LEVEL).map_err(failed)?;
            encoder.write_all(input).map_err(failed)?;
            encoder.finish().map(drop).map_err(failed)
        }
    }
}

/// Decompresses `input` (the bytes after a batch header) and appends the
/// result to `out`; fails with [`CompressionError::TooLarge`] when it would
/// append more than `limit` bytes. With [`Compression::None`] the bytes are
/// appended as they are, under the same limit.
pub fn decompress_into(
    codec: Compression,
    input: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    let corrupt = |source: io::Error| CompressionError::Corrupt {
        codec,
        source: Arc::new(source),
    };
    match codec {
        Compression::None => {
            if input.len() > limit {
                return Err(CompressionError::TooLarge { codec, limit });
            }
            out.extend_from_slice(input);
            Ok(())
        }
        Compression::Gzip => {
            read_bounded(codec, flate2::read::MultiGzDecoder::new(input), limit, out)
        }
        Compression::Snappy => snappy_decompress(input, limit, out),
        Compression::Lz4 => {
            read_bounded(codec, lz4_flex::frame::FrameDecoder::new(input), limit, out)
        }
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(input).map_err(corrupt)?;
            read_bounded(codec, decoder, limit, out)
        }
    }
}

/// Decompresses `input` into a new buffer; see [`decompress_into`].
pub fn decompress(
    codec: Compression,
    input: &[u8],
    limit: usize,
) -> Result<Vec<u8>, CompressionError> {
    let mut out = Vec::new();
    decompress_into(codec, input, limit, &mut out)?;
    Ok(out)
}

/// Reads `reader` to its end into `out`, refusing more than `limit` bytes.
/// The buffer never grows past `limit + 1` bytes of content.
fn read_bounded(
    codec: Compression,
    reader: impl Read,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    let start = out.len();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(out)
        .map_err(|source| CompressionError::Corrupt {
            codec,
            source: Arc::new(source),
        })?;
    if out.len() - start > limit {
        out.truncate(start);
        return Err(CompressionError::TooLarge { codec, limit });
    }
    Ok(())
}

/// Writes `input` in the xerial framing, one raw Snappy block per 32 KiB.
fn snappy_xerial_compress(input: &[u8], out: &mut BytesMut) -> io::Result<()> {
    out.put_slice(&XERIAL_MAGIC);
    out.put_i32(XERIAL_VERSION);
    out.put_i32(XERIAL_VERSION);
    let mut encoder = snap::raw::Encoder::new();
    for block in input.chunks(XERIAL_BLOCK) {
        let start = out.len();
        let max = snap::raw::max_compress_len(block.len());
        out.put_bytes(0, 4 + max);
        let body = out.get_mut(start + 4..).unwrap_or_default();
        let written = encoder.compress(block, body).map_err(io::Error::other)?;
        out.truncate(start + 4 + written);
        let len = i32::try_from(written).map_err(io::Error::other)?;
        if let Some(prefix) = out.get_mut(start..start + 4) {
            prefix.copy_from_slice(&len.to_be_bytes());
        }
    }
    Ok(())
}

/// Reads xerial-framed Snappy, or a single bare Snappy block when the
/// xerial magic is absent (as snappy-java's reader does).
fn snappy_decompress(
    input: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    let codec = Compression::Snappy;
    let corrupt = |message: String| CompressionError::Corrupt {
        codec,
        source: Arc::new(io::Error::new(io::ErrorKind::InvalidData, message)),
    };
    let start = out.len();
    let mut decoder = snap::raw::Decoder::new();
    let mut block = |bytes: &[u8], out: &mut Vec<u8>| -> Result<(), CompressionError> {
        let len = snap::raw::decompress_len(bytes).map_err(|e| corrupt(e.to_string()))?;
        let at = out.len();
        if at - start + len > limit {
            out.truncate(start);
            return Err(CompressionError::TooLarge { codec, limit });
        }
        out.resize(at + len, 0);
        let target = out.get_mut(at..).unwrap_or_default();
        let written = decoder
            .decompress(bytes, target)
            .map_err(|e| corrupt(e.to_string()))?;
        out.truncate(at + written);
        Ok(())
    };
    let Some(rest) = input.strip_prefix(&XERIAL_MAGIC[..]) else {
        return block(input, out);
    };
    let Some(mut rest) = rest.get(XERIAL_HEADER_LEN - XERIAL_MAGIC.len()..) else {
        return Err(corrupt("xerial header is truncated".to_owned()));
    };
    while !rest.is_empty() {
        let Some((len, body)) = rest.split_first_chunk::<4>() else {
            return Err(corrupt(format!(
                "xerial block length truncated: {} bytes left",
                rest.len()
            )));
        };
        let len = i32::from_be_bytes(*len);
        let len = usize::try_from(len)
            .map_err(|_| corrupt(format!("negative xerial block length {len}")))?;
        let (chunk, after) = body.split_at_checked(len).ok_or_else(|| {
            corrupt(format!(
                "xerial block of {len} bytes but only {} bytes left",
                body.len()
            ))
        })?;
        block(chunk, out)?;
        rest = after;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn compressed(codec: Compression, input: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        compress(codec, input, &mut out).unwrap();
        out.to_vec()
    }

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| b"runnel records "[i % 15]).collect()
    }

    #[test]
    fn every_codec_round_trips() {
        for codec in ALL {
            for len in [0, 1, 100, XERIAL_BLOCK, XERIAL_BLOCK + 1, 200_000] {
                let input = sample(len);
                let packed = compressed(codec, &input);
                let back = decompress(codec, &packed, len).unwrap();
                assert_eq!(back, input, "{codec} {len}");
            }
        }
    }

    #[test]
    fn repetitive_input_shrinks() {
        let input = sample(100_000);
        for codec in &ALL[1..] {
            let packed = compressed(*codec, &input);
            assert!(packed.len() < input.len() / 4, "{codec}: {}", packed.len());
        }
    }

    #[test]
    fn snappy_uses_the_xerial_framing() {
        let input = sample(XERIAL_BLOCK + 10);
        let packed = compressed(Compression::Snappy, &input);
        assert_eq!(packed[..8], XERIAL_MAGIC);
        assert_eq!(packed[8..16], [0, 0, 0, 1, 0, 0, 0, 1]);
        // Two blocks: a full 32 KiB one and the 10-byte tail.
        let first =
            usize::try_from(i32::from_be_bytes(packed[16..20].try_into().unwrap())).unwrap();
        let second_at = 20 + first;
        let second = usize::try_from(i32::from_be_bytes(
            packed[second_at..second_at + 4].try_into().unwrap(),
        ))
        .unwrap();
        assert_eq!(second_at + 4 + second, packed.len());
        assert_eq!(
            snap::raw::decompress_len(&packed[20..20 + first]).unwrap(),
            XERIAL_BLOCK
        );
    }

    #[test]
    fn bare_snappy_block_is_read() {
        let input = sample(5_000);
        let raw = snap::raw::Encoder::new().compress_vec(&input).unwrap();
        assert_eq!(
            decompress(Compression::Snappy, &raw, 10_000).unwrap(),
            input
        );
    }

    #[test]
    fn lz4_frame_header_declares_independent_64k_blocks() {
        let packed = compressed(Compression::Lz4, b"hello");
        assert_eq!(packed[..4], [0x04, 0x22, 0x4d, 0x18]);
        // FLG: version 01, block independence, no checksums, no content size.
        assert_eq!(packed[4], 0b0110_0000);
        // BD: block maximum size 64 KiB.
        assert_eq!(packed[5], 0x40);
    }

    #[test]
    fn gzip_and_zstd_start_with_their_magic() {
        assert_eq!(compressed(Compression::Gzip, b"x")[..2], [0x1f, 0x8b]);
        assert_eq!(
            compressed(Compression::Zstd, b"x")[..4],
            [0x28, 0xb5, 0x2f, 0xfd]
        );
    }

    #[test]
    fn expansion_past_the_limit_is_refused() {
        // 8 MiB of zeros packs into a few KiB for every codec.
        let input = vec![0u8; 8 * 1024 * 1024];
        for codec in ALL {
            let packed = compressed(codec, &input);
            let mut out = vec![9u8; 3];
            assert_eq!(
                decompress_into(codec, &packed, 1024 * 1024, &mut out),
                Err(CompressionError::TooLarge {
                    codec,
                    limit: 1024 * 1024
                }),
                "{codec}"
            );
            assert_eq!(out, [9, 9, 9], "{codec}: output left as it was");
            assert!(
                out.capacity() <= 2 * 1024 * 1024 + 64,
                "{codec}: {}",
                out.capacity()
            );
        }
    }

    #[test]
    fn output_of_exactly_the_limit_is_accepted() {
        let input = sample(4_096);
        for codec in ALL {
            let packed = compressed(codec, &input);
            assert_eq!(decompress(codec, &packed, 4_096).unwrap().len(), 4_096);
            assert!(decompress(codec, &packed, 4_095).is_err());
        }
    }

    #[test]
    fn garbage_is_corrupt_for_every_codec() {
        for codec in &ALL[1..] {
            let err = decompress(*codec, b"definitely not compressed data", 1 << 20).unwrap_err();
            assert!(
                matches!(err, CompressionError::Corrupt { codec: c, .. } if c == *codec),
                "{codec}: {err:?}"
            );
        }
    }

    #[test]
    fn truncated_streams_are_corrupt() {
        let input = sample(50_000);
        for codec in &ALL[1..] {
            let packed = compressed(*codec, &input);
            let cut = &packed[..packed.len() / 2];
            assert!(decompress(*codec, cut, 1 << 20).is_err(), "{codec}");
        }
    }

    #[test]
    fn hostile_xerial_block_lengths_are_rejected() {
        let mut bytes = XERIAL_MAGIC.to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        for len in [-1i32, i32::MAX, 5] {
            let mut hostile = bytes.clone();
            hostile.extend_from_slice(&len.to_be_bytes());
            hostile.push(0);
            assert!(decompress(Compression::Snappy, &hostile, 1 << 20).is_err());
        }
        assert!(decompress(Compression::Snappy, &bytes[..12], 1 << 20).is_err());
        // A header and no blocks is an empty stream.
        assert_eq!(decompress(Compression::Snappy, &bytes, 10).unwrap(), b"");
    }

    #[test]
    fn errors_display_the_codec() {
        let err = CompressionError::TooLarge {
            codec: Compression::Zstd,
            limit: 10,
        };
        assert_eq!(
            err.to_string(),
            "zstd compressed records expand to more than the limit of 10 bytes"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_input_round_trips(input in proptest::collection::vec(any::<u8>(), 0..2048), codec in 0usize..5) {
            let codec = ALL[codec];
            let packed = compressed(codec, &input);
            prop_assert_eq!(decompress(codec, &packed, input.len()).unwrap(), input);
        }

        #[test]
        fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512), codec in 0usize..5) {
            let _ = decompress(ALL[codec], &input, 1 << 16);
        }

        #[test]
        fn corrupted_streams_never_panic(input in proptest::collection::vec(any::<u8>(), 1..512), codec in 1usize..5, at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let codec = ALL[codec];
            let mut packed = compressed(codec, &input);
            let i = at.index(packed.len());
            packed[i] = byte;
            let _ = decompress(codec, &packed, 1 << 16);
        }
    }
}
