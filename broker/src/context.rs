//! State every request handler shares.

use std::net::SocketAddr;
use std::sync::Arc;

use runnel_config::BrokerConfig;
use tokio_util::sync::CancellationToken;

use crate::group::GroupCoordinator;
use crate::producer_ids::ProducerIds;
use crate::topics::{Topic, TopicError, TopicRegistry};

/// The broker's shared state.
#[derive(Debug)]
pub struct BrokerContext {
    /// The effective configuration.
    pub config: BrokerConfig,
    /// Topics and partitions.
    pub topics: TopicRegistry,
    /// The address clients reach this broker at (returned by Metadata).
    pub advertised: SocketAddr,
    /// Idempotent producer ids.
    pub producer_ids: ProducerIds,
    /// The group coordinator: membership, assignment, committed offsets.
    pub groups: Arc<GroupCoordinator>,
    /// Cancelled when shutdown starts: long-polls answer at once.
    pub shutting_down: CancellationToken,
}

impl BrokerContext {
    /// The topic `name`, created with the defaults if it does not exist and
    /// `auto_create_topics` is on.
    pub fn topic_or_create(&self, name: &str) -> Result<Arc<Topic>, TopicError> {
        if let Some(t) = self.topics.get(name) {
            return Ok(t);
        }
        if !self.config.auto_create_topics {
            return Err(TopicError::Unknown(name.to_owned()));
        }
        match self.topics.create(
            name,
            self.config.default_partitions,
            &[],
            crate::clock::now_ms(),
        ) {
            Ok(t) => Ok(t),
            // Another request created it first.
            Err(TopicError::AlreadyExists(_)) => self
                .topics
                .get(name)
                .ok_or_else(|| TopicError::Unknown(name.to_owned())),
            Err(e) => Err(e),
        }
    }
}
