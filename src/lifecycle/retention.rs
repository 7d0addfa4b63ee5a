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

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use serde::de::{self, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// The largest value accepted for `keep_last`, `keep_daily`, `keep_weekly` and `keep_monthly`.
pub const MAX_COUNT: u32 = 100_000;

/// The largest value accepted for `max_age_days` (about a century).
pub const MAX_AGE_DAYS: u32 = 36_500;

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
    pub fn validate(&self) -> Result<(), InvalidPolicy> {
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

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRule => f.write_str("no retention rule"),
            Self::Newest => f.write_str("newest"),
            Self::NewestPreRestore => f.write_str("newest pre-restore"),
            Self::KeepLast { position, of } => write!(f, "keep_last {position}/{of}"),
            Self::KeepDaily { day } => write!(f, "keep_daily {day}"),
            Self::KeepWeekly { iso_year, week } => write!(f, "keep_weekly {iso_year}-W{week:02}"),
            Self::KeepMonthly { year, month } => write!(f, "keep_monthly {year}-{month:02}"),
            Self::MaxAge { days } => write!(f, "max_age_days {days}"),
            Self::ProtectLarger { size, newest_size } => write!(
                f,
                "protect_larger {size} bytes > newest {newest_size} bytes"
            ),
        }
    }
}

impl Decision {
    /// Whether the backup is kept.
    pub fn is_keep(&self) -> bool {
        matches!(self, Self::Keep(_))
    }
}

impl PlanEntry {
    /// The entry as one line, with the name padded to `width` characters.
    fn line(&self, width: usize) -> String {
        match &self.decision {
            Decision::Keep(reasons) => {
                let reasons: Vec<String> = reasons.iter().map(ToString::to_string).collect();
                format!("keep   {:<width$}  ({})", self.name, reasons.join(", "))
            }
            Decision::Delete => format!("delete {:<width$}  (no rule keeps it)", self.name),
        }
    }
}

impl fmt::Display for PlanEntry {
    /// `keep   db-2026-11-23.json.gz  (newest, keep_last 1/3, keep_daily 2026-11-23)` or
    /// `delete db-2026-10-02.json.gz  (no rule keeps it)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line(0))
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

    /// One line per backup, newest first, names aligned (see [`PlanEntry`]'s `Display`); empty
    /// when there are no backups.
    pub fn describe(&self) -> String {
        let width = self
            .entries
            .iter()
            .map(|e| e.name.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for e in &self.entries {
            out.push_str(e.line(width).trim_end());
            out.push('\n');
        }
        out
    }
}

impl fmt::Display for RetentionPlan {
    /// Same as [`RetentionPlan::describe`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Decides, for each backup of one destination, whether `policy` keeps it at time `now`.
///
/// `backups` may come in any order; the plan lists them newest first. See the
/// [module documentation](self) for the rules.
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDateTime;

    /// `"2026-11-23T02:00:00"` as UTC.
    fn at(s: &str) -> DateTime<Utc> {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
            .unwrap()
            .and_utc()
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn backup(name: &str, created_at: &str, size: u64) -> BackupInfo {
        BackupInfo {
            name: name.to_owned(),
            created_at: at(created_at),
            size,
            pre_restore: false,
        }
    }

    /// One 1000-byte backup a day at 02:00 from `from` to `to` (inclusive), named after its day,
    /// except on the days in `skip`, plus a second one at 14:00 (`<day>-pm`) on the days in
    /// `doubles`.
    fn history(from: &str, to: &str, skip: &[&str], doubles: &[&str]) -> Vec<BackupInfo> {
        let mut out = Vec::new();
        let mut d = day(from);
        while d <= day(to) {
            let name = d.to_string();
            if !skip.contains(&name.as_str()) {
                out.push(backup(&name, &format!("{d}T02:00:00"), 1000));
                if doubles.contains(&name.as_str()) {
                    out.push(backup(&format!("{d}-pm"), &format!("{d}T14:00:00"), 1000));
                }
            }
            d = d.succ_opt().unwrap();
        }
        out
    }

    /// Every day from `from` to `to` (inclusive), as names.
    fn days(from: &str, to: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut d = day(from);
        while d <= day(to) {
            out.push(d.to_string());
            d = d.succ_opt().unwrap();
        }
        out
    }

    /// Three years of daily backups up to Monday 2026-11-23, with gaps: 2026-11-20 and -21,
    /// Sunday 2026-11-08, the whole ISO week 2026-W44 (2026-10-26 to 2026-11-01) and all of
    /// February 2026; two backups on 2026-11-22, 2026-09-30, 2025-12-31 and 2024-02-29.
    fn three_years() -> Vec<BackupInfo> {
        let mut skip = vec![
            "2026-11-20".to_owned(),
            "2026-11-21".to_owned(),
            "2026-11-08".to_owned(),
        ];
        skip.extend(days("2026-10-26", "2026-11-01"));
        skip.extend(days("2026-02-01", "2026-02-28"));
        let skip: Vec<&str> = skip.iter().map(String::as_str).collect();
        history(
            "2024-01-01",
            "2026-11-23",
            &skip,
            &["2026-11-22", "2026-09-30", "2025-12-31", "2024-02-29"],
        )
    }

    fn policy(toml_text: &str) -> RetentionPolicy {
        let p: RetentionPolicy = toml::from_str(toml_text).unwrap();
        p.validate().unwrap();
        p
    }

    fn kept(plan: &RetentionPlan) -> Vec<&str> {
        plan.kept().map(|e| e.name.as_str()).collect()
    }

    fn reasons_of<'a>(plan: &'a RetentionPlan, name: &str) -> &'a [Reason] {
        match &plan
            .entries
            .iter()
            .find(|e| e.name == name)
            .unwrap()
            .decision
        {
            Decision::Keep(r) => r,
            Decision::Delete => &[],
        }
    }

