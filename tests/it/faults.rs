//! Faults injected through the fakes and the local adapter: storms, throttling, dropped bodies,
//! expiring tokens, a destination that never recovers or hangs, SIGKILL mid-upload, concurrent
//! backups, truncated copies and a full disk. Nothing is lost and every failure names its cause.

use std::io::Write;
use std::process::Stdio;

use cloudmirror_fakes::gdrive::RequestKind;
use cloudmirror_fakes::s3::S3Op;

use crate::common::{json_export, listed_names, Run, Scratch};
use crate::fakes::{quick_retries, Fakes};

/// `n` bytes that gzip cannot shrink (xorshift), so chunked uploads really happen.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Local + the four fakes, with chunk and part sizes small enough that 12 MiB crosses several.
fn chunked_config(fakes: &Fakes) -> String {
    fakes
        .config()
        .replace("type = \"s3\"\n", "type = \"s3\"\npart_size = \"5MiB\"\n")
        .replace(
            "type = \"gdrive\"\n",
            "type = \"gdrive\"\nchunk_size = \"1MiB\"\n",
        )
}

const ALL: [&str; 5] = ["local", "s3", "dropbox", "drive", "supabase"];

#[track_caller]
fn assert_all_ok(run: &Run) {
    let report = run.json();
    for d in report["destinations"].as_array().expect("destinations") {
        assert_eq!(d["ok"], true, "{d}\n{}", run.stderr);
    }
}

#[test]
fn storms_throttling_dropped_bodies_and_expiring_tokens_are_ridden_out() {
    let fakes = Fakes::start();
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        format!(
            "[backup]\ncompress = \"none\"\n\n{}",
            chunked_config(&fakes)
        ),
    );
    let data = noise(12 * 1024 * 1024, 7);
    s.write("db.bin", &data);

    // S3: a 503 storm, then failing parts.
    fakes.s3.fail_next(3, 503);
    fakes.s3.fail_next_op(S3Op::UploadPart, 2, 500);
    // Dropbox: 429 with Retry-After, 503s on appends, a body cut short, a token expiring mid-upload.
    fakes.dropbox.throttle_next("", 2, 1);
    fakes
        .dropbox
        .fail_next("files/upload_session/append_v2", 2, 503);
    fakes.dropbox.accept_partial_next_append(1024 * 1024);
    fakes
        .dropbox
        .expire_tokens_after_next("files/upload_session/append_v2");
    // Drive: 503 on chunks, a chunk half stored then an error, 429 on the session start.
    fakes.gdrive.fail_next(RequestKind::Upload, 1, 429);
    fakes.gdrive.fail_next(RequestKind::Chunk, 2, 503);
    fakes.gdrive.fail_next_chunks(1, 503, true);
    // Supabase: 503 storm, failing PATCHes, a PATCH stored but its answer lost.
    fakes.supabase.fail_next_requests(2, 503);
    fakes.supabase.fail_next_patches(2, 500);
    fakes.supabase.drop_next_patch_after_storing();

    let tokens_before = fakes.dropbox.token_requests();
    let drive_tokens_before = fakes.gdrive.request_count(RequestKind::Token);
    // Drive: every access token expires once the resumable upload is under way.
    let done = std::sync::atomic::AtomicBool::new(false);
    let expired_mid_upload = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                if fakes.gdrive.request_count(RequestKind::Chunk) >= 3 {
                    fakes.gdrive.expire_tokens();
                    return true;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            false
        });
        let run = s
            .run(&["backup", "db.bin", "--name", "db.bin", "--json"])
            .expect_code(0);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_all_ok(&run);
        watcher.join().expect("watcher")
    });
    assert!(expired_mid_upload, "Drive tokens were expired mid-upload");
    assert!(
        fakes.dropbox.token_requests() > tokens_before + 1,
        "the expired Dropbox token was refreshed mid-upload"
    );
    assert!(fakes.dropbox.unauthorized_responses() >= 1);
    assert!(
        fakes.gdrive.request_count(RequestKind::Token) > drive_tokens_before + 1,
        "a fresh Drive token was fetched after the 401 mid-upload: {} token requests, {} chunk requests",
        fakes.gdrive.request_count(RequestKind::Token),
        fakes.gdrive.request_count(RequestKind::Chunk)
    );
    assert!(
        fakes.s3.request_count(S3Op::UploadPart) >= 4,
        "parts retried"
    );

    s.run(&["verify", "--deep"]).expect_code(0);
    for dest in ALL {
        let out = format!("out-{dest}.bin");
        s.run(&["restore", "db.bin", "--from", dest, "-o", &out])
            .expect_code(0);
        assert!(
            std::fs::read(s.join(&out)).unwrap() == data,
            "restore from {dest} differs"
        );
    }
}

