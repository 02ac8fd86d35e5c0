//! [`Request`]: every served request, with dispatch by API key and version.
//!
//! The broker's read path is:
//!
//! ```text
//! frame body (from FrameCodec)
//!   -> decode_request_frame         header, then the body by key and version
//!   -> IncomingRequest { header, request: Ok(Request) | Err(MessageError) }
//! ```
//!
//! A [`MessageError`] still has a correlation id to answer:
//! [`MessageError::to_response`] builds the response the protocol requires
//! (an error response, or an ApiVersions response for an ApiVersions request
//! of an unserved version), so an unknown API never costs the connection.

use bytes::Bytes;

use crate::api::ApiRequest;
use crate::api::alter_configs::AlterConfigsRequest;
use crate::api::api_versions::{ApiVersionsRequest, ApiVersionsResponse};
use crate::api::consumer_group_heartbeat::ConsumerGroupHeartbeatRequest;
use crate::api::create_topics::CreateTopicsRequest;
use crate::api::delete_groups::DeleteGroupsRequest;
use crate::api::delete_topics::DeleteTopicsRequest;
use crate::api::describe_configs::DescribeConfigsRequest;
use crate::api::describe_groups::DescribeGroupsRequest;
use crate::api::error_response::ErrorResponse;
use crate::api::fetch::FetchRequest;
use crate::api::find_coordinator::FindCoordinatorRequest;
use crate::api::init_producer_id::InitProducerIdRequest;
use crate::api::list_groups::ListGroupsRequest;
use crate::api::list_offsets::ListOffsetsRequest;
use crate::api::metadata::MetadataRequest;
use crate::api::offset_commit::OffsetCommitRequest;
use crate::api::offset_fetch::OffsetFetchRequest;
use crate::api::produce::{Acks, ProduceRequest};
use crate::api_key::ApiKey;
use crate::error_code::ErrorCode;
use crate::frame::FrameOut;
use crate::header::{HeaderError, RequestHeader};
use crate::reader::{CodeKind, Decode, DecodeError};
use crate::response::Response;
use crate::writer::{Encode, EncodeError, Writer};

/// Why a request (or response) body could not be turned into a message,
/// in the cases the peer must be told about rather than disconnected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The API key names no API.
    #[error("unknown api key {api_key}")]
    UnknownApiKey {
        /// The number in the header.
        api_key: u16,
    },
    /// The key is reserved and not yet served.
    #[error("api {api} is reserved and not yet served")]
    NotServed {
        /// The API.
        api: ApiKey,
    },
    /// The API exists but not in this version.
    #[error("api {api} version {version} is not supported")]
    UnsupportedVersion {
        /// The API.
        api: ApiKey,
        /// The version asked for.
        version: u16,
    },
    /// The body does not decode as the API's layout.
    #[error("malformed {api} v{version} message")]
    Malformed {
        /// The API.
        api: ApiKey,
        /// Its version.
        version: u16,
        /// What was wrong.
        #[source]
        source: DecodeError,
    },
}

impl MessageError {
    /// The wire error code for this failure.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            MessageError::UnknownApiKey { .. }
            | MessageError::NotServed { .. }
            | MessageError::UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
            MessageError::Malformed {
                source:
                    DecodeError::UnknownCode {
                        kind: CodeKind::Acks,
                        ..
                    },
                ..
            } => ErrorCode::InvalidRequiredAcks,
            MessageError::Malformed { .. } => ErrorCode::InvalidRequest,
        }
    }

    /// The response the broker sends for a request that failed this way: an
    /// ApiVersions response (version 0, `UNSUPPORTED_VERSION`, full list) for
    /// an ApiVersions request of an unserved version, otherwise an error
    /// response whose message describes the failure and its cause.
    pub fn to_response(&self) -> Response {
        if let MessageError::UnsupportedVersion {
            api: ApiKey::ApiVersions,
            ..
        } = self
        {
            return Response::ApiVersions(ApiVersionsResponse::supported(
                ErrorCode::UnsupportedVersion,
            ));
        }
        let message = match self {
            MessageError::Malformed { source, .. } => format!("{self}: {source}"),
            _ => self.to_string(),
        };
        Response::Error(ErrorResponse::new(self.error_code(), message))
    }
}

