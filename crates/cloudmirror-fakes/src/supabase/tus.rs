//! The fake's TUS 1.0.0 routes (`/upload/resumable`): creation, PATCH, HEAD and termination.

use std::collections::HashMap;

use base64::Engine as _;
use bytes::Bytes;
use wiremock::http::Method;
use wiremock::{Request, ResponseTemplate};

use super::rest::{commit, size_limit};
use super::{header, valid_name, PatchFault, State, TusUpload, STORAGE_PATH};

pub(super) fn handle(st: &mut State, req: &Request, path: &str) -> ResponseTemplate {
    let id = path
        .strip_prefix("/upload/resumable")
        .unwrap_or_default()
        .trim_matches('/')
        .to_owned();
    if req.method != Method::OPTIONS && header(req, "tus-resumable") != Some("1.0.0") {
        return plain(412, "Unsupported TUS version");
    }
    match (&req.method, id.is_empty()) {
        (&Method::POST, true) => create(st, req),
        (&Method::PATCH, false) => patch(st, req, &id),
        (&Method::HEAD, false) => head(st, &id),
        (&Method::DELETE, false) => terminate(st, &id),
        _ => plain(404, "Not found"),
    }
}

fn plain(status: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("tus-resumable", "1.0.0")
        .set_body_raw(body.as_bytes().to_vec(), "text/plain")
}

fn parse_metadata(raw: &str) -> Option<HashMap<String, String>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = HashMap::new();
    for pair in raw.split(',') {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once(' ').unwrap_or((pair, ""));
        let value = String::from_utf8(b64.decode(v.trim()).ok()?).ok()?;
        out.insert(k.to_owned(), value);
    }
    Some(out)
}

fn create(st: &mut State, req: &Request) -> ResponseTemplate {
    st.counts.tus_creates += 1;
    let length = header(req, "upload-length");
    let deferred = header(req, "upload-defer-length");
    let length = match (length, deferred) {
        (Some(l), None) => match l.parse::<u64>() {
            Ok(l) => Some(l),
            Err(_) => return plain(400, "Invalid Upload-Length"),
        },
        (None, Some("1")) => None,
        _ => return plain(400, "Upload-Length or Upload-Defer-Length header required"),
    };
    let Some(meta) = header(req, "upload-metadata").and_then(parse_metadata) else {
        return plain(400, "Upload-Metadata is invalid");
    };
    let (Some(bucket), Some(name)) = (meta.get("bucketName"), meta.get("objectName")) else {
        return plain(400, "Metadata bucketName and objectName are required");
    };
    if !st.buckets.contains_key(bucket) {
        return plain(404, "Bucket not found");
    }
    if !valid_name(name) {
        return plain(400, &format!("Invalid key: {name}"));
    }
    let upsert = header(req, "x-upsert") == Some("true");
    if !upsert && st.objects.contains_key(&(bucket.clone(), name.clone())) {
        return plain(409, "The resource already exists");
    }
    if length.is_some_and(|l| l > size_limit(st, bucket)) {
        return plain(413, "Maximum size exceeded");
    }
    let version = uuid::Uuid::new_v4();
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{bucket}/{name}/{version}").as_bytes());
    st.uploads.insert(
        id.clone(),
        TusUpload {
            bucket: bucket.clone(),
            name: name.clone(),
            length,
            data: Vec::new(),
            upsert,
            completed: false,
            content_type: meta
                .get("contentType")
                .cloned()
                .unwrap_or_else(|| "application/octet-stream".to_owned()),
        },
    );
    plain(201, "").insert_header(
        "location",
        format!("{}{STORAGE_PATH}/upload/resumable/{id}", st.base_uri).as_str(),
    )
}

fn head(st: &mut State, id: &str) -> ResponseTemplate {
    st.counts.tus_heads += 1;
    let Some(up) = st.uploads.get(id) else {
        return plain(404, "Upload not found");
    };
    let t = plain(200, "")
        .insert_header("cache-control", "no-store")
        .insert_header("upload-offset", up.offset().to_string().as_str());
    match up.length {
        Some(l) => t.insert_header("upload-length", l.to_string().as_str()),
        None => t.insert_header("upload-defer-length", "1"),
    }
}

