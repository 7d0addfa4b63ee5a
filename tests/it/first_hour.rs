//! What a person sees in the first hour when something is wrong: one-line connection errors
//! naming the destination and the root cause for every adapter, short retry lines, no colour codes
//! in redirected stderr, `status` for an unreachable destination, `list` exit codes, the
//! "did you mean" hint and a folder restore into an existing empty folder.

use crate::common::{Run, Scratch};
use crate::fakes::Fakes;

const ADAPTERS: [(&str, &str); 5] = [
    ("s3", "s3"),
    ("dropbox", "dropbox"),
    ("drive", "gdrive"),
    ("supabase", "supabase"),
    ("dav", "webdav"),
];

/// Every destination of `Fakes::config` plus a WebDAV one, all pointing at `base` (a closed port
/// or an unknown host), with a one-second retry budget.
fn config_towards(fakes: &Fakes, base: &str) -> String {
    let mut c = fakes.config();
    for uri in [
        fakes.s3.uri(),
        fakes.dropbox.uri(),
        fakes.gdrive.uri(),
        fakes.supabase.uri(),
    ] {
        c = c.replace(&uri, base);
    }
    c = c.replace("retry_for = \"5s\"", "retry_for = \"1s\"");
    format!(
        "{c}\n[[destinations]]\nname = \"dav\"\ntype = \"webdav\"\nurl = \"{base}/dav/\"\nuser = \"u\"\npassword = \"p\"\nretry_for = \"1s\"\n"
    )
}

/// No `Debug` text, no cause said twice, no colour codes: what a person reads in cron mail.
#[track_caller]
fn assert_readable(run: &Run) {
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(!all.contains('\u{1b}'), "ANSI codes in redirected output:\n{all}");
    for bad in ["DispatchFailure", "ConnectorError", "Some(", "{ ", "error sending request"] {
        assert!(!all.contains(bad), "internals ({bad}) in:\n{all}");
    }
    for line in all.lines() {
        let lower = line.to_lowercase();
        for cause in ["refused", "not found", "os error"] {
            assert!(
                lower.matches(cause).count() <= 1,
                "cause repeated in one line: {line}"
            );
        }
    }
}

#[test]
fn a_refused_connection_is_one_line_naming_destination_and_cause_for_every_adapter() {
    let fakes = Fakes::start();
    let s = Scratch::new();
    s.write("cloudmirror.toml", config_towards(&fakes, "http://127.0.0.1:1"));
    for (name, backend) in ADAPTERS {
        let run = s.run(&["list", "--to", name]).expect_code(2);
        assert_readable(&run);
        let want = format!(
            "warning: cannot list {name}: {backend}: cannot connect to http://127.0.0.1:1: connection refused"
        );
        assert!(
            run.stderr.lines().any(|l| l.starts_with(&want)),
            "{name}: want a line starting {want:?} in:\n{}",
            run.stderr
        );
        // Each retry is one short WARN line naming the destination, attempt, wait and reason.
        let retries: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.contains(" WARN ") && l.contains("retrying in"))
            .collect();
        assert!(!retries.is_empty(), "{name}: no retry line:\n{}", run.stderr);
        for l in retries {
            assert!(
                l.contains(&format!("dest{{name={name}}}"))
                    && l.contains("attempt ")
                    && l.contains("retrying in ")
                    && l.ends_with("cannot connect to http://127.0.0.1:1: connection refused"),
                "{name}: retry line: {l}"
            );
        }
    }
}

#[test]
fn an_unknown_host_is_named_as_such_for_every_adapter() {
    let fakes = Fakes::start();
    let s = Scratch::new();
    // RFC 6761: `.invalid` never resolves, so this needs no network and fails at the resolver.
    let base = "http://cloudmirror-test.invalid:9";
    s.write("cloudmirror.toml", config_towards(&fakes, base));
    for (name, backend) in ADAPTERS {
        let run = s.run(&["list", "--to", name]).expect_code(2);
        assert_readable(&run);
        let want = format!(
            "warning: cannot list {name}: {backend}: cannot connect to {base}: DNS name not found"
        );
        assert!(
            run.stderr.lines().any(|l| l.starts_with(&want)),
            "{name}: want {want:?} in:\n{}",
            run.stderr
        );
    }
}
