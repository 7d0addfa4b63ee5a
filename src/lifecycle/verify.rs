//! `verify`: does each destination still hold what the manifest says? The fast check compares the
//! listed size and the provider's own checksum (S3 SHA-256, Dropbox content hash, Drive and Azure MD5) with the
//! manifest; stores that keep no checksum (a local folder) are re-hashed, as is everything with `--deep`.

use cloudmirror_contract::{Checksum, DigestSet, Hashes, Key, StoreExt};
use futures::TryStreamExt;
use serde::Serialize;

use crate::backup::manifest::Manifest;
use crate::catalog::fetch_manifest;
use crate::destination::Destination;

/// The outcome of checking one backup on one destination.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CopyCheck {
    /// Destination name.
    pub destination: String,
    /// Backup name.
    pub name: String,
    /// `ok`, `missing`, `corrupt` or `error`.
    pub status: &'static str,
    /// How it was checked (`size+sha256`, `size+md5`, `size+dropbox_content_hash`, `deep sha256`, `size only`).
    pub method: String,
    /// What is wrong, when something is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl CopyCheck {
    /// Whether the copy is intact.
    pub fn ok(&self) -> bool {
        self.status == "ok"
    }
}

/// Checks one backup on one destination.
pub async fn check_copy(dest: &Destination, name: &Key, deep: bool) -> CopyCheck {
    let result = |status: &'static str, method: &str, detail: Option<String>| CopyCheck {
        destination: dest.name.clone(),
        name: name.to_string(),
        status,
        method: method.to_owned(),
        detail,
    };
    let manifest = match fetch_manifest(dest, name).await {
        Ok(m) => m,
        Err(e) if e.kind() == cloudmirror_contract::ErrorKind::NotFound => {
            return result(
                "missing",
                "manifest",
                Some("no manifest for this backup".into()),
            );
        }
        Err(e) => return result("error", "manifest", Some(e.to_string())),
    };
    let meta = match dest.store.head(name).await {
        Ok(Some(m)) => m,
        Ok(None) => {
            return result(
                "missing",
                "listing",
                Some("the manifest is there but the backup is not".into()),
            )
        }
        Err(e) => return result("error", "listing", Some(e.to_string())),
    };
    if meta.size != manifest.stored_size {
        return result(
            "corrupt",
            "size",
            Some(format!(
                "{} bytes stored, the manifest says {}",
                meta.size, manifest.stored_size
            )),
        );
    }
    // A checksum the manifest does not record (a backup made without that provider) is checked
    // the deep way instead.
    let listed = meta
        .checksum
        .as_ref()
        .filter(|cs| !expected_value(&manifest, cs).is_empty());
    match (listed, deep) {
        (Some(cs), false) => {
            let expected = expected_value(&manifest, cs);
            let method = format!("size+{}", cs.algorithm());
            if expected.eq_ignore_ascii_case(cs.value()) {
                result("ok", &method, None)
            } else {
                result(
                    "corrupt",
                    &method,
                    Some(format!(
                        "{} is {}, the manifest says {expected}",
                        cs.algorithm(),
                        cs.value()
                    )),
                )
            }
        }
        _ => deep_check(dest, name, &manifest).await.map_or_else(
            |e| result("error", "deep sha256", Some(e)),
            |sha| {
                if sha == manifest.sha256 {
                    result("ok", "deep sha256", None)
                } else {
                    result(
                        "corrupt",
                        "deep sha256",
                        Some(format!(
                            "sha256 is {sha}, the manifest says {}",
                            manifest.sha256
                        )),
                    )
                }
            },
        ),
    }
}

fn expected_value<'a>(manifest: &'a Manifest, cs: &Checksum) -> &'a str {
    match cs {
        Checksum::Md5(_) => &manifest.md5,
        Checksum::DropboxContentHash(_) => &manifest.dropbox_content_hash,
        _ => &manifest.sha256,
    }
}

/// Downloads the copy and returns the SHA-256 of what came back (size checked too).
async fn deep_check(dest: &Destination, name: &Key, manifest: &Manifest) -> Result<String, String> {
    let mut body = dest.store.download(name).await.map_err(|e| e.to_string())?;
    let mut hashes = Hashes::with(DigestSet::SHA256);
    while let Some(chunk) = body.try_next().await.map_err(|e| e.to_string())? {
        hashes.update(&chunk);
    }
    let digests = hashes.finish();
    if digests.len != manifest.stored_size {
        return Ok(format!(
            "(size {} instead of {})",
            digests.len, manifest.stored_size
        ));
    }
    Ok(digests.sha256)
}