#[test]
fn providers_that_never_recover_fail_alone_naming_destination_and_cause() {
    let fakes = Fakes::start();
    let s = Scratch::new();
    s.write("cloudmirror.toml", fakes.config());
    s.write("db.json", json_export(2000));
    fakes.s3.fail_next(100_000, 503);
    fakes.dropbox.fail_next("", 100_000, 500);
    fakes.gdrive.fail_next(RequestKind::Upload, 100_000, 503);
    fakes.supabase.fail_next_requests(100_000, 503);
    let run = s
        .run(&["backup", "db.json", "--name", "db.json.gz"])
        .expect_code(1);
    assert!(run.stdout.contains("ok      local"), "{}", run.stdout);
    for dest in ["s3", "dropbox", "drive", "supabase"] {
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("failed  {dest} ")))
            .unwrap_or_else(|| panic!("no failure line for {dest}: {}", run.stdout));
        assert!(
            line.contains("50") || line.to_lowercase().contains("unavailable"),
            "{dest}: the cause is named: {line}"
        );
    }
    assert!(fakes.s3.object_keys().is_empty(), "nothing stored on S3");
    assert!(fakes.supabase.object_keys("backups").is_empty());
}

#[test]
fn hung_destinations_time_out_alone() {
    // Accepts connections (the kernel's backlog) and never answers.
    let black_hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = black_hole.local_addr().unwrap().port();
    let s = Scratch::new();
    // Supabase checks its bucket when opened (hangs there); S3 sends nothing until the upload.
    s.write(
        "cloudmirror.toml",
        format!(
            "[backup]\ndestination_timeout = \"2s\"\n\n\
             [[destinations]]\nname = \"local\"\ntype = \"local\"\npath = \"local\"\n\n\
             [[destinations]]\nname = \"hung-open\"\ntype = \"supabase\"\nurl = \"http://127.0.0.1:{port}\"\n\
             service_role_key = \"sb_secret_x\"\nbucket = \"b\"\n\n\
             [[destinations]]\nname = \"hung-upload\"\ntype = \"s3\"\nbucket = \"b\"\nregion = \"us-east-1\"\n\
             endpoint = \"http://127.0.0.1:{port}\"\naccess_key_id = \"AK\"\nsecret_access_key = \"SK\"\n"
        ),
    );
    s.write("db.json", json_export(500));
    let run = s
        .run(&["backup", "db.json", "--name", "db.json.gz"])
        .expect_code(1);
    assert!(run.stdout.contains("ok      local"), "{}", run.stdout);
    for (dest, doing) in [("hung-open", "opening"), ("hung-upload", "uploading")] {
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("failed  {dest}")))
            .unwrap_or_else(|| panic!("{}", run.stdout));
        assert!(
            line.contains("destination_timeout") && line.contains(doing),
            "{line}"
        );
    }
    drop(black_hole);
}