    /// Runs each `(policy, now, expected kept names newest first)` case over `backups`, and
    /// checks that every backup appears exactly once, newest first.
    fn check(backups: &[BackupInfo], cases: &[(&str, &str, &[&str])]) {
        for (toml_text, now, expected) in cases {
            let plan = super::plan(backups, &policy(toml_text), at(now));
            assert_eq!(
                kept(&plan),
                *expected,
                "policy {toml_text:?} at {now}:\n{plan}"
            );
            assert_eq!(plan.entries.len(), backups.len());
            assert!(plan
                .entries
                .windows(2)
                .all(|w| (w[0].created_at, &w[0].name) > (w[1].created_at, &w[1].name)));
            assert_eq!(
                plan.kept().count() + plan.to_delete().count(),
                backups.len()
            );
        }
    }

    const NOW: &str = "2026-11-23T12:00:00";

    #[test]
    fn each_rule_alone_over_three_years() {
        let backups = three_years();
        // 366 + 365 + 327 days, minus 38 skipped, plus 4 second backups.
        assert_eq!(backups.len(), 1024);
        check(
            &backups,
            &[
                ("keep_last = 1", NOW, &["2026-11-23"]),
                (
                    "keep_last = 3",
                    NOW,
                    &["2026-11-23", "2026-11-22-pm", "2026-11-22"],
                ),
                // Gaps (11-20, 11-21) do not count as days; of 11-22 only the newest is kept.
                (
                    "keep_daily = 7",
                    NOW,
                    &[
                        "2026-11-23",
                        "2026-11-22-pm",
                        "2026-11-19",
                        "2026-11-18",
                        "2026-11-17",
                        "2026-11-16",
                        "2026-11-15",
                    ],
                ),
                // Newest of each ISO week: W48 (Mon 11-23), W47, W46, W45 (Sunday 11-08 missing),
                // then W44 has nothing, so W43 is the fifth.
                (
                    "keep_weekly = 4",
                    NOW,
                    &["2026-11-23", "2026-11-22-pm", "2026-11-15", "2026-11-07"],
                ),
                (
                    "keep_weekly = 5",
                    NOW,
                    &[
                        "2026-11-23",
                        "2026-11-22-pm",
                        "2026-11-15",
                        "2026-11-07",
                        "2026-10-25",
                    ],
                ),
                // February 2026 has no backup, so twelve months reach back to November 2025.
                (
                    "keep_monthly = 12",
                    NOW,
                    &[
                        "2026-11-23",
                        "2026-10-25",
                        "2026-09-30-pm",
                        "2026-08-31",
                        "2026-07-31",
                        "2026-06-30",
                        "2026-05-31",
                        "2026-04-30",
                        "2026-03-31",
                        "2026-01-31",
                        "2025-12-31-pm",
                        "2025-11-30",
                    ],
                ),
                // Younger than 10 days: after 2026-11-13T12:00.
                (
                    "max_age_days = 10",
                    NOW,
                    &[
                        "2026-11-23",
                        "2026-11-22-pm",
                        "2026-11-22",
                        "2026-11-19",
                        "2026-11-18",
                        "2026-11-17",
                        "2026-11-16",
                        "2026-11-15",
                        "2026-11-14",
                    ],
                ),
                // Only the newest survives a max_age that nothing else meets.
                ("max_age_days = 1", "2027-06-01T00:00:00", &["2026-11-23"]),
            ],
        );
    }

