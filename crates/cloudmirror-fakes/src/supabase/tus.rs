//! The fake's TUS 1.0.0 routes (`/upload/resumable`): creation, PATCH, HEAD and termination.

use std::collections::HashMap;

use base64::Engine as _;
use bytes::Bytes;
use wiremock::http::Method;
use wiremock::{Request, ResponseTemplate};

use super::rest::{commit, md5_etag, size_limit};
use super::{header, valid_name, PatchFault, State, TusUpload, STORAGE_PATH};

/// What `Uploader.canUpload` decides for a request on `bucket/name` (supabase/storage
/// `src/http/routes/tus/lifecycle.ts`, `onIncomingRequest`): every TUS request but `HEAD` and
/// `OPTIONS` runs it with **that request's own** `x-upsert` header (`isUpsert:
/// req.headers['x-upsert'] === 'true'` in `setTusRequestContext`, `src/http/routes/tus/index.ts`).
/// Without it the check is an insert, which an existing object refuses with `KeyAlreadyExists`,
/// rendered for TUS as the status and message only (`getTusError`): `409 The resource already
/// exists`.
fn can_upload(st: &State, req: &Request, bucket: &str, name: &str) -> Option<ResponseTemplate> {
    let upsert = header(req, "x-upsert") == Some("true");
    (!upsert
        && st
            .objects
            .contains_key(&(bucket.to_owned(), name.to_owned())))
    .then(|| plain(409, "The resource already exists"))
}

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
        (&Method::DELETE, false) => terminate(st, req, &id),
        _ => plain(404, "Not found"),
    }
}

/// A TUS refusal: plain text with the real status. tus-node-server's own bodies end with a
/// newline (`ERRORS` in `@tus/utils`); the storage server's errors rendered for TUS
/// (`getTusError`, `src/http/routes/tus/lifecycle.ts`) are the bare message.
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
    // tus-node-server's POST handler (`@tus/server`, which `src/http/routes/tus/index.ts` runs):
    // exactly one of `Upload-Length` and `Upload-Defer-Length` (`INVALID_LENGTH`), the latter
    // only `1` (header validator), and a known length over `maxSize` is refused at once
    // (`ERR_MAX_SIZE_EXCEEDED`); a deferred one is checked on each PATCH instead.
    let length = match (length, deferred) {
        (Some(l), None) => match l.parse::<u64>() {
            Ok(l) => Some(l),
            Err(_) => return plain(400, "Invalid upload-length\n"),
        },
        (None, Some("1")) => {
            st.counts.tus_creates_deferred += 1;
            None
        }
        (None, Some(_)) => return plain(400, "Invalid upload-defer-length\n"),
        _ => {
            return plain(
                400,
                "Upload-Length or Upload-Defer-Length header required\n",
            )
        }
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
    if let Some(refusal) = can_upload(st, req, bucket, name) {
        return refusal;
    }
    if length.is_some_and(|l| l > size_limit(st, bucket)) {
        return plain(413, "Maximum size exceeded\n");
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
            parts: 0,
            completed: false,
            content_type: meta
                .get("contentType")
                .cloned()
                .unwrap_or_else(|| "application/octet-stream".to_owned()),
        },
    );
    // `generateUrl` (`src/http/routes/tus/lifecycle.ts`): the origin comes from the request (or
    // `STORAGE_PUBLIC_URL`, or `https` forced under `NODE_ENV=production`), the path from the
    // forwarded prefix (the gateway's `/storage/v1`) and the TUS path.
    let origin = st
        .options
        .tus_public_origin
        .clone()
        .unwrap_or_else(|| st.base_uri.clone());
    let prefix = if st.options.gateway { STORAGE_PATH } else { "" };
    plain(201, "").insert_header(
        "location",
        format!("{origin}{prefix}/upload/resumable/{id}").as_str(),
    )
}

fn head(st: &mut State, id: &str) -> ResponseTemplate {
    st.counts.tus_heads += 1;
    let Some(up) = st.uploads.get(id) else {
        return plain(404, "The file for this url was not found\n");
    };
    let t = plain(200, "")
        .insert_header("cache-control", "no-store")
        .insert_header("upload-offset", up.offset().to_string().as_str());
    match up.length {
        Some(l) => t.insert_header("upload-length", l.to_string().as_str()),
        None => t.insert_header("upload-defer-length", "1"),
    }
}

