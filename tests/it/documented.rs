//! Behaviour the docs promise that no other test pins down: `[backup] source`, the failure branch
//! of `backup --verify`, `--log-format json`, and the daemon finishing the run under way when
//! SIGTERM arrives.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{json_export, listed_names, wait_until, Scratch};
use crate::fakes::Fakes;

#[test]
fn backup_without_a_source_backs_up_the_configured_source() {
    let s = Scratch::new();
    let data = json_export(500);
    s.write("exports/db.json", &data);
    s.write(
        "cloudmirror.toml",
        "[backup]\nsource = \"exports/db.json\"\nname = \"nightly{ext}\"\n\n\
         [[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"a\"\n",
    );
    s.run(&["backup"]).expect_code(0);
    let names = listed_names(&s.run(&["list", "--json"]).expect_code(0));
    assert_eq!(names, vec!["nightly.json.gz".to_owned()]);
    s.run(&["restore", "nightly.json.gz", "-o", "out.json"])
        .expect_code(0);
    assert!(std::fs::read(s.join("out.json")).unwrap() == data);

    // A source on the command line wins over the configured one.
    s.write("other.json", "{\"other\":true}\n");
    s.run(&["backup", "other.json", "--name", "other.json.gz"])
        .expect_code(0);
    s.run(&["restore", "other.json.gz", "-o", "other.out"])
        .expect_code(0);
    assert_eq!(
        std::fs::read_to_string(s.join("other.out")).unwrap(),
        "{\"other\":true}\n"
    );

    // A configured source that is missing is bad input naming it.
    s.write(
        "cloudmirror.toml",
        "[backup]\nsource = \"exports/gone.json\"\n\n\
         [[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"a\"\n",
    );
    let run = s.run(&["backup"]).expect_code(2);
    assert!(run.stderr.contains("exports/gone.json"), "{}", run.stderr);
}

#[test]
fn backup_verify_fails_a_destination_whose_stored_copy_is_damaged() {
    let fakes = Fakes::start();
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        format!(
            "[[destinations]]\nname = \"local\"\ntype = \"local\"\npath = \"local\"\n\n{}",
            crate::fakes::quick_retries(fakes.supabase.destination_toml("supabase"))
        ),
    );
    s.write("db.json", json_export(2000));
    // Supabase answers success but keeps damaged bytes (same size, other content).
    fakes.supabase.damage_next_commit_of("db.json.gz");
    let run = s
        .run(&[
            "backup",
            "db.json",
            "--name",
            "db.json.gz",
            "--verify",
            "--json",
        ])
        .expect_code(1);
    let report = run.json();
    let dests = report["destinations"].as_array().unwrap();
    let by_name = |n: &str| dests.iter().find(|d| d["destination"] == n).unwrap();
    assert_eq!(by_name("local")["ok"], true, "{report}");
    let sb = by_name("supabase");
    assert_eq!(sb["ok"], false, "{report}");
    let error = sb["error"].as_str().unwrap();
    assert!(
        error.contains("verification") && error.contains("sha256"),
        "the failure names the check: {error}"
    );
    // Without --verify the same damage goes unnoticed at backup time (exit 0): the flag is what
    // caught it.
    fakes.supabase.damage_next_commit_of("again.json.gz");
    s.run(&["backup", "db.json", "--name", "again.json.gz"])
        .expect_code(0);
}

/// Every stderr line of `run` parses as a JSON object with a level and a message.
#[track_caller]
fn assert_json_lines(stderr: &str) -> Vec<serde_json::Value> {
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("a stderr line is not JSON ({e}): {l}\n{stderr}"));
            assert!(v["level"].is_string(), "no level: {l}");
            assert!(v["fields"].is_object(), "no fields: {l}");
            assert!(v["fields"]["message"].is_string(), "no message: {l}");
            assert!(v["timestamp"].is_string(), "no timestamp: {l}");
            v
        })
        .collect();
    lines
}

