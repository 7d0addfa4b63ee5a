//! The fake's metadata routes: `files.list`, `files.get`, `files.create`, `files.update`, `files.delete`.

// Reason: handlers return ready wiremock responses as their errors; the fake is no hot path.
#![allow(clippy::result_large_err)]

use std::cmp::Ordering;

use bytes::Bytes;
use serde_json::{json, Map, Value};
use wiremock::{Request, ResponseTemplate};

use super::query::{self, Cond};
use super::state::{File, State};
use super::{drive_error, SharedDriveRole, FOLDER_MIME};

/// Fields `files.get`/`create`/`update` return without `fields`.
pub(crate) const DEFAULT_FILE_FIELDS: &[&str] = &["kind", "id", "name", "mimeType"];
const DEFAULT_LIST_FIELDS: &[&str] = &["kind", "id", "name", "mimeType", "resourceKey"];

pub(crate) fn param(req: &Request, key: &str) -> Option<String> {
    req.url
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn flag(req: &Request, key: &str) -> bool {
    param(req, key).as_deref() == Some("true")
}

/// 404 for a file that does not exist, or that lives in a shared drive while the request did
/// not say `supportsAllDrives=true`.
pub(crate) fn visible<'a>(
    st: &'a State,
    req: &Request,
    id: &str,
) -> Result<&'a File, ResponseTemplate> {
    match st.files.get(id) {
        Some(f) if f.drive_id.is_none() || flag(req, "supportsAllDrives") => Ok(f),
        _ => Err(not_found(id)),
    }
}

pub(crate) fn not_found(id: &str) -> ResponseTemplate {
    drive_error(404, "notFound", &format!("File not found: {id}."))
}

pub(crate) fn bad_request(message: &str) -> ResponseTemplate {
    drive_error(400, "badRequest", message)
}

/// `GET /drive/v3/files`.
pub(crate) fn list(st: &mut State, req: &Request) -> ResponseTemplate {
    let conds = match param(req, "q").map(|q| query::parse(&q)).transpose() {
        Ok(c) => c.unwrap_or_default(),
        Err(why) => return drive_error(400, "invalid", &format!("Invalid Value (q: {why})")),
    };
    let drive = st.opts.shared_drive_id.clone();
    if let Some(d) = &drive {
        let ok = flag(req, "supportsAllDrives")
            && flag(req, "includeItemsFromAllDrives")
            && param(req, "corpora").as_deref() == Some("drive")
            && param(req, "driveId").as_deref() == Some(d.as_str());
        if !ok {
            return bad_request(
                "fake (shared-drive mode): list needs corpora=drive, driveId, includeItemsFromAllDrives=true and supportsAllDrives=true",
            );
        }
    }
    let page_size = match param(req, "pageSize").map(|p| p.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => return drive_error(400, "invalid", "Invalid Value (pageSize)"),
    };
    let order = param(req, "orderBy").unwrap_or_default();
    let fingerprint = fingerprint(&format!("{:?}|{order}", param(req, "q")));
    let offset = match param(req, "pageToken") {
        None => 0,
        Some(t) => match t.split_once(':') {
            Some((o, fp)) if fp == fingerprint => match o.parse::<usize>() {
                Ok(o) => o,
                Err(_) => return drive_error(400, "invalid", "Invalid Value (pageToken)"),
            },
            _ => return drive_error(400, "invalid", "Invalid Value (pageToken)"),
        },
    };
    let mut hits: Vec<&File> = st
        .files
        .values()
        .filter(|f| f.drive_id == drive || drive.is_none())
        .filter(|f| conds.iter().all(|c: &Cond| c.matches(f)))
        .collect();
    if let Err(why) = sort(&mut hits, &order) {
        return drive_error(400, "invalid", &format!("Invalid Value (orderBy: {why})"));
    }
    let end = (offset + page_size).min(hits.len());
    let (inner, want_next) = query::list_fields(param(req, "fields").as_deref());
    let files: Vec<Value> = hits
        .get(offset.min(end)..end)
        .unwrap_or_default()
        .iter()
        .map(|f| {
            let sel = match &inner {
                None => query::select(&f.to_json(), None, DEFAULT_LIST_FIELDS),
                Some(i) => query::select(&f.to_json(), Some(i), &[]),
            };
            Value::Object(sel)
        })
        .collect();
    let mut body = Map::new();
    if param(req, "fields").is_none() {
        body.insert("kind".into(), json!("drive#fileList"));
        body.insert("incompleteSearch".into(), json!(false));
    }
    body.insert("files".into(), Value::Array(files));
    if end < hits.len() && want_next {
        body.insert(
            "nextPageToken".into(),
            json!(format!("{end}:{fingerprint}")),
        );
    }
    ResponseTemplate::new(200).set_body_json(Value::Object(body))
}

