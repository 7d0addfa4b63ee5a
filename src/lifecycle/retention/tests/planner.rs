//! The planner: each rule alone and combined, safeguards, ordering.

use super::*;

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
