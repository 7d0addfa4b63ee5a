//! The binary against a real Azure Blob service (Azurite, npm `azurite`, on 127.0.0.1): one backup
//! mirrored to a local folder and an Azure container, listed, verified with the MD5 the service
//! stores, restored from the container byte-identical, deleted.
//!
//! Azurite comes from `CLOUDMIRROR_AZURITE` or `target/azurite` (`cargo xtask ci` installs it);
//! without it the test is skipped, except under `CI=true`, where that is a failure.

use cloudmirror_azure::testserver::{Azurite, ACCOUNT, CONTAINER, KEY};

use crate::common::{json_export, skip, Scratch};

/// Starts Azurite, or says why not (a failure under `CI=true`).
pub(crate) fn start_azurite() -> Option<(tokio::runtime::Runtime, Azurite)> {
    let Some(binary) = Azurite::find() else {
        skip("azurite-blob not found (run `cargo xtask ci`, which installs it)");
        return None;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(Azurite::start(&binary))
        .unwrap_or_else(|e| panic!("starting Azurite: {e}"));
    Some((rt, server))
}

#[test]
fn a_wrong_access_key_is_one_line_naming_the_destination_and_never_printed() {
    let Some((_rt, server)) = start_azurite() else {
        return;
    };
    let s = Scratch::new();
    let wrong = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=";
    s.write(
        "cloudmirror.toml",
        format!(
            "[[destinations]]\nname = \"blob\"\ntype = \"azure\"\naccount = \"{ACCOUNT}\"\n\
             container = \"{CONTAINER}\"\naccess_key = \"{wrong}\"\nendpoint = \"{}\"\n",
            Azurite::endpoint_on(server.port())
        ),
    );
    let run = s.run(&["list", "--to", "blob"]).expect_code(2);
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("warning: cannot list blob: azure: "))
        .unwrap_or_else(|| panic!("no error line naming the destination in:\n{}", run.stderr));
    assert!(line.contains("HTTP 403"), "{line}");
    assert!(line.contains("`access_key`"), "{line}");
    assert!(!run.stderr.contains(wrong) && !run.stdout.contains(wrong));
    let run = s.run(&["check"]);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("blob"), "{all}");
    assert!(!all.contains(wrong), "{all}");
    assert_ne!(run.code, 0, "{all}");
}

#[test]
fn mirrors_one_backup_to_local_and_azure_and_restores_from_each() {
    let Some((_rt, server)) = start_azurite() else {
        return;
    };
    let s = Scratch::new();
    // Small blocks, so the backup crosses several Put Block requests before the commit.
    s.write(
        "cloudmirror.toml",
        format!(
            "[[destinations]]\nname = \"local\"\ntype = \"local\"\npath = \"local\"\n\n\
             [[destinations]]\nname = \"blob\"\ntype = \"azure\"\naccount = \"{ACCOUNT}\"\n\
             container = \"{CONTAINER}\"\naccess_key = \"${{AZURE_STORAGE_KEY}}\"\n\
             endpoint = \"{}\"\nchunk_size = \"64KiB\"\n",
            Azurite::endpoint_on(server.port())
        ),
    );
    let data = json_export(60_000);
    s.write("db.json", &data);
    let env = |args: &[&str]| {
        let mut c = s.command(args);
        c.env("AZURE_STORAGE_KEY", KEY);
        crate::common::Run::from(c.output().unwrap())
    };
    let run = env(&[
        "backup",
        "db.json",
        "--name",
        "daily/db 1.json.gz",
        "--json",
    ])
    .expect_code(0);
    for d in run.json()["destinations"].as_array().unwrap() {
        assert_eq!(d["ok"], true, "{d}\n{}", server.log());
    }
    let stored = std::fs::metadata(s.join("local/daily/db 1.json.gz"))
        .unwrap()
        .len();
    assert!(stored > 4 * 64 * 1024, "several blocks: {stored} bytes");
    let list = env(&["list", "--json"]).expect_code(0).json();
    assert_eq!(list["backups"][0]["name"], "daily/db 1.json.gz");
    assert_eq!(
        list["backups"][0]["destinations"],
        serde_json::json!(["local", "blob"])
    );
    let verify = env(&["verify", "--to", "blob"]).expect_code(0);
    assert!(
        verify.stdout.to_lowercase().contains("md5"),
        "verify compares the MD5 Azure stores:\n{}",
        verify.stdout
    );
    env(&["verify", "--deep"]).expect_code(0);
    for dest in ["local", "blob"] {
        let out = format!("restored-{dest}.json");
        env(&["restore", "daily/db 1.json.gz", "--from", dest, "-o", &out]).expect_code(0);
        assert!(
            std::fs::read(s.join(&out)).unwrap() == data,
            "restore from {dest} differs"
        );
    }
    env(&["delete", "daily/db 1.json.gz"]).expect_code(0);
    assert_eq!(
        env(&["list", "--json"]).expect_code(0).json()["backups"],
        serde_json::json!([])
    );
}
