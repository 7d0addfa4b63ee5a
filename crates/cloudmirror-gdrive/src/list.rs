//! Listing: a lazy walk of the folder tree under a prefix's folder, page by page.
//!
//! Each folder is listed with `'<id>' in parents and trashed = false`, newest first, so the first
//! file of each name is the one `download` would pick; later duplicates are skipped. Sub-folders
//! are visited only where keys under the prefix can live; of twin folders, the oldest is used,
//! as when resolving paths.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use cloudmirror_contract::{Checksum, Key, ObjectMeta, ObjectStream, Prefix, Result};
use futures::{stream, StreamExt, TryStreamExt};

use crate::client::Client;
use crate::index::{quote, FolderIndex};

/// One folder being listed.
struct Cursor {
    id: String,
    rel: String,
    token: Option<String>,
    seen_files: HashSet<String>,
    /// Sub-folder name -> (created, id) of the oldest one of that name.
    subfolders: BTreeMap<String, (Option<DateTime<Utc>>, String)>,
}

struct Walk<'a> {
    client: &'a Client,
    index: &'a FolderIndex,
    prefix: &'a Prefix,
    started: bool,
    pending: Vec<(String, String)>,
    current: Option<Cursor>,
}

/// Lists every object under `prefix`, lazily.
pub(crate) fn list<'a>(
    client: &'a Client,
    index: &'a FolderIndex,
    prefix: &'a Prefix,
) -> ObjectStream<'a> {
    let walk = Walk {
        client,
        index,
        prefix,
        started: false,
        pending: Vec::new(),
        current: None,
    };
    stream::try_unfold(walk, step)
        .map_ok(|page| stream::iter(page.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
}

/// Produces the next non-empty batch of objects, or `None` at the end.
async fn step(mut w: Walk<'_>) -> Result<Option<(Vec<ObjectMeta>, Walk<'_>)>> {
    if !w.started {
        w.started = true;
        let dir = w.prefix.dir();
        match w.index.find(w.client, dir).await? {
            Some(id) => w.pending.push((id, dir.to_owned())),
            None => return Ok(None),
        }
    }
    loop {
        let mut cur = match w.current.take() {
            Some(c) => c,
            None => match w.pending.pop() {
                Some((id, rel)) => Cursor {
                    id,
                    rel,
                    token: None,
                    seen_files: HashSet::new(),
                    subfolders: BTreeMap::new(),
                },
                None => return Ok(None),
            },
        };
        let q = format!("{} in parents and trashed = false", quote(&cur.id));
        let page = w
            .client
            .list_page(&q, Some("modifiedTime desc"), cur.token.as_deref())
            .await?;
        let mut out = Vec::new();
        for f in page.files {
            if f.is_folder() {
                let sub = format!("{}{}/", cur.rel, f.name);
                let wanted =
                    sub.starts_with(w.prefix.as_str()) || w.prefix.as_str().starts_with(&sub);
                if !wanted || f.name.contains('/') {
                    continue;
                }
                let entry = cur
                    .subfolders
                    .entry(f.name.clone())
                    .or_insert_with(|| (f.created_time, f.id.clone()));
                if f.created_time < entry.0 {
                    *entry = (f.created_time, f.id.clone());
                }
                continue;
            }
            // Newest first: a name seen before in this folder is an older duplicate.
            if !cur.seen_files.insert(f.name.clone()) {
                continue;
            }
            let key = format!("{}{}", cur.rel, f.name);
            if !w.prefix.matches(&key) {
                continue;
            }
            let Ok(key) = Key::parse(&key) else {
                tracing::debug!(
                    backend = crate::BACKEND,
                    "skipping a file whose name is not a valid key"
                );
                continue;
            };
            out.push(ObjectMeta {
                key,
                size: f.size().unwrap_or(0),
                modified: f.modified_time,
                checksum: f
                    .md5_checksum
                    .map(|m| Checksum::Md5(m.to_ascii_lowercase())),
            });
        }
        match page.next_page_token {
            Some(t) => {
                cur.token = Some(t);
                w.current = Some(cur);
            }
            None => {
                for (name, (_, id)) in cur.subfolders {
                    w.pending.push((id, format!("{}{name}/", cur.rel)));
                }
            }
        }
        if !out.is_empty() {
            return Ok(Some((out, w)));
        }
    }
}
