//! InitProducerId (key 22, version 0): obtain an idempotent producer id and
//! epoch.
//!
//! ```text
//! InitProducerIdRequest
//!   transactional_id        nullable string  reserved for transactions; null for an idempotent producer
//!   transaction_timeout_ms  u32              reserved for transactions; 0 without one
//!
//! InitProducerIdResponse
//!   error_code              i16              NONE, INVALID_REQUEST (non-null transactional_id), ...
//!   error_message           nullable string  null when error_code is NONE
//!   producer_id             i64              the id to write in every batch; -1 on error
//!   producer_epoch          i16              the epoch to write in every batch; -1 on error
//! ```
//!
//! An idempotent producer sends this once at start. Every batch it then
//! produces carries `producer_id`, `producer_epoch` and a `base_sequence`
//! that counts the producer's records per partition from 0, so the broker
//! can drop a batch it has already appended (a retry after a lost response)
//! and notice a gap.
//!
//! An error response can never be mistaken for this response: read as one,
//! its message length is taken for `error_message` and the 10 bytes of
//! `producer_id` and `producer_epoch` are missing (or, for a 65 535-byte
//! message read as null, bytes are left over).

use crate::api::ApiRequest;
use crate::api_key::ApiKey;
use crate::error_code::ErrorCode;
use crate::reader::{Decode, DecodeError, Reader};
use crate::writer::{Encode, EncodeError, Writer};

/// `producer_id` in a failed response.
pub const NO_PRODUCER_ID: i64 = -1;
/// `producer_epoch` in a failed response.
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// Ask for a producer id and epoch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InitProducerIdRequest {
    /// Reserved for transactions: null for an idempotent producer. A broker
    /// without transactions answers a non-null value with `INVALID_REQUEST`.
    pub transactional_id: Option<String>,
    /// Reserved for transactions: how long a transaction may stay open; 0
    /// without one.
    pub transaction_timeout_ms: u32,
}

/// The producer id and epoch granted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InitProducerIdResponse {
    /// `NONE` on success.
    pub error_code: ErrorCode,
    /// Details of the error; null on success.
    pub error_message: Option<String>,
    /// The producer id for every batch; [`NO_PRODUCER_ID`] on error.
    pub producer_id: i64,
    /// The producer epoch for every batch; [`NO_PRODUCER_EPOCH`] on error.
    pub producer_epoch: i16,
}

impl InitProducerIdResponse {
    /// A failed response: no id, no epoch.
    pub fn error(error_code: ErrorCode, message: Option<String>) -> Self {
        InitProducerIdResponse {
            error_code,
            error_message: message,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
        }
    }
}

impl ApiRequest for InitProducerIdRequest {
    const KEY: ApiKey = ApiKey::InitProducerId;
    const VERSION: u16 = 0;
    type Response = InitProducerIdResponse;
}

impl Encode for InitProducerIdRequest {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.nullable_string(self.transactional_id.as_deref())?;
        w.u32(self.transaction_timeout_ms);
        Ok(())
    }
}

impl Decode for InitProducerIdRequest {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(InitProducerIdRequest {
            transactional_id: r.nullable_string("transactional_id")?,
            transaction_timeout_ms: r.u32("transaction_timeout_ms")?,
        })
    }
}

impl Encode for InitProducerIdResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.i16(self.error_code.code());
        w.nullable_string(self.error_message.as_deref())?;
        w.i64(self.producer_id);
        w.i16(self.producer_epoch);
        Ok(())
    }
}

impl Decode for InitProducerIdResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(InitProducerIdResponse {
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            error_message: r.nullable_string("error_message")?,
            producer_id: r.i64("producer_id")?,
            producer_epoch: r.i16("producer_epoch")?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::error_response::ErrorResponse;
    use crate::api::testing::*;
    use bytes::Bytes;
    use proptest::prelude::*;

    pub(crate) fn arb_request() -> impl Strategy<Value = InitProducerIdRequest> {
        (arb_nullable_string(), any::<u32>()).prop_map(|(transactional_id, timeout)| {
            InitProducerIdRequest {
                transactional_id,
                transaction_timeout_ms: timeout,
            }
        })
    }

    pub(crate) fn arb_response() -> impl Strategy<Value = InitProducerIdResponse> {
        (
            arb_error_code(),
            arb_nullable_string(),
            any::<i64>(),
            any::<i16>(),
        )
            .prop_map(|(error_code, error_message, producer_id, producer_epoch)| {
                InitProducerIdResponse {
                    error_code,
                    error_message,
                    producer_id,
                    producer_epoch,
                }
            })
    }

    pub(crate) fn sample_request() -> InitProducerIdRequest {
        InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: 0,
        }
    }

    pub(crate) fn sample_response() -> InitProducerIdResponse {
        InitProducerIdResponse {
            error_code: ErrorCode::None,
            error_message: None,
            producer_id: 4_000,
            producer_epoch: 2,
        }
    }

    #[test]
    fn request_layout_matches_the_doc() {
        let bytes = round_trip(&sample_request());
        assert_eq!(&bytes[..], &[0xff, 0xff, 0, 0, 0, 0]);
        let bytes = round_trip(&InitProducerIdRequest {
            transactional_id: Some("tx".into()),
            transaction_timeout_ms: 60_000,
        });
        assert_eq!(&bytes[..], &[0, 2, b't', b'x', 0, 0, 0xea, 0x60]);
    }

    #[test]
    fn response_layout_matches_the_doc() {
        let bytes = round_trip(&sample_response());
        assert_eq!(
            &bytes[..],
            &[0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0x0f, 0xa0, 0, 2]
        );
        let failed = InitProducerIdResponse::error(ErrorCode::InvalidRequest, Some("no".into()));
        let bytes = round_trip(&failed);
        let mut expected = vec![0, 42, 0, 2, b'n', b'o'];
        expected.extend_from_slice(&[0xff; 10]);
        assert_eq!(&bytes[..], &expected[..]);
    }

    #[test]
    fn truncated_request_fails_at_every_length() {
        assert_truncations_fail(&sample_request());
    }

    #[test]
    fn truncated_response_fails_at_every_length() {
        assert_truncations_fail(&sample_response());
    }

    #[test]
    fn unknown_error_codes_are_kept() {
        let mut bytes = sample_response().encode_body().unwrap().to_vec();
        bytes[0..2].copy_from_slice(&777i16.to_be_bytes());
        let back = InitProducerIdResponse::decode_body(Bytes::from(bytes)).unwrap();
        assert_eq!(back.error_code, ErrorCode::Unknown(777));
    }

    #[test]
    fn error_responses_do_not_decode_as_this_response() {
        for len in [0usize, 1, 9, 10, 11, 300, 32_768, 65_535] {
            let error = ErrorResponse {
                error_code: ErrorCode::UnsupportedVersion,
                error_message: "m".repeat(len),
            };
            let body = error.encode_body().unwrap();
            assert!(
                InitProducerIdResponse::decode_body(body).is_err(),
                "message of {len} bytes"
            );
        }
    }

    proptest! {
        #[test]
        fn request_round_trips(v in arb_request()) {
            round_trip(&v);
        }

        #[test]
        fn response_round_trips_any(v in arb_response()) {
            round_trip(&v);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in arb_input()) {
            decode_arbitrary::<InitProducerIdRequest>(bytes.clone())?;
            decode_arbitrary::<InitProducerIdResponse>(bytes)?;
        }

        #[test]
        fn corrupted_encodings_never_panic(req in arb_request(), resp in arb_response(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            decode_corrupted(&req, at, byte)?;
            decode_corrupted(&resp, at, byte)?;
        }
    }
}
