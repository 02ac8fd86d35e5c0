//! The metrics listener: a deliberately small HTTP/1.1 server with two
//! routes, enough for Prometheus and for health checks of a supervisor or
//! load balancer.
//!
//! - `GET /metrics`: the text exposition ([`Telemetry::render`]), 404 when
//!   metrics are disabled.
//! - `GET /health`: `200 ok` once recovery finished and the native listener
//!   is bound; `503` with the reason before that and during shutdown.
//!
//! `HEAD` is answered like `GET` without a body; other methods get 405,
//! other paths 404. One request per connection (`Connection: close`): a
//! scrape every few seconds gains nothing from keep-alive. Bounded like the
//! native listener: a request head is at most [`MAX_HEAD_BYTES`] and must
//! arrive within [`READ_TIMEOUT`], and at most [`MAX_CONNECTIONS`] are
//! served at once (more are closed at once).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::error::BrokerError;
use crate::metrics::{Health, Telemetry};

/// Largest request head read.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Time a client has to send its request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 16;
/// How often the recorder's histogram samples are folded into buckets.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);
/// Content type of the text exposition format.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content type of every other answer.
const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// The bound metrics listener.
#[derive(Debug)]
pub struct MetricsListener {
    /// The socket.
    listener: TcpListener,
    /// The address it was asked to bind, for error messages.
    requested: SocketAddr,
    /// What it serves.
    telemetry: Arc<Telemetry>,
}

impl MetricsListener {
    /// Binds `addr` (port 0 picks a free port; see [`Self::local_addr`]).
    pub async fn bind(addr: SocketAddr, telemetry: Arc<Telemetry>) -> Result<Self, BrokerError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| BrokerError::Bind { addr, source })?;
        Ok(MetricsListener {
            listener,
            requested: addr,
            telemetry,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr, BrokerError> {
        self.listener
            .local_addr()
            .map_err(|source| BrokerError::Bind {
                addr: self.requested,
                source,
            })
    }

    /// Serves until `stop` is cancelled, and keeps the recorder's
    /// histograms drained meanwhile.
    pub async fn serve(self, stop: CancellationToken) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut upkeep = tokio::time::interval(UPKEEP_INTERVAL);
        upkeep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let accepted = tokio::select! {
                () = stop.cancelled() => return,
                _ = upkeep.tick() => {
                    self.telemetry.run_upkeep();
                    continue;
                }
                r = self.listener.accept() => r,
            };
            let (stream, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                tracing::debug!(%peer, "metrics listener: too many connections");
                continue;
            };
            let telemetry = Arc::clone(&self.telemetry);
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = stop.cancelled() => {}
                    r = serve_connection(stream, &telemetry) => {
                        if let Err(e) = r {
                            tracing::debug!(%peer, error = %e, "metrics listener: connection failed");
                        }
                    }
                }
                drop(slot);
            });
        }
    }
}

/// An answer.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    /// Status code and reason phrase.
    status: (u16, &'static str),
    /// `Content-Type`.
    content_type: &'static str,
    /// Extra header lines, each ending in CRLF.
    extra_headers: &'static str,
    /// The body.
    body: String,
}

impl Answer {
    fn text(status: (u16, &'static str), body: impl Into<String>) -> Answer {
        Answer {
            status,
            content_type: TEXT_CONTENT_TYPE,
            extra_headers: "",
            body: body.into(),
        }
    }
}

const OK: (u16, &str) = (200, "OK");
const BAD_REQUEST: (u16, &str) = (400, "Bad Request");
const NOT_FOUND: (u16, &str) = (404, "Not Found");
const METHOD_NOT_ALLOWED: (u16, &str) = (405, "Method Not Allowed");
const HEAD_TOO_LARGE: (u16, &str) = (431, "Request Header Fields Too Large");
const INTERNAL_ERROR: (u16, &str) = (500, "Internal Server Error");
const UNAVAILABLE: (u16, &str) = (503, "Service Unavailable");

/// Reads one request, answers it, closes.
async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    telemetry: &Arc<Telemetry>,
) -> std::io::Result<()> {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Err(_) => return Ok(()), // too slow: just close
        Ok(r) => r?,
    };
    let (answer, with_body) = match head {
        Head::Complete(head) => match parse_request_line(&head) {
            Some((method, target)) => {
                let is_head = method == "HEAD";
                (route(method, target, telemetry).await, !is_head)
            }
            None => (Answer::text(BAD_REQUEST, "malformed request line\n"), true),
        },
        Head::TooLarge => (
            Answer::text(HEAD_TOO_LARGE, "request head too large\n"),
            true,
        ),
        Head::Closed => return Ok(()),
    };
    write_answer(&mut stream, &answer, with_body).await
}

