//! What a person sees in the first hour when something is wrong: one-line connection errors
//! naming the destination and the root cause for every adapter, short retry lines, no colour codes
//! in redirected stderr, `status` for an unreachable destination, `list` exit codes, the
//! "did you mean" hint and a folder restore into an existing empty folder.

use crate::common::{Run, Scratch};
use crate::fakes::Fakes;

const ADAPTERS: [(&str, &str); 6] = [
    ("s3", "s3"),
    ("dropbox", "dropbox"),
    ("drive", "gdrive"),
    ("supabase", "supabase"),
    ("dav", "webdav"),
    ("blob", "azure"),
];

/// Every destination of `Fakes::config` plus a WebDAV and an Azure one, all pointing at `base` (a closed port
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
        "{c}\n[[destinations]]\nname = \"dav\"\ntype = \"webdav\"\nurl = \"{base}/dav/\"\nuser = \"u\"\npassword = \"p\"\nretry_for = \"1s\"\n\n[[destinations]]\nname = \"blob\"\ntype = \"azure\"\naccount = \"devstoreaccount1\"\ncontainer = \"backups\"\naccess_key = \"a2V5\"\nendpoint = \"{base}/devstoreaccount1\"\nretry_for = \"1s\"\n"
    )
}

/// No `Debug` text, no cause said twice, no colour codes: what a person reads in cron mail.
#[track_caller]
fn assert_readable(run: &Run) {
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        !all.contains('\u{1b}'),
        "ANSI codes in redirected output:\n{all}"
    );
    for bad in [
        "DispatchFailure",
        "ConnectorError",
        "Some(",
        "{ ",
        "error sending request",
    ] {
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
    s.write(
        "cloudmirror.toml",
        config_towards(&fakes, "http://127.0.0.1:1"),
    );
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
        assert!(
            !retries.is_empty(),
            "{name}: no retry line:\n{}",
            run.stderr
        );
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

#[test]
fn a_wrong_key_is_one_line_naming_destination_and_what_to_check() {
    let fakes = Fakes::start();
    let s = Scratch::new();
    let email = "cloudmirror-test@fake-project.iam.gserviceaccount.com";
    let config = fakes
        .config()
        .replace(crate::fakes::S3_SECRET, "wrong-s3-secret")
        .replace(crate::fakes::DROPBOX_REFRESH_TOKEN, "wrong-refresh-token")
        .replace(crate::fakes::SUPABASE_KEY, "sb_secret_wrong")
        .replace(email, "someone-else@example.iam.gserviceaccount.com");
    s.write("cloudmirror.toml", config);
    // WebDAV's wrong password needs the wsgidav server; `crates/cloudmirror-webdav` tests it.
    let hints = [
        "HTTP 403 SignatureDoesNotMatch",
        "check access_key_id, secret_access_key and region",
        "Dropbox rejected refresh_token (invalid_grant",
        "update the refresh_token setting",
        "the token endpoint refused the service account: invalid_client",
        "check the service account key",
        "HTTP 401: Invalid API key",
        "check `service_role_key`",
    ];
    for (i, (name, backend)) in ADAPTERS[..4].iter().enumerate() {
        let run = s.run(&["list", "--to", name]).expect_code(2);
        assert_readable(&run);
        let line = run
            .stderr
            .lines()
            .find(|l| l.starts_with(&format!("warning: cannot list {name}: {backend}: ")))
            .unwrap_or_else(|| panic!("{name}: no error line in:\n{}", run.stderr));
        for hint in &hints[2 * i..2 * i + 2] {
            assert!(line.contains(hint), "{name}: want {hint:?} in {line}");
        }
        for secret in [
            crate::fakes::S3_SECRET,
            "wrong-s3-secret",
            "wrong-refresh-token",
            "sb_secret_wrong",
        ] {
            assert!(!run.stderr.contains(secret), "{name}: secret printed");
        }
    }
}

const LOCAL: &str = "[[destinations]]\nname = \"home\"\ntype = \"local\"\npath = \"store\"\n";

#[test]
fn status_says_why_a_destination_is_unreachable_in_text_and_json() {
    let fakes = Fakes::start();
    let s = Scratch::new();
    let s3 = config_towards(&fakes, "http://127.0.0.1:1")
        .split("[[destinations]]")
        .find(|t| t.contains("type = \"s3\""))
        .map(|t| format!("[[destinations]]{t}"))
        .unwrap();
    s.write("cloudmirror.toml", format!("{LOCAL}\n{s3}"));
    s.write("a.txt", "hello");
    s.run(&["backup", "a.txt", "--to", "home"]).expect_code(0);
    let run = s.run(&["status"]).expect_code(2);
    assert_readable(&run);
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains(" s3 "))
        .unwrap_or_else(|| panic!("no s3 line:\n{}", run.stdout));
    assert!(
        line.starts_with("critical")
            && line.contains(
                "unreachable: s3: cannot connect to http://127.0.0.1:1: connection refused"
            ),
        "{line}"
    );
    assert!(
        !run.stdout.contains('?'),
        "no `?` placeholders:\n{}",
        run.stdout
    );
    assert!(run.stdout.contains("1 backups"), "{}", run.stdout);
    let json = s.run(&["status", "--json"]).expect_code(2).json();
    let dests = json["destinations"].as_array().unwrap();
    let s3 = dests.iter().find(|d| d["destination"] == "s3").unwrap();
    assert!(
        s3["unreachable"]
            .as_str()
            .unwrap()
            .starts_with("s3: cannot connect to http://127.0.0.1:1: connection refused"),
        "{s3}"
    );
    let home = dests.iter().find(|d| d["destination"] == "home").unwrap();
    assert!(home["unreachable"].is_null(), "{home}");
}

