//! The one Prometheus exposition of cloudmirror, written by the `prometheus-client` crate (never by
//! hand): `status --format prometheus` for node_exporter's textfile collector, and the daemon's
//! `GET /metrics` (`daemon::metrics`). Names follow Prometheus conventions: the `cloudmirror_`
//! prefix, base units, `_bytes`, `_seconds` and `_timestamp_seconds` suffixes, `_total` only on
//! counters. <https://prometheus.io/docs/practices/naming/>,
//! <https://prometheus.io/docs/instrumenting/exposition_formats/>.
//!
//! Series carry a `destination` label and, when the config has `[[jobs]]`, a `backup_job` label
//! (not `job`, which Prometheus sets itself on every scraped series).

use prometheus_client::encoding::text::encode_registry;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use cloudmirror::lifecycle::health::{DestinationHealth, Status};

/// Label pairs of one series.
pub(crate) type Labels = Vec<(String, String)>;

/// The labels of a job's destination (`job` is `None` for the implicit job of a config without
/// `[[jobs]]`, whose series look as they always did).
pub(crate) fn labels(job: Option<&str>, destination: Option<&str>) -> Labels {
    let mut l = Vec::new();
    if let Some(j) = job {
        l.push(("backup_job".to_owned(), j.to_owned()));
    }
    if let Some(d) = destination {
        l.push(("destination".to_owned(), d.to_owned()));
    }
    l
}

/// The registry as Prometheus text: each family once with its `# HELP` and `# TYPE` lines.
pub(crate) fn text(registry: &Registry) -> String {
    let mut out = String::new();
    if let Err(e) = encode_registry(&mut out, registry) {
        tracing::warn!("cannot encode the metrics: {e}");
    }
    out
}

/// `status --format prometheus`: the health of every destination of every job.
pub(crate) fn render(health: &[(Option<String>, DestinationHealth)]) -> String {
    let mut registry = Registry::default();
    let mut gauge = |name: &str, help: &str, value: fn(&DestinationHealth) -> Option<i64>| {
        let family = Family::<Labels, Gauge>::default();
        for (job, h) in health {
            if let Some(v) = value(h) {
                family
                    .get_or_create(&labels(job.as_deref(), Some(&h.destination)))
                    .set(v);
            }
        }
        registry.register(name, help, family);
    };
    gauge(
        "cloudmirror_destination_up",
        "1 if the destination could be listed, 0 if it was unreachable or refused the credentials",
        |h| Some(i64::from(h.count.is_some())),
    );
    gauge(
        "cloudmirror_health_status",
        "Destination health: 0 healthy, 1 warning, 2 critical (as `cloudmirror status`)",
        |h| {
            Some(match h.status {
                Status::Healthy => 0,
                Status::Warning => 1,
                Status::Critical => 2,
            })
        },
    );
    gauge(
        "cloudmirror_backups",
        "Number of backups (with a manifest) on the destination",
        |h| h.count.and_then(|c| i64::try_from(c).ok()),
    );
    gauge(
        "cloudmirror_backups_size_bytes",
        "Total stored size of the backups on the destination",
        |h| h.total_size.and_then(|s| i64::try_from(s).ok()),
    );
    gauge(
        "cloudmirror_newest_backup_timestamp_seconds",
        "When the newest backup on the destination was made (Unix time)",
        |h| h.newest.as_ref().map(|n| n.created_at.timestamp()),
    );
    gauge(
        "cloudmirror_newest_backup_size_bytes",
        "Stored size of the newest backup on the destination",
        |h| h.newest.as_ref().and_then(|n| i64::try_from(n.size).ok()),
    );
    text(&registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let family = Family::<Labels, Gauge>::default();
        family
            .get_or_create(&labels(None, Some("a\"b\\c\nd")))
            .set(1);
        let mut registry = Registry::default();
        registry.register("cloudmirror_x", "x", family);
        assert!(
            text(&registry).contains("cloudmirror_x{destination=\"a\\\"b\\\\c\\nd\"} 1"),
            "{}",
            text(&registry)
        );
    }
}
