//! `status`: each destination's health as lines, `--json`, or Prometheus text.

use chrono::Utc;
use cloudmirror::config::Config;
use cloudmirror::destination::Destination;
use cloudmirror::lifecycle;
use cloudmirror::lifecycle::health::DestinationHealth;
use cloudmirror::ExitStatus;

use super::human_bytes;
use crate::{Cli, StatusFormat};

/// Assesses every selected destination and prints the result; exit 0 healthy, 1 warning, 2 critical.
pub(crate) async fn run(
    cli: &Cli,
    config: &Config,
    dests: &[Destination],
    format: StatusFormat,
) -> ExitStatus {
    let health = health_of(config, dests).await;
    let code = cloudmirror::lifecycle::health::exit_code(&health);
    if format == StatusFormat::Prometheus && !cli.json {
        let health: Vec<_> = health.into_iter().map(|h| (None, h)).collect();
        // One write, so a reader never sees half a file even without the temp-file rename.
        print!("{}", super::prometheus::render(&health));
    } else if cli.json {
        let destinations: Vec<serde_json::Value> = health
            .iter()
            .map(|h| {
                let mut v = serde_json::to_value(h).unwrap_or_default();
                v["unreachable"] = unreachable(h).map_or(serde_json::Value::Null, Into::into);
                v
            })
            .collect();
        super::jobs::print_json(
            serde_json::json!({ "exit_code": code, "destinations": destinations }),
        );
    } else {
        for h in &health {
            print_text(h);
        }
    }
    match code {
        0 => ExitStatus::Success,
        1 => ExitStatus::Partial,
        _ => ExitStatus::Failure,
    }
}

/// Every destination's health under the config's `[health]` thresholds.
pub(crate) async fn health_of(config: &Config, dests: &[Destination]) -> Vec<DestinationHealth> {
    let now = Utc::now();
    futures::future::join_all(
        dests
            .iter()
            .map(|d| lifecycle::status(d, &config.health, now)),
    )
    .await
}

/// `status --format prometheus` over several jobs: one exposition, each series labelled with its
/// job; the exit code is the worst job's.
pub(crate) async fn prometheus_jobs(
    cli: &Cli,
    jobs: &[cloudmirror::config::jobs::Job],
) -> Result<ExitStatus, cloudmirror::Error> {
    let mut all = Vec::new();
    for job in jobs {
        let dests = cloudmirror::config::destinations::open_selected(&job.config, &cli.to).await?;
        for h in health_of(&job.config, &dests).await {
            all.push((Some(job.name.clone()), h));
        }
    }
    let health: Vec<DestinationHealth> = all.iter().map(|(_, h)| h.clone()).collect();
    print!("{}", super::prometheus::render(&all));
    Ok(match cloudmirror::lifecycle::health::exit_code(&health) {
        0 => ExitStatus::Success,
        1 => ExitStatus::Partial,
        _ => ExitStatus::Failure,
    })
}

/// Why the destination could not be listed (`health` words it as an `unreachable: ...` or
/// `unauthorized: ...` finding when the listing failed); `None` when it was listed.
fn unreachable(h: &DestinationHealth) -> Option<String> {
    if h.count.is_some() {
        return None;
    }
    h.findings.iter().find_map(|f| {
        f.message
            .strip_prefix("unreachable: ")
            .map(str::to_owned)
            .or_else(|| {
                f.message
                    .starts_with("unauthorized")
                    .then(|| f.message.clone())
            })
    })
}

fn print_text(h: &DestinationHealth) {
    let status = h.status.to_string();
    if let Some(reason) = unreachable(h) {
        // Nothing to count: say why instead of `no backups, ? backups, ?`.
        let label = if reason.starts_with("unauthorized") {
            reason
        } else {
            format!("unreachable: {reason}")
        };
        println!("{status:<9} {:<16} {label}", h.destination);
        return;
    }
    let newest = h.newest.as_ref().map_or_else(
        || "no backups".to_owned(),
        |n| format!("newest {} ({}h old)", n.name, n.age_seconds / 3600),
    );
    println!(
        "{status:<9} {:<16} {newest}, {} backups, {}",
        h.destination,
        h.count.map_or_else(|| "?".into(), |c| c.to_string()),
        h.total_size.map_or_else(|| "?".into(), human_bytes)
    );
    for f in &h.findings {
        println!("          {f}");
    }
}