#[test]
fn list_exits_0_when_all_listed_1_when_some_failed_and_2_when_none_could_be() {
    let fakes = Fakes::start();
    let s = Scratch::new();
    let bad_s3 = fakes
        .config()
        .split("[[destinations]]")
        .find(|t| t.contains("type = \"s3\""))
        .map(|t| format!("[[destinations]]{t}"))
        .unwrap()
        .replace(crate::fakes::S3_SECRET, "refused-key");
    s.write("cloudmirror.toml", format!("{LOCAL}\n{bad_s3}"));
    s.write("a.txt", "hello");
    s.run(&["backup", "a.txt", "--name", "a.txt.gz", "--to", "home"])
        .expect_code(0);
    let all = s.run(&["list", "--to", "home"]).expect_code(0);
    assert!(all.stdout.contains("a.txt"), "{}", all.stdout);
    let some = s.run(&["list"]).expect_code(1);
    assert!(some.stdout.contains("a.txt"), "{}", some.stdout);
    assert!(
        some.stderr.contains("warning: cannot list s3: s3: ") && some.stderr.contains("HTTP 403"),
        "{}",
        some.stderr
    );
    let none = s.run(&["list", "--to", "s3"]).expect_code(2);
    assert_readable(&none);
    // The README's table says the same.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let row = readme
        .lines()
        .find(|l| l.starts_with("| `cloudmirror list`"))
        .unwrap();
    assert!(
        row.ends_with("| 0 all listed, 1 some could not be listed, 2 none could be / bad input |"),
        "{row}"
    );
}

#[test]
fn a_misspelt_key_or_type_gets_a_did_you_mean_hint() {
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        format!("[backup]\ncompres = \"gzip\"\n\n{LOCAL}"),
    );
    let run = s.run(&["list"]).expect_code(2);
    assert!(
        run.stderr.contains("unknown field `compres`")
            && run.stderr.contains("(did you mean `compress`?)"),
        "{}",
        run.stderr
    );
    s.write(
        "cloudmirror.toml",
        "[[destinations]]\nname = \"d\"\ntype = \"dropbx\"\n",
    );
    let run = s.run(&["list"]).expect_code(2);
    assert!(
        run.stderr.contains("unknown type \"dropbx\"")
            && run.stderr.contains("(did you mean `dropbox`?)"),
        "{}",
        run.stderr
    );
    // Plain FTP is not supported; SFTP is the near miss.
    s.write(
        "cloudmirror.toml",
        "[[destinations]]\nname = \"d\"\ntype = \"ftp\"\n",
    );
    let run = s.run(&["list"]).expect_code(2);
    assert!(
        run.stderr.contains("(did you mean `sftp`?)"),
        "{}",
        run.stderr
    );
    // Nothing close: no guess.
    s.write(
        "cloudmirror.toml",
        "[[destinations]]\nname = \"d\"\ntype = \"floppy\"\n",
    );
    let run = s.run(&["list"]).expect_code(2);
    assert!(!run.stderr.contains("did you mean"), "{}", run.stderr);
}

#[test]
fn a_folder_backup_restores_into_an_existing_empty_folder_and_a_full_one_only_with_force() {
    let s = Scratch::new();
    s.write("cloudmirror.toml", LOCAL);
    s.write("site/index.html", "<h1>hi</h1>");
    s.write("site/css/a.css", "body{}");
    let run = s.run(&["backup", "site", "--name", "site.tar.gz", "--to", "home"]);
    let run = run.expect_code(0);
    assert!(run.stdout.contains("ok"), "{}", run.stdout);

    std::fs::create_dir(s.join("back")).unwrap();
    s.run(&["restore", "site.tar.gz", "-o", "back"])
        .expect_code(0);
    let restored = std::fs::read_dir(s.join("back")).unwrap().count();
    assert!(restored > 0, "nothing restored into back/");
    let index = walk_find(&s.join("back"), "index.html").expect("index.html restored");
    assert_eq!(std::fs::read_to_string(index).unwrap(), "<h1>hi</h1>");

    // Not empty: refused, naming the first conflicting path; --force replaces.
    std::fs::create_dir(s.join("full")).unwrap();
    s.write("full/mine.txt", "keep");
    let run = s
        .run(&["restore", "site.tar.gz", "-o", "full"])
        .expect_code(2);
    assert!(
        run.stderr
            .contains("output full is not empty (it holds full/mine.txt)")
            && run.stderr.contains("--force"),
        "{}",
        run.stderr
    );
    s.run(&["restore", "site.tar.gz", "-o", "full", "--force"])
        .expect_code(0);
    assert!(walk_find(&s.join("full"), "index.html").is_some());
    assert_eq!(
        std::fs::read_to_string(s.join("full/mine.txt")).unwrap(),
        "keep"
    );

    // A file backup into a folder is still refused with a clear message.
    s.write("one.txt", "x");
    s.run(&["backup", "one.txt", "--name", "one.txt.gz", "--to", "home"])
        .expect_code(0);
    std::fs::create_dir(s.join("empty")).unwrap();
    let run = s
        .run(&["restore", "one.txt.gz", "-o", "empty"])
        .expect_code(2);
    assert!(run.stderr.contains("is a directory"), "{}", run.stderr);
}

fn walk_find(dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
        if p.is_dir() {
            if let Some(f) = walk_find(&p, name) {
                return Some(f);
            }
        }
    }
    None
}
