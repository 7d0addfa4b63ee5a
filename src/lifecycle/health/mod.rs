//! Destination health for `status`: how fresh, how many and how large the backups are, and what
//! looks wrong.
//!
//! This module is pure: the caller lists each destination (only backups with a cloudmirror
//! manifest), turns a failed listing into a [`ListingError`], and calls `assess`. The findings:
//!
//! - the listing failed: critical (`unauthorized: check the credentials` when the destination
//!   refused the credentials, `unreachable: ...` otherwise);
//! - no backup at all: critical;
//! - the newest backup is older than `max_age_hours` (strictly: exactly that old is fine):
//!   warning;
//! - the newest backup is smaller than the previous one by more than `shrink_warn_percent`
//!   percent (strictly: exactly that much is fine): warning.
//!
//! "Newest" and "previous" use the same order as retention (by `created_at`, then by name), and
//! pre-restore backups count like any other. [`exit_code`] folds every destination into one exit
//! code: 0 healthy, 1 some warning, 2 something critical.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::lifecycle::retention::{newest_first, BackupInfo, InvalidPolicy, WholeNumber};
use crate::ExitStatus;

/// Default for [`HealthPolicy::max_age_hours`]: a daily backup plus two hours of slack.
pub(crate) const DEFAULT_MAX_AGE_HOURS: u32 = 26;

/// Default for [`HealthPolicy::shrink_warn_percent`].
pub(crate) const DEFAULT_SHRINK_WARN_PERCENT: u32 = 20;

/// The largest accepted `max_age_hours` (ten years).
pub(crate) const MAX_AGE_HOURS: u32 = 87_600;

/// The thresholds of the health checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthPolicy {
    /// Warn when the newest backup is older than this many hours (default 26).
    #[serde(default = "default_max_age_hours", deserialize_with = "whole_number")]
    pub max_age_hours: u32,
    /// Warn when the newest backup is smaller than the previous one by more than this percentage
    /// (default 20; 0 warns on any shrink).
    #[serde(
        default = "default_shrink_warn_percent",
        deserialize_with = "whole_number"
    )]
    pub shrink_warn_percent: u32,
}

/// Why a destination could not be listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingError {
    /// The destination refused the credentials.
    pub unauthorized: bool,
    /// What went wrong (never contains secrets).
    pub message: String,
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Needs attention (exit 1).
    Warning,
    /// Backups are missing or unreachable (exit 2).
    Critical,
}

/// Something wrong with a destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How serious it is.
    pub level: Level,
    /// What is wrong, for the operator.
    pub message: String,
}

/// The overall state of a destination: its worst finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// No finding.
    Healthy,
    /// At least one warning, nothing critical.
    Warning,
    /// At least one critical finding.
    Critical,
}

/// The newest backup on a destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewestBackup {
    /// Its stored name.
    pub name: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Its age in seconds at assessment time (negative if its clock was ahead of ours).
    pub age_seconds: i64,
    /// Its stored size in bytes.
    pub size: u64,
}

/// The health of one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DestinationHealth {
    /// The destination's name.
    pub destination: String,
    /// The worst finding's level, or healthy.
    pub status: Status,
    /// The newest backup; `None` when there is none or the listing failed.
    pub newest: Option<NewestBackup>,
    /// How many backups it holds; `None` when the listing failed.
    pub count: Option<usize>,
    /// Their total stored size in bytes; `None` when the listing failed.
    pub total_size: Option<u64>,
    /// What is wrong, most serious first.
    pub findings: Vec<Finding>,
}

impl HealthPolicy {
    /// Checks that `max_age_hours` is from 1 to [`MAX_AGE_HOURS`] and `shrink_warn_percent` at
    /// most 100. (Negative values are already refused when the config is parsed.)
    pub(crate) fn validate(&self) -> Result<(), InvalidPolicy> {
        if self.max_age_hours == 0 {
            return Err(InvalidPolicy::new(
                "health",
                "max_age_hours",
                "must be at least 1",
            ));
        }
        if self.max_age_hours > MAX_AGE_HOURS {
            return Err(InvalidPolicy::new(
                "health",
                "max_age_hours",
                format!(
                    "must be at most {MAX_AGE_HOURS} (got {})",
                    self.max_age_hours
                ),
            ));
        }
        if self.shrink_warn_percent > 100 {
            return Err(InvalidPolicy::new(
                "health",
                "shrink_warn_percent",
                format!("must be at most 100 (got {})", self.shrink_warn_percent),
            ));
        }
        Ok(())
    }
}

impl Default for HealthPolicy {
    /// `max_age_hours = 26`, `shrink_warn_percent = 20`.
    fn default() -> Self {
        Self {
            max_age_hours: DEFAULT_MAX_AGE_HOURS,
            shrink_warn_percent: DEFAULT_SHRINK_WARN_PERCENT,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Warning => "warning",
            Self::Critical => "critical",
        })
    }
}

