//! ConsumerGroupHeartbeat (key 68, version 0): join, heartbeat and leave a
//! consumer group in one call. The broker decides membership and assignment;
//! the answer carries the member's assignment.
//!
//! ```text
//! ConsumerGroupHeartbeatRequest
//!   group_id                string
//!   member_id               string            "" to join with an id chosen by the broker
//!   member_epoch            i32               0 join, -1 leave, otherwise the epoch last received
//!   instance_id             nullable string   static membership id; recorded only; null = unchanged
//!   rack_id                 nullable string   null = unchanged
//!   rebalance_timeout_ms    u32               longest the member may take to revoke; 0 = unchanged (broker default at join)
//!   session_timeout_ms      u32               0 = unchanged (broker default at join)
//!   subscribed_topic_names  nullable array of string   null = unchanged; required at join
//!   server_assignor         nullable string   range, roundrobin or sticky; null = unchanged (broker default at join)
//!   owned_partitions        nullable array of          what the member owns now; null = unchanged
//!     topic                 string
//!     partitions            array of u32
//!
//! ConsumerGroupHeartbeatResponse
//!   error_code              i16      NONE, UNKNOWN_MEMBER_ID, FENCED_MEMBER_EPOCH, ...
//!   error_message           nullable string
//!   member_id               string   the member's id (chosen by the broker on a join with "")
//!   member_epoch            i32      the member's epoch now; -1 after a leave
//!   heartbeat_interval_ms   u32      send the next heartbeat after this long
//!   assignment              nullable array of   the partitions the member owns from now on; null = unchanged
//!     topic                 string
//!     partitions            array of u32
//! ```
//!
//! The member reports what it owns in `owned_partitions`, which is how the
//! coordinator learns that a revoked partition has been given up: a
//! partition moves to its new owner only once the old owner's heartbeat no
//! longer lists it (or the old owner's session expires).
//!
//! An error response can never be mistaken for this response: read as one,
//! its message length is taken for `error_message` (a length of at most
//! 32 767 consumes the message and then `member_id` is missing; -1 for a
//! 65 535-byte message leaves message bytes to be read as `member_id` and the
//! fields after it, and the assignment count then read from message bytes
//! is at least 0x20202020, or negative and not -1 because no UTF-8 byte is
//! 0xFF; other lengths are negative and invalid).

use crate::api::ApiRequest;
use crate::api_key::ApiKey;
use crate::error_code::ErrorCode;
use crate::ids::PartitionId;
use crate::reader::{Decode, DecodeError, Reader};
use crate::writer::{Encode, EncodeError, Writer};

/// `member_epoch` of a member joining.
pub const JOIN_EPOCH: i32 = 0;
/// `member_epoch` of a member leaving.
pub const LEAVE_EPOCH: i32 = -1;

/// Smallest encoded topic name.
const MIN_NAME_BYTES: usize = 2;
/// Smallest encoded partition number.
const PARTITION_BYTES: usize = 4;
/// Smallest encoded [`TopicPartitions`].
pub(crate) const MIN_TOPIC_PARTITIONS_BYTES: usize = 2 + 4;

/// Partitions of one topic: an entry of an assignment or of what a member
/// owns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicPartitions {
    /// Topic name.
    pub topic: String,
    /// Partition numbers, in ascending order when the broker writes them.
    pub partitions: Vec<PartitionId>,
}

