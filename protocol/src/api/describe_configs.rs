//! DescribeConfigs (key 32, version 0): read topic or broker configuration.
//!
//! ```text
//! DescribeConfigsRequest
//!   resources            array of
//!     resource_type      i8       2 topic, 4 broker
//!     resource_name      string   topic name; for a broker its node id in decimal
//!     keys               nullable array of string   null: every key
//!
//! DescribeConfigsResponse
//!   resources            array of
//!     error_code         i16
//!     error_message      nullable string
//!     resource_type      i8
//!     resource_name      string
//!     entries            array of
//!       name             string
//!       value            nullable string   null when the value is not disclosed
//!       is_default       bool     true if no override is set and the default applies
//!       read_only        bool     true if AlterConfigs cannot change it
//! ```
//!
//! Resource type numbers are Apache Kafka's; other numbers are rejected.

use crate::api::ApiRequest;
use crate::api_key::ApiKey;
use crate::error_code::ErrorCode;
use crate::reader::{CodeKind, Decode, DecodeError, Reader};
use crate::writer::{Encode, EncodeError, Writer};

/// Smallest encoded key name.
const MIN_NAME_BYTES: usize = 2;
/// Smallest encoded [`DescribeConfigsResource`].
const MIN_RESOURCE_BYTES: usize = 1 + 2 + 4;
/// Smallest encoded [`DescribeConfigsResult`].
const MIN_RESULT_BYTES: usize = 2 + 2 + 1 + 2 + 4;
/// Smallest encoded [`DescribeConfigsEntry`].
const MIN_ENTRY_BYTES: usize = 2 + 2 + 1 + 1;

/// What a config belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ResourceType {
    /// 2: a topic, named by its name.
    #[default]
    Topic,
    /// 4: a broker, named by its node id in decimal.
    Broker,
}

impl ResourceType {
    /// The wire value.
    pub const fn code(self) -> i8 {
        match self {
            ResourceType::Topic => 2,
            ResourceType::Broker => 4,
        }
    }

    /// The type for a wire value, if it is one.
    pub const fn from_code(code: i8) -> Option<Self> {
        match code {
            2 => Some(ResourceType::Topic),
            4 => Some(ResourceType::Broker),
            _ => None,
        }
    }

    /// Reads a resource type; unknown numbers are rejected.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let offset = r.position();
        let code = r.i8("resource_type")?;
        ResourceType::from_code(code).ok_or(DecodeError::UnknownCode {
            kind: CodeKind::ResourceType,
            what: "resource_type",
            offset,
            code: i64::from(code),
        })
    }

    /// Writes a resource type.
    pub fn encode(self, w: &mut Writer) {
        w.i8(self.code());
    }
}

/// Read configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribeConfigsRequest {
    /// What to describe.
    pub resources: Vec<DescribeConfigsResource>,
}

/// One resource to describe.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribeConfigsResource {
    /// Topic or broker.
    pub resource_type: ResourceType,
    /// Topic name, or broker node id in decimal.
    pub resource_name: String,
    /// Keys to return; `None` for every key.
    pub keys: Option<Vec<String>>,
}

/// The configuration per resource.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribeConfigsResponse {
    /// One result per resource, in request order.
    pub resources: Vec<DescribeConfigsResult>,
}

/// The configuration of one resource.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribeConfigsResult {
    /// `NONE` on success.
    pub error_code: ErrorCode,
    /// Details of the error; null on success.
    pub error_message: Option<String>,
    /// Topic or broker.
    pub resource_type: ResourceType,
    /// Topic name, or broker node id in decimal.
    pub resource_name: String,
    /// The keys asked for (all, if none were named); empty on error.
    pub entries: Vec<DescribeConfigsEntry>,
}

/// One config key and its effective value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribeConfigsEntry {
    /// Config key.
    pub name: String,
    /// Effective value; `None` when it is not disclosed.
    pub value: Option<String>,
    /// Whether the default applies (no override is set).
    pub is_default: bool,
    /// Whether AlterConfigs cannot change it.
    pub read_only: bool,
}

impl ApiRequest for DescribeConfigsRequest {
    const KEY: ApiKey = ApiKey::DescribeConfigs;
    const VERSION: u16 = 0;
    type Response = DescribeConfigsResponse;
}

impl Encode for DescribeConfigsRequest {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.array_of(&self.resources)
    }
}

impl Decode for DescribeConfigsRequest {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(DescribeConfigsRequest {
            resources: r.array_of("resources", MIN_RESOURCE_BYTES)?,
        })
    }
}

impl Encode for DescribeConfigsResource {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        self.resource_type.encode(w);
        w.string(&self.resource_name)?;
        w.nullable_array(self.keys.as_deref(), |w, key| w.string(key))
    }
}

impl Decode for DescribeConfigsResource {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(DescribeConfigsResource {
            resource_type: ResourceType::decode(r)?,
            resource_name: r.string("resource_name")?,
            keys: r.nullable_array("keys", MIN_NAME_BYTES, |r| r.string("config key"))?,
        })
    }
}

impl Encode for DescribeConfigsResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.array_of(&self.resources)
    }
}

