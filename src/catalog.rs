//! `list` and `delete`: backups are the objects that have a manifest next to them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use cloudmirror_contract::{ErrorKind, Key, Prefix, StoreExt};
use serde::Serialize;

use crate::backup::manifest::Manifest;
use crate::destination::Destination;

/// One backup as seen on one destination.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StoredBackup {
    /// Its name.
    pub name: String,
    /// Stored size.
    pub size: u64,
    /// When the destination last modified it.
    pub modified: Option<DateTime<Utc>>,
}

/// The backups on one destination, or why they could not be listed.
#[derive(Debug, Clone, Serialize)]
pub struct DestinationListing {
    /// Destination name.
    pub destination: String,
    /// Backups with a manifest, by name.
    pub backups: Vec<StoredBackup>,
    /// Set when listing failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Lists the backups (objects with a manifest) on a destination, sorted by name.
pub async fn backups_on(
    dest: &Destination,
) -> Result<Vec<StoredBackup>, cloudmirror_contract::Error> {
    let all = dest.store.list_all(&Prefix::root()).await?;
    let manifests: BTreeSet<&str> = all
        .iter()
        .filter_map(|m| Manifest::backup_name_of(m.key.as_str()))
        .collect();
    Ok(all
        .iter()
        .filter(|m| manifests.contains(m.key.as_str()))
        .map(|m| StoredBackup {
            name: m.key.to_string(),
            size: m.size,
            modified: m.modified,
        })
        .collect())
}

/// Fetches a backup's manifest from one destination.
pub(crate) async fn fetch_manifest(
    dest: &Destination,
    name: &Key,
) -> Result<Manifest, cloudmirror_contract::Error> {
    let key = Manifest::key_for(name).map_err(|e| {
        cloudmirror_contract::Error::new(ErrorKind::InvalidInput, "cloudmirror", e.to_string())
    })?;
    let bytes = dest.store.download_bytes(&key).await?;
    Manifest::from_json(&bytes, &key).map_err(|e| {
        cloudmirror_contract::Error::new(ErrorKind::Other, "cloudmirror", e.to_string())
    })
}

/// Lists every destination concurrently.
pub async fn list(destinations: &[Destination]) -> Vec<DestinationListing> {
    futures::future::join_all(destinations.iter().map(|d| async move {
        match backups_on(d).await {
            Ok(backups) => DestinationListing {
                destination: d.name.clone(),
                backups,
                error: None,
            },
            Err(e) => DestinationListing {
                destination: d.name.clone(),
                backups: Vec::new(),
                error: Some(e.to_string()),
            },
        }
    }))
    .await
}

/// A backup across destinations: where it is present.
#[derive(Debug, Clone, Serialize)]
pub struct BackupSummary {
    /// Name.
    pub name: String,
    /// Stored size (from the first destination that has it).
    pub size: u64,
    /// Newest modification time reported.
    pub modified: Option<DateTime<Utc>>,
    /// Destinations holding it, in config order.
    pub destinations: Vec<String>,
    /// Whether every copy has the same stored size (`verify` compares checksums too).
    pub copies_agree: bool,
}

/// Merges per-destination listings into one row per backup, newest first.
pub fn summarize(listings: &[DestinationListing]) -> Vec<BackupSummary> {
    let mut by_name: BTreeMap<&str, BackupSummary> = BTreeMap::new();
    for l in listings {
        for b in &l.backups {
            let e = by_name.entry(&b.name).or_insert_with(|| BackupSummary {
                name: b.name.clone(),
                size: b.size,
                modified: b.modified,
                destinations: Vec::new(),
                copies_agree: true,
            });
            e.copies_agree &= e.size == b.size;
            e.destinations.push(l.destination.clone());
            e.modified = e.modified.max(b.modified);
        }
    }
    let mut rows: Vec<_> = by_name.into_values().collect();
    rows.sort_by(|a, b| {
        b.modified
            .cmp(&a.modified)
            .then_with(|| b.name.cmp(&a.name))
    });
    rows
}

/// What `delete` did on one destination.
#[derive(Debug, Clone, Serialize)]
pub struct DeleteResult {
    /// Destination name.
    pub destination: String,
    /// `deleted`, `not_found` or `failed`.
    pub status: &'static str,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Deletes a backup and its manifest (backup first, so a copy is never left looking whole).
pub async fn delete(destinations: &[Destination], name: &Key) -> Vec<DeleteResult> {
    futures::future::join_all(destinations.iter().map(|d| async move {
        let result = async {
            let manifest = Manifest::key_for(name).map_err(|e| e.to_string())?;
            let existed = d
                .store
                .head(name)
                .await
                .map_err(|e| e.to_string())?
                .is_some()
                || d.store
                    .head(&manifest)
                    .await
                    .map_err(|e| e.to_string())?
                    .is_some();
            d.store.delete(name).await.map_err(|e| e.to_string())?;
            d.store.delete(&manifest).await.map_err(|e| e.to_string())?;
            Ok::<_, String>(existed)
        }
        .await;
        match result {
            Ok(true) => DeleteResult {
                destination: d.name.clone(),
                status: "deleted",
                error: None,
            },
            Ok(false) => DeleteResult {
                destination: d.name.clone(),
                status: "not_found",
                error: None,
            },
            Err(e) => DeleteResult {
                destination: d.name.clone(),
                status: "failed",
                error: Some(e),
            },
        }
    }))
    .await
}
