//! `cargo xtask ci`: what CI runs, and what the README's test command is.
//!
//! fmt check, clippy with `-D warnings`, provisioning of test services, then every test (the
//! ignored 1 GiB memory test included) and the providers' official SDKs against the fakes. Under `CI=true` a service that cannot be provisioned is a
//! failure; elsewhere the tests that need it are listed as skipped.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{provision, sdk};

pub(crate) fn run(args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    step("cargo fmt --check", &["fmt", "--all", "--", "--check"], &[])?;
    step(
        "cargo clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;

    let mut env: Vec<(String, String)> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    match provision::s3s_fs() {
        Ok(path) => {
            println!("xtask: s3s-fs: {}", path.display());
            env.push(("CLOUDMIRROR_S3S_FS".into(), path.display().to_string()));
        }
        Err(why) if provision::under_ci() => {
            bail!("CI=true and the S3 test server is unavailable: {why}")
        }
        Err(why) => skipped.push(format!(
            "S3 real-server tests (crates/cloudmirror-s3/tests/real_server.rs): {why}"
        )),
    }

    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || std::path::PathBuf::from("target"),
        std::path::PathBuf::from,
    );
    match provision::wsgidav(&target) {
        Ok(path) => {
            println!("xtask: wsgidav: {}", path.display());
            env.push(("CLOUDMIRROR_WSGIDAV".into(), path.display().to_string()));
        }
        Err(why) if provision::under_ci() => {
            bail!("CI=true and the WebDAV test server is unavailable: {why}")
        }
        Err(why) => skipped.push(format!(
            "WebDAV real-server tests (crates/cloudmirror-webdav/tests/real_server.rs): {why}"
        )),
    }

    tools(&mut env, &mut skipped)?;

    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    step(
        "cargo test",
        &["test", "--workspace", "--all-targets", "--no-fail-fast"],
        &env_refs,
    )?;
    step("doc tests", &["test", "--workspace", "--doc"], &env_refs)?;
    // The providers' official SDKs against the fakes: a fake that refuses what a real client
    // sends, or answers what it cannot parse, fails CI.
    println!("xtask ci: official SDKs against the fakes (cargo xtask sdk)");
    match sdk::prepare() {
        Ok(python) => sdk::run_with(&python, &[])?,
        Err(why) if provision::under_ci() => {
            bail!("CI=true and the official SDKs cannot be installed: {why:#}")
        }
        Err(why) => skipped.push(format!(
            "official SDKs against the fakes (xtask/sdk): {why:#}"
        )),
    }
    if quick {
        skipped.push("the 1 GiB flat-memory test (--quick)".into());
    } else {
        step(
            "1 GiB flat-memory test",
            &[
                "test",
                "-p",
                "cloudmirror",
                "--test",
                "it",
                "--",
                "--ignored",
                "--nocapture",
            ],
            &env_refs,
        )?;
    }
    if skipped.is_empty() {
        println!("xtask ci: all checks passed, nothing skipped");
    } else {
        println!("xtask ci: all checks passed; SKIPPED:");
        for s in &skipped {
            println!("  - {s}");
        }
    }
    Ok(())
}

fn step(what: &str, args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    println!("xtask ci: {what}");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(args)
        .envs(env.iter().copied())
        .status()
        .with_context(|| format!("cannot run {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Provisions the `PostgreSQL` server (`CLOUDMIRROR_PG_BIN`) and `pigz` (`CLOUDMIRROR_PIGZ`) for the
/// end-to-end tests; either missing is a failure under `CI=true`.
fn tools(env: &mut Vec<(String, String)>, skipped: &mut Vec<String>) -> Result<()> {
    match provision::postgres() {
        Ok(bin) => {
            println!("xtask: PostgreSQL: {}", bin.display());
            env.push(("CLOUDMIRROR_PG_BIN".into(), bin.display().to_string()));
        }
        Err(why) if provision::under_ci() => {
            bail!("CI=true and PostgreSQL is unavailable: {why}")
        }
        Err(why) => skipped.push(format!(
            "PostgreSQL end-to-end tests (tests/it/postgres.rs): {why}"
        )),
    }

    match provision::pigz() {
        Ok(path) => {
            println!("xtask: pigz: {}", path.display());
            env.push(("CLOUDMIRROR_PIGZ".into(), path.display().to_string()));
        }
        Err(why) if provision::under_ci() => bail!("CI=true and pigz is unavailable: {why}"),
        Err(why) => skipped.push(format!(
            "pigz compatibility test (tests/it/compression.rs): {why}"
        )),
    }
    Ok(())
}
