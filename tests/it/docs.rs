//! Shell completions and the man page are generated from the same definitions as `--help`, and
//! cover every subcommand.

use crate::common::Scratch;

const SUBCOMMANDS: [&str; 11] = [
    "backup",
    "daemon",
    "list",
    "restore",
    "verify",
    "prune",
    "status",
    "check",
    "init",
    "completions",
    "delete",
];

#[test]
fn completions_for_each_shell_name_every_subcommand() {
    let s = Scratch::new();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let run = s.run(&["completions", shell]).expect_code(0);
        for sub in SUBCOMMANDS {
            assert!(run.stdout.contains(sub), "{shell}: {sub} missing");
        }
        assert!(
            run.stdout.contains("read-only"),
            "{shell}: check's --read-only"
        );
    }
    let bad = s.run(&["completions", "tcsh"]).expect_code(2);
    assert!(bad.stderr.contains("tcsh"), "{}", bad.stderr);
}

#[test]
fn the_man_page_documents_every_subcommand() {
    let s = Scratch::new();
    let run = s.run(&["man"]).expect_code(0);
    assert!(
        run.stdout.starts_with(".ie") || run.stdout.contains(".TH cloudmirror"),
        "{}",
        &run.stdout[..200.min(run.stdout.len())]
    );
    assert!(run.stdout.contains(".TH cloudmirror 1"), "roff title");
    for sub in SUBCOMMANDS {
        assert!(run.stdout.contains(sub), "{sub} missing from the man page");
    }
    // `man` itself is hidden from --help.
    let help = s.run(&["--help"]).expect_code(0);
    assert!(!help.stdout.contains("\n  man "), "{}", help.stdout);
    assert!(help.stdout.contains("completions"), "{}", help.stdout);
}