/// Checks that `api_key`/`version` name a served API version.
pub(crate) fn check_version(api: ApiKey, version: u16) -> Result<(), MessageError> {
    if !api.is_served() {
        return Err(MessageError::NotServed { api });
    }
    if !api.supports(version) {
        return Err(MessageError::UnsupportedVersion { api, version });
    }
    Ok(())
}

macro_rules! requests {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        /// A decoded request of any served API.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Request {
            $(
                #[doc = concat!("A ", stringify!($variant), " request.")]
                $variant($ty),
            )*
        }

        impl Request {
            /// The API key of the request.
            pub fn api_key(&self) -> ApiKey {
                match self {
                    $(Request::$variant(_) => <$ty as ApiRequest>::KEY,)*
                }
            }

            /// The version this build encodes the request in.
            pub fn api_version(&self) -> u16 {
                match self {
                    $(Request::$variant(_) => <$ty as ApiRequest>::VERSION,)*
                }
            }

            fn decode_served(api: ApiKey, body: Bytes) -> Result<Self, DecodeError> {
                $(
                    if api == <$ty as ApiRequest>::KEY {
                        return <$ty>::decode_body(body).map(Request::$variant);
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

        impl Encode for Request {
            fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
                match self {
                    $(Request::$variant(r) => r.encode(w),)*
                }
            }
        }

        $(
            impl From<$ty> for Request {
                fn from(r: $ty) -> Self {
                    Request::$variant(r)
                }
            }
        )*
    };
}

requests! {
    ApiVersions(ApiVersionsRequest),
    Metadata(MetadataRequest),
    CreateTopics(CreateTopicsRequest),
    DeleteTopics(DeleteTopicsRequest),
    DescribeConfigs(DescribeConfigsRequest),
    AlterConfigs(AlterConfigsRequest),
    Produce(ProduceRequest),
    Fetch(FetchRequest),
    ListOffsets(ListOffsetsRequest),
    InitProducerId(InitProducerIdRequest),
    FindCoordinator(FindCoordinatorRequest),
    ConsumerGroupHeartbeat(ConsumerGroupHeartbeatRequest),
    OffsetCommit(OffsetCommitRequest),
    OffsetFetch(OffsetFetchRequest),
    ListGroups(ListGroupsRequest),
    DescribeGroups(DescribeGroupsRequest),
    DeleteGroups(DeleteGroupsRequest),
}

impl Request {
    /// Whether the broker answers it: everything except a produce with
    /// `acks = 0`.
    pub fn expects_response(&self) -> bool {
        !matches!(self, Request::Produce(p) if p.acks == Acks::None)
    }

    /// The whole frame: length prefix, request header, body. Record blobs
    /// are chunks of their own, not copied.
    pub fn encode_frame(
        &self,
        correlation_id: u32,
        client_id: &str,
    ) -> Result<FrameOut, EncodeError> {
        let mut w = Writer::frame();
        encode_header(
            &mut w,
            self.api_key(),
            self.api_version(),
            correlation_id,
            client_id,
        )?;
        self.encode(&mut w)?;
        w.finish()
    }
}

/// Writes a request header without building a [`RequestHeader`] (which
/// would copy the client id).
fn encode_header(
    w: &mut Writer,
    api: ApiKey,
    version: u16,
    correlation_id: u32,
    client_id: &str,
) -> Result<(), EncodeError> {
    w.u16(api.code());
    w.u16(version);
    w.u32(correlation_id);
    w.string(client_id)
}

/// Encodes a typed request as a whole frame.
pub fn encode_request<R: ApiRequest>(
    request: &R,
    correlation_id: u32,
    client_id: &str,
) -> Result<FrameOut, EncodeError> {
    let mut w = Writer::frame();
    encode_header(&mut w, R::KEY, R::VERSION, correlation_id, client_id)?;
    request.encode(&mut w)?;
    w.finish()
}

/// Decodes a request body by API key and version.
///
/// Unknown keys, reserved keys, unserved versions and malformed bodies are
/// distinct [`MessageError`]s, each answered on the wire (see
/// [`MessageError::to_response`]).
pub fn decode_request(
    api_key: u16,
    api_version: u16,
    body: Bytes,
) -> Result<Request, MessageError> {
    let api = ApiKey::from_code(api_key).ok_or(MessageError::UnknownApiKey { api_key })?;
    check_version(api, api_version)?;
    Request::decode_served(api, body).map_err(|source| MessageError::Malformed {
        api,
        version: api_version,
        source,
    })
}

/// A request frame split into its header and its decoded body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingRequest {
    /// The header: the correlation id to answer with, the client id.
    pub header: RequestHeader,
    /// The request, or why it cannot be served (to be answered with
    /// [`MessageError::to_response`]).
    pub request: Result<Request, MessageError>,
}

