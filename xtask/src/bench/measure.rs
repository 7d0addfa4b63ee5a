//! Measuring one command (wall time, CPU, peak RSS), the tools it needs and the generated inputs.

use anyhow::Result;

use anyhow::Context;

use super::MIB;
use anyhow::bail;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

/// One measured command.
#[derive(Debug, Clone, Default)]
pub(super) struct Run {
    pub(super) secs: f64,
    /// User + system CPU seconds (last sample before exit, so a few ms short at most).
    pub(super) cpu_secs: f64,
    pub(super) rss_kib: u64,
    /// CPU seconds the test servers (the in-process fakes and s3s-fs) used meanwhile.
    pub(super) servers_cpu_secs: f64,
    pub(super) ok: bool,
    /// Bytes the command stored (a baseline's output file), when known; cloudmirror's backups
    /// say it in their `--json` report instead.
    pub(super) stored_bytes: Option<u64>,
    /// The command's stdout (cloudmirror's `--json` report).
    pub(super) stdout: String,
    /// The end of its stderr, for failures.
    pub(super) stderr_tail: String,
}

/// Runs `cmd` (stdout to `stdout_to` or captured), sampling its peak RSS every 10 ms.
pub(super) fn measure(cmd: &mut Command, stdout_to: Option<&Path>) -> Result<Run> {
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
        stored_bytes: None,
        stdout,
        stderr_tail: tail,
    })
}

/// Peak RSS (`VmHWM`) of a running process, in KiB.
pub(super) fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// User + system CPU seconds of a running process, all threads (`/proc/PID/stat`, 100 ticks/s).
pub(super) fn cpu_secs_of(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

pub(super) fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    format!("{cpus} CPUs, load average before the report {load}")
}

pub(super) fn human_size(bytes: u64) -> String {
    if bytes >= 1024 * MIB {
        format!("{} GiB", bytes / (1024 * MIB))
    } else {
        format!("{} MiB", bytes / MIB)
    }
}

pub(super) fn which(tool: &str) -> bool {
    // libdeflate's tools know only `-V`; whatever the exit status, the program is there if it ran.
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Installs pigz, rclone and libdeflate-tools with apt-get when missing (root only); says what is missing otherwise.
pub(super) fn ensure_tools() {
    // (program, Debian package)
    let missing: Vec<&str> = [
        ("pigz", "pigz"),
        ("rclone", "rclone"),
        ("libdeflate-gzip", "libdeflate-tools"),
    ]
    .into_iter()
    .filter(|(t, _)| !which(t))
    .map(|(_, package)| package)
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
pub(super) fn generate_json(path: &Path, size: u64) -> Result<()> {
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
pub(super) fn generate_random(path: &Path, size: u64) -> Result<()> {
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
