//! The binary against every provider's fake at once: one backup mirrored to local + S3 + Dropbox +
//! Drive + Supabase, plus the real servers of the other types (OpenSSH `sshd` for SFTP, `wsgidav`
//! for WebDAV, Azurite for Azure), listed, verified and restored from each, byte-identical.

use std::fmt::Write as _;

use cloudmirror_azure::testserver::{Azurite, ACCOUNT, CONTAINER, KEY};
use cloudmirror_fakes::gdrive::RequestKind;
use cloudmirror_fakes::s3::S3Op;
use cloudmirror_sftp::testserver::Sshd;
use cloudmirror_webdav::testserver::{Wsgidav, PASSWORD, USER};

use crate::common::{json_export, skip, Scratch};
use crate::fakes::Fakes as Clouds;

const ALL: [&str; 5] = ["local", "s3", "dropbox", "drive", "supabase"];

/// A real `sshd` for the SFTP destination, or `None` (printing why) when it is not installed;
/// under `CI=true` a missing server is a failure.
pub(crate) fn sftp_server(test: &str) -> Option<Sshd> {
    let Some(binary) = Sshd::find() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "sshd not found and CI=true: `cargo xtask ci` installs it (openssh-server)"
        );
        println!("{test}: the SFTP destination is skipped: sshd not found");
        return None;
    };
    Some(Sshd::start(binary).unwrap_or_else(|e| panic!("{test}: starting sshd: {e}")))
}

/// A JSON-lines export whose rows carry a random 256-bit hex token (as session ids and hashes
/// do), so it compresses only to about a third: 150 000 rows are about 7 MiB gzipped.
fn export_with_tokens(rows: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = Vec::new();
    for i in 0..rows {
        let token: String = (0..4).map(|_| format!("{:016x}", next())).collect();
        out.extend_from_slice(
            format!(
                "{{\"id\":{i},\"org\":\"org-{}\",\"email\":\"user{i}@example.com\",\"token\":\"{token}\"}}\n",
                i % 97
            )
            .as_bytes(),
        );
    }
    out
}

/// Local + the four fakes, with each adapter's chunk setting at (or near) its smallest, so a
/// backup of a few MiB crosses every chunked path: S3 multipart (parts of 5 MiB, S3's minimum),
/// a Dropbox upload session (the fake's 4 MiB chunks), a Drive resumable session (1 MiB chunks)
/// and Supabase TUS (6 MiB chunks: the fake, like the real server, takes no other size).
fn chunked_config(clouds: &Clouds) -> String {
    let config = clouds
        .config()
        .replace("type = \"s3\"\n", "type = \"s3\"\npart_size = \"5MiB\"\n")
        .replace(
            "type = \"gdrive\"\n",
            "type = \"gdrive\"\nchunk_size = \"1MiB\"\n",
        )
        .replace(
            "type = \"supabase\"\n",
            "type = \"supabase\"\nchunk_size = \"6MiB\"\n",
        );
    assert!(config.contains("chunk_size = \"4MiB\""), "{config}");
    config
}

/// The real servers of the types without a fake, each running until dropped.
struct RealServers {
    _sshd: Option<Sshd>,
    _webdav: Option<Wsgidav>,
    _azurite: Option<(tokio::runtime::Runtime, Azurite)>,
}

