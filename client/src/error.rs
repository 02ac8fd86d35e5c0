//! [`ClientError`]: everything a call to a broker can fail with.
//!
//! Messages are written to be printed as they are, one line, by a CLI:
//! `cannot reach broker at 127.0.0.1:9170: connection refused`,
//! `topic "orders": TOPIC_ALREADY_EXISTS: topic orders already exists`.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use runnel_protocol::frame::FrameError;
use runnel_protocol::{ApiKey, DecodeError, EncodeError, ErrorCode};

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The broker's address did not resolve.
    #[error("cannot resolve broker address {addr}: {reason}")]
    Resolve {
        /// The address as given (`host:port`).
        addr: String,
        /// A short description of the failure.
        reason: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// The TCP connection could not be established.
    #[error("cannot reach broker at {addr}: {}", io_reason(source))]
    Connect {
        /// The address as given (`host:port`).
        addr: String,
        /// The socket error (refused, timed out, unreachable, ...).
        #[source]
        source: io::Error,
    },
    /// The connection attempt took longer than the connect timeout.
    #[error("cannot reach broker at {addr}: connection timed out after {} ms", timeout.as_millis())]
    ConnectTimeout {
        /// The address as given.
        addr: String,
        /// The connect timeout in force.
        timeout: Duration,
    },
    /// The connection broke (or was closed) before the response arrived.
    /// The request may or may not have been carried out.
    #[error("connection to broker at {addr} lost: {reason}")]
    Disconnected {
        /// The broker's address.
        addr: String,
        /// Why the connection ended; shared by every request it failed.
        #[source]
        reason: Arc<DisconnectReason>,
    },
    /// No response arrived within the request timeout. The connection is
    /// closed, since every response queued behind this one is stuck too.
    #[error("{api} request to broker at {addr} timed out after {} ms", timeout.as_millis())]
    Timeout {
        /// The API called.
        api: ApiKey,
        /// The broker's address.
        addr: String,
        /// The timeout in force.
        timeout: Duration,
    },
    /// The broker answered with an error code.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The request could not be encoded (a string or blob over its limit).
    #[error("cannot encode {api} request")]
    Encode {
        /// The API called.
        api: ApiKey,
        /// What was too large.
        #[source]
        source: EncodeError,
    },
    /// The response did not decode as the API's response (nor as an error
    /// response).
    #[error("malformed {api} response from broker at {addr}")]
    Decode {
        /// The API called.
        api: ApiKey,
        /// The broker's address.
        addr: String,
        /// What was wrong.
        #[source]
        source: DecodeError,
    },
    /// A partition number outside the topic's partitions.
    #[error("topic {topic:?} has {partitions} partitions; partition {partition} does not exist")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: u32,
        /// How many partitions the topic has.
        partitions: usize,
    },
    /// Metadata names a partition leader whose address is not known.
    #[error("no address known for broker {node} (leader of {topic:?} partition {partition})")]
    UnknownLeader {
        /// The leader's node id.
        node: i32,
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
    },
    /// The broker's answer broke a protocol rule (a response missing an
    /// item that was asked for, for example).
    #[error("unexpected {api} response from broker at {addr}: {reason}")]
    Protocol {
        /// The API called.
        api: ApiKey,
        /// The broker's address.
        addr: String,
        /// What was wrong.
        reason: String,
    },
    /// The client was shut down.
    #[error("the client is closed")]
    Closed,
}

impl ClientError {
    /// The wire error code this failure corresponds to: the broker's code,
    /// `NETWORK_EXCEPTION` for a lost or unreachable connection,
    /// `REQUEST_TIMED_OUT` for a timeout, `UNKNOWN_TOPIC_OR_PARTITION` for a
    /// partition that does not exist, `UNKNOWN_SERVER_ERROR` otherwise.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            ClientError::Broker(e) => e.code,
            ClientError::Resolve { .. }
            | ClientError::Connect { .. }
            | ClientError::ConnectTimeout { .. }
            | ClientError::Disconnected { .. } => ErrorCode::NetworkException,
            ClientError::Timeout { .. } => ErrorCode::RequestTimedOut,
            ClientError::UnknownPartition { .. } => ErrorCode::UnknownTopicOrPartition,
            ClientError::UnknownLeader { .. } => ErrorCode::LeaderNotAvailable,
            ClientError::Encode { .. }
            | ClientError::Decode { .. }
            | ClientError::Protocol { .. }
            | ClientError::Closed => ErrorCode::UnknownServerError,
        }
    }

    /// Whether sending the same request again later may succeed: network
    /// failures, timeouts, and retriable broker codes.
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Closed
            | ClientError::Encode { .. }
            | ClientError::Decode { .. }
            | ClientError::Protocol { .. }
            | ClientError::UnknownPartition { .. } => false,
            _ => self.error_code().is_retriable(),
        }
    }

    /// Whether the failure may be due to stale metadata, so that a retry
    /// should refresh it first.
    pub fn invalidates_metadata(&self) -> bool {
        invalidates_metadata(self.error_code())
    }
}

/// Whether a broker error code means the client's view of topics,
/// partitions or leaders is stale.
pub fn invalidates_metadata(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::UnknownTopicOrPartition
            | ErrorCode::NotLeader
            | ErrorCode::LeaderNotAvailable
            | ErrorCode::NetworkException
    )
}

