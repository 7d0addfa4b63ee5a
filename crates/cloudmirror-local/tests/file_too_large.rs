//! A write past the process's file-size limit fails like a write to a full disk: the upload fails
//! as `QuotaExceeded`, its message names the file and the cause, and no temporary file is left.
//!
//! `RLIMIT_FSIZE` makes writes past the limit fail with `EFBIG` (with `SIGXFSZ` ignored, which is
//! what a full disk's `ENOSPC` looks like to the writer) without root or a small file system. The
//! limit would hit the test harness too, so the test re-runs itself in a child started through
//! `sh -c 'ulimit -f ...; trap "" XFSZ; exec ...'`: both the limit and the ignored signal are
//! inherited across `exec`.

use std::process::Command;

use bytes::Bytes;
use cloudmirror_contract::{ErrorKind, Key, StoreExt};
use cloudmirror_local::{LocalConfig, LocalStore};

/// Set in the child: it runs the upload under the limit.
const CHILD: &str = "CLOUDMIRROR_LOCAL_FILE_SIZE_LIMIT_CHILD";
/// What the child prints once every check passed (so a child that ran nothing fails the parent).
const CHECKED: &str = "file-size-limit checks passed";

#[test]
fn a_write_past_the_file_size_limit_is_a_clean_quota_error() {
    if std::env::var_os(CHILD).is_some() {
        under_the_limit();
        println!("{CHECKED}");
        return;
    }
    let exe = std::env::current_exe().expect("test binary path");
    // `ulimit -f 1024`: 1024 blocks, 512 bytes each in dash and 1024 in bash; either way far
    // below the 8 MiB body.
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -f 1024 && trap '' XFSZ && exec \"$0\" \"$@\"")
        .arg(exe)
        .args([
            "--exact",
            "a_write_past_the_file_size_limit_is_a_clean_quota_error",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD, "1")
        .output()
        .expect("running the test binary under a file-size limit");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(CHECKED),
        "the child failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
}

/// The upload under the limit: runs in the child only.
fn under_the_limit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LocalStore::new(LocalConfig::new(dir.path()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let key = Key::parse("db.bin").expect("key");
    let body = Bytes::from(vec![7u8; 8 * 1024 * 1024]);
    let err = rt
        .block_on(store.upload_bytes(&key, body))
        .expect_err("a write past the file-size limit must fail");
    assert_eq!(err.kind(), ErrorKind::QuotaExceeded, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("File too large"), "the cause is named: {msg}");
    assert!(msg.contains("db.bin"), "the file is named: {msg}");
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "nothing is left behind: {left:?}");
    // A small body still fits: the limit, not the store, refused the large one.
    rt.block_on(store.upload_bytes(&key, Bytes::from_static(b"small")))
        .expect("a body under the limit uploads");
}
