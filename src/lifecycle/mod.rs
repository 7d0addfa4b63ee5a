//! Keeping destinations tidy and healthy: reading backups with their manifests, applying retention
//! (`prune`, and after every successful backup) and assessing health (`status`).

pub mod health;
pub mod probe;
pub mod retention;
pub mod space;
pub mod verify;

use chrono::{DateTime, Utc};
use cloudmirror_contract::{ErrorKind, Key};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::catalog::{self, fetch_manifest};
use crate::destination::Destination;
use crate::lifecycle::health::{DestinationHealth, HealthPolicy, ListingError};
use crate::lifecycle::retention::{BackupInfo, RetentionPlan, RetentionPolicy};

/// Manifests fetched at once per destination.
const MANIFEST_CONCURRENCY: usize = 8;

/// Every cloudmirror backup on a destination (objects with a readable manifest), with the
/// manifest's creation time and size. Foreign files never appear here.
pub(crate) async fn backups_with_manifests(
    dest: &Destination,
) -> Result<Vec<BackupInfo>, cloudmirror_contract::Error> {
    let listed = catalog::backups_on(dest).await?;
    futures::stream::iter(listed)
        .map(|b| async move {
            let Ok(key) = Key::parse(&b.name) else {
                return Ok(None);
            };
            match fetch_manifest(dest, &key).await {
                Ok(m) => Ok(Some(BackupInfo {
                    name: b.name,
                    created_at: m.created_at,
                    size: m.stored_size,
                    pre_restore: m.pre_restore,
                })),
                // Deleted meanwhile, or not a manifest we wrote: leave it alone.
                Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::Other) => {
                    tracing::warn!(destination = %dest.name, backup = %b.name, "skipping: {e}");
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        })
        .buffer_unordered(MANIFEST_CONCURRENCY)
        .try_filter_map(|x| async move { Ok(x) })
        .try_collect()
        .await
}

/// What retention did (or would do) on one destination.
#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    /// Destination name.
    pub destination: String,
    /// The plan: every backup with the rule that keeps it, or `delete`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<RetentionPlan>,
    /// Backups deleted (none in a dry run).
    pub deleted: Vec<String>,
    /// Why nothing was planned (no rules) or what failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Whether it failed.
    pub failed: bool,
}

/// Applies `policy` to one destination; with `dry_run`, only plans.
pub async fn prune(
    dest: &Destination,
    policy: Option<&RetentionPolicy>,
    now: DateTime<Utc>,
    dry_run: bool,
) -> PruneReport {
    let mut report = PruneReport {
        destination: dest.name.clone(),
        plan: None,
        deleted: Vec::new(),
        note: None,
        failed: false,
    };
    let Some(policy) = policy.filter(|p| p.has_rules()) else {
        report.note = Some("no retention rules: everything is kept".into());
        return report;
    };
    let backups = match backups_with_manifests(dest).await {
        Ok(b) => b,
        Err(e) => {
            report.failed = true;
            report.note = Some(format!("cannot list backups: {e}"));
            return report;
        }
    };
    let plan = retention::plan(&backups, policy, now);
    if !dry_run {
        for entry in plan.to_delete() {
            let Ok(key) = Key::parse(&entry.name) else {
                continue;
            };
            let result = catalog::delete(std::slice::from_ref(dest), &key).await;
            match result.first() {
                Some(r) if r.error.is_none() => report.deleted.push(entry.name.clone()),
                Some(r) => {
                    report.failed = true;
                    report.note = Some(format!(
                        "deleting {} failed: {}",
                        entry.name,
                        r.error.as_deref().unwrap_or("unknown error")
                    ));
                    break;
                }
                None => {}
            }
        }
    }
    report.plan = Some(plan);
    report
}

/// Health of one destination.
pub async fn status(
    dest: &Destination,
    policy: &HealthPolicy,
    now: DateTime<Utc>,
) -> DestinationHealth {
    match backups_with_manifests(dest).await {
        Ok(backups) => health::assess(&dest.name, Ok(&backups), policy, now),
        Err(e) => {
            let err = ListingError {
                unauthorized: e.kind() == ErrorKind::Unauthorized,
                message: e.to_string(),
            };
            health::assess(&dest.name, Err(&err), policy, now)
        }
    }
}