/// What reading a request head found.
#[derive(Debug, PartialEq, Eq)]
enum Head {
    /// The head, up to (not including) the blank line.
    Complete(Vec<u8>),
    /// No blank line within [`MAX_HEAD_BYTES`].
    TooLarge,
    /// The client closed before sending a whole head.
    Closed,
}

async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<Head> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = head_end(&buf) {
            buf.truncate(end);
            return Ok(Head::Complete(buf));
        }
        if buf.len() >= MAX_HEAD_BYTES {
            return Ok(Head::TooLarge);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Head::Closed);
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// Where the head ends: the first blank line (CRLF CRLF, or LF LF from a
/// lenient client).
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = buf.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `METHOD SP TARGET SP HTTP/x.y` → (method, path without the query).
fn parse_request_line(head: &[u8]) -> Option<(&str, &str)> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !version.starts_with("HTTP/1.") || method.is_empty() {
        return None;
    }
    let path = target.split('?').next().unwrap_or(target);
    Some((method, path))
}

async fn route(method: &str, path: &str, telemetry: &Arc<Telemetry>) -> Answer {
    if path != "/metrics" && path != "/health" {
        return Answer::text(NOT_FOUND, "not found: try /metrics or /health\n");
    }
    if method != "GET" && method != "HEAD" {
        return Answer {
            extra_headers: "Allow: GET, HEAD\r\n",
            ..Answer::text(METHOD_NOT_ALLOWED, "only GET and HEAD are served\n")
        };
    }
    if path == "/health" {
        return match telemetry.health() {
            Health::Ready => Answer::text(OK, "ok\n"),
            Health::Starting => Answer::text(UNAVAILABLE, "starting: recovering the logs\n"),
            Health::ShuttingDown => Answer::text(UNAVAILABLE, "shutting down\n"),
        };
    }
    if !telemetry.enabled() {
        return Answer::text(NOT_FOUND, "metrics are disabled\n");
    }
    let t = Arc::clone(telemetry);
    match tokio::task::spawn_blocking(move || t.render()).await {
        Ok(Some(body)) => Answer {
            status: OK,
            content_type: METRICS_CONTENT_TYPE,
            extra_headers: "",
            body,
        },
        Ok(None) => Answer::text(NOT_FOUND, "metrics are disabled\n"),
        Err(e) => {
            tracing::error!(error = %e, "rendering metrics failed");
            Answer::text(INTERNAL_ERROR, "rendering metrics failed\n")
        }
    }
}