    #[test]
    fn keep_monthly_beyond_the_history_keeps_one_per_month() {
        let backups = three_years();
        let plan = super::plan(&backups, &policy("keep_monthly = 100"), at(NOW));
        let kept = kept(&plan);
        // January 2024 to November 2026 is 35 months, minus the empty February 2026.
        assert_eq!(kept.len(), 34);
        assert_eq!(kept.first(), Some(&"2026-11-23"));
        assert_eq!(kept[1..4], ["2026-10-25", "2026-09-30-pm", "2026-08-31"]);
        assert!(kept.contains(&"2024-02-29-pm"));
        assert_eq!(kept.last(), Some(&"2024-01-31"));
    }

    #[test]
    fn rules_combine_as_a_union_and_name_every_reason() {
        let backups = three_years();
        let p = policy("keep_last = 2\nkeep_daily = 4\nkeep_weekly = 5\nkeep_monthly = 3");
        check(
            &backups,
            &[(
                "keep_last = 2\nkeep_daily = 4\nkeep_weekly = 5\nkeep_monthly = 3",
                NOW,
                &[
                    "2026-11-23",
                    "2026-11-22-pm",
                    "2026-11-19",
                    "2026-11-18",
                    "2026-11-15",
                    "2026-11-07",
                    "2026-10-25",
                    "2026-09-30-pm",
                ],
            )],
        );
        let plan = super::plan(&backups, &p, at(NOW));
        assert_eq!(
            reasons_of(&plan, "2026-11-23"),
            [
                Reason::Newest,
                Reason::KeepLast { position: 1, of: 2 },
                Reason::KeepDaily {
                    day: day("2026-11-23")
                },
                Reason::KeepWeekly {
                    iso_year: 2026,
                    week: 48
                },
                Reason::KeepMonthly {
                    year: 2026,
                    month: 11
                },
            ]
        );
        assert_eq!(
            reasons_of(&plan, "2026-10-25"),
            [
                Reason::KeepWeekly {
                    iso_year: 2026,
                    week: 43
                },
                Reason::KeepMonthly {
                    year: 2026,
                    month: 10
                },
            ]
        );
        assert_eq!(reasons_of(&plan, "2026-11-22"), []);
        let described = plan.describe();
        let lines: Vec<&str> = described.lines().take(3).collect();
        assert_eq!(
            lines,
            [
                "keep   2026-11-23     (newest, keep_last 1/2, keep_daily 2026-11-23, keep_weekly 2026-W48, keep_monthly 2026-11)",
                "keep   2026-11-22-pm  (keep_last 2/2, keep_daily 2026-11-22, keep_weekly 2026-W47)",
                "delete 2026-11-22     (no rule keeps it)",
            ]
        );
    }

    #[test]
    fn max_age_days_adds_to_the_other_rules() {
        check(
            &three_years(),
            &[(
                "keep_monthly = 2\nmax_age_days = 5",
                NOW,
                // After 2026-11-18T12:00, plus October's newest.
                &[
                    "2026-11-23",
                    "2026-11-22-pm",
                    "2026-11-22",
                    "2026-11-19",
                    "2026-10-25",
                ],
            )],
        );
    }

    #[test]
    fn a_gap_never_makes_everything_expire() {
        // Backups stopped in May; half a year later the daily, weekly and monthly rules still
        // keep the most recent periods that have backups.
        let backups = history("2026-01-01", "2026-05-10", &[], &[]);
        check(
            &backups,
            &[
                (
                    "keep_daily = 3\nkeep_weekly = 2\nkeep_monthly = 2",
                    NOW,
                    // 05-10 is a Sunday: weeks W19 (05-10) and W18 (05-03).
                    &[
                        "2026-05-10",
                        "2026-05-09",
                        "2026-05-08",
                        "2026-05-03",
                        "2026-04-30",
                    ],
                ),
                (
                    "max_age_days = 30\nkeep_last = 2",
                    NOW,
                    &["2026-05-10", "2026-05-09"],
                ),
            ],
        );
    }

