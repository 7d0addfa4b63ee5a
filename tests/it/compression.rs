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

/// Stores `stored` as backup `name` on destination folder `a`, with the manifest a backup would
/// have written (size and SHA-256 of the stored bytes), as if another release or a person put it.
fn store_by_hand(s: &Scratch, name: &str, stored: &[u8], original_size: usize) {
    use sha2::Digest;
    s.write(&format!("a/{name}"), stored);
    let manifest = serde_json::json!({
        "format": 1,
        "name": name,
        "stored_size": stored.len(),
        "original_size": original_size,
        "sha256": hex::encode(sha2::Sha256::digest(stored)),
        "compression": "gzip",
        "created_at": "2026-01-01T00:00:00Z",
        "tool_version": "0.0.0",
        "source": "db.json",
    });
    s.write(&format!("a/{name}.manifest.json"), manifest.to_string());
}

/// The previous release's gzip: independent 1 MiB members from zlib's encoder (`flate2`), no
/// member-length subfield.
fn previous_release_gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    for block in data.chunks(1024 * 1024) {
        let mut enc = flate2::write::GzEncoder::new(&mut out, flate2::Compression::new(6));
        enc.write_all(block).unwrap();
        enc.finish().unwrap();
    }
    out
}

/// `tool args` with `input` on standard input; its standard output.
fn pipe_through(tool: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    assert!(out.status.success(), "{tool} {args:?} failed");
    out.stdout
}

/// `pigz` from `CLOUDMIRROR_PIGZ` (set by `cargo xtask ci`) or `PATH`; `None` prints "skipped",
/// except under `CI=true`, where a missing pigz fails.
fn pigz() -> Option<String> {
    if let Some(p) = std::env::var_os("CLOUDMIRROR_PIGZ") {
        return Some(p.to_string_lossy().into_owned());
    }
    let found = std::process::Command::new("pigz")
        .arg("--version")
        .output()
        .is_ok();
    assert!(
        found || std::env::var("CI").as_deref() != Ok("true"),
        "CI=true and pigz is unavailable (apt-get install pigz, or run cargo xtask ci)"
    );
    if !found {
        eprintln!("skipped: pigz is not installed");
    }
    found.then(|| "pigz".to_owned())
}

#[test]
fn gzip_from_the_previous_release_gzip_and_pigz_restores_byte_identical() {
    let s = Scratch::new();
    let data = json_export(40_000);
    assert!(data.len() > 2 * 1024 * 1024, "several members");
    s.write("cloudmirror.toml", config("gzip", None));
    let mut made = vec![
        ("previous.json.gz", previous_release_gzip(&data)),
        ("gzip.json.gz", pipe_through("gzip", &["-6", "-c"], &data)),
    ];
    if let Some(pigz) = pigz() {
        made.push((
            "pigz.json.gz",
            pipe_through(&pigz, &["-6", "-p", "2", "-c"], &data),
        ));
    }
    for (name, stored) in &made {
        store_by_hand(&s, name, stored, data.len());
        s.run(&["restore", name, "-o", "out.json"]).expect_code(0);
        assert!(std::fs::read(s.join("out.json")).unwrap() == data, "{name}");
        std::fs::remove_file(s.join("out.json")).unwrap();
    }
}

#[test]
fn a_new_backup_reads_back_with_gunzip_and_pigz_byte_identical() {
    let s = Scratch::new();
    let data = json_export(40_000);
    s.write("db.json", &data);
    for level in [1, 6, 9] {
        s.write("cloudmirror.toml", config("gzip", Some(level)));
        let name = format!("l{level}.json.gz");
        s.run(&["backup", "db.json", "--name", &name])
            .expect_code(0);
        let stored = std::fs::read(s.join("a").join(&name)).unwrap();
        assert!(
            pipe_through("gzip", &["-dc"], &stored) == data,
            "gunzip, level {level}"
        );
        if let Some(pigz) = pigz() {
            assert!(
                pipe_through(&pigz, &["-dc"], &stored) == data,
                "pigz -d, level {level}"
            );
        }
    }
}

#[test]
fn a_corrupt_member_fails_the_restore_and_leaves_no_output() {
    let s = Scratch::new();
    let data = json_export(40_000);
    s.write("db.json", &data);
    s.write("cloudmirror.toml", config("gzip", None));
    s.run(&["backup", "db.json", "--name", "db.json.gz"])
        .expect_code(0);
    let path = s.join("a/db.json.gz");
    let good = std::fs::read(&path).unwrap();
    // One flipped byte inside the second member's deflate data, then a cut-off copy.
    let mut flipped = good.clone();
    let second = u32::from_le_bytes(good[16..20].try_into().unwrap()) as usize;
    flipped[second + 500] ^= 0x40;
    for (what, bytes) in [
        ("flipped", flipped),
        ("truncated", good[..good.len() - 1000].to_vec()),
    ] {
        std::fs::write(&path, &bytes).unwrap();
        let out = s
            .run(&["restore", "db.json.gz", "-o", "out.json"])
            .expect_code(2);
        assert!(out.stderr.contains("corrupt"), "{what}: {}", out.stderr);
        assert!(!s.join("out.json").exists(), "{what}: output left behind");
    }
}
