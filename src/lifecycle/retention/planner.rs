//! The planner: which backups a [`RetentionPolicy`] keeps, and the rules that keep each one.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use serde::Serialize;

use super::RetentionPolicy;

/// One backup on a destination, as the planner sees it (read from its manifest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupInfo {
    /// The backup's stored name.
    pub name: String,
    /// When the backup was made (the manifest's `created_at`).
    pub created_at: DateTime<Utc>,
    /// Stored size in bytes (the manifest's `stored_size`).
    pub size: u64,
    /// Whether this is a safety backup taken before a restore.
    pub pre_restore: bool,
}

/// Why a backup is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Reason {
    /// The policy has no rule, so everything is kept.
    NoRule,
    /// The newest backup is always kept.
    Newest,
    /// The newest pre-restore backup is always kept.
    NewestPreRestore,
    /// One of the `keep_last` newest backups.
    KeepLast {
        /// 1 for the newest backup.
        position: u32,
        /// The policy's `keep_last`.
        of: u32,
    },
    /// The newest backup of a day kept by `keep_daily`.
    KeepDaily {
        /// The UTC day.
        day: NaiveDate,
    },
    /// The newest backup of an ISO week kept by `keep_weekly`.
    KeepWeekly {
        /// The ISO week-numbering year (may differ from the calendar year around New Year).
        iso_year: i32,
        /// The ISO week, 1 to 53.
        week: u32,
    },
    /// The newest backup of a month kept by `keep_monthly`.
    KeepMonthly {
        /// The year.
        year: i32,
        /// The month, 1 to 12.
        month: u32,
    },
    /// Younger than `max_age_days`.
    #[serde(rename = "max_age_days")]
    MaxAge {
        /// The policy's `max_age_days`.
        days: u32,
    },
    /// Larger than the newest backup, and `protect_larger` is on.
    ProtectLarger {
        /// This backup's size.
        size: u64,
        /// The newest backup's size.
        newest_size: u64,
    },
}

/// What the plan does with one backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", content = "reasons", rename_all = "snake_case")]
pub enum Decision {
    /// Keep it, for these reasons (never empty).
    Keep(Vec<Reason>),
    /// Delete it: no rule keeps it.
    Delete,
}

/// One backup and what the plan does with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanEntry {
    /// The backup's stored name.
    pub name: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Stored size in bytes.
    pub size: u64,
    /// Whether it is a pre-restore backup.
    pub pre_restore: bool,
    /// Keep (and why) or delete.
    #[serde(flatten)]
    pub decision: Decision,
}

/// The outcome of [`plan`]: every backup, newest first, with its [`Decision`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionPlan {
    /// Every backup passed in, newest first.
    pub entries: Vec<PlanEntry>,
}

impl Decision {
    /// Whether the backup is kept.
    pub fn is_keep(&self) -> bool {
        matches!(self, Self::Keep(_))
    }
}

impl RetentionPlan {
    /// The backups to keep, newest first.
    pub fn kept(&self) -> impl Iterator<Item = &PlanEntry> {
        self.entries.iter().filter(|e| e.decision.is_keep())
    }

    /// The backups to delete, newest first.
    pub fn to_delete(&self) -> impl Iterator<Item = &PlanEntry> {
        self.entries.iter().filter(|e| !e.decision.is_keep())
    }
}

/// Decides, for each backup of one destination, whether `policy` keeps it at time `now`.
///
/// `backups` may come in any order; the plan lists them newest first. See the
/// [module documentation](super) for the rules.
pub fn plan(backups: &[BackupInfo], policy: &RetentionPolicy, now: DateTime<Utc>) -> RetentionPlan {
    let ordered = newest_first(backups);
    let mut reasons: Vec<Vec<Reason>> = vec![Vec::new(); ordered.len()];

    if policy.has_rules() {
        if let Some(first) = reasons.first_mut() {
            first.push(Reason::Newest);
        }
        if let Some(i) = ordered.iter().position(|b| b.pre_restore) {
            reasons[i].push(Reason::NewestPreRestore);
        }
        if let Some(n) = policy.keep_last {
            for (position, r) in (1..=n).zip(reasons.iter_mut()) {
                r.push(Reason::KeepLast { position, of: n });
            }
        }
        if let Some(n) = policy.keep_daily {
            keep_per_period(&ordered, n, &mut reasons, |b| Reason::KeepDaily {
                day: b.created_at.date_naive(),
            });
        }
        if let Some(n) = policy.keep_weekly {
            keep_per_period(&ordered, n, &mut reasons, |b| {
                let week = b.created_at.iso_week();
                Reason::KeepWeekly {
                    iso_year: week.year(),
                    week: week.week(),
                }
            });
        }
        if let Some(n) = policy.keep_monthly {
            keep_per_period(&ordered, n, &mut reasons, |b| Reason::KeepMonthly {
                year: b.created_at.year(),
                month: b.created_at.month(),
            });
        }
        if let Some(days) = policy.max_age_days {
            let limit = TimeDelta::days(i64::from(days));
            for (b, r) in ordered.iter().zip(reasons.iter_mut()) {
                if now.signed_duration_since(b.created_at) < limit {
                    r.push(Reason::MaxAge { days });
                }
            }
        }
        if policy.protect_larger {
            if let Some(newest) = ordered.first() {
                for (b, r) in ordered.iter().zip(reasons.iter_mut()).skip(1) {
                    if b.size > newest.size {
                        r.push(Reason::ProtectLarger {
                            size: b.size,
                            newest_size: newest.size,
                        });
                    }
                }
            }
        }
    } else {
        for r in &mut reasons {
            r.push(Reason::NoRule);
        }
    }

    let entries = ordered
        .into_iter()
        .zip(reasons)
        .map(|(b, reasons)| PlanEntry {
            name: b.name.clone(),
            created_at: b.created_at,
            size: b.size,
            pre_restore: b.pre_restore,
            decision: if reasons.is_empty() {
                Decision::Delete
            } else {
                Decision::Keep(reasons)
            },
        })
        .collect();
    RetentionPlan { entries }
}

/// `backups` newest first: by `created_at`, then by name (the greater name is the newer).
pub(crate) fn newest_first(backups: &[BackupInfo]) -> Vec<&BackupInfo> {
    let mut ordered: Vec<&BackupInfo> = backups.iter().collect();
    ordered.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| b.name.cmp(&a.name))
    });
    ordered
}

/// Keeps the newest backup of each of the `n` most recent periods that have backups.
/// `period` maps a backup to the reason naming its period; `ordered` is newest first, so the
/// periods it yields never increase and a change of period starts a new one.
fn keep_per_period(
    ordered: &[&BackupInfo],
    n: u32,
    reasons: &mut [Vec<Reason>],
    period: impl Fn(&BackupInfo) -> Reason,
) {
    let mut last: Option<Reason> = None;
    let mut kept = 0;
    for (b, r) in ordered.iter().zip(reasons.iter_mut()) {
        if kept == n {
            break;
        }
        let current = period(b);
        if last.as_ref() != Some(&current) {
            r.push(current.clone());
            last = Some(current);
            kept += 1;
        }
    }
}
