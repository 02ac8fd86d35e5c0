//! Metadata (key 3, version 0): brokers, topics and partitions.
//!
//! ```text
//! MetadataRequest
//!   topics               nullable array of string   null: every topic; empty: none (brokers only)
//!
//! MetadataResponse
//!   brokers              array of
//!     node_id            i32      never negative
//!     host               string
//!     port               u16
//!   topics               array of
//!     error_code         i16      UNKNOWN_TOPIC_OR_PARTITION for a name asked for that does not exist
//!     error_message      nullable string
//!     name               string
//!     partitions         array of
//!       partition        u32
//!       error_code       i16
//!       leader           i32      node id of the leader; -1 if none
//!       replicas         array of i32   node ids holding a copy, leader first
//!       isr              array of i32   replicas in sync with the leader
//! ```
//!
//! A single broker reports itself as the only broker, the leader of every
//! partition, and the only replica and in-sync replica. The replica lists are
//! there so that replication adds no new version.

use crate::api::ApiRequest;
use crate::api_key::ApiKey;
use crate::error_code::ErrorCode;
use crate::ids::{NodeId, PartitionId};
use crate::reader::{Decode, DecodeError, Reader};
use crate::writer::{Encode, EncodeError, Writer};

/// Smallest encoded topic name.
const MIN_NAME_BYTES: usize = 2;
/// Smallest encoded [`BrokerMetadata`].
const MIN_BROKER_BYTES: usize = 4 + 2 + 2;
/// Smallest encoded [`TopicMetadata`].
const MIN_TOPIC_BYTES: usize = 2 + 2 + 2 + 4;
/// Smallest encoded [`PartitionMetadata`].
const MIN_PARTITION_BYTES: usize = 4 + 2 + 4 + 4 + 4;
/// Encoded node id.
const NODE_ID_BYTES: usize = 4;

/// Ask for brokers and topics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetadataRequest {
    /// Topics to describe: `None` for every topic, an empty list for none.
    pub topics: Option<Vec<String>>,
}

/// The cluster as this broker knows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetadataResponse {
    /// Every broker, so clients can connect to partition leaders.
    pub brokers: Vec<BrokerMetadata>,
    /// The topics asked for (or all of them).
    pub topics: Vec<TopicMetadata>,
}

/// Where to reach one broker.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BrokerMetadata {
    /// The broker's node id, referenced by partition leaders and replicas.
    pub node_id: NodeId,
    /// Host name or address clients should connect to.
    pub host: String,
    /// Port of the native protocol listener.
    pub port: u16,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicMetadata {
    /// `NONE`, or why the topic cannot be described.
    pub error_code: ErrorCode,
    /// Details of the error; null on success.
    pub error_message: Option<String>,
    /// Topic name.
    pub name: String,
    /// Its partitions, in partition order.
    pub partitions: Vec<PartitionMetadata>,
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionMetadata {
    /// Partition number.
    pub partition: PartitionId,
    /// `NONE`, or why the partition is unavailable (e.g. `LEADER_NOT_AVAILABLE`).
    pub error_code: ErrorCode,
    /// The broker that accepts produce and fetch for the partition; `None`
    /// (-1 on the wire) while there is none.
    pub leader: Option<NodeId>,
    /// Brokers holding a copy, leader first.
    pub replicas: Vec<NodeId>,
    /// Replicas in sync with the leader.
    pub isr: Vec<NodeId>,
}

impl ApiRequest for MetadataRequest {
    const KEY: ApiKey = ApiKey::Metadata;
    const VERSION: u16 = 0;
    type Response = MetadataResponse;
}

impl Encode for MetadataRequest {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.nullable_array(self.topics.as_deref(), |w, name| w.string(name))
    }
}

impl Decode for MetadataRequest {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(MetadataRequest {
            topics: r.nullable_array("topics", MIN_NAME_BYTES, |r| r.string("topic name"))?,
        })
    }
}

impl Encode for MetadataResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.array_of(&self.brokers)?;
        w.array_of(&self.topics)
    }
}

impl Decode for MetadataResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(MetadataResponse {
            brokers: r.array_of("brokers", MIN_BROKER_BYTES)?,
            topics: r.array_of("topics", MIN_TOPIC_BYTES)?,
        })
    }
}

impl Encode for BrokerMetadata {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        self.node_id.encode(w);
        w.string(&self.host)?;
        w.u16(self.port);
        Ok(())
    }
}

impl Decode for BrokerMetadata {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(BrokerMetadata {
            node_id: NodeId::decode(r, "node_id")?,
            host: r.string("host")?,
            port: r.u16("port")?,
        })
    }
}

impl Encode for TopicMetadata {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.i16(self.error_code.code());
        w.nullable_string(self.error_message.as_deref())?;
        w.string(&self.name)?;
        w.array_of(&self.partitions)
    }
}

impl Decode for TopicMetadata {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(TopicMetadata {
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            error_message: r.nullable_string("error_message")?,
            name: r.string("topic name")?,
            partitions: r.array_of("partitions", MIN_PARTITION_BYTES)?,
        })
    }
}

