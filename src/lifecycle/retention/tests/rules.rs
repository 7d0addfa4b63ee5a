//! The rules table: validation, parse errors, JSON output.

use super::*;

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
