//! cloudmirror's scenarios: one local destination, each remote alone, several at once, a slow one.

use anyhow::Result;
use cloudmirror::backup::compress::gzip::libdeflate_level;

use super::baselines::compressor_row;
use super::local_toml;
use super::measure::measure;
use super::measure::which;
use super::measure::Run;
use super::report::dest_times;
use super::report::stored_note;
use super::report::Results;
use super::Bench;
use super::SLOW_RATE;
use std::path::Path;
use std::process::Command;

/// Scenario 1 with gzip and zstd.
pub(super) fn local_scenarios(
    bench: &mut Bench,
    results: &mut Results,
    label: &str,
    path: &Path,
    size: u64,
) -> Result<()> {
    let dir = bench.fresh_dir("local")?;
    // The last one is the pipeline without compression: what hashing, the spool and the local
    // copy cost.
    for (compress, name, what) in [
        ("gzip", "s1.gz", "scenario 1: local"),
        ("zstd", "s1.zst", "scenario 1, zstd -3: local"),
        ("none", "s1.raw", "scenario 1, no compression: local"),
    ] {
        let cfg = bench.config(&[local_toml(&dir)], compress, None)?;
        let run = bench.backup(&cfg, path, name)?;
        let note = if compress == "none" {
            String::new()
        } else {
            stored_note(&run, size)
        };
        results.push(label, what, size, &run, note);
        if compress == "none" {
            let run = restore_local(bench, &cfg, name, size)?;
            results.push(label, RESTORE_PLAIN, size, &run.0, run.1);
        }
        if compress == "gzip" {
            let run = restore_local(bench, &cfg, name, size)?;
            results.push(label, "scenario 1: restore from local", size, &run.0, run.1);
            let run = restore_to_null(bench, &cfg, name)?;
            results.push(label, RESTORE_NULL, size, &run, String::new());
            if let Some(run) = restore_streamed(bench, &cfg, &dir, path, size)? {
                results.push(label, RESTORE_STREAMED, size, &run.0, run.1);
            }
        }
        bench.fresh_dir("local")?;
    }
    Ok(())
}

/// Each remote destination alone, scenario 2 and scenario 4.
pub(super) fn remote_scenarios(
    bench: &mut Bench,
    results: &mut Results,
    label: &str,
    path: &Path,
    size: u64,
) -> Result<()> {
    let dir = bench.fresh_dir("local")?;
    if bench.s3.is_some() && bench.wants("alone") {
        let cfg = bench.config(&[bench.s3_toml()], "gzip", None)?;
        let run = bench.backup(&cfg, path, "alone.gz")?;
        results.push(label, "s3 alone", size, &run, dest_times(&run));
        bench.clean_s3()?;
    }
    let fakes_alone: &[&str] = if bench.wants("alone") {
        &["dropbox", "gdrive", "supabase"]
    } else {
        &[]
    };
    for &which_fake in fakes_alone {
        let fakes = bench.fakes(None);
        let toml = fakes.toml(which_fake);
        let cfg = bench.config(&[toml], "gzip", None)?;
        let run = bench.backup(&cfg, path, "alone.gz")?;
        drop(fakes);
        results.push(
            label,
            &format!("{which_fake} alone (fake)"),
            size,
            &run,
            dest_times(&run),
        );
    }

    // Scenario 2 (local + S3) and scenario 4 (restore from S3).
    if !bench.wants("scenario2") {
        return Ok(());
    }
    if bench.s3.is_some() {
        let cfg = bench.config(&[local_toml(&dir), bench.s3_toml()], "gzip", None)?;
        let run = bench.backup(&cfg, path, "s2.gz")?;
        results.push(
            label,
            "scenario 2: local + s3",
            size,
            &run,
            dest_times(&run),
        );
        let out = bench.work.join("restored");
        let mut cmd = Command::new(&bench.bin);
        cmd.arg("--config")
            .arg(&cfg)
            .args(["restore", "s2.gz", "--from", "s3", "--yes", "-o"])
            .arg(&out);
        let run = measure(&mut cmd, None)?;
        let restored_ok = std::fs::metadata(&out).is_ok_and(|m| m.len() == size);
        results.push(
            label,
            "scenario 4: restore from s3",
            size,
            &run,
            if restored_ok {
                "verified, byte count matches".into()
            } else {
                "OUTPUT SIZE DIFFERS".into()
            },
        );
        let _ = std::fs::remove_file(&out);
        bench.clean_s3()?;
        bench.fresh_dir("local")?;
    } else {
        let skipped = Run::default();
        results.push(
            label,
            "scenario 2: local + s3",
            size,
            &skipped,
            format!("skipped: {}", bench.s3_missing),
        );
    }
    Ok(())
}