    #[test]
    fn year_boundary_and_iso_week_53() {
        // 2026-12-28 to 2027-01-03 is ISO week 2026-W53; 2027-01-04 starts 2027-W01.
        let mut backups = history("2026-12-20", "2027-01-05", &[], &[]);
        backups.push(backup("2026-12-31-late", "2026-12-31T23:59:59", 1000));
        backups.push(backup("2027-01-01-midnight", "2027-01-01T00:00:00", 1000));
        let now = "2027-01-05T03:00:00";
        check(
            &backups,
            &[
                (
                    "keep_daily = 6",
                    now,
                    &[
                        "2027-01-05",
                        "2027-01-04",
                        "2027-01-03",
                        "2027-01-02",
                        "2027-01-01",
                        "2026-12-31-late",
                    ],
                ),
                (
                    "keep_weekly = 3",
                    now,
                    &["2027-01-05", "2027-01-03", "2026-12-27"],
                ),
                ("keep_monthly = 2", now, &["2027-01-05", "2026-12-31-late"]),
                // Younger than 5 days: after 2026-12-31T03:00.
                (
                    "max_age_days = 5",
                    now,
                    &[
                        "2027-01-05",
                        "2027-01-04",
                        "2027-01-03",
                        "2027-01-02",
                        "2027-01-01",
                        "2027-01-01-midnight",
                        "2026-12-31-late",
                    ],
                ),
            ],
        );
        let plan = super::plan(&backups, &policy("keep_weekly = 3"), at(now));
        assert_eq!(
            reasons_of(&plan, "2027-01-03"),
            [Reason::KeepWeekly {
                iso_year: 2026,
                week: 53
            }]
        );

        // The clock just after midnight on New Year's Day.
        let until_midnight: Vec<BackupInfo> = backups
            .iter()
            .filter(|b| b.created_at <= at("2027-01-01T00:00:00"))
            .cloned()
            .collect();
        let now = "2027-01-01T00:30:00";
        check(
            &until_midnight,
            &[
                (
                    "keep_daily = 2",
                    now,
                    &["2027-01-01-midnight", "2026-12-31-late"],
                ),
                ("keep_monthly = 1", now, &["2027-01-01-midnight"]),
                (
                    "keep_monthly = 2",
                    now,
                    &["2027-01-01-midnight", "2026-12-31-late"],
                ),
                (
                    "keep_weekly = 2",
                    now,
                    &["2027-01-01-midnight", "2026-12-27"],
                ),
                (
                    // Younger than a day: after 2026-12-31T00:30.
                    "max_age_days = 1",
                    now,
                    &["2027-01-01-midnight", "2026-12-31-late", "2026-12-31"],
                ),
            ],
        );
    }

    #[test]
    fn iso_year_differs_from_calendar_year() {
        // 2024-12-30 and -31 belong to ISO week 2025-W01.
        let backups = history("2024-12-26", "2025-01-02", &[], &[]);
        let plan = super::plan(
            &backups,
            &policy("keep_weekly = 2"),
            at("2025-01-02T12:00:00"),
        );
        assert_eq!(kept(&plan), ["2025-01-02", "2024-12-29"]);
        assert_eq!(
            reasons_of(&plan, "2025-01-02")[1],
            Reason::KeepWeekly {
                iso_year: 2025,
                week: 1
            }
        );
        assert_eq!(
            reasons_of(&plan, "2024-12-29"),
            [Reason::KeepWeekly {
                iso_year: 2024,
                week: 52
            }]
        );
    }

    #[test]
    fn leap_day() {
        let backups = history("2024-02-26", "2024-03-02", &[], &["2024-02-29"]);
        let now = "2024-03-02T12:00:00";
        check(
            &backups,
            &[
                ("keep_monthly = 2", now, &["2024-03-02", "2024-02-29-pm"]),
                (
                    "keep_daily = 3",
                    now,
                    &["2024-03-02", "2024-03-01", "2024-02-29-pm"],
                ),
                // Younger than 2 days: after 2024-02-29T12:00.
                (
                    "max_age_days = 2",
                    now,
                    &["2024-03-02", "2024-03-01", "2024-02-29-pm"],
                ),
                (
                    "max_age_days = 3",
                    now,
                    &["2024-03-02", "2024-03-01", "2024-02-29-pm", "2024-02-29"],
                ),
            ],
        );
    }

