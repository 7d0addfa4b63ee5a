//! The fake's `files/*` routes: namespaces of files keyed by `path_lower`, sessions and listings.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use wiremock::ResponseTemplate;

use super::wire::{header_safe_json, route_error, text};
use super::{Ctx, FileEntry, Listing, Session, State};

/// How a write failure is wrapped: `files/upload` and `upload_session/finish` differ.
#[derive(Debug, Clone, Copy)]
enum WriteShape {
    Upload,
    Finish,
}

impl WriteShape {
    #[allow(clippy::needless_pass_by_value)] // Reason: callers hand over a fresh value.
    fn wrap(self, write_error: Value) -> Value {
        match self {
            WriteShape::Upload => json!({".tag": "path", "reason": write_error,
                "upload_session_id": "pid_upload_session:fake"}),
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

    /// Content routes: uploads, upload sessions and downloads.
    pub(super) fn content(
        &mut self,
        route: &str,
        arg: &Value,
        body: &[u8],
        ctx: &Ctx,
    ) -> ResponseTemplate {
        let too_large = body.len() as u64 > self.opts.single_upload_limit;
        match route {
            "files/upload" => {
                if too_large {
                    return route_error(json!({".tag": "payload_too_large"}));
                }
                let path = str_field(arg, "path");
                let mode = arg.get("mode").cloned().unwrap_or(json!("add"));
                let hash = arg.get("content_hash").and_then(Value::as_str);
                match self.commit(&ctx.ns, &path, &mode, &mut body.to_vec(), hash) {
                    Ok(meta) => ResponseTemplate::new(200).set_body_json(meta),
                    Err(e) => write_failure(e, WriteShape::Upload),
                }
            }
            "files/upload_session/start" => {
                if too_large {
                    return route_error(json!({".tag": "payload_too_large"}));
                }
                if arg.get("session_type").and_then(tag_of) == Some("concurrent") {
                    return text(
                        400,
                        route,
                        "concurrent sessions are not supported by this fake",
                    );
                }
                let id = format!("pid_upload_session:fake-{}", self.next_seq());
                let closed = arg.get("close").and_then(Value::as_bool).unwrap_or(false);
                self.sessions.insert(
                    id.clone(),
                    Session {
                        data: body.to_vec(),
                        closed,
                    },
                );
                ResponseTemplate::new(200).set_body_json(json!({"session_id": id}))
            }
            "files/upload_session/append_v2" => {
                if too_large {
                    return route_error(json!({".tag": "payload_too_large"}));
                }
                let (id, offset) = cursor_of(arg);
                let close = arg.get("close").and_then(Value::as_bool).unwrap_or(false);
                let partial = self.partial_append.take();
                let session = match self.session_at(&id, offset, false) {
                    Ok(s) => s,
                    Err(lookup) => return route_error(lookup),
                };
                if let Some(keep) = partial {
                    session
                        .data
                        .extend_from_slice(&body[..keep.min(body.len())]);
                    return text(503, route, "connection reset while reading the body");
                }
                session.data.extend_from_slice(body);
                session.closed = close;
                ResponseTemplate::new(200).set_body_json(Value::Null)
            }
            "files/upload_session/finish" => {
                if too_large {
                    return route_error(json!({".tag": "lookup_failed",
                        "lookup_failed": {".tag": "payload_too_large"}}));
                }
                self.finish(arg, body, ctx)
            }
            "files/download" => {
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
            _ => text(404, route, "Unknown API function"),
        }
    }

    fn finish(&mut self, arg: &Value, body: &[u8], ctx: &Ctx) -> ResponseTemplate {
        let (id, offset) = cursor_of(arg);
        let mut data = match self.session_at(&id, offset, true) {
            Ok(s) => std::mem::take(&mut s.data),
            Err(lookup) => {
                return route_error(json!({".tag": "lookup_failed", "lookup_failed": lookup}))
            }
        };
        data.extend_from_slice(body);
        let commit = arg.get("commit").cloned().unwrap_or(Value::Null);
        let path = str_field(&commit, "path");
        let mode = commit.get("mode").cloned().unwrap_or(json!("add"));
        let hash = arg.get("content_hash").and_then(Value::as_str);
        match self.commit(&ctx.ns, &path, &mode, &mut data, hash) {
            Ok(meta) => {
                self.sessions.remove(&id);
                ResponseTemplate::new(200).set_body_json(meta)
            }
            Err(e) => {
                // The real API keeps the data: finish may be retried with an empty body.
                if let Some(s) = self.sessions.get_mut(&id) {
                    s.data = data;
                    s.closed = true;
                }
                write_failure(e, WriteShape::Finish)
            }
        }
    }

    /// The session `id` if `offset` is where it stands, else the lookup error.
    fn session_at(&mut self, id: &str, offset: u64, finish: bool) -> Result<&mut Session, Value> {
        let Some(session) = self.sessions.get_mut(id) else {
            return Err(json!({".tag": "not_found"}));
        };
        if session.data.len() as u64 != offset {
            return Err(json!({".tag": "incorrect_offset", "correct_offset": session.data.len()}));
        }
        if session.closed && !finish {
            return Err(json!({".tag": "closed"}));
        }
        Ok(session)
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
    /// it stores it; `Err` is a `WriteError` (or a top-level error such as
    /// `content_hash_mismatch`, tagged `Err(Err(..))`).
    pub(super) fn commit(
        &mut self,
        ns: &str,
        path: &str,
        mode: &Value,
        data: &mut Vec<u8>,
        content_hash: Option<&str>,
    ) -> Result<Value, Result<Value, Value>> {
        if !valid_path(path) {
            return Err(Ok(json!({".tag": "malformed_path"})));
        }
        let hash = cloudmirror_contract::dropbox_content_hash(data);
        if content_hash.is_some_and(|h| !h.eq_ignore_ascii_case(&hash)) {
            return Err(Err(json!({".tag": "content_hash_mismatch"})));
        }
        let lower = path.to_lowercase();
        let seq = self.next_seq();
        let files = self.ns(ns);
        let segs: Vec<&str> = lower.split('/').collect();
        let mut display: Vec<String> = path.split('/').map(str::to_owned).collect();
        for end in 2..segs.len() {
            let ancestor = segs[..end].join("/");
            if files.contains_key(&ancestor) {
                return Err(Ok(
                    json!({".tag": "conflict", "conflict": {".tag": "file_ancestor"}}),
                ));
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
            return Err(Ok(
                json!({".tag": "conflict", "conflict": {".tag": "folder"}}),
            ));
        }
        if let Some(existing) = files.get(&lower) {
            let same = existing.content_hash == hash;
            let allowed = match tag_of(mode) {
                Some("overwrite") => true,
                Some("update") => mode.get("update").and_then(Value::as_str) == Some(&existing.rev),
                _ => same,
            };
            if !allowed {
                return Err(Ok(
                    json!({".tag": "conflict", "conflict": {".tag": "file"}}),
                ));
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

fn write_failure(e: Result<Value, Value>, shape: WriteShape) -> ResponseTemplate {
    match e {
        Ok(write_error) => route_error(shape.wrap(write_error)),
        Err(top) => route_error(top),
    }
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

fn tag_of(v: &Value) -> Option<&str> {
    v.as_str().or_else(|| v.get(".tag").and_then(Value::as_str))
}

fn str_field(v: &Value, field: &str) -> String {
    v.get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn cursor_of(arg: &Value) -> (String, u64) {
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
        "id": format!("id:AAFakeFolder{}", lower.len()),
        "path_lower": lower,
        "path_display": display,
    })
}
