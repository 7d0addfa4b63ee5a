//! Compression choices end to end: parallel gzip readable by `gunzip`-style multi-member decoding,
//! zstd backups restored by the manifest's compression, and level validation per compression.

use std::io::Read;

use crate::common::{json_export, Scratch};

fn config(compress: &str, level: Option<u32>) -> String {
    let level = level.map(|l| format!("level = {l}\n")).unwrap_or_default();
    format!(
        "[backup]\ncompress = \"{compress}\"\n{level}[[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"a\"\n"
    )
}

#[test]
fn a_multi_block_gzip_backup_is_one_valid_multi_member_stream() {
    let s = Scratch::new();
    // Several 1 MiB blocks, so several gzip members.
    let data = json_export(60_000);
    assert!(data.len() > 3 * 1024 * 1024);
    s.write("db.json", &data);
    s.write("cloudmirror.toml", config("gzip", Some(1)));
    s.run(&["backup", "db.json", "--name", "db.json.gz"])
        .expect_code(0);
    let stored = std::fs::read(s.join("a/db.json.gz")).unwrap();
    let mut back = Vec::new();
    flate2::read::MultiGzDecoder::new(&stored[..])
        .read_to_end(&mut back)
        .unwrap();
    assert!(back == data, "multi-member decoding differs");
    s.run(&["restore", "db.json.gz", "-o", "out.json"])
        .expect_code(0);
    assert!(std::fs::read(s.join("out.json")).unwrap() == data);
}

#[test]
fn zstd_backup_gets_zst_name_and_restores_byte_identical() {
    let s = Scratch::new();
    let data = json_export(30_000);
    s.write("db.json", &data);
    s.write("cloudmirror.toml", config("zstd", Some(5)));
    let report = s
        .run(&["backup", "db.json", "--json"])
        .expect_code(0)
        .json();
    let name = report["name"].as_str().unwrap().to_owned();
    assert!(name.ends_with(".json.zst"), "{name}");
    assert_eq!(report["manifest"]["compression"], "zstd");
    let stored = std::fs::read(s.join("a").join(&name)).unwrap();
    assert!(stored.len() < data.len() / 3, "zstd did not compress");
    assert!(zstd::stream::decode_all(&stored[..]).unwrap() == data);

    s.run(&["restore", &name, "-o", "out.json"]).expect_code(0);
    assert!(std::fs::read(s.join("out.json")).unwrap() == data);
    // The default output path drops `.zst`.
    s.run(&["restore", &name]).expect_code(0);
    assert!(std::fs::read(s.join(name.trim_end_matches(".zst"))).unwrap() == data);
}

#[test]
fn a_tampered_zstd_copy_is_refused() {
    let s = Scratch::new();
    let data = json_export(5_000);
    s.write("db.json", &data);
    s.write("cloudmirror.toml", config("zstd", None));
    s.run(&["backup", "db.json", "--name", "db.json.zst"])
        .expect_code(0);
    let path = s.join("a/db.json.zst");
    let mut stored = std::fs::read(&path).unwrap();
    let mid = stored.len() / 2;
    stored[mid] ^= 0x55;
    std::fs::write(&path, stored).unwrap();
    let out = s.run(&["restore", "db.json.zst", "-o", "out.json"]);
    assert_ne!(out.code, 0, "a corrupt copy was restored");
    assert!(!s.join("out.json").exists());
}

#[test]
fn levels_out_of_range_for_the_compression_are_config_errors() {
    let s = Scratch::new();
    s.write("db.json", json_export(10));
    for (compress, level, range) in [
        ("gzip", 10, "0-9"),
        ("zstd", 0, "1-22"),
        ("zstd", 23, "1-22"),
    ] {
        s.write("cloudmirror.toml", config(compress, Some(level)));
        let out = s.run(&["backup", "db.json"]).expect_code(2);
        assert!(
            out.stderr.contains("backup.level") && out.stderr.contains(range),
            "{compress} {level}: {}",
            out.stderr
        );
    }
    // zstd accepts levels gzip does not.
    s.write("cloudmirror.toml", config("zstd", Some(19)));
    s.run(&["backup", "db.json"]).expect_code(0);
}
