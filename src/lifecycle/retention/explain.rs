//! Explaining a plan: one line per backup with every rule that keeps it (`prune --dry-run`).

use std::fmt;

use super::{Decision, PlanEntry, Reason, RetentionPlan};

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
