//! The daemon with several `[[jobs]]`: each on its own (second-level) schedule, never overlapping
//! itself, at most `[daemon] max_parallel` at once, `catch_up`, and SIGTERM past
//! `shutdown_grace` cancelling a run without leaving a partial object or a spool behind.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{wait_until, Scratch};

/// Appends `start JOB T` and `end JOB T` (Unix seconds with fractions) around a pause of `$2`
/// seconds, then prints the backup's bytes.
const LOG_SH: &str = "echo \"start $1 $(date +%s.%N)\" >> runs.log\nsleep $2\necho \"end $1 $(date +%s.%N)\" >> runs.log\necho \"data of $1\"\n";

fn three_jobs(max_parallel: usize) -> String {
    format!(
        "[daemon]\nmax_parallel = {max_parallel}\n\n\
         [[destinations]]\nname = \"local\"\ntype = \"local\"\npath = \"store\"\n\n\
         [[jobs]]\nname = \"fast\"\nschedule = \"* * * * * *\"\n[jobs.backup]\nexec = \"sh log.sh fast 0\"\nname = \"fast-{{timestamp}}.txt\"\n\n\
         [[jobs]]\nname = \"slow\"\nschedule = \"* * * * * *\"\n[jobs.backup]\nexec = \"sh log.sh slow 2.5\"\nname = \"slow-{{timestamp}}.txt\"\n\n\
         [[jobs]]\nname = \"even\"\nschedule = \"*/2 * * * * *\"\n[jobs.backup]\nexec = \"sh log.sh even 0\"\nname = \"even-{{timestamp}}.txt\"\n"
    )
}

/// A running daemon whose stderr is collected; killed if the test fails before it stops.
struct Daemon {
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    fn start(s: &Scratch) -> Self {
        let mut child = s
            .command(&["daemon"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let seen = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                seen.lock().unwrap().push(line);
            }
        });
        Self {
            child: Some(child),
            lines,
        }
    }

    fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Sends SIGTERM and waits for the exit code.
    fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take().unwrap();
        let kill = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let mut status = None;
        wait_until("the daemon to stop", Duration::from_mins(1), || {
            status = child.try_wait().unwrap();
            status.is_some()
        });
        // Let the stderr reader drain.
        std::thread::sleep(Duration::from_millis(200));
        status.and_then(|s| s.code())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Each job's runs as (start, end) times, from `runs.log`.
fn runs(s: &Scratch) -> Vec<(String, f64, f64)> {
    let log = std::fs::read_to_string(s.join("runs.log")).unwrap_or_default();
    let mut open: Vec<(String, f64)> = Vec::new();
    let mut done = Vec::new();
    for line in log.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        let t: f64 = parts[2].parse().unwrap();
        if parts[0] == "start" {
            open.push((parts[1].to_owned(), t));
        } else {
            let i = open.iter().position(|(j, _)| j == parts[1]).unwrap();
            let (job, start) = open.remove(i);
            done.push((job, start, t));
        }
    }
    done
}

fn overlap(a: &(String, f64, f64), b: &(String, f64, f64)) -> bool {
    a.1 < b.2 && b.1 < a.2
}

fn count(runs: &[(String, f64, f64)], job: &str) -> usize {
    runs.iter().filter(|r| r.0 == job).count()
}

#[test]
fn jobs_run_on_their_own_schedules_and_never_overlap_themselves() {
    let s = Scratch::new();
    s.write("cloudmirror.toml", three_jobs(3));
    s.write("log.sh", LOG_SH);
    let mut daemon = Daemon::start(&s);
    wait_until("three runs of slow", Duration::from_mins(1), || {
        count(&runs(&s), "slow") >= 3
    });
    assert_eq!(daemon.stop(), Some(0), "{}", daemon.log());
    let log = daemon.log();
    let runs = runs(&s);
    for r in runs.iter().filter(|r| r.0 == "even") {
        // `*/2` seconds: started in an even second (the shell starts well within it).
        assert_eq!((r.1.floor() as u64) % 2, 0, "{runs:?}");
    }
    let slow: Vec<_> = runs.iter().filter(|r| r.0 == "slow").collect();
    for (i, a) in slow.iter().enumerate() {
        for b in &slow[i + 1..] {
            assert!(!overlap(a, b), "slow overlapped itself: {slow:?}");
        }
    }
    assert!(count(&runs, "fast") >= 3, "{runs:?}");
    assert!(count(&runs, "even") >= 2, "{runs:?}");
    assert!(
        log.contains("skipping the run (job slow)") && log.contains("still going"),
        "{log}"
    );
    // Every job stored under its own prefix.
    for job in ["fast", "slow", "even"] {
        assert!(s.join("store").join(job).is_dir(), "{job}");
    }
}

