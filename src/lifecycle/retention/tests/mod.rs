//! Tests of retention: shared helpers here, cases by concern in the submodules.

mod calendar;
mod planner;
mod rules;

use super::*;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

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
