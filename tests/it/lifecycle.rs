//! Retention after backups and in `prune`, and `status` exit codes, on local destinations.

use crate::common::{json_export, listed_names, Scratch};

#[test]
fn retention_runs_after_backup_and_never_touches_foreign_files() {
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        "[retention]\nkeep_last = 2\n\n[[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"a\"\n\n[[destinations]]\nname = \"keepall\"\ntype = \"local\"\npath = \"b\"\nretention = { keep_last = 10 }\n",
    );
    s.write("a/notes.txt", "not a backup");
    s.write("db.json", json_export(500));
    for i in 1..=4 {
        s.run(&["backup", "db.json", "--name", &format!("db-{i}.json.gz")])
            .expect_code(0);
    }
    let on_a = listed_names(&s.run(&["list", "--json", "--to", "a"]).expect_code(0));
    assert_eq!(on_a, vec!["db-4.json.gz", "db-3.json.gz"]);
    assert!(
        s.join("a/notes.txt").is_file(),
        "foreign files are never touched"
    );
    assert!(
        !s.join("a/db-1.json.gz.manifest.json").exists(),
        "manifest deleted with its backup"
    );
    assert_eq!(
        listed_names(&s.run(&["list", "--json", "--to", "keepall"]).expect_code(0)).len(),
        4
    );

    let dry = s
        .run(&["prune", "--dry-run", "--to", "keepall"])
        .expect_code(0);
    assert!(dry.stdout.contains("would delete 0 of 4"), "{}", dry.stdout);
}

#[test]
fn prune_dry_run_explains_and_prune_deletes() {
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        "[[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"a\"\n",
    );
    s.write("db.json", json_export(500));
    for i in 1..=3 {
        s.run(&["backup", "db.json", "--name", &format!("db-{i}.json.gz")])
            .expect_code(0);
    }
    // No rules configured: everything is kept.
    let none = s.run(&["prune"]).expect_code(0);
    assert!(
        none.stdout.contains("no retention rules"),
        "{}",
        none.stdout
    );
    s.write(
        "cloudmirror.toml",
        "[retention]\nkeep_last = 1\nprotect_larger = false\n[[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"a\"\n",
    );
    let dry = s.run(&["prune", "--dry-run"]).expect_code(0);
    assert!(dry.stdout.contains("keep_last"), "{}", dry.stdout);
    assert!(dry.stdout.contains("would delete 2 of 3"), "{}", dry.stdout);
    assert_eq!(
        listed_names(&s.run(&["list", "--json"])).len(),
        3,
        "dry run deletes nothing"
    );
    s.run(&["prune"]).expect_code(0);
    assert_eq!(
        listed_names(&s.run(&["list", "--json"])),
        vec!["db-3.json.gz"]
    );
}

#[test]
fn status_exit_codes() {
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        "[[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"a\"\n",
    );
    let empty = s.run(&["status"]).expect_code(2);
    assert!(empty.stdout.contains("no backups"), "{}", empty.stdout);
    s.write("big.json", json_export(20_000));
    s.write("small.json", json_export(100));
    s.run(&["backup", "big.json", "--name", "1.json.gz"])
        .expect_code(0);
    let healthy = s.run(&["status", "--json"]).expect_code(0);
    assert_eq!(healthy.json()["exit_code"], 0);
    s.run(&["backup", "small.json", "--name", "2.json.gz"])
        .expect_code(0);
    let shrunk = s.run(&["status"]).expect_code(1);
    assert!(shrunk.stdout.contains("smaller"), "{}", shrunk.stdout);
    s.write("blocker", "x");
    s.write(
        "cloudmirror.toml",
        "[[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"blocker/sub\"\n",
    );
    let broken = s.run(&["status"]).expect_code(2);
    assert!(broken.stdout.contains("critical"), "{}", broken.stdout);
}

#[test]
fn bad_retention_values_are_config_errors() {
    for (table, fragment) in [
        ("keep_last = 0", "keep_last"),
        ("keep_daily = -1", "keep_daily"),
        ("keep_weekly = \"x\"", "keep_weekly"),
    ] {
        let s = Scratch::new();
        s.write("cloudmirror.toml", format!("[retention]\n{table}\n[[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"a\"\n"));
        let run = s.run(&["prune"]).expect_code(2);
        assert!(
            run.stderr.contains("cloudmirror.toml:2") && run.stderr.contains(fragment),
            "{table}: {}",
            run.stderr
        );
    }
}
