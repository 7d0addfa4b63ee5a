//! `cargo xtask bench`: builds the release binary and measures backups and restores against the
//! baselines of issue 10 (gzip / pigz / sha256sum alone, rclone's naive mirror), on loopback only.
//!
//! Inputs (cached under `target/bench-data`): a JSON-lines database export (compressible like a
//! real dump) and an incompressible file, 1 GiB each (64 MiB with `--quick`). Destinations: a local
//! folder, a real `s3s-fs` on 127.0.0.1 (installed like `cargo xtask ci` does), and the Dropbox,
//! Drive and Supabase fakes from `cloudmirror-fakes`, run in this process (their memory is ours,
//! not cloudmirror's). The slow-destination scenario puts a 10 MB/s throttling TCP proxy in front
//! of the Dropbox fake; the wide-area profile (`wan`) puts every remote destination behind its own
//! 25 MB/s link with 30 ms each way. Wall time, MB/s of source and peak RSS (`VmHWM`) of each command are
//! printed as a Markdown table; a full run writes it into `docs/benchmarks.md` between markers.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use cloudmirror_fakes::dropbox::FakeDropbox;
use cloudmirror_fakes::gdrive::FakeGdrive;
use cloudmirror_fakes::supabase::{FakeSupabase, FakeSupabaseOptions};

use baselines::baselines;
use baselines::naive_three;
use baselines::rclone_baseline;
use measure::cpu_secs_of;
use measure::ensure_tools;
use measure::generate_json;
use measure::generate_random;
use measure::human_size;
use measure::measure;
use measure::Run;
use report::report;
use report::table_header;
use report::write_between_markers;
use report::Results;
use scenarios::five_destinations;
use scenarios::gzip_levels;
use scenarios::local_scenarios;
use scenarios::remote_scenarios;
use scenarios::slow_destination;
use scenarios::three_destinations;
use servers::start_s3s_fs;
use servers::throttle_proxy;
use servers::Fakes;
use servers::S3sFs;

mod baselines;
mod measure;
mod report;
mod scenarios;
mod servers;
mod spool;
mod wan;

const MIB: u64 = 1024 * 1024;
const S3_BUCKET: &str = "bench";
const S3_KEY: &str = "bench-access-key";
const S3_SECRET: &str = "bench-secret-key";
/// Upload rate of the throttled destination in the slow-destination scenario.
const SLOW_RATE: u64 = 10_000_000;
const DOC_BEGIN: &str =
    "<!-- bench:begin (written by `cargo xtask bench`; edit outside the markers) -->";
const DOC_END: &str = "<!-- bench:end -->";

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

/// Scenario groups `--only` accepts.
const GROUPS: &[&str] = &[
    "baselines",
    "spool",
    "wan",
    "local",
    "levels",
    "alone",
    "scenario2",
    "scenario3",
    "three",
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
        if bench.wants("wan") {
            wan::scenario(&mut bench, &mut results, &json)?;
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
    if bench.wants("levels") && label == "json" {
        gzip_levels(bench, results, label, path, size)?;
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
    if bench.wants("three") {
        three_destinations(bench, results, label, path, size)?;
        naive_three(bench, results, label, path, size)?;
    }
    let _ = std::fs::remove_file(&gz);
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

    /// The S3 destination table under another `name`, storing under `prefix`.
    fn s3_toml_as(&self, name: &str, prefix: &str) -> String {
        self.s3_toml().replacen(
            "name = \"s3\"\n",
            &format!("name = \"{name}\"\nprefix = \"{prefix}\"\n"),
            1,
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

fn local_toml(dir: &Path) -> String {
    format!(
        "[[destinations]]\nname = \"local\"\ntype = \"local\"\npath = \"{}\"\n",
        dir.display()
    )
}
