//! SIGTERM and Ctrl-C for the daemon: the first stops it (runs under way get
//! `[daemon] shutdown_grace`), a second exits at once.

use cloudmirror::{Error, ExitStatus};
use tokio::sync::watch;

/// A flag that turns true on SIGTERM or Ctrl-C; a second signal exits at once.
pub(super) fn stop_signal() -> Result<watch::Receiver<bool>, Error> {
    let (tx, rx) = watch::channel(false);
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::io("installing the SIGTERM handler", e))?;
    tokio::spawn(async move {
        let mut signals = 0;
        loop {
            #[cfg(unix)]
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
            signals += 1;
            if signals > 1 {
                crate::cli::logging::info(format_args!(
                    "cloudmirror daemon: second signal, exiting now"
                ));
                std::process::exit(ExitStatus::Failure.code());
            }
            crate::cli::logging::info(format_args!(
                "cloudmirror daemon: stopping (after the run under way, if any, within [daemon] shutdown_grace)"
            ));
            let _ = tx.send(true);
        }
    });
    Ok(rx)
}
