//! Variable-length integers as Apache Kafka writes them inside records.
//!
//! ```text
//! unsigned varint  7 bits per byte, least significant group first; the high
//!                  bit of a byte says "another byte follows" (LEB128)
//! varint (i32)     zig-zag mapped to u32, then as an unsigned varint, 1-5 bytes
//! varlong (i64)    zig-zag mapped to u64, then as an unsigned varint, 1-10 bytes
//!
//! zig-zag: 0 → 0, -1 → 1, 1 → 2, -2 → 3, ...   (n << 1) ^ (n >> (bits - 1))
//! ```
//!
//! Decoding is checked and stricter than Kafka's own reader: every encoding is
//! accepted only in its one minimal form. A varint that runs past the end of
//! the input is [`VarintError::Truncated`]; one that is longer than its type
//! allows is [`VarintError::TooLong`]; one whose last byte carries bits that do
//! not fit the type is [`VarintError::Overflow`]; one padded with a redundant
//! zero group (`0x80 0x00` for 0) is [`VarintError::NotMinimal`]. Kafka's
//! writers, like ours, always produce the minimal form.

use bytes::BufMut;

/// Most bytes a 32-bit varint takes (`ceil(32 / 7)`).
pub const MAX_VARINT_LEN: usize = 5;
/// Most bytes a 64-bit varlong takes (`ceil(64 / 7)`).
pub const MAX_VARLONG_LEN: usize = 10;

const CONTINUATION: u8 = 0x80;
const GROUP_MASK: u8 = 0x7f;
const GROUP_BITS: u32 = 7;

/// Why bytes are not a valid varint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VarintError {
    /// The input ended while the last byte read still announced another one.
    #[error("varint truncated after {have} bytes")]
    Truncated {
        /// Bytes that were present, all with the continuation bit set.
        have: usize,
    },
    /// The continuation bit is still set on the last byte the type allows.
    #[error("varint longer than the {max} bytes a {bits}-bit value takes")]
    TooLong {
        /// Most bytes the type takes.
        max: usize,
        /// Width of the type.
        bits: u32,
    },
    /// The last byte carries bits beyond the type's width.
    #[error("varint does not fit in {bits} bits")]
    Overflow {
        /// Width of the type.
        bits: u32,
    },
    /// The encoding ends in a redundant zero group, so it is longer than the
    /// minimal one.
    #[error("varint of {len} bytes is not in minimal form")]
    NotMinimal {
        /// Bytes the encoding used.
        len: usize,
    },
}

/// Maps a signed 32-bit value to the unsigned one that is written.
pub fn zigzag_encode_32(value: i32) -> u32 {
    ((value << 1) ^ (value >> 31)).cast_unsigned()
}

/// Inverse of [`zigzag_encode_32`].
pub fn zigzag_decode_32(value: u32) -> i32 {
    (value >> 1).cast_signed() ^ -((value & 1).cast_signed())
}

/// Maps a signed 64-bit value to the unsigned one that is written.
pub fn zigzag_encode_64(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)).cast_unsigned()
}

/// Inverse of [`zigzag_encode_64`].
pub fn zigzag_decode_64(value: u64) -> i64 {
    (value >> 1).cast_signed() ^ -((value & 1).cast_signed())
}

/// Bytes [`put_unsigned_varlong`] writes for `value`.
pub fn unsigned_varlong_len(value: u64) -> usize {
    // Bits needed, at least one, in groups of seven.
    let bits = (u64::BITS - value.leading_zeros()).max(1);
    bits.div_ceil(GROUP_BITS) as usize
}

/// Bytes [`put_unsigned_varint`] writes for `value`.
pub fn unsigned_varint_len(value: u32) -> usize {
    unsigned_varlong_len(u64::from(value))
}

/// Bytes [`put_varint`] writes for `value`.
pub fn varint_len(value: i32) -> usize {
    unsigned_varint_len(zigzag_encode_32(value))
}

