//! The fake's `files/*` routes: namespaces of files keyed by `path_lower`, sessions and listings.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sha2::Digest as _;
use wiremock::ResponseTemplate;

use super::wire::{header_safe_json, route_error, text};
use super::{Ctx, FileEntry, Listing, State};

/// How a write failure is wrapped: `files/upload` and `upload_session/finish` differ.
#[derive(Debug, Clone)]
pub(super) enum WriteShape {
    /// `UploadError.path` is an `UploadWriteFailed` struct (inlined next to `.tag`): the
    /// `WriteError` as `reason`, and the session that holds the bytes.
    Upload(String),
    /// `UploadSessionFinishError.path` is a `WriteError` union (nested under `path`).
    Finish,
}

impl WriteShape {
    #[allow(clippy::needless_pass_by_value)] // Reason: callers hand over a fresh value.
    fn wrap(self, write_error: Value) -> Value {
        match self {
            WriteShape::Upload(session) => json!({".tag": "path", "reason": write_error,
                "upload_session_id": session}),
            WriteShape::Finish => json!({".tag": "path", "path": write_error}),
        }
    }
}

impl State {
    /// RPC routes of the `files` namespace.
    pub(super) fn rpc(&mut self, route: &str, arg: &Value, ctx: &Ctx) -> ResponseTemplate {
        match route {
            "files/list_folder" => self.list_folder(route, arg, ctx),
            "files/list_folder/continue" => {
                let cursor = arg
                    .get("cursor")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                match self.cursors.get_mut(cursor) {
                    Some(listing) => page(cursor, listing),
                    None => route_error(json!({".tag": "reset"})),
                }
            }
            "files/get_metadata" => {
                let path = str_field(arg, "path");
                // GetMetadataArg.path is a ReadPath, whose pattern does not match "": the root
                // has no metadata ("Metadata for the root folder is unsupported").
                if path.is_empty() {
                    return text(
                        400,
                        route,
                        r"request body: path: '' did not match pattern '(/(.|[\r\n])*|id:.*)|(rev:[0-9a-f]{9,})|(ns:[0-9]+(/(.|[\r\n])*)?)'",
                    );
                }
                let files = self.ns(&ctx.ns);
                match lookup(files, &path) {
                    Some(meta) => ResponseTemplate::new(200).set_body_json(meta),
                    None => route_error(json!({".tag": "path", "path": {".tag": "not_found"}})),
                }
            }
            "files/delete_v2" => self.delete(arg, ctx),
            _ => text(404, route, "Unknown API function"),
        }
    }

    /// `files/download`: the bytes, with the metadata in `Dropbox-API-Result`.
    pub(super) fn download(&mut self, arg: &Value, ctx: &Ctx) -> ResponseTemplate {
        let path = str_field(arg, "path");
        let files = self.ns(&ctx.ns);
        match files.get(&path.to_lowercase()) {
            Some(f) => ResponseTemplate::new(200)
                .insert_header(
                    "Dropbox-API-Result",
                    header_safe_json(&file_meta(f)).as_str(),
                )
                .set_body_raw(f.data.clone(), "application/octet-stream"),
            None if is_folder(files, &path.to_lowercase()) => {
                route_error(json!({".tag": "path", "path": {".tag": "not_file"}}))
            }
            None => route_error(json!({".tag": "path", "path": {".tag": "not_found"}})),
        }
    }

    fn ns(&mut self, ns: &str) -> &mut BTreeMap<String, FileEntry> {
        self.namespaces.entry(ns.to_owned()).or_default()
    }

