//! The wide-area profile (issue 18): real clouds are not on loopback. Each remote destination
//! (S3 on `s3s-fs`, the Dropbox, Drive and Supabase fakes) sits behind its own [`link_proxy`]:
//! 25 MB/s up, 30 ms added each way. Rows: each remote destination alone, cloudmirror to all five
//! (a local folder too), and the naive mirror to local + S3 (`pigz`, `sha256sum`, then
//! `rclone copy` to each, one after the other, S3 through the same link). Target: the five-
//! destination run within 1.15× the slowest destination alone; the naive mirror's time grows with
//! the sum of its destinations.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use cloudmirror_fakes::dropbox::FakeDropbox;
use cloudmirror_fakes::gdrive::{FakeGdrive, FakeGdriveOptions};
use cloudmirror_fakes::supabase::{FakeSupabase, FakeSupabaseOptions};
use tokio::task::JoinHandle;

use super::baselines::{in_turn, rclone_to_local, rclone_to_s3};
use super::measure::{measure, which};
use super::report::{dest_times, verdict};
use super::servers::{link_proxy, link_proxy_on};
use super::{local_toml, Bench, Results, Run, MIB};

/// Upload rate of each simulated link, bytes per second.
const RATE: u64 = 25_000_000;
/// Delay added to every byte, each way.
const LATENCY: Duration = Duration::from_millis(30);
/// The five-destination run may take this many times the slowest destination alone.
const TARGET: f64 = 1.15;

/// The remote destinations, each behind its own link; proxies stop on drop.
struct Remotes {
    _dropbox: FakeDropbox,
    _gdrive: FakeGdrive,
    _supabase: FakeSupabase,
    proxies: Vec<JoinHandle<()>>,
    /// (name, destination table through the link).
    tables: Vec<(&'static str, String)>,
    /// The S3 endpoint through its link (when `s3s-fs` runs).
    s3_endpoint: Option<String>,
}

impl Drop for Remotes {
    fn drop(&mut self) {
        for p in &self.proxies {
            p.abort();
        }
    }
}

impl Remotes {
    /// Starts the fakes and one link per remote destination.
    async fn start(s3: Option<(u16, String)>) -> Result<Self> {
        let mut proxies = Vec::new();
        let mut tables = Vec::new();
        let mut s3_endpoint = None;
        if let Some((port, table)) = s3 {
            let own = format!("http://127.0.0.1:{port}");
            let (uri, handle) = link_proxy(&own, Some(RATE), LATENCY).await?;
            proxies.push(handle);
            tables.push(("s3", table.replace(&own, &uri)));
            s3_endpoint = Some(uri);
        }
        let dropbox = FakeDropbox::start().await;
        let (uri, handle) = link_proxy(&dropbox.uri(), Some(RATE), LATENCY).await?;
        proxies.push(handle);
        tables.push((
            "dropbox",
            strip_chunk_size(&dropbox.destination_toml("dropbox")).replace(&dropbox.uri(), &uri),
        ));
        // Drive and Supabase answer with the address of an upload session (`Location`): it must
        // name the link, as the real services name the host the client reached.
        let listener = loopback_listener().await?;
        let public = format!("http://{}", listener.local_addr()?);
        let gdrive = FakeGdrive::start_with(FakeGdriveOptions {
            public_base: Some(public.clone()),
            ..FakeGdriveOptions::default()
        })
        .await;
        let (uri, handle) = link_proxy_on(listener, &gdrive.uri(), Some(RATE), LATENCY)?;
        proxies.push(handle);
        tables.push((
            "gdrive",
            strip_chunk_size(&gdrive.destination_toml("gdrive")).replace(&gdrive.uri(), &uri),
        ));
        let listener = loopback_listener().await?;
        let public = format!("http://{}", listener.local_addr()?);
        let supabase = FakeSupabase::start_with(FakeSupabaseOptions {
            file_size_limit: 64 * 1024 * MIB,
            tus_public_origin: Some(public),
            ..FakeSupabaseOptions::default()
        })
        .await;
        let (uri, handle) = link_proxy_on(listener, &supabase.uri(), Some(RATE), LATENCY)?;
        proxies.push(handle);
        tables.push((
            "supabase",
            strip_chunk_size(&supabase.destination_toml("supabase")).replace(&supabase.uri(), &uri),
        ));
        Ok(Self {
            _dropbox: dropbox,
            _gdrive: gdrive,
            _supabase: supabase,
            proxies,
            tables,
            s3_endpoint,
        })
    }
}

async fn loopback_listener() -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .await
        .context("binding a loopback port for a link")
}

