//! Installs what tests need (a loopback S3 server, the postgres server programs) when it is missing, and says what was skipped.

use std::path::{Path, PathBuf};
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

/// Programs the postgres end-to-end tests need, all from one installation.
pub(crate) const POSTGRES_PROGRAMS: [&str; 6] = [
    "initdb",
    "pg_ctl",
    "postgres",
    "psql",
    "pg_dump",
    "pg_restore",
];

/// Finds the postgres server binaries folder (env `CLOUDMIRROR_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin`), installing the distribution's `postgresql` package with apt-get
/// when it is missing and we are root. The tests start their own throw-away cluster from it on
/// 127.0.0.1; nothing is started here. Returns the folder, or why it is unavailable.
pub(crate) fn postgres() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("CLOUDMIRROR_PG_BIN").map(PathBuf::from) {
        return if has_postgres(&p) {
            Ok(p)
        } else {
            Err(format!(
                "CLOUDMIRROR_PG_BIN={} lacks one of {}",
                p.display(),
                POSTGRES_PROGRAMS.join(", ")
            ))
        };
    }
    if let Some(p) = newest_postgres_bin() {
        return Ok(p);
    }
    if !running_as_root() {
        return Err(
            "no PostgreSQL server in /usr/lib/postgresql/*/bin (install the `postgresql` package, \
             or set CLOUDMIRROR_PG_BIN)"
                .into(),
        );
    }
    eprintln!(
        "xtask: installing PostgreSQL (apt-get install -y postgresql) for the end-to-end tests..."
    );
    apt_install("postgresql");
    newest_postgres_bin().ok_or_else(|| {
        "`apt-get install -y postgresql` did not provide /usr/lib/postgresql/*/bin".to_owned()
    })
}

/// The newest `/usr/lib/postgresql/<version>/bin` that holds every program the tests use.
fn newest_postgres_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_postgres(&bin).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn has_postgres(bin: &std::path::Path) -> bool {
    POSTGRES_PROGRAMS.iter().all(|p| bin.join(p).is_file())
}

/// The WebDAV server the real-server tests start: `wsgidav` (PyPI) with the `cheroot` WSGI server,
/// in a virtual environment under `target/webdav-venv` (never committed). Returns the program's
/// path, or why it is unavailable. Nothing is started here: each test starts its own server on
/// 127.0.0.1 with a temporary folder and stops it.
pub(crate) fn wsgidav(target: &std::path::Path) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("CLOUDMIRROR_WSGIDAV").map(PathBuf::from) {
        if p.is_file() {
            return Ok(p);
        }
    }
    // Absolute: the tests run with each crate's folder as working directory, so a path relative to
    // the workspace would not be found there.
    let target = std::path::absolute(target)
        .map_err(|e| format!("cannot resolve {}: {e}", target.display()))?;
    let venv = target.join("webdav-venv");
    let program = venv.join("bin").join("wsgidav");
    if works(&program) {
        return Ok(program);
    }
    eprintln!(
        "xtask: installing wsgidav and cheroot into {} (the WebDAV test server)...",
        venv.display()
    );
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        return Err("`python3 -m venv` failed (install python3 and python3-venv)".into());
    }
    let pip = Command::new(venv.join("bin").join("pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "wsgidav==4.4.0",
            "cheroot",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if pip && works(&program) {
        Ok(program)
    } else {
        Err("`pip install wsgidav==4.4.0 cheroot` failed".into())
    }
}

/// The Azurite version `cargo xtask ci` installs.
const AZURITE_VERSION: &str = "3.35.0";

/// The Azure Blob Storage emulator the real-server tests start: Microsoft's Azurite (npm package
/// `azurite`), installed with `npm install --prefix target/azurite` (never committed). Returns the
/// path of its `azurite-blob` program, or why it is unavailable. Nothing is started here: each test
/// starts its own server on 127.0.0.1 with a temporary `--location` and stops it.
pub(crate) fn azurite(target: &std::path::Path) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("CLOUDMIRROR_AZURITE").map(PathBuf::from) {
        if p.is_file() {
            return Ok(p);
        }
    }
    let target = std::path::absolute(target)
        .map_err(|e| format!("cannot resolve {}: {e}", target.display()))?;
    let prefix = target.join("azurite");
    let program = prefix
        .join("node_modules")
        .join(".bin")
        .join("azurite-blob");
    if works(&program) {
        return Ok(program);
    }
    eprintln!(
        "xtask: installing azurite {AZURITE_VERSION} into {} (the Azure Blob Storage test server)...",
        prefix.display()
    );
    let npm = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
        .arg(&prefix)
        .arg(format!("azurite@{AZURITE_VERSION}"))
        .status()
        .is_ok_and(|s| s.success());
    if npm && works(&program) {
        Ok(program)
    } else {
        Err(format!(
            "`npm install azurite@{AZURITE_VERSION}` failed (install Node.js and npm)"
        ))
    }
}

/// `pigz`, for the end-to-end test that `pigz -d` reads what cloudmirror writes: found on `PATH`,
/// or installed with apt-get (Debian package `pigz`) when missing and we are root. Returns its
/// path, or why it is unavailable.
pub(crate) fn pigz() -> Result<PathBuf, String> {
    let find = || {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("pigz"))
                .find(|p| p.is_file())
        })
    };
    if let Some(p) = find() {
        return Ok(p);
    }
    if !running_as_root() {
        return Err("no pigz on PATH (install the `pigz` package)".into());
    }
    eprintln!("xtask: installing pigz (apt-get install -y pigz) for the end-to-end tests...");
    apt_install("pigz");
    find().ok_or_else(|| "`apt-get install -y pigz` did not put pigz on PATH".to_owned())
}

/// The SFTP server the real-server tests start: OpenSSH's `sshd` (env `CLOUDMIRROR_SSHD`, else
/// `/usr/sbin/sshd`), installed with apt-get (Debian package `openssh-server`, which also brings
/// `ssh-keygen`) when missing and we are root. The tests start their own unprivileged instance on
/// 127.0.0.1 with generated keys; nothing is started here (the package's own service is not
/// started by an install without an init system, and the tests never use it). Returns its path.
pub(crate) fn sshd() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("CLOUDMIRROR_SSHD").map(PathBuf::from) {
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("CLOUDMIRROR_SSHD={} is not a file", p.display()))
        };
    }
    let default = PathBuf::from("/usr/sbin/sshd");
    let ready = |p: &PathBuf| p.is_file() && Path::new("/usr/bin/ssh-keygen").is_file();
    if ready(&default) {
        return Ok(default);
    }
    if !running_as_root() {
        return Err(
            "no /usr/sbin/sshd (install the `openssh-server` package, or set CLOUDMIRROR_SSHD)"
                .into(),
        );
    }
    eprintln!(
        "xtask: installing OpenSSH (apt-get install -y openssh-server) for the SFTP tests..."
    );
    apt_install("openssh-server");
    if ready(&default) {
        Ok(default)
    } else {
        Err(
            "`apt-get install -y openssh-server` did not provide /usr/sbin/sshd and ssh-keygen"
                .into(),
        )
    }
}

/// Whether this process runs as root (only root may install packages with apt-get).
fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `apt-get install -y --no-install-recommends PACKAGE`, refreshing the package lists and trying
/// once more when it fails (a fresh machine may have none yet). The caller checks the result.
fn apt_install(package: &str) {
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install() {
        let _ = Command::new("apt-get").arg("update").status();
        install();
    }
}
