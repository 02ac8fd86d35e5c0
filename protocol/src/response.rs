//! [`Response`]: every served response, plus the error response, with
//! decoding by the API and version of the request being answered.
//!
//! The broker's write path is:
//!
//! ```text
//! Response --encode_frame(correlation_id)--> FrameOut (scatter list)
//!   -> AsyncWriteExt::write_all_buf(&mut frame_out)    vectored, records not copied
//! ```
//!
//! A client knows which request each response answers (responses come back
//! in request order, matched by correlation id) and decodes the body with
//! [`decode_response`] or, for typed calls, [`decode_response_as`]. Both fall
//! back to the error response when the body is not the expected response.

use bytes::Bytes;

use crate::api::ApiRequest;
use crate::api::alter_configs::AlterConfigsResponse;
use crate::api::api_versions::ApiVersionsResponse;
use crate::api::consumer_group_heartbeat::ConsumerGroupHeartbeatResponse;
use crate::api::create_topics::CreateTopicsResponse;
use crate::api::delete_groups::DeleteGroupsResponse;
use crate::api::delete_topics::DeleteTopicsResponse;
use crate::api::describe_configs::DescribeConfigsResponse;
use crate::api::describe_groups::DescribeGroupsResponse;
use crate::api::error_response::ErrorResponse;
use crate::api::fetch::FetchResponse;
use crate::api::find_coordinator::FindCoordinatorResponse;
use crate::api::init_producer_id::InitProducerIdResponse;
use crate::api::list_groups::ListGroupsResponse;
use crate::api::list_offsets::ListOffsetsResponse;
use crate::api::metadata::MetadataResponse;
use crate::api::offset_commit::OffsetCommitResponse;
use crate::api::offset_fetch::OffsetFetchResponse;
use crate::api::produce::ProduceResponse;
use crate::api_key::ApiKey;
use crate::frame::FrameOut;
use crate::header::ResponseHeader;
use crate::reader::{Decode, DecodeError};
use crate::request::{MessageError, check_version};
use crate::writer::{Encode, EncodeError, Writer};

macro_rules! responses {
    ($($variant:ident($ty:ty) = $key:ident),* $(,)?) => {
        /// A response of any served API, or the error response.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Response {
            $(
                #[doc = concat!("A ", stringify!($variant), " response.")]
                $variant($ty),
            )*
            /// The answer to a request that could not be served.
            Error(ErrorResponse),
        }

        impl Response {
            /// The API this answers; `None` for the error response, which
            /// answers any API.
            pub fn api_key(&self) -> Option<ApiKey> {
                match self {
                    $(Response::$variant(_) => Some(ApiKey::$key),)*
                    Response::Error(_) => None,
                }
            }

            fn decode_served(api: ApiKey, body: Bytes) -> Result<Self, DecodeError> {
                $(
                    if api == ApiKey::$key {
                        return <$ty>::decode_body(body).map(Response::$variant);
                    }
                )*
                // `check_version` admits only served keys, all listed above.
                Err(DecodeError::Invalid {
                    what: "api_key",
                    offset: 0,
                    reason: "no decoder for this api",
                })
            }
        }

        impl Encode for Response {
            fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
                match self {
                    $(Response::$variant(r) => r.encode(w),)*
                    Response::Error(r) => r.encode(w),
                }
            }
        }

        $(
            impl From<$ty> for Response {
                fn from(r: $ty) -> Self {
                    Response::$variant(r)
                }
            }
        )*
    };
}

