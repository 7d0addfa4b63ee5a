//! Helpers shared by the end-to-end tests: a scratch folder and a way to run the binary in it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A temporary folder the binary runs in; removed when dropped.
pub struct Scratch {
    dir: tempfile::TempDir,
}

/// What one run of the binary did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with both outputs unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Parses stdout as one JSON document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

impl Scratch {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Writes a file (creating folders).
    pub fn write(&self, p: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(p);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, content).expect("write");
        path
    }

    /// A command running the binary in this folder, with a clean cloudmirror environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloudmirror"));
        cmd.args(args)
            .current_dir(self.path())
            .env_remove("CLOUDMIRROR_CONFIG")
            .env_remove("CLOUDMIRROR_LOG")
            .stdin(Stdio::null());
        cmd
    }

    /// A command running `program` with `pre` then the binary's path then `args`, in this folder
    /// with the same clean environment as [`Self::command`] (for wrappers such as `sh -c`).
    pub fn command_via(&self, program: &str, pre: &[&str], args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(pre)
            .arg(env!("CARGO_BIN_EXE_cloudmirror"))
            .args(args)
            .current_dir(self.path())
            .env_remove("CLOUDMIRROR_CONFIG")
            .env_remove("CLOUDMIRROR_LOG")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs the binary with `args` and waits.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("run cloudmirror"))
    }

    /// Runs the binary with `input` on standard input.
    pub fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut stdin = child.stdin.take().expect("stdin");
        let data = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let out = child.wait_with_output().expect("wait");
        writer.join().expect("stdin writer");
        Run::from(out)
    }
}

/// A JSON-lines export that compresses like a real database dump.
pub fn json_export(rows: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..rows {
        out.extend_from_slice(
            format!(
                "{{\"id\":{i},\"org\":\"org-{}\",\"email\":\"user{i}@example.com\",\"name\":\"Ünïcödé User {i}\",\"active\":{}}}\n",
                i % 97,
                i % 3 == 0
            )
            .as_bytes(),
        );
    }
    out
}

/// Names of complete backups in a `list --json` output.
pub fn listed_names(run: &Run) -> Vec<String> {
    run.json()["backups"]
        .as_array()
        .expect("backups array")
        .iter()
        .map(|b| b["name"].as_str().expect("name").to_owned())
        .collect()
}

/// Whether the tests run under CI (`CI=true`), where a test that cannot run fails instead of
/// skipping (`docs/testing.md`).
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Says that a test is skipped and why; under CI, fails it instead.
#[track_caller]
pub fn skip(why: &str) {
    assert!(
        !under_ci(),
        "CI=true, so this test may not be skipped: {why}"
    );
    eprintln!("skipped: {why}");
}

/// Polls `ready` every 20 ms until it holds; panics naming `what` after `limit`, so a bug fails
/// the test instead of hanging CI.
#[track_caller]
pub fn wait_until(what: &str, limit: std::time::Duration, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "gave up after {limit:?} waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
