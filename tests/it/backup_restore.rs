//! Backup, list, restore and delete round trips on local destinations.

use crate::common::{json_export, listed_names, Scratch};

#[test]
fn embedded_default_round_trip_is_byte_identical() {
    let s = Scratch::new();
    let data = json_export(20_000);
    s.write("db.json", &data);
    let backup = s.run(&["backup", "db.json", "--json"]).expect_code(0);
    let report = backup.json();
    let name = report["name"].as_str().unwrap().to_owned();
    assert!(
        name.starts_with("db-") && name.ends_with(".json.gz"),
        "{name}"
    );
    assert_eq!(report["manifest"]["original_size"], data.len() as u64);
    assert!(s.join("backups").join(&name).is_file());
    assert!(s
        .join("backups")
        .join(format!("{name}.manifest.json"))
        .is_file());

    let list = s.run(&["list", "--json"]).expect_code(0);
    assert_eq!(listed_names(&list), vec![name.clone()]);

    s.run(&["restore", &name, "-o", "restored.json"])
        .expect_code(0);
    assert!(
        std::fs::read(s.join("restored.json")).unwrap() == data,
        "restored bytes differ"
    );

    // Refuses to overwrite without --yes, then overwrites with it.
    let refused = s
        .run(&["restore", &name, "-o", "restored.json"])
        .expect_code(2);
    assert!(
        refused.stderr.contains("already exists"),
        "{}",
        refused.stderr
    );
    s.run(&["restore", &name, "-o", "restored.json", "--yes"])
        .expect_code(0);

    let to_stdout = s.run(&["restore", &name, "-o", "-"]).expect_code(0);
    assert!(
        to_stdout.stdout.as_bytes() == data.as_slice(),
        "stdout restore differs"
    );

    s.run(&["delete", &name]).expect_code(0);
    assert!(!s.join("backups").join(&name).exists());
    assert!(listed_names(&s.run(&["list", "--json"]).expect_code(0)).is_empty());
    s.run(&["delete", &name]).expect_code(2);
}

#[test]
fn stdin_backup_with_template_and_prefix() {
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        r#"
[backup]
name = "database-backup-{date}.json.gz"

[[destinations]]
name = "primary"
type = "local"
path = "store-a"
prefix = "daily/"

[[destinations]]
name = "second"
type = "local"
path = "store-b"
"#,
    );
    let data = json_export(3000);
    let run = s.run_with_stdin(&["backup", "-"], &data).expect_code(0);
    assert_eq!(
        run.stdout.lines().filter(|l| l.starts_with("ok")).count(),
        2,
        "{}",
        run.stdout
    );
    let date = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let name = format!("database-backup-{date}.json.gz");
    assert!(s.join("store-a/daily").join(&name).is_file());
    assert!(s.join("store-b").join(&name).is_file());
    let list = s.run(&["list", "--json"]).expect_code(0);
    let rows = list.json()["backups"].clone();
    assert_eq!(
        rows[0]["destinations"],
        serde_json::json!(["primary", "second"])
    );

    // Same-day re-run replaces the backup instead of adding one.
    s.run_with_stdin(&["backup", "-"], &data).expect_code(0);
    assert_eq!(
        listed_names(&s.run(&["list", "--json"]).expect_code(0)),
        vec![name.clone()]
    );

    s.run(&["restore", &name, "--from", "second", "-o", "out.json"])
        .expect_code(0);
    assert!(std::fs::read(s.join("out.json")).unwrap() == data);
    s.run(&["delete", &name, "--to", "second"]).expect_code(0);
    assert!(
        s.join("store-a/daily").join(&name).is_file(),
        "--to limits delete"
    );
}

#[test]
fn one_unwritable_destination_is_exit_1_and_the_other_holds_the_backup() {
    let s = Scratch::new();
    s.write("blocker", "a file where a folder should be");
    s.write(
        "cloudmirror.toml",
        r#"
[[destinations]]
name = "good"
type = "local"
path = "good"

[[destinations]]
name = "broken"
type = "local"
path = "blocker/sub"
"#,
    );
    s.write("db.json", json_export(100));
    let run = s
        .run(&["backup", "db.json", "--name", "db.json.gz"])
        .expect_code(1);
    assert!(run.stdout.contains("ok      good"), "{}", run.stdout);
    assert!(run.stdout.contains("failed  broken"), "{}", run.stdout);
    assert!(s.join("good/db.json.gz").is_file());
    assert!(s.join("good/db.json.gz.manifest.json").is_file());

    let all_broken = s
        .run(&["backup", "db.json", "--to", "broken"])
        .expect_code(2);
    assert!(
        all_broken.stdout.contains("failed  broken"),
        "{}",
        all_broken.stdout
    );
}

