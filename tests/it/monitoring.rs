//! `status --format prometheus`: the text exposition format, per destination, and the documented
//! atomic cron line.

use crate::common::Scratch;

#[test]
fn prometheus_output_has_each_family_once_and_a_sample_per_destination() {
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        "[[destinations]]\nname = \"home\"\ntype = \"local\"\npath = \"store\"\n\n[[destinations]]\nname = \"gone\"\ntype = \"s3\"\nbucket = \"b\"\nregion = \"us-east-1\"\nendpoint = \"http://127.0.0.1:1\"\naccess_key_id = \"a\"\nsecret_access_key = \"b\"\nretry_for = \"1s\"\n",
    );
    s.write("a.txt", "hello world");
    s.run(&["backup", "a.txt", "--name", "a.txt.gz", "--to", "home"])
        .expect_code(0);
    let run = s.run(&["status", "--format", "prometheus"]).expect_code(2);
    let out = &run.stdout;
    for family in [
        "cloudmirror_destination_up",
        "cloudmirror_health_status",
        "cloudmirror_backups",
        "cloudmirror_backups_size_bytes",
        "cloudmirror_newest_backup_timestamp_seconds",
        "cloudmirror_newest_backup_size_bytes",
    ] {
        assert_eq!(
            out.matches(&format!("# TYPE {family} gauge\n")).count(),
            1,
            "{family}:\n{out}"
        );
        assert_eq!(
            out.matches(&format!("# HELP {family} ")).count(),
            1,
            "{family}"
        );
    }
    for line in out.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<i64>().is_ok(), "{line}");
        assert!(
            series.starts_with("cloudmirror_")
                && series.ends_with("\"}")
                && series.contains("{destination=\""),
            "{line}"
        );
    }
    let sample = |name: &str, dest: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}{{destination=\"{dest}\"}} ")))
            .map(|v| v.parse::<i64>().unwrap())
    };
    assert_eq!(sample("cloudmirror_destination_up", "home"), Some(1));
    assert_eq!(sample("cloudmirror_destination_up", "gone"), Some(0));
    assert_eq!(sample("cloudmirror_health_status", "home"), Some(0));
    assert_eq!(sample("cloudmirror_health_status", "gone"), Some(2));
    assert_eq!(sample("cloudmirror_backups", "home"), Some(1));
    assert_eq!(
        sample("cloudmirror_backups", "gone"),
        None,
        "unknown, not zero"
    );
    let stored = i64::try_from(std::fs::metadata(s.join("store/a.txt.gz")).unwrap().len()).unwrap();
    assert_eq!(
        sample("cloudmirror_newest_backup_size_bytes", "home"),
        Some(stored)
    );
    let ts = sample("cloudmirror_newest_backup_timestamp_seconds", "home").unwrap();
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    assert!((now - 600..=now + 60).contains(&ts), "{ts} vs {now}");
}

#[test]
fn the_documented_cron_line_writes_the_file_atomically() {
    let ops = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md"))
        .unwrap();
    let line = ops
        .lines()
        .find(|l| l.contains("status --format prometheus >"))
        .expect("a cron line");
    assert!(
        line.contains("> \"$F.$$\"") && line.contains("mv \"$F.$$\" \"$F\""),
        "{line}"
    );
    assert!(
        line.contains("[ $? -le 2 ]"),
        "an unhealthy status still writes: {line}"
    );
}