    #[test]
    fn max_age_days_boundary_is_exclusive() {
        let backups = [
            backup("newest", "2026-11-23T11:00:00", 1000),
            backup("younger", "2026-11-13T12:00:01", 1000),
            backup("exactly-10-days", "2026-11-13T12:00:00", 1000),
        ];
        check(
            &backups,
            &[("max_age_days = 10", NOW, &["newest", "younger"])],
        );
        // A backup from the future (clock skew) counts as young.
        let skewed = [
            backup("future", "2026-11-24T00:00:00", 1000),
            backup("old", "2026-01-01T00:00:00", 1000),
        ];
        check(&skewed, &[("max_age_days = 10", NOW, &["future"])]);
    }

    #[test]
    fn protect_larger_keeps_older_larger_backups() {
        let mut backups = three_years();
        for b in &mut backups {
            match b.name.as_str() {
                "2025-06-15" => b.size = 5000,
                "2025-06-16" => b.size = 1000, // equal to the newest: not protected
                "2025-06-17" => b.size = 1001,
                _ => {}
            }
        }
        check(
            &backups,
            &[
                (
                    "keep_last = 2",
                    NOW,
                    &["2026-11-23", "2026-11-22-pm", "2025-06-17", "2025-06-15"],
                ),
                (
                    "keep_last = 2\nprotect_larger = true",
                    NOW,
                    &["2026-11-23", "2026-11-22-pm", "2025-06-17", "2025-06-15"],
                ),
                (
                    "keep_last = 2\nprotect_larger = false",
                    NOW,
                    &["2026-11-23", "2026-11-22-pm"],
                ),
            ],
        );
        let plan = super::plan(&backups, &policy("keep_last = 2"), at(NOW));
        assert_eq!(
            reasons_of(&plan, "2025-06-15"),
            [Reason::ProtectLarger {
                size: 5000,
                newest_size: 1000
            }]
        );
        assert!(plan
            .describe()
            .contains("keep   2025-06-15     (protect_larger 5000 bytes > newest 1000 bytes)\n"));

        // The newest backup is the reference even when it is the largest: nothing else is protected.
        let shrinking = [
            backup("c", "2026-11-23T02:00:00", 100),
            backup("b", "2026-11-22T02:00:00", 50),
            backup("a", "2026-11-21T02:00:00", 100),
        ];
        check(&shrinking, &[("keep_last = 1", NOW, &["c"])]);
    }

    #[test]
    fn the_newest_backup_is_always_kept() {
        let backups = [
            backup("new-but-tiny", "2026-10-01T02:00:00", 1),
            backup("older-larger", "2026-09-01T02:00:00", 9000),
        ];
        for toml_text in [
            "max_age_days = 7",
            "max_age_days = 7\nprotect_larger = false",
            "keep_daily = 1\nprotect_larger = false",
            "keep_last = 1\nprotect_larger = false",
        ] {
            let plan = super::plan(&backups, &policy(toml_text), at(NOW));
            assert_eq!(kept(&plan)[0], "new-but-tiny", "{toml_text}");
            assert_eq!(
                reasons_of(&plan, "new-but-tiny")[0],
                Reason::Newest,
                "{toml_text}"
            );
        }
        let plan = super::plan(
            &backups,
            &policy("max_age_days = 7\nprotect_larger = false"),
            at(NOW),
        );
        assert_eq!(kept(&plan), ["new-but-tiny"]);
        assert_eq!(reasons_of(&plan, "new-but-tiny"), [Reason::Newest]);
    }

