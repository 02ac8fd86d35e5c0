//! Topic administration: CreateTopics, DeleteTopics, DescribeConfigs,
//! AlterConfigs.

use std::sync::Arc;

use runnel_config::{KEYS, TopicKey};
use runnel_protocol::ErrorCode;
use runnel_protocol::api::alter_configs::{
    AlterConfigOp, AlterConfigsRequest, AlterConfigsResponse, AlterConfigsResult,
};
use runnel_protocol::api::create_topics::{
    ConfigEntry, CreatableTopicResult, CreateTopicsRequest, CreateTopicsResponse,
};
use runnel_protocol::api::delete_topics::{
    DeletableTopicResult, DeleteTopicsRequest, DeleteTopicsResponse,
};
use runnel_protocol::api::describe_configs::{
    DescribeConfigsEntry, DescribeConfigsRequest, DescribeConfigsResponse, DescribeConfigsResult,
    ResourceType,
};

use crate::clock::now_ms;
use crate::context::BrokerContext;
use crate::error::topic_error;
use crate::topics::TopicError;

/// Handles CreateTopics: each topic independently.
pub fn create_topics(
    ctx: &Arc<BrokerContext>,
    request: &CreateTopicsRequest,
) -> CreateTopicsResponse {
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let partitions = if t.partitions == 0 {
                ctx.config.default_partitions
            } else {
                t.partitions
            };
            let configs: Vec<(String, String)> = t
                .configs
                .iter()
                .map(|c| (c.key.clone(), c.value.clone()))
                .collect();
            let result = if request.validate_only {
                ctx.topics
                    .check_create(&t.name, partitions, &configs)
                    .map(|(c, _)| c)
            } else {
                ctx.topics
                    .create(&t.name, partitions, &configs, now_ms())
                    .map(|topic| topic.config())
            };
            match result {
                Ok(config) => CreatableTopicResult {
                    name: t.name.clone(),
                    error_code: ErrorCode::None,
                    error_message: None,
                    partitions,
                    configs: config
                        .to_pairs()
                        .into_iter()
                        .map(|(k, v)| ConfigEntry::new(k, v))
                        .collect(),
                },
                Err(e) => {
                    let (code, message) = topic_error(&e);
                    CreatableTopicResult {
                        name: t.name.clone(),
                        error_code: code,
                        error_message: Some(message),
                        partitions: 0,
                        configs: Vec::new(),
                    }
                }
            }
        })
        .collect();
    CreateTopicsResponse { topics }
}

/// Handles DeleteTopics.
pub fn delete_topics(
    ctx: &Arc<BrokerContext>,
    request: &DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let topics = request
        .names
        .iter()
        .map(|name| {
            let (error_code, error_message) = match ctx.topics.delete(name, now_ms()) {
                Ok(()) => (ErrorCode::None, None),
                Err(e) => {
                    let (code, msg) = topic_error(&e);
                    (code, Some(msg))
                }
            };
            DeletableTopicResult {
                name: name.clone(),
                error_code,
                error_message,
            }
        })
        .collect();
    DeleteTopicsResponse { topics }
}

/// Handles DescribeConfigs for topics; broker resources are not described
/// over the wire (`runnel-broker --print-config` shows them).
pub fn describe_configs(
    ctx: &Arc<BrokerContext>,
    request: &DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let resources = request
        .resources
        .iter()
        .map(|r| {
            let mut result = DescribeConfigsResult {
                error_code: ErrorCode::None,
                error_message: None,
                resource_type: r.resource_type,
                resource_name: r.resource_name.clone(),
                entries: Vec::new(),
            };
            if r.resource_type != ResourceType::Topic {
                result.error_code = ErrorCode::InvalidRequest;
                result.error_message = Some(
                    "broker configs are not served over the wire; run `runnel-broker --print-config`"
                        .to_owned(),
                );
                return result;
            }
            let Some(topic) = ctx.topics.get(&r.resource_name) else {
                let (code, msg) = topic_error(&TopicError::Unknown(r.resource_name.clone()));
                result.error_code = code;
                result.error_message = Some(msg);
                return result;
            };
            let config = topic.config();
            let overrides = topic.overrides();
            for key in r.keys.as_ref().map_or_else(
                || KEYS.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>(),
                Clone::clone,
            ) {
                match key.parse::<TopicKey>() {
                    Ok(k) => result.entries.push(DescribeConfigsEntry {
                        name: key.clone(),
                        value: Some(config.value(k)),
                        is_default: !overrides.contains(k),
                        read_only: false,
                    }),
                    Err(e) => {
                        result.error_code = ErrorCode::InvalidConfig;
                        result.error_message = Some(crate::error::error_chain(&e));
                    }
                }
            }
            result
        })
        .collect();
    DescribeConfigsResponse { resources }
}

/// Handles AlterConfigs (incremental: set or reset individual keys).
pub fn alter_configs(
    ctx: &Arc<BrokerContext>,
    request: &AlterConfigsRequest,
) -> AlterConfigsResponse {
    let resources = request
        .resources
        .iter()
        .map(|r| {
            let mut result = AlterConfigsResult {
                error_code: ErrorCode::None,
                error_message: None,
                resource_type: r.resource_type,
                resource_name: r.resource_name.clone(),
            };
            if r.resource_type != ResourceType::Topic {
                result.error_code = ErrorCode::InvalidRequest;
                result.error_message =
                    Some("broker configs change only in the config file, at restart".to_owned());
                return result;
            }
            let mut changes = Vec::with_capacity(r.ops.len());
            for op in &r.ops {
                match (op.op, &op.value) {
                    (AlterConfigOp::Set, Some(v)) => {
                        changes.push((op.key.clone(), Some(v.clone())));
                    }
                    (AlterConfigOp::Set, None) => {
                        result.error_code = ErrorCode::InvalidConfig;
                        result.error_message = Some(format!("no value given to set {:?}", op.key));
                        return result;
                    }
                    (AlterConfigOp::Delete, _) => changes.push((op.key.clone(), None)),
                }
            }
            if let Err(e) = ctx
                .topics
                .alter(&r.resource_name, &changes, request.validate_only)
            {
                let (code, msg) = topic_error(&e);
                result.error_code = code;
                result.error_message = Some(msg);
            }
            result
        })
        .collect();
    AlterConfigsResponse { resources }
}
