//! `cloudmirror daemon`: runs every job on its own schedule until SIGTERM or Ctrl-C. A job never
//! overlaps itself (a time that comes while its previous run is still going is skipped, with a
//! log line); at most `[daemon] max_parallel` runs at once; `[daemon] catch_up` runs a job whose
//! last scheduled time was missed once at start. On the signal no new run starts; runs under way
//! get `[daemon] shutdown_grace`, then are cancelled (the source's process group killed, uploads
//! abandoned and cleaned up, the spool removed) through the backup's own failure path.

mod listen;
mod metrics;
mod signal;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use cloudmirror::backup::cancel::Cancel;
use cloudmirror::catalog;
use cloudmirror::config::destinations;
use cloudmirror::config::jobs::Job;
use cloudmirror::config::Config;
use cloudmirror::schedule::Schedule;
use cloudmirror::{Error, ExitStatus};
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use tokio::sync::{watch, Semaphore};

use super::{backup_run, BackupOpts};
use crate::cli::logging::info;
use crate::Cli;

/// A job and when it runs next.
struct Scheduled {
    job: Job,
    schedule: Schedule,
    next: DateTime<Utc>,
    /// A run is queued or under way.
    running: bool,
    /// How log lines name the job (empty for the implicit job, as before `[[jobs]]`).
    label: String,
}

/// What a finished run future reports: the job's index, the run's number, and its exit status
/// (`None`: the daemon stopped before the run could start).
type Finished = (usize, u64, Option<ExitStatus>);

pub(super) async fn run(cli: &Cli, config: &Config, jobs: Vec<Job>) -> Result<ExitStatus, Error> {
    let mut scheduled = prepare(cli, config, jobs).await?;
    let settings = &config.daemon;
    let metrics = start_metrics(cli, settings.listen, &scheduled).await?;
    let stop = signal::stop_signal()?;
    let semaphore = Semaphore::new(settings.max_parallel);
    let mut runs = FuturesUnordered::new();
    let mut cancels: Vec<(u64, Cancel)> = Vec::new();
    let mut started = 0u64;
    let context = RunContext {
        cli,
        semaphore: &semaphore,
        stop: stop.clone(),
        metrics: metrics.as_deref(),
    };
    let mut start = |s: &mut Scheduled, index: usize, cancels: &mut Vec<(u64, Cancel)>| {
        started += 1;
        s.running = true;
        if let Some(m) = context.metrics {
            m.set_running(&s.job.name, true);
        }
        let cancel = Cancel::new();
        cancels.push((started, cancel.clone()));
        one_run(
            context.clone(),
            s.job.clone(),
            s.label.clone(),
            (index, started),
            cancel,
        )
    };
    if settings.catch_up {
        for (index, s) in scheduled.iter_mut().enumerate() {
            if missed(cli, s).await {
                info(format_args!(
                    "cloudmirror daemon: catching up{}: its last scheduled run was missed",
                    s.label
                ));
                runs.push(start(s, index, &mut cancels));
            }
        }
    }
    let mut stopping = stop.clone();
    let mut finished_runs = 0u64;
    loop {
        let next = scheduled
            .iter()
            .map(|s| s.next)
            .min()
            .unwrap_or_else(Utc::now);
        if runs.is_empty() {
            info(format_args!(
                "cloudmirror daemon: next run at {}",
                next.format("%Y-%m-%d %H:%M:%S UTC")
            ));
        }
        let wait = (next - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            () = tokio::time::sleep(wait) => {
                let now = Utc::now();
                for (index, s) in scheduled.iter_mut().enumerate() {
                    if s.next > now {
                        continue;
                    }
                    if s.running {
                        info(format_args!(
                            "cloudmirror daemon: skipping the run{} due at {}: its previous run is still going",
                            s.label,
                            s.next.format("%Y-%m-%d %H:%M:%S UTC")
                        ));
                    } else {
                        runs.push(start(s, index, &mut cancels));
                    }
                    s.next = s.schedule.next_after(now.max(s.next))?;
                }
            }
            Some(done) = runs.next(), if !runs.is_empty() => {
                finished_runs += finish(&mut scheduled, &mut cancels, done);
            }
            _ = stopping.wait_for(|s| *s) => break,
        }
    }
    finished_runs += shut_down(
        &mut runs,
        &mut scheduled,
        &mut cancels,
        settings.shutdown_grace,
    )
    .await;
    info(format_args!(
        "cloudmirror daemon: stopped after {finished_runs} run(s)"
    ));
    Ok(ExitStatus::Success)
}

/// `[daemon] listen`: binds (a taken port is a startup error), lists every job's destinations
/// once, and serves `/metrics` and `/healthz`.
async fn start_metrics(
    cli: &Cli,
    listen: Option<std::net::SocketAddr>,
    scheduled: &[Scheduled],
) -> Result<Option<Arc<metrics::Metrics>>, Error> {
    Ok(match listen {
        None => None,
        Some(addr) => {
            let listener = listen::bind(addr).await?;
            let metrics = Arc::new(metrics::Metrics::new());
            for s in scheduled {
                metrics.set_running(&s.job.name, false);
                metrics.refresh(cli, &s.job).await;
            }
            listen::serve(listener, metrics.clone());
            info(format_args!(
                "cloudmirror daemon: serving /metrics and /healthz on http://{addr}"
            ));
            Some(metrics)
        }
    })
}

