//! DeleteTopics (key 20, version 0): delete topics and all their data.
//!
//! ```text
//! DeleteTopicsRequest
//!   names              array of string
//!
//! DeleteTopicsResponse
//!   topics             array of
//!     name             string
//!     error_code       i16      UNKNOWN_TOPIC_OR_PARTITION if there is no such topic
//!     error_message    nullable string
//! ```

use crate::api::ApiRequest;
use crate::api_key::ApiKey;
use crate::error_code::ErrorCode;
use crate::reader::{Decode, DecodeError, Reader};
use crate::writer::{Encode, EncodeError, Writer};

/// Smallest encoded topic name.
const MIN_NAME_BYTES: usize = 2;
/// Smallest encoded [`DeletableTopicResult`].
const MIN_RESULT_BYTES: usize = 2 + 2 + 2;

/// Delete topics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteTopicsRequest {
    /// Names of the topics to delete.
    pub names: Vec<String>,
}

/// The outcome per topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteTopicsResponse {
    /// One result per name, in request order.
    pub topics: Vec<DeletableTopicResult>,
}

/// The outcome for one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeletableTopicResult {
    /// Topic name.
    pub name: String,
    /// `NONE` on success.
    pub error_code: ErrorCode,
    /// Details of the error; null on success.
    pub error_message: Option<String>,
}

impl ApiRequest for DeleteTopicsRequest {
    const KEY: ApiKey = ApiKey::DeleteTopics;
    const VERSION: u16 = 0;
    type Response = DeleteTopicsResponse;
}

impl Encode for DeleteTopicsRequest {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.array(&self.names, |w, name| w.string(name))
    }
}

impl Decode for DeleteTopicsRequest {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(DeleteTopicsRequest {
            names: r.array("names", MIN_NAME_BYTES, |r| r.string("topic name"))?,
        })
    }
}

impl Encode for DeleteTopicsResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.array_of(&self.topics)
    }
}

impl Decode for DeleteTopicsResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(DeleteTopicsResponse {
            topics: r.array_of("topics", MIN_RESULT_BYTES)?,
        })
    }
}

impl Encode for DeletableTopicResult {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.name)?;
        w.i16(self.error_code.code());
        w.nullable_string(self.error_message.as_deref())
    }
}

impl Decode for DeletableTopicResult {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(DeletableTopicResult {
            name: r.string("topic name")?,
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            error_message: r.nullable_string("error_message")?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::testing::*;
    use bytes::Bytes;
    use proptest::prelude::*;

    pub(crate) fn arb_request() -> impl Strategy<Value = DeleteTopicsRequest> {
        arb_vec(arb_string()).prop_map(|names| DeleteTopicsRequest { names })
    }

    pub(crate) fn arb_response() -> impl Strategy<Value = DeleteTopicsResponse> {
        let result = (arb_string(), arb_error_code(), arb_nullable_string()).prop_map(
            |(name, error_code, error_message)| DeletableTopicResult {
                name,
                error_code,
                error_message,
            },
        );
        arb_vec(result).prop_map(|topics| DeleteTopicsResponse { topics })
    }

    pub(crate) fn sample_request() -> DeleteTopicsRequest {
        DeleteTopicsRequest {
            names: vec!["orders".into(), "ghost".into()],
        }
    }

    pub(crate) fn sample_response() -> DeleteTopicsResponse {
        DeleteTopicsResponse {
            topics: vec![
                DeletableTopicResult {
                    name: "orders".into(),
                    error_code: ErrorCode::None,
                    error_message: None,
                },
                DeletableTopicResult {
                    name: "ghost".into(),
                    error_code: ErrorCode::UnknownTopicOrPartition,
                    error_message: Some("no topic named ghost".into()),
                },
            ],
        }
    }

    #[test]
    fn request_layout_matches_the_doc() {
        let bytes = round_trip(&sample_request());
        let mut expected = vec![0, 0, 0, 2, 0, 6];
        expected.extend_from_slice(b"orders");
        expected.extend_from_slice(&[0, 5]);
        expected.extend_from_slice(b"ghost");
        assert_eq!(&bytes[..], &expected[..]);
    }

    #[test]
    fn response_layout_matches_the_doc() {
        let bytes = round_trip(&sample_response());
        let mut expected = vec![0, 0, 0, 2, 0, 6];
        expected.extend_from_slice(b"orders");
        expected.extend_from_slice(&[0, 0, 0xff, 0xff, 0, 5]);
        expected.extend_from_slice(b"ghost");
        expected.extend_from_slice(&[0, 3, 0, 20]);
        expected.extend_from_slice(b"no topic named ghost");
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
        bytes[12..14].copy_from_slice(&777i16.to_be_bytes());
        let back = DeleteTopicsResponse::decode_body(Bytes::from(bytes)).unwrap();
        assert_eq!(back.topics[0].error_code, ErrorCode::Unknown(777));
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
            decode_arbitrary::<DeleteTopicsRequest>(bytes.clone())?;
            decode_arbitrary::<DeleteTopicsResponse>(bytes)?;
        }

        #[test]
        fn corrupted_encodings_never_panic(req in arb_request(), resp in arb_response(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            decode_corrupted(&req, at, byte)?;
            decode_corrupted(&resp, at, byte)?;
        }
    }
}
