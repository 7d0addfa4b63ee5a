//! `daemon` runs the job on its schedule and stops cleanly on SIGTERM; `[notify]` POSTs a summary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::Scratch;

/// A one-route HTTP server on 127.0.0.1 that records request bodies and answers 200 (or `status`).
struct Webhook {
    url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Webhook {
    fn start(status: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = bodies.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { break };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut len = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                let _ = reader.read_exact(&mut body);
                if let Ok(v) = serde_json::from_slice(&body) {
                    seen.lock().unwrap().push(v);
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        Self { url, bodies }
    }

    fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().unwrap().clone()
    }
}

#[test]
fn daemon_runs_on_schedule_notifies_and_stops_on_sigterm() {
    let hook = Webhook::start(200);
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        format!(
            "[backup]\nexec = \"seq 1 1000\"\nname = \"seq-{{timestamp}}.txt\"\n\n[schedule]\ncron = \"* * * * * *\"\n\n[notify]\nwebhook_url = \"{}\"\n\n[[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"a\"\n",
            hook.url
        ),
    );
    let child = s
        .command(&["daemon"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_mins(1);
    let manifests = || {
        std::fs::read_dir(s.join("a")).map_or(0, |d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".manifest.json"))
                .count()
        })
    };
    while manifests() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(manifests() >= 2, "two scheduled runs within 60 s");
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "daemon exit {:?}: {stderr}",
        out.status
    );
    assert!(stderr.contains("stopped after"), "{stderr}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while hook.bodies().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let bodies = hook.bodies();
    assert!(bodies.len() >= 2, "one notification per run: {bodies:?}");
    assert_eq!(bodies[0]["tool"], "cloudmirror");
    assert_eq!(bodies[0]["ok"], true);
    assert_eq!(bodies[0]["destinations"][0]["destination"], "a");
    assert!(bodies[0]["manifest"]["stored_size"].as_u64().unwrap() > 0);
}

#[test]
fn notify_on_failure_only_and_a_failing_webhook_is_a_warning() {
    let hook = Webhook::start(200);
    let s = Scratch::new();
    s.write("blocker", "x");
    let config = |url: &str| {
        format!(
            "[notify]\nwebhook_url = \"{url}\"\non = \"failure\"\n\n[[destinations]]\nname = \"good\"\ntype = \"local\"\npath = \"good\"\n\n[[destinations]]\nname = \"bad\"\ntype = \"local\"\npath = \"blocker/x\"\n"
        )
    };
    s.write("cloudmirror.toml", config(&hook.url));
    s.write("db.json", "{\"a\":1}");
    s.run(&["backup", "db.json", "--to", "good"]).expect_code(0);
    s.run(&["backup", "db.json"]).expect_code(1);
    let bodies = hook.bodies();
    assert_eq!(
        bodies.len(),
        1,
        "only the failed run is reported: {bodies:?}"
    );
    assert_eq!(bodies[0]["ok"], false);
    assert_eq!(bodies[0]["exit_code"], 1);

    let broken = Webhook::start(500);
    s.write("cloudmirror.toml", config(&broken.url));
    let run = s.run(&["backup", "db.json"]).expect_code(1);
    assert!(run.stderr.contains("notification failed"), "{}", run.stderr);
    assert!(
        !run.stderr.contains(&broken.url),
        "the webhook URL is never printed: {}",
        run.stderr
    );
}

#[test]
fn daemon_needs_a_schedule_and_a_job() {
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        "[[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"a\"\n",
    );
    let run = s.run(&["daemon"]).expect_code(2);
    assert!(run.stderr.contains("[schedule]"), "{}", run.stderr);
    s.write("cloudmirror.toml", "[schedule]\ncron = \"0 2 * * *\"\n[[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"a\"\n");
    let run = s.run(&["daemon"]).expect_code(2);
    assert!(run.stderr.contains("[backup] exec"), "{}", run.stderr);
    s.write("cloudmirror.toml", "[backup]\nexec = \"true\"\n[schedule]\ncron = \"99 2 * * *\"\n[[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"a\"\n");
    let run = s.run(&["daemon"]).expect_code(2);
    assert!(run.stderr.contains("schedule.cron"), "{}", run.stderr);
}