/// Decodes a whole request frame body (as yielded by [`crate::FrameCodec`]).
///
/// Fails only when the header itself is malformed; the error then carries
/// the correlation id if it was read, so the broker can answer with an
/// `INVALID_REQUEST` error response before closing the connection.
pub fn decode_request_frame(frame: Bytes) -> Result<IncomingRequest, HeaderError> {
    let (header, body) = RequestHeader::split(frame)?;
    let request = decode_request(header.api_key, header.api_version, body);
    Ok(IncomingRequest { header, request })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api;
    use crate::api::testing::arb_input;
    use proptest::prelude::*;

    pub(crate) fn arb_request() -> impl Strategy<Value = Request> {
        prop_oneof![
            api::api_versions::tests::arb_request().prop_map(Request::from),
            api::metadata::tests::arb_request().prop_map(Request::from),
            api::create_topics::tests::arb_request().prop_map(Request::from),
            api::delete_topics::tests::arb_request().prop_map(Request::from),
            api::describe_configs::tests::arb_request().prop_map(Request::from),
            api::alter_configs::tests::arb_request().prop_map(Request::from),
            api::produce::tests::arb_request().prop_map(Request::from),
            api::fetch::tests::arb_request().prop_map(Request::from),
            api::list_offsets::tests::arb_request().prop_map(Request::from),
            api::init_producer_id::tests::arb_request().prop_map(Request::from),
            api::find_coordinator::tests::arb_request().prop_map(Request::from),
            api::consumer_group_heartbeat::tests::arb_request().prop_map(Request::from),
            api::offset_commit::tests::arb_request().prop_map(Request::from),
            api::offset_fetch::tests::arb_request().prop_map(Request::from),
            api::list_groups::tests::arb_request().prop_map(Request::from),
            api::describe_groups::tests::arb_request().prop_map(Request::from),
            api::delete_groups::tests::arb_request().prop_map(Request::from),
        ]
    }

    fn frame_body(frame: &FrameOut) -> Bytes {
        frame.to_bytes().slice(4..)
    }

    #[test]
    fn unknown_api_key_is_its_own_error() {
        let err = decode_request(999, 0, Bytes::new()).unwrap_err();
        assert_eq!(err, MessageError::UnknownApiKey { api_key: 999 });
        assert_eq!(err.error_code(), ErrorCode::UnsupportedVersion);
        match err.to_response() {
            Response::Error(e) => {
                assert_eq!(e.error_code, ErrorCode::UnsupportedVersion);
                assert_eq!(e.error_message, "unknown api key 999");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn reserved_api_keys_are_not_served() {
        for api in ApiKey::ALL.iter().copied().filter(|k| !k.is_served()) {
            let err = decode_request(api.code(), 0, Bytes::new()).unwrap_err();
            assert_eq!(err, MessageError::NotServed { api });
            assert_eq!(err.error_code(), ErrorCode::UnsupportedVersion);
        }
    }

    #[test]
    fn every_served_api_decodes() {
        for api in ApiKey::ALL.iter().copied().filter(|k| k.is_served()) {
            let err = decode_request(api.code(), 0, Bytes::from_static(&[0xff; 3]));
            assert!(
                !matches!(
                    err,
                    Err(MessageError::NotServed { .. } | MessageError::UnsupportedVersion { .. })
                ),
                "{api}"
            );
            if let Err(MessageError::Malformed { source, .. }) = &err {
                assert!(
                    !matches!(
                        source,
                        DecodeError::Invalid {
                            what: "api_key",
                            ..
                        }
                    ),
                    "{api} has no decoder"
                );
            }
        }
    }

    #[test]
    fn unsupported_version_is_its_own_error() {
        let err = decode_request(ApiKey::Produce.code(), 3, Bytes::new()).unwrap_err();
        assert_eq!(
            err,
            MessageError::UnsupportedVersion {
                api: ApiKey::Produce,
                version: 3
            }
        );
        assert!(matches!(err.to_response(), Response::Error(_)));
    }

    #[test]
    fn api_versions_of_any_version_gets_the_list() {
        let err = decode_request(ApiKey::ApiVersions.code(), 7, Bytes::new()).unwrap_err();
        match err.to_response() {
            Response::ApiVersions(v) => {
                assert_eq!(v.error_code, ErrorCode::UnsupportedVersion);
                assert!(v.range(ApiKey::Produce).is_some());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn malformed_body_is_invalid_request_with_the_cause() {
        let err =
            decode_request(ApiKey::Metadata.code(), 0, Bytes::from_static(&[0, 0])).unwrap_err();
        assert!(matches!(
            err,
            MessageError::Malformed {
                api: ApiKey::Metadata,
                ..
            }
        ));
        assert_eq!(err.error_code(), ErrorCode::InvalidRequest);
        let Response::Error(e) = err.to_response() else {
            panic!("not an error response");
        };
        assert!(
            e.error_message.contains("need 4 bytes, have 2"),
            "{}",
            e.error_message
        );
    }

    #[test]
    fn bad_acks_is_invalid_required_acks() {
        let body = Bytes::from_static(&[0xff, 0xff, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0]);
        let err = decode_request(ApiKey::Produce.code(), 0, body).unwrap_err();
        assert_eq!(err.error_code(), ErrorCode::InvalidRequiredAcks);
    }

    #[test]
    fn frame_decodes_to_header_and_request() {
        let request = Request::Metadata(MetadataRequest { topics: None });
        let frame = request.encode_frame(41, "tester").unwrap();
        let incoming = decode_request_frame(frame_body(&frame)).unwrap();
        assert_eq!(incoming.header.correlation_id, 41);
        assert_eq!(incoming.header.client_id, "tester");
        assert_eq!(incoming.header.api(), Some(ApiKey::Metadata));
        assert_eq!(incoming.request, Ok(request));
    }

    #[test]
    fn typed_and_enum_encodings_agree() {
        let request = api::produce::tests::sample_request();
        let typed = encode_request(&request, 9, "c").unwrap().to_bytes();
        let untyped = Request::from(request)
            .encode_frame(9, "c")
            .unwrap()
            .to_bytes();
        assert_eq!(typed, untyped);
    }

    #[test]
    fn acks_zero_expects_no_response() {
        let mut produce = api::produce::tests::sample_request();
        assert!(Request::from(produce.clone()).expects_response());
        produce.acks = Acks::None;
        assert!(!Request::from(produce).expects_response());
        assert!(Request::from(ApiVersionsRequest).expects_response());
    }

    #[test]
    fn malformed_header_fails_the_frame() {
        let err = decode_request_frame(Bytes::from_static(&[0, 1])).unwrap_err();
        assert_eq!(err.correlation_id, None);
    }

    proptest! {
        #[test]
        fn every_request_round_trips_through_a_frame(request in arb_request(), correlation_id in any::<u32>()) {
            let frame = request.encode_frame(correlation_id, "prop").unwrap();
            let bytes = frame.to_bytes();
            prop_assert_eq!(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize, bytes.len() - 4);
            let incoming = decode_request_frame(bytes.slice(4..)).unwrap();
            prop_assert_eq!(incoming.header.correlation_id, correlation_id);
            prop_assert_eq!(incoming.request, Ok(request));
        }

        #[test]
        fn arbitrary_bodies_never_panic(api_key in 0u16..80, version in 0u16..2, bytes in arb_input()) {
            let _ = decode_request(api_key, version, Bytes::from(bytes));
        }

        #[test]
        fn arbitrary_frames_never_panic(bytes in arb_input()) {
            if let Ok(IncomingRequest { header, request: Err(e) }) = decode_request_frame(Bytes::from(bytes)) {
                let _ = e.to_response().encode_frame(header.correlation_id);
            }
        }
    }
}