fn sort(hits: &mut [&File], order: &str) -> Result<(), String> {
    let mut keys = Vec::new();
    for item in order.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (field, desc) = match item.split_once(' ') {
            Some((f, d)) if d.trim().eq_ignore_ascii_case("desc") => (f, true),
            Some(_) => return Err(format!("bad item {item:?}")),
            None => (item, false),
        };
        if !["modifiedTime", "createdTime", "name", "folder"].contains(&field) {
            return Err(format!("unsupported key {field:?}"));
        }
        keys.push((field.to_owned(), desc));
    }
    hits.sort_by(|a, b| {
        for (field, desc) in &keys {
            let o = match field.as_str() {
                "modifiedTime" => a.modified.cmp(&b.modified),
                "createdTime" => a.created.cmp(&b.created),
                "name" => a.name.cmp(&b.name),
                _ => b.is_folder().cmp(&a.is_folder()),
            };
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        a.seq.cmp(&b.seq)
    });
    Ok(())
}

/// `GET /drive/v3/files/{id}` (metadata, or content with `alt=media`).
pub(crate) fn get(st: &mut State, req: &Request, id: &str, media: bool) -> ResponseTemplate {
    let f = match visible(st, req, id) {
        Ok(f) => f,
        Err(r) => return r,
    };
    if media {
        if f.is_folder() {
            return drive_error(
                403,
                "fileNotDownloadable",
                "Only files with binary content can be downloaded.",
            );
        }
        return media_body(req, &f.data);
    }
    let fields = param(req, "fields");
    ResponseTemplate::new(200).set_body_json(Value::Object(query::select(
        &f.to_json(),
        fields.as_deref(),
        DEFAULT_FILE_FIELDS,
    )))
}

/// The content of a file, or the part a `Range: bytes=a-b` (or `bytes=a-`) header asks for:
/// "You can download only a portion of a file by specifying a range of bytes with the Range header"
/// (Drive API guide "Download and export files", partial download), answered as RFC 9110 says
/// (206 with `Content-Range`, 416 when the range starts past the end).
fn media_body(req: &Request, data: &Bytes) -> ResponseTemplate {
    let total = data.len() as u64;
    let range = req
        .headers
        .get("range")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
        .and_then(|v| v.split_once('-'))
        .and_then(|(a, b)| {
            let a: u64 = a.trim().parse().ok()?;
            let b: u64 = if b.trim().is_empty() {
                u64::MAX
            } else {
                b.trim().parse().ok()?
            };
            (b >= a).then_some((a, b))
        });
    let Some((first, last)) = range else {
        return ResponseTemplate::new(200).set_body_raw(data.to_vec(), "application/octet-stream");
    };
    if first >= total {
        return ResponseTemplate::new(416)
            .insert_header("Content-Range", format!("bytes */{total}").as_str());
    }
    let last = last.min(total - 1);
    let body = data.slice(first as usize..=last as usize);
    ResponseTemplate::new(206)
        .insert_header(
            "Content-Range",
            format!("bytes {first}-{last}/{total}").as_str(),
        )
        .set_body_raw(body.to_vec(), "application/octet-stream")
}

/// Checks create metadata and returns `(name, parent id, mime type)`.
pub(crate) fn check_new(
    st: &State,
    req: &Request,
    meta: &Map<String, Value>,
) -> Result<(String, String, String), ResponseTemplate> {
    let name = meta
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("Untitled")
        .to_owned();
    let mime = meta
        .get("mimeType")
        .and_then(Value::as_str)
        .unwrap_or("application/octet-stream")
        .to_owned();
    let parents: Vec<String> = match meta.get("parents") {
        None => vec![],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(_) => return Err(bad_request("parents must be an array of ids")),
    };
    let parent = match parents.as_slice() {
        [] => "my-drive-root".to_owned(),
        [p] => {
            let f = visible(st, req, p)?;
            if !f.is_folder() || f.trashed {
                return Err(not_found(p));
            }
            p.clone()
        }
        _ => {
            return Err(drive_error(
                403,
                "cannotAddParent",
                "Increasing the number of parents is not allowed.",
            ))
        }
    };
    // A file outside every shared drive is owned by its creator, and service accounts cannot own
    // files: "Service accounts don't have storage quota and can't own any files. Instead, they
    // must upload files and folders into shared drives, or use OAuth 2.0 to upload items on behalf
    // of a human user" (Drive API guide, "Shared drives overview",
    // https://developers.google.com/workspace/drive/api/guides/about-shareddrives). Drive answers
    // 403 storageQuotaExceeded (message as seen in Jumbo810/Upload_Github_Artifacts_TO_GDrive#22).
    // Folders hold no content and are not refused. Domain-wide delegation acts as a user.
    let in_shared_drive = st.files.get(&parent).is_some_and(|f| f.drive_id.is_some());
    if mime != FOLDER_MIME && !in_shared_drive && !super::auth::delegated(st, req) {
        return Err(super::upload::quota_error());
    }
    Ok((name, parent, mime))
}

