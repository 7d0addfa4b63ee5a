//! `cargo xtask man [--out DIR]`: builds cloudmirror and writes its man page, `cloudmirror.1`
//! (`clap_mangen`, from the same definitions as `--help`), to DIR (default `target/man`).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

pub(crate) fn run(args: &[String]) -> Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask has no parent folder")?
        .to_path_buf();
    let out_dir = match args {
        [] => root.join("target").join("man"),
        [flag, dir] if flag == "--out" => PathBuf::from(dir),
        _ => bail!("usage: cargo xtask man [--out DIR]"),
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(&root)
        .args([
            "run",
            "--quiet",
            "--package",
            "cloudmirror",
            "--bin",
            "cloudmirror",
            "--",
            "man",
        ])
        .output()
        .context("running cargo")?;
    if !output.status.success() {
        bail!(
            "cloudmirror man failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let page = out_dir.join("cloudmirror.1");
    std::fs::write(&page, &output.stdout).with_context(|| format!("writing {}", page.display()))?;
    println!(
        "wrote {} (view with: man {})",
        page.display(),
        page.display()
    );
    Ok(())
}
