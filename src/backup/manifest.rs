//! The manifest stored next to every backup: what was stored and how to check it.

use chrono::{DateTime, Utc};
use cloudmirror_contract::{Digests, Key};
use serde::{Deserialize, Serialize};

use crate::backup::compress::Compression;
use crate::Error;

/// Manifests are stored as `<backup name>` + this suffix.
pub(crate) const MANIFEST_SUFFIX: &str = ".manifest.json";

/// Version of the manifest format written by this build.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// What cloudmirror knows about one stored backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest format version.
    pub format: u32,
    /// The backup's stored name (key relative to the destination prefix).
    pub name: String,
    /// Size of the stored (compressed) bytes.
    pub stored_size: u64,
    /// Size of the source before compression.
    pub original_size: u64,
    /// SHA-256 of the stored bytes (hex).
    pub sha256: String,
    /// MD5 of the stored bytes (hex), to compare with Google Drive's and Azure's checksum; empty
    /// (and left out of the file) when the backup went to no Drive or Azure destination.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub md5: String,
    /// Dropbox content hash of the stored bytes (hex), to compare with Dropbox's; empty (and left
    /// out) when the backup went to no Dropbox destination.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dropbox_content_hash: String,
    /// Compression of the stored bytes.
    pub compression: Compression,
    /// When the backup was made.
    pub created_at: DateTime<Utc>,
    /// The cloudmirror version that made it.
    pub tool_version: String,
    /// What was backed up: a file name, or `stdin` (never a command line, which may hold secrets).
    pub source: String,
    /// Made by `restore --safety-backup` just before a restore (retention keeps the newest one).
    #[serde(default)]
    pub pre_restore: bool,
    /// Whether the stored bytes are age-encrypted (the checksums are of the encrypted bytes).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub encrypted: bool,
    /// `"tar"` when the source was a folder: restore extracts it into a new folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<String>,
}

impl Manifest {
    /// A manifest for a finished backup.
    pub fn new(
        name: &Key,
        digests: &Digests,
        original_size: u64,
        compression: Compression,
        created_at: DateTime<Utc>,
        source: String,
    ) -> Self {
        Self {
            format: FORMAT_VERSION,
            name: name.to_string(),
            stored_size: digests.len,
            original_size,
            sha256: digests.sha256.clone(),
            md5: digests.md5.clone(),
            dropbox_content_hash: digests.dropbox_content_hash.clone(),
            compression,
            created_at,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            source,
            pre_restore: false,
            archive: None,
            encrypted: false,
        }
    }

    /// The manifest's key for a backup name.
    pub(crate) fn key_for(name: &Key) -> Result<Key, Error> {
        Ok(Key::parse(&format!("{name}{MANIFEST_SUFFIX}"))?)
    }

    /// The backup name a manifest key belongs to, if it is a manifest key.
    pub(crate) fn backup_name_of(key: &str) -> Option<&str> {
        key.strip_suffix(MANIFEST_SUFFIX).filter(|n| !n.is_empty())
    }

    /// Serialized form.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// Parses a stored manifest.
    pub(crate) fn from_json(bytes: &[u8], key: &Key) -> Result<Self, Error> {
        serde_json::from_slice(bytes).map_err(|e| {
            Error::Failed(format!(
                "manifest {key} is not a valid cloudmirror manifest: {e}"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names() {
        let name = Key::parse("daily/db.json.gz").unwrap();
        let m = Manifest::new(
            &name,
            &Digests::of(b"abc"),
            10,
            Compression::Gzip,
            Utc::now(),
            "db.json".into(),
        );
        let key = Manifest::key_for(&name).unwrap();
        assert_eq!(key.as_str(), "daily/db.json.gz.manifest.json");
        assert_eq!(
            Manifest::backup_name_of(key.as_str()),
            Some("daily/db.json.gz")
        );
        assert_eq!(Manifest::from_json(&m.to_json(), &key).unwrap(), m);
        assert!(Manifest::from_json(b"{}", &key).is_err());
    }
}
