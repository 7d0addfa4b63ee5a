//! The per-store index of Drive ids: folder paths to folder ids, found or created on demand.
//!
//! Drive is id-based and allows duplicate names, so the adapter resolves `a/b/` one segment at a
//! time below `folder_id`, caches what it learns, and serializes the creation of each folder path
//! (and each key's upload) within the process. When duplicates exist anyway (another process,
//! a retried create), the oldest folder and the newest file win, deterministically.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use cloudmirror_contract::Result;
use tokio::sync::OwnedMutexGuard;

use crate::client::{Client, DriveFile, FOLDER_MIME};

/// Folder path (`""` or `"a/b/"`) to Drive id, below the configured root folder.
#[derive(Debug)]
pub(crate) struct FolderIndex {
    root: String,
    cache: Mutex<HashMap<String, String>>,
    creating: KeyedLocks,
}

impl FolderIndex {
    pub(crate) fn new(root: String) -> Self {
        Self {
            root,
            cache: Mutex::new(HashMap::new()),
            creating: KeyedLocks::default(),
        }
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<String, String>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The id of the folder at `dir` (`""` or ending with `/`), or `None` if any part is missing.
    pub(crate) async fn find(&self, client: &Client, dir: &str) -> Result<Option<String>> {
        self.resolve(client, dir, false).await
    }

    /// The id of the folder at `dir`, creating missing folders.
    pub(crate) async fn ensure(&self, client: &Client, dir: &str) -> Result<String> {
        match self.resolve(client, dir, true).await? {
            Some(id) => Ok(id),
            None => Err(crate::error::protocol(format!(
                "folder {dir:?} could not be created"
            ))),
        }
    }

    /// Drops cached ids of `dir` and everything under it (after a 404 on a cached id).
    pub(crate) fn forget(&self, dir: &str) {
        self.cache().retain(|k, _| !k.starts_with(dir));
    }

    async fn resolve(&self, client: &Client, dir: &str, create: bool) -> Result<Option<String>> {
        let mut parent = self.root.clone();
        let mut path = String::new();
        for seg in dir.split('/').filter(|s| !s.is_empty()) {
            path.push_str(seg);
            path.push('/');
            if let Some(id) = self.cache().get(&path).cloned() {
                parent = id;
                continue;
            }
            let guard = if create {
                Some(self.creating.lock(&path).await)
            } else {
                None
            };
            // Another task may have resolved it while we waited.
            if let Some(id) = self.cache().get(&path).cloned() {
                parent = id;
                continue;
            }
            let id = match find_folder(client, &parent, seg).await? {
                Some(id) => id,
                None if create => {
                    client.create_folder(seg, &parent).await?;
                    // Re-read: if a retry or another process made a twin, converge on the oldest.
                    find_folder(client, &parent, seg).await?.ok_or_else(|| {
                        crate::error::protocol(format!("folder {path:?} vanished after creation"))
                    })?
                }
                None => return Ok(None),
            };
            self.cache().insert(path.clone(), id.clone());
            drop(guard);
            parent = id;
        }
        Ok(Some(parent))
    }
}

/// A Drive `q` string literal: `\` and `'` escaped, in single quotes.
pub(crate) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The oldest live folder named `name` in `parent`.
async fn find_folder(client: &Client, parent: &str, name: &str) -> Result<Option<String>> {
    let q = format!(
        "{} in parents and name = {} and mimeType = {} and trashed = false",
        quote(parent),
        quote(name),
        quote(FOLDER_MIME)
    );
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_page(&q, Some("createdTime"), token.as_deref())
            .await?;
        if let Some(f) = page.files.into_iter().next() {
            return Ok(Some(f.id));
        }
        match page.next_page_token {
            Some(t) => token = Some(t),
            None => return Ok(None),
        }
    }
}

/// Every live file (not folder) named `name` in `parent`, newest first.
pub(crate) async fn find_files(
    client: &Client,
    parent: &str,
    name: &str,
) -> Result<Vec<DriveFile>> {
    let q = format!(
        "{} in parents and name = {} and mimeType != {} and trashed = false",
        quote(parent),
        quote(name),
        quote(FOLDER_MIME)
    );
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_page(&q, Some("modifiedTime desc"), token.as_deref())
            .await?;
        out.extend(
            page.files
                .into_iter()
                .filter(|f| f.name == name && !f.is_folder()),
        );
        match page.next_page_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    // The server's order is the contract; sort again so "newest" never depends on it.
    out.sort_by_key(|f| std::cmp::Reverse(f.modified_time));
    Ok(out)
}

/// One async mutex per string key, dropped when nobody holds or waits for it.
#[derive(Debug, Default)]
pub(crate) struct KeyedLocks {
    map: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Holds one key's lock until dropped.
#[derive(Debug)]
pub(crate) struct KeyGuard<'a> {
    locks: &'a KeyedLocks,
    key: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl KeyedLocks {
    pub(crate) async fn lock(&self, key: &str) -> KeyGuard<'_> {
        let m = self
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.to_owned())
            .or_default()
            .clone();
        KeyGuard {
            locks: self,
            key: key.to_owned(),
            guard: Some(m.lock_owned().await),
        }
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self
            .locks
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if map
            .get(&self.key)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_escape_backslash_then_quote() {
        assert_eq!(quote("it's"), r"'it\'s'");
        assert_eq!(quote(r"a\b"), r"'a\\b'");
        assert_eq!(quote(r"\'"), r"'\\\''");
    }
}