/// After the signal: waits for the runs under way up to `grace`, then cancels the rest and waits
/// for them to clean up. Returns how many ran.
async fn shut_down<F: std::future::Future<Output = Finished>>(
    runs: &mut FuturesUnordered<F>,
    scheduled: &mut [Scheduled],
    cancels: &mut Vec<(u64, Cancel)>,
    grace: std::time::Duration,
) -> u64 {
    let mut finished_runs = 0;
    if runs.is_empty() {
        return 0;
    }
    let drained = tokio::time::timeout(grace, async {
        while let Some(done) = runs.next().await {
            finished_runs += finish(scheduled, cancels, done);
        }
    })
    .await;
    if drained.is_err() {
        info(format_args!(
            "cloudmirror daemon: shutdown_grace ({}s) is over: cancelling {} run(s)",
            grace.as_secs_f64(),
            cancels.len()
        ));
        for (_, cancel) in cancels.iter() {
            cancel.cancel();
        }
        while let Some(done) = runs.next().await {
            finished_runs += finish(scheduled, cancels, done);
        }
    }
    finished_runs
}

/// Checks every job before the first run: a schedule, something to back up, destination settings.
async fn prepare(cli: &Cli, config: &Config, jobs: Vec<Job>) -> Result<Vec<Scheduled>, Error> {
    let implicit = !config.has_jobs();
    let now = Utc::now();
    let mut scheduled = Vec::new();
    for job in jobs {
        let Some(schedule_config) = job.config.schedule.as_ref() else {
            return Err(Error::Config(if implicit {
                format!(
                    "{}: `daemon` needs a [schedule] section with `cron`",
                    config.origin
                )
            } else {
                format!(
                    "{}: job {:?} has no schedule: set `schedule` in its [[jobs]] table (or [schedule] cron)",
                    config.origin, job.name
                )
            }));
        };
        let schedule = Schedule::parse(schedule_config)?;
        if job.config.backup.exec.is_none() && job.config.backup.source.is_none() {
            return Err(Error::Config(if implicit {
                format!(
                    "{}: `daemon` needs the job to run: set [backup] exec (a command) or [backup] source (a file)",
                    config.origin
                )
            } else {
                format!(
                    "{}: job {:?} has nothing to back up: set exec or source in its [jobs.backup]",
                    config.origin, job.name
                )
            }));
        }
        // Settings errors surface now, not at the first run.
        destinations::open_selected(&job.config, &cli.to).await?;
        let next = schedule.next_after(now)?;
        let label = if implicit {
            String::new()
        } else {
            format!(" (job {})", job.name)
        };
        info(format_args!(
            "cloudmirror daemon: running the backup job{label} on {}",
            schedule.describe()
        ));
        scheduled.push(Scheduled {
            job,
            schedule,
            next,
            running: false,
            label,
        });
    }
    Ok(scheduled)
}

/// Records a finished run; returns 1 when it ran (0 when the daemon stopped before it started).
fn finish(scheduled: &mut [Scheduled], cancels: &mut Vec<(u64, Cancel)>, done: Finished) -> u64 {
    let (index, id, status) = done;
    if let Some(s) = scheduled.get_mut(index) {
        s.running = false;
    }
    cancels.retain(|(n, _)| *n != id);
    u64::from(status.is_some())
}

/// Whether the job's last scheduled time passed with no backup made since (`catch_up`).
async fn missed(cli: &Cli, s: &Scheduled) -> bool {
    let Some(due) = s.schedule.previous_before(Utc::now()) else {
        return false;
    };
    let Ok(dests) = destinations::open_selected(&s.job.config, &cli.to).await else {
        return true;
    };
    let listings = catalog::list(&dests).await;
    let newest = catalog::summarize(&listings)
        .iter()
        .filter_map(|r| r.modified)
        .max();
    newest.is_none_or(|t| t < due)
}

/// What every run shares.
#[derive(Clone)]
struct RunContext<'a> {
    cli: &'a Cli,
    semaphore: &'a Semaphore,
    stop: watch::Receiver<bool>,
    metrics: Option<&'a metrics::Metrics>,
}

/// One run of a job: waits for a `max_parallel` slot, then backs up (unless the daemon is
/// stopping by then), then updates the metrics.
async fn one_run(
    context: RunContext<'_>,
    job: Job,
    label: String,
    (index, id): (usize, u64),
    cancel: Cancel,
) -> Finished {
    let RunContext {
        cli,
        semaphore,
        stop,
        metrics,
    } = context;
    let done = |status: Option<ExitStatus>| {
        if let Some(m) = metrics {
            m.set_running(&job.name, false);
        }
        (index, id, status)
    };
    let Ok(_permit) = semaphore.acquire().await else {
        return done(None);
    };
    if *stop.borrow() {
        return done(None);
    }
    info(format_args!("cloudmirror daemon: run {id} started{label}"));
    let began = std::time::Instant::now();
    let mut report = None;
    let dest_names: Vec<String> = job
        .config
        .destinations
        .iter()
        .filter(|d| cli.to.is_empty() || cli.to.contains(&d.name))
        .map(|d| d.name.clone())
        .collect();
    let status = match destinations::open_selected(&job.config, &cli.to).await {
        Ok(dests) => {
            let opts = BackupOpts {
                source: None,
                exec: None,
                name: None,
                verify: false,
                cancel: Some(&cancel),
            };
            match backup_run(cli, &job.config, &dests, &opts).await {
                Ok((status, r)) => {
                    report = Some(r);
                    status
                }
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
    info(format_args!(
        "cloudmirror daemon: run {id}{label} finished with exit code {}",
        status.code()
    ));
    if let Some(m) = metrics {
        m.record_run(
            &job,
            &dest_names,
            report.as_ref(),
            began.elapsed().as_secs_f64(),
        );
        m.refresh(cli, &job).await;
    }
    done(Some(status))
}
