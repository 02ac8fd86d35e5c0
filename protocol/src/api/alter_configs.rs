//! AlterConfigs (key 44, version 0): change configuration key by key.
//!
//! Incremental, like Apache Kafka's IncrementalAlterConfigs: each operation
//! sets or resets one key and leaves the others as they are.
//!
//! ```text
//! AlterConfigsRequest
//!   resources            array of
//!     resource_type      i8       2 topic, 4 broker
//!     resource_name      string   topic name; for a broker its node id in decimal
//!     ops                array of
//!       key              string
//!       op               i8       0 set, 1 delete (reset to the default)
//!       value            nullable string   the new value for set; null for delete
//!   validate_only        bool     check everything, change nothing
//!
//! AlterConfigsResponse
//!   resources            array of
//!     error_code         i16      INVALID_CONFIG, UNKNOWN_TOPIC_OR_PARTITION, ...
//!     error_message      nullable string
//!     resource_type      i8
//!     resource_name      string
//! ```
//!
//! A resource's operations apply all together or not at all. A set with a
//! null value is answered with `INVALID_CONFIG`.

use crate::api::ApiRequest;
pub use crate::api::describe_configs::ResourceType;
use crate::api_key::ApiKey;
use crate::error_code::ErrorCode;
use crate::reader::{CodeKind, Decode, DecodeError, Reader};
use crate::writer::{Encode, EncodeError, Writer};

/// Smallest encoded [`AlterConfigsResource`].
const MIN_RESOURCE_BYTES: usize = 1 + 2 + 4;
/// Smallest encoded [`AlterableConfig`].
const MIN_OP_BYTES: usize = 2 + 1 + 2;
/// Smallest encoded [`AlterConfigsResult`].
const MIN_RESULT_BYTES: usize = 2 + 2 + 1 + 2;

/// What to do with one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AlterConfigOp {
    /// 0: set the key to the given value.
    #[default]
    Set,
    /// 1: remove the override; the default applies again.
    Delete,
}

impl AlterConfigOp {
    /// The wire value.
    pub const fn code(self) -> i8 {
        match self {
            AlterConfigOp::Set => 0,
            AlterConfigOp::Delete => 1,
        }
    }

    /// The operation for a wire value, if it is one.
    pub const fn from_code(code: i8) -> Option<Self> {
        match code {
            0 => Some(AlterConfigOp::Set),
            1 => Some(AlterConfigOp::Delete),
            _ => None,
        }
    }

    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let offset = r.position();
        let code = r.i8("op")?;
        AlterConfigOp::from_code(code).ok_or(DecodeError::UnknownCode {
            kind: CodeKind::AlterConfigOp,
            what: "op",
            offset,
            code: i64::from(code),
        })
    }
}

/// Change configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlterConfigsRequest {
    /// The resources to change.
    pub resources: Vec<AlterConfigsResource>,
    /// Check everything without changing anything.
    pub validate_only: bool,
}

/// The changes to one resource.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlterConfigsResource {
    /// Topic or broker.
    pub resource_type: ResourceType,
    /// Topic name, or broker node id in decimal.
    pub resource_name: String,
    /// The changes, applied together.
    pub ops: Vec<AlterableConfig>,
}

/// One change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlterableConfig {
    /// Config key.
    pub key: String,
    /// Set or reset.
    pub op: AlterConfigOp,
    /// The new value for [`AlterConfigOp::Set`]; `None` for
    /// [`AlterConfigOp::Delete`].
    pub value: Option<String>,
}

impl AlterableConfig {
    /// Sets `key` to `value`.
    pub fn set(key: impl Into<String>, value: impl Into<String>) -> Self {
        AlterableConfig {
            key: key.into(),
            op: AlterConfigOp::Set,
            value: Some(value.into()),
        }
    }

    /// Resets `key` to its default.
    pub fn delete(key: impl Into<String>) -> Self {
        AlterableConfig {
            key: key.into(),
            op: AlterConfigOp::Delete,
            value: None,
        }
    }
}

/// The outcome per resource.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlterConfigsResponse {
    /// One result per resource, in request order.
    pub resources: Vec<AlterConfigsResult>,
}

/// The outcome for one resource.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlterConfigsResult {
    /// `NONE` on success.
    pub error_code: ErrorCode,
    /// Details of the error; null on success.
    pub error_message: Option<String>,
    /// Topic or broker.
    pub resource_type: ResourceType,
    /// Topic name, or broker node id in decimal.
    pub resource_name: String,
}

impl ApiRequest for AlterConfigsRequest {
    const KEY: ApiKey = ApiKey::AlterConfigs;
    const VERSION: u16 = 0;
    type Response = AlterConfigsResponse;
}

impl Encode for AlterConfigsRequest {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.array_of(&self.resources)?;
        w.bool(self.validate_only);
        Ok(())
    }
}

impl Decode for AlterConfigsRequest {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(AlterConfigsRequest {
            resources: r.array_of("resources", MIN_RESOURCE_BYTES)?,
            validate_only: r.bool("validate_only")?,
        })
    }
}

impl Encode for AlterConfigsResource {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        self.resource_type.encode(w);
        w.string(&self.resource_name)?;
        w.array_of(&self.ops)
    }
}

