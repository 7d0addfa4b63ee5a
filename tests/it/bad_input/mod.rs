//! Bad configs and inputs: exit code 2 and a message naming the file, line and field at fault.

mod cases;

use crate::common::Scratch;
use cases::{CASES, LOCAL};

#[test]
fn bad_config_errors_name_file_line_and_field() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "[[destinations]]\nname = \"l\"\ntype = \"local\"\npath = \"x\"\nbukcet = \"y\"\n",
            "unknown field",
            &["cloudmirror.toml:5:", "bukcet", "destination \"l\""],
        ),
        (
            "[[destinations]]\nname = \"l\"\ntype = \"ftp\"\n",
            "unknown type",
            &["cloudmirror.toml:3:", "ftp"],
        ),
        (
            "[backup]\ncompress = 5\n[[destinations]]\nname = \"l\"\ntype = \"local\"\npath = \"x\"\n",
            "wrong type",
            &["cloudmirror.toml:2:", "compress"],
        ),
        (
            "[[destinations]]\nname = \"l\"\ntype = \"local\"\npath = \"${CLOUDMIRROR_TEST_MISSING_VAR}\"\n",
            "missing variable",
            &["cloudmirror.toml:4:", "CLOUDMIRROR_TEST_MISSING_VAR"],
        ),
        (
            "[[destinations]]\nname = \"l\"\ntype = \"local\"\npath = \"a\"\n[[destinations]]\nname = \"l\"\ntype = \"local\"\npath = \"b\"\n",
            "duplicate name",
            &["cloudmirror.toml:6:", "duplicate"],
        ),
        (
            "[[destinations]\nname = \"l\"\n",
            "malformed TOML",
            &["cloudmirror.toml:1:", "invalid TOML"],
        ),
        (
            "[backup]\nname = \"../{stem}\"\n[[destinations]]\nname = \"l\"\ntype = \"local\"\npath = \"x\"\n",
            "escaping name template",
            &["backup.name", ".."],
        ),
    ];
    for (config, what, fragments) in cases {
        let s = Scratch::new();
        s.write("cloudmirror.toml", config);
        s.write("db.json", "{}");
        let run = s.run(&["backup", "db.json"]);
        assert_eq!(run.code, 2, "{what}: exit code; stderr: {}", run.stderr);
        for f in *fragments {
            assert!(
                run.stderr.contains(f),
                "{what}: stderr should mention {f:?}: {}",
                run.stderr
            );
        }
    }
}

#[test]
fn config_is_found_via_flag_then_env_var() {
    let s = Scratch::new();
    s.write(
        "conf/a.toml",
        "[[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"store\"\n",
    );
    s.write("db.json", "{\"a\":1}");
    s.run(&[
        "--config",
        "conf/a.toml",
        "backup",
        "db.json",
        "--name",
        "x.gz",
    ])
    .expect_code(0);
    // Relative paths resolve against the config file's folder.
    assert!(s.join("conf/store/x.gz").is_file());
    let run = s
        .command(&["list", "--json"])
        .env("CLOUDMIRROR_CONFIG", s.join("conf/a.toml"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&run.stdout).contains("x.gz"));
    let missing = s.run(&["--config", "nope.toml", "list"]).expect_code(2);
    assert!(missing.stderr.contains("nope.toml"), "{}", missing.stderr);
}

#[test]
fn bad_sources_and_selections_are_exit_2() {
    let s = Scratch::new();
    s.write("empty.json", "");
    std::fs::create_dir(s.join("folder")).unwrap();
    for (args, fragment) in [
        (vec!["backup", "missing.json"], "missing.json"),
        (vec!["backup", "empty.json"], "empty"),
        (vec!["backup", "folder"], "directory"),
        (vec!["backup", "--to", "nowhere", "empty.json"], "nowhere"),
        (vec!["restore", "../etc/passwd"], "backup name"),
        (vec!["restore", "x.gz", "--from", "nowhere"], "nowhere"),
        (vec!["frobnicate"], "frobnicate"),
    ] {
        let run = s.run(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(fragment), "{args:?}: {}", run.stderr);
    }
    assert!(
        !s.join("backups").exists() || std::fs::read_dir(s.join("backups")).unwrap().count() == 0
    );
}

#[test]
fn every_bad_input_is_exit_2_with_a_message_naming_it() {
    assert!(CASES.len() >= 30, "{} cases", CASES.len());
    let mut failures = Vec::new();
    for case in CASES {
        let s = Scratch::new();
        if let Some(config) = case.config {
            s.write("cloudmirror.toml", config);
        }
        s.write("db.json", "{\"id\":1}\n");
        s.write("empty.json", "");
        std::fs::create_dir(s.join("folder")).unwrap();
        let run = s.run(case.args);
        let missing: Vec<_> = case
            .fragments
            .iter()
            .filter(|f| !run.stderr.contains(*f))
            .collect();
        if run.code != 2 || !missing.is_empty() {
            failures.push(format!(
                "{}: exit {} (want 2), missing {missing:?} in stderr: {}",
                case.what,
                run.code,
                run.stderr.trim()
            ));
        }
        if run.stderr.contains("panicked") {
            failures.push(format!("{}: panicked: {}", case.what, run.stderr));
        }
        let stored = s.join("store");
        assert!(
            !stored.exists() || std::fs::read_dir(&stored).unwrap().next().is_none(),
            "{}: nothing may be stored",
            case.what
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

/// An unreadable source or config file (mode 000). As root, permissions do not stop reads, so the
/// binary then runs as the unprivileged `nobody` user (uid 65534) to make them bite.
#[cfg(unix)]
#[test]
fn unreadable_source_and_config_are_exit_2_naming_the_file() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;

    let s = Scratch::new();
    std::fs::set_permissions(s.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    s.write("cloudmirror.toml", LOCAL);
    s.write("locked.toml", LOCAL);
    s.write("secret.json", "{\"id\":1}\n");
    for f in ["secret.json", "locked.toml"] {
        std::fs::set_permissions(s.join(f), std::fs::Permissions::from_mode(0o000)).unwrap();
    }
    // Privileged (root or CAP_DAC_OVERRIDE): reading still works, so drop to `nobody`.
    let privileged = std::fs::read(s.join("secret.json")).is_ok();
    for (args, fragment) in [
        (&["backup", "secret.json"][..], "secret.json"),
        (&["--config", "locked.toml", "list"][..], "locked.toml"),
    ] {
        let mut cmd = s.command(args);
        if privileged {
            cmd.uid(65534).gid(65534);
        }
        let out = cmd.output().expect("run cloudmirror");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(fragment), "{args:?}: {stderr}");
        assert!(stderr.contains("ermission denied"), "{args:?}: {stderr}");
    }
    assert!(!s.join("store").exists(), "nothing stored");
}