    #[test]
    fn the_newest_pre_restore_backup_is_always_kept() {
        let mut backups = history("2026-11-01", "2026-11-23", &[], &[]);
        let mut pre = |name: &str, created_at: &str| {
            let mut b = backup(name, created_at, 1000);
            b.pre_restore = true;
            backups.push(b);
        };
        pre("pre-restore-old", "2026-11-03T10:00:00");
        pre("pre-restore-new", "2026-11-10T10:00:00");
        check(
            &backups,
            &[
                (
                    "keep_last = 2",
                    NOW,
                    &["2026-11-23", "2026-11-22", "pre-restore-new"],
                ),
                // It also counts as the newest backup of its day.
                (
                    "keep_daily = 20",
                    NOW,
                    &days("2026-11-04", "2026-11-23")
                        .iter()
                        .rev()
                        .map(|d| {
                            if d == "2026-11-10" {
                                "pre-restore-new"
                            } else {
                                d.as_str()
                            }
                        })
                        .collect::<Vec<_>>(),
                ),
            ],
        );
        let plan = super::plan(&backups, &policy("keep_last = 2"), at(NOW));
        assert_eq!(
            reasons_of(&plan, "pre-restore-new"),
            [Reason::NewestPreRestore]
        );
        assert_eq!(reasons_of(&plan, "pre-restore-old"), []);

        // A pre-restore backup that is also the newest gets both reasons.
        let mut latest = backup("pre-restore-latest", "2026-11-23T12:00:00", 1000);
        latest.pre_restore = true;
        backups.push(latest);
        let plan = super::plan(&backups, &policy("keep_last = 1"), at(NOW));
        assert_eq!(kept(&plan), ["pre-restore-latest"]);
        assert_eq!(
            reasons_of(&plan, "pre-restore-latest"),
            [
                Reason::Newest,
                Reason::NewestPreRestore,
                Reason::KeepLast { position: 1, of: 1 }
            ]
        );
    }

    #[test]
    fn empty_input_gives_an_empty_plan() {
        for toml_text in [
            "",
            "keep_last = 3",
            "keep_daily = 7\nkeep_weekly = 4\nkeep_monthly = 12\nmax_age_days = 60",
        ] {
            let plan = super::plan(&[], &policy(toml_text), at(NOW));
            assert!(plan.entries.is_empty());
            assert_eq!(plan.describe(), "");
        }
    }

    #[test]
    fn a_policy_without_rules_keeps_everything() {
        let mut backups = three_years();
        backups[0].size = 1; // protect_larger alone is not a rule either
        for toml_text in ["", "protect_larger = true", "protect_larger = false"] {
            let p = policy(toml_text);
            assert!(!p.has_rules());
            let plan = super::plan(&backups, &p, at(NOW));
            assert_eq!(plan.kept().count(), backups.len(), "{toml_text:?}");
            assert!(plan
                .entries
                .iter()
                .all(|e| e.decision == Decision::Keep(vec![Reason::NoRule])));
        }
        assert_eq!(RetentionPolicy::default(), policy(""));
    }

