//! `cargo xtask bench`: builds the release binary and measures backups and restores against the
//! baselines of issue 10 (gzip / pigz / sha256sum alone, rclone's naive mirror), on loopback only.
//!
//! Inputs (cached under `target/bench-data`): a JSON-lines database export (compressible like a
//! real dump) and an incompressible file, 1 GiB each (64 MiB with `--quick`). Destinations: a local
//! folder, a real `s3s-fs` on 127.0.0.1 (installed like `cargo xtask ci` does), and the Dropbox,
//! Drive and Supabase fakes from `cloudmirror-fakes`, run in this process (their memory is ours,
//! not cloudmirror's). The slow-destination scenario puts a 10 MB/s throttling TCP proxy in front
//! of the Dropbox fake. Wall time, MB/s of source and peak RSS (`VmHWM`) of each command are
//! printed as a Markdown table; a full run writes it into `docs/benchmarks.md` between markers.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use cloudmirror_fakes::dropbox::FakeDropbox;
use cloudmirror_fakes::gdrive::FakeGdrive;
use cloudmirror_fakes::supabase::{FakeSupabase, FakeSupabaseOptions};

use crate::provision;

mod spool;

const MIB: u64 = 1024 * 1024;
const S3_BUCKET: &str = "bench";
const S3_KEY: &str = "bench-access-key";
const S3_SECRET: &str = "bench-secret-key";
/// Upload rate of the throttled destination in the slow-destination scenario.
const SLOW_RATE: u64 = 10_000_000;
const DOC_BEGIN: &str =
    "<!-- bench:begin (written by `cargo xtask bench`; edit outside the markers) -->";
const DOC_END: &str = "<!-- bench:end -->";

/// One measured command.
#[derive(Debug, Clone, Default)]
struct Run {
    secs: f64,
    /// User + system CPU seconds (last sample before exit, so a few ms short at most).
    cpu_secs: f64,
    rss_kib: u64,
    /// CPU seconds the test servers (the in-process fakes and s3s-fs) used meanwhile.
    servers_cpu_secs: f64,
    ok: bool,
    /// The command's stdout (cloudmirror's `--json` report).
    stdout: String,
    /// The end of its stderr, for failures.
    stderr_tail: String,
}

/// A row of the results table.
#[derive(Debug, Clone)]
struct Row {
    input: String,
    what: String,
    source_bytes: u64,
    run: Run,
    note: String,
}

/// Everything measured, for the target checks.
#[derive(Debug, Default)]
struct Results {
    rows: Vec<Row>,
}

impl Results {
    fn push(&mut self, input: &str, what: &str, source_bytes: u64, run: &Run, note: String) {
        let row = Row {
            input: input.to_owned(),
            what: what.to_owned(),
            source_bytes,
            run: run.clone(),
            note,
        };
        println!("{}", row_md(&row));
        self.rows.push(row);
    }

    fn get(&self, input: &str, what: &str) -> Option<&Run> {
        self.rows
            .iter()
            .find(|r| r.input == input && r.what == what && r.run.ok)
            .map(|r| &r.run)
    }
}

/// The machinery a scenario needs: paths, the binary, the runtime for the fakes, s3s-fs.
struct Bench {
    bin: PathBuf,
    work: PathBuf,
    rt: tokio::runtime::Runtime,
    s3: Option<S3sFs>,
    s3_missing: String,
    /// Scenario groups to run (`--only`); empty: all.
    only: Vec<String>,
}

/// A running `s3s-fs`; killed on drop.
struct S3sFs {
    child: Child,
    port: u16,
    root: PathBuf,
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The in-process fakes of one scenario; they stop when dropped.
struct Fakes {
    dropbox: FakeDropbox,
    gdrive: FakeGdrive,
    supabase: FakeSupabase,
    proxy: Option<tokio::task::JoinHandle<()>>,
    proxy_uri: Option<String>,
}

impl Drop for Fakes {
    fn drop(&mut self) {
        if let Some(p) = self.proxy.take() {
            p.abort();
        }
    }
}

/// Scenario groups `--only` accepts.
const GROUPS: &[&str] = &[
    "baselines",
    "spool",
    "local",
    "alone",
    "scenario2",
    "scenario3",
    "rclone",
    "throttled",
    "x4",
];

/// The values of every `--flag VALUE` / `--flag=VALUE` in `args`, split at commas.
fn flag_values(args: &[String], flag: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = if a == flag {
            it.next().cloned()
        } else {
            a.strip_prefix(flag)
                .and_then(|v| v.strip_prefix('='))
                .map(str::to_owned)
        };
        if let Some(v) = value {
            out.extend(v.split(',').map(|s| s.trim().to_owned()));
        }
    }
    out
}

