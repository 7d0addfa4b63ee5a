//! The bounded-spool scenario (issue 18): a JSON export 8 × the input size, generated on the fly
//! (`--exec` printing the cached export 8 times, so no copy of the whole source is on disk),
//! backed up to local + S3 (when `s3s-fs` runs) + the Dropbox and Supabase fakes, with
//! `spool_limit = "256MiB"` and with `"unlimited"`. Each row notes the peak disk use of the spool
//! folder (sampled every 10 ms) beside the wall time and peak RSS; the 1 × row shows whether RSS
//! stays flat as the source grows.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use super::measure::measure;
use super::report::dest_times;
use super::{local_toml, Bench, Results, MIB};

/// The bounded limit measured.
const LIMIT: &str = "256MiB";

/// Runs the scenario on `json` (the cached export): 1 × and 8 × bounded, 8 × unlimited.
pub(super) fn scenario(bench: &mut Bench, results: &mut Results, json: &Path) -> Result<()> {
    let size = std::fs::metadata(json)?.len();
    for (times, limit) in [(1, LIMIT), (8, LIMIT), (8, "unlimited")] {
        let (run, peak) = backup_generated(bench, json, times, limit)?;
        let label = format!(
            "json×{times} generated ({})",
            super::human_size(size * times)
        );
        let what = format!("spool {limit}: local + s3 + dropbox + supabase");
        let note = format!("peak spool {} MiB; {}", peak / MIB, dest_times(&run));
        results.push(&label, &what, size * times, &run, note);
        bench.clean_s3()?;
    }
    Ok(())
}

/// One backup of `times` × `json` through `--exec`, sampling the spool folder's disk use.
fn backup_generated(
    bench: &Bench,
    json: &Path,
    times: u64,
    limit: &str,
) -> Result<(super::Run, u64)> {
    let local = bench.fresh_dir("local")?;
    let spool = bench.fresh_dir("spool")?;
    let fakes = bench.fakes(None);
    let mut text = format!(
        "[backup]\ncompress = \"gzip\"\nspool_limit = \"{limit}\"\nspool_dir = \"{}\"\n\n{}",
        spool.display(),
        local_toml(&local)
    );
    if bench.s3.is_some() {
        text.push('\n');
        text.push_str(&bench.s3_toml());
    }
    for f in ["dropbox", "supabase"] {
        text.push('\n');
        text.push_str(&fakes.toml(f));
    }
    let cfg = bench.work.join("cloudmirror-spool.toml");
    std::fs::write(&cfg, text)?;
    let generator = format!("for i in $(seq {times}); do cat '{}'; done", json.display());
    let mut cmd = Command::new(&bench.bin);
    cmd.arg("--config")
        .arg(&cfg)
        .arg("--json")
        .arg("backup")
        .args(["--exec", &generator, "--name", "spool.jsonl.gz"])
        .env_remove("CLOUDMIRROR_CONFIG")
        .env_remove("CLOUDMIRROR_LOG");
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        let spool = spool.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(Ordering::SeqCst) {
                peak = peak.max(disk_use(&spool));
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        })
    };
    let before = bench.servers_cpu();
    let run = measure(&mut cmd, None);
    done.store(true, Ordering::SeqCst);
    let peak = sampler.join().unwrap_or(0);
    let mut run = run?;
    run.servers_cpu_secs = bench.servers_cpu() - before;
    drop(fakes);
    Ok((run, peak))
}

/// Disk blocks in use under `dir` (holes excluded).
fn disk_use(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| Some((e.path(), e.metadata().ok()?)))
        .map(|(p, m)| {
            if m.is_dir() {
                disk_use(&p)
            } else {
                m.blocks() * 512
            }
        })
        .sum()
}
