//! `restore --into COMMAND`, `latest`, `--safety-backup` and the confirmation of destructive
//! restores, with plain shell commands (the PostgreSQL versions are in `postgres.rs`).

use std::io::{Read, Write};

use crate::common::{json_export, listed_names, Scratch};

/// Two local destinations and a `[backup] exec` job that dumps `db.json`.
fn two_destinations(exec: &str) -> Scratch {
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        format!(
            r#"
[backup]
exec = "{exec}"
name = "db-{{timestamp}}.json"

[[destinations]]
name = "a"
type = "local"
path = "a"

[[destinations]]
name = "b"
type = "local"
path = "b"
"#
        ),
    );
    s
}

/// Replaces a stored gzip backup with a *valid* gzip of different content: only the checksum
/// against the manifest can tell, and only once every byte has gone through.
pub fn tamper_valid_gzip(path: &std::path::Path, extra: &[u8]) {
    let mut plain = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).expect("open the stored copy"))
        .read_to_end(&mut plain)
        .expect("decompress the stored copy");
    plain.extend_from_slice(extra);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&plain).expect("compress");
    std::fs::write(path, enc.finish().expect("compress")).expect("write the stored copy");
}

#[test]
fn into_streams_the_verified_backup_into_a_command() {
    let s = two_destinations("cat db.json");
    let data = json_export(20_000);
    s.write("db.json", &data);
    s.run(&["backup", "--name", "db.json.gz"]).expect_code(0);

    let run = s
        .run(&[
            "restore",
            "latest",
            "--into",
            "cat > restored.json",
            "--yes",
        ])
        .expect_code(0);
    assert!(run.stdout.contains("verified sha256"), "{}", run.stdout);
    assert!(std::fs::read(s.join("restored.json")).unwrap() == data);

    // With --json, the command's own output goes to stderr: stdout stays one JSON document.
    let run = s
        .run(&["restore", "db.json.gz", "--into", "cat", "--yes", "--json"])
        .expect_code(0);
    let v = run.json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["name"], "db.json.gz");
    assert_eq!(v["command"], "cat");
    assert_eq!(v["restored_bytes"], data.len() as u64);
    assert!(
        run.stderr.len() >= data.len(),
        "the command's output went to stderr"
    );
}

#[test]
fn a_checksum_mismatch_kills_the_command_before_its_input_ends() {
    let s = two_destinations("cat db.json");
    s.write("db.json", json_export(20_000));
    s.run(&["backup", "--name", "db.json.gz"]).expect_code(0);
    tamper_valid_gzip(&s.join("a/db.json.gz"), b"{\"id\":-1}\n");

    // If the input were closed instead of the command killed, `cat` would end normally and the
    // marker would be written, just as a single-transaction psql would COMMIT.
    let run = s
        .run(&[
            "restore",
            "db.json.gz",
            "--from",
            "a",
            "--into",
            "cat > part; echo finished > marker",
            "--yes",
        ])
        .expect_code(2);
    assert!(run.stderr.contains("corrupt"), "{}", run.stderr);
    assert!(run.stderr.contains("killed"), "{}", run.stderr);
    assert!(
        s.join("part").exists(),
        "the command had started and received data"
    );
    assert!(
        !s.join("marker").exists(),
        "the command ran to its end: {}",
        run.stderr
    );

    // The intact copy on b restores.
    s.run(&[
        "restore",
        "db.json.gz",
        "--from",
        "b",
        "--into",
        "cat > part; echo finished > marker",
        "--yes",
    ])
    .expect_code(0);
    assert!(s.join("marker").exists());
}

#[test]
fn the_commands_exit_code_decides_and_is_named() {
    let s = two_destinations("cat db.json");
    s.write("db.json", json_export(20_000));
    s.run(&["backup", "--name", "db.json.gz"]).expect_code(0);

    let run = s
        .run(&[
            "restore",
            "db.json.gz",
            "--into",
            "cat > /dev/null; exit 7",
            "--yes",
        ])
        .expect_code(2);
    assert!(run.stderr.contains("exit status: 7"), "{}", run.stderr);
    assert!(run.stderr.contains("verified"), "{}", run.stderr);

    // A command that stops reading early did not restore the backup, whatever its exit code.
    let run = s
        .run(&[
            "restore",
            "db.json.gz",
            "--into",
            "head -c 10 > /dev/null",
            "--yes",
        ])
        .expect_code(2);
    assert!(run.stderr.contains("stopped reading"), "{}", run.stderr);
}

#[test]
fn destructive_restores_without_a_terminal_need_yes() {
    let s = two_destinations("cat db.json");
    s.write("db.json", json_export(1000));
    s.run(&["backup", "--name", "db.json.gz"]).expect_code(0);

    let run = s
        .run(&[
            "restore",
            "latest",
            "--into",
            "echo ran > marker",
            "--safety-backup",
        ])
        .expect_code(2);
    assert!(run.stderr.contains("pass --yes"), "{}", run.stderr);
    assert!(!s.join("marker").exists(), "the command ran");
    // Refused before the safety backup too: nothing new on the destinations.
    let names = listed_names(&s.run(&["list", "--json"]).expect_code(0));
    assert_eq!(names, vec!["db.json.gz".to_owned()]);

    s.write("existing.json", "keep me");
    let run = s
        .run(&["restore", "latest", "-o", "existing.json"])
        .expect_code(2);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(s.join("existing.json")).unwrap(),
        "keep me"
    );
    // Not destructive: a new file needs no confirmation.
    s.run(&["restore", "latest", "-o", "new.json"])
        .expect_code(0);
}

