//! `status --format prometheus`: the Prometheus text exposition format (version 0.0.4) for
//! node_exporter's textfile collector. Names follow Prometheus conventions: the `cloudmirror_`
//! prefix, base units, `_bytes` and `_timestamp_seconds` suffixes, and no `_count`/`_total`
//! (reserved for summaries and counters). <https://prometheus.io/docs/practices/naming/>,
//! <https://prometheus.io/docs/instrumenting/exposition_formats/>.

use std::fmt::Write as _;

use cloudmirror::lifecycle::health::{DestinationHealth, Status};

/// The metrics for every destination, each family once with its `# HELP` and `# TYPE` lines.
pub(crate) fn render(health: &[DestinationHealth]) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "cloudmirror_destination_up",
        "1 if the destination could be listed, 0 if it was unreachable or refused the credentials.",
        health,
        |h| Some(i128::from(h.count.is_some())),
    );
    family(
        &mut out,
        "cloudmirror_health_status",
        "Destination health: 0 healthy, 1 warning, 2 critical (as `cloudmirror status`).",
        health,
        |h| {
            Some(match h.status {
                Status::Healthy => 0,
                Status::Warning => 1,
                Status::Critical => 2,
            })
        },
    );
    family(
        &mut out,
        "cloudmirror_backups",
        "Number of backups (with a manifest) on the destination.",
        health,
        |h| h.count.and_then(|c| u64::try_from(c).ok()).map(i128::from),
    );
    family(
        &mut out,
        "cloudmirror_backups_size_bytes",
        "Total stored size of the backups on the destination.",
        health,
        |h| h.total_size.map(i128::from),
    );
    family(
        &mut out,
        "cloudmirror_newest_backup_timestamp_seconds",
        "When the newest backup on the destination was made (Unix time).",
        health,
        |h| {
            h.newest
                .as_ref()
                .map(|n| i128::from(n.created_at.timestamp()))
        },
    );
    family(
        &mut out,
        "cloudmirror_newest_backup_size_bytes",
        "Stored size of the newest backup on the destination.",
        health,
        |h| h.newest.as_ref().map(|n| i128::from(n.size)),
    );
    out
}

fn family(
    out: &mut String,
    name: &str,
    help: &str,
    health: &[DestinationHealth],
    value: impl Fn(&DestinationHealth) -> Option<i128>,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    for h in health {
        if let Some(v) = value(h) {
            let _ = writeln!(
                out,
                "{name}{{destination=\"{}\"}} {v}",
                escape_label(&h.destination)
            );
        }
    }
}

/// Label values escape `\`, `"` and line feeds (exposition format).
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
