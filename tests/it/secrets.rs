//! Secrets never leak: every command, at `-vv` (text and JSON logs) and with `--json`, against the
//! fakes, against unreachable endpoints and with wrong credentials, prints none of the configured
//! secret values (nor the access tokens the fakes issue). Plus the world-readable config warning.

use cloudmirror_fakes::gdrive::TEST_PRIVATE_KEY_PEM;

use crate::common::{json_export, Run, Scratch};
use crate::fakes::{Fakes, DROPBOX_APP_SECRET, DROPBOX_REFRESH_TOKEN, S3_SECRET, SUPABASE_KEY};

/// A config for the fakes with retention (so `prune` and backups exercise deletes).
fn with_retention(fakes: &Fakes) -> String {
    format!("[retention]\nkeep_last = 5\n\n{}", fakes.config())
}

/// Wrong secrets (still distinctive, so a leak is caught) against the live fakes.
fn wrong_credentials_config(fakes: &Fakes) -> String {
    let pem_line = private_key_lines()[3].clone();
    let mut wrong_line = pem_line.clone();
    wrong_line.replace_range(10..20, "AAAAAAAAAA");
    with_retention(fakes)
        .replace(DROPBOX_APP_SECRET, "dbx-wrong-secret-K1")
        .replace(DROPBOX_REFRESH_TOKEN, "dbx-wrong-refresh-K2")
        .replace(S3_SECRET, "s3-wrong-secret-K3")
        .replace(SUPABASE_KEY, "sb_secret_wrong-key-K4")
        .replace(&pem_line, &wrong_line)
}

/// The base64 lines of the test service account's private key.
fn private_key_lines() -> Vec<String> {
    TEST_PRIVATE_KEY_PEM
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 40)
        .map(str::to_owned)
        .collect()
}

/// Every value that must never be printed.
fn secrets() -> Vec<String> {
    let mut s: Vec<String> = [
        DROPBOX_APP_SECRET,
        DROPBOX_REFRESH_TOKEN,
        S3_SECRET,
        SUPABASE_KEY,
        // Wrong values are secrets too.
        "dbx-wrong-secret-K1",
        "dbx-wrong-refresh-K2",
        "s3-wrong-secret-K3",
        "sb_secret_wrong-key-K4",
        // Access tokens the fakes hand out.
        "sl.fake-access-token",
        "fake-ya29.",
        // Auth headers in any form.
        "Bearer ",
        "bearer ",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    s.extend(private_key_lines());
    // Any 24 characters of the key, as a log could wrap or escape it differently.
    let body: String = private_key_lines().concat();
    s.extend(
        body.as_bytes()
            .chunks(24)
            .filter(|c| c.len() == 24)
            .map(|c| String::from_utf8_lossy(c).into_owned()),
    );
    s
}

#[track_caller]
fn assert_no_secret(what: &str, run: &Run) {
    for secret in secrets() {
        for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(
                !text.contains(&secret),
                "{what}: {stream} contains the secret {secret:?}:\n{text}"
            );
        }
    }
}

/// The commands run against each config: (args, expected exit codes).
fn commands() -> Vec<(Vec<&'static str>, &'static [i32])> {
    vec![
        (
            vec!["backup", "db.json", "--name", "db.json.gz", "--verify"],
            &[0, 1, 2],
        ),
        (vec!["list"], &[0, 1, 2]),
        (vec!["verify"], &[0, 1, 2]),
        (vec!["verify", "db.json.gz", "--deep"], &[0, 1, 2]),
        (vec!["status"], &[0, 1, 2]),
        (vec!["prune", "--dry-run"], &[0, 1, 2]),
        (vec!["prune"], &[0, 1, 2]),
        (
            vec!["restore", "db.json.gz", "-o", "out.json", "--yes"],
            &[0, 2],
        ),
        (
            vec![
                "restore",
                "missing.json.gz",
                "--from",
                "any",
                "-o",
                "m.json",
            ],
            &[2],
        ),
        (vec!["backup", "empty.json"], &[2]),
        (vec!["backup", "db.json", "--to", "nowhere"], &[2]),
        (vec!["delete", "db.json.gz"], &[0, 1, 2]),
    ]
}

/// Each output mode the commands run in: flags, and a `CLOUDMIRROR_LOG` value.
const MODES: &[(&[&str], Option<&str>)] = &[
    (&["-vv"], None),
    (&["-vv", "--json", "--log-format", "json"], None),
    (&["--json"], Some("trace")),
];

