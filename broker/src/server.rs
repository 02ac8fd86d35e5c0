//! The accept loop and the broker's lifecycle: open the data directory,
//! load topics (recovering after a crash), serve, and on shutdown stop
//! accepting, answer what was already read, flush, close every log and
//! write the clean-shutdown marker.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use runnel_config::BrokerConfig;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::now_ms;
use crate::connection;
use crate::context::BrokerContext;
use crate::error::BrokerError;
use crate::producer_ids::ProducerIds;
use crate::storage::{DataDir, OsFs};
use crate::topics::TopicRegistry;

/// How often retention runs.
const RETENTION_INTERVAL: Duration = Duration::from_secs(30);

/// Runs the broker until `shutdown` is cancelled. `ready` receives the bound
/// address once the broker serves.
pub async fn run(
    config: BrokerConfig,
    shutdown: CancellationToken,
    ready: Option<oneshot::Sender<SocketAddr>>,
) -> Result<(), BrokerError> {
    let started = Instant::now();
    let data_dir = DataDir::open(&config.data_dir)?;
    let ctx_dir = config.data_dir.clone();
    let clean = data_dir.was_clean();
    let (topics, report) = {
        let path = config.data_dir.clone();
        let defaults = config.topic_defaults.clone();
        tokio::task::spawn_blocking(move || {
            TopicRegistry::load(&path, defaults, Arc::new(OsFs), clean, now_ms())
        })
        .await
        .map_err(|e| BrokerError::Bind {
            addr: config.listen,
            source: std::io::Error::other(e),
        })??
    };
    tracing::info!(
        data_dir = %config.data_dir.display(),
        clean_shutdown = clean,
        topics = report.topics,
        partitions = report.partitions,
        recovered_partitions = report.recovered_partitions,
        truncated_bytes = report.truncated_bytes,
        elapsed_ms = started.elapsed().as_millis(),
        "recovery complete"
    );
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| BrokerError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| BrokerError::Bind {
        addr: config.listen,
        source,
    })?;
    let producer_ids = ProducerIds::open(&ctx_dir)?;
    let ctx = Arc::new(BrokerContext {
        producer_ids,
        topics,
        advertised: addr,
        config,
        shutting_down: CancellationToken::new(),
    });
    tracing::info!(%addr, "listening");
    if let Some(ready) = ready {
        let _ = ready.send(addr);
    }

    let tracker = TaskTracker::new();
    let connections = shutdown.child_token();
    spawn_retention(&ctx, &tracker, connections.clone());
    accept_loop(&listener, &ctx, &tracker, &connections, &shutdown).await;
    drop(listener);
    tracing::info!("shutting down: no new connections; finishing requests in flight");
    connections.cancel();
    ctx.shutting_down.cancel();
    tracker.close();
    let grace = Duration::from_millis(ctx.config.shutdown_timeout_ms);
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!(
            timeout_ms = ctx.config.shutdown_timeout_ms,
            "requests still running at the shutdown timeout; closing anyway"
        );
    }
    let ctx2 = Arc::clone(&ctx);
    let closed = tokio::task::spawn_blocking(move || ctx2.topics.close_all())
        .await
        .unwrap_or_else(|e| {
            Err(crate::storage::StorageError::io(
                ".",
                std::io::Error::other(e),
            ))
        });
    match closed {
        Ok(()) => {
            data_dir.mark_clean()?;
            tracing::info!("clean shutdown");
        }
        Err(e) => tracing::error!(error = %e, "shutdown was not clean; the next start recovers"),
    }
    Ok(())
}

async fn accept_loop(
    listener: &TcpListener,
    ctx: &Arc<BrokerContext>,
    tracker: &TaskTracker,
    connections: &CancellationToken,
    shutdown: &CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(ctx.config.max_connections as usize));
    let mut last_refusal_log: Option<Instant> = None;
    let mut refused_since_log = 0u64;
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and similar: back off briefly.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            refused_since_log += 1;
            if last_refusal_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                tracing::warn!(%peer, refused = refused_since_log, max_connections = ctx.config.max_connections, "refusing connections: max_connections reached");
                last_refusal_log = Some(Instant::now());
                refused_since_log = 0;
            }
            drop(stream);
            continue;
        };
        let ctx = Arc::clone(ctx);
        let token = connections.clone();
        tracker.spawn(async move {
            connection::serve(stream, peer, ctx, token).await;
            drop(slot);
        });
    }
}

fn spawn_retention(ctx: &Arc<BrokerContext>, tracker: &TaskTracker, stop: CancellationToken) {
    let ctx = Arc::clone(ctx);
    tracker.spawn(async move {
        let mut tick = tokio::time::interval(RETENTION_INTERVAL);
        tick.tick().await;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let ctx = Arc::clone(&ctx);
            let deleted =
                tokio::task::spawn_blocking(move || ctx.topics.enforce_retention(now_ms()))
                    .await
                    .unwrap_or(0);
            if deleted > 0 {
                tracing::info!(segments = deleted, "retention deleted segments");
            }
        }
    });
}
