//! Internal events that both log and count, one function or struct each, so
//! a log line and its metric cannot drift apart. Events a client can
//! provoke at will (rejected connections, failed requests) log through a
//! [`LogLimiter`]: at most [`LOG_BURST`] lines per kind per
//! [`LOG_INTERVAL`], then silence until the interval ends; the next line
//! says how many were suppressed. Their counters count every event.

use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use metrics::{counter, gauge};
use runnel_protocol::{ApiKey, ErrorCode, Response};

use super::{handles, names};
use crate::log_limit::{LogLimiter, Verdict};
use crate::topics::LoadReport;

/// Lines per kind per interval.
pub const LOG_BURST: u32 = 5;
/// The rate limiter's interval.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Failed requests, by API and error code.
static REQUEST_ERRORS: LazyLock<LogLimiter<(Option<ApiKey>, ErrorCode)>> =
    LazyLock::new(|| LogLimiter::new(LOG_BURST, LOG_INTERVAL));
/// Refused or failed connections, by reason.
static CONNECTION_ERRORS: LazyLock<LogLimiter<&'static str>> =
    LazyLock::new(|| LogLimiter::new(LOG_BURST, LOG_INTERVAL));

/// The first error a response reports, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseError<'a> {
    /// The code.
    pub code: ErrorCode,
    /// The message the client was sent, if any.
    pub message: Option<&'a str>,
    /// The topic or config resource it concerns, if any.
    pub resource: Option<&'a str>,
    /// The partition it concerns, if any.
    pub partition: Option<u32>,
}

impl<'a> ResponseError<'a> {
    fn new(code: ErrorCode, message: Option<&'a str>, resource: Option<&'a str>) -> Option<Self> {
        (!code.is_ok()).then_some(ResponseError {
            code,
            message,
            resource,
            partition: None,
        })
    }

    fn at(mut self, partition: u32) -> Self {
        self.partition = Some(partition);
        self
    }
}

/// The first error in `response`: its top-level code, else the first failed
/// topic, resource or partition in response order. `None` when everything
/// succeeded.
pub fn first_error(response: &Response) -> Option<ResponseError<'_>> {
    match response {
        Response::ApiVersions(r) => ResponseError::new(r.error_code, None, None),
        Response::Metadata(r) => r.topics.iter().find_map(|t| {
            ResponseError::new(t.error_code, t.error_message.as_deref(), Some(&t.name)).or_else(
                || {
                    t.partitions.iter().find_map(|p| {
                        ResponseError::new(p.error_code, None, Some(&t.name))
                            .map(|e| e.at(p.partition.0))
                    })
                },
            )
        }),
        Response::CreateTopics(r) => r.topics.iter().find_map(|t| {
            ResponseError::new(t.error_code, t.error_message.as_deref(), Some(&t.name))
        }),
        Response::DeleteTopics(r) => r.topics.iter().find_map(|t| {
            ResponseError::new(t.error_code, t.error_message.as_deref(), Some(&t.name))
        }),
        Response::DescribeConfigs(r) => r.resources.iter().find_map(|c| {
            ResponseError::new(
                c.error_code,
                c.error_message.as_deref(),
                Some(&c.resource_name),
            )
        }),
        Response::AlterConfigs(r) => r.resources.iter().find_map(|c| {
            ResponseError::new(
                c.error_code,
                c.error_message.as_deref(),
                Some(&c.resource_name),
            )
        }),
        Response::Produce(r) => r.topics.iter().find_map(|t| {
            t.partitions.iter().find_map(|p| {
                ResponseError::new(p.error_code, p.error_message.as_deref(), Some(&t.name))
                    .map(|e| e.at(p.partition.0))
            })
        }),
        Response::Fetch(r) => ResponseError::new(r.error_code, None, None).or_else(|| {
            r.topics.iter().find_map(|t| {
                t.partitions.iter().find_map(|p| {
                    ResponseError::new(p.error_code, p.error_message.as_deref(), Some(&t.name))
                        .map(|e| e.at(p.partition.0))
                })
            })
        }),
        Response::ListOffsets(r) => r.topics.iter().find_map(|t| {
            t.partitions.iter().find_map(|p| {
                ResponseError::new(p.error_code, p.error_message.as_deref(), Some(&t.name))
                    .map(|e| e.at(p.partition.0))
            })
        }),
        Response::InitProducerId(r) => {
            ResponseError::new(r.error_code, r.error_message.as_deref(), None)
        }
        Response::FindCoordinator(r) => r.coordinators.iter().find_map(|c| {
            ResponseError::new(c.error_code, c.error_message.as_deref(), Some(&c.key))
        }),
        Response::ConsumerGroupHeartbeat(r) => {
            ResponseError::new(r.error_code, r.error_message.as_deref(), None)
        }
        Response::OffsetCommit(r) => r.topics.iter().find_map(|t| {
            t.partitions.iter().find_map(|p| {
                ResponseError::new(p.error_code, p.error_message.as_deref(), Some(&t.name))
                    .map(|e| e.at(p.partition.0))
            })
        }),
        Response::OffsetFetch(r) => {
            ResponseError::new(r.error_code, r.error_message.as_deref(), None).or_else(|| {
                r.topics.iter().find_map(|t| {
                    t.partitions.iter().find_map(|p| {
                        ResponseError::new(p.error_code, p.error_message.as_deref(), Some(&t.name))
                            .map(|e| e.at(p.partition.0))
                    })
                })
            })
        }
        Response::ListGroups(_) => None,
        Response::DescribeGroups(r) => r.groups.iter().find_map(|g| {
            ResponseError::new(g.error_code, g.error_message.as_deref(), Some(&g.group_id))
        }),
        Response::DeleteGroups(r) => r.results.iter().find_map(|g| {
            ResponseError::new(g.error_code, g.error_message.as_deref(), Some(&g.group_id))
        }),
        Response::Error(r) => ResponseError::new(r.error_code, Some(&r.error_message), None),
    }
}

