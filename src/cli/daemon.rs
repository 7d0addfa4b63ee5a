//! `cloudmirror daemon`: runs the configured backup job on `[schedule] cron`, one run at a time,
//! surviving failed runs, until SIGTERM or Ctrl-C (a run under way is finished first).

use chrono::Utc;
use cloudmirror::config::destinations;
use cloudmirror::config::Config;
use cloudmirror::schedule::Schedule;
use cloudmirror::{Error, ExitStatus};
use tokio::sync::watch;

use super::{backup_cmd, BackupOpts};
use crate::Cli;

pub(super) async fn run(cli: &Cli, config: &Config) -> Result<ExitStatus, Error> {
    let schedule_config = config.schedule.as_ref().ok_or_else(|| {
        Error::Config(format!(
            "{}: `daemon` needs a [schedule] section with `cron`",
            config.origin
        ))
    })?;
    let schedule = Schedule::parse(schedule_config)?;
    if config.backup.exec.is_none() && config.backup.source.is_none() {
        return Err(Error::Config(format!(
            "{}: `daemon` needs the job to run: set [backup] exec (a command) or [backup] source (a file)",
            config.origin
        )));
    }
    // Settings errors surface now, not at the first run.
    destinations::open_selected(config, &cli.to).await?;
    let stop = stop_signal()?;
    crate::cli::logging::info(format_args!(
        "cloudmirror daemon: running the backup job on {}",
        schedule.describe()
    ));
    let mut runs = 0u64;
    loop {
        let next = schedule.next_after(Utc::now())?;
        crate::cli::logging::info(format_args!(
            "cloudmirror daemon: next run at {}",
            next.format("%Y-%m-%d %H:%M:%S UTC")
        ));
        let wait = (next - Utc::now()).to_std().unwrap_or_default();
        let mut stopping = stop.clone();
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stopping.wait_for(|s| *s) => break,
        }
        runs += 1;
        crate::cli::logging::info(format_args!("cloudmirror daemon: run {runs} started"));
        let status = match destinations::open_selected(config, &cli.to).await {
            Ok(dests) => {
                let opts = BackupOpts {
                    source: None,
                    exec: None,
                    name: None,
                    verify: false,
                };
                match backup_cmd(cli, config, &dests, &opts).await {
                    Ok(status) => status,
                    Err(e) => {
                        crate::cli::logging::error(format_args!("{e}"));
                        ExitStatus::Failure
                    }
                }
            }
            Err(e) => {
                crate::cli::logging::error(format_args!("{e}"));
                ExitStatus::Failure
            }
        };
        crate::cli::logging::info(format_args!(
            "cloudmirror daemon: run {runs} finished with exit code {}",
            status.code()
        ));
        if *stop.borrow() {
            break;
        }
    }
    crate::cli::logging::info(format_args!(
        "cloudmirror daemon: stopped after {runs} run(s)"
    ));
    Ok(ExitStatus::Success)
}

/// A flag that turns true on SIGTERM or Ctrl-C; a second signal exits at once.
fn stop_signal() -> Result<watch::Receiver<bool>, Error> {
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
                "cloudmirror daemon: stopping (after the run under way, if any)"
            ));
            let _ = tx.send(true);
        }
    });
    Ok(rx)
}