responses! {
    ApiVersions(ApiVersionsResponse) = ApiVersions,
    Metadata(MetadataResponse) = Metadata,
    CreateTopics(CreateTopicsResponse) = CreateTopics,
    DeleteTopics(DeleteTopicsResponse) = DeleteTopics,
    DescribeConfigs(DescribeConfigsResponse) = DescribeConfigs,
    AlterConfigs(AlterConfigsResponse) = AlterConfigs,
    Produce(ProduceResponse) = Produce,
    Fetch(FetchResponse) = Fetch,
    ListOffsets(ListOffsetsResponse) = ListOffsets,
    InitProducerId(InitProducerIdResponse) = InitProducerId,
    FindCoordinator(FindCoordinatorResponse) = FindCoordinator,
    ConsumerGroupHeartbeat(ConsumerGroupHeartbeatResponse) = ConsumerGroupHeartbeat,
    OffsetCommit(OffsetCommitResponse) = OffsetCommit,
    OffsetFetch(OffsetFetchResponse) = OffsetFetch,
    ListGroups(ListGroupsResponse) = ListGroups,
    DescribeGroups(DescribeGroupsResponse) = DescribeGroups,
    DeleteGroups(DeleteGroupsResponse) = DeleteGroups,
}

impl From<ErrorResponse> for Response {
    fn from(r: ErrorResponse) -> Self {
        Response::Error(r)
    }
}

impl Response {
    /// The whole frame: length prefix, response header, body. Record blobs
    /// of a fetch response are chunks of their own, not copied; a response
    /// without records is a single chunk.
    pub fn encode_frame(&self, correlation_id: u32) -> Result<FrameOut, EncodeError> {
        encode_response(self, correlation_id)
    }
}

/// Encodes any response body (typed or [`Response`]) as a whole frame.
pub fn encode_response<T: Encode + ?Sized>(
    response: &T,
    correlation_id: u32,
) -> Result<FrameOut, EncodeError> {
    let mut w = Writer::frame();
    ResponseHeader { correlation_id }.encode(&mut w)?;
    response.encode(&mut w)?;
    w.finish()
}

/// Decodes a response body (after the response header) to a request of
/// `api` at `version`. A body that is not that response but is an error
/// response decodes to [`Response::Error`].
pub fn decode_response(api: ApiKey, version: u16, body: Bytes) -> Result<Response, MessageError> {
    check_version(api, version)?;
    match Response::decode_served(api, body.clone()) {
        Ok(response) => Ok(response),
        Err(source) => match ErrorResponse::decode_body(body) {
            Ok(error) => Ok(Response::Error(error)),
            Err(_) => Err(MessageError::Malformed {
                api,
                version,
                source,
            }),
        },
    }
}

