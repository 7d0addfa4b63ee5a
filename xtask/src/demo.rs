//! `cargo xtask demo`: a realistic JSON database export mirrored to a local folder, four faked
//! clouds and, where installed, a real SFTP server (`sshd`), WebDAV server (`wsgidav`) and Azure Blob service (Azurite) in one run, then listed, verified, and restored from each destination, byte for byte.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::targets::Fakes;

pub(crate) fn run(_args: &[String]) -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--quiet", "-p", "cloudmirror"])
        .current_dir(&root)
        .status()?;
    if !status.success() {
        bail!("building cloudmirror failed");
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let bin = target.join("debug").join("cloudmirror");
    let dir = target.join("demo");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let export = dir.join("acme-export.json");
    std::fs::write(&export, generate_export(40, 6000, 2500))?;
    let original = std::fs::read(&export)?;
    println!(
        "demo: generated {} ({} KiB JSON export)",
        export.display(),
        original.len() / 1024
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let fakes = rt.block_on(Fakes::start());
    std::fs::write(
        dir.join("cloudmirror.toml"),
        format!(
            "[backup]\nname = \"acme-{{date}}.json.gz\"\n\n{}",
            fakes.config_toml(&dir)
        ),
    )?;
    // The config holds the fakes' (test) credentials: keep it private like a real one.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.join("cloudmirror.toml"),
            std::fs::Permissions::from_mode(0o600),
        )?;
    }
    let real = real_servers(&fakes);
    println!(
        "demo: fakes of S3, Dropbox, Google Drive and Supabase{real} listen on 127.0.0.1; config in {}\n",
        dir.join("cloudmirror.toml").display()
    );

    let cm = |args: &[&str]| -> Result<String> {
        println!("$ cloudmirror {}", args.join(" "));
        let out = Command::new(&bin)
            .args(args)
            .current_dir(&dir)
            .output()
            .context("running cloudmirror")?;
        print!("{}", String::from_utf8_lossy(&out.stdout));
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        if !out.status.success() {
            bail!("cloudmirror {} exited with {}", args.join(" "), out.status);
        }
        println!();
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    cm(&["backup", "acme-export.json", "--verify"])?;
    let list = cm(&["list"])?;
    let name = list
        .lines()
        .find_map(|l| {
            l.split_whitespace()
                .next()
                .filter(|n| n.starts_with("acme-"))
        })
        .context("the backup is not listed")?
        .to_owned();
    cm(&["verify", "--deep"])?;
    let want = hex::encode(Sha256::digest(&original));
    let mut summary = String::new();
    for (_, dest) in fakes.destinations() {
        let out = format!("restored-from-{dest}.json");
        cm(&["restore", &name, "--from", dest, "-o", &out, "--yes"])?;
        let got = hex::encode(Sha256::digest(std::fs::read(dir.join(&out))?));
        let same = got == want;
        let _ = writeln!(
            summary,
            "  {dest:<9} {}",
            if same { "identical" } else { "DIFFERENT" }
        );
        if !same {
            bail!("the copy restored from {dest} differs from the original");
        }
    }
    println!("demo: restored from every destination, compared with the original (sha256 {}…):\n{summary}", &want[..16]);
    println!(
        "demo: done. Everything is in {} (the fakes stop now).",
        dir.display()
    );
    drop(fakes);
    Ok(())
}

/// A JSON document shaped like a database export of a hosted app: organizations, users, projects.
fn generate_export(orgs: usize, users: usize, projects: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(42);
    let plans = ["free", "team", "business", "enterprise"];
    let first = [
        "Ana", "Björn", "Chloé", "Dmitri", "Eun-ji", "Farid", "Grace", "Hiroshi", "Inès", "José",
    ];
    let last = [
        "Almeida", "Berg", "Castillo", "Dubois", "Eriksen", "Fischer", "García", "Huang",
        "Ivanova", "Jensen",
    ];
    let mut s =
        String::from("{\n  \"exported_at\": \"2026-11-23T02:00:00Z\",\n  \"organizations\": [\n");
    for i in 0..orgs {
        let _ = writeln!(
            s,
            "    {{\"id\": {i}, \"name\": \"Org {i} GmbH\", \"plan\": \"{}\", \"created_at\": \"2024-{:02}-{:02}\"}}{}",
            plans[rng.usize(..plans.len())],
            rng.u8(1..13),
            rng.u8(1..29),
            if i + 1 < orgs { "," } else { "" }
        );
    }
    s.push_str("  ],\n  \"users\": [\n");
    for i in 0..users {
        let (f, l) = (
            first[rng.usize(..first.len())],
            last[rng.usize(..last.len())],
        );
        let _ = writeln!(
            s,
            "    {{\"id\": {i}, \"org_id\": {}, \"name\": \"{f} {l}\", \"email\": \"{}.{}{i}@example.com\", \"active\": {}, \"last_login\": {}}}{}",
            rng.usize(..orgs),
            f.to_lowercase(),
            l.to_lowercase(),
            rng.bool(),
            if rng.u8(..10) == 0 { "null".to_owned() } else { format!("\"2026-11-{:02}T{:02}:{:02}:00Z\"", rng.u8(1..23), rng.u8(..24), rng.u8(..60)) },
            if i + 1 < users { "," } else { "" }
        );
    }
    s.push_str("  ],\n  \"projects\": [\n");
    for i in 0..projects {
        let _ = writeln!(
            s,
            "    {{\"id\": {i}, \"org_id\": {}, \"title\": \"Project {i}\", \"budget_cents\": {}, \"tags\": [\"t{}\", \"t{}\"]}}{}",
            rng.usize(..orgs),
            rng.u32(..10_000_000),
            rng.u8(..20),
            rng.u8(..20),
            if i + 1 < projects { "," } else { "" }
        );
    }
    s.push_str("  ]\n}\n");
    s.into_bytes()
}

/// " and real X, Y" for the real servers the demo runs (printing why the others are skipped).
fn real_servers(fakes: &Fakes) -> String {
    let mut real = Vec::new();
    for (what, server) in [
        ("OpenSSH sshd (SFTP)", fakes.sftp.as_ref().err()),
        ("wsgidav (WebDAV)", fakes.webdav.as_ref().err()),
        ("Azurite (Azure Blob)", fakes.azurite.as_ref().err()),
    ] {
        match server {
            None => real.push(what),
            Some(why) => println!("demo: {what} skipped: {why}"),
        }
    }
    if real.is_empty() {
        String::new()
    } else {
        format!(" and real {}", real.join(", "))
    }
}
