//! The binary against every provider's fake at once: one backup mirrored to local + S3 + Dropbox +
//! Drive + Supabase, listed, verified and restored from each, byte-identical.

use crate::common::{json_export, Scratch};
use crate::fakes::Fakes as Clouds;

const ALL: [&str; 5] = ["local", "s3", "dropbox", "drive", "supabase"];

#[test]
fn mirrors_to_five_destinations_and_restores_from_each() {
    let clouds = Clouds::start();
    let s = Scratch::new();
    s.write("cloudmirror.toml", clouds.config());
    // Large enough that compressed output crosses every adapter's chunked path in the fakes.
    let data = json_export(400_000);
    s.write("db.json", &data);
    let run = s
        .run(&[
            "backup",
            "db.json",
            "--name",
            "daily/db.json.gz",
            "--verify",
            "--json",
        ])
        .expect_code(0);
    let report = run.json();
    for d in report["destinations"].as_array().unwrap() {
        assert_eq!(d["ok"], true, "{d}");
    }
    let list = s.run(&["list", "--json"]).expect_code(0).json();
    assert_eq!(list["backups"][0]["name"], "daily/db.json.gz");
    assert_eq!(list["backups"][0]["destinations"], serde_json::json!(ALL));
    s.run(&["verify", "--deep"]).expect_code(0);
    for dest in ALL {
        let out = format!("restored-{dest}.json");
        s.run(&["restore", "daily/db.json.gz", "--from", dest, "-o", &out])
            .expect_code(0);
        assert!(
            std::fs::read(s.join(&out)).unwrap() == data,
            "restore from {dest} differs"
        );
    }
    s.run(&["delete", "daily/db.json.gz"]).expect_code(0);
    assert_eq!(
        s.run(&["list", "--json"]).expect_code(0).json()["backups"],
        serde_json::json!([])
    );
}

#[test]
fn a_destination_that_keeps_failing_does_not_stop_the_others() {
    let clouds = Clouds::start();
    let s = Scratch::new();
    s.write("cloudmirror.toml", clouds.config());
    s.write("db.json", json_export(2000));
    clouds.supabase.fail_next_requests(1000, 500);
    let run = s
        .run(&["backup", "db.json", "--name", "db.json.gz"])
        .expect_code(1);
    assert!(run.stdout.contains("failed  supabase"), "{}", run.stdout);
    for dest in ["local", "s3", "dropbox", "drive"] {
        assert!(
            run.stdout.contains(&format!("ok      {dest}")),
            "{dest}: {}",
            run.stdout
        );
    }
}

#[test]
fn retention_and_status_across_the_faked_clouds() {
    let clouds = Clouds::start();
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        format!("[retention]\nkeep_last = 1\n\n{}", clouds.config()),
    );
    s.write("db.json", json_export(3000));
    s.run(&["backup", "db.json", "--name", "old.json.gz"])
        .expect_code(0);
    s.run(&["status"]).expect_code(0);
    s.run(&["backup", "db.json", "--name", "new.json.gz"])
        .expect_code(0);
    let list = s.run(&["list", "--json"]).expect_code(0).json();
    let names: Vec<&str> = list["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["new.json.gz"],
        "retention ran on every destination"
    );
    assert_eq!(list["backups"][0]["destinations"], serde_json::json!(ALL));
    let dry = s
        .run(&["prune", "--dry-run", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(dry["destinations"].as_array().unwrap().len(), 5);
    // A destination that refuses every request makes status critical.
    clouds.dropbox.fail_next("files/list_folder", 1000, 500);
    let status = s.run(&["status", "--json"]).expect_code(2).json();
    assert_eq!(status["exit_code"], 2);
}

#[test]
fn a_backup_records_the_digests_its_destinations_report() {
    let clouds = Clouds::start();
    let s = Scratch::new();
    s.write("cloudmirror.toml", clouds.config());
    s.write("db.json", json_export(2_000));
    let manifest = |name: &str| -> serde_json::Value {
        let text = std::fs::read(s.join(&format!("local/{name}.manifest.json"))).unwrap();
        serde_json::from_slice(&text).unwrap()
    };
    let checks = |args: &[&str]| -> Vec<(String, String)> {
        let run = s
            .run(&[&["verify", "--json"], args].concat())
            .expect_code(0)
            .json();
        run["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                assert_eq!(c["status"], "ok", "{c}");
                (
                    c["destination"].as_str().unwrap().to_owned(),
                    c["method"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };

    // Local + S3 report no MD5 or Dropbox hash: the backup does not spend CPU on them.
    s.run(&["backup", "db.json", "--name", "a.gz", "--to", "local,s3"])
        .expect_code(0);
    let m = manifest("a.gz");
    assert_eq!(m["sha256"].as_str().unwrap().len(), 64, "{m}");
    assert!(
        m.get("md5").is_none() && m.get("dropbox_content_hash").is_none(),
        "{m}"
    );
    assert_eq!(checks(&["a.gz", "--to", "local,s3"]).len(), 2);

    // With Drive and Dropbox among the destinations, their checksums are recorded and compared.
    s.run(&["backup", "db.json", "--name", "b.gz"])
        .expect_code(0);
    let m = manifest("b.gz");
    assert_eq!(m["md5"].as_str().unwrap().len(), 32, "{m}");
    assert_eq!(m["dropbox_content_hash"].as_str().unwrap().len(), 64, "{m}");
    let methods = checks(&["b.gz"]);
    assert!(
        methods.contains(&("drive".into(), "size+md5".into())),
        "{methods:?}"
    );
    assert!(
        methods.contains(&("dropbox".into(), "size+dropbox_content_hash".into())),
        "{methods:?}"
    );
}
