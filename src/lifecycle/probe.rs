//! `check`'s destination probe: list, write a small object, read it back and compare, find it in
//! a listing, delete it. Each step says what it proved, or the provider's words and what to change.

use bytes::Bytes;
use cloudmirror_contract::{ErrorKind, Key, Prefix, StoreExt};
use serde::Serialize;

use crate::destination::Destination;

/// The probe object's name (under the destination's prefix). Fixed, so a probe left behind by an
/// interrupted check is overwritten and deleted by the next one.
pub const PROBE_NAME: &str = "cloudmirror-check.probe";

/// One step of a probe.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// `list`, `write`, `read`, `find` or `delete`.
    pub step: &'static str,
    /// Whether it worked.
    pub ok: bool,
    /// What it proved, or the provider's words when it failed.
    pub detail: String,
    /// What to change in the config (or the account) when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// The probe of one destination.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    /// The destination's name.
    pub destination: String,
    /// Its `type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether every step worked.
    pub ok: bool,
    /// The steps, in order; the probe stops at the first failure (but still deletes what it wrote).
    pub steps: Vec<Step>,
}

/// Probes `dest`; with `read_only` only the listing runs (nothing is written).
pub async fn probe(dest: &Destination, read_only: bool) -> Probe {
    let mut steps = Vec::new();
    run_steps(dest, read_only, &mut steps).await;
    Probe {
        destination: dest.name.clone(),
        kind: dest.kind.clone(),
        ok: steps.iter().all(|s| s.ok),
        steps,
    }
}

async fn run_steps(dest: &Destination, read_only: bool, steps: &mut Vec<Step>) {
    let store = &dest.store;
    match store.list_all(&Prefix::root()).await {
        Ok(all) => steps.push(ok(
            "list",
            format!(
                "authenticated and listed the destination ({} objects)",
                all.len()
            ),
        )),
        Err(e) => return steps.push(failed("list", &dest.kind, &e)),
    }
    if read_only {
        return;
    }
    let Ok(key) = Key::parse(PROBE_NAME) else {
        return;
    };
    let payload = Bytes::from(format!(
        "cloudmirror check probe {}\n",
        chrono::Utc::now().to_rfc3339()
    ));
    match store.upload_bytes(&key, payload.clone()).await {
        Ok(_) => steps.push(ok(
            "write",
            format!("wrote {PROBE_NAME} ({} bytes)", payload.len()),
        )),
        Err(e) => return steps.push(failed("write", &dest.kind, &e)),
    }
    match store.download_bytes(&key).await {
        Ok(back) if back == payload => {
            steps.push(ok("read", "read it back byte for byte".to_owned()));
        }
        Ok(back) => steps.push(Step {
            step: "read",
            ok: false,
            detail: format!(
                "read back {} bytes that differ from the {} written",
                back.len(),
                payload.len()
            ),
            hint: Some("something between us and the store changes stored bytes".into()),
        }),
        Err(e) => steps.push(failed("read", &dest.kind, &e)),
    }
    match store.list_all(&Prefix::root()).await {
        Ok(all) if all.iter().any(|m| m.key == key) => {
            steps.push(ok("find", "the listing shows it".to_owned()));
        }
        Ok(_) => steps.push(Step {
            step: "find",
            ok: false,
            detail: format!("{PROBE_NAME} was written but the listing does not show it"),
            hint: Some(
                "retention and `list` would not see new backups: check the prefix setting".into(),
            ),
        }),
        Err(e) => steps.push(failed("find", &dest.kind, &e)),
    }
    match store.delete(&key).await {
        Ok(()) => steps.push(ok("delete", format!("deleted {PROBE_NAME}"))),
        Err(e) => steps.push(failed("delete", &dest.kind, &e)),
    }
}

fn ok(step: &'static str, detail: String) -> Step {
    Step {
        step,
        ok: true,
        detail,
        hint: None,
    }
}

fn failed(step: &'static str, kind: &str, e: &cloudmirror_contract::Error) -> Step {
    Step {
        step,
        ok: false,
        detail: e.to_string(),
        hint: Some(hint(step, kind, e.kind())),
    }
}

/// What to change, by step, destination type and failure kind.
fn hint(step: &str, kind: &str, error: ErrorKind) -> String {
    // Every failed step says what it breaks; known kinds also say what to change.
    let what_fails = match step {
        "list" | "find" => "listing, retention and `restore latest` will fail",
        "write" => "backups will fail",
        "read" => "restore and `verify --deep` will fail",
        _ => "retention and `delete` will fail",
    };
    let text = match (error, kind) {
        (ErrorKind::Unauthorized, "s3") => {
            let action = match step {
                "list" | "find" => "s3:ListBucket",
                "write" => "s3:PutObject",
                "read" => "s3:GetObject",
                _ => "s3:DeleteObject",
            };
            format!(
                "the S3 key may not {action}: {what_fails} (or check access_key_id, \
                 secret_access_key and region)"
            )
        }
        (ErrorKind::Unauthorized, "dropbox") => {
            let scope = match step {
                "list" | "find" => "files.metadata.read",
                "read" => "files.content.read",
                _ => "files.content.write",
            };
            format!(
                "the Dropbox app may lack the {scope} scope (add it in the App Console, then \
                 create a new refresh token): {what_fails}"
            )
        }
        (ErrorKind::Unauthorized | ErrorKind::NotFound, "gdrive") => format!(
            "the Drive folder may not be shared with the service account's e-mail \
             (client_email in the key, as Editor), or folder_id is wrong: {what_fails}"
        ),
        (ErrorKind::Unauthorized, "supabase") => format!(
            "the key may not use this bucket: service_role_key must be the project's \
             service_role (secret) key: {what_fails}"
        ),
        (ErrorKind::Unauthorized, "webdav") => format!(
            "the user may not do this in the folder (check user, password and the share's \
             permissions): {what_fails}"
        ),
        (ErrorKind::Unauthorized, "sftp") => format!(
            "the user may not do this in the folder (check user, the key or password, and the \
             folder's owner and permissions): {what_fails}"
        ),
        (ErrorKind::Unauthorized, "azure") => format!(
            "the key or SAS may not do this in the container (a SAS needs the read, add, \
             create, write, delete and list permissions and must not have expired): {what_fails}"
        ),
        (ErrorKind::Unauthorized, _) => format!("no permission: {what_fails}"),
        (ErrorKind::NotFound, "s3") => "the bucket does not exist: check bucket and region".into(),
        (ErrorKind::NotFound, "supabase") => {
            "the bucket does not exist: create it or fix bucket".into()
        }
        (ErrorKind::NotFound, "webdav") => "the folder does not exist: create it or fix url".into(),
        (ErrorKind::NotFound, "sftp") => "the folder does not exist: create it or fix path".into(),
        (ErrorKind::NotFound, "azure") => {
            "the container does not exist: create it or fix container".into()
        }
        (ErrorKind::NotFound, _) => "the folder does not exist: create it or fix the path".into(),
        (ErrorKind::Transient, _) => "unreachable: check the endpoint and the network".into(),
        (ErrorKind::QuotaExceeded, _) => "the destination is full".into(),
        (ErrorKind::Conflict | ErrorKind::InvalidInput, "local") => {
            "path must be a folder we can write to".into()
        }
        _ => format!("until this works, {what_fails}"),
    };
    text
}
