//! The binary's log filter: what `-v`/`-vv` show, and the caps that keep third-party crates that
//! log credentials (token responses, signed canonical requests) quiet at every verbosity. Also the
//! notes printed to stderr outside tracing (`error: ...`), which follow `--log-format`.

use std::sync::atomic::{AtomicBool, Ordering};

/// Whether stderr carries JSON lines (`--log-format json`).
static JSON: AtomicBool = AtomicBool::new(false);

/// Makes [`error`], [`warning`] and [`info`] print JSON lines (`--log-format json`).
pub(crate) fn set_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

/// Prints `error: <message>` on stderr (a JSON line under `--log-format json`).
pub(crate) fn error(message: impl std::fmt::Display) {
    note("ERROR", "error: ", &message.to_string());
}

/// Prints `warning: <message>` on stderr (a JSON line under `--log-format json`).
pub(crate) fn warning(message: impl std::fmt::Display) {
    note("WARN", "warning: ", &message.to_string());
}

/// Prints `<message>` on stderr (a JSON line under `--log-format json`).
pub(crate) fn info(message: impl std::fmt::Display) {
    note("INFO", "", &message.to_string());
}

/// One stderr line: plain text, or under `--log-format json` an object shaped like the tracing
/// subscriber's JSON lines (`timestamp`, `level`, `fields.message`, `target`), so every stderr
/// line parses the same way.
fn note(level: &str, prefix: &str, message: &str) {
    if JSON.load(Ordering::Relaxed) {
        eprintln!(
            "{}",
            serde_json::json!({
                "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                "level": level,
                "fields": { "message": message },
                "target": "cloudmirror",
            })
        );
    } else {
        eprintln!("{prefix}{message}");
    }
}

/// Our own crates: `-v` shows their debug events, `-vv` their trace events.
const OURS: &[&str] = &[
    "cloudmirror",
    "cloudmirror_contract",
    "cloudmirror_local",
    "cloudmirror_s3",
    "cloudmirror_dropbox",
    "cloudmirror_gdrive",
    "cloudmirror_supabase",
    "cloudmirror_webdav",
    "cloudmirror_sftp",
    "cloudmirror_azure",
];

/// Third-party targets capped at `warn` whatever the verbosity or `CLOUDMIRROR_LOG` asks (at the
/// default `warn` the cap changes nothing; it never raises a level), each for a reason:
/// - `yup_oauth2` logs Google's token responses and cached tokens (access tokens) at debug;
/// - `oauth2` may log token requests and responses (refresh tokens, client secrets);
/// - `aws_sigv4` logs canonical requests (with `x-amz-security-token`) at trace;
/// - `aws_smithy_*` and `aws_config` dump requests, runtime components and credential providers
///   at debug/trace;
/// - `aws_config::imds` warns, with a `Debug` dump of the SDK's response, that the EC2 metadata
///   service has no region for us whenever `region` is unset (an S3-compatible `endpoint` then
///   uses `us-east-1`); off EC2 that is always the case, so it is capped at `error`;
/// - `aws_smithy_runtime::client::defaults` announces, once per process at warn, that the SDK's
///   default HTTP client will change in its 2.x release; we pin the legacy client on purpose
///   (`legacy-https-client`), so that notice is noise for our users and is capped at `error`.
///
/// `hyper`, `h2`, `reqwest` and `rustls` are not capped: `tests/it/secrets.rs` runs every command
/// at `-vv` and at `CLOUDMIRROR_LOG=trace` and finds no secret in their output.
const CAPS: &[&str] = &[
    "yup_oauth2=warn",
    "oauth2=warn",
    "aws_sigv4=warn",
    "aws_smithy_runtime=warn",
    "aws_smithy_runtime::client::defaults=error",
    "aws_smithy_runtime_api=warn",
    "aws_smithy_http=warn",
    "aws_smithy_http_client=warn",
    "aws_config=warn",
    "aws_config::imds=error",
];

/// Colour codes only on a terminal, and never when `NO_COLOR` is set to a non-empty value
/// (<https://no-color.org>): cron mail, `2> log` and pipes get plain text.
pub(crate) fn use_colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(std::ffi::OsStr::is_empty)
}

/// The filter for `-v` count `verbose` and the `CLOUDMIRROR_LOG` value `env` (which, when set and
/// valid, replaces the verbosity's default). The caps are always appended last, so they win.
pub(crate) fn filter(verbose: u8, env: Option<&str>) -> tracing_subscriber::EnvFilter {
    let base = env
        .filter(|s| !s.trim().is_empty())
        .map_or_else(|| default_directives(verbose), str::to_owned);
    let directives = format!("{base},{}", CAPS.join(","));
    tracing_subscriber::EnvFilter::try_new(&directives).unwrap_or_else(|_| {
        // An invalid CLOUDMIRROR_LOG: fall back to the verbosity's default (still capped).
        tracing_subscriber::EnvFilter::new(format!(
            "{},{}",
            default_directives(verbose),
            CAPS.join(",")
        ))
    })
}

/// `warn` for everything; `-v`: our crates at debug, others at info; `-vv`: ours at trace.
fn default_directives(verbose: u8) -> String {
    let (others, ours) = match verbose {
        0 => return "warn".to_owned(),
        1 => ("info", "debug"),
        _ => ("debug", "trace"),
    };
    let mut d = others.to_owned();
    for c in OURS {
        d.push(',');
        d.push_str(c);
        d.push('=');
        d.push_str(ours);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some(OsStr::new(""))));
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(!use_colour(false, None));
    }

    #[test]
    fn caps_win_over_a_permissive_cloudmirror_log() {
        let f = filter(2, Some("trace,yup_oauth2=trace")).to_string();
        assert!(f.contains("yup_oauth2=warn"), "{f}");
        assert!(!f.contains("yup_oauth2=trace"), "{f}");
        let f = filter(0, None).to_string();
        assert!(f.contains("warn") && f.contains("aws_sigv4=warn"), "{f}");
        let f = filter(2, None).to_string();
        assert!(f.contains("cloudmirror_s3=trace"), "{f}");
        // Invalid CLOUDMIRROR_LOG: the default, still capped.
        let f = filter(1, Some("=[")).to_string();
        assert!(
            f.contains("cloudmirror=debug") && f.contains("oauth2=warn"),
            "{f}"
        );
    }
}
