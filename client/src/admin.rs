//! Admin calls on [`Client`]: topics, configuration, offsets, API versions.
//!
//! Calls that take one item (`create_topic`, `delete_topic`, ...) turn the
//! item's error code into [`ClientError::Broker`] naming the item; calls
//! that take many return one result per item, in request order.

use std::collections::BTreeMap;

use runnel_protocol::api::alter_configs::{
    AlterConfigOp, AlterConfigsRequest, AlterConfigsResource, AlterableConfig,
};
use runnel_protocol::api::api_versions::{ApiVersionsRequest, ApiVersionsResponse};
use runnel_protocol::api::create_topics::{
    ConfigEntry, CreatableTopic, CreateTopicsRequest, DEFAULT_PARTITIONS,
};
use runnel_protocol::api::delete_topics::DeleteTopicsRequest;
use runnel_protocol::api::describe_configs::{
    DescribeConfigsEntry, DescribeConfigsRequest, DescribeConfigsResource, ResourceType,
};
use runnel_protocol::api::list_offsets::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic, OffsetSpec,
};
use runnel_protocol::{ApiKey, NodeId, PartitionId};

use crate::client::Client;
use crate::error::{BrokerError, ClientError};
use crate::metadata::TopicInfo;

/// Longest the broker may take to create topics, sent in the request.
const CREATE_TIMEOUT_MS: u32 = 30_000;

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewTopic {
    /// Topic name (`[A-Za-z0-9._-]{1,249}`).
    pub name: String,
    /// Partition count; `None` for the broker's default.
    pub partitions: Option<u32>,
    /// Config overrides by Kafka name (`retention.ms`, ...).
    pub configs: Vec<(String, String)>,
}

impl NewTopic {
    /// A topic with `partitions` partitions (`None`: the broker's default)
    /// and no config overrides.
    pub fn new(name: impl Into<String>, partitions: Option<u32>) -> Self {
        NewTopic {
            name: name.into(),
            partitions,
            configs: Vec::new(),
        }
    }

    /// Adds a config override.
    #[must_use]
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.push((key.into(), value.into()));
        self
    }
}

/// A topic as created (or as it would be, when only validating).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTopic {
    /// Topic name.
    pub name: String,
    /// Its partition count.
    pub partitions: u32,
    /// Its effective configuration, every key.
    pub configs: BTreeMap<String, String>,
}

/// What a configuration belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConfigResource {
    /// A topic, by name.
    Topic(String),
    /// A broker, by node id.
    Broker(NodeId),
}

impl ConfigResource {
    fn wire(&self) -> (ResourceType, String) {
        match self {
            ConfigResource::Topic(name) => (ResourceType::Topic, name.clone()),
            ConfigResource::Broker(node) => (ResourceType::Broker, node.get().to_string()),
        }
    }

    fn describe(&self) -> String {
        match self {
            ConfigResource::Topic(name) => format!("topic {name:?}"),
            ConfigResource::Broker(node) => format!("broker {}", node.get()),
        }
    }
}

/// A change to one config key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// Set the key to a value.
    Set(String, String),
    /// Remove the override: the default applies again.
    Reset(String),
}

/// The offset found in one partition by [`Client::list_offsets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffset {
    /// Partition number.
    pub partition: PartitionId,
    /// The offset; `None` when a lookup by time found no record at or after
    /// the time.
    pub offset: Option<i64>,
    /// For a lookup by time, the timestamp of the record found.
    pub timestamp: Option<i64>,
}

/// `None` for the wire's -1.
fn present(value: i64) -> Option<i64> {
    (value >= 0).then_some(value)
}

impl Client {
    /// The APIs and versions the broker serves.
    pub async fn api_versions(&self) -> Result<ApiVersionsResponse, ClientError> {
        let response = self.call_idempotent(&ApiVersionsRequest).await?;
        BrokerError::check(response.error_code, None)?;
        Ok(response)
    }