/// 403 `insufficientFilePermissions`, Drive's answer to a change the caller's role does not allow
/// (shape as Drive sends it: tidyverse/googledrive#298, breakdowns/slam-mirrorbot#386).
fn insufficient_permissions() -> ResponseTemplate {
    drive_error(
        403,
        "insufficientFilePermissions",
        "The user does not have sufficient permissions for this file.",
    )
}

/// `POST /drive/v3/files` (metadata only: folders and empty files).
pub(crate) fn create(st: &mut State, req: &Request) -> ResponseTemplate {
    let meta: Map<String, Value> = match serde_json::from_slice(&req.body) {
        Ok(m) => m,
        Err(_) => return bad_request("fake: the body must be a JSON object"),
    };
    let (name, parent, mime) = match check_new(st, req, &meta) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if mime != FOLDER_MIME && st.quota_exceeded {
        return super::upload::quota_error();
    }
    if mime != FOLDER_MIME {
        if let Some(r) = super::upload::over_daily_cap(st) {
            return r;
        }
    }
    let id = st.insert(&name, &parent, &mime, Bytes::new());
    respond_file(st, req, &id, None)
}

/// `PATCH /drive/v3/files/{id}` (name and trashed only).
pub(crate) fn update(st: &mut State, req: &Request, id: &str) -> ResponseTemplate {
    if let Err(r) = visible(st, req, id) {
        return r;
    }
    let meta: Map<String, Value> = match serde_json::from_slice(&req.body) {
        Ok(m) => m,
        Err(_) => return bad_request("fake: the body must be a JSON object"),
    };
    // In a shared drive, trashing needs the Content manager (`fileOrganizer`) role or more
    // ("Roles and permissions": a Contributor, `writer`, can edit but not trash).
    let in_shared_drive = st.files.get(id).is_some_and(|f| f.drive_id.is_some());
    if meta.contains_key("trashed")
        && in_shared_drive
        && st.opts.shared_drive_role == SharedDriveRole::Writer
    {
        return insufficient_permissions();
    }
    apply_meta(st, id, &meta);
    respond_file(st, req, id, None)
}

/// Applies the metadata fields the fake knows (`name`, `trashed`) to a file.
pub(crate) fn apply_meta(st: &mut State, id: &str, meta: &Map<String, Value>) {
    let now = st.tick();
    if let Some(f) = st.files.get_mut(id) {
        if let Some(n) = meta.get("name").and_then(Value::as_str) {
            n.clone_into(&mut f.name);
        }
        if let Some(t) = meta.get("trashed").and_then(Value::as_bool) {
            f.trashed = t;
        }
        f.modified = now;
    }
}

/// `DELETE /drive/v3/files/{id}`: permanent, 204.
pub(crate) fn delete(st: &mut State, req: &Request, id: &str) -> ResponseTemplate {
    match visible(st, req, id) {
        Err(r) => return r,
        // files.delete (Drive v3 reference): "If the file belongs to a shared drive, the user
        // must be an `organizer` on the parent folder." A Content manager may only trash.
        Ok(f)
            if f.drive_id.is_some() && st.opts.shared_drive_role != SharedDriveRole::Organizer =>
        {
            return insufficient_permissions()
        }
        Ok(_) => {}
    }
    st.delete_tree(id);
    ResponseTemplate::new(204)
}

/// A 200 with the file's JSON, filtered by `fields` (from the request, or `fields` if given).
pub(crate) fn respond_file(
    st: &State,
    req: &Request,
    id: &str,
    fields: Option<&str>,
) -> ResponseTemplate {
    let Some(f) = st.files.get(id) else {
        return not_found(id);
    };
    let from_req = param(req, "fields");
    let fields = from_req.as_deref().or(fields);
    ResponseTemplate::new(200).set_body_json(Value::Object(query::select(
        &f.to_json(),
        fields,
        DEFAULT_FILE_FIELDS,
    )))
}

/// A short digest identifying a query, embedded in page tokens.
fn fingerprint(s: &str) -> String {
    use md5::Digest;
    hex::encode(&md5::Md5::digest(s.as_bytes())[..6])
}