/// Whether a code reports a fault of the broker (logged as a warning)
/// rather than of the request (logged as information).
fn is_broker_fault(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::UnknownServerError
            | ErrorCode::StorageError
            | ErrorCode::StorageFull
            | ErrorCode::CorruptData
            | ErrorCode::RequestTimedOut
    )
}

/// A request completed: counts it by API and outcome, and logs its first
/// error (rate-limited per API and code). Called for every answered
/// request, and by produce for acks=0 requests, which get no answer.
pub fn request_outcome(api: Option<ApiKey>, response: &Response) {
    let handles = handles::api(api);
    let Some(error) = first_error(response) else {
        handles.succeeded();
        return;
    };
    counter!(names::REQUESTS.name, "api" => handles.label.clone(), "error" => error.code.name())
        .increment(1);
    let Verdict::Log { suppressed } = REQUEST_ERRORS.check((api, error.code), Instant::now())
    else {
        return;
    };
    let api = handles.label.as_str();
    let code = error.code.name();
    let message = error.message.unwrap_or_else(|| error.code.message());
    let resource = error.resource.unwrap_or("");
    let partition = error.partition.map_or(-1, i64::from);
    if is_broker_fault(error.code) {
        tracing::warn!(
            api,
            error = code,
            resource,
            partition,
            suppressed,
            "request failed: {message}"
        );
    } else {
        tracing::info!(
            api,
            error = code,
            resource,
            partition,
            suppressed,
            "request rejected: {message}"
        );
    }
}

/// Why a connection was refused right after accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// `max_connections` are open.
    MaxConnections,
}

impl RejectReason {
    /// The `reason` label.
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectReason::MaxConnections => "max_connections",
        }
    }
}

/// A connection was refused.
pub fn connection_rejected(peer: SocketAddr, reason: RejectReason, max_connections: u32) {
    counter!(names::CONNECTIONS_REJECTED.name, "reason" => reason.as_str()).increment(1);
    if let Verdict::Log { suppressed } = CONNECTION_ERRORS.check(reason.as_str(), Instant::now()) {
        tracing::warn!(
            %peer,
            reason = reason.as_str(),
            max_connections,
            suppressed,
            "refusing a connection: max_connections are open"
        );
    }
}

/// The `reason` labels of `runnel_connection_errors_total`.
pub const CONNECTION_ERROR_REASONS: &[&str] = &[
    "frame_too_large",
    "truncated_frame",
    "malformed_header",
    "read_error",
    "write_error",
];

/// Registers every connection counter with each of its reasons at zero, so
/// they are scraped before the first event.
pub(crate) fn register_connection_counters() {
    counter!(names::CONNECTIONS_REJECTED.name, "reason" => RejectReason::MaxConnections.as_str())
        .absolute(0);
    for reason in CONNECTION_ERROR_REASONS {
        counter!(names::CONNECTION_ERRORS.name, "reason" => *reason).absolute(0);
    }
}

