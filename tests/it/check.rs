//! `cloudmirror check` against the local folder and the four fakes: every step's success, and the
//! typical failures (wrong key, missing folder, missing delete permission, bad config).

use crate::common::Scratch;
use crate::fakes::{Fakes, S3_SECRET, SUPABASE_KEY};

const STEPS: [&str; 5] = ["list", "write", "read", "find", "delete"];

#[test]
fn every_step_passes_on_every_destination_and_leaves_nothing_behind() {
    let fakes = Fakes::start();
    let s = Scratch::new();
    s.write("cloudmirror.toml", fakes.config());
    let run = s.run(&["check"]).expect_code(0);
    for dest in ["local", "s3", "dropbox", "drive", "supabase"] {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with("ok ") && l.contains(&format!(" {dest} "))),
            "{dest}:\n{}",
            run.stdout
        );
    }
    let json = s.run(&["check", "--json"]).expect_code(0).json();
    assert_eq!(json["ok"], true);
    for d in json["destinations"].as_array().unwrap() {
        let steps: Vec<&str> = d["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["step"].as_str().unwrap())
            .collect();
        assert_eq!(steps, STEPS, "{d}");
        assert!(
            d["steps"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["ok"] == true),
            "{d}"
        );
    }
    // The probe was deleted everywhere.
    assert!(
        fakes.s3.object_keys().is_empty(),
        "{:?}",
        fakes.s3.object_keys()
    );
    assert!(fakes.dropbox.object_keys().is_empty());
    assert!(fakes.gdrive.object_keys().is_empty());
    assert!(fakes.supabase.object_keys("backups").is_empty());
    assert_eq!(std::fs::read_dir(s.join("local")).unwrap().count(), 0);
}

#[test]
fn read_only_lists_and_writes_nothing() {
    let fakes = Fakes::start();
    let s = Scratch::new();
    s.write("cloudmirror.toml", fakes.config());
    let json = s
        .run(&["check", "--read-only", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(json["read_only"], true);
    for d in json["destinations"].as_array().unwrap() {
        let steps = d["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 1, "{d}");
        assert_eq!(steps[0]["step"], "list");
    }
    assert_eq!(
        fakes
            .s3
            .request_count(cloudmirror_fakes::s3::S3Op::PutObject),
        0
    );
    assert_eq!(fakes.supabase.counts().standard_uploads, 0);
    assert_eq!(fakes.supabase.counts().tus_creates, 0);
}

#[test]
fn a_wrong_key_fails_that_destination_alone_with_what_to_change() {
    let fakes = Fakes::start();
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        fakes
            .config()
            .replace(S3_SECRET, "wrong")
            .replace(SUPABASE_KEY, "sb_secret_wrong"),
    );
    let run = s.run(&["check"]).expect_code(1);
    assert!(run.stdout.contains("FAILED   s3 "), "{}", run.stdout);
    assert!(
        run.stdout.contains("HTTP 403 SignatureDoesNotMatch"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("the S3 key may not s3:ListBucket"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("FAILED   supabase "), "{}", run.stdout);
    assert!(
        run.stdout.contains("service_role_key must be"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("ok       local "), "{}", run.stdout);
    assert!(
        !run.stdout.contains("wrong"),
        "no secret echoed:\n{}",
        run.stdout
    );
}

#[test]
fn a_missing_delete_permission_says_retention_will_fail() {
    let fakes = Fakes::start();
    let s = Scratch::new();
    s.write("cloudmirror.toml", fakes.config());
    fakes
        .supabase
        .deny_delete("backups", "cloudmirror-check.probe");
    let json = s
        .run(&["check", "--to", "supabase,local", "--json"])
        .expect_code(1)
        .json();
    let sb = json["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["destination"] == "supabase")
        .unwrap();
    let delete = sb["steps"].as_array().unwrap().last().unwrap();
    assert_eq!(delete["step"], "delete", "{sb}");
    assert_eq!(delete["ok"], false, "{sb}");
    assert!(
        delete["hint"]
            .as_str()
            .unwrap_or_default()
            .contains("retention"),
        "{sb}"
    );
    assert_eq!(sb["steps"][1]["ok"], true, "the write worked: {sb}");
}

#[test]
fn a_missing_folder_or_bucket_is_named() {
    let fakes = Fakes::start();
    let s = Scratch::new();
    // Local: the path is a file, not a folder.
    s.write("not-a-folder", "x");
    let config = fakes
        .config()
        .replace("path = \"local\"", "path = \"not-a-folder\"")
        .replace(&fakes.gdrive.folder_id(), "no-such-folder-id");
    s.write("cloudmirror.toml", config);
    let run = s.run(&["check", "--to", "local,drive,s3"]).expect_code(1);
    assert!(run.stdout.contains("FAILED   local "), "{}", run.stdout);
    assert!(run.stdout.contains("FAILED   drive "), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("not be shared with the service account's e-mail"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("ok       s3 "), "{}", run.stdout);
    // Nothing usable at all: 2.
    s.run(&["check", "--to", "local,drive"]).expect_code(2);
}

#[test]
fn config_problems_are_exit_2_naming_the_setting() {
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        "[backup]\nexec = \"no-such-dump-program --all\"\n\n[[destinations]]\nname = \"home\"\ntype = \"local\"\npath = \"store\"\nretention = { keep_last = 1 }\n",
    );
    let run = s.run(&["check"]).expect_code(2);
    assert!(run.stdout.contains("ok       home "), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("config   [backup] exec: the program `no-such-dump-program` is not on PATH"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "config   destination \"home\" retention: keeps nothing but the newest backup"
        ),
        "{}",
        run.stdout
    );
    let json = s.run(&["check", "--json"]).expect_code(2).json();
    assert_eq!(json["config"].as_array().unwrap().len(), 2, "{json}");
    // Fixed: all good.
    s.write(
        "cloudmirror.toml",
        "[backup]\nexec = \"cat /dev/null\"\n\n[[destinations]]\nname = \"home\"\ntype = \"local\"\npath = \"store\"\nretention = { keep_last = 3 }\n",
    );
    s.run(&["check"]).expect_code(0);
}

#[test]
fn check_passes_on_sftp_and_an_unknown_host_fails_with_its_fingerprint() {
    let Some(sshd) = crate::clouds::sftp_server(
        "check_passes_on_sftp_and_an_unknown_host_fails_with_its_fingerprint",
    ) else {
        return;
    };
    let s = Scratch::new();
    let table = sshd.destination_toml("nas");
    s.write("cloudmirror.toml", &table);
    let run = s.run(&["check"]).expect_code(0);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("ok ") && l.contains(" nas ")),
        "{}",
        run.stdout
    );
    assert!(
        std::fs::read_dir(sshd.folder()).unwrap().next().is_none(),
        "the probe was deleted"
    );
    // A known_hosts without this server (relative to the config file): refused before logging in.
    s.write("other_hosts", "");
    let config: String = table
        .lines()
        .map(|l| {
            if l.starts_with("known_hosts") {
                "known_hosts = \"other_hosts\"\n".to_owned()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    s.write("cloudmirror.toml", config);
    let run = s.run(&["check"]).expect_code(2);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("nas"), "{all}");
    assert!(all.contains("unknown host"), "{all}");
    assert!(all.contains("SHA256:"), "{all}");
    assert!(all.contains("ssh-keyscan"), "{all}");
}
