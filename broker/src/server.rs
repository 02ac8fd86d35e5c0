//! The accept loop and the broker's lifecycle: open the data directory,
//! load topics (recovering after a crash), serve, and on shutdown stop
//! accepting, answer what was already read, flush, close every log and
//! write the clean-shutdown marker.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::PrometheusHandle;
use runnel_config::BrokerConfig;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::now_ms;
use crate::connection;
use crate::context::BrokerContext;
use crate::error::BrokerError;
use crate::group::{CoordinatorConfig, GroupCoordinator, StoreConfig, TopicMetadata};
use crate::http::MetricsListener;
use crate::metrics::events::{self, RejectReason};
use crate::metrics::{self, Health, Telemetry};
use crate::producer_ids::ProducerIds;
use crate::storage::{DataDir, OsFs};
use crate::topics::TopicRegistry;

/// How often retention runs.
const RETENTION_INTERVAL: Duration = Duration::from_secs(30);

/// Runs the broker until `shutdown` is cancelled. `ready` receives the bound
/// address once the broker serves. `prometheus` is the handle of the
/// recorder installed by [`metrics::install`]; without one the metrics
/// listener serves only `/health`.
///
/// The metrics listener starts right after the data directory is locked,
/// before recovery, so recovery can be watched (`/health` answers 503 until
/// the native listener is bound).
pub async fn run(
    config: BrokerConfig,
    shutdown: CancellationToken,
    ready: Option<oneshot::Sender<SocketAddr>>,
    prometheus: Option<PrometheusHandle>,
) -> Result<(), BrokerError> {
    let started = Instant::now();
    tracing::info!(
        version = metrics::VERSION,
        commit = metrics::COMMIT,
        data_dir = %config.data_dir.display(),
        listen = %config.listen,
        metrics_listen = %config.metrics_listen,
        metrics = prometheus.is_some(),
        "starting"
    );
    let data_dir = DataDir::open(&config.data_dir)?;
    let telemetry = Arc::new(Telemetry::new(prometheus, config.metrics_per_partition));
    let metrics_listener =
        MetricsListener::bind(config.metrics_listen, Arc::clone(&telemetry)).await?;
    tracing::info!(addr = %metrics_listener.local_addr()?, "metrics listening");
    let metrics_stop = CancellationToken::new();
    // Stops the metrics listener however `run` returns.
    let _metrics_stop_guard = metrics_stop.clone().drop_guard();
    let metrics_task = tokio::spawn(metrics_listener.serve(metrics_stop.clone()));
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
    events::recovery_finished(&config.data_dir, clean, &report, started.elapsed());
    let groups = load_groups(&config, clean).await?;
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
        groups,
        topics,
        advertised: addr,
        config,
        shutting_down: CancellationToken::new(),
    });
    telemetry.attach(Arc::clone(&ctx));
    telemetry.set_group_source(Arc::clone(&ctx.groups) as _);
    telemetry.set_health(Health::Ready);
    tracing::info!(%addr, "listening");
    if let Some(ready) = ready {
        let _ = ready.send(addr);
    }

    let tracker = TaskTracker::new();
    let connections = shutdown.child_token();
    spawn_retention(&ctx, &tracker, connections.clone());
    let topics: Arc<dyn TopicMetadata + Send + Sync> = Arc::clone(&ctx) as _;
    tracker.spawn(Arc::clone(&ctx.groups).run_expiry(topics, connections.clone()));
    accept_loop(&listener, &ctx, &tracker, &connections, &shutdown).await;
    drop(listener);
    tracing::info!("shutting down: no new connections; finishing requests in flight");
    telemetry.set_health(Health::ShuttingDown);
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
    let closed = close_logs(&ctx).await;
    match closed {
        Ok(()) => {
            data_dir.mark_clean()?;
            tracing::info!("clean shutdown");
        }
        Err(e) => tracing::error!(error = %e, "shutdown was not clean; the next start recovers"),
    }
    metrics_stop.cancel();
    let _ = metrics_task.await;
    Ok(())
}

/// Closes every partition log and the groups log (flush, trim, sync), off
/// the async threads.
async fn close_logs(ctx: &Arc<BrokerContext>) -> Result<(), BrokerError> {
    let ctx = Arc::clone(ctx);
    tokio::task::spawn_blocking(move || {
        let topics = ctx.topics.close_all().map_err(BrokerError::from);
        let groups = ctx.groups.close().map_err(BrokerError::from);
        topics.and(groups)
    })
    .await
    .unwrap_or_else(|e| {
        Err(BrokerError::from(crate::storage::StorageError::io(
            ".",
            std::io::Error::other(e),
        )))
    })
}

/// Opens and replays the groups log (before serving, off the async
/// threads).
async fn load_groups(
    config: &BrokerConfig,
    clean: bool,
) -> Result<Arc<GroupCoordinator>, BrokerError> {
    let path = config.data_dir.clone();
    let coordinator = CoordinatorConfig::from_broker(config);
    let (groups, report) = tokio::task::spawn_blocking(move || {
        GroupCoordinator::open(
            Arc::new(OsFs),
            &path,
            clean,
            coordinator,
            StoreConfig::default(),
            now_ms(),
        )
    })
    .await
    .map_err(|e| BrokerError::Bind {
        addr: config.listen,
        source: std::io::Error::other(e),
    })??;
    tracing::info!(
        groups = report.groups,
        members = report.members,
        offsets = report.offsets,
        records = report.records,
        truncated_bytes = report.truncated_bytes,
        "group coordinator loaded"
    );
    Ok(groups)
}

async fn accept_loop(
    listener: &TcpListener,
    ctx: &Arc<BrokerContext>,
    tracker: &TaskTracker,
    connections: &CancellationToken,
    shutdown: &CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(ctx.config.max_connections as usize));
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
            events::connection_rejected(
                peer,
                RejectReason::MaxConnections,
                ctx.config.max_connections,
            );
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
