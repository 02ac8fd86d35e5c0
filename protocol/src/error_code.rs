//! Wire error codes: one stable list shared by every API.
//!
//! A code is an `i16`. Codes with an Apache Kafka equivalent use Kafka's
//! number, so that logs and tooling read the same; codes specific to Runnel
//! live at 1000 and above. Numbers are never reused or renumbered. A code
//! this build does not know decodes to [`ErrorCode::Unknown`] instead of
//! failing, so an older client can still report a newer broker's error.
//!
//! `retriable` means the same request may succeed if sent again later,
//! possibly after refreshing metadata; a client may retry it automatically.
//! The table in `PROTOCOL.md` lists the same codes and is checked against
//! this one by a test.

use std::fmt;

macro_rules! error_codes {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $code:literal, $name:literal, $retriable:literal, $message:literal;
    )*) => {
        /// A wire error code: name, number, default message and whether a
        /// retry may succeed.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
            /// A code this build does not know. [`ErrorCode::from_code`] never
            /// returns it for a known number.
            Unknown(i16),
        }

        impl ErrorCode {
            /// Every known code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The number on the wire.
            pub const fn code(self) -> i16 {
                match self {
                    $(ErrorCode::$variant => $code,)*
                    ErrorCode::Unknown(code) => code,
                }
            }

            /// The code for a wire number; unknown numbers are kept as
            /// [`ErrorCode::Unknown`].
            pub const fn from_code(code: i16) -> Self {
                match code {
                    $($code => ErrorCode::$variant,)*
                    other => ErrorCode::Unknown(other),
                }
            }

            /// The upper-case name, as in `PROTOCOL.md`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                    ErrorCode::Unknown(_) => "UNKNOWN",
                }
            }

            /// A default human-readable message.
            pub const fn message(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $message,)*
                    ErrorCode::Unknown(_) => "an error code this client does not know",
                }
            }

            /// Whether sending the same request again later may succeed.
            pub const fn is_retriable(self) -> bool {
                match self {
                    $(ErrorCode::$variant => $retriable,)*
                    ErrorCode::Unknown(_) => false,
                }
            }
        }
    };
}

