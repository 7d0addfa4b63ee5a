//! Bad configs and inputs: exit code 2 and a message naming the file, line and field at fault.

use crate::common::Scratch;

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