/// Runs `xtask bench` again as a release build: the fakes run in this process, and unoptimised
/// they would burn several times the CPU they need, taken from the backups being measured.
fn rerun_as_release(root: &Path, args: &[String]) -> Result<()> {
    println!("xtask bench: re-running as a release build (the fakes run in this process)");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(["run", "--quiet", "--release", "-p", "xtask", "--", "bench"])
        .args(args)
        .current_dir(root)
        .status()
        .context("cannot run cargo run --release")?;
    if !status.success() {
        bail!("the release build of xtask bench failed ({status})");
    }
    Ok(())
}

/// What `cargo xtask bench` was asked for.
struct Options {
    quick: bool,
    /// Scenario groups (`--only`); empty: all.
    only: Vec<String>,
    /// Inputs (`--input`); empty: both.
    inputs: Vec<String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let only = flag_values(args, "--only");
        if let Some(bad) = only.iter().find(|g| !GROUPS.contains(&g.as_str())) {
            bail!(
                "--only {bad}: not a scenario group; use any of {}",
                GROUPS.join(", ")
            );
        }
        let inputs = flag_values(args, "--input");
        if let Some(bad) = inputs.iter().find(|i| *i != "json" && *i != "random") {
            bail!("--input {bad}: use json or random");
        }
        Ok(Self {
            quick: args.iter().any(|a| a == "--quick"),
            only,
            inputs,
        })
    }

    /// A partial run never overwrites the recorded results.
    fn partial(&self) -> bool {
        !self.only.is_empty() || !self.inputs.is_empty()
    }
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let opts = Options::parse(args)?;
    let quick = opts.quick;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask has no parent folder")?
        .to_path_buf();
    if cfg!(debug_assertions) {
        return rerun_as_release(&root, args);
    }
    let size_mib: u64 = if quick { 64 } else { 1024 };
    let started = Instant::now();

    println!("xtask bench: building the release binary");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(["build", "--release", "-p", "cloudmirror"])
        .current_dir(&root)
        .status()
        .context("cannot run cargo build")?;
    if !status.success() {
        bail!("cargo build --release failed ({status})");
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let bin = target.join("release").join("cloudmirror");
    let data = target.join("bench-data");
    std::fs::create_dir_all(&data)?;
    let work = data.join(format!("run-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;

    ensure_tools();
    let json = data.join(format!("export-{size_mib}MiB.jsonl"));
    let random = data.join(format!("random-{size_mib}MiB.bin"));
    generate_json(&json, size_mib * MIB)?;
    generate_random(&random, size_mib * MIB)?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (s3, s3_missing) = match start_s3s_fs(&work) {
        Ok(s) => (Some(s), String::new()),
        Err(e) => (None, format!("{e:#}")),
    };
    if !s3_missing.is_empty() {
        println!("xtask bench: no S3 server, S3 scenarios skipped: {s3_missing}");
    }
    let mut bench = Bench {
        bin,
        work: work.clone(),
        rt,
        s3,
        s3_missing,
        only: opts.only.clone(),
    };
    let mut results = Results::default();
    println!("\n{}", table_header());
    let outcome = (|| -> Result<()> {
        for (label, path) in [("json", &json), ("random", &random)] {
            if opts.inputs.is_empty() || opts.inputs.iter().any(|i| i == label) {
                run_input(&mut bench, &mut results, label, path)?;
            }
        }
        if bench.wants("throttled") {
            slow_destination(&mut bench, &mut results, &json)?;
        }
        if bench.wants("spool") {
            spool::scenario(&mut bench, &mut results, &json)?;
        }
        if !bench.wants("x4") {
            return Ok(());
        }
        let big_mib = size_mib * 4;
        let big = data.join(format!("export-{big_mib}MiB.jsonl"));
        generate_json(&big, big_mib * MIB)?;
        let label = format!("json×4 ({})", human_size(big_mib * MIB));
        five_destinations(
            &mut bench,
            &mut results,
            &label,
            &big,
            "scenario 3: 5 destinations",
            None,
        )?;
        Ok(())
    })();
    drop(bench.s3.take());
    let _ = std::fs::remove_dir_all(&work);
    outcome?;

    let report = report(&results, size_mib, quick, started.elapsed());
    println!("\n{report}");
    let out = if quick || opts.partial() {
        data.join("quick.md")
    } else {
        root.join("docs").join("benchmarks.md")
    };
    write_between_markers(&out, &report)?;
    println!("xtask bench: written to {}", out.display());
    Ok(())
}

/// Every scenario on one input.
fn run_input(bench: &mut Bench, results: &mut Results, label: &str, path: &Path) -> Result<()> {
    let size = std::fs::metadata(path)?.len();
    let gz = bench.work.join("baseline.gz");
    if bench.wants("baselines") || bench.wants("rclone") {
        baselines(results, label, path, &gz, size)?;
    }
    if bench.wants("local") {
        local_scenarios(bench, results, label, path, size)?;
    }
    remote_scenarios(bench, results, label, path, size)?;
    if bench.wants("scenario3") {
        five_destinations(
            bench,
            results,
            label,
            path,
            "scenario 3: 5 destinations",
            None,
        )?;
    }
    if bench.wants("rclone") {
        rclone_baseline(bench, results, label, &gz, size)?;
    }
    let _ = std::fs::remove_file(&gz);
    Ok(())
}

/// The compression and hashing limits of this machine; leaves `gzip -6`'s output in `gz` for the
/// rclone baseline.
fn baselines(results: &mut Results, label: &str, path: &Path, gz: &Path, size: u64) -> Result<()> {
    let run = measure(Command::new("gzip").args(["-6", "-c"]).arg(path), Some(gz))?;
    let gz_size = std::fs::metadata(gz).map_or(0, |m| m.len());
    results.push(
        label,
        "gzip -6 -c (1 thread)",
        size,
        &run,
        ratio_note(gz_size, size),
    );
    if which("pigz") {
        let run = measure(
            Command::new("pigz").args(["-6", "-p", "2", "-c"]).arg(path),
            None,
        )?;
        results.push(label, "pigz -6 -p 2", size, &run, String::new());
    }
    let run = measure(Command::new("sha256sum").arg(path), None)?;
    results.push(label, "sha256sum", size, &run, String::new());
    Ok(())
}

/// Scenario 1 with gzip and zstd.
fn local_scenarios(
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
        bench.fresh_dir("local")?;
    }
    Ok(())
}

/// Each remote destination alone, scenario 2 and scenario 4.
fn remote_scenarios(
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
fn five_destinations(
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
fn slow_destination(bench: &mut Bench, results: &mut Results, path: &Path) -> Result<()> {
    five_destinations(
        bench,
        results,
        "json",
        path,
        "scenario 3, dropbox throttled to 10 MB/s",
        Some(SLOW_RATE),
    )
}

/// The naive mirror: gzip once (measured above as the gzip baseline), then `rclone copy` to each
/// destination rclone can reach here, one after the other.
fn rclone_baseline(
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

impl Bench {
    /// Whether `--only` (if given) names this scenario group.
    fn wants(&self, group: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|g| g == group)
    }

    /// An empty folder under the work folder.
    fn fresh_dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.work.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// Writes a config with `[backup]` settings and the given destination tables.
    fn config(&self, tables: &[String], compress: &str, level: Option<u32>) -> Result<PathBuf> {
        let mut text = format!("[backup]\ncompress = \"{compress}\"\n");
        if let Some(l) = level {
            let _ = writeln!(text, "level = {l}");
        }
        for t in tables {
            text.push('\n');
            text.push_str(t);
        }
        let path = self.work.join("cloudmirror.toml");
        std::fs::write(&path, text)?;
        Ok(path)
    }

    fn backup(&self, cfg: &Path, source: &Path, name: &str) -> Result<Run> {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--config")
            .arg(cfg)
            .arg("--json")
            .arg("backup")
            .arg(source)
            .args(["--name", name])
            .env_remove("CLOUDMIRROR_CONFIG")
            .env_remove("CLOUDMIRROR_LOG");
        let before = self.servers_cpu();
        let mut run = measure(&mut cmd, None)?;
        run.servers_cpu_secs = self.servers_cpu() - before;
        Ok(run)
    }

    /// CPU seconds used so far by this process (the fakes run in it) and s3s-fs.
    fn servers_cpu(&self) -> f64 {
        let s3 = self
            .s3
            .as_ref()
            .and_then(|s| cpu_secs_of(s.child.id()))
            .unwrap_or(0.0);
        cpu_secs_of(std::process::id()).unwrap_or(0.0) + s3
    }

    fn s3_toml(&self) -> String {
        let port = self.s3.as_ref().map_or(0, |s| s.port);
        format!(
            "[[destinations]]\nname = \"s3\"\ntype = \"s3\"\nbucket = \"{S3_BUCKET}\"\nregion = \"us-east-1\"\n\
             endpoint = \"http://127.0.0.1:{port}\"\nforce_path_style = true\naccess_key_id = \"{S3_KEY}\"\n\
             secret_access_key = \"{S3_SECRET}\"\n"
        )
    }

    /// Empties the S3 bucket (s3s-fs keeps objects as files under its root).
    fn clean_s3(&self) -> Result<()> {
        if let Some(s3) = &self.s3 {
            let bucket = s3.root.join(S3_BUCKET);
            for entry in std::fs::read_dir(&bucket)? {
                let p = entry?.path();
                if p.is_dir() {
                    std::fs::remove_dir_all(&p)?;
                } else {
                    std::fs::remove_file(&p)?;
                }
            }
        }
        Ok(())
    }

    fn fakes(&self, throttle: Option<u64>) -> Fakes {
        self.rt.block_on(async {
            let dropbox = FakeDropbox::start().await;
            let gdrive = FakeGdrive::start().await;
            // The fake enforces the Free plan's 50 MiB object limit by default; paid plans
            // raise the global limit (up to 500 GB), which the bench needs.
            let supabase = FakeSupabase::start_with(FakeSupabaseOptions {
                file_size_limit: 64 * 1024 * MIB,
                ..FakeSupabaseOptions::default()
            })
            .await;
            let (proxy, proxy_uri) = match throttle {
                Some(rate) => match throttle_proxy(&dropbox.uri(), rate).await {
                    Ok((uri, handle)) => (Some(handle), Some(uri)),
                    Err(e) => {
                        eprintln!("xtask bench: cannot start the throttling proxy: {e}");
                        (None, None)
                    }
                },
                None => (None, None),
            };
            Fakes {
                dropbox,
                gdrive,
                supabase,
                proxy,
                proxy_uri,
            }
        })
    }
}

impl Fakes {
    /// The fake's destination table at default adapter settings (the fakes' own tables shrink
    /// chunk sizes for tests; those lines are dropped).
    fn toml(&self, which: &str) -> String {
        let table = match which {
            "dropbox" => {
                let t = self.dropbox.destination_toml("dropbox");
                match &self.proxy_uri {
                    Some(proxy) => t.replace(&self.dropbox.uri(), proxy),
                    None => t,
                }
            }
            "gdrive" => self.gdrive.destination_toml("gdrive"),
            _ => self.supabase.destination_toml("supabase"),
        };
        let mut out = String::new();
        for line in table.lines().filter(|l| !l.starts_with("chunk_size")) {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

fn local_toml(dir: &Path) -> String {
    format!(
        "[[destinations]]\nname = \"local\"\ntype = \"local\"\npath = \"{}\"\n",
        dir.display()
    )
}

/// Runs `cmd` (stdout to `stdout_to` or captured), sampling its peak RSS every 10 ms.
fn measure(cmd: &mut Command, stdout_to: Option<&Path>) -> Result<Run> {
    let out_path =
        std::env::temp_dir().join(format!("cloudmirror-bench-{}.out", std::process::id()));
    let err_path =
        std::env::temp_dir().join(format!("cloudmirror-bench-{}.err", std::process::id()));
    let out = std::fs::File::create(stdout_to.unwrap_or(&out_path))?;
    let err = std::fs::File::create(&err_path)?;
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    let pid = child.id();
    let mut peak = 0;
    let mut cpu_secs = 0.0;
    let status = loop {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(cpu) = cpu_secs_of(pid) {
            cpu_secs = cpu;
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let secs = started.elapsed().as_secs_f64();
    let stdout = if stdout_to.is_none() {
        std::fs::read_to_string(&out_path).unwrap_or_default()
    } else {
        String::new()
    };
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    let tail: String = stderr
        .chars()
        .rev()
        .take(400)
        .collect::<String>()
        .chars()
        .rev()
        .collect();
    if !status.success() {
        eprintln!("xtask bench: {cmd:?} failed ({status}): {tail}");
    }
    Ok(Run {
        secs,
        cpu_secs,
        rss_kib: peak,
        servers_cpu_secs: 0.0,
        ok: status.success(),
        stdout,
        stderr_tail: tail,
    })
}

/// Peak RSS (`VmHWM`) of a running process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// User + system CPU seconds of a running process, all threads (`/proc/PID/stat`, 100 ticks/s).
fn cpu_secs_of(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// Per-destination seconds from a backup's `--json` report.
fn dest_seconds(run: &Run) -> Vec<(String, f64)> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&run.stdout) else {
        return Vec::new();
    };
    v["destinations"]
        .as_array()
        .map(|ds| {
            ds.iter()
                .map(|d| {
                    (
                        d["destination"].as_str().unwrap_or("?").to_owned(),
                        d["seconds"].as_f64().unwrap_or(f64::NAN),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn dest_times(run: &Run) -> String {
    if !run.ok {
        return format!(
            "FAILED: {}",
            run.stderr_tail.lines().last().unwrap_or_default()
        );
    }
    let times = dest_seconds(run)
        .iter()
        .map(|(d, s)| format!("{d} {s:.1} s"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("{times}; servers used {:.1} CPU s", run.servers_cpu_secs)
}

fn stored_note(run: &Run, source: u64) -> String {
    if !run.ok {
        return dest_times(run);
    }
    let stored = serde_json::from_str::<serde_json::Value>(&run.stdout)
        .ok()
        .and_then(|v| v["manifest"]["stored_size"].as_u64())
        .unwrap_or(0);
    ratio_note(stored, source)
}

fn ratio_note(stored: u64, source: u64) -> String {
    if source == 0 {
        return String::new();
    }
    format!(
        "stored {:.1} % of source",
        stored as f64 * 100.0 / source as f64
    )
}

fn table_header() -> String {
    "| input | what | wall s | MB/s of source | CPU s | peak RSS MiB | notes |\n|---|---|---:|---:|---:|---:|---|".into()
}

fn row_md(r: &Row) -> String {
    if r.run.secs == 0.0 {
        return format!("| {} | {} | – | – | – | – | {} |", r.input, r.what, r.note);
    }
    format!(
        "| {} | {} | {:.2} | {:.0} | {:.1} | {:.0} | {}{} |",
        r.input,
        r.what,
        r.run.secs,
        r.source_bytes as f64 / 1e6 / r.run.secs,
        r.run.cpu_secs,
        r.run.rss_kib as f64 / 1024.0,
        if r.run.ok { "" } else { "FAILED " },
        r.note
    )
}

/// The Markdown report: table, ratios, target checks.
fn report(res: &Results, size_mib: u64, quick: bool, took: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Measured by `cargo xtask bench{}` on {} ({} MiB inputs, whole run {:.0} s).\n",
        if quick { " --quick" } else { "" },
        machine(),
        size_mib,
        took.as_secs_f64()
    );
    let _ = writeln!(out, "{}", table_header());
    for r in &res.rows {
        let _ = writeln!(out, "{}", row_md(r));
    }
    let _ = writeln!(out, "\n### Ratios and targets\n");
    for input in ["json", "random"] {
        input_ratios(&mut out, res, input);
    }
    slow_and_memory(&mut out, res);
    out
}

/// The ratios and target checks of one input.
fn input_ratios(out: &mut String, res: &Results, input: &str) {
    {
        let _ = writeln!(out, "**{input}**\n");
        let secs = |what: &str| res.get(input, what).map(|r| r.secs);
        // Compression: our gzip (scenario 1, hashing and writing included) against pigz -p 2.
        if let (Some(ours), Some(pigz)) = (secs("scenario 1: local"), secs("pigz -6 -p 2")) {
            let _ = writeln!(
                out,
                "- gzip: scenario 1 (compress + hash + write) takes {:.2}× the time of `pigz -6 -p 2` alone; target ≤ 1× (5 % allowed for noise): {}",
                ours / pigz,
                verdict(ours <= pigz * 1.05)
            );
        }
        if let (Some(z), Some(g)) = (
            secs("scenario 1, zstd -3: local"),
            secs("scenario 1: local"),
        ) {
            let _ = writeln!(
                out,
                "- zstd -3 takes {:.2}× the time of gzip -6: {}",
                z / g,
                verdict(z < g)
            );
        }
        let alone: Vec<(&str, f64)> = [
            ("local", "scenario 1: local"),
            ("s3", "s3 alone"),
            ("dropbox", "dropbox alone (fake)"),
            ("gdrive", "gdrive alone (fake)"),
            ("supabase", "supabase alone (fake)"),
        ]
        .iter()
        .filter_map(|(d, what)| secs(what).map(|s| (*d, s)))
        .collect();
        let slowest = alone
            .iter()
            .copied()
            .fold(("", 0.0), |a, b| if b.1 > a.1 { b } else { a });
        if let Some(s3) = secs("scenario 3: 5 destinations") {
            if slowest.1 > 0.0 {
                let _ = writeln!(
                    out,
                    "- fan-out: scenario 3 takes {:.2}× the slowest destination alone ({} {:.2} s); target ≤ 1.25×: {}",
                    s3 / slowest.1,
                    slowest.0,
                    slowest.1,
                    verdict(s3 <= 1.25 * slowest.1)
                );
            }
            if let Some(run) = res.get(input, "scenario 3: 5 destinations") {
                // The same cores run the client and every server: no schedule beats their CPU
                // seconds divided by the cores.
                let cores = std::thread::available_parallelism().map_or(1, usize::from);
                let bound = (run.cpu_secs + run.servers_cpu_secs) / cores as f64;
                let _ = writeln!(
                    out,
                    "  - on these {cores} cores scenario 3 cannot take less than (cloudmirror {:.1} + servers {:.1} CPU s) / {cores} = {bound:.1} s ({:.2}× the slowest alone)",
                    run.cpu_secs,
                    run.servers_cpu_secs,
                    if slowest.1 > 0.0 { bound / slowest.1 } else { 0.0 }
                );
            }
            let gzip = secs("gzip -6 -c (1 thread)");
            let rl = secs("rclone copy to local");
            let rs = secs("rclone copy to s3");
            if let (Some(g), Some(l), Some(s)) = (gzip, rl, rs) {
                let naive = g + l + s;
                let _ = writeln!(
                    out,
                    "- rclone's naive mirror to local + s3 only (gzip {g:.1} s + copies {l:.1} s + {s:.1} s = {naive:.1} s) is {:.2}× scenario 3 (5 destinations); target ≥ 2×: {}",
                    naive / s3,
                    verdict(naive >= 2.0 * s3)
                );
                if let Some(s2) = secs("scenario 2: local + s3") {
                    let _ = writeln!(
                        out,
                        "- same destinations: rclone's mirror is {:.2}× scenario 2 (local + s3)",
                        naive / s2
                    );
                }
                if let Some(p) = secs("pigz -6 -p 2") {
                    let _ = writeln!(
                        out,
                        "- with `pigz -p 2` ({p:.1} s) instead of gzip, rclone's mirror would take {:.1} s: {:.2}× scenario 3",
                        p + l + s,
                        (p + l + s) / s3
                    );
                }
            }
        }
        if let Some(r) = res.get(input, "scenario 3: 5 destinations") {
            let mib = r.rss_kib as f64 / 1024.0;
            let _ = writeln!(
                out,
                "- peak RSS with five destinations: {mib:.0} MiB; target ≤ 256 MiB: {}",
                verdict(mib <= 256.0)
            );
        }
        let _ = writeln!(out);
    }
}

/// The slow-destination and memory-versus-size checks.
fn slow_and_memory(out: &mut String, res: &Results) {
    if let (Some(slow), Some(base)) = (
        res.get("json", "scenario 3, dropbox throttled to 10 MB/s"),
        res.get("json", "scenario 3: 5 destinations"),
    ) {
        let base_t = dest_seconds(base);
        let mut worst: f64 = 0.0;
        let mut parts = Vec::new();
        for (d, t) in dest_seconds(slow) {
            if d == "dropbox" {
                parts.push(format!("dropbox (throttled) {t:.1} s"));
                continue;
            }
            if let Some((_, b)) = base_t.iter().find(|(n, _)| *n == d) {
                worst = worst.max(t / b);
                parts.push(format!("{d} {t:.1} s vs {b:.1} s"));
            }
        }
        let mib = slow.rss_kib as f64 / 1024.0;
        let _ = writeln!(
            out,
            "**slow destination** (json): {}. Worst ratio of the others {:.2}×; target ≤ 1.2×: {}. Peak RSS {mib:.0} MiB: {}\n",
            parts.join(", "),
            worst,
            verdict(worst <= 1.2),
            verdict(mib <= 256.0)
        );
    }
    let big = res
        .rows
        .iter()
        .find(|r| r.input.starts_with("json×4") && r.run.ok);
    if let (Some(big), Some(one)) = (big, res.get("json", "scenario 3: 5 destinations")) {
        let ratio = big.run.rss_kib as f64 / one.rss_kib as f64;
        let _ = writeln!(
            out,
            "**memory vs size**: peak RSS {:.0} MiB for the 4× source, {:.0} MiB for 1×: {:.2}×; target within 10 %: {}\n",
            big.run.rss_kib as f64 / 1024.0,
            one.rss_kib as f64 / 1024.0,
            ratio,
            verdict(ratio <= 1.10)
        );
    }
}

fn verdict(met: bool) -> &'static str {
    if met {
        "**met**"
    } else {
        "**NOT met**"
    }
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    format!("{cpus} CPUs, load average before the report {load}")
}

fn human_size(bytes: u64) -> String {
    if bytes >= 1024 * MIB {
        format!("{} GiB", bytes / (1024 * MIB))
    } else {
        format!("{} MiB", bytes / MIB)
    }
}

/// Replaces what lies between the markers in `path` (or creates the file with them).
fn write_between_markers(path: &Path, body: &str) -> Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let block = format!("{DOC_BEGIN}\n{body}\n{DOC_END}");
    let new = match (old.find(DOC_BEGIN), old.find(DOC_END)) {
        (Some(a), Some(b)) if b > a => format!("{}{block}{}", &old[..a], &old[b + DOC_END.len()..]),
        _ if old.is_empty() => format!("# Benchmarks\n\n{block}\n"),
        _ => format!("{old}\n{block}\n"),
    };
    std::fs::write(path, new).with_context(|| format!("writing {}", path.display()))
}

fn which(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs pigz and rclone with apt-get when missing (root only); says what is missing otherwise.
fn ensure_tools() {
    let missing: Vec<&str> = ["pigz", "rclone"]
        .into_iter()
        .filter(|t| !which(t))
        .collect();
    if missing.is_empty() {
        return;
    }
    println!("xtask bench: installing {} (apt-get)", missing.join(" "));
    let ok = Command::new("apt-get")
        .args(["install", "-y", "-qq"])
        .args(&missing)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!(
            "xtask bench: could not install {}; their baselines are skipped",
            missing.join(" ")
        );
    }
}

/// A JSON-lines database export of `size` bytes (rows of users with ids, emails, balances,
/// timestamps and tags; gzip -6 shrinks it to about a fifth, like a real dump).
fn generate_json(path: &Path, size: u64) -> Result<()> {
    const ORGS: [&str; 6] = ["acme", "globex", "initech", "umbrella", "hooli", "stark"];
    const PLANS: [&str; 3] = ["free", "pro", "enterprise"];
    if std::fs::metadata(path).is_ok_and(|m| m.len() == size) {
        return Ok(());
    }
    println!(
        "xtask bench: generating {} ({})",
        path.display(),
        human_size(size)
    );
    let tmp = path.with_extension("tmp");
    let mut f = std::io::BufWriter::with_capacity(MIB as usize, std::fs::File::create(&tmp)?);
    let mut written = 0u64;
    let mut row = 0u64;
    let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
    let mut line = String::with_capacity(256);
    while written < size {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        line.clear();
        let _ = writeln!(
            line,
            "{{\"id\":{row},\"org\":\"{}\",\"email\":\"user{}@{}.example.com\",\"plan\":\"{}\",\"balance\":{}.{:02},\"created_at\":\"2024-{:02}-{:02}T{:02}:{:02}:{:02}Z\",\"active\":{},\"tags\":[\"t{}\",\"t{}\"]}}",
            ORGS[(rng % 6) as usize],
            rng % 1_000_003,
            ORGS[(row % 6) as usize],
            PLANS[((rng >> 8) % 3) as usize],
            (rng >> 12) % 100_000,
            (rng >> 32) % 100,
            1 + (rng >> 20) % 12,
            1 + (rng >> 24) % 28,
            (rng >> 28) % 24,
            (rng >> 36) % 60,
            (rng >> 42) % 60,
            rng & 1 == 0,
            (rng >> 48) % 20,
            (rng >> 52) % 20,
        );
        let take = (size - written).min(line.len() as u64) as usize;
        f.write_all(&line.as_bytes()[..take])?;
        written += take as u64;
        row += 1;
    }
    f.flush()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// `size` bytes from the kernel's random source (incompressible).
fn generate_random(path: &Path, size: u64) -> Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() == size) {
        return Ok(());
    }
    println!(
        "xtask bench: generating {} ({})",
        path.display(),
        human_size(size)
    );
    let tmp = path.with_extension("tmp");
    let mut src = std::io::Read::take(std::fs::File::open("/dev/urandom")?, size);
    let mut f = std::fs::File::create(&tmp)?;
    let copied = std::io::copy(&mut src, &mut f)?;
    if copied != size {
        bail!("/dev/urandom gave {copied} bytes, wanted {size}");
    }
    drop(f);
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Starts `s3s-fs` (installed by [`provision::s3s_fs`] if missing) on a free loopback port.
fn start_s3s_fs(work: &Path) -> Result<S3sFs> {
    let bin = provision::s3s_fs().map_err(|e| anyhow::anyhow!(e))?;
    let root = work.join("s3s-root");
    std::fs::create_dir_all(root.join(S3_BUCKET))?;
    let port = StdListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port();
    let log = std::fs::File::create(work.join("s3s-fs.log"))?;
    let child = Command::new(&bin)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", S3_KEY, "--secret-key", S3_SECRET])
        .arg(&root)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let server = S3sFs { child, port, root };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        if Instant::now() > deadline {
            bail!("s3s-fs did not listen on port {port} within 20 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(server)
}

/// A TCP proxy to `upstream_uri` (`http://127.0.0.1:PORT`) that passes client-to-server bytes at
/// `rate` bytes per second (all connections together) and answers unthrottled. Returns its URI.
async fn throttle_proxy(
    upstream_uri: &str,
    rate: u64,
) -> Result<(String, tokio::task::JoinHandle<()>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let upstream: SocketAddr = upstream_uri
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .with_context(|| format!("not a loopback address: {upstream_uri}"))?;
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let uri = format!("http://{}", listener.local_addr()?);
    // When the simulated link is next free.
    let link = Arc::new(Mutex::new(tokio::time::Instant::now()));
    let handle = tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let link = link.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = cr.read(&mut buf).await?;
                        if n == 0 {
                            sw.shutdown().await?;
                            return Ok::<_, std::io::Error>(());
                        }
                        let free_at = {
                            let mut next =
                                link.lock().map_err(|_| std::io::Error::other("lock"))?;
                            let start = (*next).max(tokio::time::Instant::now());
                            *next = start + Duration::from_secs_f64(n as f64 / rate as f64);
                            *next
                        };
                        tokio::time::sleep_until(free_at).await;
                        sw.write_all(&buf[..n]).await?;
                    }
                };
                let down = async move { tokio::io::copy(&mut sr, &mut cw).await };
                let _ = tokio::join!(up, down);
            });
        }
    });
    Ok((uri, handle))
}