#[test]
fn max_parallel_one_runs_one_job_at_a_time() {
    let s = Scratch::new();
    s.write("cloudmirror.toml", three_jobs(1));
    s.write("log.sh", LOG_SH);
    let mut daemon = Daemon::start(&s);
    wait_until(
        "two runs of slow and of fast",
        Duration::from_mins(1),
        || {
            let r = runs(&s);
            count(&r, "slow") >= 2 && count(&r, "fast") >= 2
        },
    );
    assert_eq!(daemon.stop(), Some(0), "{}", daemon.log());
    let runs = runs(&s);
    for (i, a) in runs.iter().enumerate() {
        for b in &runs[i + 1..] {
            assert!(!overlap(a, b), "two runs at once: {a:?} {b:?}");
        }
    }
}

#[test]
fn sigterm_past_the_grace_cancels_the_run_cleanly() {
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        "[daemon]\nshutdown_grace = \"1s\"\n\n\
         [[destinations]]\nname = \"local\"\ntype = \"local\"\npath = \"store\"\n\n\
         [[jobs]]\nname = \"db\"\nschedule = \"* * * * * *\"\n[jobs.backup]\n\
         exec = \"echo $$ > group; seq 1 200000; touch started; sleep 120; seq 1 10\"\n\
         spool_dir = \"spool\"\nspool_limit = \"unlimited\"\n",
    );
    std::fs::create_dir(s.join("spool")).unwrap();
    let mut daemon = Daemon::start(&s);
    wait_until("the job to be mid-run", Duration::from_mins(1), || {
        s.join("started").exists()
    });
    assert_eq!(daemon.stop(), Some(0), "{}", daemon.log());
    let log = daemon.log();
    assert!(log.contains("cancelling 1 run(s)"), "{log}");
    // Nothing partial is visible, no temp file is left, and the spool is gone.
    let mut left = Vec::new();
    for entry in walk(&s.join("store")) {
        left.push(entry);
    }
    assert!(left.is_empty(), "left in the store: {left:?}");
    assert!(walk(&s.join("spool")).is_empty(), "spool left behind");
    // The command's whole process group (the shell and its `sleep`) was killed (zombies waiting
    // for init to reap them count as gone).
    let group = std::fs::read_to_string(s.join("group")).unwrap();
    let group = group.trim().to_owned();
    wait_until(
        "the exec command's process group to be gone",
        Duration::from_secs(20),
        || !group_alive(&group),
    );
}

/// Whether a process of group `pgid` is alive (not a zombie).
fn group_alive(pgid: &str) -> bool {
    let out = std::process::Command::new("ps")
        .args(["-eo", "pgid=,stat="])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().any(|l| {
        let mut f = l.split_whitespace();
        f.next() == Some(pgid) && f.next().is_some_and(|st| !st.starts_with('Z'))
    })
}

#[test]
fn catch_up_runs_a_missed_job_once_at_start() {
    let s = Scratch::new();
    let config = |catch_up: bool| {
        format!(
            "[daemon]\ncatch_up = {catch_up}\n\n\
             [[destinations]]\nname = \"local\"\ntype = \"local\"\npath = \"store\"\n\n\
             [[jobs]]\nname = \"yearly\"\nschedule = \"0 0 1 1 *\"\n[jobs.backup]\nexec = \"echo hi\"\n"
        )
    };
    s.write("cloudmirror.toml", config(false));
    let mut daemon = Daemon::start(&s);
    wait_until("the daemon to wait", Duration::from_mins(1), || {
        daemon.log().contains("next run at")
    });
    assert_eq!(daemon.stop(), Some(0));
    assert!(walk(&s.join("store")).is_empty(), "no catch-up when off");

    s.write("cloudmirror.toml", config(true));
    let mut daemon = Daemon::start(&s);
    wait_until("the catch-up run", Duration::from_mins(1), || {
        daemon.log().contains("finished with exit code 0")
    });
    assert_eq!(daemon.stop(), Some(0));
    assert!(daemon.log().contains("catching up (job yearly)"));
    assert_eq!(
        walk(&s.join("store")).len(),
        2,
        "one backup and its manifest"
    );

    // Started again: the backup made above is newer than the last scheduled time, so nothing
    // is missed any more.
    let mut daemon = Daemon::start(&s);
    wait_until("the daemon to wait again", Duration::from_mins(1), || {
        daemon.log().contains("next run at")
    });
    assert_eq!(daemon.stop(), Some(0));
    assert!(!daemon.log().contains("catching up"), "{}", daemon.log());
    assert_eq!(walk(&s.join("store")).len(), 2, "no second catch-up");
}

/// Every file under `dir` (none when it does not exist).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for e in entries.filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}
