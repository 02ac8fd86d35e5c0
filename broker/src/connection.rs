//! One client connection: requests are read and dispatched in order, their
//! responses written back in the same order, as many in flight at once as
//! the limits allow.
//!
//! The reader task decodes a frame, runs the in-order part of its handler
//! (a produce's append) and queues the pending response; the writer task
//! awaits the pending responses one after another and writes them, several
//! at a time when they are ready together. Memory per connection is bounded
//! twice: by the number of requests in flight (the queue's capacity) and by
//! their bytes (a semaphore the reader must acquire before it reads a
//! body), so a client that pipelines faster than it is served is simply
//! not read.

use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf as _, BufMut as _, BytesMut};
use futures_util::FutureExt as _;
use runnel_protocol::{ApiKey, FrameOut, IncomingRequest, Response, decode_request_frame};
use tokio::io::{
    AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, BufReader,
};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::api::{self, PendingResponse};
use crate::context::BrokerContext;
use crate::metrics::{self, RequestTimer};

/// Read buffer size; small requests are parsed out of it without a syscall
/// each.
const READ_BUFFER: usize = 64 * 1024;
/// Stop gathering ready responses into one write past this many bytes.
const WRITE_BATCH_BYTES: usize = 256 * 1024;
/// Most iovecs handed to one `writev`.
const MAX_IOVECS: usize = 64;

/// A request whose response is pending.
struct InFlight {
    /// Where the response goes.
    correlation_id: u32,
    /// The response being computed.
    response: PendingResponse,
    /// Times the request for `runnel_request_duration_seconds`.
    timer: RequestTimer,
    /// Bytes of the connection's buffer budget the request holds.
    _permit: OwnedSemaphorePermit,
}

/// Why a connection ended abnormally.
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error("frame of {len} bytes exceeds max_frame_bytes {max}")]
    FrameTooLarge { len: u64, max: usize },
    #[error("connection closed in the middle of a {len}-byte frame")]
    Truncated { len: usize },
    #[error("no complete frame within partial_frame_timeout_ms {timeout_ms} after it started")]
    PartialFrameTimeout { timeout_ms: u128 },
    #[error("malformed request header: {0}")]
    BadHeader(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl ConnectionError {
    /// The `reason` label of `runnel_connection_errors_total`.
    fn reason(&self) -> &'static str {
        match self {
            ConnectionError::FrameTooLarge { .. } => "frame_too_large",
            ConnectionError::Truncated { .. } => "truncated_frame",
            ConnectionError::PartialFrameTimeout { .. } => "partial_frame_timeout",
            ConnectionError::BadHeader(_) => "malformed_header",
            ConnectionError::Io(_) => "read_error",
        }
    }
}

/// Serves one connection until the client hangs up, an error closes it, or
/// `shutdown` fires (then requests already read are still answered).
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<BrokerContext>,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let _counted = metrics::connection_opened();
    let (rd, wr) = stream.into_split();
    let in_flight = ctx.config.max_in_flight_requests_per_connection.max(1) as usize;
    let (tx, rx) = mpsc::channel::<InFlight>(in_flight);
    let writer = tokio::spawn(write_loop(wr, rx));
    if let Err(e) = read_loop(rd, tx, &ctx, &shutdown, peer).await
        && !matches!(&e, ConnectionError::Io(io) if is_disconnect(io))
    {
        metrics::events::connection_failed(peer, e.reason(), &e);
    }
    match writer.await {
        Ok(Err(e)) if !is_disconnect(&e) => {
            metrics::events::connection_failed(peer, "write_error", &e);
        }
        _ => {}
    }
}

fn is_disconnect(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
    matches!(e.kind(), BrokenPipe | ConnectionReset | ConnectionAborted)
}

