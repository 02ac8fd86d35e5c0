//! [`Connection`]: one TCP connection to a broker, pipelining requests and
//! matching responses by correlation id.
//!
//! ```text
//!  callers ──send()──► [in-flight permit] ──► mpsc ──► writer task ──► socket
//!                                                      │ pushes Pending
//!                                                      ▼
//!  ResponseFuture ◄── oneshot ◄── reader task ◄── pending queue (FIFO)
//! ```
//!
//! - **Order.** The broker answers in request order, so pending requests
//!   form a FIFO queue. The writer task pushes a request's entry onto the
//!   queue right before writing its frame (so a response can never arrive
//!   before its entry), and the reader task pops the front for each
//!   response. A response whose correlation id is not the front's breaks the
//!   connection: every waiting request fails with
//!   [`DisconnectReason::CorrelationMismatch`].
//! - **Submission is separate from waiting.** [`Connection::send`] returns
//!   once the request is queued for writing, with a future for its
//!   response; requests queued one after another from one task go out in
//!   that order, which the producer relies on for per-partition ordering.
//! - **Bounded.** At most `max_in_flight` requests await a response; a
//!   further `send` waits for a slot. Frames are written in batches of up
//!   to [`WRITE_BATCH`] with vectored writes, record blobs straight from
//!   their buffers.
//! - **Timeouts.** Each response has a deadline. When it passes, the request
//!   fails with [`ClientError::Timeout`] and the connection is closed:
//!   responses come in order, so everything behind the late one is stuck.
//! - **Failure.** Any socket, framing or matching error closes the
//!   connection; every request waiting on it fails with
//!   [`ClientError::Disconnected`] carrying the shared reason. A closed
//!   connection stays closed: reconnecting is [`crate::Client`]'s job.

