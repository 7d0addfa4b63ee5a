//! The daemon's metrics (per job × destination: last success, last run's duration and result,
//! stored bytes, backup count, failures; per job: running) and the freshness `/healthz` judges.
//! Runs update them as they finish; each job's destinations are listed at start and after each
//! of its runs. The exposition is `cli::prometheus`'s (the `prometheus-client` crate).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use cloudmirror::backup::BackupReport;
use cloudmirror::config::destinations;
use cloudmirror::config::jobs::Job;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;

use crate::cli::prometheus::{labels, Labels};
use crate::Cli;

/// What `/healthz` knows of one job's destination.
#[derive(Debug, Clone)]
struct Freshness {
    /// When the newest backup was made; `None`: none, or the destination could not be listed.
    newest: Option<DateTime<Utc>>,
    /// Why the destination could not be listed, if it could not.
    unlisted: Option<String>,
    /// The job's `[health] max_age_hours`.
    max_age_hours: u32,
}

/// One stale job × destination in `/healthz`'s body.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Stale {
    job: String,
    destination: String,
    reason: String,
}

/// The daemon's metrics registry and the state behind `/healthz`.
pub(super) struct Metrics {
    registry: Registry,
    last_success: Family<Labels, Gauge<f64, AtomicU64>>,
    last_duration: Family<Labels, Gauge<f64, AtomicU64>>,
    stored_bytes: Family<Labels, Gauge>,
    backups: Family<Labels, Gauge>,
    last_result: Family<Labels, Gauge>,
    failures: Family<Labels, Counter>,
    running: Family<Labels, Gauge>,
    freshness: Mutex<BTreeMap<(String, String), Freshness>>,
}

impl Metrics {
    pub(super) fn new() -> Self {
        let mut registry = Registry::default();
        let last_success = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        let last_duration = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        let stored_bytes = Family::<Labels, Gauge>::default();
        let backups = Family::<Labels, Gauge>::default();
        let last_result = Family::<Labels, Gauge>::default();
        let failures = Family::<Labels, Counter>::default();
        let running = Family::<Labels, Gauge>::default();
        registry.register(
            "cloudmirror_last_success_timestamp_seconds",
            "When the job last stored a backup on the destination (Unix time)",
            last_success.clone(),
        );
        registry.register(
            "cloudmirror_last_run_duration_seconds",
            "How long the job's last run took on the destination",
            last_duration.clone(),
        );
        registry.register(
            "cloudmirror_stored_bytes",
            "Total stored size of the job's backups on the destination",
            stored_bytes.clone(),
        );
        registry.register(
            "cloudmirror_backups",
            "Number of the job's backups (with a manifest) on the destination",
            backups.clone(),
        );
        registry.register(
            "cloudmirror_last_run_success",
            "1 if the job's last run stored its backup on the destination, 0 if it failed there",
            last_result.clone(),
        );
        registry.register(
            "cloudmirror_failures",
            "Runs of the job that failed on the destination since the daemon started",
            failures.clone(),
        );
        registry.register(
            "cloudmirror_job_running",
            "1 while a run of the job is under way (or waiting for a max_parallel slot)",
            running.clone(),
        );
        Self {
            registry,
            last_success,
            last_duration,
            stored_bytes,
            backups,
            last_result,
            failures,
            running,
            freshness: Mutex::new(BTreeMap::new()),
        }
    }

    /// The metrics as OpenMetrics text (what `prometheus-client` writes, ending in `# EOF`).
    pub(super) fn exposition(&self) -> String {
        let mut out = crate::cli::prometheus::text(&self.registry);
        out.push_str("# EOF\n");
        out
    }

    /// Marks a job as running or not.
    pub(super) fn set_running(&self, job: &str, running: bool) {
        self.running
            .get_or_create(&labels(Some(job), None))
            .set(i64::from(running));
    }

    /// Records a finished run: `report` when the backup ran, else every destination failed.
    pub(super) fn record_run(
        &self,
        job: &Job,
        dest_names: &[String],
        report: Option<&BackupReport>,
        seconds: f64,
    ) {
        let now = Utc::now().timestamp() as f64;
        for name in dest_names {
            let result =
                report.and_then(|r| r.destinations.iter().find(|d| &d.destination == name));
            let l = labels(Some(&job.name), Some(name));
            let ok = result.is_some_and(|r| r.ok);
            self.last_result.get_or_create(&l).set(i64::from(ok));
            self.last_duration
                .get_or_create(&l)
                .set(result.map_or(seconds, |r| r.seconds));
            let failures = self.failures.get_or_create(&l);
            if ok {
                self.last_success.get_or_create(&l).set(now);
            } else {
                failures.inc();
            }
        }
    }

    /// Lists the job's destinations: stored bytes, backup count, newest backup (and its time as
    /// the last success when none was seen yet).
    pub(super) async fn refresh(&self, cli: &Cli, job: &Job) {
        let dests = match destinations::open_selected(&job.config, &cli.to).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(job = %job.name, "cannot open the destinations: {e}");
                return;
            }
        };
        let health = crate::cli::status::health_of(&job.config, &dests).await;
        let mut fresh = self
            .freshness
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for h in &health {
            let l = labels(Some(&job.name), Some(&h.destination));
            // Every series exists from the start (a counter at 0, not absent).
            let _ = self.failures.get_or_create(&l);
            if let Some(count) = h.count {
                self.backups
                    .get_or_create(&l)
                    .set(i64::try_from(count).unwrap_or(i64::MAX));
            }
            if let Some(size) = h.total_size {
                self.stored_bytes
                    .get_or_create(&l)
                    .set(i64::try_from(size).unwrap_or(i64::MAX));
            }
            let newest = h.newest.as_ref().map(|n| n.created_at);
            if let Some(t) = newest {
                let seen = self.last_success.get_or_create(&l).get();
                if seen < t.timestamp() as f64 {
                    self.last_success
                        .get_or_create(&l)
                        .set(t.timestamp() as f64);
                }
            }
            let unlisted = if h.count.is_none() {
                Some(
                    h.findings
                        .first()
                        .map_or_else(|| "cannot be listed".to_owned(), |f| f.message.clone()),
                )
            } else {
                None
            };
            fresh.insert(
                (job.name.clone(), h.destination.clone()),
                Freshness {
                    newest,
                    unlisted,
                    max_age_hours: job.config.health.max_age_hours,
                },
            );
        }
    }

    /// The job × destination pairs whose newest backup is missing or older than `max_age`.
    pub(super) fn stale(&self) -> Vec<Stale> {
        let now = Utc::now();
        let fresh = self
            .freshness
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        fresh
            .iter()
            .filter_map(|((job, destination), f)| {
                let reason = if let Some(why) = &f.unlisted {
                    why.clone()
                } else if let Some(t) = f.newest {
                    let age = now - t;
                    if age.num_seconds() <= i64::from(f.max_age_hours) * 3600 {
                        return None;
                    }
                    format!(
                        "newest backup is {}h old (max_age_hours {})",
                        age.num_hours(),
                        f.max_age_hours
                    )
                } else {
                    "no backup yet".to_owned()
                };
                Some(Stale {
                    job: job.clone(),
                    destination: destination.clone(),
                    reason,
                })
            })
            .collect()
    }
}
