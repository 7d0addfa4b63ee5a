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
        let mut run = measure(
            Command::new("pigz").args(["-6", "-p", "2", "-c"]).arg(path),
            Some(&pigz_gz),
        )?;
        let stored = std::fs::metadata(&pigz_gz).map_or(0, |m| m.len());
        run.stored_bytes = Some(stored);
        results.push(label, "pigz -6 -p 2", size, &run, ratio_note(stored, size));
    }
    if which("libdeflate-gzip") {
        let out = gz.with_extension("libdeflate.gz");
        let mut run = measure(
            Command::new("libdeflate-gzip").args(["-6", "-c"]).arg(path),
            Some(&out),
        )?;
        let stored = std::fs::metadata(&out).map_or(0, |m| m.len());
        run.stored_bytes = Some(stored);
        results.push(
            label,
            "libdeflate-gzip -6 (1 thread)",
            size,
            &run,
            ratio_note(stored, size),
        );
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
        let _ = std::fs::remove_file(&pigz_gz);
    }
    let run = measure(Command::new("sha256sum").arg(path), None)?;
    results.push(label, "sha256sum", size, &run, String::new());
    Ok(())
}

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
    let mut cmd = Command::new("rclone");
    cmd.arg("--config").arg(&conf).arg("copy").arg(gz).arg(&dir);
    let run = measure(&mut cmd, None)?;
    results.push(label, "rclone copy to local", size, &run, String::new());
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(s3) = &bench.s3 {
        let mut cmd = Command::new("rclone");
        cmd.arg("--config")
            .arg(&conf)
            .arg("copy")
            .arg(gz)
            .arg(format!("benchs3:{S3_BUCKET}/rclone"))
            .env("RCLONE_CONFIG_BENCHS3_TYPE", "s3")
            .env("RCLONE_CONFIG_BENCHS3_PROVIDER", "Other")
            .env("RCLONE_CONFIG_BENCHS3_ACCESS_KEY_ID", S3_KEY)
            .env("RCLONE_CONFIG_BENCHS3_SECRET_ACCESS_KEY", S3_SECRET)
            .env(
                "RCLONE_CONFIG_BENCHS3_ENDPOINT",
                format!("http://127.0.0.1:{}", s3.port),
            )
            .env("RCLONE_CONFIG_BENCHS3_REGION", "us-east-1")
            .env("RCLONE_CONFIG_BENCHS3_FORCE_PATH_STYLE", "true")
            .env("RCLONE_CONFIG_BENCHS3_NO_CHECK_BUCKET", "true")
            // rclone 1.60 refuses a custom CA bundle with its own HTTP transport; plain HTTP here.
            .env_remove("AWS_CA_BUNDLE");
        let run = measure(&mut cmd, None)?;
        results.push(label, "rclone copy to s3", size, &run, String::new());
        bench.clean_s3()?;
    }
    Ok(())
}
