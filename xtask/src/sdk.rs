//! `cargo xtask sdk [PROVIDER...]`: the providers' official SDKs against our fakes.
//!
//! Our fakes must follow the official references, not our adapters. The official SDKs are real
//! clients nobody here wrote, with strict generated deserializers, so each script in `xtask/sdk/`
//! drives one SDK through the operations our adapter uses against the fake started here: a fake
//! that refuses what the SDK sends, or answers what it cannot parse, fails the task.
//!
//! The SDKs live in a virtual environment under `target/sdk-venv`, made with `python3 -m venv`
//! and `pip install -r xtask/sdk/requirements.txt` when missing or when the requirements change.
//! Each script gets its fake's address and credentials in `FAKE_<PROVIDER>_*` variables.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::targets::Fakes;

/// The providers that have an SDK script, in run order.
pub(crate) const SDK_PROVIDERS: &[&str] = &["dropbox", "gdrive", "s3", "supabase"];

pub(crate) fn run(args: &[String]) -> Result<()> {
    let python = prepare()?;
    run_with(&python, args)
}

/// The virtual environment's python with the SDKs installed (made when missing).
pub(crate) fn prepare() -> Result<PathBuf> {
    venv(&workspace_root())
}

/// Runs the chosen providers' scripts (all when `args` is empty) with `python`.
pub(crate) fn run_with(python: &Path, args: &[String]) -> Result<()> {
    let root = workspace_root();
    let chosen: Vec<&str> = if args.is_empty() {
        SDK_PROVIDERS.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    if let Some(bad) = chosen.iter().find(|p| !SDK_PROVIDERS.contains(p)) {
        bail!(
            "unknown provider {bad:?} (one of {})",
            SDK_PROVIDERS.join(", ")
        );
    }
    let scratch = tempfile::tempdir()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let fakes = rt.block_on(Fakes::start());
    let mut failed = Vec::new();
    for provider in chosen {
        let script = root.join("xtask/sdk").join(format!("{provider}_client.py"));
        if !script.is_file() {
            bail!("{} is missing", script.display());
        }
        println!("xtask sdk: {provider}: {}", script.display());
        let env = client_env(&fakes, provider, scratch.path())?;
        // The fakes answer on this process's runtime while the script runs.
        let python = python.to_path_buf();
        let status = rt.block_on(async {
            tokio::task::spawn_blocking(move || {
                Command::new(&python).arg(&script).envs(env).status()
            })
            .await
        })??;
        if !status.success() {
            failed.push(format!("{provider} ({status})"));
        }
    }
    drop(fakes);
    if failed.is_empty() {
        println!("xtask sdk: every official client worked against its fake");
        Ok(())
    } else {
        bail!(
            "official clients failed against the fakes: {}",
            failed.join(", ")
        )
    }
}

/// The address and credentials of `provider`'s fake, as the script reads them.
fn client_env(fakes: &Fakes, provider: &str, scratch: &Path) -> Result<Vec<(String, String)>> {
    let kv = |k: &str, v: String| (k.to_owned(), v);
    Ok(match provider {
        "dropbox" => vec![
            kv("FAKE_DROPBOX_URL", fakes.dropbox.uri()),
            kv("FAKE_DROPBOX_TOKEN_URL", fakes.dropbox.token_url()),
            kv(
                "FAKE_DROPBOX_APP_KEY",
                cloudmirror_fakes::dropbox::APP_KEY.into(),
            ),
            kv(
                "FAKE_DROPBOX_APP_SECRET",
                cloudmirror_fakes::dropbox::APP_SECRET.into(),
            ),
            kv(
                "FAKE_DROPBOX_REFRESH_TOKEN",
                cloudmirror_fakes::dropbox::REFRESH_TOKEN.into(),
            ),
            kv(
                "FAKE_DROPBOX_FOLDER",
                cloudmirror_fakes::dropbox::FOLDER.into(),
            ),
        ],
        "gdrive" => {
            let key = scratch.join("service-account.json");
            std::fs::write(&key, fakes.gdrive.service_account_json())
                .with_context(|| format!("writing {}", key.display()))?;
            vec![
                kv("FAKE_GDRIVE_URL", fakes.gdrive.uri()),
                kv("FAKE_GDRIVE_TOKEN_URL", fakes.gdrive.token_uri()),
                kv("FAKE_GDRIVE_FOLDER_ID", fakes.gdrive.folder_id()),
                kv(
                    "FAKE_GDRIVE_SHARED_DRIVE_ID",
                    fakes.gdrive.shared_drive_id().unwrap_or_default(),
                ),
                kv(
                    "FAKE_GDRIVE_SERVICE_ACCOUNT_JSON",
                    key.display().to_string(),
                ),
            ]
        }
        "s3" => {
            let o = fakes.s3.options();
            vec![
                kv("FAKE_S3_URL", fakes.s3.uri()),
                kv("FAKE_S3_BUCKET", o.bucket.clone()),
                kv("FAKE_S3_REGION", o.region.clone()),
                kv("FAKE_S3_ACCESS_KEY_ID", o.access_key_id.clone()),
                kv("FAKE_S3_SECRET_ACCESS_KEY", o.secret_access_key.clone()),
            ]
        }
        "supabase" => vec![
            kv("FAKE_SUPABASE_URL", fakes.supabase.uri()),
            kv(
                "FAKE_SUPABASE_SERVICE_ROLE_KEY",
                fakes.supabase.service_role_key(),
            ),
            kv("FAKE_SUPABASE_BUCKET", "backups".into()),
        ],
        other => bail!("no fake for {other:?}"),
    })
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The venv's python, made (or remade when the requirements changed) under `target/sdk-venv`.
fn venv(root: &Path) -> Result<PathBuf> {
    let requirements = root.join("xtask/sdk/requirements.txt");
    let wanted = hex::encode(Sha256::digest(
        std::fs::read(&requirements)
            .with_context(|| format!("reading {}", requirements.display()))?,
    ));
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("sdk-venv");
    let python = dir.join("bin/python");
    let stamp = dir.join("requirements.sha256");
    if python.is_file() && std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == wanted) {
        return Ok(python);
    }
    println!(
        "xtask sdk: installing the official SDKs into {}",
        dir.display()
    );
    let _ = std::fs::remove_dir_all(&dir);
    run_checked(
        Command::new("python3").args(["-m", "venv"]).arg(&dir),
        "python3 -m venv",
    )?;
    run_checked(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements),
        "pip install -r xtask/sdk/requirements.txt",
    )?;
    std::fs::write(&stamp, &wanted)?;
    Ok(python)
}

fn run_checked(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd.status().with_context(|| format!("cannot run {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}