/// Decodes a response body to a typed request `R`: the response, or the
/// error response the broker sent instead.
pub fn decode_response_as<R: ApiRequest>(
    body: Bytes,
) -> Result<Result<R::Response, ErrorResponse>, DecodeError> {
    match R::Response::decode_body(body.clone()) {
        Ok(response) => Ok(Ok(response)),
        Err(source) => ErrorResponse::decode_body(body)
            .map(Err)
            .map_err(|_| source),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api;
    use crate::api::produce::ProduceRequest;
    use crate::api::testing::arb_input;
    use crate::error_code::ErrorCode;
    use proptest::prelude::*;

    pub(crate) fn arb_response() -> impl Strategy<Value = Response> {
        prop_oneof![
            api::api_versions::tests::arb_response().prop_map(Response::from),
            api::metadata::tests::arb_response().prop_map(Response::from),
            api::create_topics::tests::arb_response().prop_map(Response::from),
            api::delete_topics::tests::arb_response().prop_map(Response::from),
            api::describe_configs::tests::arb_response().prop_map(Response::from),
            api::alter_configs::tests::arb_response().prop_map(Response::from),
            api::produce::tests::arb_response().prop_map(Response::from),
            api::fetch::tests::arb_response().prop_map(Response::from),
            api::list_offsets::tests::arb_response().prop_map(Response::from),
            api::init_producer_id::tests::arb_response().prop_map(Response::from),
            api::find_coordinator::tests::arb_response().prop_map(Response::from),
            api::consumer_group_heartbeat::tests::arb_response().prop_map(Response::from),
            api::offset_commit::tests::arb_response().prop_map(Response::from),
            api::offset_fetch::tests::arb_response().prop_map(Response::from),
            api::list_groups::tests::arb_response().prop_map(Response::from),
            api::describe_groups::tests::arb_response().prop_map(Response::from),
            api::delete_groups::tests::arb_response().prop_map(Response::from),
            api::error_response::tests::arb_response().prop_map(Response::from),
        ]
    }

    fn served() -> impl Iterator<Item = ApiKey> + Clone {
        ApiKey::ALL.iter().copied().filter(|k| k.is_served())
    }

    #[test]
    fn error_response_is_recognised_for_every_api() {
        for api in served() {
            for code in ErrorCode::ALL.iter().copied().filter(|c| !c.is_ok()) {
                for message in ["x", "unknown api key 999", ""] {
                    let error = ErrorResponse::new(code, message);
                    let body = error.encode_body().unwrap();
                    let decoded = decode_response(api, 0, body).unwrap();
                    assert_eq!(decoded, Response::Error(error.clone()), "{api} {code}");
                }
            }
        }
    }

    #[test]
    fn typed_decode_falls_back_to_the_error_response() {
        let error = ErrorResponse::new(ErrorCode::InvalidRequest, "bad");
        let got = decode_response_as::<ProduceRequest>(error.encode_body().unwrap()).unwrap();
        assert_eq!(got, Err(error));
        let ok = api::produce::tests::sample_response();
        let got = decode_response_as::<ProduceRequest>(ok.encode_body().unwrap()).unwrap();
        assert_eq!(got, Ok(ok));
    }

    #[test]
    fn garbage_is_malformed_not_an_error_response() {
        let err = decode_response(ApiKey::Metadata, 0, Bytes::from_static(&[1])).unwrap_err();
        assert!(matches!(
            err,
            MessageError::Malformed {
                api: ApiKey::Metadata,
                ..
            }
        ));
        assert!(decode_response_as::<ProduceRequest>(Bytes::from_static(&[1])).is_err());
    }

    #[test]
    fn reserved_and_unsupported_are_rejected() {
        for api in ApiKey::ALL.iter().copied().filter(|k| !k.is_served()) {
            assert!(matches!(
                decode_response(api, 0, Bytes::new()),
                Err(MessageError::NotServed { .. })
            ));
        }
        assert!(matches!(
            decode_response(ApiKey::Fetch, 1, Bytes::new()),
            Err(MessageError::UnsupportedVersion { .. })
        ));
    }

    #[test]
    fn header_carries_the_correlation_id() {
        let frame = Response::Error(ErrorResponse::new(ErrorCode::InvalidRequest, "bad"))
            .encode_frame(0xdead_beef)
            .unwrap();
        let bytes = frame.to_bytes();
        let (header, body) = ResponseHeader::split(bytes.slice(4..)).unwrap();
        assert_eq!(header.correlation_id, 0xdead_beef);
        assert_eq!(body.len(), 2 + 2 + 3);
    }

    proptest! {
        #[test]
        fn every_response_round_trips_through_a_frame(response in arb_response(), correlation_id in any::<u32>()) {
            let bytes = response.encode_frame(correlation_id).unwrap().to_bytes();
            prop_assert_eq!(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize, bytes.len() - 4);
            let (header, body) = ResponseHeader::split(bytes.slice(4..)).unwrap();
            prop_assert_eq!(header.correlation_id, correlation_id);
            // The error response answers any API; decode it as a Metadata answer.
            let api = response.api_key().unwrap_or(ApiKey::Metadata);
            prop_assert_eq!(decode_response(api, 0, body).unwrap(), response);
        }

        #[test]
        fn error_responses_are_never_mistaken(api_index in 0usize..ApiKey::ALL.len(), code in any::<i16>(), message in ".{0,80}") {
            let api = served().cycle().nth(api_index).unwrap();
            let error = ErrorResponse::new(ErrorCode::from_code(code), message);
            let body = error.encode_body().unwrap();
            prop_assert_eq!(decode_response(api, 0, body).unwrap(), Response::Error(error));
        }

        #[test]
        fn arbitrary_bodies_never_panic(api_index in 0usize..ApiKey::ALL.len(), bytes in arb_input()) {
            let api = served().cycle().nth(api_index).unwrap();
            let _ = decode_response(api, 0, Bytes::from(bytes));
        }
    }
}