impl Encode for PartitionMetadata {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        self.partition.encode(w);
        w.i16(self.error_code.code());
        NodeId::encode_optional(self.leader, w);
        w.array(&self.replicas, |w, id| {
            id.encode(w);
            Ok(())
        })?;
        w.array(&self.isr, |w, id| {
            id.encode(w);
            Ok(())
        })
    }
}

impl Decode for PartitionMetadata {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(PartitionMetadata {
            partition: PartitionId::decode(r)?,
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            leader: NodeId::decode_optional(r, "leader")?,
            replicas: r.array("replicas", NODE_ID_BYTES, |r| NodeId::decode(r, "replica"))?,
            isr: r.array("isr", NODE_ID_BYTES, |r| NodeId::decode(r, "isr"))?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::testing::*;
    use crate::reader::CodeKind;
    use proptest::prelude::*;

    pub(crate) fn arb_request() -> impl Strategy<Value = MetadataRequest> {
        proptest::option::of(arb_vec(arb_string())).prop_map(|topics| MetadataRequest { topics })
    }

    pub(crate) fn arb_response() -> impl Strategy<Value = MetadataResponse> {
        let broker =
            (arb_node_id(), arb_string(), any::<u16>()).prop_map(|(node_id, host, port)| {
                BrokerMetadata {
                    node_id,
                    host,
                    port,
                }
            });
        let partition = (
            arb_partition(),
            arb_error_code(),
            proptest::option::of(arb_node_id()),
            arb_vec(arb_node_id()),
            arb_vec(arb_node_id()),
        )
            .prop_map(
                |(partition, error_code, leader, replicas, isr)| PartitionMetadata {
                    partition,
                    error_code,
                    leader,
                    replicas,
                    isr,
                },
            );
        let topic = (
            arb_error_code(),
            arb_nullable_string(),
            arb_string(),
            arb_vec(partition),
        )
            .prop_map(
                |(error_code, error_message, name, partitions)| TopicMetadata {
                    error_code,
                    error_message,
                    name,
                    partitions,
                },
            );
        (arb_vec(broker), arb_vec(topic))
            .prop_map(|(brokers, topics)| MetadataResponse { brokers, topics })
    }

    fn node(id: i32) -> NodeId {
        NodeId::new(id).unwrap()
    }

    pub(crate) fn sample_request() -> MetadataRequest {
        MetadataRequest {
            topics: Some(vec!["orders".into(), "missing".into()]),
        }
    }

    pub(crate) fn sample_response() -> MetadataResponse {
        MetadataResponse {
            brokers: vec![BrokerMetadata {
                node_id: node(0),
                host: "127.0.0.1".into(),
                port: 9170,
            }],
            topics: vec![
                TopicMetadata {
                    error_code: ErrorCode::None,
                    error_message: None,
                    name: "orders".into(),
                    partitions: vec![
                        PartitionMetadata {
                            partition: PartitionId(0),
                            error_code: ErrorCode::None,
                            leader: Some(node(0)),
                            replicas: vec![node(0)],
                            isr: vec![node(0)],
                        },
                        PartitionMetadata {
                            partition: PartitionId(1),
                            error_code: ErrorCode::LeaderNotAvailable,
                            leader: None,
                            replicas: vec![node(0)],
                            isr: vec![],
                        },
                    ],
                },
                TopicMetadata {
                    error_code: ErrorCode::UnknownTopicOrPartition,
                    error_message: Some("no topic named missing".into()),
                    name: "missing".into(),
                    partitions: vec![],
                },
            ],
        }
    }

    #[test]
    fn null_and_empty_topic_lists_differ() {
        let all = round_trip(&MetadataRequest { topics: None });
        let none = round_trip(&MetadataRequest {
            topics: Some(vec![]),
        });
        assert_eq!(&all[..], &[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(&none[..], &[0, 0, 0, 0]);
    }

    #[test]
    fn request_layout_matches_the_doc() {
        let bytes = round_trip(&sample_request());
        let mut expected = vec![0, 0, 0, 2, 0, 6];
        expected.extend_from_slice(b"orders");
        expected.extend_from_slice(&[0, 7]);
        expected.extend_from_slice(b"missing");
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
    fn negative_node_ids_are_rejected() {
        // brokers: 1, node_id -5
        let bytes = vec![0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfb, 0, 0, 0, 1, 0, 0, 0, 0];
        assert_unknown_code::<MetadataResponse>(bytes, CodeKind::NodeId, -5);
    }

    #[test]
    fn missing_leader_is_minus_one() {
        let bytes = sample_response().encode_body().unwrap();
        let back = MetadataResponse::decode_body(bytes).unwrap();
        assert_eq!(back.topics[0].partitions[1].leader, None);
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
            decode_arbitrary::<MetadataRequest>(bytes.clone())?;
            decode_arbitrary::<MetadataResponse>(bytes)?;
        }

        #[test]
        fn corrupted_encodings_never_panic(req in arb_request(), resp in arb_response(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            decode_corrupted(&req, at, byte)?;
            decode_corrupted(&resp, at, byte)?;
        }
    }
}
