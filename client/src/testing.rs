//! [`FakeBroker`]: an in-process stand-in for a broker, for tests of this
//! crate and of crates built on it (enable the `test-util` feature).
//!
//! It listens on `127.0.0.1`, decodes each request with the protocol crate
//! and asks a handler what to do: answer, answer with a chosen correlation
//! id, stay silent, or close the connection. Requests on one connection are
//! handled in order, as the real broker answers them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::StreamExt;
use runnel_protocol::api::metadata::{
    BrokerMetadata, MetadataResponse, PartitionMetadata, TopicMetadata,
};
use runnel_protocol::{
    FrameCodec, NodeId, PartitionId, Request, RequestHeader, Response, decode_request_frame,
};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::codec::FramedRead;

/// What the fake broker does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Send this response with the request's correlation id.
    Respond(Response),
    /// Send this response with another correlation id (to test matching).
    RespondWithId {
        /// The correlation id to put in the response header.
        correlation_id: u32,
        /// The response.
        response: Response,
    },
    /// Send nothing (as for acks=0, or to make the client time out).
    Nothing,
    /// Close the connection without answering.
    Close,
}

/// Where a request came from.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The request header (correlation id, client id, API).
    pub header: RequestHeader,
    /// The fake broker's own address, for Metadata answers.
    pub local_addr: SocketAddr,
    /// Which accepted connection, counting from 0.
    pub connection: usize,
}

/// The handler deciding each reply.
type Handler = dyn Fn(&RequestContext, Request) -> Reply + Send + Sync;

/// A fake broker listening on 127.0.0.1; stops when dropped.
#[derive(Debug)]
pub struct FakeBroker {
    /// The listening address.
    addr: SocketAddr,
    /// Connections accepted so far.
    connections: Arc<AtomicUsize>,
    /// The accept loop, which owns the connection tasks.
    task: JoinHandle<()>,
}

impl FakeBroker {
    /// Starts a fake broker on a free port.
    pub async fn start<F>(handler: F) -> FakeBroker
    where
        F: Fn(&RequestContext, Request) -> Reply + Send + Sync + 'static,
    {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), handler).await
    }

    /// Starts a fake broker on `addr`.
    ///
    /// # Panics
    /// If the address cannot be bound (this is test support).
    pub async fn start_on<F>(addr: SocketAddr, handler: F) -> FakeBroker
    where
        F: Fn(&RequestContext, Request) -> Reply + Send + Sync + 'static,
    {
        let listener = TcpListener::bind(addr).await.expect("bind the fake broker");
        let addr = listener.local_addr().expect("fake broker address");
        let connections = Arc::new(AtomicUsize::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        let counter = Arc::clone(&connections);
        let task = tokio::spawn(async move {
            let mut tasks = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let index = counter.fetch_add(1, Ordering::SeqCst);
                tasks.spawn(serve(stream, addr, index, Arc::clone(&handler)));
            }
        });
        FakeBroker {
            addr,
            connections,
            task,
        }
    }

    /// `host:port` to connect to.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// The listening address.
    pub fn socket_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves one connection until the client leaves or the handler closes it.
async fn serve(
    stream: TcpStream,
    local_addr: SocketAddr,
    connection: usize,
    handler: Arc<Handler>,
) {
    let (read, mut write) = stream.into_split();
    let mut frames = FramedRead::new(read, FrameCodec::default());
    while let Some(Ok(frame)) = frames.next().await {
        let Ok(incoming) = decode_request_frame(frame) else {
            return;
        };
        let correlation_id = incoming.header.correlation_id;
        let reply = match incoming.request {
            Ok(request) => {
                let ctx = RequestContext {
                    header: incoming.header,
                    local_addr,
                    connection,
                };
                handler(&ctx, request)
            }
            Err(error) => Reply::Respond(error.to_response()),
        };
        let (id, response) = match reply {
            Reply::Respond(response) => (correlation_id, response),
            Reply::RespondWithId {
                correlation_id,
                response,
            } => (correlation_id, response),
            Reply::Nothing => continue,
            Reply::Close => return,
        };
        let Ok(frame) = response.encode_frame(id) else {
            return;
        };
        if write.write_all(&frame.to_bytes()).await.is_err() {
            return;
        }
    }
}

/// A Metadata response naming one broker (node 0 at `addr`) that leads
/// every partition of `topics` (`(name, partition count)`).
pub fn metadata_for(addr: SocketAddr, topics: &[(&str, u32)]) -> Response {
    let node = NodeId::new(0).unwrap_or_default();
    Response::Metadata(MetadataResponse {
        brokers: vec![BrokerMetadata {
            node_id: node,
            host: addr.ip().to_string(),
            port: addr.port(),
        }],
        topics: topics
            .iter()
            .map(|(name, count)| TopicMetadata {
                name: (*name).to_owned(),
                partitions: (0..*count)
                    .map(|p| PartitionMetadata {
                        partition: PartitionId(p),
                        leader: Some(node),
                        replicas: vec![node],
                        isr: vec![node],
                        ..PartitionMetadata::default()
                    })
                    .collect(),
                ..TopicMetadata::default()
            })
            .collect(),
    })
}
