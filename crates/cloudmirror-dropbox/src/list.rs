//! Listing: `list_folder` (recursive) on the prefix's folder, following `list_folder/continue`
//! lazily, keeping files only and turning their paths back into keys.

use chrono::{DateTime, Utc};
use cloudmirror_contract::{Checksum, Key, ObjectMeta, ObjectStream, Prefix};
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::client::{Client, FileMetadata, ListPage, Metadata};

enum Step {
    Start,
    Continue(String),
    Done,
}

/// Every file under `prefix`, page by page.
pub(crate) fn list<'a>(client: &'a Client, prefix: &'a Prefix) -> ObjectStream<'a> {
    let folder = &client.settings.folder;
    let dir = prefix.dir().trim_end_matches('/');
    let path = if dir.is_empty() {
        folder.clone()
    } else {
        format!("{folder}/{dir}")
    };
    // Segments of the store root in every returned path (Dropbox paths start with '/').
    let root_segments = folder.split('/').filter(|s| !s.is_empty()).count();
    stream::try_unfold(Step::Start, move |step| {
        let path = path.clone();
        async move {
            let page: ListPage = match step {
                Step::Done => return Ok(None),
                Step::Start => match client.list_folder(&path, true).await? {
                    Ok(page) => page,
                    // A folder that does not exist (or is a file) holds no objects.
                    Err(api) if api.has("not_found") || api.has("not_folder") => return Ok(None),
                    Err(api) => return Err(api.into_error(None).context("files/list_folder")),
                },
                Step::Continue(cursor) => client
                    .list_folder_continue(&cursor)
                    .await?
                    .map_err(|api| api.into_error(None).context("files/list_folder/continue"))?,
            };
            let items: Vec<ObjectMeta> = page
                .entries
                .into_iter()
                .filter_map(|entry| match entry {
                    Metadata::File(file) => object_meta(&file, root_segments, prefix),
                    Metadata::Folder {} | Metadata::Other => None,
                })
                .collect();
            let next = if page.has_more {
                Step::Continue(page.cursor)
            } else {
                Step::Done
            };
            Ok::<_, cloudmirror_contract::Error>(Some((items, next)))
        }
    })
    .map_ok(|items| stream::iter(items.into_iter().map(Ok)))
    .try_flatten()
    .boxed()
}

/// The key of a listed file: its `path_display` minus the store root's segments (Dropbox is
/// case-insensitive, so the root's case in the answer may differ from the configured one).
pub(crate) fn object_meta(
    file: &FileMetadata,
    root_segments: usize,
    prefix: &Prefix,
) -> Option<ObjectMeta> {
    let shown = file
        .path_display
        .as_deref()
        .or(file.path_lower.as_deref())?;
    let rel: Vec<&str> = shown
        .split('/')
        .filter(|s| !s.is_empty())
        .skip(root_segments)
        .collect();
    let key = Key::parse(&rel.join("/")).ok()?;
    if !prefix.matches(key.as_str()) {
        return None;
    }
    Some(meta_of(key, file))
}

/// The contract's metadata for a stored file.
pub(crate) fn meta_of(key: Key, file: &FileMetadata) -> ObjectMeta {
    ObjectMeta {
        key,
        size: file.size,
        modified: file
            .server_modified
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)),
        checksum: file
            .content_hash
            .clone()
            .map(|h| Checksum::DropboxContentHash(h.to_ascii_lowercase())),
    }
}
