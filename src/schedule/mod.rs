//! `[schedule]`: when `cloudmirror daemon` runs the backup job (a cron expression in UTC or a
//! named time zone), and the waiting between runs.

pub mod notify;

use std::str::FromStr;

use chrono::{DateTime, Utc};
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use serde::Deserialize;

use crate::Error;

/// The `[schedule]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// A cron expression: 5 fields (minute hour day month weekday), or 6 with seconds first;
    /// `@daily`-style aliases work too. Example: `"0 2 * * *"` (every day at 02:00).
    pub cron: String,
    /// IANA time zone the expression is read in (e.g. `"Europe/Berlin"`); UTC when absent.
    pub timezone: Option<String>,
}

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    tz: Option<chrono_tz::Tz>,
    text: String,
}

impl Schedule {
    /// Parses and validates `[schedule]`; errors name the field.
    pub fn parse(config: &ScheduleConfig) -> Result<Self, Error> {
        // Vixie cron's `@midnight` is `@daily` (crontab(5)); croner knows only the latter.
        let expression = match config.cron.trim() {
            "@midnight" => "@daily",
            other => other,
        };
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(expression)
            .map_err(|e| {
                Error::Config(format!(
                    "schedule.cron: invalid cron expression {:?}: {e}",
                    config.cron
                ))
            })?;
        let tz = match &config.timezone {
            None => None,
            Some(name) => Some(chrono_tz::Tz::from_str(name).map_err(|_| {
                Error::Config(format!(
                    "schedule.timezone: unknown time zone {name:?} (use an IANA name such as \"Europe/Berlin\")"
                ))
            })?),
        };
        let text = match &config.timezone {
            Some(tz) => format!("{} ({tz})", config.cron),
            None => format!("{} (UTC)", config.cron),
        };
        Ok(Self { cron, tz, text })
    }

    /// The first run time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Result<DateTime<Utc>, Error> {
        let next = match self.tz {
            Some(tz) => self
                .cron
                .find_next_occurrence(&after.with_timezone(&tz), false)
                .map(|t| t.with_timezone(&Utc)),
            None => self.cron.find_next_occurrence(&after, false),
        };
        next.map_err(|e| {
            Error::Config(format!(
                "schedule.cron: no next run time for {}: {e}",
                self.text
            ))
        })
    }

    /// The last run time strictly before `before` (`None` when there is none), for
    /// `[daemon] catch_up`.
    pub fn previous_before(&self, before: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.tz {
            Some(tz) => self
                .cron
                .find_previous_occurrence(&before.with_timezone(&tz), false)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            None => self.cron.find_previous_occurrence(&before, false).ok(),
        }
    }

    /// The expression and its time zone, for logs.
    pub fn describe(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn schedule(cron: &str, tz: Option<&str>) -> Result<Schedule, Error> {
        Schedule::parse(&ScheduleConfig {
            cron: cron.into(),
            timezone: tz.map(Into::into),
        })
    }

    #[test]
    fn daily_at_two_in_utc_and_in_a_time_zone() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        let s = schedule("0 2 * * *", None).unwrap();
        assert_eq!(
            s.next_after(now).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 24, 2, 0, 0).unwrap()
        );
        // 02:00 in Berlin is 01:00 UTC in winter.
        let s = schedule("0 2 * * *", Some("Europe/Berlin")).unwrap();
        assert_eq!(
            s.next_after(now).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 24, 1, 0, 0).unwrap()
        );
    }

    #[test]
    fn previous_run_time_for_catch_up() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        let s = schedule("0 2 * * *", None).unwrap();
        assert_eq!(
            s.previous_before(now),
            Some(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap())
        );
    }

    #[test]
    fn seconds_field_is_optional() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 1).unwrap();
        let s = schedule("*/2 * * * * *", None).unwrap();
        assert_eq!(
            s.next_after(now).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 2).unwrap()
        );
    }

    #[test]
    fn bad_values_name_the_field() {
        assert!(schedule("61 * * * *", None)
            .unwrap_err()
            .to_string()
            .starts_with("schedule.cron"));
        assert!(schedule("nonsense", None)
            .unwrap_err()
            .to_string()
            .starts_with("schedule.cron"));
        assert!(schedule("0 2 * * *", Some("Mars/Olympus"))
            .unwrap_err()
            .to_string()
            .starts_with("schedule.timezone"));
    }

    /// `docs/configuration.md` promises `@daily`-style aliases.
    #[test]
    fn cron_aliases_run_at_their_period_start() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 30, 5).unwrap(); // a Monday
        for (alias, next) in [
            ("@hourly", Utc.with_ymd_and_hms(2026, 11, 23, 13, 0, 0)),
            ("@daily", Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0)),
            ("@midnight", Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0)),
            ("@weekly", Utc.with_ymd_and_hms(2026, 11, 29, 0, 0, 0)), // Sunday
            ("@monthly", Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0)),
            ("@yearly", Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0)),
            ("@annually", Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0)),
        ] {
            let s = schedule(alias, None).unwrap_or_else(|e| panic!("{alias}: {e}"));
            assert_eq!(s.next_after(now).unwrap(), next.unwrap(), "{alias}");
        }
        // In a time zone: @daily is local midnight (23:00 UTC in Berlin's winter).
        let s = schedule("@daily", Some("Europe/Berlin")).unwrap();
        assert_eq!(
            s.next_after(now).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 23, 23, 0, 0).unwrap()
        );
    }
}