/// Starts sshd (SFTP), wsgidav (WebDAV) and Azurite where installed (a failure under `CI=true`
/// when one is missing) and adds a destination for each to `config` and its name to `all`.
fn add_real_servers(config: &mut String, all: &mut Vec<&str>) -> RealServers {
    let sshd = sftp_server("mirrors_to_every_destination_type_and_restores_from_each");
    if let Some(sshd) = &sshd {
        config.push('\n');
        config.push_str(&sshd.destination_toml("sftp"));
        all.push("sftp");
    }
    let webdav = Wsgidav::find().map(|b| Wsgidav::start(b).expect("starting wsgidav"));
    if let Some(dav) = &webdav {
        let _ = write!(
            config,
            "\n[[destinations]]\nname = \"webdav\"\ntype = \"webdav\"\nurl = \"{}\"\nuser = \"{USER}\"\npassword = \"{PASSWORD}\"\n",
            dav.url()
        );
        all.push("webdav");
    } else {
        skip("the WebDAV destination: wsgidav not found (`cargo xtask ci` installs it)");
    }
    let azurite = crate::azure::start_azurite();
    if let Some((_, server)) = &azurite {
        // Small blocks, so the backup crosses many Put Block requests before the commit.
        let _ = write!(
            config,
            "\n[[destinations]]\nname = \"azure\"\ntype = \"azure\"\naccount = \"{ACCOUNT}\"\ncontainer = \"{CONTAINER}\"\naccess_key = \"{KEY}\"\nendpoint = \"{}\"\nchunk_size = \"1MiB\"\n",
            Azurite::endpoint_on(server.port())
        );
        all.push("azure");
    }
    RealServers {
        _sshd: sshd,
        _webdav: webdav,
        _azurite: azurite,
    }
}

#[test]
fn mirrors_to_every_destination_type_and_restores_from_each() {
    let clouds = Clouds::start();
    let s = Scratch::new();
    let mut config = chunked_config(&clouds);
    let mut all = ALL.to_vec();
    let _servers = add_real_servers(&mut config, &mut all);
    s.write("cloudmirror.toml", config);
    let data = export_with_tokens(300_000);
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
    // The compressed backup spans several chunks of every adapter (see `chunked_config`)...
    let stored = std::fs::metadata(s.join("local/daily/db.json.gz"))
        .unwrap()
        .len();
    assert!(stored > 12 * 1024 * 1024, "compressed to {stored} bytes");
    // ...and each fake saw its chunked protocol, not one single-request upload.
    assert!(
        clouds.s3.request_count(S3Op::UploadPart) >= 2
            && clouds.s3.request_count(S3Op::CompleteMultipartUpload) == 1,
        "S3 multipart: {} parts",
        clouds.s3.request_count(S3Op::UploadPart)
    );
    for route in [
        "files/upload_session/start",
        "files/upload_session/append_v2",
        "files/upload_session/finish",
    ] {
        assert!(clouds.dropbox.requests(route) >= 1, "Dropbox {route}");
    }
    assert!(
        clouds.gdrive.request_count(RequestKind::Chunk) >= 6,
        "Drive resumable chunks: {}",
        clouds.gdrive.request_count(RequestKind::Chunk)
    );
    let sb = clouds.supabase.counts();
    assert!(
        sb.tus_creates >= 1 && sb.tus_patches >= 2,
        "Supabase TUS: {} creations, {} PATCHes",
        sb.tus_creates,
        sb.tus_patches
    );
    let report = run.json();
    for d in report["destinations"].as_array().unwrap() {
        assert_eq!(d["ok"], true, "{d}");
    }
    let list = s.run(&["list", "--json"]).expect_code(0).json();
    assert_eq!(list["backups"][0]["name"], "daily/db.json.gz");
    assert_eq!(list["backups"][0]["destinations"], serde_json::json!(all));
    // SFTP and WebDAV keep no checksum: a plain verify re-hashes those copies, and says so;
    // Azure's stored MD5 is compared without a download.
    let verify = s.run(&["verify", "--json"]).expect_code(0).json();
    for c in verify["checks"].as_array().unwrap() {
        assert_eq!(c["status"], "ok", "{c}");
        if c["destination"] == "sftp" || c["destination"] == "webdav" {
            assert_eq!(c["method"], "deep sha256", "{c}");
        }
        if c["destination"] == "azure" {
            assert_eq!(c["method"], "size+md5", "{c}");
        }
    }
    s.run(&["verify", "--deep"]).expect_code(0);
    for dest in all {
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