    #[test]
    fn equal_timestamps_are_ordered_by_name_whatever_the_input_order() {
        let base = [
            backup("b", "2026-11-23T02:00:00", 1000),
            backup("c", "2026-11-23T02:00:00", 1000),
            backup("a", "2026-11-23T02:00:00", 1000),
            backup("z-older", "2026-11-22T02:00:00", 1000),
        ];
        let mut orders = vec![base.to_vec()];
        for i in 0..base.len() {
            for j in 0..base.len() {
                let mut v = base.to_vec();
                v.swap(i, j);
                v.rotate_left(i);
                orders.push(v);
            }
        }
        for toml_text in ["keep_last = 1", "keep_daily = 1", "keep_daily = 2"] {
            let expected = super::plan(&base, &policy(toml_text), at(NOW));
            for order in &orders {
                assert_eq!(super::plan(order, &policy(toml_text), at(NOW)), expected);
            }
        }
        let p = super::plan(&base, &policy("keep_daily = 2"), at(NOW));
        let names: Vec<&str> = p.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["c", "b", "a", "z-older"]);
        assert_eq!(kept(&p), ["c", "z-older"]);
    }

    #[test]
    fn validate_names_the_field() {
        let cases: &[(&str, Option<&str>)] = &[
            ("", None),
            (
                "keep_last = 1\nkeep_daily = 100000\nmax_age_days = 36500",
                None,
            ),
            (
                "keep_last = 0",
                Some("retention.keep_last must be at least 1"),
            ),
            (
                "keep_daily = 0",
                Some("retention.keep_daily must be at least 1"),
            ),
            (
                "keep_weekly = 0",
                Some("retention.keep_weekly must be at least 1"),
            ),
            (
                "keep_monthly = 0",
                Some("retention.keep_monthly must be at least 1"),
            ),
            (
                "max_age_days = 0",
                Some("retention.max_age_days must be at least 1"),
            ),
            (
                "keep_weekly = 100001",
                Some("retention.keep_weekly must be at most 100000 (got 100001)"),
            ),
            (
                "max_age_days = 36501",
                Some("retention.max_age_days must be at most 36500 (got 36501)"),
            ),
        ];
        for (toml_text, expected) in cases {
            let p: RetentionPolicy = toml::from_str(toml_text).unwrap();
            let got = p.validate().err().map(|e| e.to_string());
            assert_eq!(got.as_deref(), *expected, "{toml_text:?}");
        }
        let err = RetentionPolicy {
            keep_last: Some(0),
            ..RetentionPolicy::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!((err.section, err.field), ("retention", "keep_last"));
    }

    #[test]
    fn parse_errors_name_the_field_and_what_is_expected() {
        let cases = [
            (
                "keep_last = -1",
                "keep_last",
                "invalid value: integer `-1`, expected a whole number of at least 1",
            ),
            (
                "keep_daily = -7",
                "keep_daily",
                "invalid value: integer `-7`, expected a whole number of at least 1",
            ),
            (
                "max_age_days = 4294967296",
                "max_age_days",
                "expected a whole number of at least 1",
            ),
            (
                "keep_monthly = 2.5",
                "keep_monthly",
                "invalid type: floating point `2.5`, expected a whole number of at least 1",
            ),
            (
                "keep_weekly = \"4\"",
                "keep_weekly",
                "expected a whole number of at least 1",
            ),
            ("protect_larger = 1", "protect_larger", "expected a boolean"),
            ("keep_lats = 3", "keep_lats", "unknown field `keep_lats`"),
        ];
        for (toml_text, path, message) in cases {
            let value: toml::Value = toml::from_str(toml_text).unwrap();
            let err = serde_path_to_error::deserialize::<_, RetentionPolicy>(value).unwrap_err();
            assert_eq!(
                err.path().to_string().trim_start_matches('.'),
                path,
                "{toml_text}"
            );
            assert!(
                err.inner().to_string().contains(message),
                "{toml_text}: {}",
                err.inner()
            );
        }
        let p = policy("keep_daily = 7\nprotect_larger = false");
        assert_eq!(p.keep_daily, Some(7));
        assert!(!p.protect_larger);
        assert!(policy("keep_daily = 7").protect_larger);
    }

    #[test]
    fn serializes_for_json_output() {
        let backups = [
            backup("db-b", "2026-11-23T02:00:00", 10),
            backup("db-a", "2026-11-22T02:00:00", 10),
        ];
        let plan = super::plan(&backups, &policy("keep_daily = 1"), at(NOW));
        assert_eq!(
            serde_json::to_value(&plan).unwrap(),
            serde_json::json!({
                "entries": [
                    {
                        "name": "db-b",
                        "created_at": "2026-11-23T02:00:00Z",
                        "size": 10,
                        "pre_restore": false,
                        "action": "keep",
                        "reasons": [
                            { "rule": "newest" },
                            { "rule": "keep_daily", "day": "2026-11-23" },
                        ],
                    },
                    {
                        "name": "db-a",
                        "created_at": "2026-11-22T02:00:00Z",
                        "size": 10,
                        "pre_restore": false,
                        "action": "delete",
                    },
                ]
            })
        );
        let json = serde_json::to_value([
            Reason::KeepLast { position: 1, of: 3 },
            Reason::KeepWeekly {
                iso_year: 2026,
                week: 53,
            },
            Reason::KeepMonthly {
                year: 2026,
                month: 1,
            },
            Reason::MaxAge { days: 60 },
            Reason::ProtectLarger {
                size: 2,
                newest_size: 1,
            },
            Reason::NewestPreRestore,
            Reason::NoRule,
        ])
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                { "rule": "keep_last", "position": 1, "of": 3 },
                { "rule": "keep_weekly", "iso_year": 2026, "week": 53 },
                { "rule": "keep_monthly", "year": 2026, "month": 1 },
                { "rule": "max_age_days", "days": 60 },
                { "rule": "protect_larger", "size": 2, "newest_size": 1 },
                { "rule": "newest_pre_restore" },
                { "rule": "no_rule" },
            ])
        );
        assert_eq!(
            plan.entries[0].to_string(),
            "keep   db-b  (newest, keep_daily 2026-11-23)"
        );
        assert_eq!(
            plan.entries[1].to_string(),
            "delete db-a  (no rule keeps it)"
        );
    }
}
