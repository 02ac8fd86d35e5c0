//! [`shutdown`]: a future that resolves on SIGINT (Ctrl-C) or SIGTERM.
//!
//! Listening replaces the signals' default action (ending the process), so
//! only commands that stop cleanly on a signal (`consume`) install it.

use std::future::Future;

use tokio::signal::unix::{SignalKind, signal};

use crate::error::CliError;

/// Starts listening for SIGINT and SIGTERM; the future resolves at the
/// first of them.
///
/// ```no_run
/// # async fn run() -> Result<(), runnel_cli::error::CliError> {
/// let stop = runnel_cli::signal::shutdown()?;
/// stop.await; // Ctrl-C
/// # Ok(())
/// # }
/// ```
pub fn shutdown() -> Result<impl Future<Output = ()>, CliError> {
    let listen = |kind| {
        signal(kind).map_err(|source| CliError::Read {
            what: "signals".to_owned(),
            source,
        })
    };
    let mut interrupt = listen(SignalKind::interrupt())?;
    let mut terminate = listen(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}
