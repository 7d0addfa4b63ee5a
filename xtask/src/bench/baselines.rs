//! The baselines: what gzip, pigz, libdeflate and sha256sum take alone, and rclone's naive mirror.

use anyhow::Result;

use super::measure::measure;
use super::measure::which;
use super::measure::Run;
use super::report::ratio_note;
use super::report::Results;
use super::Bench;
use super::S3_BUCKET;
use super::S3_KEY;
use super::S3_SECRET;
use std::path::Path;
use std::process::Command;

/// The compression and hashing limits of this machine; leaves `gzip -6`'s output in `gz` for the
/// rclone baseline.
pub(super) fn baselines(
    results: &mut Results,
    label: &str,
    path: &Path,
    gz: &Path,
    size: u64,
) -> Result<()> {
    let mut run = measure(Command::new("gzip").args(["-6", "-c"]).arg(path), Some(gz))?;
    let gz_size = std::fs::metadata(gz).map_or(0, |m| m.len());
    run.stored_bytes = Some(gz_size);
    results.push(
        label,
        "gzip -6 -c (1 thread)",
        size,
        &run,
        ratio_note(gz_size, size),
    );
    let pigz_gz = gz.with_extension("pigz.gz");
    if which("pigz") {
        let mut pigz = Command::new("pigz");
        pigz.args(["-6", "-p", "2", "-c"]).arg(path);
        compressor_row(results, label, "pigz -6 -p 2", &mut pigz, &pigz_gz, size)?;
    }
    if which("libdeflate-gzip") {
        let out = gz.with_extension("libdeflate.gz");
        let mut libdeflate = Command::new("libdeflate-gzip");
        libdeflate.args(["-6", "-c"]).arg(path);
        compressor_row(
            results,
            label,
            "libdeflate-gzip -6 (1 thread)",
            &mut libdeflate,
            &out,
            size,
        )?;
        let _ = std::fs::remove_file(&out);
    }
    // Decompression alone, of pigz's output (one member), written to /dev/null.
    if pigz_gz.exists() {
        let null = Path::new("/dev/null");
        for (tool, args, what) in [
            ("gzip", &["-dc"][..], "gunzip (gzip -dc) of the pigz output"),
            ("pigz", &["-dc"][..], "pigz -dc of the pigz output"),
            (
                "libdeflate-gunzip",
                &["-c"][..],
                "libdeflate-gunzip -c of the pigz output",
            ),
        ] {
            if which(tool) {
                let run = measure(Command::new(tool).args(args).arg(&pigz_gz), Some(null))?;
                results.push(label, what, size, &run, String::new());
            }
        }
        // The same into a file, as a restore writes one (through the page cache, no sync).
        if which("pigz") {
            let file = gz.with_extension("pigz-out");
            let run = measure(Command::new("pigz").arg("-dc").arg(&pigz_gz), Some(&file))?;
            results.push(label, PIGZ_DC_FILE, size, &run, String::new());
            let _ = std::fs::remove_file(&file);
        }
        let _ = std::fs::remove_file(&pigz_gz);
    }
    let run = measure(Command::new("sha256sum").arg(path), None)?;
    results.push(label, "sha256sum", size, &run, String::new());
    Ok(())
}

/// Runs a compressor `cmd` with its output into `out` and adds its row `what` (its stored size
/// in the note, relative to the `size`-byte source).
pub(super) fn compressor_row(
    results: &mut Results,
    label: &str,
    what: &str,
    cmd: &mut Command,
    out: &Path,
    size: u64,
) -> Result<()> {
    let mut run = measure(cmd, Some(out))?;
    let stored = std::fs::metadata(out).map_or(0, |m| m.len());
    run.stored_bytes = Some(stored);
    results.push(label, what, size, &run, ratio_note(stored, size));
    Ok(())
}

/// The row name of `pigz -dc` writing into a file.
pub(super) const PIGZ_DC_FILE: &str = "pigz -dc of the pigz output, into a file";

/// The naive mirror: gzip once (measured above as the gzip baseline), then `rclone copy` to each
/// destination rclone can reach here, one after the other.
pub(super) fn rclone_baseline(
    bench: &mut Bench,
    results: &mut Results,
    label: &str,
    gz: &Path,
    size: u64,
) -> Result<()> {
    if !which("rclone") {
        results.push(
            label,
            "rclone: copy to local",
            size,
            &Run::default(),
            "skipped: rclone not installed".into(),
        );
        return Ok(());
    }
    let conf = bench.work.join("rclone.conf");
    std::fs::write(&conf, "")?;
    let dir = bench.fresh_dir("rclone-local")?;
    let run = measure(&mut rclone_to_local(&conf, gz, &dir), None)?;
    results.push(label, "rclone copy to local", size, &run, String::new());
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(port) = bench.s3.as_ref().map(|s3| s3.port) {
        let mut cmd = rclone_to_s3(&conf, gz, "rclone", &format!("http://127.0.0.1:{port}"));
        let run = measure(&mut cmd, None)?;
        results.push(label, "rclone copy to s3", size, &run, String::new());
        bench.clean_s3()?;
    }
    Ok(())
}