    fn list_folder(&mut self, route: &str, arg: &Value, ctx: &Ctx) -> ResponseTemplate {
        let path = str_field(arg, "path");
        let recursive = arg
            .get("recursive")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let limit = arg.get("limit").and_then(Value::as_u64).unwrap_or(2000);
        if !(1..=2000).contains(&limit) {
            return text(400, route, "limit: must be between 1 and 2000");
        }
        if !path.is_empty() && !valid_path(&path) {
            return route_error(json!({".tag": "path", "path": {".tag": "malformed_path"}}));
        }
        let lower = path.to_lowercase();
        let files = self.ns(&ctx.ns);
        if !lower.is_empty() {
            if files.contains_key(&lower) {
                return route_error(json!({".tag": "path", "path": {".tag": "not_folder"}}));
            }
            if !is_folder(files, &lower) {
                return route_error(json!({".tag": "path", "path": {".tag": "not_found"}}));
            }
        }
        let depth = lower.split('/').count();
        let mut folders: BTreeMap<String, String> = BTreeMap::new();
        let mut entries = Vec::new();
        if recursive && !lower.is_empty() {
            if let Some((_, f)) = files.range(format!("{lower}/")..).next() {
                let display: Vec<&str> = f.path_display.split('/').take(depth).collect();
                folders.insert(lower.clone(), display.join("/"));
            }
        }
        for (key, f) in files.range(format!("{lower}/")..) {
            if !key.starts_with(&format!("{lower}/")) {
                break;
            }
            let segs: Vec<&str> = key.split('/').collect();
            let shown: Vec<&str> = f.path_display.split('/').collect();
            let last = if recursive { segs.len() - 1 } else { depth + 1 };
            for end in depth + 1..=last.min(segs.len() - 1) {
                folders
                    .entry(segs[..end].join("/"))
                    .or_insert_with(|| shown[..end].join("/"));
            }
            if recursive || segs.len() == depth + 1 {
                entries.push(file_meta(f));
            }
        }
        let mut all: Vec<Value> = folders
            .iter()
            .map(|(lower, display)| folder_meta(lower, display))
            .collect();
        all.append(&mut entries);
        let page_size = self
            .opts
            .max_page_size
            .map_or(limit as usize, |cap| cap.min(limit as usize))
            .max(1);
        let cursor = format!("AAFakeCursor{}", self.next_seq());
        let listing = self.cursors.entry(cursor.clone()).or_insert(Listing {
            entries: all,
            pos: 0,
            page: page_size,
        });
        page(&cursor, listing)
    }

    fn delete(&mut self, arg: &Value, ctx: &Ctx) -> ResponseTemplate {
        let path = str_field(arg, "path");
        let lower = path.to_lowercase();
        let parent_rev = arg
            .get("parent_rev")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let files = self.ns(&ctx.ns);
        if let Some(f) = files.get(&lower) {
            if parent_rev.is_some_and(|r| r != f.rev) {
                return route_error(json!({".tag": "path_write",
                    "path_write": {".tag": "conflict", "conflict": {".tag": "file"}}}));
            }
            let meta = file_meta(f);
            files.remove(&lower);
            return ResponseTemplate::new(200).set_body_json(json!({"metadata": meta}));
        }
        if !lower.is_empty() && is_folder(files, &lower) {
            if parent_rev.is_some() {
                return route_error(json!({".tag": "path_write",
                    "path_write": {".tag": "conflict", "conflict": {".tag": "folder"}}}));
            }
            let meta = lookup(files, &path).unwrap_or(Value::Null);
            files.retain(|k, _| !k.starts_with(&format!("{lower}/")));
            return ResponseTemplate::new(200).set_body_json(json!({"metadata": meta}));
        }
        route_error(json!({".tag": "path_lookup", "path_lookup": {".tag": "not_found"}}))
    }

    /// Writes a file like `files/upload` and `upload_session/finish` do, taking `data` only when
    /// it stores it; `Err` is a `WriteError`.
    pub(super) fn commit(
        &mut self,
        ns: &str,
        path: &str,
        mode: &Value,
        data: &mut Vec<u8>,
    ) -> Result<Value, Value> {
        if !valid_path(path) {
            return Err(json!({".tag": "malformed_path"}));
        }
        let hash = cloudmirror_contract::dropbox_content_hash(data);
        let lower = path.to_lowercase();
        let seq = self.next_seq();
        let files = self.ns(ns);
        let segs: Vec<&str> = lower.split('/').collect();
        let mut display: Vec<String> = path.split('/').map(str::to_owned).collect();
        for end in 2..segs.len() {
            let ancestor = segs[..end].join("/");
            if files.contains_key(&ancestor) {
                return Err(json!({".tag": "conflict", "conflict": {".tag": "file_ancestor"}}));
            }
            // Existing folders keep their case.
            if let Some((_, f)) = files
                .range(format!("{ancestor}/")..)
                .next()
                .filter(|(k, _)| k.starts_with(&format!("{ancestor}/")))
            {
                if let Some(seg) = f.path_display.split('/').nth(end - 1) {
                    seg.clone_into(&mut display[end - 1]);
                }
            }
        }
        if is_folder(files, &lower) {
            return Err(json!({".tag": "conflict", "conflict": {".tag": "folder"}}));
        }
        if let Some(existing) = files.get(&lower) {
            let same = existing.content_hash == hash;
            let allowed = match tag_of(mode) {
                Some("overwrite") => true,
                Some("update") => mode.get("update").and_then(Value::as_str) == Some(&existing.rev),
                _ => same,
            };
            if !allowed {
                return Err(json!({".tag": "conflict", "conflict": {".tag": "file"}}));
            }
            if same {
                return Ok(file_meta(existing));
            }
        }
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let entry = FileEntry {
            path_display: display.join("/"),
            data: std::mem::take(data),
            rev: format!("{seq:015x}"),
            id: format!("id:AAFakeId{seq}"),
            server_modified: now,
            content_hash: hash,
        };
        let meta = file_meta(&entry);
        files.insert(lower, entry);
        Ok(meta)
    }
}