use std::collections::VecDeque;
use std::future::Future;
use std::io::IoSlice;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures_util::StreamExt;
use runnel_protocol::api::ApiRequest;
use runnel_protocol::frame::FrameError;
use runnel_protocol::{
    ApiKey, FrameCodec, FrameOut, ResponseHeader, decode_response_as, encode_request,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::Sleep;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::config::ClientConfig;
use crate::error::{BrokerError, ClientError, DisconnectReason};

/// Most frames the writer gathers into one vectored write.
pub const WRITE_BATCH: usize = 64;

/// A connection to one broker. Cloning gives another handle to the same
/// connection; the connection closes when every handle is dropped, when
/// [`Connection::close`] is called, or on the first error.
#[derive(Debug, Clone)]
pub struct Connection {
    /// State shared with the reader and writer tasks.
    shared: Arc<Shared>,
    /// Frames to the writer task; bounded by the in-flight limit.
    tx: mpsc::Sender<Outgoing>,
}

/// State shared by the handles and the two tasks.
#[derive(Debug)]
struct Shared {
    /// The broker's address as given, for messages.
    addr: String,
    /// Sent in every request header.
    client_id: String,
    /// Next correlation id; wraps around.
    next_correlation_id: AtomicU32,
    /// Free in-flight slots.
    in_flight: Arc<Semaphore>,
    /// Requests written and awaiting their response, oldest first.
    pending: Mutex<PendingQueue>,
    /// Cancelled once the connection is closed, for whatever reason.
    closed: CancellationToken,
    /// Why the connection closed; set once, before `closed` is cancelled.
    reason: OnceLock<Arc<DisconnectReason>>,
    /// Default deadline for a response.
    request_timeout: Duration,
}

/// The FIFO of requests awaiting a response.
#[derive(Debug, Default)]
struct PendingQueue {
    /// Entries in the order their frames were written.
    queue: VecDeque<Pending>,
    /// Set when the connection closed; nothing more may be queued.
    closed: bool,
}

/// A written request awaiting its response.
#[derive(Debug)]
struct Pending {
    /// The id the response must carry.
    correlation_id: u32,
    /// Receives the response body (after the response header).
    reply: oneshot::Sender<Bytes>,
    /// The in-flight slot, released when the entry is dropped.
    _permit: OwnedSemaphorePermit,
}

/// A frame on its way to the writer task.
#[derive(Debug)]
struct Outgoing {
    /// The whole frame.
    frame: FrameOut,
    /// What to do once written.
    after: AfterWrite,
}

/// What the writer does with a request once its frame is queued.
#[derive(Debug)]
enum AfterWrite {
    /// Await a response: push this entry onto the pending queue.
    Respond(Pending),
    /// No response comes (produce with acks=0): signal once written.
    Written {
        /// Receives an empty body once the frame is written.
        done: oneshot::Sender<Bytes>,
        /// The in-flight slot, held until the frame is written.
        permit: OwnedSemaphorePermit,
    },
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, PendingQueue> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Closes the connection for `reason` (the first reason wins) and fails
    /// every pending request.
    fn close(&self, reason: DisconnectReason) {
        if self.reason.set(Arc::new(reason)).is_ok()
            && let Some(reason) = self.reason.get()
            && !matches!(**reason, DisconnectReason::Closed)
        {
            tracing::debug!(addr = %self.addr, %reason, "connection closed");
        }
        self.closed.cancel();
        self.in_flight.close();
        let drained = {
            let mut pending = self.pending();
            pending.closed = true;
            std::mem::take(&mut pending.queue)
        };
        // Dropping the reply senders wakes every waiter with the reason.
        drop(drained);
    }

    fn disconnected(&self) -> ClientError {
        let reason = self
            .reason
            .get()
            .cloned()
            .unwrap_or_else(|| Arc::new(DisconnectReason::Closed));
        ClientError::Disconnected {
            addr: self.addr.clone(),
            reason,
        }
    }
}

impl Connection {
    /// Connects to `addr` (`host:port`) with `config`'s connect timeout,
    /// in-flight limit, frame limit, request timeout and client id.
    pub async fn connect(addr: &str, config: &ClientConfig) -> Result<Connection, ClientError> {
        let stream = tokio::time::timeout(config.connect_timeout, open(addr))
            .await
            .map_err(|_| ClientError::ConnectTimeout {
                addr: addr.to_owned(),
                timeout: config.connect_timeout,
            })??;
        Ok(Connection::from_stream(stream, addr, config))
    }

    /// Wraps an established stream: spawns its reader and writer tasks on
    /// the current tokio runtime.
    pub fn from_stream(stream: TcpStream, addr: &str, config: &ClientConfig) -> Connection {
        // Small requests must not wait for Nagle's algorithm.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%addr, %error, "cannot set TCP_NODELAY");
        }
        let max_in_flight = config.max_in_flight.max(1);
        let shared = Arc::new(Shared {
            addr: addr.to_owned(),
            client_id: config.client_id.clone(),
            next_correlation_id: AtomicU32::new(0),
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            pending: Mutex::new(PendingQueue::default()),
            closed: CancellationToken::new(),
            reason: OnceLock::new(),
            request_timeout: config.request_timeout,
        });
        let (tx, rx) = mpsc::channel(max_in_flight);
        let (read, write) = stream.into_split();
        tokio::spawn(write_loop(Arc::clone(&shared), rx, write));
        tokio::spawn(read_loop(
            Arc::clone(&shared),
            read,
            FrameCodec::new(config.max_frame_bytes),
        ));
        Connection { shared, tx }
    }

    /// The broker's address as given to [`Connection::connect`].
    pub fn addr(&self) -> &str {
        &self.shared.addr
    }

    /// Whether the connection has closed (it never reopens).
    pub fn is_closed(&self) -> bool {
        self.shared.closed.is_cancelled()
    }

    /// Why the connection closed, once it has.
    pub fn close_reason(&self) -> Option<Arc<DisconnectReason>> {
        self.shared.reason.get().cloned()
    }

    /// Waits until the connection has closed.
    pub async fn closed(&self) {
        self.shared.closed.cancelled().await;
    }

    /// Requests now awaiting a response.
    pub fn in_flight(&self) -> usize {
        self.shared.pending().queue.len()
    }

    /// Closes the connection; requests still waiting fail with
    /// [`ClientError::Disconnected`].
    pub fn close(&self) {
        self.shared.close(DisconnectReason::Closed);
    }

    /// Sends `request` and waits for its response, within the configured
    /// request timeout. An error response from the broker becomes
    /// [`ClientError::Broker`].
    pub async fn call<R: ApiRequest>(&self, request: &R) -> Result<R::Response, ClientError> {
        self.send(request).await?.await
    }

    /// Queues `request` for sending and returns a future for its response,
    /// due within the configured request timeout. Returns once the request
    /// has a slot among the in-flight requests and is queued; requests
    /// queued in turn are written in that order.
    pub async fn send<R: ApiRequest>(&self, request: &R) -> Result<ResponseFuture<R>, ClientError> {
        self.send_with_timeout(request, self.shared.request_timeout)
            .await
    }

    /// [`Connection::send`] with a deadline of its own (a long-polling
    /// fetch needs more than its `max_wait_ms`).
    pub async fn send_with_timeout<R: ApiRequest>(
        &self,
        request: &R,
        timeout: Duration,
    ) -> Result<ResponseFuture<R>, ClientError> {
        let raw = self.submit(request, true, timeout).await?;
        Ok(ResponseFuture {
            raw,
            _api: PhantomData,
        })
    }

    /// Queues a request the broker does not answer (produce with acks=0);
    /// the future resolves once its frame is written.
    pub async fn send_without_response<R: ApiRequest>(
        &self,
        request: &R,
    ) -> Result<WriteFuture, ClientError> {
        let raw = self
            .submit(request, false, self.shared.request_timeout)
            .await?;
        Ok(WriteFuture { raw })
    }

    async fn submit<R: ApiRequest>(
        &self,
        request: &R,
        expects_response: bool,
        timeout: Duration,
    ) -> Result<RawResponse, ClientError> {
        let shared = &self.shared;
        if shared.closed.is_cancelled() {
            return Err(shared.disconnected());
        }
        let permit = Arc::clone(&shared.in_flight)
            .acquire_owned()
            .await
            .map_err(|_| shared.disconnected())?;
        let correlation_id = shared.next_correlation_id.fetch_add(1, Ordering::Relaxed);
        let frame =
            encode_request(request, correlation_id, &shared.client_id).map_err(|source| {
                ClientError::Encode {
                    api: R::KEY,
                    source,
                }
            })?;
        let (reply, rx) = oneshot::channel();
        let after = if expects_response {
            AfterWrite::Respond(Pending {
                correlation_id,
                reply,
                _permit: permit,
            })
        } else {
            AfterWrite::Written {
                done: reply,
                permit,
            }
        };
        self.tx
            .send(Outgoing { frame, after })
            .await
            .map_err(|_| shared.disconnected())?;
        Ok(RawResponse {
            shared: Arc::clone(shared),
            api: R::KEY,
            rx,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            timeout,
        })
    }
}

