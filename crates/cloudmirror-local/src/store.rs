//! The `Store` implementation over a local folder.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cloudmirror_contract::{
    ByteStream, Capabilities, Checksum, Error, ErrorKind, Key, ObjectMeta, ObjectStream, Prefix,
    Result, Store,
};
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

use crate::LocalConfig;

const BACKEND: &str = "local";
/// Temporary files carry this marker in their name; listings skip them.
const TMP_MARKER: &str = ".cloudmirror-tmp-";
/// Read size for downloads.
const READ_CHUNK: usize = 256 * 1024;

/// A store that keeps objects as files under a root folder.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// A store rooted at `config.path` (nothing is touched until the first call).
    pub fn new(config: LocalConfig) -> Self {
        Self { root: config.path }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &Key) -> PathBuf {
        let mut p = self.root.clone();
        p.extend(key.as_str().split('/'));
        p
    }
}

#[async_trait]
impl Store for LocalStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            backend: BACKEND,
            chunk_size: None,
            list_page_size: None,
            // The file system's limit shows as its error ("File too large").
            max_object_size: None,
        }
    }

    async fn upload(
        &self,
        key: &Key,
        mut body: ByteStream,
        _len: Option<u64>,
    ) -> Result<ObjectMeta> {
        let target = self.path_of(key);
        let dir = target.parent().unwrap_or(&self.root).to_path_buf();
        tokio::fs::create_dir_all(&dir).await.map_err(|e| {
            Error::from_io(BACKEND, format!("creating folder {}", dir.display()), e)
        })?;
        remove_stale_temp_files(&dir).await;
        let tmp = dir.join(format!(
            ".{}{TMP_MARKER}{:016x}",
            key.name(),
            fastrand::u64(..)
        ));
        // Removes the temporary file if this future is dropped mid-write (a timeout, Ctrl-C).
        let mut guard = TempGuard(Some(tmp.clone()));
        let write = async {
            let mut file = tokio::fs::File::create(&tmp)
                .await
                .map_err(|e| Error::from_io(BACKEND, format!("creating {}", tmp.display()), e))?;
            // Only the SHA-256 this store reports: the orchestrator already hashed the body once
            // for every provider's checksum kind.
            let mut sha256 = Sha256::new();
            let mut len = 0u64;
            while let Some(chunk) = body.try_next().await? {
                sha256.update(&chunk);
                len += chunk.len() as u64;
                file.write_all(&chunk).await.map_err(|e| {
                    Error::from_io(BACKEND, format!("writing {}", tmp.display()), e)
                })?;
            }
            file.flush()
                .await
                .map_err(|e| Error::from_io(BACKEND, format!("writing {}", tmp.display()), e))?;
            file.sync_all()
                .await
                .map_err(|e| Error::from_io(BACKEND, format!("syncing {}", tmp.display()), e))?;
            drop(file);
            tokio::fs::rename(&tmp, &target).await.map_err(|e| {
                Error::from_io(BACKEND, format!("renaming into {}", target.display()), e)
            })?;
            // Make the rename itself durable (best effort: not every file system supports it).
            if let Ok(d) = tokio::fs::File::open(&dir).await {
                let _ = d.sync_all().await;
            }
            Ok::<_, Error>((len, hex::encode(sha256.finalize())))
        };
        let written = write.await;
        if written.is_ok() {
            // Renamed into place: nothing to clean up.
            guard.0 = None;
        }
        match written {
            Ok((size, sha256)) => Ok(ObjectMeta {
                key: key.clone(),
                size,
                modified: Some(Utc::now()),
                checksum: Some(Checksum::Sha256(sha256)),
            }),
            // The guard removes the temporary file.
            Err(e) => Err(e),
        }
    }

    fn list<'a>(&'a self, prefix: &'a Prefix) -> ObjectStream<'a> {
        let root = self.root.clone();
        let prefix = prefix.clone();
        futures::stream::once(async move {
            tokio::task::spawn_blocking(move || walk(&root, &prefix))
                .await
                .map_err(|e| {
                    Error::new(
                        ErrorKind::Other,
                        BACKEND,
                        format!("listing task failed: {e}"),
                    )
                })?
        })
        .map_ok(|items| futures::stream::iter(items.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }

    async fn download(&self, key: &Key) -> Result<ByteStream> {
        let path = self.path_of(key);
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| Error::from_io(BACKEND, format!("opening {}", path.display()), e))?;
        let meta = file
            .metadata()
            .await
            .map_err(|e| Error::from_io(BACKEND, format!("reading {}", path.display()), e))?;
        if !meta.is_file() {
            return Err(Error::new(
                ErrorKind::NotFound,
                BACKEND,
                format!("{} is not a file", path.display()),
            ));
        }
        Ok(ReaderStream::with_capacity(file, READ_CHUNK)
            .map_err(move |e| Error::from_io(BACKEND, format!("reading {}", path.display()), e))
            .boxed())
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        let path = self.path_of(key);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::from_io(
                BACKEND,
                format!("deleting {}", path.display()),
                e,
            )),
        }
    }
}

/// Temporary files older than this are leftovers of a killed process and removed by uploads.
const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_hours(24);

/// Deletes the temporary file it holds when dropped (unless taken out).
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), "could not remove temporary file: {e}");
                }
            }
        }
    }
}