fn terminate(st: &mut State, id: &str) -> ResponseTemplate {
    st.counts.tus_deletes += 1;
    match st.uploads.get(id) {
        // The server runs with `disableTerminationForFinishedUploads`.
        Some(up) if up.completed => plain(400, "Cannot terminate an already completed upload"),
        Some(_) => {
            st.uploads.remove(id);
            plain(204, "")
        }
        None => plain(404, "Upload not found"),
    }
}

/// For the "store part, then fail" faults: appends the first half of a valid PATCH's body.
pub(super) fn store_half(st: &mut State, req: &Request) {
    let id = req
        .url
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let offset = header(req, "upload-offset").and_then(|o| o.parse::<usize>().ok());
    if let Some(up) = st.uploads.get_mut(&id) {
        if !up.completed && offset == Some(up.data.len()) {
            let half = req.body.len() / 2;
            up.data.extend_from_slice(&req.body[..half]);
        }
    }
}

fn patch(st: &mut State, req: &Request, id: &str) -> ResponseTemplate {
    st.counts.tus_patches += 1;
    if let Some(fault) = (!st.patch_faults.is_empty()).then(|| st.patch_faults.remove(0)) {
        match fault {
            PatchFault::Status(s) => return plain(s, "Injected failure"),
            PatchFault::StoreHalfThen500 | PatchFault::StoreHalfThenDrop => {
                store_half(st, req);
                return plain(500, "Internal Server Error");
            }
        }
    }
    if header(req, "content-type") != Some("application/offset+octet-stream") {
        return plain(415, "Invalid Content-Type");
    }
    let chunk_size = st.options.tus_chunk_size;
    let limit = st.uploads.get(id).map(|u| size_limit(st, &u.bucket));
    let Some(up) = st.uploads.get_mut(id) else {
        return plain(404, "Upload not found");
    };
    let limit = limit.unwrap_or(u64::MAX);
    let Some(offset) = header(req, "upload-offset").and_then(|o| o.parse::<u64>().ok()) else {
        return plain(403, "Upload-Offset header required");
    };
    if offset != up.offset() {
        return plain(409, "Upload-Offset conflict");
    }
    if up.completed {
        return plain(400, "Upload is already complete");
    }
    if let Some(l) = header(req, "upload-length") {
        let Ok(l) = l.parse::<u64>() else {
            return plain(400, "Invalid Upload-Length");
        };
        if up.length.is_some() || l < offset {
            return plain(400, "Invalid Upload-Length");
        }
        up.length = Some(l);
    }
    let end = offset + req.body.len() as u64;
    if up.length.is_some_and(|l| end > l) || end > limit {
        return plain(413, "Maximum size exceeded");
    }
    let finished = up.length == Some(end);
    // The platform rule: 6 MiB chunks, only the last one shorter. A PATCH resuming a partly
    // stored chunk sends the rest of it, so the rule is "every PATCH ends on a chunk boundary".
    if req.body.len() as u64 > chunk_size || (!finished && !end.is_multiple_of(chunk_size)) {
        return plain(
            400,
            &format!("chunks must be {chunk_size} bytes, only the last may be shorter"),
        );
    }
    up.data.extend_from_slice(&req.body);
    if !finished {
        return plain(204, "").insert_header("upload-offset", end.to_string().as_str());
    }
    let (bucket, name, upsert) = (up.bucket.clone(), up.name.clone(), up.upsert);
    if !upsert && st.objects.contains_key(&(bucket.clone(), name.clone())) {
        return plain(409, "The resource already exists");
    }
    // The finished upload stays known (HEAD reports offset == length) but holds no data.
    let Some(up) = st.uploads.get_mut(id) else {
        return plain(404, "Upload not found");
    };
    up.completed = true;
    let data = Bytes::from(std::mem::take(&mut up.data));
    let content_type = up.content_type.clone();
    commit(st, &bucket, &name, data, &content_type);
    plain(204, "")
        .insert_header("upload-offset", end.to_string().as_str())
        .insert_header("tus-complete", "1")
}