/// The fakes' tables shrink chunk sizes for tests: the bench uses the adapters' defaults.
fn strip_chunk_size(table: &str) -> String {
    let mut out = String::new();
    for line in table.lines().filter(|l| !l.starts_with("chunk_size")) {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Runs the profile on `json` (the cached export).
pub(super) fn scenario(bench: &mut Bench, results: &mut Results, json: &Path) -> Result<()> {
    let size = std::fs::metadata(json)?.len();
    let s3 = bench.s3.as_ref().map(|s| (s.port, bench.s3_toml()));
    let remotes = bench.rt.block_on(Remotes::start(s3))?;
    let mut alone: Vec<(&str, f64)> = Vec::new();
    for (name, table) in &remotes.tables {
        let cfg = bench.config(std::slice::from_ref(table), "gzip", None)?;
        let run = bench.backup(&cfg, json, &format!("wan-{name}.gz"))?;
        alone.push((name, run.secs));
        let what = format!("wide-area (25 MB/s, 30 ms): {name} alone");
        results.push("json", &what, size, &run, dest_times(&run));
        bench.clean_s3()?;
    }
    let local = bench.fresh_dir("local")?;
    let mut tables = vec![local_toml(&local)];
    tables.extend(remotes.tables.iter().map(|(_, t)| t.clone()));
    let cfg = bench.config(&tables, "gzip", None)?;
    let run = bench.backup(&cfg, json, "wan-all.gz")?;
    let (slowest, secs) = alone
        .iter()
        .copied()
        .fold(("none", 0.0), |a, b| if b.1 > a.1 { b } else { a });
    let ratio = if secs > 0.0 { run.secs / secs } else { 0.0 };
    let note = format!(
        "{}; slowest alone: {slowest} {secs:.1} s, so {ratio:.2}× (target ≤ {TARGET}×: {})",
        dest_times(&run),
        verdict(run.ok && ratio <= TARGET)
    );
    let names: Vec<&str> = remotes.tables.iter().map(|(n, _)| *n).collect();
    let what = format!(
        "wide-area (25 MB/s, 30 ms): cloudmirror to local + {}",
        names.join(" + ")
    );
    results.push("json", &what, size, &run, note);
    bench.clean_s3()?;
    bench.fresh_dir("local")?;
    if let Some(endpoint) = &remotes.s3_endpoint {
        naive(bench, results, json, size, endpoint)?;
    }
    Ok(())
}

/// The naive mirror to local + S3 over its link: `pigz -6 -p 2` to a file, `sha256sum`, `rclone
/// copy` to a local folder, then to S3; one row with the sum of the wall times.
fn naive(
    bench: &mut Bench,
    results: &mut Results,
    json: &Path,
    size: u64,
    s3_endpoint: &str,
) -> Result<()> {
    const WHAT: &str =
        "wide-area (25 MB/s, 30 ms): naive mirror, pigz + sha256sum + rclone to local, s3";
    if !which("pigz") || !which("rclone") {
        let why = "skipped: pigz or rclone not installed".to_owned();
        results.push("json", WHAT, size, &Run::default(), why);
        return Ok(());
    }
    let gz = bench.work.join("wan-naive.gz");
    let conf = bench.work.join("rclone.conf");
    std::fs::write(&conf, "")?;
    let dir = bench.fresh_dir("rclone-local")?;
    let mut steps = vec![measure(
        Command::new("pigz").args(["-6", "-p", "2", "-c"]).arg(json),
        Some(&gz),
    )?];
    steps.push(measure(Command::new("sha256sum").arg(&gz), None)?);
    steps.push(measure(&mut rclone_to_local(&conf, &gz, &dir), None)?);
    steps.push(measure(
        &mut rclone_to_s3(&conf, &gz, "wan-naive", s3_endpoint),
        None,
    )?);
    let (total, parts) = in_turn(&steps);
    let note = format!("pigz, sha256sum, rclone local, rclone s3: {parts} s");
    results.push("json", WHAT, size, &total, note);
    let _ = std::fs::remove_file(&gz);
    let _ = std::fs::remove_dir_all(&dir);
    bench.clean_s3()
}