#[allow(clippy::too_many_lines)] // one linear procedure per frame: prefix, budget, body, dispatch
async fn read_loop<R: AsyncRead + Unpin>(
    rd: R,
    tx: mpsc::Sender<InFlight>,
    ctx: &Arc<BrokerContext>,
    shutdown: &CancellationToken,
    peer: SocketAddr,
) -> Result<(), ConnectionError> {
    let mut rd = BufReader::with_capacity(READ_BUFFER, rd);
    let max_frame = ctx.config.max_frame_bytes as usize;
    let budget_total = u32::try_from(ctx.config.max_connection_buffer_bytes)
        .unwrap_or(u32::MAX)
        .max(1);
    let budget = Arc::new(Semaphore::new(budget_total as usize));
    let frame_timeout = ctx.config.partial_frame_timeout();
    let timed_out = || ConnectionError::PartialFrameTimeout {
        timeout_ms: frame_timeout.as_millis(),
    };
    loop {
        let mut prefix = [0u8; 4];
        // Idle between frames is not timed; once the first byte of a frame
        // is here, the whole prefix must follow within the timeout.
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(()),
            r = rd.fill_buf() => {
                if r?.is_empty() {
                    return Ok(());
                }
            }
        }
        let started = tokio::time::Instant::now();
        let deadline = started + frame_timeout;
        match tokio::time::timeout_at(deadline, read_prefix(&mut rd, &mut prefix)).await {
            Err(_) => return Err(timed_out()),
            Ok(r) => {
                if !r? {
                    return Ok(());
                }
            }
        }
        let received = Instant::now();
        let announced = u32::from_be_bytes(prefix);
        let len = announced as usize;
        if len > max_frame {
            return Err(ConnectionError::FrameTooLarge {
                len: u64::from(announced),
                max: max_frame,
            });
        }
        // A frame larger than the whole budget takes all of it.
        let want = u32::try_from(len)
            .unwrap_or(u32::MAX)
            .clamp(1, budget_total);
        let Ok(permit) = Arc::clone(&budget).acquire_many_owned(want).await else {
            return Ok(());
        };
        // The body's deadline starts once its budget is granted: waiting
        // for earlier requests to be answered is backpressure, not a stall.
        let deadline = tokio::time::Instant::now().max(started) + frame_timeout;
        let mut body = BytesMut::with_capacity(len);
        while body.len() < len {
            let want = len - body.len();
            let mut limited = (&mut body).limit(want);
            match tokio::time::timeout_at(deadline, rd.read_buf(&mut limited)).await {
                Err(_) => return Err(timed_out()),
                Ok(n) => {
                    if n? == 0 {
                        return Err(ConnectionError::Truncated { len });
                    }
                }
            }
        }
        let (correlation_id, api, response) = match decode_request_frame(body.freeze()) {
            Err(e) => {
                let reason = e.to_string();
                if let Some((cid, resp)) = e.to_response() {
                    let _ = tx
                        .send(InFlight {
                            correlation_id: cid,
                            response: Box::pin(std::future::ready(Some(resp))),
                            timer: RequestTimer::new(None, received),
                            _permit: permit,
                        })
                        .await;
                }
                return Err(ConnectionError::BadHeader(reason));
            }
            Ok(IncomingRequest {
                header,
                request: Err(e),
            }) => (
                header.correlation_id,
                ApiKey::from_code(header.api_key),
                Box::pin(std::future::ready(Some(e.to_response()))) as PendingResponse,
            ),
            Ok(IncomingRequest {
                header,
                request: Ok(request),
            }) => {
                let api = request.api_key();
                // Only produce is timed by stage.
                let started = (api == ApiKey::Produce).then(Instant::now);
                let origin = api::RequestOrigin {
                    client_id: &header.client_id,
                    peer,
                };
                let response = api::dispatch(ctx, request, &origin);
                if let Some(started) = started {
                    metrics::produce_stages(received, started, Instant::now());
                }
                (header.correlation_id, Some(api), response)
            }
        };
        let in_flight = InFlight {
            correlation_id,
            response,
            timer: RequestTimer::new(api, received),
            _permit: permit,
        };
        if tx.send(in_flight).await.is_err() {
            return Ok(()); // the writer failed; it reports why
        }
    }
}

/// Reads a length prefix; `false` on a clean end of stream before it.
async fn read_prefix<R: AsyncRead + Unpin>(
    rd: &mut BufReader<R>,
    prefix: &mut [u8; 4],
) -> Result<bool, ConnectionError> {
    let mut got = 0;
    while got < prefix.len() {
        let n = rd.read(&mut prefix[got..]).await?;
        if n == 0 {
            return if got == 0 {
                Ok(false)
            } else {
                Err(ConnectionError::Truncated { len: prefix.len() })
            };
        }
        got += n;
    }
    Ok(true)
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut rx: mpsc::Receiver<InFlight>,
) -> std::io::Result<()> {
    let mut frames: Vec<FrameOut> = Vec::new();
    let mut next: Option<InFlight> = None;
    loop {
        let first = match next.take() {
            Some(f) => f,
            None => match rx.recv().await {
                Some(f) => f,
                None => break,
            },
        };
        let response = first.response.await;
        first.timer.finish(response.as_ref());
        if let Some(frame) = encode(first.correlation_id, response) {
            frames.push(frame);
        }
        // Gather responses that are already complete into the same write.
        let mut bytes: usize = frames.iter().map(FrameOut::len).sum();
        while bytes < WRITE_BATCH_BYTES {
            let Ok(mut more) = rx.try_recv() else { break };
            match (&mut more.response).now_or_never() {
                Some(response) => {
                    more.timer.finish(response.as_ref());
                    if let Some(frame) = encode(more.correlation_id, response) {
                        bytes += frame.len();
                        frames.push(frame);
                    }
                }
                None => {
                    next = Some(more);
                    break;
                }
            }
        }
        write_frames(&mut wr, &mut frames).await?;
    }
    wr.shutdown().await
}

fn encode(correlation_id: u32, response: Option<Response>) -> Option<FrameOut> {
    let response = response?;
    match response.encode_frame(correlation_id) {
        Ok(frame) => Some(frame),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode response");
            None
        }
    }
}

/// Writes whole frames with vectored writes; records are never copied.
async fn write_frames<W: AsyncWrite + Unpin>(
    wr: &mut W,
    frames: &mut Vec<FrameOut>,
) -> std::io::Result<()> {
    let mut i = 0;
    while i < frames.len() {
        let written = {
            let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(MAX_IOVECS);
            for frame in &frames[i..] {
                for chunk in frame.chunks() {
                    if slices.len() == MAX_IOVECS {
                        break;
                    }
                    slices.push(IoSlice::new(chunk));
                }
            }
            wr.write_vectored(&slices).await?
        };
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let mut left = written;
        while left > 0 && i < frames.len() {
            let take = left.min(frames[i].len());
            frames[i].advance(take);
            left -= take;
            if frames[i].is_empty() {
                i += 1;
            }
        }
    }
    frames.clear();
    Ok(())
}
