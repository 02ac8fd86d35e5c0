//! FindCoordinator (key 10, version 0): which broker coordinates a group.
//!
//! ```text
//! FindCoordinatorRequest
//!   key_type           i8       0 = consumer group (the only type; others are malformed)
//!   keys               array of string   group ids
//!
//! FindCoordinatorResponse
//!   coordinators       array of
//!     key              string   the group id asked about
//!     error_code       i16      NONE, INVALID_GROUP_ID, COORDINATOR_NOT_AVAILABLE, ...
//!     error_message    nullable string
//!     node_id          i32      the coordinator's node id; -1 on error
//!     host             string   where to connect; empty on error
//!     port             u16      port of its native listener; 0 on error
//! ```
//!
//! Keys are batched so that a client can locate the coordinators of many
//! groups in one round trip, and each answer names a broker rather than
//! assuming the one asked: with a single broker every group is coordinated
//! by it, but the shape already serves a cluster where groups are spread
//! over brokers. A client sends its group calls (ConsumerGroupHeartbeat,
//! OffsetCommit, OffsetFetch, ...) to the coordinator it found here and asks
//! again after a `NOT_COORDINATOR` or `COORDINATOR_NOT_AVAILABLE` error.

use crate::api::ApiRequest;
use crate::api_key::ApiKey;
use crate::error_code::ErrorCode;
use crate::ids::NodeId;
use crate::reader::{Decode, DecodeError, Reader};
use crate::writer::{Encode, EncodeError, Writer};

/// Smallest encoded key.
const MIN_KEY_BYTES: usize = 2;
/// Smallest encoded [`Coordinator`].
const MIN_COORDINATOR_BYTES: usize = 2 + 2 + 2 + 4 + 2 + 2;

/// What kind of key a FindCoordinator request looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CoordinatorKeyType {
    /// 0: a consumer group id.
    #[default]
    Group,
}

impl CoordinatorKeyType {
    /// The wire value.
    pub const fn code(self) -> i8 {
        match self {
            CoordinatorKeyType::Group => 0,
        }
    }

    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let offset = r.position();
        match r.i8("key_type")? {
            0 => Ok(CoordinatorKeyType::Group),
            _ => Err(DecodeError::Invalid {
                what: "key_type",
                offset,
                reason: "only 0 (consumer group) is defined",
            }),
        }
    }
}

/// Find the coordinators of some groups.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FindCoordinatorRequest {
    /// What the keys are.
    pub key_type: CoordinatorKeyType,
    /// The group ids.
    pub keys: Vec<String>,
}

/// The coordinators found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FindCoordinatorResponse {
    /// One answer per key, in request order.
    pub coordinators: Vec<Coordinator>,
}

/// The coordinator of one key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Coordinator {
    /// The key asked about.
    pub key: String,
    /// `NONE` on success.
    pub error_code: ErrorCode,
    /// Details of the error; null on success.
    pub error_message: Option<String>,
    /// The coordinator's node id; `None` (-1) on error.
    pub node_id: Option<NodeId>,
    /// Host name or address to connect to; empty on error.
    pub host: String,
    /// Port of the coordinator's native listener; 0 on error.
    pub port: u16,
}

impl Coordinator {
    /// A failed answer for `key`: no node, no address.
    pub fn error(
        key: impl Into<String>,
        error_code: ErrorCode,
        message: impl Into<String>,
    ) -> Self {
        Coordinator {
            key: key.into(),
            error_code,
            error_message: Some(message.into()),
            node_id: None,
            host: String::new(),
            port: 0,
        }
    }
}

impl ApiRequest for FindCoordinatorRequest {
    const KEY: ApiKey = ApiKey::FindCoordinator;
    const VERSION: u16 = 0;
    type Response = FindCoordinatorResponse;
}

impl Encode for FindCoordinatorRequest {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.i8(self.key_type.code());
        w.array(&self.keys, |w, key| w.string(key))
    }
}

impl Decode for FindCoordinatorRequest {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(FindCoordinatorRequest {
            key_type: CoordinatorKeyType::decode(r)?,
            keys: r.array("keys", MIN_KEY_BYTES, |r| r.string("key"))?,
        })
    }
}

impl Encode for FindCoordinatorResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.array_of(&self.coordinators)
    }
}

