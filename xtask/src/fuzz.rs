//! `cargo xtask fuzz [--seconds N] [TARGET...]`: runs each cargo-fuzz target in `fuzz/` (the config
//! parser, each adapter's response parsing) for a bounded time; any crash fails the task.
//!
//! Only the stable toolchain exists here, so cargo-fuzz's nightly flags (`-Zsanitizer=address`)
//! are enabled with `RUSTC_BOOTSTRAP=1`. cargo-fuzz is installed with `cargo install` if missing.
//! Inputs found are kept in `fuzz/corpus/<target>` (ignored by git); `fuzz/seeds/<target>` holds
//! committed seed inputs; crashes land in `fuzz/artifacts/<target>`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Every target in `fuzz/Cargo.toml`.
const TARGETS: &[&str] = &[
    "config", "gunzip", "dropbox", "gdrive", "supabase", "s3", "azure",
];

pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut seconds: u64 = 30;
    let mut targets: Vec<&str> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .context("--seconds needs a value")?
                    .parse()
                    .context("--seconds must be a whole number")?;
            }
            other => match TARGETS.iter().find(|t| **t == other) {
                Some(t) => targets.push(t),
                None => bail!(
                    "unknown argument {other:?} (targets: {})",
                    TARGETS.join(", ")
                ),
            },
        }
    }
    if targets.is_empty() {
        targets = TARGETS.to_vec();
    }
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask has no parent folder")?
        .join("fuzz");
    ensure_cargo_fuzz()?;
    let mut crashed = Vec::new();
    for target in &targets {
        println!("xtask: fuzzing {target} for {seconds}s");
        let corpus = fuzz_dir.join("corpus").join(target);
        std::fs::create_dir_all(&corpus)
            .with_context(|| format!("creating {}", corpus.display()))?;
        let mut cmd = Command::new("cargo");
        cmd.current_dir(&fuzz_dir)
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "run", "-O", target])
            .arg(&corpus);
        let seeds: PathBuf = fuzz_dir.join("seeds").join(target);
        if seeds.is_dir() {
            cmd.arg(&seeds);
        }
        cmd.arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg("-timeout=10")
            .arg("-rss_limit_mb=2048");
        let status = cmd
            .status()
            .context("running cargo fuzz (is a C++ compiler installed?)")?;
        if !status.success() {
            crashed.push(format!(
                "{target} (see {})",
                fuzz_dir.join("artifacts").join(target).display()
            ));
        }
    }
    if crashed.is_empty() {
        println!(
            "xtask: fuzz: {} target(s) ran {seconds}s each without a crash",
            targets.len()
        );
        Ok(())
    } else {
        bail!("fuzz targets failed: {}", crashed.join(", "))
    }
}

/// Installs cargo-fuzz from crates.io when `cargo fuzz` is not available.
fn ensure_cargo_fuzz() -> Result<()> {
    let present = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    println!("xtask: installing cargo-fuzz");
    let status = Command::new("cargo")
        .args(["install", "cargo-fuzz", "--locked"])
        .status()
        .context("running cargo install cargo-fuzz")?;
    if !status.success() {
        bail!("cargo install cargo-fuzz failed");
    }
    Ok(())
}
