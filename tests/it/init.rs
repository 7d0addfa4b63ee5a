//! `cloudmirror init`: a commented starter config, secrets as `${VAR}` named as in the provider
//! docs, mode 0600, never over an existing file; the result parses and `check` passes on it.

use std::os::unix::fs::PermissionsExt;

use crate::common::Scratch;

#[test]
fn init_writes_a_commented_0600_config_with_the_documented_variables() {
    let s = Scratch::new();
    let run = s.run(&["init", "--with", "s3,dropbox"]).expect_code(0);
    let path = s.join("cloudmirror.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");
    assert!(
        text.lines().filter(|l| l.starts_with('#')).count() >= 3,
        "{text}"
    );
    assert_eq!(text.matches("[[destinations]]").count(), 2, "{text}");
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "DROPBOX_APP_KEY",
        "DROPBOX_APP_SECRET",
        "DROPBOX_REFRESH_TOKEN",
    ] {
        assert!(
            text.contains(&format!("\"${{{var}}}\"")),
            "{var} in:\n{text}"
        );
        assert!(
            run.stdout.contains(&format!("export {var}=")),
            "{var} in:\n{}",
            run.stdout
        );
    }
    assert!(
        run.stdout.contains("cloudmirror.toml check"),
        "{}",
        run.stdout
    );
    // The docs use the same names.
    let docs = |p: &str| {
        std::fs::read_to_string(format!(
            "{}/docs/providers/{p}.md",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    assert!(docs("s3").contains("${AWS_SECRET_ACCESS_KEY}"));
    assert!(docs("dropbox").contains("${DROPBOX_REFRESH_TOKEN}"));

    // It parses once the variables are set (an unknown --to fails after parsing, naming both).
    let parsed = s
        .command(&["list", "--to", "nope"])
        .env("AWS_ACCESS_KEY_ID", "AKIA")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .env("DROPBOX_APP_KEY", "k")
        .env("DROPBOX_APP_SECRET", "s")
        .env("DROPBOX_REFRESH_TOKEN", "r")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&parsed.stderr);
    assert!(stderr.contains("unknown destination \"nope\""), "{stderr}");
    assert!(
        stderr.contains("s3") && stderr.contains("dropbox"),
        "{stderr}"
    );

    // Never overwrites.
    std::fs::write(&path, "# mine\n").unwrap();
    let again = s.run(&["init", "--with", "local"]).expect_code(2);
    assert!(
        again.stderr.contains("already exists; not overwriting"),
        "{}",
        again.stderr
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\n");
}

#[test]
fn init_with_a_local_folder_passes_check_and_bad_types_are_named() {
    let s = Scratch::new();
    s.run(&["init", "--with", "local", "--path", "starter.toml"])
        .expect_code(0);
    s.run(&["--config", "starter.toml", "check"]).expect_code(0);
    let run = s
        .run(&["init", "--with", "s3,ftp", "--path", "x.toml"])
        .expect_code(2);
    assert!(
        run.stderr.contains("unknown destination type \"ftp\""),
        "{}",
        run.stderr
    );
    assert!(!s.join("x.toml").exists());
    for kind in ["gdrive", "supabase", "webdav", "azure"] {
        let file = format!("{kind}.toml");
        s.run(&["init", "--with", kind, "--path", &file])
            .expect_code(0);
        let text = std::fs::read_to_string(s.join(&file)).unwrap();
        assert!(text.contains("\"${"), "{kind}: a ${{VAR}} secret:\n{text}");
    }
    // SFTP logs in with a key file by default; its template says how to record the host key.
    s.run(&["init", "--with", "sftp", "--path", "sftp.toml"])
        .expect_code(0);
    let text = std::fs::read_to_string(s.join("sftp.toml")).unwrap();
    assert!(text.contains("type = \"sftp\""), "{text}");
    assert!(text.contains("ssh-keyscan"), "{text}");
}
