//! Memory stays flat whatever the backup's size: a generated 1 GiB-class source is backed up while
//! the test samples the process's peak RSS. Ignored by default (it moves a gigabyte); `cargo xtask ci`
//! runs it. `CLOUDMIRROR_BIG_MB` changes the size.

use std::io::Write;
use std::time::Duration;

use crate::common::Scratch;

/// Peak RSS ("VmHWM") of a running process, in KiB (Linux only).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[test]
#[ignore = "moves a gigabyte; run with --ignored (cargo xtask ci does)"]
fn one_gib_backup_keeps_memory_flat() {
    let mb: usize = std::env::var("CLOUDMIRROR_BIG_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let s = Scratch::new();
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(s.join("big.json")).unwrap());
        let mut row = 0u64;
        let mut written = 0usize;
        while written < mb * 1024 * 1024 {
            let line = format!(
                "{{\"id\":{row},\"user\":\"user{}@example.com\",\"balance\":{}.{:02},\"tags\":[\"a{}\",\"b{}\"]}}\n",
                row % 100_003,
                row * 7 % 10_000,
                row % 100,
                row % 13,
                row % 17
            );
            f.write_all(line.as_bytes()).unwrap();
            written += line.len();
            row += 1;
        }
        f.flush().unwrap();
    }
    s.write(
        "cloudmirror.toml",
        "[[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"a\"\n[[destinations]]\nname = \"b\"\ntype = \"local\"\npath = \"b\"\n",
    );
    let mut child = s
        .command(&["backup", "big.json", "--name", "big.json.gz"])
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "backup failed: {status}");
    let peak_mib = peak / 1024;
    eprintln!("peak RSS of a {mb} MiB backup to 2 destinations: {peak_mib} MiB");
    assert!(
        peak_mib < 256,
        "peak RSS {peak_mib} MiB is over the 256 MiB budget"
    );
    let stored = std::fs::metadata(s.join("a/big.json.gz")).unwrap().len();
    assert_eq!(
        stored,
        std::fs::metadata(s.join("b/big.json.gz")).unwrap().len()
    );
}