#[test]
fn a_destination_down_keeps_its_backups_and_retention_runs_only_where_the_backup_landed() {
    let fakes = Fakes::start();
    let s = Scratch::new();
    let plain = format!(
        "[[destinations]]\nname = \"local\"\ntype = \"local\"\npath = \"local\"\n\n{}",
        quick_retries(fakes.dropbox.destination_toml("dropbox"))
    );
    s.write("cloudmirror.toml", &plain);
    s.write("db.json", json_export(1000));
    for n in ["a.json.gz", "b.json.gz"] {
        s.run(&["backup", "db.json", "--name", n]).expect_code(0);
    }
    // Keep one backup; Dropbox now refuses every upload (listing and deleting still work).
    s.write(
        "cloudmirror.toml",
        format!("[retention]\nkeep_last = 1\n\n{plain}"),
    );
    fakes.dropbox.fail_next("files/upload", 100_000, 503);
    let run = s
        .run(&["backup", "db.json", "--name", "c.json.gz"])
        .expect_code(1);
    assert!(run.stdout.contains("failed  dropbox"), "{}", run.stdout);
    assert!(run.stdout.contains("pruned  local"), "{}", run.stdout);
    let list = s.run(&["list", "--json"]).expect_code(0).json();
    let on = |dest: &str| -> Vec<String> {
        list["backups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| {
                b["destinations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|d| d == dest)
            })
            .map(|b| b["name"].as_str().unwrap().to_owned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    };
    assert_eq!(on("local"), vec!["c.json.gz"]);
    assert_eq!(
        on("dropbox"),
        vec!["a.json.gz", "b.json.gz"],
        "nothing deleted where the backup failed"
    );
}

#[test]
#[allow(clippy::too_many_lines)] // one scenario, step by step
fn sigkill_mid_upload_leaves_no_partial_backup_and_a_rerun_completes() {
    let fakes = Fakes::start();
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        format!(
            "[backup]\ncompress = \"none\"\nspool_dir = \"spool\"\n\n{}",
            chunked_config(&fakes)
        ),
    );
    std::fs::create_dir(s.join("spool")).unwrap();
    let earlier = json_export(3000);
    s.write("earlier.json", &earlier);
    s.run(&["backup", "earlier.json", "--name", "earlier.json"])
        .expect_code(0);

    // Stream from stdin, and kill the process once uploads are under way everywhere.
    let mut child = s
        .command(&["backup", "-", "--name", "big.bin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let first = noise(10 * 1024 * 1024, 11);
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&first);
        // Keep the pipe open (the backup is "still reading") until the process is killed.
        std::thread::park();
        drop(stdin);
    });
    let local_temp = || {
        std::fs::read_dir(s.join("local")).is_ok_and(|mut d| {
            d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().contains("cloudmirror-tmp")))
        })
    };
    while !(local_temp()
        && fakes.dropbox.open_sessions() > 0
        && fakes.supabase.pending_uploads() > 0
        && !fakes.s3.open_multipart_uploads().is_empty())
    {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the backup ended early"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    writer.thread().unpark();
    writer.join().unwrap();

    // No partial backup is visible anywhere; the earlier one is intact.
    let list = s.run(&["list", "--json"]).expect_code(0);
    assert_eq!(listed_names(&list), vec!["earlier.json".to_owned()]);
    assert!(!fakes.s3.object_keys().iter().any(|k| k.contains("big")));
    assert!(!fakes
        .dropbox
        .object_keys()
        .iter()
        .any(|k| k.contains("big")));
    assert!(!fakes.gdrive.object_keys().iter().any(|k| k.contains("big")));
    assert!(!fakes
        .supabase
        .object_keys("backups")
        .iter()
        .any(|k| k.contains("big")));
    s.run(&["verify", "--deep"]).expect_code(0);
    s.run(&["restore", "earlier.json", "--from", "any", "-o", "e.json"])
        .expect_code(0);
    assert!(std::fs::read(s.join("e.json")).unwrap() == earlier);

    // The killed run left its spool file and the local temp file (hidden from listings). Aged
    // past a day, the next run removes them.
    let leftovers: Vec<std::path::PathBuf> = [s.join("spool"), s.join("local")]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap().filter_map(Result::ok))
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.contains("cloudmirror-spool-") || n.contains("cloudmirror-tmp-")
        })
        .collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");
    let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_hours(48);
    for p in &leftovers {
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(two_days_ago)
            .unwrap();
    }

    // Run again: the backup completes everywhere and is whole.
    let again = noise(10 * 1024 * 1024, 12);
    let run = s
        .run_with_stdin(&["backup", "-", "--name", "big.bin", "--json"], &again)
        .expect_code(0);
    assert_all_ok(&run);
    for p in &leftovers {
        assert!(!p.exists(), "stale {} removed", p.display());
    }
    s.run(&["verify", "--deep"]).expect_code(0);
    for dest in ALL {
        s.run(&[
            "restore", "big.bin", "--from", dest, "-o", "big.out", "--yes",
        ])
        .expect_code(0);
        assert!(std::fs::read(s.join("big.out")).unwrap() == again, "{dest}");
    }
}

