//! What a restore restores: a named backup or `latest`, with what a confirmation shows (name,
//! date, size, destinations) and the safety backup (`restore --safety-backup`) made before it.
//!
//! `latest` is the newest backup by its manifest's `created_at` that is present and intact (the fast
//! check of [`crate::lifecycle::verify::check_copy`]) on one of the candidate destinations. Safety backups
//! (`pre_restore` in the manifest) are left out while any other backup is listed: they hold the state a
//! restore replaced, so picking one would undo the last restore. Only where nothing else exists
//! are they candidates (name one to restore it on purpose).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cloudmirror_contract::Key;
use serde::Serialize;

use crate::backup::manifest::Manifest;
use crate::catalog::fetch_manifest;
use crate::destination::Destination;
use crate::lifecycle::backups_with_manifests;
use crate::lifecycle::verify::check_copy;
use crate::Error;

/// The word that stands for the newest intact backup in `restore <NAME|latest>`.
pub const LATEST: &str = "latest";

/// Name template of safety backups: recognisable, sorted by time, never replacing each other.
pub const SAFETY_TEMPLATE: &str = "pre-restore-{timestamp}-{stem}{ext}";

/// The backup a restore will use.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreTarget {
    /// Its name.
    pub name: String,
    /// Its manifest (from the first destination that had it).
    pub manifest: Manifest,
    /// Destinations that list it, in config order.
    pub present_on: Vec<String>,
    /// Destinations to restore from, best first (for `latest`: one that passed the check first).
    #[serde(skip)]
    pub candidates: Vec<Destination>,
    /// What was passed over on the way (corrupt newer copies, unreadable destinations).
    pub notes: Vec<String>,
}

impl RestoreTarget {
    /// The backup's name as a key.
    pub fn key(&self) -> Result<Key, Error> {
        Key::parse(&self.name).map_err(|e| Error::Usage(format!("backup name: {}", e.message())))
    }
}

/// Resolves `latest` among `candidates`: the newest backup that is present and intact on one of them.
pub async fn latest(candidates: &[Destination]) -> Result<RestoreTarget, Error> {
    let mut notes = Vec::new();
    let listings = futures::future::join_all(candidates.iter().map(backups_with_manifests)).await;
    let mut by_name: BTreeMap<String, Seen> = BTreeMap::new();
    let mut listed_any = false;
    for (i, (dest, listing)) in candidates.iter().zip(listings).enumerate() {
        match listing {
            Ok(backups) => {
                listed_any = true;
                for b in backups {
                    let e = by_name.entry(b.name).or_insert(Seen {
                        created_at: b.created_at,
                        pre_restore: b.pre_restore,
                        on: Vec::new(),
                    });
                    e.created_at = e.created_at.max(b.created_at);
                    e.pre_restore |= b.pre_restore;
                    e.on.push(i);
                }
            }
            Err(e) => notes.push(format!("{}: cannot list backups: {e}", dest.name)),
        }
    }
    if !listed_any {
        return Err(Error::Failed(format!(
            "cannot find the latest backup: {}",
            if notes.is_empty() {
                "no destination selected".to_owned()
            } else {
                notes.join("; ")
            }
        )));
    }
    let regular_exists = by_name.values().any(|s| !s.pre_restore);
    let mut ordered: Vec<(&String, &Seen)> = by_name
        .iter()
        .filter(|(_, s)| !regular_exists || !s.pre_restore)
        .collect();
    ordered.sort_by(|a, b| {
        b.1.created_at
            .cmp(&a.1.created_at)
            .then_with(|| b.0.cmp(a.0))
    });
    for (name, Seen { on, .. }) in ordered {
        let Ok(key) = Key::parse(name) else { continue };
        for &i in on {
            let dest = &candidates[i];
            let check = check_copy(dest, &key, false).await;
            if !check.ok() {
                notes.push(format!(
                    "{name} on {}: {} ({})",
                    dest.name,
                    check.status,
                    check.detail.unwrap_or_else(|| check.method.clone())
                ));
                continue;
            }
            let manifest = fetch_manifest(dest, &key).await?;
            // The checked copy first, then the other places that list it, as fallbacks.
            let mut order = vec![dest.clone()];
            order.extend(
                on.iter()
                    .filter(|&&j| j != i)
                    .map(|&j| candidates[j].clone()),
            );
            return Ok(RestoreTarget {
                name: name.clone(),
                manifest,
                present_on: on.iter().map(|&j| candidates[j].name.clone()).collect(),
                candidates: order,
                notes,
            });
        }
    }
    Err(Error::Failed(format!(
        "no intact backup to restore as `latest` on {}{}",
        names(candidates),
        if notes.is_empty() {
            " (no backups)".to_owned()
        } else {
            format!(": {}", notes.join("; "))
        }
    )))
}

/// The candidates' names, comma-separated, for messages.
fn names(candidates: &[Destination]) -> String {
    candidates
        .iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One backup name across the candidate destinations.
struct Seen {
    /// Newest `created_at` of its manifests.
    created_at: DateTime<Utc>,
    /// Whether it is a safety backup.
    pre_restore: bool,
    /// Indexes of the candidates that list it, in config order.
    on: Vec<usize>,
}

/// Describes a named backup for a confirmation: its manifest and where it is present.
pub async fn named(candidates: &[Destination], name: &Key) -> Result<RestoreTarget, Error> {
    let found = futures::future::join_all(candidates.iter().map(|d| fetch_manifest(d, name))).await;
    let mut manifest = None;
    let mut present_on = Vec::new();
    let mut notes = Vec::new();
    for (dest, m) in candidates.iter().zip(found) {
        match m {
            Ok(m) => {
                present_on.push(dest.name.clone());
                manifest.get_or_insert(m);
            }
            Err(e) if e.kind() == cloudmirror_contract::ErrorKind::NotFound => {}
            Err(e) => notes.push(format!("{}: cannot read the manifest: {e}", dest.name)),
        }
    }
    let Some(manifest) = manifest else {
        return Err(Error::Failed(format!(
            "no backup named {name} on {}{}",
            names(candidates),
            if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join("; "))
            }
        )));
    };
    Ok(RestoreTarget {
        name: name.to_string(),
        manifest,
        present_on,
        candidates: candidates.to_vec(),
        notes,
    })
}