#[test]
fn tampered_copy_is_refused_and_restore_falls_back_to_a_good_one() {
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        r#"
[[destinations]]
name = "a"
type = "local"
path = "a"

[[destinations]]
name = "b"
type = "local"
path = "b"
"#,
    );
    let data = json_export(5000);
    s.write("db.json", &data);
    s.run(&["backup", "db.json", "--name", "db.json.gz", "--verify"])
        .expect_code(0);
    // Corrupt the copy on `a`: same size, one byte flipped in the middle.
    let path = s.join("a/db.json.gz");
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let listed = s.run(&["list", "--json"]).expect_code(0).json();
    assert_eq!(
        listed["backups"][0]["copies_agree"], true,
        "same size: only verify can tell"
    );

    let verify = s.run(&["verify", "--json"]).expect_code(1);
    let checks = verify.json()["checks"].as_array().unwrap().clone();
    let status_of =
        |d: &str| checks.iter().find(|c| c["destination"] == d).unwrap()["status"].clone();
    assert_eq!(status_of("a"), "corrupt", "{checks:?}");
    assert_eq!(status_of("b"), "ok", "{checks:?}");
    s.run(&["verify", "db.json.gz", "--deep", "--to", "b"])
        .expect_code(0);
    let deep_a = s
        .run(&["verify", "db.json.gz", "--deep", "--to", "a"])
        .expect_code(2);
    assert!(deep_a.stdout.contains("corrupt"), "{}", deep_a.stdout);

    let refused = s
        .run(&["restore", "db.json.gz", "--from", "a", "-o", "out.json"])
        .expect_code(2);
    assert!(refused.stderr.contains("corrupt"), "{}", refused.stderr);
    assert!(!s.join("out.json").exists(), "no output left behind");
    let leftovers: Vec<_> = std::fs::read_dir(s.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .contains("cloudmirror-restore")
        })
        .collect();
    assert!(leftovers.is_empty(), "temporary restore files left behind");

    let fell_back = s
        .run(&[
            "restore",
            "db.json.gz",
            "--from",
            "any",
            "-o",
            "out.json",
            "--json",
        ])
        .expect_code(0);
    assert_eq!(fell_back.json()["destination"], "b");
    assert!(std::fs::read(s.join("out.json")).unwrap() == data);

    // A truncated copy: `list` shows the copies disagree, restore from there is refused.
    let truncated = &bytes[..bytes.len() / 2];
    std::fs::write(&path, truncated).unwrap();
    let listed = s.run(&["list", "--json"]).expect_code(0).json();
    assert_eq!(listed["backups"][0]["copies_agree"], false);
    s.run(&["restore", "db.json.gz", "--from", "a", "-o", "t.json"])
        .expect_code(2);
    assert!(!s.join("t.json").exists());
}

#[test]
fn uncompressed_backups_round_trip() {
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        "[backup]\ncompress = \"none\"\n[[destinations]]\nname = \"l\"\ntype = \"local\"\npath = \"out\"\n",
    );
    s.write(
        "dump.sql",
        "CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n",
    );
    let run = s.run(&["backup", "dump.sql", "--json"]).expect_code(0);
    let name = run.json()["name"].as_str().unwrap().to_owned();
    assert!(name.ends_with(".sql"), "{name}");
    assert_eq!(
        std::fs::read(s.join("out").join(&name)).unwrap(),
        std::fs::read(s.join("dump.sql")).unwrap()
    );
    s.run(&["restore", &name, "-o", "back.sql"]).expect_code(0);
    assert_eq!(
        std::fs::read(s.join("back.sql")).unwrap(),
        std::fs::read(s.join("dump.sql")).unwrap()
    );
}

#[test]
fn exec_source_streams_stdout_and_a_failing_command_leaves_nothing() {
    let s = Scratch::new();
    s.write("cloudmirror.toml", "[[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"a\"\n[[destinations]]\nname = \"b\"\ntype = \"local\"\npath = \"b\"\n");
    let ok = s
        .run(&[
            "backup",
            "--exec",
            "seq 1 50000",
            "--name",
            "seq.txt.gz",
            "--json",
        ])
        .expect_code(0);
    assert_eq!(ok.json()["manifest"]["source"], "exec:seq");
    s.run(&["restore", "seq.txt.gz", "-o", "seq.txt"])
        .expect_code(0);
    let expected: String = (1..=50000).map(|i| format!("{i}\n")).collect();
    assert_eq!(
        std::fs::read_to_string(s.join("seq.txt")).unwrap(),
        expected
    );

    // Output then a non-zero exit: the backup fails everywhere and nothing is stored.
    let failed = s
        .run(&[
            "backup",
            "--exec",
            "seq 1 300000; echo 'dump failed' >&2; exit 3",
            "--name",
            "bad.gz",
        ])
        .expect_code(2);
    assert!(
        failed.stderr.contains("dump failed"),
        "the command's stderr is shown: {}",
        failed.stderr
    );
    assert!(failed.stderr.contains("exited with"), "{}", failed.stderr);
    for dest in ["a", "b"] {
        let names: Vec<String> = std::fs::read_dir(s.join(dest))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names.iter().any(|n| n.contains("bad")),
            "{dest}: {names:?}"
        );
    }
    assert_eq!(
        crate::common::listed_names(&s.run(&["list", "--json"])),
        vec!["seq.txt.gz".to_owned()]
    );
}
