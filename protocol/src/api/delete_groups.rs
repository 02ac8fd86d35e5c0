//! DeleteGroups (key 42, version 0): delete consumer groups and their
//! committed offsets.
//!
//! ```text
//! DeleteGroupsRequest
//!   group_ids          array of string
//!
//! DeleteGroupsResponse
//!   results            array of     one per group id, in request order
//!     group_id         string
//!     error_code       i16      NONE, GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, INVALID_GROUP_ID, ...
//!     error_message    nullable string
//! ```
//!
//! Only a group without members can be deleted (`NON_EMPTY_GROUP`
//! otherwise); its committed offsets go with it. The response is sent once
//! the deletion is durable.

use crate::api::ApiRequest;
use crate::api_key::ApiKey;
use crate::error_code::ErrorCode;
use crate::reader::{Decode, DecodeError, Reader};
use crate::writer::{Encode, EncodeError, Writer};

/// Smallest encoded group id.
const MIN_NAME_BYTES: usize = 2;
/// Smallest encoded [`DeletableGroupResult`].
const MIN_RESULT_BYTES: usize = 2 + 2 + 2;

/// Delete groups.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteGroupsRequest {
    /// The groups to delete.
    pub group_ids: Vec<String>,
}

/// The outcome per group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteGroupsResponse {
    /// One result per group id, in request order.
    pub results: Vec<DeletableGroupResult>,
}

/// The outcome for one group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeletableGroupResult {
    /// The group id.
    pub group_id: String,
    /// `NONE` once the deletion is durable.
    pub error_code: ErrorCode,
    /// Details of the error; null on success.
    pub error_message: Option<String>,
}

impl ApiRequest for DeleteGroupsRequest {
    const KEY: ApiKey = ApiKey::DeleteGroups;
    const VERSION: u16 = 0;
    type Response = DeleteGroupsResponse;
}

impl Encode for DeleteGroupsRequest {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.array(&self.group_ids, |w, g| w.string(g))
    }
}

impl Decode for DeleteGroupsRequest {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(DeleteGroupsRequest {
            group_ids: r.array("group_ids", MIN_NAME_BYTES, |r| r.string("group_id"))?,
        })
    }
}

impl Encode for DeleteGroupsResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.array_of(&self.results)
    }
}

impl Decode for DeleteGroupsResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(DeleteGroupsResponse {
            results: r.array_of("results", MIN_RESULT_BYTES)?,
        })
    }
}

impl Encode for DeletableGroupResult {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.group_id)?;
        w.i16(self.error_code.code());
        w.nullable_string(self.error_message.as_deref())
    }
}

impl Decode for DeletableGroupResult {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(DeletableGroupResult {
            group_id: r.string("group_id")?,
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

    pub(crate) fn arb_request() -> impl Strategy<Value = DeleteGroupsRequest> {
        arb_vec(arb_string()).prop_map(|group_ids| DeleteGroupsRequest { group_ids })
    }

    pub(crate) fn arb_response() -> impl Strategy<Value = DeleteGroupsResponse> {
        let result = (arb_string(), arb_error_code(), arb_nullable_string()).prop_map(
            |(group_id, error_code, error_message)| DeletableGroupResult {
                group_id,
                error_code,
                error_message,
            },
        );
        arb_vec(result).prop_map(|results| DeleteGroupsResponse { results })
    }

    pub(crate) fn sample_request() -> DeleteGroupsRequest {
        DeleteGroupsRequest {
            group_ids: vec!["old".into(), "busy".into()],
        }
    }

    pub(crate) fn sample_response() -> DeleteGroupsResponse {
        DeleteGroupsResponse {
            results: vec![
                DeletableGroupResult {
                    group_id: "old".into(),
                    error_code: ErrorCode::None,
                    error_message: None,
                },
                DeletableGroupResult {
                    group_id: "busy".into(),
                    error_code: ErrorCode::NonEmptyGroup,
                    error_message: Some("2 members".into()),
                },
            ],
        }
    }

    #[test]
    fn request_layout_matches_the_doc() {
        let bytes = round_trip(&sample_request());
        let mut expected = vec![0, 0, 0, 2, 0, 3];
        expected.extend_from_slice(b"old");
        expected.extend_from_slice(&[0, 4]);
        expected.extend_from_slice(b"busy");
        assert_eq!(&bytes[..], &expected[..]);
    }

    #[test]
    fn response_layout_matches_the_doc() {
        let bytes = round_trip(&sample_response());
        let mut expected = vec![0, 0, 0, 2, 0, 3];
        expected.extend_from_slice(b"old");
        expected.extend_from_slice(&[0, 0, 0xff, 0xff, 0, 4]);
        expected.extend_from_slice(b"busy");
        expected.extend_from_slice(&[0, 68, 0, 9]);
        expected.extend_from_slice(b"2 members");
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
        bytes[9..11].copy_from_slice(&777i16.to_be_bytes());
        let back = DeleteGroupsResponse::decode_body(Bytes::from(bytes)).unwrap();
        assert_eq!(back.results[0].error_code, ErrorCode::Unknown(777));
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
            decode_arbitrary::<DeleteGroupsRequest>(bytes.clone())?;
            decode_arbitrary::<DeleteGroupsResponse>(bytes)?;
        }

        #[test]
        fn corrupted_encodings_never_panic(req in arb_request(), resp in arb_response(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            decode_corrupted(&req, at, byte)?;
            decode_corrupted(&resp, at, byte)?;
        }
    }
}