impl Decode for DescribeConfigsResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(DescribeConfigsResponse {
            resources: r.array_of("resources", MIN_RESULT_BYTES)?,
        })
    }
}

impl Encode for DescribeConfigsResult {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.i16(self.error_code.code());
        w.nullable_string(self.error_message.as_deref())?;
        self.resource_type.encode(w);
        w.string(&self.resource_name)?;
        w.array_of(&self.entries)
    }
}

impl Decode for DescribeConfigsResult {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(DescribeConfigsResult {
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            error_message: r.nullable_string("error_message")?,
            resource_type: ResourceType::decode(r)?,
            resource_name: r.string("resource_name")?,
            entries: r.array_of("entries", MIN_ENTRY_BYTES)?,
        })
    }
}

impl Encode for DescribeConfigsEntry {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.name)?;
        w.nullable_string(self.value.as_deref())?;
        w.bool(self.is_default);
        w.bool(self.read_only);
        Ok(())
    }
}

impl Decode for DescribeConfigsEntry {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(DescribeConfigsEntry {
            name: r.string("config name")?,
            value: r.nullable_string("config value")?,
            is_default: r.bool("is_default")?,
            read_only: r.bool("read_only")?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::testing::*;
    use proptest::prelude::*;

    pub(crate) fn arb_resource_type() -> impl Strategy<Value = ResourceType> {
        prop_oneof![Just(ResourceType::Topic), Just(ResourceType::Broker)]
    }

    pub(crate) fn arb_request() -> impl Strategy<Value = DescribeConfigsRequest> {
        let resource = (
            arb_resource_type(),
            arb_string(),
            proptest::option::of(arb_vec(arb_string())),
        )
            .prop_map(
                |(resource_type, resource_name, keys)| DescribeConfigsResource {
                    resource_type,
                    resource_name,
                    keys,
                },
            );
        arb_vec(resource).prop_map(|resources| DescribeConfigsRequest { resources })
    }

    pub(crate) fn arb_response() -> impl Strategy<Value = DescribeConfigsResponse> {
        let entry = (
            arb_string(),
            arb_nullable_string(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(
                |(name, value, is_default, read_only)| DescribeConfigsEntry {
                    name,
                    value,
                    is_default,
                    read_only,
                },
            );
        let result = (
            arb_error_code(),
            arb_nullable_string(),
            arb_resource_type(),
            arb_string(),
            arb_vec(entry),
        )
            .prop_map(
                |(error_code, error_message, resource_type, resource_name, entries)| {
                    DescribeConfigsResult {
                        error_code,
                        error_message,
                        resource_type,
                        resource_name,
                        entries,
                    }
                },
            );
        arb_vec(result).prop_map(|resources| DescribeConfigsResponse { resources })
    }

    pub(crate) fn sample_request() -> DescribeConfigsRequest {
        DescribeConfigsRequest {
            resources: vec![
                DescribeConfigsResource {
                    resource_type: ResourceType::Topic,
                    resource_name: "orders".into(),
                    keys: Some(vec!["retention.ms".into()]),
                },
                DescribeConfigsResource {
                    resource_type: ResourceType::Broker,
                    resource_name: "0".into(),
                    keys: None,
                },
            ],
        }
    }

    pub(crate) fn sample_response() -> DescribeConfigsResponse {
        DescribeConfigsResponse {
            resources: vec![DescribeConfigsResult {
                error_code: ErrorCode::None,
                error_message: None,
                resource_type: ResourceType::Topic,
                resource_name: "orders".into(),
                entries: vec![
                    DescribeConfigsEntry {
                        name: "retention.ms".into(),
                        value: Some("86400000".into()),
                        is_default: false,
                        read_only: false,
                    },
                    DescribeConfigsEntry {
                        name: "segment.bytes".into(),
                        value: Some("1073741824".into()),
                        is_default: true,
                        read_only: false,
                    },
                ],
            }],
        }
    }

    #[test]
    fn request_layout_matches_the_doc() {
        let bytes = round_trip(&sample_request());
        let mut expected = vec![0, 0, 0, 2, 2, 0, 6];
        expected.extend_from_slice(b"orders");
        expected.extend_from_slice(&[0, 0, 0, 1, 0, 12]);
        expected.extend_from_slice(b"retention.ms");
        expected.extend_from_slice(&[4, 0, 1, b'0', 0xff, 0xff, 0xff, 0xff]);
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
    fn unknown_resource_types_are_rejected() {
        for code in [0i8, 1, 3, 5, -1] {
            let mut bytes = sample_request().encode_body().unwrap().to_vec();
            bytes[4] = code.to_be_bytes()[0];
            assert_unknown_code::<DescribeConfigsRequest>(
                bytes,
                CodeKind::ResourceType,
                i64::from(code),
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
            decode_arbitrary::<DescribeConfigsRequest>(bytes.clone())?;
            decode_arbitrary::<DescribeConfigsResponse>(bytes)?;
        }

        #[test]
        fn corrupted_encodings_never_panic(req in arb_request(), resp in arb_response(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            decode_corrupted(&req, at, byte)?;
            decode_corrupted(&resp, at, byte)?;
        }
    }
}