/// Scenario 3 (local + S3 + the three fakes); with `throttle`, the Dropbox fake is behind a proxy
/// of that many bytes per second.
pub(super) fn five_destinations(
    bench: &mut Bench,
    results: &mut Results,
    label: &str,
    path: &Path,
    what: &str,
    throttle: Option<u64>,
) -> Result<()> {
    let size = std::fs::metadata(path)?.len();
    let dir = bench.fresh_dir("local")?;
    let fakes = bench.fakes(throttle);
    let mut tables = vec![local_toml(&dir)];
    if bench.s3.is_some() {
        tables.push(bench.s3_toml());
    }
    for f in ["dropbox", "gdrive", "supabase"] {
        tables.push(fakes.toml(f));
    }
    let cfg = bench.config(&tables, "gzip", None)?;
    let run = bench.backup(&cfg, path, "s3.gz")?;
    drop(fakes);
    let mut note = dest_times(&run);
    if bench.s3.is_none() {
        note.push_str(" (no S3: 4 destinations)");
    }
    results.push(label, what, size, &run, note);
    bench.clean_s3()?;
    bench.fresh_dir("local")?;
    Ok(())
}

/// Scenario 3 with the Dropbox fake throttled to 10 MB/s.
pub(super) fn slow_destination(
    bench: &mut Bench,
    results: &mut Results,
    path: &Path,
) -> Result<()> {
    five_destinations(
        bench,
        results,
        "json",
        path,
        "scenario 3, dropbox throttled to 10 MB/s",
        Some(SLOW_RATE),
    )
}

/// `cloudmirror restore NAME --from local` into a file (download, verify SHA-256, decompress,
/// write), with a note saying whether the byte count matches the source.
fn restore_local(bench: &Bench, cfg: &Path, name: &str, size: u64) -> Result<(Run, String)> {
    let out = bench.work.join("restored");
    let mut cmd = Command::new(&bench.bin);
    cmd.arg("--config")
        .arg(cfg)
        .args(["restore", name, "--from", "local", "--yes", "-o"])
        .arg(&out);
    let run = measure(&mut cmd, None)?;
    let note = if std::fs::metadata(&out).is_ok_and(|m| m.len() == size) {
        "verified, byte count matches".to_owned()
    } else {
        "OUTPUT SIZE DIFFERS".to_owned()
    };
    let _ = std::fs::remove_file(&out);
    Ok((run, note))
}

/// The row name of the restore without compression: the same reading, hashing and writing with
/// nothing to decompress, against which the other restores' peak RSS reads as decompression.
pub(super) const RESTORE_PLAIN: &str = "scenario 1, no compression: restore from local";

/// The row name of [`restore_to_null`].
pub(super) const RESTORE_NULL: &str =
    "scenario 1: restore from local to standard output (/dev/null)";

/// `cloudmirror restore NAME --from local -o -` into `/dev/null`: the restore without the cost of
/// writing a file, like for like with `pigz -dc` into `/dev/null`.
fn restore_to_null(bench: &Bench, cfg: &Path, name: &str) -> Result<Run> {
    let mut cmd = Command::new(&bench.bin);
    cmd.arg("--config")
        .arg(cfg)
        .args(["restore", name, "--from", "local", "--yes", "-o", "-"]);
    measure(&mut cmd, Some(Path::new("/dev/null")))
}