/// The 409 for a failed write, in the route's shape.
pub(super) fn write_failure(write_error: Value, shape: WriteShape) -> ResponseTemplate {
    route_error(shape.wrap(write_error))
}

/// The next page of a listing.
fn page(cursor: &str, listing: &mut Listing) -> ResponseTemplate {
    let end = (listing.pos + listing.page).min(listing.entries.len());
    let entries = listing.entries[listing.pos..end].to_vec();
    listing.pos = end;
    ResponseTemplate::new(200).set_body_json(json!({
        "entries": entries,
        "cursor": cursor,
        "has_more": end < listing.entries.len(),
    }))
}

pub(super) fn tag_of(v: &Value) -> Option<&str> {
    v.as_str().or_else(|| v.get(".tag").and_then(Value::as_str))
}

pub(super) fn str_field(v: &Value, field: &str) -> String {
    v.get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

pub(super) fn cursor_of(arg: &Value) -> (String, u64) {
    let cursor = arg.get("cursor").cloned().unwrap_or(Value::Null);
    (
        str_field(&cursor, "session_id"),
        cursor
            .get("offset")
            .and_then(Value::as_u64)
            .unwrap_or(u64::MAX),
    )
}

/// A path the real API accepts: `/` then non-empty segments, no trailing `/`.
fn valid_path(path: &str) -> bool {
    path.len() > 1
        && path.starts_with('/')
        && path[1..]
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

/// Whether a folder exists at `lower` (folders exist while they hold files).
fn is_folder(files: &BTreeMap<String, FileEntry>, lower: &str) -> bool {
    let start = format!("{lower}/");
    files
        .range(start.clone()..)
        .next()
        .is_some_and(|(k, _)| k.starts_with(&start))
}

/// Metadata of whatever is at `path`, file or folder.
fn lookup(files: &BTreeMap<String, FileEntry>, path: &str) -> Option<Value> {
    let lower = path.to_lowercase();
    if let Some(f) = files.get(&lower) {
        return Some(file_meta(f));
    }
    let start = format!("{lower}/");
    let (_, f) = files
        .range(start.clone()..)
        .next()
        .filter(|(k, _)| k.starts_with(&start))?;
    let depth = lower.split('/').count();
    let display: Vec<&str> = f.path_display.split('/').take(depth).collect();
    Some(folder_meta(&lower, &display.join("/")))
}

fn file_meta(f: &FileEntry) -> Value {
    json!({
        ".tag": "file",
        "name": f.path_display.rsplit('/').next().unwrap_or_default(),
        "id": f.id,
        "path_lower": f.path_display.to_lowercase(),
        "path_display": f.path_display,
        "client_modified": f.server_modified,
        "server_modified": f.server_modified,
        "rev": f.rev,
        "size": f.data.len(),
        "content_hash": f.content_hash,
        "is_downloadable": true,
    })
}

fn folder_meta(lower: &str, display: &str) -> Value {
    json!({
        ".tag": "folder",
        "name": display.rsplit('/').next().unwrap_or_default(),
        // One id per folder path (ids are stable and unique, `FolderMetadata.id`).
        "id": format!("id:AAFakeFolder{}", hex::encode(&sha2::Sha256::digest(lower)[..8])),
        "path_lower": lower,
        "path_display": display,
    })
}
