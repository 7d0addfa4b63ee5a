//! Folder sources: streamed as tar, restored into a new folder; crafted archives are refused.

use std::io::Write;

use sha2::{Digest, Sha256};

use crate::common::Scratch;

#[test]
fn a_folder_round_trips_through_tar() {
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        "[[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"store\"\n",
    );
    s.write("attachments/invoices/2026-11.pdf", vec![42u8; 300_000]);
    s.write("attachments/logo é.png", b"png");
    let run = s.run(&["backup", "attachments", "--json"]).expect_code(0);
    let name = run.json()["name"].as_str().unwrap().to_owned();
    assert!(
        name.starts_with("attachments-") && name.ends_with(".tar.gz"),
        "{name}"
    );
    assert_eq!(run.json()["manifest"]["archive"], "tar");
    s.run(&["restore", &name, "-o", "restored"]).expect_code(0);
    assert_eq!(
        std::fs::read(s.join("restored/invoices/2026-11.pdf")).unwrap(),
        vec![42u8; 300_000]
    );
    assert_eq!(
        std::fs::read(s.join("restored/logo é.png")).unwrap(),
        b"png"
    );
    // Restoring again into the same folder is refused: folders are restored into new folders.
    let again = s
        .run(&["restore", &name, "-o", "restored", "--yes"])
        .expect_code(2);
    assert!(again.stderr.contains("restored"), "{}", again.stderr);
}

#[test]
fn a_crafted_archive_escaping_the_folder_is_refused() {
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        "[[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"store\"\n",
    );
    // A gzip'ed tar whose entry climbs out with '..', stored with a valid manifest.
    let mut header = tar::Header::new_gnu();
    header.set_size(4);
    header.set_mode(0o644);
    let name = b"../escaped.txt";
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    builder.append(&header, &b"evil"[..]).unwrap();
    let tar_bytes = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar_bytes).unwrap();
    let stored = gz.finish().unwrap();
    s.write("store/evil.tar.gz", &stored);
    let manifest = serde_json::json!({
        "format": 1, "name": "evil.tar.gz", "stored_size": stored.len(), "original_size": tar_bytes.len(),
        "sha256": hex::encode(Sha256::digest(&stored)), "md5": "", "dropbox_content_hash": "",
        "compression": "gzip", "created_at": "2026-11-23T00:00:00Z", "tool_version": "test",
        "source": "attachments.tar", "archive": "tar"
    });
    s.write("store/evil.tar.gz.manifest.json", manifest.to_string());
    let run = s
        .run(&["restore", "evil.tar.gz", "-o", "out"])
        .expect_code(2);
    assert!(
        run.stderr.contains("refusing archive entry"),
        "{}",
        run.stderr
    );
    assert!(!s.join("escaped.txt").exists() && !s.join("out").exists());
    let leftovers = std::fs::read_dir(s.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .contains("cloudmirror-extract")
        })
        .count();
    assert_eq!(leftovers, 0, "staging folder removed");
}
