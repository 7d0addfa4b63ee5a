//! `[encryption]`: backups are age-encrypted before they leave the machine; `restore --identity`
//! decrypts; a missing or wrong identity is a clear error; `verify` works without the key.

use age::secrecy::ExposeSecret;

use crate::common::{json_export, Scratch};

fn keypair() -> (String, String) {
    let id = age::x25519::Identity::generate();
    (
        id.to_string().expose_secret().to_owned(),
        id.to_public().to_string(),
    )
}

#[test]
fn encrypted_round_trip_and_key_errors() {
    let (secret, public) = keypair();
    let (other_secret, _) = keypair();
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        format!("[encryption]\nrecipients = [\"{public}\"]\n\n[[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"a\"\n"),
    );
    s.write("me.key", format!("# test identity\n{secret}\n"));
    s.write("other.key", format!("{other_secret}\n"));
    let data = json_export(5000);
    s.write("db.json", &data);
    let run = s
        .run(&["backup", "db.json", "--name", "db.json.gz", "--json"])
        .expect_code(0);
    assert_eq!(run.json()["manifest"]["encrypted"], true);
    let stored = std::fs::read(s.join("a/db.json.gz")).unwrap();
    assert!(
        stored.starts_with(b"age-encryption.org/v1"),
        "stored bytes are an age file"
    );
    assert!(
        !stored.windows(13).any(|w| w == b"@example.com\""),
        "no plaintext in the stored copy"
    );

    // verify works on the stored (encrypted) bytes, without the key.
    s.run(&["verify", "--deep"]).expect_code(0);

    let missing = s
        .run(&["restore", "db.json.gz", "-o", "out.json"])
        .expect_code(2);
    assert!(missing.stderr.contains("--identity"), "{}", missing.stderr);
    let wrong = s
        .run(&[
            "restore",
            "db.json.gz",
            "-o",
            "out.json",
            "--identity",
            "other.key",
        ])
        .expect_code(2);
    assert!(wrong.stderr.contains("wrong key"), "{}", wrong.stderr);
    assert!(!s.join("out.json").exists());
    assert!(!wrong.stderr.contains(&other_secret) && !wrong.stdout.contains(&other_secret));

    s.run(&[
        "restore",
        "db.json.gz",
        "-o",
        "out.json",
        "--identity",
        "me.key",
    ])
    .expect_code(0);
    assert!(
        std::fs::read(s.join("out.json")).unwrap() == data,
        "decrypted bytes differ"
    );
}

#[test]
fn bad_recipients_are_config_errors() {
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        "[encryption]\nrecipients = [\"age1notakey\"]\n[[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"a\"\n",
    );
    s.write("db.json", "{}");
    let run = s.run(&["backup", "db.json"]).expect_code(2);
    assert!(
        run.stderr.contains("encryption.recipients[0]"),
        "{}",
        run.stderr
    );
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        "[[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"a\"\n",
    );
    s.write("bad.key", "not a key\n");
    let run = s
        .run(&["restore", "x.gz", "--identity", "bad.key", "-o", "o"])
        .expect_code(2);
    assert!(run.stderr.contains("bad.key"), "{}", run.stderr);
}
