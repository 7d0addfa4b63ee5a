//! Tests of the health assessment (`status`).

use super::*;
use chrono::TimeDelta;

fn now() -> DateTime<Utc> {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

/// A backup `age_seconds` old at [`now`].
fn backup(name: &str, age_seconds: i64, size: u64) -> BackupInfo {
    BackupInfo {
        name: name.to_owned(),
        created_at: now() - TimeDelta::seconds(age_seconds),
        size,
        pre_restore: false,
    }
}

fn assess_ok(backups: &[BackupInfo], policy: &HealthPolicy) -> DestinationHealth {
    assess("s3", Ok(backups), policy, now())
}

fn messages(h: &DestinationHealth) -> Vec<String> {
    h.findings.iter().map(ToString::to_string).collect()
}

const HOUR: i64 = 3600;

#[test]
fn healthy_destination_reports_newest_count_and_size() {
    let backups = [
        backup("db-1", 25 * HOUR, 1000),
        backup("db-3", HOUR, 900),
        backup("db-2", 49 * HOUR, 5000),
    ];
    let h = assess_ok(&backups, &HealthPolicy::default());
    assert_eq!(
        h,
        DestinationHealth {
            destination: "s3".to_owned(),
            status: Status::Healthy,
            newest: Some(NewestBackup {
                name: "db-3".to_owned(),
                created_at: "2026-11-23T11:00:00Z".parse().unwrap(),
                age_seconds: 3600,
                size: 900,
            }),
            count: Some(3),
            total_size: Some(6900),
            findings: vec![],
        }
    );
    assert_eq!(exit_code(&[h]), 0);
}

#[test]
fn listing_failures_are_critical() {
    let cases = [
        (
            true,
            "403 Forbidden",
            "critical: unauthorized: check the credentials (403 Forbidden)",
        ),
        (true, "", "critical: unauthorized: check the credentials"),
        (
            false,
            "connection refused",
            "critical: unreachable: connection refused",
        ),
    ];
    for (unauthorized, message, expected) in cases {
        let err = ListingError {
            unauthorized,
            message: message.to_owned(),
        };
        let h = assess("dropbox", Err(&err), &HealthPolicy::default(), now());
        assert_eq!(h.destination, "dropbox");
        assert_eq!(h.status, Status::Critical);
        assert_eq!(messages(&h), [expected]);
        assert_eq!((h.newest, h.count, h.total_size), (None, None, None));
    }
}

#[test]
fn no_backups_is_critical() {
    let h = assess_ok(&[], &HealthPolicy::default());
    assert_eq!(h.status, Status::Critical);
    assert_eq!(messages(&h), ["critical: no backups"]);
    assert_eq!((h.newest, h.count, h.total_size), (None, Some(0), Some(0)));
}

#[test]
fn stale_newest_backup_warns_strictly_after_max_age_hours() {
    let policy = HealthPolicy::default();
    let cases = [
        (26 * HOUR - 1, None),
        (26 * HOUR, None),
        (
            26 * HOUR + 1,
            Some("warning: newest backup db is 1d 2h old, more than max_age_hours = 26"),
        ),
        (
            3 * 86_400 + 5 * HOUR,
            Some("warning: newest backup db is 3d 5h old, more than max_age_hours = 26"),
        ),
        (-HOUR, None),
    ];
    for (age, expected) in cases {
        let h = assess_ok(&[backup("db", age, 10)], &policy);
        assert_eq!(
            messages(&h),
            expected.into_iter().collect::<Vec<_>>(),
            "age {age}"
        );
        assert_eq!(h.newest.unwrap().age_seconds, age);
    }
    let short = HealthPolicy {
        max_age_hours: 1,
        ..HealthPolicy::default()
    };
    let h = assess_ok(&[backup("db", HOUR + 61, 10)], &short);
    assert_eq!(
        messages(&h),
        ["warning: newest backup db is 1h 1m old, more than max_age_hours = 1"]
    );
    assert_eq!(h.status, Status::Warning);
}

#[test]
fn shrinking_newest_backup_warns_strictly_beyond_the_percentage() {
    let cases: [(u32, u64, u64, Option<&str>); 8] = [
        // 20% smaller: exactly the threshold, fine.
        (20, 1000, 800, None),
        (20, 1000, 799, Some("warning: newest backup new (799 bytes) is 20.1% smaller than the previous one old (1000 bytes), more than shrink_warn_percent = 20")),
        (20, 1000, 1500, None),
        (20, 1000, 0, Some("warning: newest backup new (0 bytes) is 100.0% smaller than the previous one old (1000 bytes), more than shrink_warn_percent = 20")),
        (0, 1000, 1000, None),
        (0, 1000, 999, Some("warning: newest backup new (999 bytes) is 0.1% smaller than the previous one old (1000 bytes), more than shrink_warn_percent = 0")),
        (100, 1000, 0, None),
        (20, 0, 0, None),
    ];
    for (percent, previous, newest, expected) in cases {
        let policy = HealthPolicy {
            shrink_warn_percent: percent,
            ..HealthPolicy::default()
        };
        let backups = [
            backup("old", 25 * HOUR, previous),
            backup("new", HOUR, newest),
        ];
        let h = assess_ok(&backups, &policy);
        assert_eq!(
            messages(&h),
            expected.into_iter().collect::<Vec<_>>(),
            "{percent}% {previous} -> {newest}"
        );
    }
    // Huge sizes do not overflow.
    let backups = [
        backup("old", 2 * HOUR, u64::MAX),
        backup("new", HOUR, u64::MAX / 2),
    ];
    assert_eq!(
        assess_ok(&backups, &HealthPolicy::default()).status,
        Status::Warning
    );
    // Only the newest and the one before it are compared; older sizes do not matter.
    let backups = [
        backup("oldest", 3 * HOUR, 10_000),
        backup("old", 2 * HOUR, 1000),
        backup("new", HOUR, 900),
    ];
    assert_eq!(
        assess_ok(&backups, &HealthPolicy::default()).status,
        Status::Healthy
    );
}

#[test]
fn newest_and_previous_follow_the_retention_order() {
    // Same timestamp: the greater name is the newer, whatever the listing order.
    let backups = [backup("b", HOUR, 100), backup("a", HOUR, 1000)];
    let h = assess_ok(&backups, &HealthPolicy::default());
    assert_eq!(h.newest.unwrap().name, "b");
    assert_eq!(h.status, Status::Warning);
    let backups = [backup("a", HOUR, 100), backup("b", HOUR, 1000)];
    assert_eq!(
        assess_ok(&backups, &HealthPolicy::default()).status,
        Status::Healthy
    );
}

#[test]
fn several_findings_are_listed_and_the_worst_decides() {
    let backups = [backup("old", 50 * HOUR, 1000), backup("new", 30 * HOUR, 10)];
    let h = assess_ok(&backups, &HealthPolicy::default());
    assert_eq!(h.status, Status::Warning);
    assert_eq!(h.findings.len(), 2);
    assert!(h.findings.iter().all(|f| f.level == Level::Warning));
    assert_eq!(exit_code(&[h]), 1);
}

#[test]
fn exit_codes() {
    let healthy = assess_ok(&[backup("db", HOUR, 10)], &HealthPolicy::default());
    let warning = assess_ok(&[backup("db", 30 * HOUR, 10)], &HealthPolicy::default());
    let critical = assess_ok(&[], &HealthPolicy::default());
    let cases: [(&[&DestinationHealth], i32); 7] = [
        (&[], 0),
        (&[&healthy], 0),
        (&[&healthy, &healthy], 0),
        (&[&healthy, &warning], 1),
        (&[&warning, &healthy], 1),
        (&[&warning, &critical, &healthy], 2),
        (&[&critical], 2),
    ];
    for (set, expected) in cases {
        let set: Vec<DestinationHealth> = set.iter().map(|h| (*h).clone()).collect();
        assert_eq!(
            exit_code(&set),
            expected,
            "{:?}",
            set.iter().map(|h| h.status).collect::<Vec<_>>()
        );
    }
}

#[test]
fn policy_defaults_parsing_and_validation() {
    let p: HealthPolicy = toml::from_str("").unwrap();
    assert_eq!(
        p,
        HealthPolicy {
            max_age_hours: 26,
            shrink_warn_percent: 20
        }
    );
    let p: HealthPolicy = toml::from_str("max_age_hours = 48").unwrap();
    assert_eq!(
        p,
        HealthPolicy {
            max_age_hours: 48,
            shrink_warn_percent: 20
        }
    );

    let errors = [
        (
            "max_age_hours = -1",
            "max_age_hours",
            "invalid value: integer `-1`, expected a whole number, not negative",
        ),
        (
            "shrink_warn_percent = -5",
            "shrink_warn_percent",
            "invalid value: integer `-5`, expected a whole number, not negative",
        ),
        (
            "max_age_hours = 1.5",
            "max_age_hours",
            "invalid type: floating point `1.5`",
        ),
        ("max_age = 3", "max_age", "unknown field `max_age`"),
    ];
    for (text, path, message) in errors {
        let value: toml::Value = toml::from_str(text).unwrap();
        let err = serde_path_to_error::deserialize::<_, HealthPolicy>(value).unwrap_err();
        assert_eq!(
            err.path().to_string().trim_start_matches('.'),
            path,
            "{text}"
        );
        assert!(
            err.inner().to_string().contains(message),
            "{text}: {}",
            err.inner()
        );
    }

    let invalid = [
        (
            HealthPolicy {
                max_age_hours: 0,
                shrink_warn_percent: 20,
            },
            Some("health.max_age_hours must be at least 1"),
        ),
        (
            HealthPolicy {
                max_age_hours: 87_601,
                shrink_warn_percent: 20,
            },
            Some("health.max_age_hours must be at most 87600 (got 87601)"),
        ),
        (
            HealthPolicy {
                max_age_hours: 1,
                shrink_warn_percent: 101,
            },
            Some("health.shrink_warn_percent must be at most 100 (got 101)"),
        ),
        (
            HealthPolicy {
                max_age_hours: 87_600,
                shrink_warn_percent: 100,
            },
            None,
        ),
        (
            HealthPolicy {
                max_age_hours: 1,
                shrink_warn_percent: 0,
            },
            None,
        ),
    ];
    for (policy, expected) in invalid {
        assert_eq!(
            policy.validate().err().map(|e| e.to_string()).as_deref(),
            expected
        );
    }
}

#[test]
fn serializes_for_json_output() {
    let backups = [
        backup("db-a", 50 * HOUR, 1000),
        backup("db-b", 30 * HOUR, 700),
    ];
    let h = assess_ok(&backups, &HealthPolicy::default());
    let json = serde_json::to_value(&h).unwrap();
    assert_eq!(json["destination"], "s3");
    assert_eq!(json["status"], "warning");
    assert_eq!(
        json["newest"],
        serde_json::json!({
            "name": "db-b",
            "created_at": "2026-11-22T06:00:00Z",
            "age_seconds": 30 * HOUR,
            "size": 700,
        })
    );
    assert_eq!(json["count"], 2);
    assert_eq!(json["total_size"], 1700);
    assert_eq!(json["findings"][0]["level"], "warning");
    assert!(json["findings"][1]["message"]
        .as_str()
        .unwrap()
        .contains("30.0% smaller"));

    let err = ListingError {
        unauthorized: false,
        message: "timeout".to_owned(),
    };
    let json =
        serde_json::to_value(assess("gdrive", Err(&err), &HealthPolicy::default(), now())).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "destination": "gdrive",
            "status": "critical",
            "newest": null,
            "count": null,
            "total_size": null,
            "findings": [{ "level": "critical", "message": "unreachable: timeout" }],
        })
    );
}

#[test]
fn human_ages() {
    for (seconds, expected) in [
        (0, "0s"),
        (59, "59s"),
        (60, "1m"),
        (3660, "1h 1m"),
        (90_061, "1d 1h"),
        (-5, "0s"),
    ] {
        assert_eq!(human_age(seconds), expected);
    }
}