/// An error code from the broker with its message and what it was about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct BrokerError {
    /// The code.
    pub code: ErrorCode,
    /// The broker's message, or the code's default message when the broker
    /// sent none.
    pub message: String,
    /// What the error is about (`topic "orders"`, `topic "orders" partition
    /// 3`), when it concerns one item of the request.
    pub resource: Option<String>,
}

impl BrokerError {
    /// An error from a code and the broker's optional message.
    pub fn new(code: ErrorCode, message: Option<String>) -> Self {
        BrokerError {
            code,
            message: message
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| code.message().to_owned()),
            resource: None,
        }
    }

    /// The same error, about `resource`.
    #[must_use]
    pub fn about(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// `Ok(())` for `NONE`, the error otherwise.
    pub fn check(code: ErrorCode, message: Option<String>) -> Result<(), BrokerError> {
        if code.is_ok() {
            Ok(())
        } else {
            Err(BrokerError::new(code, message))
        }
    }
}

impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(resource) = &self.resource {
            write!(f, "{resource}: ")?;
        }
        write!(f, "{}: {}", self.code.name(), self.message)
    }
}

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
pub enum DisconnectReason {
    /// Reading or writing the socket failed.
    #[error("{}", io_reason(.0))]
    Io(#[source] io::Error),
    /// The broker closed the connection.
    #[error("the broker closed the connection")]
    Eof,
    /// The byte stream broke the framing (a frame over the maximum size, or
    /// a stream ending inside a frame).
    #[error("framing error")]
    Frame(#[source] FrameError),
    /// A response header was malformed.
    #[error("malformed response header")]
    Header(#[source] DecodeError),
    /// A response answered a different request than the one expected next.
    #[error("response correlation id {got} does not match the expected {expected}")]
    CorrelationMismatch {
        /// The id of the oldest request awaiting an answer.
        expected: u32,
        /// The id in the response.
        got: u32,
    },
    /// A response arrived when no request was waiting for one.
    #[error("unsolicited response with correlation id {0}")]
    Unsolicited(u32),
    /// A request timed out, which stalls every response behind it.
    #[error("{api} request timed out after {} ms", timeout.as_millis())]
    Timeout {
        /// The API of the request that timed out.
        api: ApiKey,
        /// The timeout in force.
        timeout: Duration,
    },
    /// The client closed the connection.
    #[error("the connection was closed by the client")]
    Closed,
}

/// A short lower-case description of a socket error, without the OS error
/// number: `connection refused`, `connection reset`, ...
pub fn io_reason(error: &io::Error) -> String {
    use io::ErrorKind as K;
    let text = match error.kind() {
        K::ConnectionRefused => "connection refused",
        K::ConnectionReset => "connection reset by peer",
        K::ConnectionAborted => "connection aborted",
        K::NotConnected => "not connected",
        K::AddrInUse => "address in use",
        K::AddrNotAvailable => "address not available",
        K::BrokenPipe => "broken pipe",
        K::TimedOut => "connection timed out",
        K::HostUnreachable => "host unreachable",
        K::NetworkUnreachable => "network unreachable",
        K::NetworkDown => "network down",
        K::UnexpectedEof => "unexpected end of stream",
        K::PermissionDenied => "permission denied",
        _ => return error.to_string(),
    };
    text.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_refused_reads_as_one_line() {
        let err = ClientError::Connect {
            addr: "127.0.0.1:9170".into(),
            source: io::Error::from(io::ErrorKind::ConnectionRefused),
        };
        assert_eq!(
            err.to_string(),
            "cannot reach broker at 127.0.0.1:9170: connection refused"
        );
        assert!(err.is_retriable());
        assert_eq!(err.error_code(), ErrorCode::NetworkException);
    }

    #[test]
    fn broker_errors_carry_name_message_and_resource() {
        let err = BrokerError::new(
            ErrorCode::TopicAlreadyExists,
            Some("topic orders already exists".into()),
        )
        .about("topic \"orders\"");
        assert_eq!(
            err.to_string(),
            "topic \"orders\": TOPIC_ALREADY_EXISTS: topic orders already exists"
        );
        let plain = BrokerError::new(ErrorCode::NotLeader, None);
        assert_eq!(
            plain.to_string(),
            "NOT_LEADER: this broker is not the leader of the partition"
        );
        let err = ClientError::from(plain);
        assert!(err.is_retriable());
        assert!(err.invalidates_metadata());
    }

    #[test]
    fn check_passes_none_only() {
        assert_eq!(BrokerError::check(ErrorCode::None, None), Ok(()));
        assert!(BrokerError::check(ErrorCode::InvalidConfig, Some(String::new())).is_err());
    }

    #[test]
    fn timeouts_and_disconnects_are_retriable() {
        let timeout = ClientError::Timeout {
            api: ApiKey::Metadata,
            addr: "h:1".into(),
            timeout: Duration::from_millis(1500),
        };
        assert_eq!(
            timeout.to_string(),
            "Metadata (3) request to broker at h:1 timed out after 1500 ms"
        );
        assert!(timeout.is_retriable());
        let lost = ClientError::Disconnected {
            addr: "h:1".into(),
            reason: Arc::new(DisconnectReason::Eof),
        };
        assert_eq!(
            lost.to_string(),
            "connection to broker at h:1 lost: the broker closed the connection"
        );
        assert!(lost.is_retriable());
        assert!(!ClientError::Closed.is_retriable());
    }
}
