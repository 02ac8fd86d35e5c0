//! The error response: the answer to a request the broker cannot serve.
//!
//! ```text
//! ErrorResponse (after the usual response header)
//!   error_code       i16      never NONE
//!   error_message    string   never empty, no control characters (bytes below 0x20)
//! ```
//!
//! The broker sends it, in place of the API's own response, when
//! - the API key is unknown: `UNSUPPORTED_VERSION`;
//! - the key is reserved and not yet served: `UNSUPPORTED_VERSION`;
//! - the version is not served: `UNSUPPORTED_VERSION` (except ApiVersions,
//!   which always gets a version 0 ApiVersions response);
//! - the body cannot be decoded: `INVALID_REQUEST` (`INVALID_REQUIRED_ACKS`
//!   for a produce `acks` outside -1, 0, 1).
//!
//! A client recognises it by elimination: a response body that does not
//! decode as the response it expects is decoded as an error response. The
//! two cannot be confused. Read as another response, the error response's
//! first four bytes (`error_code`, never 0, then the message length) form an
//! array count of at least 65 536, more than the bytes present; Fetch reads
//! them as `throttle_time_ms` but then takes message bytes as its topic
//! count, which without control characters is at least 0x20202020; and
//! ApiVersions takes the message length as the high half of its count.

use crate::error_code::ErrorCode;
use crate::reader::{Decode, DecodeError, Reader};
use crate::writer::{Encode, EncodeError, MAX_STRING_LEN, Writer};

/// The answer to a request that cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorResponse {
    /// Why; never `NONE`.
    pub error_code: ErrorCode,
    /// A human-readable explanation; never empty.
    pub error_message: String,
}

impl ErrorResponse {
    /// An error response with a code and a message. Keeps the invariants
    /// that make it recognisable: `NONE` becomes `UNKNOWN_SERVER_ERROR`,
    /// control characters become spaces, an empty message becomes the code's
    /// default message, and the message is cut to fit its length prefix.
    pub fn new(error_code: ErrorCode, error_message: impl Into<String>) -> Self {
        let error_code = if error_code.is_ok() {
            ErrorCode::UnknownServerError
        } else {
            error_code
        };
        let mut message: String = error_message
            .into()
            .chars()
            .map(|c| if u32::from(c) < 0x20 { ' ' } else { c })
            .collect();
        if message.is_empty() {
            error_code.message().clone_into(&mut message);
        }
        if message.len() > MAX_STRING_LEN {
            let mut end = MAX_STRING_LEN;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        ErrorResponse {
            error_code,
            error_message: message,
        }
    }
}

impl Encode for ErrorResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.i16(self.error_code.code());
        w.string(&self.error_message)
    }
}

impl Decode for ErrorResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let offset = r.position();
        let error_code = ErrorCode::from_code(r.i16("error_code")?);
        if error_code.is_ok() {
            return Err(DecodeError::Invalid {
                what: "error_code",
                offset,
                reason: "an error response never carries NONE",
            });
        }
        Ok(ErrorResponse {
            error_code,
            error_message: r.string("error_message")?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::testing::*;
    use bytes::Bytes;
    use proptest::prelude::*;

    pub(crate) fn arb_response() -> impl Strategy<Value = ErrorResponse> {
        (
            arb_error_code().prop_filter("not NONE", |c| !c.is_ok()),
            arb_string(),
        )
            .prop_map(|(error_code, error_message)| ErrorResponse {
                error_code,
                error_message,
            })
    }

    pub(crate) fn sample_response() -> ErrorResponse {
        ErrorResponse::new(ErrorCode::UnsupportedVersion, "unknown api key 999")
    }

    #[test]
    fn layout_matches_the_doc() {
        let bytes = round_trip(&sample_response());
        let mut expected = vec![0, 35, 0, 19];
        expected.extend_from_slice(b"unknown api key 999");
        assert_eq!(&bytes[..], &expected[..]);
    }

    #[test]
    fn new_keeps_the_invariants() {
        let e = ErrorResponse::new(ErrorCode::None, "");
        assert_eq!(e.error_code, ErrorCode::UnknownServerError);
        assert_eq!(e.error_message, ErrorCode::UnknownServerError.message());
        let e = ErrorResponse::new(ErrorCode::InvalidRequest, "bad\n\tthing");
        assert_eq!(e.error_message, "bad  thing");
        let e = ErrorResponse::new(ErrorCode::InvalidRequest, "é".repeat(40_000));
        assert!(e.error_message.len() <= MAX_STRING_LEN);
        round_trip(&e);
    }

    #[test]
    fn none_is_rejected() {
        let err = ErrorResponse::decode_body(Bytes::from_static(&[0, 0, 0, 1, b'x'])).unwrap_err();
        assert!(matches!(
            err,
            DecodeError::Invalid {
                what: "error_code",
                ..
            }
        ));
    }

    #[test]
    fn truncated_fails_at_every_length() {
        assert_truncations_fail(&sample_response());
    }

    proptest! {
        #[test]
        fn round_trips_any(v in arb_response()) {
            round_trip(&v);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in arb_input()) {
            decode_arbitrary::<ErrorResponse>(bytes)?;
        }
    }
}