#[test]
fn on_a_terminal_the_restore_shows_the_backup_and_asks() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: `script` (util-linux) is needed to give the binary a terminal"
        );
        println!("skipped: `script` (util-linux) is not installed; it gives the binary a terminal");
        return;
    }
    let s = two_destinations("cat db.json");
    s.write("db.json", json_export(1000));
    s.run(&["backup", "--name", "db.json.gz"]).expect_code(0);
    let on_terminal = |answer: &str| {
        // `script` runs the binary on a pseudo-terminal and forwards our stdin to it.
        let bin = env!("CARGO_BIN_EXE_cloudmirror");
        let mut cmd = std::process::Command::new("script");
        cmd.args([
            "-qec",
            &format!("{bin} restore latest --into 'cat > restored.json'"),
            "/dev/null",
        ])
        .current_dir(s.path())
        .env_remove("CLOUDMIRROR_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("script");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(answer.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, screen) = on_terminal("n\n");
    assert_eq!(code, Some(2), "{screen}");
    for shown in [
        "db.json.gz",
        "created",
        "size",
        "destinations  a, b",
        "[y/N]",
        "not confirmed",
    ] {
        assert!(screen.contains(shown), "{shown:?} missing from:\n{screen}");
    }
    assert!(!s.join("restored.json").exists());

    let (code, screen) = on_terminal("y\n");
    assert_eq!(code, Some(0), "{screen}");
    assert!(s.join("restored.json").exists(), "{screen}");
}

#[test]
fn latest_is_the_newest_intact_backup_and_never_a_safety_backup() {
    let s = two_destinations("cat db.json");
    s.write("db.json", json_export(1000));
    s.run(&["backup", "--name", "old.json.gz"]).expect_code(0);
    s.write("db.json", json_export(2000));
    s.run(&["backup", "--name", "new.json.gz"]).expect_code(0);
    // Flip a byte of the newest copy on a.
    let path = s.join("a/new.json.gz");
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();

    let name_of = |args: &[&str]| -> String {
        let run = s.run(args).expect_code(0);
        run.json()["name"].as_str().unwrap().to_owned()
    };
    let from_a = s
        .run(&["restore", "latest", "--from", "a", "-o", "x.json", "--json"])
        .expect_code(0);
    assert_eq!(
        from_a.json()["name"],
        "old.json.gz",
        "skips the corrupt newest"
    );
    assert!(from_a.stderr.contains("new.json.gz"), "{}", from_a.stderr);
    assert_eq!(
        name_of(&["restore", "latest", "-o", "y.json", "--json"]),
        "new.json.gz"
    );

    // A safety backup is newer than everything, yet `latest` stays the newest regular backup.
    let run = s
        .run(&[
            "restore",
            "latest",
            "--into",
            "cat > /dev/null",
            "--safety-backup",
            "--yes",
            "--json",
        ])
        .expect_code(0);
    let v = run.json();
    assert_eq!(v["name"], "new.json.gz");
    let safety = v["safety_backup"]["name"].as_str().unwrap().to_owned();
    assert!(safety.starts_with("pre-restore-"), "{safety}");
    assert_eq!(v["safety_backup"]["manifest"]["pre_restore"], true);
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(s.join(&format!("b/{safety}.manifest.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["pre_restore"], true);
    assert_eq!(
        name_of(&["restore", "latest", "-o", "z.json", "--json"]),
        "new.json.gz"
    );

    // Where nothing but a safety backup exists, it is the latest.
    s.run(&["delete", "old.json.gz"]).expect_code(0);
    s.run(&["delete", "new.json.gz"]).expect_code(0);
    assert_eq!(
        name_of(&["restore", "latest", "-o", "w.json", "--json"]),
        safety
    );
    assert!(std::fs::read(s.join("w.json")).unwrap() == json_export(2000));
}

#[test]
fn the_safety_backup_needs_backup_exec_and_a_failed_one_stops_the_restore() {
    // Backs up a file, then restores it into a command behind a safety backup, which must fail.
    let back_up_then_restore_safely = |s: &Scratch| {
        s.write("db.json", json_export(1000));
        s.run(&["backup", "db.json", "--name", "db.json.gz"])
            .expect_code(0);
        s.run(&[
            "restore",
            "db.json.gz",
            "--into",
            "echo ran > marker",
            "--safety-backup",
            "--yes",
        ])
        .expect_code(2)
    };
    let s = Scratch::new();
    let run = back_up_then_restore_safely(&s);
    assert!(run.stderr.contains("[backup] exec"), "{}", run.stderr);
    assert!(!s.join("marker").exists());

    let s = two_destinations("cat missing.json");
    let run = back_up_then_restore_safely(&s);
    assert!(
        run.stderr.contains("failed on every destination"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("nothing was restored"),
        "{}",
        run.stderr
    );
    assert!(
        !s.join("marker").exists(),
        "restored despite no safety backup"
    );
    for dest in ["a", "b"] {
        let left: Vec<_> = std::fs::read_dir(s.join(dest))
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("pre-restore"))
            .collect();
        assert!(left.is_empty(), "{dest}: {left:?}");
    }
}
