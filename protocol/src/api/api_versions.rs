//! ApiVersions (key 18, version 0): which APIs and versions the broker serves.
//!
//! ```text
//! ApiVersionsRequest
//!   (empty body)
//!
//! ApiVersionsResponse
//!   error_code         i16      UNSUPPORTED_VERSION if the request's version is not served
//!   apis               array of
//!     api_key          u16
//!     min_version      u16
//!     max_version      u16
//! ```
//!
//! A client sends this first on a connection and then uses, per API, the
//! highest version both sides support. An ApiVersions request of any version
//! is answered with a version 0 response (with `UNSUPPORTED_VERSION` if the
//! version is not served, and the full list), so that negotiation always
//! works. Keys the client does not know are kept as raw numbers.

use crate::api::ApiRequest;
use crate::api_key::ApiKey;
use crate::error_code::ErrorCode;
use crate::reader::{Decode, DecodeError, Reader};
use crate::writer::{Encode, EncodeError, Writer};

/// Encoded [`ApiVersionRange`].
const RANGE_BYTES: usize = 2 + 2 + 2;

/// Ask which APIs the broker serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApiVersionsRequest;

/// The APIs the broker serves.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiVersionsResponse {
    /// `NONE`, or `UNSUPPORTED_VERSION` when the request's version is not
    /// served (the list is complete either way).
    pub error_code: ErrorCode,
    /// One entry per served API.
    pub apis: Vec<ApiVersionRange>,
}

/// The versions served for one API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApiVersionRange {
    /// The API, as a raw number: a newer broker may list keys this build does
    /// not know.
    pub api_key: u16,
    /// Oldest version served.
    pub min_version: u16,
    /// Newest version served.
    pub max_version: u16,
}

impl ApiVersionRange {
    /// The API key, if this build knows the number.
    pub fn api(&self) -> Option<ApiKey> {
        ApiKey::from_code(self.api_key)
    }
}

impl ApiVersionsResponse {
    /// The response listing every API this build serves, with `error_code`.
    pub fn supported(error_code: ErrorCode) -> Self {
        let apis = ApiKey::ALL
            .iter()
            .filter_map(|key| {
                key.versions().map(|v| ApiVersionRange {
                    api_key: key.code(),
                    min_version: *v.start(),
                    max_version: *v.end(),
                })
            })
            .collect();
        ApiVersionsResponse { error_code, apis }
    }

    /// The versions listed for `key`, if any.
    pub fn range(&self, key: ApiKey) -> Option<ApiVersionRange> {
        self.apis.iter().copied().find(|a| a.api_key == key.code())
    }
}

impl ApiRequest for ApiVersionsRequest {
    const KEY: ApiKey = ApiKey::ApiVersions;
    const VERSION: u16 = 0;
    type Response = ApiVersionsResponse;
}

impl Encode for ApiVersionsRequest {
    fn encode(&self, _w: &mut Writer) -> Result<(), EncodeError> {
        Ok(())
    }
}

impl Decode for ApiVersionsRequest {
    fn decode(_r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(ApiVersionsRequest)
    }
}

impl Encode for ApiVersionsResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.i16(self.error_code.code());
        w.array_of(&self.apis)
    }
}

impl Decode for ApiVersionsResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(ApiVersionsResponse {
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            apis: r.array_of("apis", RANGE_BYTES)?,
        })
    }
}

impl Encode for ApiVersionRange {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.u16(self.api_key);
        w.u16(self.min_version);
        w.u16(self.max_version);
        Ok(())
    }
}

impl Decode for ApiVersionRange {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(ApiVersionRange {
            api_key: r.u16("api_key")?,
            min_version: r.u16("min_version")?,
            max_version: r.u16("max_version")?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::testing::*;
    use bytes::Bytes;
    use proptest::prelude::*;

    pub(crate) fn arb_request() -> impl Strategy<Value = ApiVersionsRequest> {
        Just(ApiVersionsRequest)
    }

    pub(crate) fn arb_response() -> impl Strategy<Value = ApiVersionsResponse> {
        let range = (any::<u16>(), any::<u16>(), any::<u16>()).prop_map(
            |(api_key, min_version, max_version)| ApiVersionRange {
                api_key,
                min_version,
                max_version,
            },
        );
        (arb_error_code(), arb_vec(range))
            .prop_map(|(error_code, apis)| ApiVersionsResponse { error_code, apis })
    }

    pub(crate) fn sample_response() -> ApiVersionsResponse {
        ApiVersionsResponse::supported(ErrorCode::None)
    }

    #[test]
    fn request_is_empty() {
        assert!(round_trip(&ApiVersionsRequest).is_empty());
        assert!(ApiVersionsRequest::decode_body(Bytes::from_static(&[0])).is_err());
    }

    #[test]
    fn supported_lists_every_served_api() {
        let response = sample_response();
        assert_eq!(
            response.apis.len(),
            ApiKey::ALL.iter().filter(|k| k.is_served()).count()
        );
        assert_eq!(
            response.range(ApiKey::Fetch),
            Some(ApiVersionRange {
                api_key: 1,
                min_version: 0,
                max_version: 0
            })
        );
        assert_eq!(
            response.range(ApiKey::ConsumerGroupHeartbeat),
            Some(ApiVersionRange {
                api_key: 68,
                min_version: 0,
                max_version: 0
            })
        );
    }

    #[test]
    fn response_layout_matches_the_doc() {
        let response = ApiVersionsResponse {
            error_code: ErrorCode::UnsupportedVersion,
            apis: vec![ApiVersionRange {
                api_key: 18,
                min_version: 0,
                max_version: 2,
            }],
        };
        let bytes = round_trip(&response);
        assert_eq!(&bytes[..], &[0, 35, 0, 0, 0, 1, 0, 18, 0, 0, 0, 2]);
    }

    #[test]
    fn unknown_keys_in_the_list_are_kept() {
        let bytes = Bytes::from_static(&[0, 0, 0, 0, 0, 1, 0x7f, 0, 0, 1, 0, 3]);
        let response = ApiVersionsResponse::decode_body(bytes).unwrap();
        assert_eq!(response.apis[0].api_key, 0x7f00);
        assert_eq!(response.apis[0].api(), None);
    }

    #[test]
    fn truncated_response_fails_at_every_length() {
        assert_truncations_fail(&sample_response());
    }

    proptest! {
        #[test]
        fn response_round_trips_any(v in arb_response()) {
            round_trip(&v);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in arb_input()) {
            decode_arbitrary::<ApiVersionsRequest>(bytes.clone())?;
            decode_arbitrary::<ApiVersionsResponse>(bytes)?;
        }

        #[test]
        fn corrupted_encodings_never_panic(resp in arb_response(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            decode_corrupted(&resp, at, byte)?;
        }
    }
}