/// Bytes [`put_varlong`] writes for `value`.
pub fn varlong_len(value: i64) -> usize {
    unsigned_varlong_len(zigzag_encode_64(value))
}

/// Writes `value` as an unsigned varint of at most 10 bytes.
pub fn put_unsigned_varlong(buf: &mut impl BufMut, mut value: u64) {
    while value >= u64::from(CONTINUATION) {
        // Truncation to the low seven bits is the point.
        #[allow(clippy::cast_possible_truncation)]
        let group = (value as u8) & GROUP_MASK;
        buf.put_u8(group | CONTINUATION);
        value >>= GROUP_BITS;
    }
    #[allow(clippy::cast_possible_truncation)]
    buf.put_u8(value as u8);
}

/// Writes `value` as an unsigned varint of at most 5 bytes.
pub fn put_unsigned_varint(buf: &mut impl BufMut, value: u32) {
    put_unsigned_varlong(buf, u64::from(value));
}

/// Writes `value` zig-zag encoded, 1 to 5 bytes (Kafka's `varint`).
pub fn put_varint(buf: &mut impl BufMut, value: i32) {
    put_unsigned_varint(buf, zigzag_encode_32(value));
}

/// Writes `value` zig-zag encoded, 1 to 10 bytes (Kafka's `varlong`).
pub fn put_varlong(buf: &mut impl BufMut, value: i64) {
    put_unsigned_varlong(buf, zigzag_encode_64(value));
}

/// Decodes an unsigned varint of at most `bits` bits from the start of
/// `buf`, returning the value and the bytes it took.
fn decode_unsigned(buf: &[u8], bits: u32) -> Result<(u64, usize), VarintError> {
    let max = bits.div_ceil(GROUP_BITS) as usize;
    // Bits the last allowed byte may carry: 32 bits leave 4, 64 leave 1.
    let last_bits = bits - GROUP_BITS * (bits.div_ceil(GROUP_BITS) - 1);
    let mut value: u64 = 0;
    for (index, &byte) in buf.iter().take(max).enumerate() {
        let group = byte & GROUP_MASK;
        if index + 1 == max {
            if byte & CONTINUATION != 0 {
                return Err(VarintError::TooLong { max, bits });
            }
            if u32::from(group) >> last_bits != 0 {
                return Err(VarintError::Overflow { bits });
            }
        }
        // `index < max <= 10`, so the shift is at most 63.
        #[allow(clippy::cast_possible_truncation)]
        let shift = GROUP_BITS * index as u32;
        value |= u64::from(group) << shift;
        if byte & CONTINUATION == 0 {
            if byte == 0 && index > 0 {
                return Err(VarintError::NotMinimal { len: index + 1 });
            }
            return Ok((value, index + 1));
        }
    }
    Err(VarintError::Truncated { have: buf.len() })
}

/// Decodes an unsigned varint (u32) from the start of `buf`; returns the
/// value and the number of bytes it took.
pub fn decode_unsigned_varint(buf: &[u8]) -> Result<(u32, usize), VarintError> {
    let (value, len) = decode_unsigned(buf, u32::BITS)?;
    let value = u32::try_from(value).map_err(|_| VarintError::Overflow { bits: u32::BITS })?;
    Ok((value, len))
}

/// Decodes an unsigned varlong (u64) from the start of `buf`; returns the
/// value and the number of bytes it took.
pub fn decode_unsigned_varlong(buf: &[u8]) -> Result<(u64, usize), VarintError> {
    decode_unsigned(buf, u64::BITS)
}

/// Decodes a zig-zag varint (i32) from the start of `buf`; returns the value
/// and the number of bytes it took.
pub fn decode_varint(buf: &[u8]) -> Result<(i32, usize), VarintError> {
    // Single-byte fast path: most lengths and deltas in a batch are small.
    if let Some(&byte) = buf.first()
        && byte & CONTINUATION == 0
    {
        return Ok((zigzag_decode_32(u32::from(byte)), 1));
    }
    let (value, len) = decode_unsigned_varint(buf)?;
    Ok((zigzag_decode_32(value), len))
}