/// Join, heartbeat or leave.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerGroupHeartbeatRequest {
    /// The group.
    pub group_id: String,
    /// The member's id; empty to join with an id chosen by the broker.
    pub member_id: String,
    /// [`JOIN_EPOCH`] to join, [`LEAVE_EPOCH`] to leave, otherwise the
    /// epoch the member last received.
    pub member_epoch: i32,
    /// Static membership id: recorded and described, no other effect yet;
    /// `None` leaves it unchanged.
    pub instance_id: Option<String>,
    /// The member's rack, for rack-aware assignment later; `None` leaves it
    /// unchanged.
    pub rack_id: Option<String>,
    /// Longest time the member may take to give up revoked partitions
    /// before it is removed; 0 leaves it unchanged (the broker default at
    /// join).
    pub rebalance_timeout_ms: u32,
    /// Time without heartbeats after which the member is removed; 0 leaves
    /// it unchanged (the broker default at join).
    pub session_timeout_ms: u32,
    /// Topics the member subscribes to; `None` leaves them unchanged. A
    /// joining member must send them.
    pub subscribed_topic_names: Option<Vec<String>>,
    /// The assignor the member asks for; `None` leaves it unchanged (the
    /// broker default at join).
    pub server_assignor: Option<String>,
    /// Partitions the member owns now; `None` when unchanged since the last
    /// heartbeat that sent them.
    pub owned_partitions: Option<Vec<TopicPartitions>>,
}

/// The member's state after the call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerGroupHeartbeatResponse {
    /// `NONE` on success.
    pub error_code: ErrorCode,
    /// Details of the error; null on success.
    pub error_message: Option<String>,
    /// The member's id, the one to send from now on.
    pub member_id: String,
    /// The member's epoch, to send with the next heartbeat and commits.
    pub member_epoch: i32,
    /// When to send the next heartbeat.
    pub heartbeat_interval_ms: u32,
    /// The partitions the member owns from now on; `None` when unchanged.
    pub assignment: Option<Vec<TopicPartitions>>,
}

impl ConsumerGroupHeartbeatResponse {
    /// A failed answer: the member's id and epoch echoed, no assignment.
    pub fn error(
        error_code: ErrorCode,
        message: impl Into<String>,
        member_id: impl Into<String>,
        member_epoch: i32,
    ) -> Self {
        ConsumerGroupHeartbeatResponse {
            error_code,
            error_message: Some(message.into()),
            member_id: member_id.into(),
            member_epoch,
            heartbeat_interval_ms: 0,
            assignment: None,
        }
    }
}

impl ApiRequest for ConsumerGroupHeartbeatRequest {
    const KEY: ApiKey = ApiKey::ConsumerGroupHeartbeat;
    const VERSION: u16 = 0;
    type Response = ConsumerGroupHeartbeatResponse;
}

impl Encode for TopicPartitions {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.topic)?;
        w.array(&self.partitions, |w, p| {
            p.encode(w);
            Ok(())
        })
    }
}

impl Decode for TopicPartitions {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(TopicPartitions {
            topic: r.string("topic name")?,
            partitions: r.array("partitions", PARTITION_BYTES, PartitionId::decode)?,
        })
    }
}

impl Encode for ConsumerGroupHeartbeatRequest {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.group_id)?;
        w.string(&self.member_id)?;
        w.i32(self.member_epoch);
        w.nullable_string(self.instance_id.as_deref())?;
        w.nullable_string(self.rack_id.as_deref())?;
        w.u32(self.rebalance_timeout_ms);
        w.u32(self.session_timeout_ms);
        w.nullable_array(self.subscribed_topic_names.as_deref(), |w, t| w.string(t))?;
        w.nullable_string(self.server_assignor.as_deref())?;
        w.nullable_array(self.owned_partitions.as_deref(), |w, t| t.encode(w))
    }
}

impl Decode for ConsumerGroupHeartbeatRequest {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(ConsumerGroupHeartbeatRequest {
            group_id: r.string("group_id")?,
            member_id: r.string("member_id")?,
            member_epoch: r.i32("member_epoch")?,
            instance_id: r.nullable_string("instance_id")?,
            rack_id: r.nullable_string("rack_id")?,
            rebalance_timeout_ms: r.u32("rebalance_timeout_ms")?,
            session_timeout_ms: r.u32("session_timeout_ms")?,
            subscribed_topic_names: r.nullable_array(
                "subscribed_topic_names",
                MIN_NAME_BYTES,
                |r| r.string("topic name"),
            )?,
            server_assignor: r.nullable_string("server_assignor")?,
            owned_partitions: r.nullable_array(
                "owned_partitions",
                MIN_TOPIC_PARTITIONS_BYTES,
                TopicPartitions::decode,
            )?,
        })
    }
}

impl Encode for ConsumerGroupHeartbeatResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.i16(self.error_code.code());
        w.nullable_string(self.error_message.as_deref())?;
        w.string(&self.member_id)?;
        w.i32(self.member_epoch);
        w.u32(self.heartbeat_interval_ms);
        w.nullable_array(self.assignment.as_deref(), |w, t| t.encode(w))
    }
}

impl Decode for ConsumerGroupHeartbeatResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(ConsumerGroupHeartbeatResponse {
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            error_message: r.nullable_string("error_message")?,
            member_id: r.string("member_id")?,
            member_epoch: r.i32("member_epoch")?,
            heartbeat_interval_ms: r.u32("heartbeat_interval_ms")?,
            assignment: r.nullable_array(
                "assignment",
                MIN_TOPIC_PARTITIONS_BYTES,
                TopicPartitions::decode,
            )?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::error_response::ErrorResponse;
    use crate::api::testing::*;
    use bytes::Bytes;
    use proptest::prelude::*;

    pub(crate) fn arb_topic_partitions() -> impl Strategy<Value = TopicPartitions> {
        (arb_string(), arb_vec(arb_partition()))
            .prop_map(|(topic, partitions)| TopicPartitions { topic, partitions })
    }

    pub(crate) fn arb_request() -> impl Strategy<Value = ConsumerGroupHeartbeatRequest> {
        (
            (arb_string(), arb_string(), any::<i32>()),
            (arb_nullable_string(), arb_nullable_string()),
            (any::<u32>(), any::<u32>()),
            proptest::option::of(arb_vec(arb_string())),
            arb_nullable_string(),
            proptest::option::of(arb_vec(arb_topic_partitions())),
        )
            .prop_map(
                |(
                    (group_id, member_id, member_epoch),
                    (instance_id, rack_id),
                    (rebalance_timeout_ms, session_timeout_ms),
                    subscribed_topic_names,
                    server_assignor,
                    owned_partitions,
                )| ConsumerGroupHeartbeatRequest {
                    group_id,
                    member_id,
                    member_epoch,
                    instance_id,
                    rack_id,
                    rebalance_timeout_ms,
                    session_timeout_ms,
                    subscribed_topic_names,
                    server_assignor,
                    owned_partitions,
                },
            )
    }

    pub(crate) fn arb_response() -> impl Strategy<Value = ConsumerGroupHeartbeatResponse> {
        (
            arb_error_code(),
            arb_nullable_string(),
            arb_string(),
            any::<i32>(),
            any::<u32>(),
            proptest::option::of(arb_vec(arb_topic_partitions())),
        )
            .prop_map(
                |(
                    error_code,
                    error_message,
                    member_id,
                    member_epoch,
                    heartbeat_interval_ms,
                    assignment,
                )| ConsumerGroupHeartbeatResponse {
                    error_code,
                    error_message,
                    member_id,
                    member_epoch,
                    heartbeat_interval_ms,
                    assignment,
                },
            )
    }

    pub(crate) fn sample_request() -> ConsumerGroupHeartbeatRequest {
        ConsumerGroupHeartbeatRequest {
            group_id: "g".into(),
            member_id: String::new(),
            member_epoch: JOIN_EPOCH,
            instance_id: None,
            rack_id: None,
            rebalance_timeout_ms: 300_000,
            session_timeout_ms: 0,
            subscribed_topic_names: Some(vec!["t".into()]),
            server_assignor: None,
            owned_partitions: Some(vec![]),
        }
    }

    pub(crate) fn sample_response() -> ConsumerGroupHeartbeatResponse {
        ConsumerGroupHeartbeatResponse {
            error_code: ErrorCode::None,
            error_message: None,
            member_id: "m1".into(),
            member_epoch: 3,
            heartbeat_interval_ms: 3_000,
            assignment: Some(vec![TopicPartitions {
                topic: "t".into(),
                partitions: vec![PartitionId(0), PartitionId(2)],
            }]),
        }
    }

    #[test]
    fn request_layout_matches_the_doc() {
        let bytes = round_trip(&sample_request());
        let expected: &[u8] = &[
            0, 1, b'g', // group_id
            0, 0, // member_id ""
            0, 0, 0, 0, // member_epoch 0
            0xff, 0xff, // instance_id null
            0xff, 0xff, // rack_id null
            0, 0x04, 0x93, 0xe0, // rebalance_timeout_ms 300 000
            0, 0, 0, 0, // session_timeout_ms 0
            0, 0, 0, 1, 0, 1, b't', // subscribed_topic_names ["t"]
            0xff, 0xff, // server_assignor null
            0, 0, 0, 0, // owned_partitions []
        ];
        assert_eq!(&bytes[..], expected);
    }

    #[test]
    fn response_layout_matches_the_doc() {
        let bytes = round_trip(&sample_response());
        let expected: &[u8] = &[
            0, 0, // error_code
            0xff, 0xff, // error_message null
            0, 2, b'm', b'1', // member_id
            0, 0, 0, 3, // member_epoch
            0, 0, 0x0b, 0xb8, // heartbeat_interval_ms 3000
            0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, // assignment
        ];
        assert_eq!(&bytes[..], expected);
        let unchanged = ConsumerGroupHeartbeatResponse {
            assignment: None,
            ..sample_response()
        };
        let bytes = round_trip(&unchanged);
        assert_eq!(&bytes[bytes.len() - 4..], &[0xff; 4]);
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
        bytes[0..2].copy_from_slice(&777i16.to_be_bytes());
        let back = ConsumerGroupHeartbeatResponse::decode_body(Bytes::from(bytes)).unwrap();
        assert_eq!(back.error_code, ErrorCode::Unknown(777));
    }

    #[test]
    fn error_responses_do_not_decode_as_this_response() {
        for len in [0usize, 1, 9, 10, 11, 300, 32_767, 32_768, 65_534, 65_535] {
            let error = ErrorResponse {
                error_code: ErrorCode::UnsupportedVersion,
                error_message: "m".repeat(len),
            };
            let body = error.encode_body().unwrap();
            assert!(
                ConsumerGroupHeartbeatResponse::decode_body(body).is_err(),
                "message of {len} bytes"
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
            decode_arbitrary::<ConsumerGroupHeartbeatRequest>(bytes.clone())?;
            decode_arbitrary::<ConsumerGroupHeartbeatResponse>(bytes)?;
        }

        #[test]
        fn corrupted_encodings_never_panic(req in arb_request(), resp in arb_response(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            decode_corrupted(&req, at, byte)?;
            decode_corrupted(&resp, at, byte)?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// A 65 535-byte message reads as a null `error_message` followed by
        /// message bytes; whatever they are, the decode fails.
        #[test]
        fn longest_error_messages_are_never_mistaken(seed in "[ -~\u{80}-\u{10FFFF}]{1,64}") {
            let mut message = String::with_capacity(65_535);
            for c in seed.chars().cycle() {
                if message.len() + c.len_utf8() > 65_535 {
                    break;
                }
                message.push(c);
            }
            while message.len() < 65_535 {
                message.push(' ');
            }
            let error = ErrorResponse::new(ErrorCode::UnknownMemberId, message);
            prop_assert!(ConsumerGroupHeartbeatResponse::decode_body(error.encode_body().unwrap()).is_err());
        }
    }
}