impl Decode for FindCoordinatorResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(FindCoordinatorResponse {
            coordinators: r.array_of("coordinators", MIN_COORDINATOR_BYTES)?,
        })
    }
}

impl Encode for Coordinator {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.key)?;
        w.i16(self.error_code.code());
        w.nullable_string(self.error_message.as_deref())?;
        NodeId::encode_optional(self.node_id, w);
        w.string(&self.host)?;
        w.u16(self.port);
        Ok(())
    }
}

impl Decode for Coordinator {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Coordinator {
            key: r.string("key")?,
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            error_message: r.nullable_string("error_message")?,
            node_id: NodeId::decode_optional(r, "node_id")?,
            host: r.string("host")?,
            port: r.u16("port")?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::testing::*;
    use bytes::Bytes;
    use proptest::prelude::*;

    pub(crate) fn arb_request() -> impl Strategy<Value = FindCoordinatorRequest> {
        arb_vec(arb_string()).prop_map(|keys| FindCoordinatorRequest {
            key_type: CoordinatorKeyType::Group,
            keys,
        })
    }

    pub(crate) fn arb_response() -> impl Strategy<Value = FindCoordinatorResponse> {
        let coordinator = (
            arb_string(),
            arb_error_code(),
            arb_nullable_string(),
            proptest::option::of(arb_node_id()),
            arb_string(),
            any::<u16>(),
        )
            .prop_map(
                |(key, error_code, error_message, node_id, host, port)| Coordinator {
                    key,
                    error_code,
                    error_message,
                    node_id,
                    host,
                    port,
                },
            );
        arb_vec(coordinator).prop_map(|coordinators| FindCoordinatorResponse { coordinators })
    }

    pub(crate) fn sample_request() -> FindCoordinatorRequest {
        FindCoordinatorRequest {
            key_type: CoordinatorKeyType::Group,
            keys: vec!["billing".into()],
        }
    }

    pub(crate) fn sample_response() -> FindCoordinatorResponse {
        FindCoordinatorResponse {
            coordinators: vec![
                Coordinator {
                    key: "billing".into(),
                    error_code: ErrorCode::None,
                    error_message: None,
                    node_id: NodeId::new(0),
                    host: "127.0.0.1".into(),
                    port: 9170,
                },
                Coordinator::error("", ErrorCode::InvalidGroupId, "empty group id"),
            ],
        }
    }

    #[test]
    fn request_layout_matches_the_doc() {
        let bytes = round_trip(&sample_request());
        let mut expected = vec![0, 0, 0, 0, 1, 0, 7];
        expected.extend_from_slice(b"billing");
        assert_eq!(&bytes[..], &expected[..]);
    }

    #[test]
    fn response_layout_matches_the_doc() {
        let bytes = round_trip(&sample_response());
        let mut expected = vec![0, 0, 0, 2, 0, 7];
        expected.extend_from_slice(b"billing");
        expected.extend_from_slice(&[0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 9]);
        expected.extend_from_slice(b"127.0.0.1");
        expected.extend_from_slice(&9170u16.to_be_bytes());
        expected.extend_from_slice(&[0, 0, 0, 24, 0, 14]);
        expected.extend_from_slice(b"empty group id");
        expected.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
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
    fn unknown_key_types_are_rejected() {
        for key_type in [1u8, 0x7f, 0xff] {
            let err = FindCoordinatorRequest::decode_body(Bytes::from(vec![key_type, 0, 0, 0, 0]))
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    DecodeError::Invalid {
                        what: "key_type",
                        offset: 0,
                        ..
                    }
                ),
                "{err:?}"
            );
        }
    }

    #[test]
    fn unknown_error_codes_are_kept() {
        let mut bytes = sample_response().encode_body().unwrap().to_vec();
        bytes[13..15].copy_from_slice(&777i16.to_be_bytes());
        let back = FindCoordinatorResponse::decode_body(Bytes::from(bytes)).unwrap();
        assert_eq!(back.coordinators[0].error_code, ErrorCode::Unknown(777));
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
            decode_arbitrary::<FindCoordinatorRequest>(bytes.clone())?;
            decode_arbitrary::<FindCoordinatorResponse>(bytes)?;
        }

        #[test]
        fn corrupted_encodings_never_panic(req in arb_request(), resp in arb_response(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            decode_corrupted(&req, at, byte)?;
            decode_corrupted(&resp, at, byte)?;
        }
    }
}