fn run_all(s: &Scratch, label: &str, parallel: bool) {
    type Job<'a> = (String, Vec<&'a str>, &'a [i32], Option<&'a str>);
    let jobs: Vec<Job<'_>> = MODES
        .iter()
        .flat_map(|(flags, log)| {
            commands().into_iter().map(move |(args, codes)| {
                let mut full: Vec<&str> = flags.to_vec();
                full.extend(args);
                let what = format!("{label} CLOUDMIRROR_LOG={log:?} {}", full.join(" "));
                (what, full, codes, *log)
            })
        })
        .collect();
    let check = |(what, args, codes, log): &Job<'_>| {
        let mut cmd = s.command(args);
        if let Some(log) = log {
            cmd.env("CLOUDMIRROR_LOG", log);
        }
        let run = Run::from(cmd.output().expect("run cloudmirror"));
        assert!(
            codes.contains(&run.code),
            "{what}: exit {} not in {codes:?}\n--- stdout\n{}\n--- stderr\n{}",
            run.code,
            run.stdout,
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{what}: {}", run.stderr);
        assert_no_secret(what, &run);
        run
    };
    if parallel {
        std::thread::scope(|scope| {
            for job in &jobs {
                scope.spawn(move || check(job));
            }
        });
    } else {
        for job in &jobs {
            let run = check(job);
            if job.1.contains(&"backup") && !job.1.contains(&"--to") && job.1.contains(&"db.json") {
                assert_eq!(run.code, 0, "{}: {}{}", job.0, run.stdout, run.stderr);
            }
        }
    }
}

#[test]
fn no_command_prints_a_secret_at_any_verbosity() {
    let fakes = Fakes::start();
    let s = Scratch::new();
    s.write("db.json", json_export(3000));
    s.write("empty.json", "");

    s.write("cloudmirror.toml", with_retention(&fakes));
    run_all(&s, "[fakes]", false);

    s.write("cloudmirror.toml", wrong_credentials_config(&fakes));
    run_all(&s, "[wrong credentials]", true);

    s.write(
        "cloudmirror.toml",
        format!(
            "[retention]\nkeep_last = 5\n\n{}",
            fakes.unreachable_config()
        ),
    );
    run_all(&s, "[unreachable]", true);
}

#[test]
fn config_errors_never_echo_secret_values() {
    let fakes = Fakes::start();
    let s = Scratch::new();
    s.write("db.json", "{}\n");
    let good = with_retention(&fakes);
    let bad_configs = [
        // A secret where a number is expected.
        good.replace(
            "[retention]\nkeep_last = 5",
            &format!("[retention]\nkeep_last = \"{S3_SECRET}\""),
        ),
        // A secret with a stray newline (Supabase rejects the shape).
        good.replace(SUPABASE_KEY, &format!("{SUPABASE_KEY}\\n")),
        // A secret in a field of the wrong type.
        good.replace(
            &format!("refresh_token = \"{DROPBOX_REFRESH_TOKEN}\""),
            &format!("refresh_token = [\"{DROPBOX_REFRESH_TOKEN}\"]"),
        ),
        // A malformed service-account JSON that still holds the key.
        good.replace("\"private_key_id\":", "\"private_key_id\":,"),
        // Malformed TOML right after a secret.
        good.replace(
            &format!("secret_access_key = \"{S3_SECRET}\""),
            &format!("secret_access_key = \"{S3_SECRET}\" x"),
        ),
    ];
    for (i, config) in bad_configs.iter().enumerate() {
        assert_ne!(config, &good, "case {i} changed nothing");
        s.write("cloudmirror.toml", config);
        for args in [&["-vv", "backup", "db.json"][..], &["--json", "list"][..]] {
            let run = s.run(args);
            assert_eq!(run.code, 2, "case {i} {args:?}: {}", run.stderr);
            assert_no_secret(&format!("case {i} {args:?}"), &run);
        }
    }
}