async fn write_answer<S: AsyncWrite + Unpin>(
    stream: &mut S,
    answer: &Answer,
    with_body: bool,
) -> std::io::Result<()> {
    let (code, reason) = answer.status;
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n",
        answer.content_type,
        answer.body.len(),
        answer.extra_headers,
    );
    stream.write_all(head.as_bytes()).await?;
    if with_body {
        stream.write_all(answer.body.as_bytes()).await?;
    }
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use metrics_exporter_prometheus::PrometheusBuilder;

    use super::*;

    async fn exchange(telemetry: &Arc<Telemetry>, request: &[u8]) -> String {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let t = Arc::clone(telemetry);
        let task = tokio::spawn(async move { serve_connection(server, &t).await });
        client.write_all(request).await.unwrap();
        let mut out = String::new();
        client.read_to_string(&mut out).await.unwrap();
        task.await.unwrap().unwrap();
        out
    }

    fn telemetry(enabled: bool) -> Arc<Telemetry> {
        let handle = enabled.then(|| PrometheusBuilder::new().build_recorder().handle());
        Arc::new(Telemetry::new(handle, true))
    }

    #[tokio::test]
    async fn health_is_unavailable_until_ready_and_again_while_shutting_down() {
        let t = telemetry(false);
        let starting = exchange(&t, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(starting.starts_with("HTTP/1.1 503 "), "{starting}");
        assert!(starting.ends_with("starting: recovering the logs\n"));
        t.set_health(Health::Ready);
        let ready = exchange(&t, b"GET /health HTTP/1.1\r\n\r\n").await;
        assert!(ready.starts_with("HTTP/1.1 200 OK\r\n"), "{ready}");
        assert!(ready.contains("Content-Length: 3\r\n"));
        assert!(ready.ends_with("\r\n\r\nok\n"));
        t.set_health(Health::ShuttingDown);
        let stopping = exchange(&t, b"GET /health HTTP/1.0\r\n\r\n").await;
        assert!(stopping.starts_with("HTTP/1.1 503 "), "{stopping}");
    }

    #[tokio::test]
    async fn metrics_are_served_in_the_text_format_with_process_families() {
        let t = telemetry(true);
        let r = exchange(&t, b"GET /metrics?x=1 HTTP/1.1\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
        assert!(r.contains("# TYPE runnel_storage_open_files gauge\n"));
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(r.contains("\nprocess_resident_memory_bytes "));
        }
        let (head, body) = r.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}\r\n", body.len())));
    }

    #[tokio::test]
    async fn disabled_metrics_are_not_found_but_health_still_answers() {
        let t = telemetry(false);
        t.set_health(Health::Ready);
        let r = exchange(&t, b"GET /metrics HTTP/1.1\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 404 "), "{r}");
        let h = exchange(&t, b"GET /health HTTP/1.1\r\n\r\n").await;
        assert!(h.starts_with("HTTP/1.1 200 "), "{h}");
    }

    #[tokio::test]
    async fn head_requests_get_headers_without_a_body() {
        let t = telemetry(false);
        t.set_health(Health::Ready);
        let r = exchange(&t, b"HEAD /health HTTP/1.1\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("Content-Length: 3\r\n"));
        assert!(r.ends_with("\r\n\r\n"));
    }

    #[tokio::test]
    async fn unknown_paths_methods_and_garbage_get_client_errors() {
        let t = telemetry(true);
        let r = exchange(&t, b"GET / HTTP/1.1\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 404 "), "{r}");
        let r = exchange(&t, b"POST /metrics HTTP/1.1\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 405 "), "{r}");
        assert!(r.contains("Allow: GET, HEAD\r\n"));
        let r = exchange(&t, b"\x00\xff garbage\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 400 "), "{r}");
        let r = exchange(&t, b"GET /metrics SPDY/3\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 400 "), "{r}");
    }

    #[tokio::test]
    async fn an_endless_head_is_refused_and_a_client_that_leaves_gets_nothing() {
        let t = telemetry(false);
        let mut big = b"GET /health HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_HEAD_BYTES + 10, b'a');
        let r = exchange(&t, &big).await;
        assert!(r.starts_with("HTTP/1.1 431 "), "{r}");

        let (client, server) = tokio::io::duplex(1024);
        drop(client);
        serve_connection(server, &t).await.unwrap();
    }

    #[test]
    fn the_head_ends_at_the_first_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest"), Some(20));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(14));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
    }

    #[test]
    fn request_lines_are_parsed_strictly() {
        assert_eq!(
            parse_request_line(b"GET /metrics?a=b HTTP/1.1\r\nHost: h"),
            Some(("GET", "/metrics"))
        );
        assert_eq!(parse_request_line(b"GET /metrics"), None);
        assert_eq!(parse_request_line(b"GET  /metrics HTTP/1.1"), None);
        assert_eq!(parse_request_line(b"GET /a HTTP/2 extra"), None);
    }

    #[tokio::test]
    async fn the_listener_binds_serves_and_stops() {
        let t = telemetry(false);
        t.set_health(Health::Ready);
        let listener = MetricsListener::bind("127.0.0.1:0".parse().unwrap(), Arc::clone(&t))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let server = tokio::spawn(listener.serve(stop.clone()));
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"GET /health HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        conn.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 200 "), "{out}");
        stop.cancel();
        server.await.unwrap();
    }
}
