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

    let (env, mut skipped) = provision_services()?;
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

/// Environment variables that point the tests at the provisioned servers.
type TestEnv = Vec<(String, String)>;

/// Provisions every server the tests need; returns the environment that points the tests at them
/// and what is skipped (only outside CI: under `CI=true` a missing server is an error).
fn provision_services() -> Result<(TestEnv, Vec<String>)> {
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

    match provision::sshd() {
        Ok(path) => {
            println!("xtask: sshd: {}", path.display());
            env.push(("CLOUDMIRROR_SSHD".into(), path.display().to_string()));
        }
        Err(why) if provision::under_ci() => {
            bail!("CI=true and the SFTP test server is unavailable: {why}")
        }
        Err(why) => skipped.push(format!(
            "SFTP real-server tests (crates/cloudmirror-sftp/tests/real_server.rs): {why}"
        )),
    }

    match provision::azurite(&target) {
        Ok(path) => {
            println!("xtask: azurite: {}", path.display());
            env.push(("CLOUDMIRROR_AZURITE".into(), path.display().to_string()));
        }
        Err(why) if provision::under_ci() => {
            bail!("CI=true and the Azure test server (Azurite) is unavailable: {why}")
        }
        Err(why) => skipped.push(format!(
            "Azure real-server tests (crates/cloudmirror-azure/tests/real_server.rs): {why}"
        )),
    }

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

    // The TLS test serves a self-signed certificate with `openssl s_server`; without the command
    // it says it is skipped (and fails under CI=true).
    let openssl = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !openssl {
        if provision::under_ci() {
            bail!("CI=true and `openssl` is missing (tests/it/secrets.rs serves a self-signed certificate with it)");
        }
        skipped.push(
            "TLS verification test (tests/it/secrets.rs, tls_certificates_are_verified_even_on_loopback): openssl is not installed".into(),
        );
    }

    Ok((env, skipped))
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

#[cfg(test)]
mod tests {
    /// The workflow's steps, each as its lines (a step starts at a `- ` item of a job's `steps`).
    fn steps(workflow: &str) -> Vec<Vec<&str>> {
        let mut out: Vec<Vec<&str>> = Vec::new();
        let mut in_steps = false;
        for line in workflow.lines() {
            let indent = line.len() - line.trim_start().len();
            if line.trim_start() == "steps:" {
                in_steps = true;
                out.push(Vec::new());
                continue;
            }
            if !in_steps || line.trim().is_empty() {
                continue;
            }
            if indent <= 4 {
                in_steps = false;
                continue;
            }
            if indent == 6 && line.trim_start().starts_with("- ") {
                out.push(Vec::new());
            }
            if let Some(step) = out.last_mut() {
                step.push(line);
            }
        }
        out.retain(|s| !s.is_empty());
        out
    }

    /// A step that pipes a command into another (`cargo xtask contract | tee ...`) takes the last
    /// command's exit status unless the shell runs with `pipefail`: GitHub's default `bash -e {0}`
    /// does not; `shell: bash` is run as `bash --noprofile --norc -eo pipefail {0}`.
    #[test]
    fn workflow_steps_that_pipe_fail_when_the_first_command_fails() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../.github/workflows/ci.yml");
        let workflow = std::fs::read_to_string(path).expect("reading ci.yml");
        let all = steps(&workflow);
        assert!(all.len() >= 6, "steps found: {all:?}");
        let mut piped = 0;
        for step in &all {
            let run_at = step.iter().position(|l| l.trim_start().starts_with("run:"));
            let Some(run_at) = run_at else { continue };
            let script: Vec<&str> = step[run_at..]
                .iter()
                .map(|l| l.trim_start().trim_start_matches("run:").trim())
                .filter(|l| *l != "|" && !l.starts_with('#'))
                .collect();
            if !script.iter().any(|l| l.contains(" | ")) {
                continue;
            }
            piped += 1;
            let shell_bash = step.iter().any(|l| l.trim() == "shell: bash");
            let pipefail = script.iter().any(|l| l.contains("set -o pipefail"));
            assert!(
                shell_bash || pipefail,
                "this step pipes without pipefail, so it passes whatever the first command does:\n{}",
                step.join("\n")
            );
        }
        assert!(piped >= 2, "the contract steps pipe into tee: {all:?}");
    }
}
