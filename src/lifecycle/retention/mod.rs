//! Retention planning: which backups on one destination to keep, which to delete, and why.
//!
//! This module is pure: it gets the backups of one destination (only those with a cloudmirror
//! manifest; foreign files are never passed in), a [`RetentionPolicy`] and the current time, and
//! returns a [`RetentionPlan`]. Deleting is the caller's job.
//!
//! # Semantics
//!
//! Backups are ordered newest first by `created_at`; backups with the same `created_at` are
//! ordered by name, the greater name counting as the newer one, so a plan never depends on the
//! order of the listing. Days, ISO weeks and months are UTC calendar periods. A backup is kept
//! when at least one rule keeps it, and the plan lists every rule that does:
//!
//! - `keep_last = N`: the N newest backups.
//! - `keep_daily = N`: the newest backup of each of the N most recent UTC days *that have
//!   backups* (as restic does). Days without a backup do not count, so a gap in backups (a broken
//!   cron job, a holiday) never makes the remaining backups expire.
//! - `keep_weekly = N`: likewise, per ISO 8601 week (Monday to Sunday; the week of 31 December
//!   may be week 53, or week 1 of the next year).
//! - `keep_monthly = N`: likewise, per calendar month.
//! - `max_age_days = N`: every backup younger than N days (strictly: a backup exactly N days old
//!   is not kept by this rule) is kept; older backups survive only if another rule keeps them.
//! - `protect_larger = true` (the default): a backup larger than the newest backup is never
//!   deleted, since a shrinking backup often means lost data. It is a safeguard, not a rule: on
//!   its own it does not make a policy.
//! - The newest backup is always kept.
//! - The newest pre-restore backup (the safety backup taken before a restore) is always kept.
//!   Pre-restore backups otherwise count like any other backup for every rule.
//!
//! A policy with no rule at all (none of `keep_last`, `keep_daily`, `keep_weekly`,
//! `keep_monthly`, `max_age_days`) keeps everything: pruning with it deletes nothing.

mod explain;
mod planner;
#[cfg(test)]
mod tests;

use std::fmt;

use serde::de::{self, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

pub(crate) use planner::newest_first;
pub use planner::{plan, BackupInfo, Decision, PlanEntry, Reason, RetentionPlan};

/// The largest value accepted for `keep_last`, `keep_daily`, `keep_weekly` and `keep_monthly`.
pub(crate) const MAX_COUNT: u32 = 100_000;

/// The largest value accepted for `max_age_days` (about a century).
pub(crate) const MAX_AGE_DAYS: u32 = 36_500;

/// The `[retention]` table (or a destination's `retention` table): which backups to keep.
///
/// Every field is optional; see the [module documentation](self) for what each rule means.
/// [`RetentionPolicy::default`] has no rule, so it keeps everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Keep the N newest backups.
    #[serde(
        default,
        deserialize_with = "positive",
        skip_serializing_if = "Option::is_none"
    )]
    pub keep_last: Option<u32>,
    /// Keep the newest backup of each of the N most recent days that have backups.
    #[serde(
        default,
        deserialize_with = "positive",
        skip_serializing_if = "Option::is_none"
    )]
    pub keep_daily: Option<u32>,
    /// Keep the newest backup of each of the N most recent ISO weeks that have backups.
    #[serde(
        default,
        deserialize_with = "positive",
        skip_serializing_if = "Option::is_none"
    )]
    pub keep_weekly: Option<u32>,
    /// Keep the newest backup of each of the N most recent months that have backups.
    #[serde(
        default,
        deserialize_with = "positive",
        skip_serializing_if = "Option::is_none"
    )]
    pub keep_monthly: Option<u32>,
    /// Keep every backup younger than N days.
    #[serde(
        default,
        deserialize_with = "positive",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_age_days: Option<u32>,
    /// Never delete a backup larger than the newest one (default `true`).
    #[serde(default = "default_true")]
    pub protect_larger: bool,
}

/// A policy value that is out of range, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPolicy {
    /// The config section, e.g. `retention`.
    pub section: &'static str,
    /// The field, e.g. `keep_last`.
    pub field: &'static str,
    /// What is wrong, e.g. `must be at least 1`.
    pub problem: String,
}

impl RetentionPolicy {
    /// Whether the policy has at least one rule. Without one, [`plan`] keeps everything.
    pub fn has_rules(&self) -> bool {
        self.keep_last.is_some()
            || self.keep_daily.is_some()
            || self.keep_weekly.is_some()
            || self.keep_monthly.is_some()
            || self.max_age_days.is_some()
    }

    /// Checks that every value is in range: counts from 1 to [`MAX_COUNT`], `max_age_days` from
    /// 1 to [`MAX_AGE_DAYS`]. (Negative values are already refused when the config is parsed.)
    pub(crate) fn validate(&self) -> Result<(), InvalidPolicy> {
        let fields = [
            ("keep_last", self.keep_last, MAX_COUNT),
            ("keep_daily", self.keep_daily, MAX_COUNT),
            ("keep_weekly", self.keep_weekly, MAX_COUNT),
            ("keep_monthly", self.keep_monthly, MAX_COUNT),
            ("max_age_days", self.max_age_days, MAX_AGE_DAYS),
        ];
        for (field, value, max) in fields {
            match value {
                Some(0) => {
                    return Err(InvalidPolicy::new("retention", field, "must be at least 1"));
                }
                Some(v) if v > max => {
                    return Err(InvalidPolicy::new(
                        "retention",
                        field,
                        format!("must be at most {max} (got {v})"),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl Default for RetentionPolicy {
    /// No rule (keep everything), `protect_larger = true`.
    fn default() -> Self {
        Self {
            keep_last: None,
            keep_daily: None,
            keep_weekly: None,
            keep_monthly: None,
            max_age_days: None,
            protect_larger: true,
        }
    }
}

impl InvalidPolicy {
    /// An error for `section.field`.
    pub fn new(section: &'static str, field: &'static str, problem: impl Into<String>) -> Self {
        Self {
            section,
            field,
            problem: problem.into(),
        }
    }
}

impl fmt::Display for InvalidPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{} {}", self.section, self.field, self.problem)
    }
}

impl std::error::Error for InvalidPolicy {}

fn default_true() -> bool {
    true
}

/// Deserializes a count that must be at least 1, with a message that says so for negatives.
fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    d.deserialize_u32(WholeNumber("a whole number of at least 1"))
        .map(Some)
}

/// Visits an integer into a `u32`, refusing negative and too large values with a message that
/// says what is expected (serde's own would say `expected u32`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WholeNumber(pub(crate) &'static str);

impl Visitor<'_> for WholeNumber {
    type Value = u32;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u32, E> {
        u32::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u32, E> {
        u32::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
    }
}
