//! Listing: a lazy stream of pages.
//!
//! - First choice, `POST /object/list-v2/{bucket}` without a delimiter: every object whose full
//!   name starts with the prefix, matched case-sensitively (`name LIKE`), full names, pages
//!   chained by an opaque cursor (supabase/storage v1.19.0 and later).
//! - Older servers (the route answers 404 or `FeatureNotEnabled`): `POST /object/list/{bucket}`,
//!   one folder level a page (sub-folders are entries with a null `id`), descending into folders
//!   (depth first), pages by `limit`/`offset` until one comes back short. That route matches the
//!   prefix case-**insensitively** and names entries relative to it, so objects under `DAILY/`
//!   also come back when listing `daily/`, under the wrong name; it is used only when the
//!   server has nothing better, with a warning.
//!
//! Either way, only keys that start with the prefix exactly, byte for byte, are kept.

use chrono::{DateTime, Utc};
use cloudmirror_contract::{Error, ErrorKind, Key, ObjectMeta, ObjectStream, Prefix};
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::client::{Client, Entry};
use crate::error::BACKEND;
use crate::names;

/// One folder still to list: its key form (`""` or ending with `/`) and the next offset.
struct Pending {
    dir: String,
    offset: usize,
}

/// Where the flat listing stands.
enum Flat {
    /// The next page to ask for (`None`: the first).
    Next(Option<String>),
    /// The last page came.
    Done,
}

/// Every object under `prefix`, lazily, page by page.
pub(crate) fn list<'a>(client: &'a Client, prefix: &'a Prefix) -> ObjectStream<'a> {
    let encoded = names::encode(prefix.as_str());
    stream::try_unfold(Flat::Next(None), move |state| {
        let encoded = encoded.clone();
        async move {
            let Flat::Next(cursor) = state else {
                return Ok::<_, Error>(None);
            };
            let Some(page) = client.list_v2_page(&encoded, cursor.as_deref()).await? else {
                if cursor.is_some() {
                    return Err(Error::new(
                        ErrorKind::Other,
                        BACKEND,
                        "the server stopped serving list-v2 in the middle of a listing",
                    ));
                }
                tracing::warn!(
                    backend = BACKEND,
                    "this storage server has no list-v2 route (older than v1.19.0): listing with the legacy route, which matches names case-insensitively"
                );
                return Ok(Some((legacy(client, prefix), Flat::Done)));
            };
            let next = match (page.has_next, page.next_cursor) {
                (true, Some(c)) => Flat::Next(Some(c)),
                _ => Flat::Done,
            };
            let found: Vec<_> = page
                .objects
                .iter()
                .filter(|e| e.id.is_some())
                .filter_map(|e| {
                    let Some(key) = names::decode(&e.name) else {
                        tracing::warn!(backend = BACKEND, name = %e.name, "skipping an object name cloudmirror did not write");
                        return None;
                    };
                    // The server matched the prefix already; this keeps the rule local.
                    prefix.matches(&key).then(|| to_meta(&key, e)).flatten()
                })
                .map(Ok)
                .collect();
            Ok(Some((stream::iter(found).boxed(), next)))
        }
    })
    .try_flatten()
    .boxed()
}

/// The legacy listing: `POST /object/list/{bucket}` folder by folder.
fn legacy<'a>(client: &'a Client, prefix: &'a Prefix) -> ObjectStream<'a> {
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
