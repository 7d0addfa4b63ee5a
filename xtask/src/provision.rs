//! Installs what tests need (a loopback S3 server) when it is missing, and says what was skipped.

use std::path::PathBuf;
use std::process::Command;

/// The S3 server the real-server tests start: `s3s-fs` from crates.io (the newest release needs a
/// newer rustc than these machines have, so the version is pinned).
pub(crate) const S3S_FS_VERSION: &str = "0.14.1";

/// Whether we run under CI (`CI=true`), where a missing service is a failure, never a skip.
pub(crate) fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Where cargo puts installed binaries.
fn cargo_bin_dir() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
        .join("bin")
}

/// Finds `s3s-fs` (env `CLOUDMIRROR_S3S_FS`, PATH, cargo's bin folder), installing it if missing.
/// Returns its path, or why it is unavailable.
pub(crate) fn s3s_fs() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("CLOUDMIRROR_S3S_FS").map(PathBuf::from) {
        if p.is_file() {
            return Ok(p);
        }
    }
    let installed = cargo_bin_dir().join("s3s-fs");
    if works(&installed) {
        return Ok(installed);
    }
    if works(&PathBuf::from("s3s-fs")) {
        return Ok(PathBuf::from("s3s-fs"));
    }
    eprintln!("xtask: installing s3s-fs {S3S_FS_VERSION} (a loopback S3 server for the real-server tests)...");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "install",
            "s3s-fs",
            "--version",
            S3S_FS_VERSION,
            "--features",
            "binary",
        ])
        .status()
        .map_err(|e| format!("cannot run cargo install: {e}"))?;
    if status.success() && works(&installed) {
        Ok(installed)
    } else {
        Err(format!(
            "`cargo install s3s-fs --version {S3S_FS_VERSION} --features binary` failed ({status})"
        ))
    }
}

fn works(bin: &PathBuf) -> bool {
    Command::new(bin)
        .arg("--help")
        .output()
        .is_ok_and(|o| o.status.success())
}