#[test]
fn log_format_json_makes_every_stderr_line_json() {
    let s = Scratch::new();
    // A symlink to itself: every write into it and every listing of it fails (ELOOP), even as root.
    std::os::unix::fs::symlink("loop", s.join("loop")).unwrap();
    s.write(
        "cloudmirror.toml",
        "[[destinations]]\nname = \"good\"\ntype = \"local\"\npath = \"good\"\n\n\
         [[destinations]]\nname = \"bad\"\ntype = \"local\"\npath = \"loop/x\"\n",
    );
    s.write("db.json", json_export(200));

    // A partial backup at -v: debug events, a failed destination.
    let run = s
        .run(&["backup", "db.json", "-v", "--log-format", "json"])
        .expect_code(1);
    let lines = assert_json_lines(&run.stderr);
    assert!(lines.len() >= 2, "{}", run.stderr);

    // An error printed by the command itself (no backup of that name).
    let run = s
        .run(&["restore", "nope.gz", "-o", "x", "--log-format", "json"])
        .expect_code(2);
    let lines = assert_json_lines(&run.stderr);
    assert!(
        lines.iter().any(|l| l["level"] == "ERROR"
            && l["fields"]["message"].as_str().unwrap().contains("nope.gz")),
        "{}",
        run.stderr
    );

    // A warning printed outside tracing (a destination that cannot be listed).
    let run = s.run(&["list", "--log-format", "json"]).expect_code(1);
    let lines = assert_json_lines(&run.stderr);
    assert!(lines.iter().any(|l| l["level"] == "WARN"), "{}", run.stderr);

    // The text format stays text.
    let run = s.run(&["list"]).expect_code(1);
    assert!(
        run.stderr.contains("warning: cannot list bad"),
        "{}",
        run.stderr
    );
}

#[test]
fn daemon_finishes_the_run_under_way_when_sigterm_arrives() {
    let s = Scratch::new();
    // The job writes half its output, pauses, then writes the rest: SIGTERM lands mid-run.
    s.write(
        "cloudmirror.toml",
        "[backup]\nexec = \"seq 1 1000; sleep 3; seq 1001 2000\"\nname = \"seq-{timestamp}.txt\"\n\n\
         [schedule]\ncron = \"* * * * * *\"\n\n\
         [[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"a\"\n",
    );
    let mut child = s
        .command(&["daemon"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = lines.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            seen.lock().unwrap().push(line);
        }
    });
    let has = |needle: &str| lines.lock().unwrap().iter().any(|l| l.contains(needle));
    wait_until("the first run to start", Duration::from_mins(1), || {
        has("run 1 started")
    });
    // Give the job time to start writing, well inside its 3 s pause.
    std::thread::sleep(Duration::from_millis(500));
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut status = None;
    wait_until(
        "the daemon to exit after the run",
        Duration::from_mins(1),
        || {
            status = child.try_wait().unwrap();
            status.is_some()
        },
    );
    reader.join().unwrap();
    let log = lines.lock().unwrap().join("\n");
    assert_eq!(status.unwrap().code(), Some(0), "{log}");
    assert!(log.contains("stopping (after the run under way"), "{log}");
    assert!(log.contains("run 1 finished with exit code 0"), "{log}");
    assert!(log.contains("stopped after 1 run(s)"), "{log}");
    assert!(
        !log.contains("run 2 started"),
        "no run after the signal: {log}"
    );
    // The run completed: its backup holds the job's whole output, including what came after the
    // signal.
    let names = listed_names(&s.run(&["list", "--json"]).expect_code(0));
    assert_eq!(names.len(), 1, "{names:?}");
    s.run(&["restore", &names[0], "-o", "out.txt"])
        .expect_code(0);
    let expected: String = (1..=2000).map(|i| format!("{i}\n")).collect();
    assert_eq!(
        std::fs::read_to_string(s.join("out.txt")).unwrap(),
        expected
    );
}