/// Resolves to a response body, a disconnect, or a timeout.
#[derive(Debug)]
struct RawResponse {
    /// The connection, to close on timeout and to read the close reason.
    shared: Arc<Shared>,
    /// The API, for messages.
    api: ApiKey,
    /// The body, from the reader (or the writer, for no-response requests).
    rx: oneshot::Receiver<Bytes>,
    /// When the request times out.
    deadline: Pin<Box<Sleep>>,
    /// The timeout, for messages.
    timeout: Duration,
}

impl Future for RawResponse {
    type Output = Result<Bytes, ClientError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(result) = Pin::new(&mut self.rx).poll(cx) {
            return Poll::Ready(result.map_err(|_| self.shared.disconnected()));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            let (api, timeout) = (self.api, self.timeout);
            self.shared
                .close(DisconnectReason::Timeout { api, timeout });
            return Poll::Ready(Err(ClientError::Timeout {
                api,
                addr: self.shared.addr.clone(),
                timeout,
            }));
        }
        Poll::Pending
    }
}

/// The response to a request sent with [`Connection::send`], decoded as
/// `R::Response`.
#[derive(Debug)]
#[must_use = "the response is lost unless the future is awaited"]
pub struct ResponseFuture<R> {
    /// The undecoded response.
    raw: RawResponse,
    /// The request type, which fixes the response type.
    _api: PhantomData<fn() -> R>,
}

