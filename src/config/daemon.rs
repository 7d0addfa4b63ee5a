//! `[daemon]`: how `cloudmirror daemon` runs the jobs: how many at once, whether a run missed
//! while it was down runs at start, how long shutdown waits, and the metrics listener.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

/// Default of [`DaemonConfig::shutdown_grace`].
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_mins(5);

/// The `[daemon]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// At most this many jobs run at once (default 1: backups compete for the same disk and
    /// uplink).
    #[serde(default = "one")]
    pub max_parallel: usize,
    /// At start, run once every job whose last scheduled time passed without a backup newer than
    /// it (the machine was down or asleep).
    #[serde(default)]
    pub catch_up: bool,
    /// On SIGTERM, how long running jobs may finish before they are cancelled (default 5m).
    #[serde(default = "default_grace", deserialize_with = "deserialize_duration")]
    pub shutdown_grace: Duration,
    /// Address of the `/metrics` and `/healthz` listener (off when absent).
    pub listen: Option<SocketAddr>,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            max_parallel: 1,
            catch_up: false,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            listen: None,
        }
    }
}

impl DaemonConfig {
    /// Checks the values serde cannot: `max_parallel` at least 1.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_parallel == 0 {
            return Err("max_parallel: must be at least 1".into());
        }
        Ok(())
    }
}

fn one() -> usize {
    1
}

fn default_grace() -> Duration {
    DEFAULT_SHUTDOWN_GRACE
}

fn deserialize_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    Ok(crate::config::duration::deserialize_option(d)?.unwrap_or(DEFAULT_SHUTDOWN_GRACE))
}