    /// Every topic, sorted by name, with partitions and leaders (refreshes
    /// the metadata cache).
    pub async fn list_topics(&self) -> Result<Vec<TopicInfo>, ClientError> {
        let response = self.metadata(None).await?;
        let mut topics: Vec<TopicInfo> = response
            .topics
            .iter()
            .filter(|t| t.error_code.is_ok())
            .map(TopicInfo::from_metadata)
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    /// One topic's partitions and leaders, fresh from the broker.
    pub async fn describe_topic(&self, name: &str) -> Result<TopicInfo, ClientError> {
        Ok(TopicInfo::clone(&*self.refresh_topic(name).await?))
    }

    /// Creates one topic.
    pub async fn create_topic(&self, topic: NewTopic) -> Result<CreatedTopic, ClientError> {
        let name = topic.name.clone();
        let mut results = self.create_topics(vec![topic], false).await?;
        match results.pop() {
            Some(result) => Ok(result?),
            None => Err(missing(self, ApiKey::CreateTopics, &name)),
        }
    }

    /// Creates topics (or, with `validate_only`, checks that they could be
    /// created). One result per topic, in order.
    pub async fn create_topics(
        &self,
        topics: Vec<NewTopic>,
        validate_only: bool,
    ) -> Result<Vec<Result<CreatedTopic, BrokerError>>, ClientError> {
        let request = CreateTopicsRequest {
            topics: topics
                .into_iter()
                .map(|t| CreatableTopic {
                    name: t.name,
                    partitions: t.partitions.unwrap_or(DEFAULT_PARTITIONS),
                    configs: t
                        .configs
                        .into_iter()
                        .map(|(k, v)| ConfigEntry::new(k, v))
                        .collect(),
                })
                .collect(),
            timeout_ms: CREATE_TIMEOUT_MS,
            validate_only,
        };
        let response = self.call(&request).await?;
        let results = response
            .topics
            .into_iter()
            .map(|t| {
                BrokerError::check(t.error_code, t.error_message)
                    .map_err(|e| e.about(format!("topic {:?}", t.name)))?;
                Ok(CreatedTopic {
                    name: t.name,
                    partitions: t.partitions,
                    configs: t.configs.into_iter().map(|c| (c.key, c.value)).collect(),
                })
            })
            .collect();
        Ok(results)
    }

    /// Deletes one topic and all its data.
    pub async fn delete_topic(&self, name: &str) -> Result<(), ClientError> {
        let mut results = self.delete_topics(vec![name.to_owned()]).await?;
        match results.pop() {
            Some((_, result)) => Ok(result?),
            None => Err(missing(self, ApiKey::DeleteTopics, name)),
        }
    }

    /// Deletes topics. One result per name, in order.
    pub async fn delete_topics(
        &self,
        names: Vec<String>,
    ) -> Result<Vec<(String, Result<(), BrokerError>)>, ClientError> {
        for name in &names {
            self.invalidate_topic(name);
        }
        let response = self.call(&DeleteTopicsRequest { names }).await?;
        Ok(response
            .topics
            .into_iter()
            .map(|t| {
                let result = BrokerError::check(t.error_code, t.error_message)
                    .map_err(|e| e.about(format!("topic {:?}", t.name)));
                (t.name, result)
            })
            .collect())
    }

    /// The configuration of a topic or broker: the keys named, or every key
    /// with `None`.
    pub async fn describe_configs(
        &self,
        resource: &ConfigResource,
        keys: Option<Vec<String>>,
    ) -> Result<Vec<DescribeConfigsEntry>, ClientError> {
        let (resource_type, resource_name) = resource.wire();
        let request = DescribeConfigsRequest {
            resources: vec![DescribeConfigsResource {
                resource_type,
                resource_name,
                keys,
            }],
        };
        let mut response = self.call_idempotent(&request).await?;
        let result = response
            .resources
            .pop()
            .ok_or_else(|| missing(self, ApiKey::DescribeConfigs, &resource.describe()))?;
        BrokerError::check(result.error_code, result.error_message)
            .map_err(|e| e.about(resource.describe()))?;
        Ok(result.entries)
    }

    /// Every config key of a topic with its effective value.
    pub async fn describe_topic_config(
        &self,
        topic: &str,
    ) -> Result<Vec<DescribeConfigsEntry>, ClientError> {
        self.describe_configs(&ConfigResource::Topic(topic.to_owned()), None)
            .await
    }

    /// Changes config keys of a topic or broker, all together or not at all
    /// (with `validate_only`, only checks them).
    pub async fn alter_configs(
        &self,
        resource: &ConfigResource,
        changes: Vec<ConfigChange>,
        validate_only: bool,
    ) -> Result<(), ClientError> {
        let (resource_type, resource_name) = resource.wire();
        let ops = changes
            .into_iter()
            .map(|change| match change {
                ConfigChange::Set(key, value) => AlterableConfig {
                    key,
                    op: AlterConfigOp::Set,
                    value: Some(value),
                },
                ConfigChange::Reset(key) => AlterableConfig {
                    key,
                    op: AlterConfigOp::Delete,
                    value: None,
                },
            })
            .collect();
        let request = AlterConfigsRequest {
            resources: vec![AlterConfigsResource {
                resource_type,
                resource_name,
                ops,
            }],
            validate_only,
        };
        let mut response = self.call(&request).await?;
        let result = response
            .resources
            .pop()
            .ok_or_else(|| missing(self, ApiKey::AlterConfigs, &resource.describe()))?;
        BrokerError::check(result.error_code, result.error_message)
            .map_err(|e| e.about(resource.describe()))?;
        Ok(())
    }

    /// Looks up offsets in partitions of `topic`: earliest (log start),
    /// latest (high watermark) or by time. Each partition is asked of its
    /// leader. A partition's error fails the call, naming the partition.
    pub async fn list_offsets(
        &self,
        topic: &str,
        lookups: &[(PartitionId, OffsetSpec)],
    ) -> Result<Vec<PartitionOffset>, ClientError> {
        let info = self.topic(topic).await?;
        let mut by_leader: BTreeMap<Option<i32>, Vec<ListOffsetsPartition>> = BTreeMap::new();
        for &(partition, spec) in lookups {
            let p = info
                .partition(partition)
                .ok_or_else(|| ClientError::UnknownPartition {
                    topic: topic.to_owned(),
                    partition: partition.0,
                    partitions: info.partition_count(),
                })?;
            by_leader
                .entry(p.leader.map(NodeId::get))
                .or_default()
                .push(ListOffsetsPartition { partition, spec });
        }
        let mut found = Vec::with_capacity(lookups.len());
        for (leader, partitions) in by_leader {
            let conn = match leader.and_then(NodeId::new) {
                Some(node) => self.connection_to(node).await?,
                None => self.connection().await?,
            };
            let request = ListOffsetsRequest {
                topics: vec![ListOffsetsTopic {
                    name: topic.to_owned(),
                    partitions,
                }],
            };
            let response = conn.call(&request).await?;
            for t in response.topics {
                for p in t.partitions {
                    if let Err(e) = BrokerError::check(p.error_code, p.error_message) {
                        if crate::error::invalidates_metadata(e.code) {
                            self.invalidate_topic(topic);
                        }
                        return Err(e
                            .about(format!("topic {topic:?} partition {}", p.partition.0))
                            .into());
                    }
                    found.push(PartitionOffset {
                        partition: p.partition,
                        offset: present(p.offset),
                        timestamp: present(p.timestamp),
                    });
                }
            }
        }
        found.sort_by_key(|p| p.partition);
        Ok(found)
    }

    /// [`Client::list_offsets`] for every partition of the topic.
    pub async fn list_topic_offsets(
        &self,
        topic: &str,
        spec: OffsetSpec,
    ) -> Result<Vec<PartitionOffset>, ClientError> {
        let info = self.topic(topic).await?;
        let lookups: Vec<(PartitionId, OffsetSpec)> = info
            .partitions
            .iter()
            .map(|p| (p.partition, spec))
            .collect();
        self.list_offsets(topic, &lookups).await
    }
}

/// The error for a response that lacks the item asked about.
fn missing(client: &Client, api: ApiKey, item: &str) -> ClientError {
    ClientError::Protocol {
        api,
        addr: client.config().bootstrap.clone(),
        reason: format!("no result for {item}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ClientConfig;
    use crate::testing::{FakeBroker, Reply, metadata_for};
    use runnel_protocol::api::alter_configs::{AlterConfigsResponse, AlterConfigsResult};
    use runnel_protocol::api::create_topics::{CreatableTopicResult, CreateTopicsResponse};
    use runnel_protocol::api::delete_topics::{DeletableTopicResult, DeleteTopicsResponse};
    use runnel_protocol::api::describe_configs::{DescribeConfigsResponse, DescribeConfigsResult};
    use runnel_protocol::api::list_offsets::{
        ListOffsetsPartitionResponse, ListOffsetsResponse, ListOffsetsTopicResponse,
    };
    use runnel_protocol::{ErrorCode, Request, Response};

    /// A fake broker with topic `t` (2 partitions) that serves every admin
    /// call from simple rules.
    #[allow(clippy::too_many_lines, reason = "one rule per API, in one place")]
    async fn broker() -> FakeBroker {
        FakeBroker::start(|ctx, request| {
            Reply::Respond(match request {
                Request::Metadata(_) => metadata_for(ctx.local_addr, &[("t", 2)]),
                Request::ApiVersions(_) => {
                    Response::ApiVersions(ApiVersionsResponse::supported(ErrorCode::None))
                }
                Request::CreateTopics(r) => Response::CreateTopics(CreateTopicsResponse {
                    topics: r
                        .topics
                        .into_iter()
                        .map(|t| {
                            if t.name == "t" {
                                CreatableTopicResult {
                                    name: t.name,
                                    error_code: ErrorCode::TopicAlreadyExists,
                                    error_message: Some("topic t already exists".into()),
                                    ..Default::default()
                                }
                            } else {
                                CreatableTopicResult {
                                    name: t.name,
                                    partitions: if t.partitions == 0 { 1 } else { t.partitions },
                                    configs: t.configs,
                                    ..Default::default()
                                }
                            }
                        })
                        .collect(),
                }),
                Request::DeleteTopics(r) => Response::DeleteTopics(DeleteTopicsResponse {
                    topics: r
                        .names
                        .into_iter()
                        .map(|name| DeletableTopicResult {
                            error_code: if name == "t" {
                                ErrorCode::None
                            } else {
                                ErrorCode::UnknownTopicOrPartition
                            },
                            name,
                            error_message: None,
                        })
                        .collect(),
                }),
                Request::DescribeConfigs(r) => Response::DescribeConfigs(DescribeConfigsResponse {
                    resources: r
                        .resources
                        .into_iter()
                        .map(|res| DescribeConfigsResult {
                            resource_type: res.resource_type,
                            resource_name: res.resource_name,
                            entries: vec![DescribeConfigsEntry {
                                name: "retention.ms".into(),
                                value: Some("1000".into()),
                                is_default: false,
                                read_only: false,
                            }],
                            ..Default::default()
                        })
                        .collect(),
                }),
                Request::AlterConfigs(r) => Response::AlterConfigs(AlterConfigsResponse {
                    resources: r
                        .resources
                        .into_iter()
                        .map(|res| AlterConfigsResult {
                            error_code: if res.ops.iter().any(|o| o.key == "bogus") {
                                ErrorCode::InvalidConfig
                            } else {
                                ErrorCode::None
                            },
                            error_message: Some("unknown key bogus".into()),
                            resource_type: res.resource_type,
                            resource_name: res.resource_name,
                        })
                        .collect(),
                }),
                Request::ListOffsets(r) => Response::ListOffsets(ListOffsetsResponse {
                    topics: r
                        .topics
                        .into_iter()
                        .map(|t| ListOffsetsTopicResponse {
                            name: t.name,
                            partitions: t
                                .partitions
                                .into_iter()
                                .map(|p| ListOffsetsPartitionResponse {
                                    partition: p.partition,
                                    error_code: ErrorCode::None,
                                    error_message: None,
                                    timestamp: match p.spec {
                                        OffsetSpec::Timestamp(ts) => ts + 5,
                                        _ => -1,
                                    },
                                    offset: match p.spec {
                                        OffsetSpec::Earliest => 0,
                                        OffsetSpec::Latest => 10 + i64::from(p.partition.0),
                                        OffsetSpec::Timestamp(_) => 7,
                                    },
                                })
                                .collect(),
                        })
                        .collect(),
                }),
                _ => return Reply::Close,
            })
        })
        .await
    }

    async fn client(broker: &FakeBroker) -> Client {
        Client::connect(ClientConfig::new(broker.addr()))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn topics_are_created_listed_and_deleted() {
        let broker = broker().await;
        let client = client(&broker).await;
        let created = client
            .create_topic(NewTopic::new("new", Some(4)).config("retention.ms", "5"))
            .await
            .unwrap();
        assert_eq!(created.partitions, 4);
        assert_eq!(created.configs["retention.ms"], "5");
        let err = client
            .create_topic(NewTopic::new("t", None))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "topic \"t\": TOPIC_ALREADY_EXISTS: topic t already exists"
        );
        let topics = client.list_topics().await.unwrap();
        assert_eq!(topics.len(), 1);
        assert_eq!(topics[0].partition_count(), 2);
        assert_eq!(client.describe_topic("t").await.unwrap().name, "t");
        client.delete_topic("t").await.unwrap();
        let err = client.delete_topic("x").await.unwrap_err();
        assert_eq!(err.error_code(), ErrorCode::UnknownTopicOrPartition);
    }

    #[tokio::test]
    async fn configs_are_described_and_altered() {
        let broker = broker().await;
        let client = client(&broker).await;
        let entries = client.describe_topic_config("t").await.unwrap();
        assert_eq!(entries[0].value.as_deref(), Some("1000"));
        client
            .alter_configs(
                &ConfigResource::Topic("t".into()),
                vec![
                    ConfigChange::Set("retention.ms".into(), "5".into()),
                    ConfigChange::Reset("segment.bytes".into()),
                ],
                false,
            )
            .await
            .unwrap();
        let err = client
            .alter_configs(
                &ConfigResource::Broker(NodeId::new(0).unwrap()),
                vec![ConfigChange::Set("bogus".into(), "1".into())],
                true,
            )
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "broker 0: INVALID_CONFIG: unknown key bogus"
        );
    }

    #[tokio::test]
    async fn offsets_are_listed_per_partition() {
        let broker = broker().await;
        let client = client(&broker).await;
        let latest = client
            .list_topic_offsets("t", OffsetSpec::Latest)
            .await
            .unwrap();
        assert_eq!(
            latest.iter().map(|p| p.offset).collect::<Vec<_>>(),
            [Some(10), Some(11)]
        );
        assert_eq!(latest[0].timestamp, None);
        let by_time = client
            .list_offsets("t", &[(PartitionId(1), OffsetSpec::Timestamp(100))])
            .await
            .unwrap();
        assert_eq!(by_time[0].offset, Some(7));
        assert_eq!(by_time[0].timestamp, Some(105));
        let err = client
            .list_offsets("t", &[(PartitionId(5), OffsetSpec::Earliest)])
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            ClientError::UnknownPartition { partitions: 2, .. }
        ));
        let versions = client.api_versions().await.unwrap();
        assert!(versions.range(ApiKey::Produce).is_some());
    }
}