error_codes! {
    /// An unexpected failure in the broker.
    UnknownServerError = -1, "UNKNOWN_SERVER_ERROR", false,
        "the broker hit an unexpected error while handling the request";
    /// Success.
    #[default]
    None = 0, "NONE", false, "no error";
    /// The fetch or list offset is outside the partition's offset range.
    OffsetOutOfRange = 1, "OFFSET_OUT_OF_RANGE", false,
        "the requested offset is outside the range of offsets held for the partition";
    /// A record batch failed its CRC or structure check on the way in.
    CorruptMessage = 2, "CORRUPT_MESSAGE", true,
        "a record batch failed its CRC or is malformed";
    /// No such topic or partition.
    UnknownTopicOrPartition = 3, "UNKNOWN_TOPIC_OR_PARTITION", true,
        "this broker does not host the topic or partition";
    /// A fetch size that cannot be served.
    InvalidFetchSize = 4, "INVALID_FETCH_SIZE", false, "the requested fetch size is invalid";
    /// The partition has no leader at the moment (loading, or a leader change).
    LeaderNotAvailable = 5, "LEADER_NOT_AVAILABLE", true,
        "the partition has no leader at the moment";
    /// This broker is not the partition's leader.
    NotLeader = 6, "NOT_LEADER", true, "this broker is not the leader of the partition";
    /// The request did not complete within its timeout.
    RequestTimedOut = 7, "REQUEST_TIMED_OUT", true, "the request timed out";
    /// A record batch is larger than the topic's `max.message.bytes`.
    MessageTooLarge = 10, "MESSAGE_TOO_LARGE", false,
        "the record batch is larger than the topic accepts";
    /// The connection failed before a response arrived (client side).
    NetworkException = 13, "NETWORK_EXCEPTION", true,
        "the connection was lost before a response arrived";
    /// The group coordinator is still loading its state.
    CoordinatorLoadInProgress = 14, "COORDINATOR_LOAD_IN_PROGRESS", true,
        "the group coordinator is loading its state";
    /// The group coordinator is not available.
    CoordinatorNotAvailable = 15, "COORDINATOR_NOT_AVAILABLE", true,
        "the group coordinator is not available";
    /// This broker is not the group's coordinator.
    NotCoordinator = 16, "NOT_COORDINATOR", true, "this broker is not the coordinator of the group";
    /// A topic name that is not allowed.
    InvalidTopicException = 17, "INVALID_TOPIC_EXCEPTION", false,
        "the topic name is invalid (allowed: [A-Za-z0-9._-]{1,249})";
    /// A produce request larger than the broker accepts in one go.
    RecordListTooLarge = 18, "RECORD_LIST_TOO_LARGE", false,
        "the records of the request are larger than the broker accepts";
    /// `acks` is not -1, 0 or 1.
    InvalidRequiredAcks = 21, "INVALID_REQUIRED_ACKS", false, "acks must be -1, 0 or 1";
    /// A stale generation in a group call.
    IllegalGeneration = 22, "ILLEGAL_GENERATION", false,
        "the generation id is not the group's current one";
    /// A group id that is empty or otherwise not allowed.
    InvalidGroupId = 24, "INVALID_GROUP_ID", false, "the group id is invalid";
    /// The member id is not known to the group.
    UnknownMemberId = 25, "UNKNOWN_MEMBER_ID", false, "the member id is not known to the group";
    /// The session timeout is outside the broker's allowed range.
    InvalidSessionTimeout = 26, "INVALID_SESSION_TIMEOUT", false,
        "the session timeout is outside the allowed range";
    /// Commit metadata is too large.
    InvalidCommitOffsetSize = 28, "INVALID_COMMIT_OFFSET_SIZE", false,
        "the committed offset metadata is too large";
    /// A record timestamp outside the accepted range.
    InvalidTimestamp = 32, "INVALID_TIMESTAMP", false,
        "a record timestamp is outside the accepted range";
    /// Unknown API key or a version the broker does not serve.
    UnsupportedVersion = 35, "UNSUPPORTED_VERSION", false,
        "the broker does not support this API or API version";
    /// CreateTopics for a name that exists.
    TopicAlreadyExists = 36, "TOPIC_ALREADY_EXISTS", false, "the topic already exists";
    /// A partition count that is not allowed.
    InvalidPartitions = 37, "INVALID_PARTITIONS", false, "the number of partitions is invalid";
    /// A config key or value that is not allowed.
    InvalidConfig = 40, "INVALID_CONFIG", false, "the configuration is invalid";
    /// A request that could not be decoded or breaks a protocol rule.
    InvalidRequest = 42, "INVALID_REQUEST", false,
        "the request is malformed or breaks a protocol rule";
    /// A request the broker's policy refuses.
    PolicyViolation = 44, "POLICY_VIOLATION", false, "the request violates the broker's policy";
    /// An idempotent producer skipped a sequence number.
    OutOfOrderSequenceNumber = 45, "OUT_OF_ORDER_SEQUENCE_NUMBER", false,
        "the producer's sequence number is out of order";
    /// An idempotent producer resent a batch that is already in the log.
    DuplicateSequenceNumber = 46, "DUPLICATE_SEQUENCE_NUMBER", false,
        "the batch is a duplicate of one already written";
    /// A producer epoch older than the current one.
    InvalidProducerEpoch = 47, "INVALID_PRODUCER_EPOCH", false,
        "the producer epoch is older than the current one";
    /// The partition's storage failed (I/O error); it is fenced until the
    /// broker recovers it.
    StorageError = 56, "STORAGE_ERROR", true,
        "the partition's storage failed and is not accepting requests";
    /// The producer id is not known (expired or never issued).
    UnknownProducerId = 59, "UNKNOWN_PRODUCER_ID", false, "the producer id is not known";
    /// DeleteGroups for a group that still has members.
    NonEmptyGroup = 68, "NON_EMPTY_GROUP", false, "the group still has members";
    /// No such group.
    GroupIdNotFound = 69, "GROUP_ID_NOT_FOUND", false, "the group does not exist";
    /// A compression codec the broker does not support.
    UnsupportedCompressionType = 76, "UNSUPPORTED_COMPRESSION_TYPE", false,
        "the compression codec is not supported";
    /// A record inside a valid batch failed validation.
    InvalidRecord = 87, "INVALID_RECORD", false, "a record failed validation";
    /// The member epoch is stale: the member must rejoin.
    FencedMemberEpoch = 110, "FENCED_MEMBER_EPOCH", false,
        "the member epoch is stale; the member must rejoin the group";
    /// The group member named an assignor the broker does not have.
    UnsupportedAssignor = 112, "UNSUPPORTED_ASSIGNOR", false,
        "the assignor is not supported by the broker";
    /// A commit or offset read carries an epoch older than the member's
    /// current one: the member is still in the group, but its assignment
    /// moved on since.
    StaleMemberEpoch = 113, "STALE_MEMBER_EPOCH", false,
        "the member epoch is older than the member's current one; heartbeat, then retry for partitions still owned";
    /// The disk is full; appends fail until space is freed.
    StorageFull = 1000, "STORAGE_FULL", true, "the broker's disk is full";
    /// Stored data failed its checksum on the way out.
    CorruptData = 1001, "CORRUPT_DATA", false, "data stored on the broker failed its checksum";
}

