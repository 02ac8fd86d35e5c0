//! API keys: the `u16` in every request header that names the call.
//!
//! Numbers follow Apache Kafka's API keys for the equivalent call, so that
//! logs and packet captures read the same to anyone who knows Kafka; the
//! message layouts are Runnel's own (see `PROTOCOL.md`). AlterConfigs is
//! incremental, so it takes the number of Kafka's IncrementalAlterConfigs.
//! Numbers are stable: never reused, never renumbered.
//!
//! Reserved keys name calls that are specified by number but not yet served;
//! a broker answers them with `UNSUPPORTED_VERSION`.

use std::fmt;
use std::ops::RangeInclusive;

macro_rules! api_keys {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $code:literal, $versions:expr;
    )*) => {
        /// Names an API. See the module docs for the numbering.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum ApiKey {
            $( $(#[$doc])* $variant = $code, )*
        }

        impl ApiKey {
            /// Every key, served and reserved, in number order.
            pub const ALL: &'static [ApiKey] = &[$(ApiKey::$variant,)*];

            /// The key for a wire number, if it names one.
            pub const fn from_code(code: u16) -> Option<Self> {
                match code {
                    $($code => Some(ApiKey::$variant),)*
                    _ => None,
                }
            }

            /// The CamelCase name, as in `PROTOCOL.md`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(ApiKey::$variant => stringify!($variant),)*
                }
            }

            /// The versions this crate encodes and decodes, or `None` for a
            /// key that is reserved and not yet served.
            pub const fn versions(self) -> Option<RangeInclusive<u16>> {
                match self {
                    $(ApiKey::$variant => $versions,)*
                }
            }
        }
    };
}

/// Version range of an API served at version 0 only. (A reserved key would
/// be listed with `None`.)
const V0: Option<RangeInclusive<u16>> = Some(0..=0);

api_keys! {
    /// Append record batches to partitions.
    Produce = 0, V0;
    /// Read record batches from partitions (long-poll).
    Fetch = 1, V0;
    /// Find offsets: earliest, latest, or by timestamp.
    ListOffsets = 2, V0;
    /// Brokers, topics and partitions.
    Metadata = 3, V0;
    /// Commit consumer group offsets (fenced by member id and epoch).
    OffsetCommit = 8, V0;
    /// Read committed consumer group offsets.
    OffsetFetch = 9, V0;
    /// Find the coordinator of a group.
    FindCoordinator = 10, V0;
    /// Describe consumer groups: members, assignments, state and lag.
    DescribeGroups = 15, V0;
    /// List consumer groups.
    ListGroups = 16, V0;
    /// The APIs and versions the broker serves.
    ApiVersions = 18, V0;
    /// Create topics.
    CreateTopics = 19, V0;
    /// Delete topics.
    DeleteTopics = 20, V0;
    /// Obtain an idempotent producer id and epoch.
    InitProducerId = 22, V0;
    /// Read topic or broker configuration.
    DescribeConfigs = 32, V0;
    /// Delete consumer groups without members, with their offsets.
    DeleteGroups = 42, V0;
    /// Change configuration incrementally (set or reset individual keys).
    AlterConfigs = 44, V0;
    /// Join, heartbeat and leave a consumer group in one call; the broker
    /// decides membership and assignment and the answer carries the member's
    /// assignment.
    ConsumerGroupHeartbeat = 68, V0;
}

impl ApiKey {
    /// The number on the wire.
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// Whether this build serves the key (it is not reserved).
    pub const fn is_served(self) -> bool {
        self.versions().is_some()
    }

    /// Whether this build encodes and decodes `version` of the key.
    pub fn supports(self, version: u16) -> bool {
        self.versions().is_some_and(|v| v.contains(&version))
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn codes_round_trip_and_are_sorted() {
        for pair in ApiKey::ALL.windows(2) {
            assert!(pair[0].code() < pair[1].code());
        }
        for key in ApiKey::ALL {
            assert_eq!(ApiKey::from_code(key.code()), Some(*key));
        }
    }

    #[test]
    fn served_keys_are_version_zero() {
        let served: Vec<ApiKey> = ApiKey::ALL
            .iter()
            .copied()
            .filter(|k| k.is_served())
            .collect();
        assert_eq!(
            served,
            [
                ApiKey::Produce,
                ApiKey::Fetch,
                ApiKey::ListOffsets,
                ApiKey::Metadata,
                ApiKey::OffsetCommit,
                ApiKey::OffsetFetch,
                ApiKey::FindCoordinator,
                ApiKey::DescribeGroups,
                ApiKey::ListGroups,
                ApiKey::ApiVersions,
                ApiKey::CreateTopics,
                ApiKey::DeleteTopics,
                ApiKey::InitProducerId,
                ApiKey::DescribeConfigs,
                ApiKey::DeleteGroups,
                ApiKey::AlterConfigs,
                ApiKey::ConsumerGroupHeartbeat,
            ]
        );
        for key in served {
            assert!(key.supports(0));
            assert!(!key.supports(1));
        }
    }

    #[test]
    fn group_keys_keep_kafkas_numbers() {
        let expected = [
            (ApiKey::OffsetCommit, 8),
            (ApiKey::OffsetFetch, 9),
            (ApiKey::FindCoordinator, 10),
            (ApiKey::DescribeGroups, 15),
            (ApiKey::ListGroups, 16),
            (ApiKey::DeleteGroups, 42),
            (ApiKey::ConsumerGroupHeartbeat, 68),
        ];
        for (key, code) in expected {
            assert_eq!(key.code(), code, "{}", key.name());
        }
    }

    #[test]
    fn every_key_is_in_protocol_md() {
        let spec = include_str!("../PROTOCOL.md");
        for key in ApiKey::ALL {
            let state = if key.is_served() {
                "0"
            } else {
                "reserved, not yet served"
            };
            let row = format!("| {} | {} | {state} |", key.code(), key.name());
            assert!(spec.contains(&row), "PROTOCOL.md lacks the row {row}");
        }
    }

    proptest! {
        #[test]
        fn unknown_codes_are_none(code in any::<u16>()) {
            let key = ApiKey::from_code(code);
            prop_assert_eq!(key.map_or(code, ApiKey::code), code);
            prop_assert_eq!(key.is_some(), ApiKey::ALL.iter().any(|k| k.code() == code));
        }
    }
}