#[test]
fn concurrent_backups_to_the_same_destinations_do_not_corrupt_each_other() {
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        "[[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"a\"\n\
         [[destinations]]\nname = \"b\"\ntype = \"local\"\npath = \"b\"\n",
    );
    let inputs: Vec<Vec<u8>> = (0..4u64).map(|i| noise(3 * 1024 * 1024, 100 + i)).collect();
    for (i, data) in inputs.iter().enumerate() {
        s.write(&format!("in{i}.bin"), data);
    }
    std::thread::scope(|scope| {
        for i in 0..4 {
            let s = &s;
            scope.spawn(move || {
                let src = format!("in{i}.bin");
                let name = format!("db{i}.bin.gz");
                s.run(&["backup", &src, "--name", &name]).expect_code(0);
            });
        }
    });
    let names = listed_names(&s.run(&["list", "--json"]).expect_code(0));
    assert_eq!(names.len(), 4, "{names:?}");
    s.run(&["verify", "--deep"]).expect_code(0);
    for (i, data) in inputs.iter().enumerate() {
        let out = format!("out{i}.bin");
        s.run(&["restore", &format!("db{i}.bin.gz"), "-o", &out])
            .expect_code(0);
        assert!(std::fs::read(s.join(&out)).unwrap() == *data, "backup {i}");
    }
}

#[test]
fn a_truncated_copy_is_flagged_refused_and_restore_falls_back() {
    let fakes = Fakes::start();
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        format!(
            "[[destinations]]\nname = \"local\"\ntype = \"local\"\npath = \"local\"\n\n{}",
            quick_retries(fakes.s3.destination_toml("s3"))
        ),
    );
    let data = json_export(20_000);
    s.write("db.json", &data);
    s.run(&["backup", "db.json", "--name", "db.json.gz"])
        .expect_code(0);
    // Truncate the local copy to half.
    let path = s.join("local/db.json.gz");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();

    let verify = s.run(&["verify", "--json"]).expect_code(1);
    let checks = verify.json()["checks"].as_array().unwrap().clone();
    let local = checks.iter().find(|c| c["destination"] == "local").unwrap();
    assert_ne!(local["status"], "ok", "{checks:?}");
    let refused = s
        .run(&["restore", "db.json.gz", "--from", "local", "-o", "out.json"])
        .expect_code(2);
    assert!(!s.join("out.json").exists(), "{}", refused.stderr);
    let fell_back = s
        .run(&[
            "restore",
            "db.json.gz",
            "--from",
            "any",
            "-o",
            "out.json",
            "--json",
        ])
        .expect_code(0);
    assert_eq!(fell_back.json()["destination"], "s3");
    assert!(std::fs::read(s.join("out.json")).unwrap() == data);
}