impl<R: ApiRequest> Future for ResponseFuture<R> {
    type Output = Result<R::Response, ClientError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let body = match Pin::new(&mut self.raw).poll(cx) {
            Poll::Ready(Ok(body)) => body,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        Poll::Ready(match decode_response_as::<R>(body) {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(ClientError::Broker(BrokerError::new(
                error.error_code,
                Some(error.error_message),
            ))),
            Err(source) => Err(ClientError::Decode {
                api: R::KEY,
                addr: self.raw.shared.addr.clone(),
                source,
            }),
        })
    }
}

/// Resolves once a request without a response has been written.
#[derive(Debug)]
#[must_use = "the write's outcome is lost unless the future is awaited"]
pub struct WriteFuture {
    /// Resolves with an empty body once written.
    raw: RawResponse,
}

impl Future for WriteFuture {
    type Output = Result<(), ClientError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.raw).poll(cx).map_ok(drop)
    }
}

/// Resolves `addr` and connects to the first address that accepts.
async fn open(addr: &str) -> Result<TcpStream, ClientError> {
    let addrs = tokio::net::lookup_host(addr)
        .await
        .map_err(|source| ClientError::Resolve {
            addr: addr.to_owned(),
            reason: crate::error::io_reason(&source),
            source,
        })?;
    let mut last = None;
    for candidate in addrs {
        match TcpStream::connect(candidate).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    let source = last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the name resolved to no address",
        )
    });
    Err(ClientError::Connect {
        addr: addr.to_owned(),
        source,
    })
}

/// Frames gathered for one vectored write.
#[derive(Debug, Default)]
struct FrameQueue {
    /// Frames in write order, none empty.
    frames: VecDeque<FrameOut>,
    /// Bytes left across all frames.
    remaining: usize,
}

impl FrameQueue {
    fn push(&mut self, frame: FrameOut) {
        if !frame.is_empty() {
            self.remaining += frame.len();
            self.frames.push_back(frame);
        }
    }
}

impl Buf for FrameQueue {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.frames.front().map_or(&[], Buf::chunk)
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for frame in &self.frames {
            match dst.get_mut(n..) {
                Some(rest) if !rest.is_empty() => n += frame.chunks_vectored(rest),
                _ => break,
            }
        }
        n
    }

    fn advance(&mut self, mut cnt: usize) {
        while cnt > 0 {
            let Some(front) = self.frames.front_mut() else {
                break;
            };
            let left = front.remaining();
            if cnt < left {
                front.advance(cnt);
                self.remaining -= cnt;
                return;
            }
            cnt -= left;
            self.remaining -= left;
            self.frames.pop_front();
        }
    }
}

/// Writes queued frames in vectored batches until the connection closes.
async fn write_loop(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Outgoing>,
    mut write: OwnedWriteHalf,
) {
    let mut batch = FrameQueue::default();
    let mut written: Vec<oneshot::Sender<Bytes>> = Vec::new();
    let mut permits: Vec<OwnedSemaphorePermit> = Vec::new();
    loop {
        let first = tokio::select! {
            biased;
            () = shared.closed.cancelled() => break,
            next = rx.recv() => next,
        };
        let Some(first) = first else {
            // Every handle is gone: nobody can send or wait any more.
            shared.close(DisconnectReason::Closed);
            break;
        };
        let mut next = Some(first);
        while let Some(outgoing) = next.take() {
            match outgoing.after {
                AfterWrite::Respond(pending) => {
                    let mut queue = shared.pending();
                    if queue.closed {
                        break;
                    }
                    queue.queue.push_back(pending);
                }
                AfterWrite::Written { done, permit } => {
                    written.push(done);
                    permits.push(permit);
                }
            }
            batch.push(outgoing.frame);
            if batch.frames.len() < WRITE_BATCH {
                next = rx.try_recv().ok();
            }
        }
        let result = tokio::select! {
            biased;
            () = shared.closed.cancelled() => break,
            result = write.write_all_buf(&mut batch) => result,
        };
        if let Err(error) = result {
            shared.close(DisconnectReason::Io(error));
            break;
        }
        for done in written.drain(..) {
            // The waiter may have given up; nothing to tell it then.
            let _ = done.send(Bytes::new());
        }
        permits.clear();
    }
    // Queued but unwritten requests are dropped with `rx`, failing them.
    rx.close();
    let _ = write.shutdown().await;
}