fn terminate(st: &mut State, req: &Request, id: &str) -> ResponseTemplate {
    st.counts.tus_deletes += 1;
    if let Some(up) = st.uploads.get(id) {
        if let Some(refusal) = can_upload(st, req, &up.bucket, &up.name) {
            return refusal;
        }
    }
    match st.uploads.get(id) {
        // The server runs with `disableTerminationForFinishedUploads`.
        Some(up) if up.completed => plain(400, "Cannot terminate an already completed upload"),
        Some(_) => {
            st.uploads.remove(id);
            plain(204, "")
        }
        None => plain(404, "The file for this url was not found\n"),
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
            PatchFault::Exists => return plain(409, "The resource already exists"),
            PatchFault::StoreHalfThen500 | PatchFault::StoreHalfThenDrop => {
                store_half(st, req);
                return plain(500, "Internal Server Error");
            }
        }
    }
    if header(req, "content-type") != Some("application/offset+octet-stream") {
        return plain(415, "Content-Type header required\n");
    }
    if let Some(up) = st.uploads.get(id) {
        if let Some(refusal) = can_upload(st, req, &up.bucket, &up.name) {
            return refusal;
        }
    }
    let chunk_size = st.options.tus_chunk_size;
    let limit = st.uploads.get(id).map(|u| size_limit(st, &u.bucket));
    let Some(up) = st.uploads.get_mut(id) else {
        return plain(404, "The file for this url was not found\n");
    };
    let limit = limit.unwrap_or(u64::MAX);
    let Some(offset) = header(req, "upload-offset").and_then(|o| o.parse::<u64>().ok()) else {
        return plain(403, "Upload-Offset header required\n");
    };
    if offset != up.offset() {
        return plain(409, "Upload-Offset conflict\n");
    }
    if up.completed {
        return plain(400, "Upload is already complete");
    }
    if let Some(l) = header(req, "upload-length") {
        let Ok(l) = l.parse::<u64>() else {
            return plain(400, "Invalid upload-length\n");
        };
        if up.length.is_some() || l < offset {
            return plain(400, "Invalid upload-length\n");
        }
        up.length = Some(l);
    }
    let end = offset + req.body.len() as u64;
    if up.length.is_some_and(|l| end > l) || end > limit {
        return plain(413, "Maximum size exceeded\n");
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
    up.parts += 1;
    st.counts.tus_patch_bytes += req.body.len() as u64;
    let Some(up) = st.uploads.get_mut(id) else {
        return plain(404, "The file for this url was not found\n");
    };
    if !finished {
        return plain(204, "").insert_header("upload-offset", end.to_string().as_str());
    }
    let (bucket, name, parts) = (up.bucket.clone(), up.name.clone(), up.parts);
    // `onUploadFinish` completes with this request's `isUpsert` too (`completeUpload`).
    if let Some(refusal) = can_upload(st, req, &bucket, &name) {
        return refusal;
    }
    // The finished upload stays known (HEAD reports offset == length) but holds no data.
    let Some(up) = st.uploads.get_mut(id) else {
        return plain(404, "The file for this url was not found\n");
    };
    up.completed = true;
    let data = Bytes::from(std::mem::take(&mut up.data));
    let content_type = up.content_type.clone();
    // The S3 backend assembles TUS uploads with a multipart upload: its ETag is `"<hex>-<parts>"`,
    // not the MD5 of the bytes (S3 `CompleteMultipartUpload`); the file backend's is an MD5.
    // The fake hashes the MD5 of the whole body again (what S3 gives a one-part upload): never
    // the MD5 of the bytes, whatever the part count.
    let etag = if st.options.s3_backend {
        use md5::{Digest, Md5};
        let inner = Md5::digest(&data);
        format!("\"{}-{}\"", hex::encode(Md5::digest(inner)), parts.max(1))
    } else {
        md5_etag(&data)
    };
    commit(st, &bucket, &name, data, &content_type, etag);
    plain(204, "")
        .insert_header("upload-offset", end.to_string().as_str())
        .insert_header("tus-complete", "1")
}