impl fmt::Display for Finding {
    /// `warning: newest backup ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.level, self.message)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Healthy => "healthy",
            Self::Warning => "warning",
            Self::Critical => "critical",
        })
    }
}

impl Status {
    /// The exit status for this state: success, partial (warning) or failure (critical).
    pub fn exit_status(self) -> ExitStatus {
        match self {
            Self::Healthy => ExitStatus::Success,
            Self::Warning => ExitStatus::Partial,
            Self::Critical => ExitStatus::Failure,
        }
    }
}

/// Assesses one destination from its listing (`Err` when listing failed) at time `now`.
pub(crate) fn assess(
    destination: &str,
    listing: Result<&[BackupInfo], &ListingError>,
    policy: &HealthPolicy,
    now: DateTime<Utc>,
) -> DestinationHealth {
    let backups = match listing {
        Ok(backups) => backups,
        Err(e) => {
            let message = match (e.unauthorized, e.message.is_empty()) {
                (true, true) => "unauthorized: check the credentials".to_owned(),
                (true, false) => format!("unauthorized: check the credentials ({})", e.message),
                (false, _) => format!("unreachable: {}", e.message),
            };
            return DestinationHealth::new(
                destination,
                None,
                None,
                None,
                vec![Finding::critical(message)],
            );
        }
    };

    let ordered = newest_first(backups);
    let total_size = backups
        .iter()
        .fold(0_u64, |sum, b| sum.saturating_add(b.size));
    let mut findings = Vec::new();
    let newest = ordered.first().map(|b| NewestBackup {
        name: b.name.clone(),
        created_at: b.created_at,
        age_seconds: now.signed_duration_since(b.created_at).num_seconds(),
        size: b.size,
    });
    match &newest {
        None => findings.push(Finding::critical("no backups".to_owned())),
        Some(n) => {
            if n.age_seconds > i64::from(policy.max_age_hours) * 3600 {
                findings.push(Finding::warning(format!(
                    "newest backup {} is {} old, more than max_age_hours = {}",
                    n.name,
                    human_age(n.age_seconds),
                    policy.max_age_hours
                )));
            }
        }
    }
    if let [new, previous, ..] = ordered.as_slice() {
        let shrink = u128::from(previous.size.saturating_sub(new.size));
        if shrink * 100 > u128::from(policy.shrink_warn_percent) * u128::from(previous.size) {
            let percent = shrink as f64 * 100.0 / previous.size as f64;
            findings.push(Finding::warning(format!(
                "newest backup {} ({} bytes) is {percent:.1}% smaller than the previous one {} \
                 ({} bytes), more than shrink_warn_percent = {}",
                new.name, new.size, previous.name, previous.size, policy.shrink_warn_percent
            )));
        }
    }
    DestinationHealth::new(
        destination,
        newest,
        Some(backups.len()),
        Some(total_size),
        findings,
    )
}

/// The exit code for a `status` run: 0 when every destination is healthy, 1 when some has a
/// warning and none is critical, 2 when any is critical.
pub fn exit_code(destinations: &[DestinationHealth]) -> i32 {
    destinations
        .iter()
        .map(|d| d.status)
        .max()
        .unwrap_or(Status::Healthy)
        .exit_status()
        .code()
}

impl DestinationHealth {
    fn new(
        destination: &str,
        newest: Option<NewestBackup>,
        count: Option<usize>,
        total_size: Option<u64>,
        mut findings: Vec<Finding>,
    ) -> Self {
        findings.sort_by_key(|f| std::cmp::Reverse(f.level));
        let status = match findings.first().map(|f| f.level) {
            None => Status::Healthy,
            Some(Level::Warning) => Status::Warning,
            Some(Level::Critical) => Status::Critical,
        };
        Self {
            destination: destination.to_owned(),
            status,
            newest,
            count,
            total_size,
            findings,
        }
    }
}

impl Finding {
    fn warning(message: String) -> Self {
        Self {
            level: Level::Warning,
            message,
        }
    }

    fn critical(message: String) -> Self {
        Self {
            level: Level::Critical,
            message,
        }
    }
}

/// `90061` → `1d 1h`, `3660` → `1h 1m`, `59` → `59s`.
fn human_age(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{s}s")
    }
}

fn default_max_age_hours() -> u32 {
    DEFAULT_MAX_AGE_HOURS
}

fn default_shrink_warn_percent() -> u32 {
    DEFAULT_SHRINK_WARN_PERCENT
}

/// Deserializes a non-negative whole number, saying so when given a negative one.
fn whole_number<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    d.deserialize_u32(WholeNumber("a whole number, not negative"))
}

#[cfg(test)]
mod tests;
