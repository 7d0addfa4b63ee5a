//! `[daemon] listen`: `/metrics` parsed by a Prometheus text parser matches what was stored,
//! `/healthz` flips to 503 naming the job and destination when a destination stops accepting
//! backups, other paths and methods are refused, and a taken port is a clear startup error.

// The values compared are whole numbers, exact in f64.
#![allow(clippy::float_cmp)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::common::{wait_until, Scratch};

/// A free port on 127.0.0.1 (bound, then released for the daemon).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Status code and body of one request (`None` while nothing listens).
fn request(port: u16, method: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let code = head.split(' ').nth(1)?.parse().ok()?;
    Some((code, body.to_owned()))
}

/// The daemon, killed when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(s: &Scratch) -> Daemon {
    Daemon(
        s.command(&["daemon"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn value(scrape: &prometheus_parse::Scrape, name: &str, job: &str, dest: Option<&str>) -> f64 {
    let sample = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == name
                && s.labels.get("backup_job") == Some(job)
                && s.labels.get("destination") == dest
        })
        .unwrap_or_else(|| panic!("no {name} for {job}/{dest:?}"));
    match sample.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        _ => panic!("{name}: not a plain value"),
    }
}

#[test]
fn metrics_parse_and_match_what_was_stored() {
    let s = Scratch::new();
    let port = free_port();
    // Yearly schedules with catch_up: each job runs once at start, then the numbers hold still.
    s.write(
        "cloudmirror.toml",
        format!(
            "[daemon]\nlisten = \"127.0.0.1:{port}\"\ncatch_up = true\nmax_parallel = 2\n\n\
             [[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"store\"\n\n\
             [[jobs]]\nname = \"db\"\nschedule = \"0 0 1 1 *\"\n[jobs.backup]\nexec = \"seq 1 5000\"\nname = \"db.txt.gz\"\n\n\
             [[jobs]]\nname = \"files\"\nschedule = \"0 0 1 1 *\"\n[jobs.backup]\nexec = \"seq 1 100\"\nname = \"files.txt.gz\"\n"
        ),
    );
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let _daemon = start(&s);
    let manifests = [
        "store/db/db.txt.gz.manifest.json",
        "store/files/files.txt.gz.manifest.json",
    ];
    wait_until("both catch-up runs", Duration::from_mins(1), || {
        manifests.iter().all(|m| s.join(m).is_file())
    });
    let mut scrape = None;
    wait_until("the runs to be recorded", Duration::from_mins(1), || {
        let Some((200, body)) = request(port, "GET", "/metrics") else {
            return false;
        };
        let lines = body.lines().map(|l| Ok(l.to_owned()));
        let parsed = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
        let done = parsed.samples.iter().any(|x| {
            x.metric == "cloudmirror_job_running"
                && x.labels.get("backup_job") == Some("files")
                && matches!(x.value, prometheus_parse::Value::Gauge(v) if v == 0.0)
        }) && parsed
            .samples
            .iter()
            .filter(|x| x.metric == "cloudmirror_last_run_success")
            .count()
            == 2;
        scrape = Some(parsed);
        done
    });
    let scrape = scrape.unwrap();
    for (job, file) in [
        ("db", "store/db/db.txt.gz"),
        ("files", "store/files/files.txt.gz"),
    ] {
        let stored = std::fs::metadata(s.join(file)).unwrap().len() as f64;
        let d = Some("a");
        assert_eq!(value(&scrape, "cloudmirror_stored_bytes", job, d), stored);
        assert_eq!(value(&scrape, "cloudmirror_backups", job, d), 1.0);
        assert_eq!(value(&scrape, "cloudmirror_last_run_success", job, d), 1.0);
        assert_eq!(value(&scrape, "cloudmirror_failures_total", job, d), 0.0);
        assert_eq!(value(&scrape, "cloudmirror_job_running", job, None), 0.0);
        let last = value(
            &scrape,
            "cloudmirror_last_success_timestamp_seconds",
            job,
            d,
        );
        assert!(last >= started.floor() - 1.0, "{last} vs {started}");
        let took = value(&scrape, "cloudmirror_last_run_duration_seconds", job, d);
        assert!(took > 0.0, "{took}");
    }
    // Only GET /metrics and /healthz.
    assert_eq!(request(port, "GET", "/nope").unwrap().0, 404);
    assert_eq!(request(port, "POST", "/metrics").unwrap().0, 405);
    assert_eq!(request(port, "DELETE", "/healthz").unwrap().0, 405);
    assert_eq!(request(port, "GET", "/healthz").unwrap().0, 200);
}

#[test]
fn healthz_flips_to_503_when_a_destination_stops_accepting_backups() {
    let s = Scratch::new();
    let port = free_port();
    s.write(
        "cloudmirror.toml",
        format!(
            "[daemon]\nlisten = \"127.0.0.1:{port}\"\n\n\
             [[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"store-a\"\n\n\
             [[destinations]]\nname = \"b\"\ntype = \"local\"\npath = \"store-b\"\n\n\
             [[jobs]]\nname = \"db\"\nschedule = \"* * * * * *\"\n[jobs.backup]\nexec = \"seq 1 100\"\nname = \"db-{{timestamp}}.txt\"\n"
        ),
    );
    let _daemon = start(&s);
    wait_until("/healthz 200 after a run", Duration::from_mins(1), || {
        s.join("store-b/db").is_dir() && matches!(request(port, "GET", "/healthz"), Some((200, _)))
    });
    // Turn `b` off: its folder becomes a file, so it can neither store nor list.
    std::fs::remove_dir_all(s.join("store-b")).unwrap();
    s.write("store-b", "not a folder");
    let mut body = String::new();
    wait_until("/healthz 503", Duration::from_mins(1), || {
        match request(port, "GET", "/healthz") {
            Some((503, b)) => {
                body = b;
                true
            }
            _ => false,
        }
    });
    let v: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(v["ok"], false, "{body}");
    let stale = v["stale"].as_array().unwrap();
    assert_eq!(stale.len(), 1, "{body}");
    assert_eq!(stale[0]["job"], "db");
    assert_eq!(stale[0]["destination"], "b");
}

#[test]
fn a_taken_port_is_a_startup_error() {
    let s = Scratch::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    s.write(
        "cloudmirror.toml",
        format!(
            "[daemon]\nlisten = \"127.0.0.1:{port}\"\n\n\
             [[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"store\"\n\n\
             [[jobs]]\nname = \"db\"\nschedule = \"0 3 * * *\"\n[jobs.backup]\nexec = \"seq 1 10\"\n"
        ),
    );
    let run = s.run(&["daemon"]).expect_code(2);
    assert!(
        run.stderr
            .contains(&format!("daemon.listen: cannot listen on 127.0.0.1:{port}")),
        "{}",
        run.stderr
    );
    drop(taken);
}