/// Reads responses and hands each to the oldest pending request.
async fn read_loop(shared: Arc<Shared>, read: OwnedReadHalf, codec: FrameCodec) {
    let mut frames = FramedRead::new(read, codec);
    let reason = loop {
        let frame = tokio::select! {
            biased;
            () = shared.closed.cancelled() => return,
            frame = frames.next() => frame,
        };
        let body = match frame {
            None => break DisconnectReason::Eof,
            Some(Err(FrameError::Io(error))) => break DisconnectReason::Io(error),
            Some(Err(error)) => break DisconnectReason::Frame(error),
            Some(Ok(body)) => body,
        };
        let (header, body) = match ResponseHeader::split(body) {
            Ok(split) => split,
            Err(error) => break DisconnectReason::Header(error),
        };
        let front = shared.pending().queue.pop_front();
        match front {
            None => break DisconnectReason::Unsolicited(header.correlation_id),
            Some(pending) if pending.correlation_id != header.correlation_id => {
                tracing::error!(
                    addr = %shared.addr,
                    expected = pending.correlation_id,
                    got = header.correlation_id,
                    "response correlation id mismatch; closing the connection"
                );
                break DisconnectReason::CorrelationMismatch {
                    expected: pending.correlation_id,
                    got: header.correlation_id,
                };
            }
            Some(pending) => {
                // The waiter may have timed out or given up.
                let _ = pending.reply.send(body);
            }
        }
    };
    shared.close(reason);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use runnel_protocol::api::metadata::{MetadataRequest, MetadataResponse};
    use runnel_protocol::api::produce::{Acks, ProduceRequest};
    use runnel_protocol::{ErrorCode, Request, Response, decode_request_frame};
    use std::time::Duration;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;
    use tokio_util::codec::Decoder;

    fn config() -> ClientConfig {
        ClientConfig {
            request_timeout: Duration::from_secs(5),
            ..ClientConfig::default()
        }
    }

    /// A raw server: accepts one connection and hands it to `serve`.
    async fn raw_server<F, Fut>(serve: F) -> String
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            serve(stream).await;
        });
        addr
    }

    /// Reads `n` whole request frames.
    async fn read_requests(
        stream: &mut TcpStream,
        n: usize,
    ) -> Vec<runnel_protocol::IncomingRequest> {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        while out.len() < n {
            if let Some(frame) = codec.decode(&mut buf).unwrap() {
                out.push(decode_request_frame(frame).unwrap());
                continue;
            }
            assert_ne!(
                stream.read_buf(&mut buf).await.unwrap(),
                0,
                "client hung up"
            );
        }
        out
    }

    fn metadata_response(brokers: usize) -> Response {
        let mut response = MetadataResponse::default();
        for i in 0..brokers {
            response
                .brokers
                .push(runnel_protocol::api::metadata::BrokerMetadata {
                    node_id: runnel_protocol::NodeId::new(i32::try_from(i).unwrap()).unwrap(),
                    host: "h".into(),
                    port: 1,
                });
        }
        Response::Metadata(response)
    }

    #[tokio::test]
    async fn requests_are_pipelined_before_any_response() {
        let addr = raw_server(|mut stream| async move {
            // Only answer once three requests are in: a client that waited
            // for each response would deadlock here.
            let requests = read_requests(&mut stream, 3).await;
            for (i, request) in requests.iter().enumerate() {
                let frame = metadata_response(i + 1)
                    .encode_frame(request.header.correlation_id)
                    .unwrap();
                stream.write_all(&frame.to_bytes()).await.unwrap();
            }
            let _ = stream.read_u8().await;
        })
        .await;
        let conn = Connection::connect(&addr, &config()).await.unwrap();
        let request = MetadataRequest { topics: None };
        let a = conn.send(&request).await.unwrap();
        let b = conn.send(&request).await.unwrap();
        let c = conn.send(&request).await.unwrap();
        let (a, b, c) = tokio::time::timeout(Duration::from_secs(5), async {
            (a.await.unwrap(), b.await.unwrap(), c.await.unwrap())
        })
        .await
        .expect("pipelined responses");
        assert_eq!(
            (a.brokers.len(), b.brokers.len(), c.brokers.len()),
            (1, 2, 3)
        );
        assert_eq!(conn.in_flight(), 0);
    }

    #[tokio::test]
    async fn correlation_mismatch_fails_every_waiting_request_and_closes() {
        let addr = raw_server(|mut stream| async move {
            let requests = read_requests(&mut stream, 2).await;
            let wrong = requests[0].header.correlation_id + 100;
            let frame = metadata_response(1).encode_frame(wrong).unwrap();
            stream.write_all(&frame.to_bytes()).await.unwrap();
            let _ = stream.read_u8().await;
        })
        .await;
        let conn = Connection::connect(&addr, &config()).await.unwrap();
        let request = MetadataRequest { topics: None };
        let a = conn.send(&request).await.unwrap();
        let b = conn.send(&request).await.unwrap();
        for result in [a.await, b.await] {
            let Err(ClientError::Disconnected { reason, .. }) = result else {
                panic!("expected a disconnect, got {result:?}");
            };
            assert!(
                matches!(
                    *reason,
                    DisconnectReason::CorrelationMismatch {
                        expected: 0,
                        got: 100
                    }
                ),
                "{reason}"
            );
        }
        assert!(conn.is_closed());
        assert!(matches!(
            conn.call(&request).await,
            Err(ClientError::Disconnected { .. })
        ));
    }

    #[tokio::test]
    async fn late_response_times_out_and_closes_the_connection() {
        let addr = raw_server(|mut stream| async move {
            let _requests = read_requests(&mut stream, 2).await;
            // Never answer.
            let _ = stream.read_u8().await;
        })
        .await;
        let config = ClientConfig {
            request_timeout: Duration::from_millis(50),
            ..config()
        };
        let conn = Connection::connect(&addr, &config).await.unwrap();
        let request = MetadataRequest { topics: None };
        let first = conn.send(&request).await.unwrap();
        let second = conn
            .send_with_timeout(&request, Duration::from_secs(30))
            .await
            .unwrap();
        let err = first.await.unwrap_err();
        assert!(
            matches!(err, ClientError::Timeout { api: ApiKey::Metadata, timeout, .. } if timeout == Duration::from_millis(50)),
            "{err:?}"
        );
        // The request queued behind it fails at once instead of waiting
        // 30 s for a response that cannot come before the late one.
        let err = tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("failed promptly")
            .unwrap_err();
        assert!(matches!(err, ClientError::Disconnected { .. }), "{err:?}");
        assert!(conn.is_closed());
    }

    #[tokio::test]
    async fn error_response_becomes_a_broker_error() {
        let addr = raw_server(|mut stream| async move {
            let requests = read_requests(&mut stream, 1).await;
            let frame = Response::Error(runnel_protocol::api::error_response::ErrorResponse::new(
                ErrorCode::UnsupportedVersion,
                "not served",
            ))
            .encode_frame(requests[0].header.correlation_id)
            .unwrap();
            stream.write_all(&frame.to_bytes()).await.unwrap();
            let _ = stream.read_u8().await;
        })
        .await;
        let conn = Connection::connect(&addr, &config()).await.unwrap();
        let err = conn
            .call(&MetadataRequest { topics: None })
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "UNSUPPORTED_VERSION: not served");
        assert!(!conn.is_closed());
    }

    #[tokio::test]
    async fn in_flight_requests_are_bounded() {
        let (seen_tx, mut seen_rx) = mpsc::unbounded_channel();
        let addr = raw_server(move |mut stream| async move {
            let mut codec = FrameCodec::default();
            let mut buf = BytesMut::new();
            loop {
                while let Some(frame) = codec.decode(&mut buf).unwrap() {
                    let _ = seen_tx.send(decode_request_frame(frame).unwrap());
                }
                if stream.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                    return;
                }
            }
        })
        .await;
        let config = ClientConfig {
            max_in_flight: 2,
            ..config()
        };
        let conn = Connection::connect(&addr, &config).await.unwrap();
        let request = MetadataRequest { topics: None };
        let _a = conn.send(&request).await.unwrap();
        let _b = conn.send(&request).await.unwrap();
        let third = tokio::time::timeout(Duration::from_millis(100), conn.send(&request)).await;
        assert!(third.is_err(), "a third request found a slot");
        assert_eq!(seen_rx.recv().await.unwrap().header.correlation_id, 0);
        assert_eq!(seen_rx.recv().await.unwrap().header.correlation_id, 1);
        assert!(seen_rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn request_without_response_resolves_once_written() {
        let (seen_tx, seen_rx) = oneshot::channel();
        let addr = raw_server(move |mut stream| async move {
            let requests = read_requests(&mut stream, 2).await;
            let ids: Vec<u32> = requests.iter().map(|r| r.header.correlation_id).collect();
            let kinds: Vec<bool> = requests
                .iter()
                .map(|r| matches!(r.request, Ok(Request::Produce(_))))
                .collect();
            let frame = metadata_response(1).encode_frame(ids[1]).unwrap();
            stream.write_all(&frame.to_bytes()).await.unwrap();
            let _ = seen_tx.send(kinds);
            let _ = stream.read_u8().await;
        })
        .await;
        let conn = Connection::connect(&addr, &config()).await.unwrap();
        let produce = ProduceRequest {
            acks: Acks::None,
            ..ProduceRequest::default()
        };
        conn.send_without_response(&produce)
            .await
            .unwrap()
            .await
            .unwrap();
        // The next response answers the next request that expects one.
        let metadata = conn.call(&MetadataRequest { topics: None }).await.unwrap();
        assert_eq!(metadata.brokers.len(), 1);
        assert_eq!(seen_rx.await.unwrap(), [true, false]);
    }

    #[tokio::test]
    async fn broker_hanging_up_fails_waiting_requests() {
        let addr = raw_server(|mut stream| async move {
            let _ = read_requests(&mut stream, 1).await;
        })
        .await;
        let conn = Connection::connect(&addr, &config()).await.unwrap();
        let err = conn
            .call(&MetadataRequest { topics: None })
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("connection to broker at {addr} lost: the broker closed the connection")
        );
    }

    #[tokio::test]
    async fn refused_connection_names_the_address() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let err = Connection::connect(&addr, &config()).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("cannot reach broker at {addr}: connection refused")
        );
    }

    #[test]
    fn frame_queue_walks_frames_as_one_buffer() {
        let mut queue = FrameQueue::default();
        queue.push(FrameOut::from_chunks([
            Bytes::from_static(b"ab"),
            Bytes::from_static(b"c"),
        ]));
        queue.push(FrameOut::default());
        queue.push(FrameOut::from_chunks([Bytes::from_static(b"def")]));
        assert_eq!(queue.frames.len(), 2);
        let mut slices = [IoSlice::new(&[]); 8];
        assert_eq!(queue.chunks_vectored(&mut slices), 3);
        let mut two = [IoSlice::new(&[]); 2];
        assert_eq!(queue.chunks_vectored(&mut two), 2);
        queue.advance(2);
        assert_eq!(queue.chunk(), b"c");
        queue.advance(2);
        assert_eq!(queue.chunk(), b"ef");
        assert_eq!(queue.copy_to_bytes(2), Bytes::from_static(b"ef"));
        assert_eq!(queue.remaining(), 0);
    }
}