/// Decodes a zig-zag varlong (i64) from the start of `buf`; returns the value
/// and the number of bytes it took.
pub fn decode_varlong(buf: &[u8]) -> Result<(i64, usize), VarintError> {
    if let Some(&byte) = buf.first()
        && byte & CONTINUATION == 0
    {
        return Ok((zigzag_decode_64(u64::from(byte)), 1));
    }
    let (value, len) = decode_unsigned_varlong(buf)?;
    Ok((zigzag_decode_64(value), len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::RngSeed;

    /// A fixed seed keeps the suite deterministic.
    fn config() -> ProptestConfig {
        ProptestConfig {
            rng_seed: RngSeed::Fixed(0x7661_7269_6e74),
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    fn varint_bytes(value: i32) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, value);
        out
    }

    fn varlong_bytes(value: i64) -> Vec<u8> {
        let mut out = Vec::new();
        put_varlong(&mut out, value);
        out
    }

    #[test]
    fn zigzag_maps_small_magnitudes_to_small_codes() {
        assert_eq!(zigzag_encode_32(0), 0);
        assert_eq!(zigzag_encode_32(-1), 1);
        assert_eq!(zigzag_encode_32(1), 2);
        assert_eq!(zigzag_encode_32(-2), 3);
        assert_eq!(zigzag_encode_32(i32::MAX), u32::MAX - 1);
        assert_eq!(zigzag_encode_32(i32::MIN), u32::MAX);
        assert_eq!(zigzag_encode_64(i64::MIN), u64::MAX);
        assert_eq!(zigzag_decode_64(u64::MAX - 1), i64::MAX);
    }

    #[test]
    fn known_encodings_match_kafka() {
        // Values from Kafka's ByteUtilsTest.
        assert_eq!(varint_bytes(0), [0x00]);
        assert_eq!(varint_bytes(-1), [0x01]);
        assert_eq!(varint_bytes(1), [0x02]);
        assert_eq!(varint_bytes(63), [0x7e]);
        assert_eq!(varint_bytes(-64), [0x7f]);
        assert_eq!(varint_bytes(64), [0x80, 0x01]);
        assert_eq!(varint_bytes(-65), [0x81, 0x01]);
        assert_eq!(varint_bytes(8191), [0xfe, 0x7f]);
        assert_eq!(varint_bytes(-8192), [0xff, 0x7f]);
        assert_eq!(varint_bytes(8192), [0x80, 0x80, 0x01]);
        assert_eq!(varint_bytes(i32::MAX), [0xfe, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(varint_bytes(i32::MIN), [0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(
            varlong_bytes(i64::MIN),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        let mut unsigned = Vec::new();
        put_unsigned_varint(&mut unsigned, 300);
        assert_eq!(unsigned, [0xac, 0x02]);
    }

    #[test]
    fn decode_reports_bytes_consumed_and_ignores_what_follows() {
        assert_eq!(decode_varint(&[0x80, 0x01, 0xff, 0xff]), Ok((64, 2)));
        assert_eq!(decode_varlong(&[0x03, 0x80]), Ok((-2, 1)));
        assert_eq!(decode_unsigned_varint(&[0xac, 0x02, 0x00]), Ok((300, 2)));
    }

    #[test]
    fn empty_input_is_truncated() {
        assert_eq!(decode_varint(&[]), Err(VarintError::Truncated { have: 0 }));
        assert_eq!(decode_varlong(&[]), Err(VarintError::Truncated { have: 0 }));
        assert_eq!(
            decode_unsigned_varint(&[]),
            Err(VarintError::Truncated { have: 0 })
        );
    }

    #[test]
    fn input_ending_after_a_continuation_byte_is_truncated() {
        assert_eq!(
            decode_varint(&[0x80, 0x80]),
            Err(VarintError::Truncated { have: 2 })
        );
        assert_eq!(
            decode_varlong(&[0xff; 9]),
            Err(VarintError::Truncated { have: 9 })
        );
    }

    #[test]
    fn six_byte_varint_is_too_long() {
        assert_eq!(
            decode_varint(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
            Err(VarintError::TooLong { max: 5, bits: 32 })
        );
        assert_eq!(
            decode_varlong(&[0x80; 11]),
            Err(VarintError::TooLong { max: 10, bits: 64 })
        );
    }

    #[test]
    fn bits_beyond_the_type_width_overflow() {
        // Fifth byte of a 32-bit varint may carry only 4 bits.
        assert_eq!(
            decode_varint(&[0xff, 0xff, 0xff, 0xff, 0x1f]),
            Err(VarintError::Overflow { bits: 32 })
        );
        // Tenth byte of a 64-bit varlong may carry only 1 bit.
        let mut long = [0xff; 10];
        long[9] = 0x02;
        assert_eq!(
            decode_varlong(&long),
            Err(VarintError::Overflow { bits: 64 })
        );
    }

    #[test]
    fn padded_encodings_are_not_minimal() {
        assert_eq!(
            decode_varint(&[0x80, 0x00]),
            Err(VarintError::NotMinimal { len: 2 })
        );
        assert_eq!(
            decode_varlong(&[0x81, 0x80, 0x00]),
            Err(VarintError::NotMinimal { len: 3 })
        );
    }

    #[test]
    fn lengths_match_encoders_at_group_boundaries() {
        for value in [
            0u64,
            0x7f,
            0x80,
            0x3fff,
            0x4000,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_unsigned_varlong(&mut out, value);
            assert_eq!(out.len(), unsigned_varlong_len(value), "value {value:#x}");
        }
        assert_eq!(varint_len(i32::MIN), MAX_VARINT_LEN);
        assert_eq!(varlong_len(i64::MAX), MAX_VARLONG_LEN);
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn varint_round_trips(value in any::<i32>()) {
            let bytes = varint_bytes(value);
            prop_assert_eq!(bytes.len(), varint_len(value));
            prop_assert_eq!(decode_varint(&bytes), Ok((value, bytes.len())));
        }

        #[test]
        fn varlong_round_trips(value in any::<i64>()) {
            let bytes = varlong_bytes(value);
            prop_assert_eq!(bytes.len(), varlong_len(value));
            prop_assert_eq!(decode_varlong(&bytes), Ok((value, bytes.len())));
        }

        #[test]
        fn unsigned_varint_round_trips(value in any::<u32>()) {
            let mut bytes = Vec::new();
            put_unsigned_varint(&mut bytes, value);
            prop_assert_eq!(bytes.len(), unsigned_varint_len(value));
            prop_assert_eq!(decode_unsigned_varint(&bytes), Ok((value, bytes.len())));
        }

        #[test]
        fn unsigned_varlong_round_trips(value in any::<u64>()) {
            let mut bytes = Vec::new();
            put_unsigned_varlong(&mut bytes, value);
            prop_assert_eq!(bytes.len(), unsigned_varlong_len(value));
            prop_assert_eq!(decode_unsigned_varlong(&bytes), Ok((value, bytes.len())));
        }

        #[test]
        fn arbitrary_bytes_decode_or_fail_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
            // Whatever decodes must re-encode to exactly the bytes consumed:
            // there is one accepted encoding per value.
            if let Ok((value, len)) = decode_varint(&bytes) {
                prop_assert_eq!(varint_bytes(value), &bytes[..len]);
            }
            if let Ok((value, len)) = decode_varlong(&bytes) {
                prop_assert_eq!(varlong_bytes(value), &bytes[..len]);
            }
            if let Ok((value, len)) = decode_unsigned_varint(&bytes) {
                let mut out = Vec::new();
                put_unsigned_varint(&mut out, value);
                prop_assert_eq!(out, &bytes[..len]);
            }
        }
    }
}
