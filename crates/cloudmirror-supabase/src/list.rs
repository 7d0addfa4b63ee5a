//! Listing: a lazy stream over `POST /object/list/{bucket}` pages, descending into folders.
//!
//! The endpoint lists one folder level: files, and sub-folders as entries with a null `id`.
//! For a prefix such as `daily/db-` the stream lists the folder `daily/`, keeps files whose key
//! starts with the prefix and descends into sub-folders that do (depth first). Pages follow
//! `limit`/`offset` until a page comes back short. A folder that does not exist lists nothing.

use chrono::{DateTime, Utc};
use cloudmirror_contract::{Error, Key, ObjectMeta, ObjectStream, Prefix};
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::client::{Client, Entry};
use crate::error::BACKEND;
use crate::names;

/// One folder still to list: its key form (`""` or ending with `/`) and the next offset.
struct Pending {
    dir: String,
    offset: usize,
}

/// Every object under `prefix`, lazily, page by page.
pub(crate) fn list<'a>(client: &'a Client, prefix: &'a Prefix) -> ObjectStream<'a> {
    let start = vec![Pending {
        dir: prefix.dir().to_owned(),
        offset: 0,
    }];
    stream::try_unfold(start, move |mut todo| async move {
        let Some(next) = todo.pop() else {
            return Ok::<_, Error>(None);
        };
        let page = client.list_page(&names::encode(&next.dir), next.offset).await?;
        if page.len() >= client.settings.page_size {
            todo.push(Pending {
                dir: next.dir.clone(),
                offset: next.offset + page.len(),
            });
        }
        let mut found = Vec::new();
        for entry in page {
            let Some(name) = names::decode(&entry.name) else {
                tracing::warn!(backend = BACKEND, name = %entry.name, "skipping an object name cloudmirror did not write");
                continue;
            };
            let path = format!("{}{name}", next.dir);
            if entry.id.is_none() {
                let folder = format!("{path}/");
                if prefix.matches(&folder) {
                    todo.push(Pending {
                        dir: folder,
                        offset: 0,
                    });
                }
            } else if prefix.matches(&path) {
                if let Some(meta) = to_meta(&path, &entry) {
                    found.push(Ok(meta));
                }
            }
        }
        Ok(Some((stream::iter(found), todo)))
    })
    .try_flatten()
    .boxed()
}

fn to_meta(path: &str, entry: &Entry) -> Option<ObjectMeta> {
    let Ok(key) = Key::parse(path) else {
        tracing::warn!(backend = BACKEND, name = %path, "skipping an object whose name is not a valid key");
        return None;
    };
    Some(ObjectMeta {
        key,
        size: entry.metadata.as_ref().and_then(|m| m.size).unwrap_or(0),
        modified: entry
            .updated_at
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)),
        checksum: None,
    })
}
