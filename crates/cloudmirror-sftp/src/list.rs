//! Listings: every file under a prefix, folder by folder (`SSH_FXP_OPENDIR`/`READDIR`), lazily;
//! temporary upload names are hidden.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use cloudmirror_contract::{Key, ObjectMeta, ObjectStream, Prefix, Result};
use futures::stream::{self, StreamExt};
use russh_sftp::protocol::FileAttributes;

use crate::client::{Client, Conn};
use crate::error::{is_eof, is_no_such_file, sftp_error};
use cloudmirror_contract::temp::is_temp_name;

/// `SSH_FXP_STAT` of `path` (following links); `None` when there is no such file.
pub(crate) async fn stat(conn: &Conn, path: &str) -> Result<Option<FileAttributes>> {
    match conn.sftp.stat(path).await {
        Ok(a) => Ok(Some(a.attrs)),
        Err(e) if is_no_such_file(&e) => Ok(None),
        Err(e) => Err(sftp_error(&format!("stat {path}"), &e)),
    }
}

/// The modification time a server reports (seconds since 1970).
pub(crate) fn modified(attrs: &FileAttributes) -> Option<DateTime<Utc>> {
    attrs
        .mtime
        .and_then(|t| DateTime::from_timestamp(i64::from(t), 0))
}

/// One folder entry.
#[derive(Debug)]
struct Entry {
    name: String,
    attrs: FileAttributes,
}

/// Every entry of the folder `path`; `None` when it does not exist.
async fn read_dir(conn: &Conn, path: &str) -> Result<Option<Vec<Entry>>> {
    let handle = match conn.sftp.opendir(path).await {
        Ok(h) => h.handle,
        Err(e) if is_no_such_file(&e) => return Ok(None),
        Err(e) => return Err(sftp_error(&format!("listing {path}"), &e)),
    };
    let mut out = Vec::new();
    let result = loop {
        match conn.sftp.readdir(handle.as_str()).await {
            Ok(name) => out.extend(name.files.into_iter().map(|f| Entry {
                name: f.filename,
                attrs: f.attrs,
            })),
            Err(e) if is_eof(&e) => break Ok(()),
            Err(e) => break Err(sftp_error(&format!("listing {path}"), &e)),
        }
    };
    if let Err(e) = conn.sftp.close(handle).await {
        tracing::debug!(
            backend = crate::error::BACKEND,
            "closing folder {path}: {e}"
        );
    }
    result.map(|()| Some(out))
}

/// Every object whose key starts with `prefix`, folder by folder.
pub(crate) fn list<'a>(client: &'a Client, prefix: &'a Prefix) -> ObjectStream<'a> {
    // Folders still to read, relative to the root, each ending with `/` (or empty).
    let start: VecDeque<String> = VecDeque::from([prefix.dir().to_owned()]);
    stream::try_unfold(
        (start, VecDeque::<ObjectMeta>::new()),
        move |(mut dirs, mut ready)| async move {
            loop {
                if let Some(meta) = ready.pop_front() {
                    return Ok(Some((meta, (dirs, ready))));
                }
                let Some(dir) = dirs.pop_front() else {
                    return Ok(None);
                };
                let path = client.settings().remote(&dir);
                let entries = client
                    .run("listing", |conn| {
                        let path = path.clone();
                        async move { read_dir(&conn, &path).await }
                    })
                    .await?
                    .unwrap_or_default();
                let mut files = Vec::new();
                for e in entries {
                    if e.name == "." || e.name == ".." || e.name.contains('/') {
                        continue;
                    }
                    let rel = format!("{dir}{}", e.name);
                    let ty = e.attrs.file_type();
                    if ty.is_dir() {
                        let sub = format!("{rel}/");
                        // Descend only where keys under the prefix can be.
                        if sub.starts_with(prefix.as_str()) || prefix.as_str().starts_with(&sub) {
                            dirs.push_back(sub);
                        }
                    } else if ty.is_file() && !is_temp_name(&e.name) && prefix.matches(&rel) {
                        // Names the contract cannot hold as keys are not ours: skip them.
                        if let Ok(key) = Key::parse(&rel) {
                            files.push(ObjectMeta {
                                key,
                                size: e.attrs.len(),
                                modified: modified(&e.attrs),
                                checksum: None,
                            });
                        }
                    }
                }
                files.sort_by(|a, b| a.key.as_str().cmp(b.key.as_str()));
                ready.extend(files);
            }
        },
    )
    .boxed()
}