/// The broker closed a connection because of an error. `reason` is one of
/// [`CONNECTION_ERROR_REASONS`] (the `reason` label).
pub fn connection_failed(peer: SocketAddr, reason: &'static str, error: &dyn std::fmt::Display) {
    debug_assert!(CONNECTION_ERROR_REASONS.contains(&reason), "{reason}");
    counter!(names::CONNECTION_ERRORS.name, "reason" => reason).increment(1);
    if let Verdict::Log { suppressed } = CONNECTION_ERRORS.check(reason, Instant::now()) {
        tracing::warn!(%peer, reason, suppressed, "closing connection: {error}");
    }
}

/// Startup recovery finished: logs the summary and records its duration.
pub fn recovery_finished(
    data_dir: &std::path::Path,
    clean_shutdown: bool,
    report: &LoadReport,
    elapsed: Duration,
) {
    gauge!(names::RECOVERY_DURATION.name).set(elapsed.as_secs_f64());
    tracing::info!(
        data_dir = %data_dir.display(),
        clean_shutdown,
        topics = report.topics,
        partitions = report.partitions,
        recovered_partitions = report.recovered_partitions,
        truncated_bytes = report.truncated_bytes,
        elapsed_ms = elapsed.as_millis(),
        "recovery complete"
    );
}

/// A partition log was opened (recovery or topic creation).
pub fn partition_opened() {
    counter!(names::PARTITIONS_OPENED.name).increment(1);
}

#[cfg(test)]
mod tests {
    use runnel_protocol::PartitionId;
    use runnel_protocol::api::error_response::ErrorResponse;
    use runnel_protocol::api::fetch::{FetchPartitionResponse, FetchResponse, FetchTopicResponse};
    use runnel_protocol::api::produce::{
        ProducePartitionResponse, ProduceResponse, ProduceTopicResponse,
    };

    use super::*;

    fn produce(codes: &[(u32, ErrorCode)]) -> Response {
        Response::Produce(ProduceResponse {
            throttle_time_ms: 0,
            topics: vec![ProduceTopicResponse {
                name: "t".to_owned(),
                partitions: codes
                    .iter()
                    .map(|&(p, code)| {
                        if code.is_ok() {
                            ProducePartitionResponse {
                                partition: PartitionId(p),
                                error_code: code,
                                error_message: None,
                                base_offset: 0,
                                log_append_time_ms: -1,
                                log_start_offset: 0,
                            }
                        } else {
                            ProducePartitionResponse::error(
                                PartitionId(p),
                                code,
                                Some("why".to_owned()),
                            )
                        }
                    })
                    .collect(),
            }],
        })
    }

    #[test]
    fn a_successful_response_has_no_error() {
        assert_eq!(
            first_error(&produce(&[(0, ErrorCode::None), (1, ErrorCode::None)])),
            None
        );
    }

    #[test]
    fn the_first_failed_partition_is_reported_with_its_place() {
        let r = produce(&[
            (0, ErrorCode::None),
            (1, ErrorCode::MessageTooLarge),
            (2, ErrorCode::StorageError),
        ]);
        assert_eq!(
            first_error(&r),
            Some(ResponseError {
                code: ErrorCode::MessageTooLarge,
                message: Some("why"),
                resource: Some("t"),
                partition: Some(1),
            })
        );
    }

    #[test]
    fn a_top_level_fetch_error_wins_over_partition_errors() {
        let r = Response::Fetch(FetchResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::InvalidRequest,
            topics: vec![FetchTopicResponse {
                name: "t".to_owned(),
                partitions: vec![FetchPartitionResponse {
                    partition: PartitionId(0),
                    error_code: ErrorCode::OffsetOutOfRange,
                    error_message: None,
                    high_watermark: 0,
                    log_start_offset: 0,
                    log_end_offset: 0,
                    records: bytes::Bytes::new(),
                }],
            }],
        });
        assert_eq!(
            first_error(&r).map(|e| e.code),
            Some(ErrorCode::InvalidRequest)
        );
    }

    #[test]
    fn the_error_response_carries_its_message() {
        let r = Response::Error(ErrorResponse::new(
            ErrorCode::UnsupportedVersion,
            "no such version".to_owned(),
        ));
        let e = first_error(&r).unwrap();
        assert_eq!(e.code, ErrorCode::UnsupportedVersion);
        assert_eq!(e.message, Some("no such version"));
    }

    #[test]
    fn storage_faults_are_the_brokers_and_bad_requests_are_not() {
        assert!(is_broker_fault(ErrorCode::StorageError));
        assert!(!is_broker_fault(ErrorCode::UnknownTopicOrPartition));
        assert!(!is_broker_fault(ErrorCode::CorruptMessage));
    }
}
