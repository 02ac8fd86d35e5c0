//! One module per API: request and response types, their wire layout in the
//! module docs, and their encode/decode.
//!
//! Every type here implements [`Encode`] and [`Decode`]; requests also
//! implement [`ApiRequest`], which ties a request to its key, version and
//! response type so that a client can send typed calls.

pub mod alter_configs;
pub mod api_versions;
pub mod consumer_group_heartbeat;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_topics;
pub mod describe_configs;
pub mod describe_groups;
pub mod error_response;
pub mod fetch;
pub mod find_coordinator;
pub mod init_producer_id;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_fetch;
pub mod produce;

use crate::api_key::ApiKey;
use crate::reader::Decode;
use crate::writer::Encode;

/// A request of one API, tied to its key, version and response type.
pub trait ApiRequest: Encode + Decode {
    /// The API key in the request header.
    const KEY: ApiKey;
    /// The version of the layout this type encodes.
    const VERSION: u16;
    /// What the broker answers.
    type Response: Encode + Decode;
}

/// Helpers shared by the API tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::fmt::Debug;

    use bytes::Bytes;
    use proptest::prelude::*;

    use crate::error_code::ErrorCode;
    use crate::ids::{NodeId, PartitionId};
    use crate::reader::{Decode, DecodeError};
    use crate::writer::Encode;

    /// Encodes, decodes, and checks the value survived.
    pub(crate) fn round_trip<T: Encode + Decode + PartialEq + Debug>(value: &T) -> Bytes {
        let bytes = value.encode_body().expect("encodes");
        let back = T::decode_body(bytes.clone()).expect("decodes");
        assert_eq!(&back, value);
        bytes
    }

    /// Every proper prefix of the encoding fails to decode, without panicking.
    pub(crate) fn assert_truncations_fail<T: Encode + Decode + Debug>(value: &T) {
        let bytes = value.encode_body().expect("encodes");
        for len in 0..bytes.len() {
            let result = T::decode_body(bytes.slice(..len));
            assert!(
                result.is_err(),
                "prefix of {len}/{} bytes decoded",
                bytes.len()
            );
        }
    }

    /// Decodes arbitrary bytes. Must not panic; when it succeeds, the value
    /// must encode back to exactly the same bytes (every value has one
    /// encoding).
    pub(crate) fn decode_arbitrary<T: Encode + Decode + Debug>(
        bytes: Vec<u8>,
    ) -> Result<(), TestCaseError> {
        let input = Bytes::from(bytes);
        if let Ok(value) = T::decode_body(input.clone()) {
            prop_assert_eq!(value.encode_body().expect("re-encodes"), input);
        }
        Ok(())
    }

    /// Decoding `bytes` fails on an unknown code of `kind`.
    pub(crate) fn assert_unknown_code<T: Decode + Debug>(
        bytes: Vec<u8>,
        kind: crate::reader::CodeKind,
        code: i64,
    ) {
        match T::decode_body(Bytes::from(bytes)) {
            Err(DecodeError::UnknownCode {
                kind: k, code: c, ..
            }) => {
                assert_eq!((k, c), (kind, code));
            }
            other => panic!("expected unknown {kind} {code}, got {other:?}"),
        }
    }

    pub(crate) fn arb_string() -> impl Strategy<Value = String> {
        ".{0,12}"
    }

    pub(crate) fn arb_nullable_string() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(arb_string())
    }

    pub(crate) fn arb_error_code() -> impl Strategy<Value = ErrorCode> {
        prop_oneof![
            proptest::sample::select(ErrorCode::ALL),
            any::<i16>().prop_map(ErrorCode::from_code),
        ]
    }

    pub(crate) fn arb_partition() -> impl Strategy<Value = PartitionId> {
        any::<u32>().prop_map(PartitionId)
    }

    pub(crate) fn arb_node_id() -> impl Strategy<Value = NodeId> {
        (0..=i32::MAX).prop_map(|id| NodeId::new(id).unwrap_or_default())
    }

    pub(crate) fn arb_bytes() -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), 0..48).prop_map(Bytes::from)
    }

    pub(crate) fn arb_vec<T: Debug>(
        item: impl Strategy<Value = T>,
    ) -> impl Strategy<Value = Vec<T>> {
        proptest::collection::vec(item, 0..4)
    }

    /// Encodes `value`, overwrites one byte, and decodes: must not panic.
    pub(crate) fn decode_corrupted<T: Encode + Decode + Debug>(
        value: &T,
        at: proptest::sample::Index,
        byte: u8,
    ) -> Result<(), TestCaseError> {
        let mut bytes = value.encode_body().expect("encodes").to_vec();
        if !bytes.is_empty() {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        decode_arbitrary::<T>(bytes)
    }

    /// Arbitrary input for the "never panics" decoders.
    pub(crate) fn arb_input() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..128)
    }
}