/// A size-capped tmpfs mounted for one test, unmounted when dropped. `None` when mounting is not
/// permitted (not root): the caller says so and tests what it can.
struct SmallDisk {
    path: std::path::PathBuf,
}

impl SmallDisk {
    fn mount(path: std::path::PathBuf, size: &str) -> Option<Self> {
        std::fs::create_dir_all(&path).expect("mount point");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Self { path })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.path)
            .status();
    }
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_full_disk_is_a_clean_error_with_no_half_written_file() {
    let s = Scratch::new();
    let Some(full) = SmallDisk::mount(s.join("full"), "1m") else {
        eprintln!("skipped: cannot mount a tmpfs here (not root); the local adapter's temp-file cleanup is covered by its unit tests");
        return;
    };
    let data = noise(3 * 1024 * 1024, 5);
    s.write("db.bin", &data);
    s.write(
        "cloudmirror.toml",
        "[backup]\ncompress = \"none\"\n\
         [[destinations]]\nname = \"ok\"\ntype = \"local\"\npath = \"ok\"\n\
         [[destinations]]\nname = \"full\"\ntype = \"local\"\npath = \"full\"\n",
    );

    // A destination on a full disk: it fails alone, naming the cause, and keeps no partial file.
    let run = s
        .run(&["backup", "db.bin", "--name", "db.bin"])
        .expect_code(1);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("failed  full"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(line.contains("No space left"), "{line}");
    assert!(
        files_in(&full.path).is_empty(),
        "{:?}",
        files_in(&full.path)
    );
    assert!(s.join("ok/db.bin").is_file());

    // The spool folder is checked first: 1 MiB free is below the last backup's 3 MiB (and below
    // spool_limit), so the backup refuses at once, naming the folder, the space and the setting.
    s.write(
        "cloudmirror.toml",
        "[backup]\ncompress = \"none\"\nspool_dir = \"full\"\n\
         [[destinations]]\nname = \"ok\"\ntype = \"local\"\npath = \"ok\"\n",
    );
    let run = s
        .run(&["backup", "db.bin", "--name", "spooled.bin"])
        .expect_code(2);
    assert!(
        run.stderr.contains("the spool folder ./full has")
            && run.stderr.contains("[backup] spool_dir")
            && run.stderr.contains("spool_limit"),
        "{}",
        run.stderr
    );
    assert!(files_in(&full.path).is_empty());

    // The spool filling the disk mid-backup (no earlier backup to size the check by, unlimited
    // spool): nothing is stored anywhere, exit 2, no spool file left.
    s.write(
        "cloudmirror.toml",
        "[backup]\ncompress = \"none\"\nspool_dir = \"full\"\nspool_limit = \"unlimited\"\n\
         [[destinations]]\nname = \"ok\"\ntype = \"local\"\npath = \"fresh\"\n",
    );
    let run = s
        .run(&["backup", "db.bin", "--name", "spooled.bin"])
        .expect_code(2);
    assert!(
        run.stderr.contains("No space left") || run.stdout.contains("No space left"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    s.write(
        "cloudmirror.toml",
        "[backup]\ncompress = \"none\"\nspool_dir = \"full\"\n\
         [[destinations]]\nname = \"ok\"\ntype = \"local\"\npath = \"ok\"\n",
    );
    assert!(
        files_in(&full.path).is_empty(),
        "{:?}",
        files_in(&full.path)
    );
    assert!(!s.join("ok/spooled.bin").exists());
    assert_eq!(
        listed_names(&s.run(&["list", "--json"])),
        vec!["db.bin".to_owned()]
    );

    // A restore onto a full disk: exit 2, no half-written output.
    let run = s
        .run(&["restore", "db.bin", "-o", "full/restored.bin"])
        .expect_code(2);
    assert!(run.stderr.contains("No space left"), "{}", run.stderr);
    assert!(
        files_in(&full.path).is_empty(),
        "{:?}",
        files_in(&full.path)
    );
}