/// `rclone copy gz` to `folder` in the bench bucket on the S3 server at `endpoint`
/// (`http://127.0.0.1:PORT`; an S3 remote configured by environment variables).
pub(super) fn rclone_to_s3(conf: &Path, gz: &Path, folder: &str, endpoint: &str) -> Command {
    let mut cmd = Command::new("rclone");
    cmd.arg("--config")
        .arg(conf)
        .arg("copy")
        .arg(gz)
        .arg(format!("benchs3:{S3_BUCKET}/{folder}"))
        .env("RCLONE_CONFIG_BENCHS3_TYPE", "s3")
        .env("RCLONE_CONFIG_BENCHS3_PROVIDER", "Other")
        .env("RCLONE_CONFIG_BENCHS3_ACCESS_KEY_ID", S3_KEY)
        .env("RCLONE_CONFIG_BENCHS3_SECRET_ACCESS_KEY", S3_SECRET)
        .env("RCLONE_CONFIG_BENCHS3_ENDPOINT", endpoint)
        .env("RCLONE_CONFIG_BENCHS3_REGION", "us-east-1")
        .env("RCLONE_CONFIG_BENCHS3_FORCE_PATH_STYLE", "true")
        .env("RCLONE_CONFIG_BENCHS3_NO_CHECK_BUCKET", "true")
        // rclone 1.60 refuses a custom CA bundle with its own HTTP transport; plain HTTP here.
        .env_remove("AWS_CA_BUNDLE");
    cmd
}

/// Issue 24's naive mirror to three destinations: `pigz -6 -p 2` to a file, `sha256sum` of it,
/// then `rclone copy` to a local folder and to two folders of the S3 bucket, one after another.
/// One row with the sum of the five commands' wall times.
pub(super) fn naive_three(
    bench: &mut Bench,
    results: &mut Results,
    label: &str,
    path: &Path,
    size: u64,
) -> Result<()> {
    let Some(port) = bench.s3.as_ref().map(|s3| s3.port) else {
        return Ok(());
    };
    if !which("pigz") || !which("rclone") {
        results.push(
            label,
            NAIVE_THREE,
            size,
            &Run::default(),
            "skipped: pigz or rclone not installed".into(),
        );
        return Ok(());
    }
    let gz = bench.work.join("naive.gz");
    let conf = bench.work.join("rclone.conf");
    std::fs::write(&conf, "")?;
    let dir = bench.fresh_dir("rclone-local")?;
    let mut steps = vec![measure(
        Command::new("pigz").args(["-6", "-p", "2", "-c"]).arg(path),
        Some(&gz),
    )?];
    steps.push(measure(Command::new("sha256sum").arg(&gz), None)?);
    steps.push(measure(&mut rclone_to_local(&conf, &gz, &dir), None)?);
    for folder in ["naive-a", "naive-b"] {
        steps.push(measure(
            &mut rclone_to_s3(&conf, &gz, folder, &format!("http://127.0.0.1:{port}")),
            None,
        )?);
    }
    let (total, parts) = in_turn(&steps);
    results.push(
        label,
        NAIVE_THREE,
        size,
        &total,
        format!("pigz, sha256sum, rclone local, s3 a, s3 b: {parts} s"),
    );
    let _ = std::fs::remove_file(&gz);
    let _ = std::fs::remove_dir_all(&dir);
    bench.clean_s3()
}

/// The row name of [`naive_three`].
pub(super) const NAIVE_THREE: &str = "naive mirror: pigz + sha256sum + rclone to local, s3 a, s3 b";

/// `rclone copy gz dir` (a local folder).
pub(super) fn rclone_to_local(conf: &Path, gz: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new("rclone");
    cmd.arg("--config").arg(conf).arg("copy").arg(gz).arg(dir);
    cmd
}

/// Commands run one after another as one: wall and CPU times summed, the largest peak RSS, ok
/// when every one was; with each one's wall time (`8.1 + 0.6 + ...`) for the note.
pub(super) fn in_turn(steps: &[Run]) -> (Run, String) {
    let total = Run {
        secs: steps.iter().map(|r| r.secs).sum(),
        cpu_secs: steps.iter().map(|r| r.cpu_secs).sum(),
        rss_kib: steps.iter().map(|r| r.rss_kib).max().unwrap_or(0),
        ok: steps.iter().all(|r| r.ok),
        ..Run::default()
    };
    let parts: Vec<String> = steps.iter().map(|r| format!("{:.1}", r.secs)).collect();
    (total, parts.join(" + "))
}
