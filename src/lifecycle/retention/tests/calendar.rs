//! Calendar periods: year boundaries, ISO weeks, leap days, the age boundary.

use super::*;

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