impl ErrorCode {
    /// Whether this is [`ErrorCode::None`].
    pub const fn is_ok(self) -> bool {
        matches!(self, ErrorCode::None)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorCode::Unknown(code) => write!(f, "UNKNOWN({code})"),
            known => write!(f, "{} ({})", known.name(), known.code()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn numbers_and_names_are_unique() {
        let codes: HashSet<i16> = ErrorCode::ALL.iter().map(|c| c.code()).collect();
        let names: HashSet<&str> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(codes.len(), ErrorCode::ALL.len());
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn kafka_numbers_are_kept() {
        let expected = [
            (ErrorCode::None, 0),
            (ErrorCode::OffsetOutOfRange, 1),
            (ErrorCode::CorruptMessage, 2),
            (ErrorCode::UnknownTopicOrPartition, 3),
            (ErrorCode::NotLeader, 6),
            (ErrorCode::UnsupportedVersion, 35),
            (ErrorCode::InvalidRequest, 42),
            (ErrorCode::StorageError, 56),
            (ErrorCode::FencedMemberEpoch, 110),
            (ErrorCode::StaleMemberEpoch, 113),
            (ErrorCode::UnknownServerError, -1),
        ];
        for (code, number) in expected {
            assert_eq!(code.code(), number, "{}", code.name());
        }
    }

    #[test]
    fn runnel_codes_are_at_1000_and_above() {
        for code in ErrorCode::ALL {
            if matches!(code, ErrorCode::StorageFull | ErrorCode::CorruptData) {
                assert!(code.code() >= 1000);
            } else {
                assert!(code.code() < 1000);
            }
        }
    }

    #[test]
    fn unknown_numbers_are_kept_not_rejected() {
        assert_eq!(ErrorCode::from_code(4242), ErrorCode::Unknown(4242));
        assert_eq!(ErrorCode::Unknown(4242).code(), 4242);
        assert!(!ErrorCode::Unknown(4242).is_retriable());
        assert_eq!(ErrorCode::Unknown(4242).to_string(), "UNKNOWN(4242)");
    }

    #[test]
    fn display_shows_name_and_number() {
        assert_eq!(
            ErrorCode::OffsetOutOfRange.to_string(),
            "OFFSET_OUT_OF_RANGE (1)"
        );
    }

    #[test]
    fn every_code_is_in_protocol_md() {
        let spec = include_str!("../PROTOCOL.md");
        for code in ErrorCode::ALL {
            let retriable = if code.is_retriable() { "yes" } else { "no" };
            let row = format!("| {} | `{}` | {retriable} |", code.code(), code.name());
            assert!(spec.contains(&row), "PROTOCOL.md lacks the row {row}");
        }
    }

    proptest! {
        #[test]
        fn from_code_round_trips(code in any::<i16>()) {
            prop_assert_eq!(ErrorCode::from_code(code).code(), code);
            let known = ErrorCode::ALL.iter().any(|c| c.code() == code);
            prop_assert_eq!(matches!(ErrorCode::from_code(code), ErrorCode::Unknown(_)), !known);
        }
    }
}
