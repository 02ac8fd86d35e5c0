//! CreateTopics (key 19, version 0): create topics with a partition count and
//! config overrides.
//!
//! ```text
//! CreateTopicsRequest
//!   topics             array of
//!     name             string   [A-Za-z0-9._-]{1,249}
//!     partitions       u32      0: the broker's default partition count
//!     configs          array of
//!       key            string   a topic config key (retention.ms, ...)
//!       value          string
//!   timeout_ms         u32      longest wait for the topics to be created
//!   validate_only      bool     check everything, create nothing
//!
//! CreateTopicsResponse
//!   topics             array of
//!     name             string
//!     error_code       i16      TOPIC_ALREADY_EXISTS, INVALID_TOPIC_EXCEPTION, INVALID_PARTITIONS,
//!                               INVALID_CONFIG, POLICY_VIOLATION, ...
//!     error_message    nullable string
//!     partitions       u32      partitions the topic has (or would have); 0 on error
//!     configs          array of
//!       key            string
//!       value          string   the effective value of every topic config key; empty on error
//! ```

use crate::api::ApiRequest;
use crate::api_key::ApiKey;
use crate::error_code::ErrorCode;
use crate::reader::{Decode, DecodeError, Reader};
use crate::writer::{Encode, EncodeError, Writer};

/// Partition count asking for the broker's default.
pub const DEFAULT_PARTITIONS: u32 = 0;

/// Smallest encoded [`ConfigEntry`].
const MIN_CONFIG_BYTES: usize = 2 + 2;
/// Smallest encoded [`CreatableTopic`].
const MIN_TOPIC_BYTES: usize = 2 + 4 + 4;
/// Smallest encoded [`CreatableTopicResult`].
const MIN_RESULT_BYTES: usize = 2 + 2 + 2 + 4 + 4;

/// A config key and its value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigEntry {
    /// Config key, by its Kafka name (`retention.ms`, ...).
    pub key: String,
    /// The value, as text.
    pub value: String,
}

impl ConfigEntry {
    /// An entry from a key and a value.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        ConfigEntry {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// Create topics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateTopicsRequest {
    /// The topics to create.
    pub topics: Vec<CreatableTopic>,
    /// Longest wait for the topics to be created before `REQUEST_TIMED_OUT`.
    pub timeout_ms: u32,
    /// Check names, counts and configs without creating anything.
    pub validate_only: bool,
}

/// One topic to create.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreatableTopic {
    /// Topic name.
    pub name: String,
    /// Partition count; [`DEFAULT_PARTITIONS`] for the broker's default.
    pub partitions: u32,
    /// Config overrides; keys not listed take the broker's defaults.
    pub configs: Vec<ConfigEntry>,
}

/// The outcome per topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateTopicsResponse {
    /// One result per topic, in request order.
    pub topics: Vec<CreatableTopicResult>,
}

/// The outcome for one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreatableTopicResult {
    /// Topic name.
    pub name: String,
    /// `NONE` on success.
    pub error_code: ErrorCode,
    /// Details of the error; null on success.
    pub error_message: Option<String>,
    /// Partitions the topic has, or would have with `validate_only`.
    pub partitions: u32,
    /// The effective configuration (overrides and defaults).
    pub configs: Vec<ConfigEntry>,
}

impl ApiRequest for CreateTopicsRequest {
    const KEY: ApiKey = ApiKey::CreateTopics;
    const VERSION: u16 = 0;
    type Response = CreateTopicsResponse;
}

impl Encode for ConfigEntry {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.key)?;
        w.string(&self.value)
    }
}

impl Decode for ConfigEntry {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(ConfigEntry {
            key: r.string("config key")?,
            value: r.string("config value")?,
        })
    }
}

impl Encode for CreateTopicsRequest {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.array_of(&self.topics)?;
        w.u32(self.timeout_ms);
        w.bool(self.validate_only);
        Ok(())
    }
}

impl Decode for CreateTopicsRequest {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(CreateTopicsRequest {
            topics: r.array_of("topics", MIN_TOPIC_BYTES)?,
            timeout_ms: r.u32("timeout_ms")?,
            validate_only: r.bool("validate_only")?,
        })
    }
}

impl Encode for CreatableTopic {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.name)?;
        w.u32(self.partitions);
        w.array_of(&self.configs)
    }
}

impl Decode for CreatableTopic {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(CreatableTopic {
            name: r.string("topic name")?,
            partitions: r.u32("partitions")?,
            configs: r.array_of("configs", MIN_CONFIG_BYTES)?,
        })
    }
}