#[cfg(unix)]
#[test]
fn a_world_readable_config_holding_secrets_gets_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let fakes = Fakes::start();
    let s = Scratch::new();
    let path = s.write("cloudmirror.toml", fakes.config());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = s.run(&["list"]);
    assert!(
        run.stderr.contains("warning")
            && run.stderr.contains("cloudmirror.toml")
            && run.stderr.contains("readable"),
        "{}",
        run.stderr
    );
    assert_no_secret("warning", &run);

    // Private again: no warning.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = s.run(&["list"]).expect_code(0);
    assert!(!run.stderr.contains("readable"), "{}", run.stderr);
    // Without -v, no third-party crate logs below warn.
    assert!(
        !run.stderr.contains("DEBUG")
            && !run.stderr.contains("TRACE")
            && !run.stderr.contains("INFO"),
        "{}",
        run.stderr
    );

    // World-readable but the secrets come from the environment: no warning.
    let from_env = fakes
        .config()
        .replace(S3_SECRET, "${CM_S3}")
        .replace(DROPBOX_APP_SECRET, "${CM_DBX_SECRET}")
        .replace(DROPBOX_REFRESH_TOKEN, "${CM_DBX_REFRESH}")
        .replace(SUPABASE_KEY, "${CM_SB}");
    let from_env = drop_service_account(&from_env, &fakes);
    let path = s.write("env.toml", from_env);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    s.write("key.json", fakes.gdrive.service_account_json());
    let out = s
        .command(&["--config", "env.toml", "list"])
        .env("CM_S3", S3_SECRET)
        .env("CM_DBX_SECRET", DROPBOX_APP_SECRET)
        .env("CM_DBX_REFRESH", DROPBOX_REFRESH_TOKEN)
        .env("CM_SB", SUPABASE_KEY)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("readable"), "{stderr}");
}

/// Replaces the inline service-account JSON with a key file path (`key.json`).
fn drop_service_account(config: &str, fakes: &Fakes) -> String {
    config.replace(
        &format!(
            "service_account_json = '''{}'''",
            fakes.gdrive.service_account_json()
        ),
        "service_account_key = \"key.json\"",
    )
}

/// A TLS server with a self-signed certificate for 127.0.0.1 (`openssl s_server`), stopped when
/// dropped. `None` when `openssl` is not installed.
struct SelfSignedServer {
    child: std::process::Child,
    port: u16,
}

impl SelfSignedServer {
    fn start(dir: &std::path::Path) -> Option<Self> {
        let generated = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-keyout",
            ])
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !generated {
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(dir.join("cert.pem"))
            .arg("-key")
            .arg(dir.join("key.pem"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let mut server = Self { child, port };
        crate::common::wait_until(
            "openssl s_server to accept connections",
            std::time::Duration::from_secs(30),
            || {
                if let Ok(Some(status)) = server.child.try_wait() {
                    panic!("openssl s_server exited early ({status})");
                }
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            },
        );
        Some(server)
    }
}

impl Drop for SelfSignedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn tls_certificates_are_verified_even_on_loopback() {
    let s = Scratch::new();
    let Some(server) = SelfSignedServer::start(s.path()) else {
        crate::common::skip("openssl is not installed (needed to serve a self-signed certificate)");
        return;
    };
    let url = format!("https://127.0.0.1:{}", server.port);
    s.write(
        "cloudmirror.toml",
        format!(
            "[[destinations]]\nname = \"sb\"\ntype = \"supabase\"\nurl = \"{url}\"\n\
             service_role_key = \"sb_secret_x\"\nbucket = \"b\"\n\n\
             [[destinations]]\nname = \"s3\"\ntype = \"s3\"\nbucket = \"b\"\nregion = \"us-east-1\"\n\
             endpoint = \"{url}\"\naccess_key_id = \"AK\"\nsecret_access_key = \"SK\"\n\n\
             [[destinations]]\nname = \"dbx\"\ntype = \"dropbox\"\nfolder = \"/b\"\napp_key = \"k\"\n\
             app_secret = \"s\"\nrefresh_token = \"r\"\napi_url = \"{url}\"\ncontent_url = \"{url}\"\n\
             token_url = \"{url}/oauth2/token\"\n"
        ),
    );
    let run = s.run(&["list", "--json"]).expect_code(2);
    let listings = run.json()["destinations"].as_array().unwrap().clone();
    assert_eq!(listings.len(), 3, "{listings:?}");
    for l in &listings {
        let error = l["error"].as_str().unwrap_or_default().to_lowercase();
        assert!(
            !error.is_empty(),
            "{l}: a self-signed certificate must be refused"
        );
        // Had the handshake been accepted, s_server's HTML status page would have been parsed.
        assert!(!error.contains("html"), "{l}");
    }
}