impl Decode for AlterConfigsResource {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(AlterConfigsResource {
            resource_type: ResourceType::decode(r)?,
            resource_name: r.string("resource_name")?,
            ops: r.array_of("ops", MIN_OP_BYTES)?,
        })
    }
}

impl Encode for AlterableConfig {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.key)?;
        w.i8(self.op.code());
        w.nullable_string(self.value.as_deref())
    }
}

impl Decode for AlterableConfig {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(AlterableConfig {
            key: r.string("config key")?,
            op: AlterConfigOp::decode(r)?,
            value: r.nullable_string("config value")?,
        })
    }
}

impl Encode for AlterConfigsResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.array_of(&self.resources)
    }
}

impl Decode for AlterConfigsResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(AlterConfigsResponse {
            resources: r.array_of("resources", MIN_RESULT_BYTES)?,
        })
    }
}

impl Encode for AlterConfigsResult {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.i16(self.error_code.code());
        w.nullable_string(self.error_message.as_deref())?;
        self.resource_type.encode(w);
        w.string(&self.resource_name)
    }
}

impl Decode for AlterConfigsResult {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(AlterConfigsResult {
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            error_message: r.nullable_string("error_message")?,
            resource_type: ResourceType::decode(r)?,
            resource_name: r.string("resource_name")?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::describe_configs::tests::arb_resource_type;
    use crate::api::testing::*;
    use proptest::prelude::*;

    pub(crate) fn arb_request() -> impl Strategy<Value = AlterConfigsRequest> {
        let op = (
            arb_string(),
            prop_oneof![Just(AlterConfigOp::Set), Just(AlterConfigOp::Delete)],
            arb_nullable_string(),
        )
            .prop_map(|(key, op, value)| AlterableConfig { key, op, value });
        let resource = (arb_resource_type(), arb_string(), arb_vec(op)).prop_map(
            |(resource_type, resource_name, ops)| AlterConfigsResource {
                resource_type,
                resource_name,
                ops,
            },
        );
        (arb_vec(resource), any::<bool>()).prop_map(|(resources, validate_only)| {
            AlterConfigsRequest {
                resources,
                validate_only,
            }
        })
    }

    pub(crate) fn arb_response() -> impl Strategy<Value = AlterConfigsResponse> {
        let result = (
            arb_error_code(),
            arb_nullable_string(),
            arb_resource_type(),
            arb_string(),
        )
            .prop_map(
                |(error_code, error_message, resource_type, resource_name)| AlterConfigsResult {
                    error_code,
                    error_message,
                    resource_type,
                    resource_name,
                },
            );
        arb_vec(result).prop_map(|resources| AlterConfigsResponse { resources })
    }

    pub(crate) fn sample_request() -> AlterConfigsRequest {
        AlterConfigsRequest {
            resources: vec![AlterConfigsResource {
                resource_type: ResourceType::Topic,
                resource_name: "orders".into(),
                ops: vec![
                    AlterableConfig::set("retention.ms", "3600000"),
                    AlterableConfig::delete("segment.bytes"),
                ],
            }],
            validate_only: false,
        }
    }

    pub(crate) fn sample_response() -> AlterConfigsResponse {
        AlterConfigsResponse {
            resources: vec![AlterConfigsResult {
                error_code: ErrorCode::InvalidConfig,
                error_message: Some("retention.ms must be a number".into()),
                resource_type: ResourceType::Topic,
                resource_name: "orders".into(),
            }],
        }
    }

    #[test]
    fn request_layout_matches_the_doc() {
        let bytes = round_trip(&sample_request());
        let mut expected = vec![0, 0, 0, 1, 2, 0, 6];
        expected.extend_from_slice(b"orders");
        expected.extend_from_slice(&[0, 0, 0, 2, 0, 12]);
        expected.extend_from_slice(b"retention.ms");
        expected.extend_from_slice(&[0, 0, 7]);
        expected.extend_from_slice(b"3600000");
        expected.extend_from_slice(&[0, 13]);
        expected.extend_from_slice(b"segment.bytes");
        expected.extend_from_slice(&[1, 0xff, 0xff, 0]);
        assert_eq!(&bytes[..], &expected[..]);
    }

    #[test]
    fn response_round_trips() {
        round_trip(&sample_response());
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
    fn unknown_ops_are_rejected() {
        // Kafka's APPEND (2) and SUBTRACT (3) are not served.
        for code in [2i8, 3, -1] {
            let mut bytes = sample_request().encode_body().unwrap().to_vec();
            bytes[31] = code.to_be_bytes()[0];
            assert_unknown_code::<AlterConfigsRequest>(
                bytes,
                CodeKind::AlterConfigOp,
                i64::from(code),
            );
        }
    }

    #[test]
    fn unknown_resource_types_are_rejected() {
        let mut bytes = sample_request().encode_body().unwrap().to_vec();
        bytes[4] = 3;
        assert_unknown_code::<AlterConfigsRequest>(bytes, CodeKind::ResourceType, 3);
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
            decode_arbitrary::<AlterConfigsRequest>(bytes.clone())?;
            decode_arbitrary::<AlterConfigsResponse>(bytes)?;
        }

        #[test]
        fn corrupted_encodings_never_panic(req in arb_request(), resp in arb_response(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            decode_corrupted(&req, at, byte)?;
            decode_corrupted(&resp, at, byte)?;
        }
    }
}
