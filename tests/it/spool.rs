//! `[backup] spool_limit`: a backup far bigger than the limit goes through local + two fakes with
//! the spool's disk use bounded, and a throttled destination paces the source (and is named).

use std::path::Path;
use std::process::Stdio;

use crate::common::Scratch;
use crate::fakes::{quick_retries, Fakes};

const MIB: u64 = 1024 * 1024;
const LIMIT: u64 = 8 * MIB;
/// The spool's largest read piece: disk use may pass the limit by at most this much.
const READ_PIECE: u64 = MIB;

/// Incompressible-looking bytes (stored with `compress = "none"`, so 200 MiB are spooled).
fn data(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Disk blocks in use under `dir` (holes excluded).
fn disk_use(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0;
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            total += disk_use(&entry.path());
        } else {
            total += meta.blocks() * 512;
        }
    }
    total
}

/// Runs `backup` with the spool in `spool/`, sampling its disk use; returns stdout and the peak.
fn backup_sampled(s: &Scratch, args: &[&str]) -> (String, u64) {
    let child = s
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let spool = s.join("spool");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            let mut samples = 0u32;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                peak = peak.max(disk_use(&spool));
                samples += 1;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            (peak, samples)
        })
    };
    let out = child.wait_with_output().expect("wait");
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let (peak, samples) = sampler.join().expect("sampler");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "backup failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(samples > 10, "the sampler ran ({samples} samples)");
    (stdout, peak)
}

fn setup(fakes: &Fakes, size: u64) -> (Scratch, Vec<u8>) {
    let s = Scratch::new();
    std::fs::create_dir(s.join("spool")).unwrap();
    let config = format!(
        "[backup]\ncompress = \"none\"\nspool_limit = \"8MiB\"\nspool_dir = \"spool\"\n\n\
         [[destinations]]\nname = \"local\"\ntype = \"local\"\npath = \"local\"\n\n{}\n{}\n",
        quick_retries(fakes.s3.destination_toml("s3")),
        quick_retries(fakes.dropbox.destination_toml("dropbox")),
    );
    s.write("cloudmirror.toml", config);
    let data = data(size as usize);
    s.write("big.bin", &data);
    (s, data)
}

#[test]
fn a_throttled_destination_paces_a_bounded_spool_and_is_named() {
    let fakes = Fakes::start();
    let (s, data) = setup(&fakes, 200 * MIB);
    // Dropbox answers its next upload calls 429 with Retry-After: 1, so it falls behind.
    fakes
        .dropbox
        .throttle_next("files/upload_session/append_v2", 3, 1);
    let (stdout, peak) = backup_sampled(&s, &["backup", "big.bin", "--name", "big.bin"]);
    assert!(
        peak <= LIMIT + READ_PIECE,
        "the spool used {peak} bytes of disk with spool_limit = 8MiB"
    );
    assert!(peak > 0, "the sampler saw the spool");
    let paced = stdout
        .lines()
        .find(|l| l.starts_with("paced by: "))
        .unwrap_or_else(|| panic!("no pacing line: {stdout}"));
    assert!(paced.starts_with("paced by: dropbox (waited "), "{paced}");
    for dest in ["local", "s3", "dropbox"] {
        let out = format!("out-{dest}.bin");
        s.run(&["restore", "big.bin", "--from", dest, "-o", &out])
            .expect_code(0);
        assert!(
            std::fs::read(s.join(&out)).unwrap() == data,
            "restore from {dest} differs"
        );
    }
    assert_eq!(disk_use(&s.join("spool")), 0, "the spool was removed");
}

#[test]
fn an_unthrottled_backup_with_the_same_limit_is_not_paced() {
    let fakes = Fakes::start();
    // A source slower than every destination (64 MiB at most 10 MiB/s): the spool fills past
    // the limit only if something waits when it need not.
    let (s, _) = setup(&fakes, 64 * MIB);
    let slow_source = "for i in $(seq 0 31); do dd if=big.bin bs=2M skip=$i count=1 2>/dev/null; \
                       sleep 0.2; done";
    let (stdout, peak) =
        backup_sampled(&s, &["backup", "--exec", slow_source, "--name", "big.bin"]);
    assert!(peak <= LIMIT + READ_PIECE, "spool used {peak} bytes");
    assert!(!stdout.contains("paced by"), "{stdout}");
}