impl Encode for CreateTopicsResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.array_of(&self.topics)
    }
}

impl Decode for CreateTopicsResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(CreateTopicsResponse {
            topics: r.array_of("topics", MIN_RESULT_BYTES)?,
        })
    }
}

impl Encode for CreatableTopicResult {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.name)?;
        w.i16(self.error_code.code());
        w.nullable_string(self.error_message.as_deref())?;
        w.u32(self.partitions);
        w.array_of(&self.configs)
    }
}

impl Decode for CreatableTopicResult {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(CreatableTopicResult {
            name: r.string("topic name")?,
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            error_message: r.nullable_string("error_message")?,
            partitions: r.u32("partitions")?,
            configs: r.array_of("configs", MIN_CONFIG_BYTES)?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::testing::*;
    use crate::reader::CodeKind;
    use proptest::prelude::*;

    fn arb_config() -> impl Strategy<Value = ConfigEntry> {
        (arb_string(), arb_string()).prop_map(|(key, value)| ConfigEntry { key, value })
    }

    pub(crate) fn arb_request() -> impl Strategy<Value = CreateTopicsRequest> {
        let topic = (arb_string(), any::<u32>(), arb_vec(arb_config())).prop_map(
            |(name, partitions, configs)| CreatableTopic {
                name,
                partitions,
                configs,
            },
        );
        (arb_vec(topic), any::<u32>(), any::<bool>()).prop_map(
            |(topics, timeout_ms, validate_only)| CreateTopicsRequest {
                topics,
                timeout_ms,
                validate_only,
            },
        )
    }

    pub(crate) fn arb_response() -> impl Strategy<Value = CreateTopicsResponse> {
        let result = (
            arb_string(),
            arb_error_code(),
            arb_nullable_string(),
            any::<u32>(),
            arb_vec(arb_config()),
        )
            .prop_map(|(name, error_code, error_message, partitions, configs)| {
                CreatableTopicResult {
                    name,
                    error_code,
                    error_message,
                    partitions,
                    configs,
                }
            });
        arb_vec(result).prop_map(|topics| CreateTopicsResponse { topics })
    }

    pub(crate) fn sample_request() -> CreateTopicsRequest {
        CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "orders".into(),
                partitions: 3,
                configs: vec![ConfigEntry::new("retention.ms", "86400000")],
            }],
            timeout_ms: 5_000,
            validate_only: false,
        }
    }

    pub(crate) fn sample_response() -> CreateTopicsResponse {
        CreateTopicsResponse {
            topics: vec![
                CreatableTopicResult {
                    name: "orders".into(),
                    error_code: ErrorCode::None,
                    error_message: None,
                    partitions: 3,
                    configs: vec![
                        ConfigEntry::new("cleanup.policy", "delete"),
                        ConfigEntry::new("retention.ms", "86400000"),
                    ],
                },
                CreatableTopicResult {
                    name: "bad name".into(),
                    error_code: ErrorCode::InvalidTopicException,
                    error_message: Some("topic names may only contain [A-Za-z0-9._-]".into()),
                    partitions: 0,
                    configs: vec![],
                },
            ],
        }
    }

    #[test]
    fn request_layout_matches_the_doc() {
        let bytes = round_trip(&sample_request());
        let mut expected = vec![0, 0, 0, 1, 0, 6];
        expected.extend_from_slice(b"orders");
        expected.extend_from_slice(&[0, 0, 0, 3, 0, 0, 0, 1, 0, 12]);
        expected.extend_from_slice(b"retention.ms");
        expected.extend_from_slice(&[0, 8]);
        expected.extend_from_slice(b"86400000");
        expected.extend_from_slice(&[0, 0, 0x13, 0x88, 0]);
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
    fn validate_only_must_be_a_strict_boolean() {
        let mut bytes = sample_request().encode_body().unwrap().to_vec();
        *bytes.last_mut().unwrap() = 2;
        assert_unknown_code::<CreateTopicsRequest>(bytes, CodeKind::Bool, 2);
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
            decode_arbitrary::<CreateTopicsRequest>(bytes.clone())?;
            decode_arbitrary::<CreateTopicsResponse>(bytes)?;
        }

        #[test]
        fn corrupted_encodings_never_panic(req in arb_request(), resp in arb_response(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            decode_corrupted(&req, at, byte)?;
            decode_corrupted(&resp, at, byte)?;
        }
    }
}