/// `[backup] level` 0-9 for gzip on one local destination: what each level costs and stores.
pub(super) fn gzip_levels(
    bench: &mut Bench,
    results: &mut Results,
    label: &str,
    path: &Path,
    size: u64,
) -> Result<()> {
    for level in 0..=9 {
        let dir = bench.fresh_dir("local")?;
        let cfg = bench.config(&[local_toml(&dir)], "gzip", Some(level))?;
        let run = bench.backup(&cfg, path, "level.gz")?;
        let note = format!(
            "{}; libdeflate level {}",
            stored_note(&run, size),
            libdeflate_level(level)
        );
        results.push(
            label,
            &format!("scenario 1, gzip level {level}: local"),
            size,
            &run,
            note,
        );
        // zlib at the same level: on the export each of ours stores no more (`docs/configuration.md`).
        if level > 0 && which("pigz") {
            let arg = format!("-{level}");
            let pigz_out = dir.join("zlib.gz");
            let mut pigz = Command::new("pigz");
            pigz.args([arg.as_str(), "-p", "2", "-c"]).arg(path);
            let what = format!("pigz -{level} -p 2 (zlib level {level})");
            compressor_row(results, label, &what, &mut pigz, &pigz_out, size)?;
            let _ = std::fs::remove_file(&pigz_out);
        }
    }
    bench.fresh_dir("local")?;
    Ok(())
}

/// Issue 24's three destinations: a local folder and two prefixes of the loopback S3 bucket.
pub(super) fn three_destinations(
    bench: &mut Bench,
    results: &mut Results,
    label: &str,
    path: &Path,
    size: u64,
) -> Result<()> {
    if bench.s3.is_none() {
        return Ok(());
    }
    let dir = bench.fresh_dir("local")?;
    let tables = [
        local_toml(&dir),
        bench.s3_toml_as("s3a", "a"),
        bench.s3_toml_as("s3b", "b"),
    ];
    let cfg = bench.config(&tables, "gzip", None)?;
    let run = bench.backup(&cfg, path, "three.gz")?;
    results.push(label, THREE, size, &run, dest_times(&run));
    bench.clean_s3()?;
    bench.fresh_dir("local")?;
    Ok(())
}

/// The row name of [`three_destinations`].
pub(super) const THREE: &str = "3 destinations: local + s3 a + s3 b";

/// The row name of [`restore_streamed`].
pub(super) const RESTORE_STREAMED: &str =
    "scenario 1: restore from local, streaming decoder (pigz file, as before issue 24)";

/// Restore through the streaming decoder, the path every gzip backup took before issue 24 (and
/// foreign gzip still takes): `pigz -6 -p 2`'s output put into `dir` by hand with a manifest.
/// `None` without pigz.
fn restore_streamed(
    bench: &Bench,
    cfg: &Path,
    dir: &Path,
    path: &Path,
    size: u64,
) -> Result<Option<(Run, String)>> {
    use sha2::Digest as _;
    if !super::measure::which("pigz") {
        return Ok(None);
    }
    let name = "streamed.gz";
    let stored = dir.join(name);
    measure(
        Command::new("pigz").args(["-6", "-p", "2", "-c"]).arg(path),
        Some(&stored),
    )?;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut std::fs::File::open(&stored)?, &mut hasher)?;
    let manifest = serde_json::json!({
        "format": 1,
        "name": name,
        "stored_size": std::fs::metadata(&stored)?.len(),
        "original_size": size,
        "sha256": hex::encode(hasher.finalize()),
        "compression": "gzip",
        "created_at": "2026-01-01T00:00:00Z",
        "tool_version": "bench",
        "source": "bench",
    });
    std::fs::write(
        dir.join(format!("{name}.manifest.json")),
        manifest.to_string(),
    )?;
    restore_local(bench, cfg, name, size).map(Some)
}
