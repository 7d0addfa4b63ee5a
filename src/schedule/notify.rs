//! `[notify]`: after each backup run, POST a JSON summary to a webhook (always, or only on failure).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backup::BackupReport;

/// When to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyOn {
    /// After every run.
    #[default]
    Always,
    /// Only when a destination failed or nothing was stored.
    Failure,
}

/// The `[notify]` section.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Where the summary is sent with an HTTP `POST` (often a secret: never logged).
    pub webhook_url: String,
    /// `"always"` (default) or `"failure"`.
    #[serde(default)]
    pub on: NotifyOn,
}

impl std::fmt::Debug for NotifyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyConfig")
            .field("webhook_url", &"<redacted>")
            .field("on", &self.on)
            .finish()
    }
}

/// The JSON body sent to the webhook.
#[derive(Debug, Clone, Serialize)]
pub struct Summary<'a> {
    /// Always `"cloudmirror"`.
    pub tool: &'static str,
    /// Whether every destination holds the backup.
    pub ok: bool,
    /// The process exit code this run ends with (0, 1, 2).
    pub exit_code: i32,
    /// The backup's name, per-destination results, manifest (sizes, checksums) and error.
    #[serde(flatten)]
    pub report: &'a BackupReport,
}

impl NotifyConfig {
    /// Whether a run with this outcome is reported.
    pub fn wants(&self, ok: bool) -> bool {
        self.on == NotifyOn::Always || !ok
    }

    /// Sends the summary; failures are returned for the caller to log (a notification never fails a backup).
    pub async fn send(&self, summary: &Summary<'_>) -> Result<(), String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let resp = client
            .post(&self.webhook_url)
            .json(summary)
            .send()
            .await
            .map_err(|e| format!("the webhook could not be reached: {}", e.without_url()))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("the webhook answered {}", resp.status()))
        }
    }
}
