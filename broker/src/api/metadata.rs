//! Metadata: this broker, and the topics asked for (all when null).

use std::sync::Arc;

use runnel_protocol::api::metadata::{
    BrokerMetadata, MetadataRequest, MetadataResponse, PartitionMetadata, TopicMetadata,
};
use runnel_protocol::{ErrorCode, NodeId, PartitionId};

use crate::context::BrokerContext;
use crate::error::topic_error;
use crate::topics::Topic;

/// The node id of this (single) broker.
pub const NODE_ID: i32 = 0;

/// Handles a Metadata request.
pub fn handle(ctx: &Arc<BrokerContext>, request: &MetadataRequest) -> MetadataResponse {
    let node = NodeId::new(NODE_ID);
    let brokers = node
        .map(|node_id| BrokerMetadata {
            node_id,
            host: ctx.advertised.ip().to_string(),
            port: ctx.advertised.port(),
        })
        .into_iter()
        .collect();
    let topics = match &request.topics {
        None => ctx
            .topics
            .list()
            .iter()
            .map(|t| describe(t, node))
            .collect(),
        Some(names) => names
            .iter()
            .map(|name| match ctx.topic_or_create(name) {
                Ok(t) => describe(&t, node),
                Err(e) => {
                    let (code, message) = topic_error(&e);
                    TopicMetadata {
                        error_code: code,
                        error_message: Some(message),
                        name: name.clone(),
                        partitions: Vec::new(),
                    }
                }
            })
            .collect(),
    };
    MetadataResponse { brokers, topics }
}

fn describe(topic: &Topic, node: Option<NodeId>) -> TopicMetadata {
    TopicMetadata {
        error_code: ErrorCode::None,
        error_message: None,
        name: topic.name().to_owned(),
        partitions: topic
            .partitions()
            .iter()
            .map(|p| {
                let fenced = p.reader().fenced().is_some();
                PartitionMetadata {
                    partition: PartitionId(p.id()),
                    error_code: if fenced {
                        ErrorCode::StorageError
                    } else {
                        ErrorCode::None
                    },
                    leader: node,
                    replicas: node.into_iter().collect(),
                    isr: node.into_iter().collect(),
                }
            })
            .collect(),
    }
}