/// Best effort: removes this folder's temporary files older than [`STALE_TEMP_AGE`], left behind
/// by a process that was killed mid-upload (younger ones may belong to a running upload).
async fn remove_stale_temp_files(dir: &Path) {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        if !entry.file_name().to_string_lossy().contains(TMP_MARKER) {
            continue;
        }
        let old = entry
            .metadata()
            .await
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_TEMP_AGE);
        if old {
            let path = entry.path();
            match tokio::fs::remove_file(&path).await {
                Ok(()) => tracing::info!(path = %path.display(), "removed a stale temporary file"),
                Err(e) => {
                    tracing::debug!(path = %path.display(), "could not remove a stale temporary file: {e}");
                }
            }
        }
    }
}

/// Walks the folder of `prefix` below `root` and returns the files whose keys match it.
fn walk(root: &Path, prefix: &Prefix) -> Result<Vec<ObjectMeta>> {
    let mut out = Vec::new();
    let mut start = root.to_path_buf();
    start.extend(prefix.dir().split('/').filter(|s| !s.is_empty()));
    let mut stack = vec![(start, prefix.dir().to_owned())];
    while let Some((dir, rel)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                continue
            }
            Err(e) => {
                return Err(Error::from_io(
                    BACKEND,
                    format!("listing {}", dir.display()),
                    e,
                ))
            }
        };
        for entry in entries {
            let entry = entry
                .map_err(|e| Error::from_io(BACKEND, format!("listing {}", dir.display()), e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue; // not UTF-8: cannot be a key
            };
            if name.contains(TMP_MARKER) {
                continue;
            }
            let rel_name = format!("{rel}{name}");
            let file_type = entry.file_type().map_err(|e| {
                Error::from_io(BACKEND, format!("reading {}", entry.path().display()), e)
            })?;
            if file_type.is_dir() {
                // Descend only where keys under the prefix can live.
                let sub = format!("{rel_name}/");
                if sub.starts_with(prefix.as_str()) || prefix.as_str().starts_with(&sub) {
                    stack.push((entry.path(), sub));
                }
            } else if file_type.is_file() && prefix.matches(&rel_name) {
                let Ok(key) = Key::parse(&rel_name) else {
                    continue;
                };
                let meta = entry.metadata().map_err(|e| {
                    Error::from_io(BACKEND, format!("reading {}", entry.path().display()), e)
                })?;
                out.push(ObjectMeta {
                    key,
                    size: meta.len(),
                    modified: meta.modified().ok().map(DateTime::<Utc>::from),
                    checksum: None,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudmirror_contract::testkit::Fixture;
    use cloudmirror_contract::StoreExt;

    #[allow(clippy::unused_async)] // the contract macro awaits every factory
    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LocalStore::new(LocalConfig::new(dir.path()));
        Fixture::with_guard(store, dir)
    }

    cloudmirror_contract::contract_suite!(fixture);

    fn temp_files(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(TMP_MARKER))
            .collect()
    }

    #[tokio::test]
    async fn an_abandoned_upload_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(LocalConfig::new(dir.path()));
        let key = Key::parse("db.gz").unwrap();
        // A body that yields one chunk and then never ends: the upload is dropped mid-write.
        let body: ByteStream = futures::stream::once(async { Ok(bytes::Bytes::from("partial")) })
            .chain(futures::stream::pending())
            .boxed();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let upload = store.upload(&key, body, None);
        tokio::select! {
            _ = upload => panic!("the body never ends"),
            () = async {
                // Wait until the temporary file exists, then abandon the upload.
                while temp_files(dir.path()).is_empty() {
                    tokio::task::yield_now().await;
                }
                let _ = tx.send(());
            } => {}
        }
        rx.await.unwrap();
        assert!(
            temp_files(dir.path()).is_empty(),
            "{:?}",
            temp_files(dir.path())
        );
        assert!(!dir.path().join("db.gz").exists());
    }

    #[tokio::test]
    async fn uploads_remove_stale_temp_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(LocalConfig::new(dir.path()));
        let stale = dir.path().join(".old.gz.cloudmirror-tmp-00000000000000aa");
        let young = dir.path().join(".new.gz.cloudmirror-tmp-00000000000000bb");
        std::fs::write(&stale, "left by a killed run").unwrap();
        std::fs::write(&young, "a running upload").unwrap();
        let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_hours(48);
        std::fs::File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(two_days_ago)
            .unwrap();
        store
            .upload_bytes(&Key::parse("db.gz").unwrap(), "x".into())
            .await
            .unwrap();
        assert!(!stale.exists(), "stale temp file removed");
        assert!(
            young.exists(),
            "a young temp file may be a running upload: kept"
        );
    }

    #[tokio::test]
    async fn keys_map_to_nested_files_and_temp_files_are_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(LocalConfig::new(dir.path()));
        let key = Key::parse("daily/db.json.gz").unwrap();
        store.upload_bytes(&key, "x".into()).await.unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("daily").join("db.json.gz")).unwrap(),
            b"x"
        );
        std::fs::write(
            dir.path()
                .join("daily")
                .join(".db.json.gz.cloudmirror-tmp-1"),
            "partial",
        )
        .unwrap();
        let all = store.list_all(&Prefix::root()).await.unwrap();
        assert_eq!(all.len(), 1);
    }

    #[tokio::test]
    async fn failed_write_removes_its_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(LocalConfig::new(dir.path()));
        let key = Key::parse("x.bin").unwrap();
        let body = futures::stream::iter(vec![
            Ok(bytes::Bytes::from_static(b"abc")),
            Err(Error::new(ErrorKind::Other, "source", "died")),
        ])
        .boxed();
        assert!(store.upload(&key, body, None).await.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn unwritable_root_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "x").unwrap();
        let store = LocalStore::new(LocalConfig::new(&file));
        let err = store
            .upload_bytes(&Key::parse("a/b").unwrap(), "x".into())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }
}
