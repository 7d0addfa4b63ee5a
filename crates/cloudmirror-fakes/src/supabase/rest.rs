//! The fake's REST routes: buckets, standard uploads, listing, batch delete and downloads.

use bytes::Bytes;
use chrono::Utc;
use md5::{Digest, Md5};
use serde::Deserialize;
use wiremock::http::Method;
use wiremock::{Request, ResponseTemplate};

use super::list::{list, list_v2};
use super::{header, storage_error, valid_name, Bucket, Object, State};

pub(super) fn handle(st: &mut State, req: &Request, path: &str) -> ResponseTemplate {
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (&req.method, segs.as_slice()) {
        (&Method::POST, ["bucket"]) => create_bucket(st, req),
        (&Method::GET, ["bucket", id]) => get_bucket(st, id),
        (&Method::POST, ["object", "list", bucket]) => list(st, req, bucket),
        (&Method::POST, ["object", "list-v2", bucket]) if st.options.list_v2 => {
            list_v2(st, req, bucket)
        }
        // `GET /object/info/authenticated/{bucket}/*` and `/object/info/{bucket}/*`
        // (supabase/storage `src/http/routes/object/getObjectInfo.ts`).
        (&Method::GET, ["object", "info", "authenticated", bucket, name @ ..])
            if !name.is_empty() =>
        {
            info(st, bucket, &name.join("/"))
        }
        (&Method::GET, ["object", "info", bucket, name @ ..])
            if !name.is_empty() && *bucket != "public" =>
        {
            info(st, bucket, &name.join("/"))
        }
        (&Method::DELETE, ["object", bucket]) => delete_many(st, req, bucket),
        (&Method::GET, ["object", "authenticated", bucket, name @ ..]) if !name.is_empty() => {
            download(st, bucket, &name.join("/"))
        }
        (&Method::GET, ["object", bucket, name @ ..])
            if !name.is_empty() && *bucket != "public" && *bucket != "info" =>
        {
            download(st, bucket, &name.join("/"))
        }
        (&Method::POST | &Method::PUT, ["object", bucket, name @ ..])
            if !name.is_empty() && *bucket != "list" =>
        {
            let upsert = req.method == Method::PUT || header(req, "x-upsert") == Some("true");
            upload(st, req, bucket, &name.join("/"), upsert)
        }
        _ => route_not_found(req),
    }
}

/// An unknown route (`setRestNotFoundHandler`, supabase/storage `src/http/not-found-handler.ts`):
/// a real 404, the `Route METHOD:url not found` message.
fn route_not_found(req: &Request) -> ResponseTemplate {
    let url = req
        .url
        .path()
        .strip_prefix(super::STORAGE_PATH)
        .unwrap_or(req.url.path());
    ResponseTemplate::new(404).set_body_json(serde_json::json!({
        "statusCode": "404",
        "error": "Not Found",
        "message": format!("Route {}:{url} not found", req.method),
        "code": "InvalidRequest",
    }))
}

pub(super) fn no_bucket() -> ResponseTemplate {
    storage_error(
        "404",
        "Bucket not found",
        "Bucket not found",
        "NoSuchBucket",
    )
}

pub(super) fn too_large() -> ResponseTemplate {
    storage_error(
        "413",
        "Payload too large",
        "The object exceeded the maximum allowed size",
        "EntityTooLarge",
    )
}

pub(super) fn duplicate() -> ResponseTemplate {
    storage_error(
        "409",
        "Duplicate",
        "The resource already exists",
        "KeyAlreadyExists",
    )
}

pub(super) fn invalid_key(name: &str) -> ResponseTemplate {
    storage_error(
        "400",
        "InvalidKey",
        &format!("Invalid key: {name}"),
        "InvalidKey",
    )
}

/// The size limit for `bucket`: the bucket's own limit within the project's global one.
pub(super) fn size_limit(st: &State, bucket: &str) -> u64 {
    let global = st.options.file_size_limit;
    st.buckets
        .get(bucket)
        .and_then(|b| b.file_size_limit)
        .map_or(global, |l| l.min(global))
}

/// The limit of standard uploads: the bucket's and global limits, and
/// `UPLOAD_FILE_SIZE_LIMIT_STANDARD` when set (`getStandardMaxFileSizeLimit` in supabase/storage
/// `src/storage/uploader.ts`; TUS uses `maxSize` in `src/http/routes/tus/index.ts`, without it).
pub(super) fn standard_size_limit(st: &State, bucket: &str) -> u64 {
    let limit = size_limit(st, bucket);
    st.options
        .standard_upload_limit
        .filter(|l| *l > 0)
        .map_or(limit, |l| l.min(limit))
}

/// The quoted MD5 `ETag` a whole-object write gets.
pub(super) fn md5_etag(data: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Md5::digest(data)))
}

/// Commits an object (standard upload or finished TUS upload) with its backend `etag`.
pub(super) fn commit(
    st: &mut State,
    bucket: &str,
    name: &str,
    data: Bytes,
    mimetype: &str,
    etag: String,
) -> uuid::Uuid {
    let now = Utc::now();
    let data = if st.damage_next.remove(name) {
        let mut damaged = data.to_vec();
        if let Some(b) = damaged.first_mut() {
            *b ^= 0xFF;
        }
        Bytes::from(damaged)
    } else {
        data
    };
    let key = (bucket.to_owned(), name.to_owned());
    let created_at = st.objects.get(&key).map_or(now, |o| o.created_at);
    let id = uuid::Uuid::new_v4();
    st.objects.insert(
        key,
        Object {
            id,
            data,
            etag,
            mimetype: mimetype.to_owned(),
            created_at,
            updated_at: now,
        },
    );
    id
}

fn create_bucket(st: &mut State, req: &Request) -> ResponseTemplate {
    #[derive(Deserialize)]
    struct Body {
        name: Option<String>,
        id: Option<String>,
        public: Option<bool>,
        file_size_limit: Option<u64>,
    }
    st.counts.bucket_creates += 1;
    let Ok(body) = serde_json::from_slice::<Body>(&req.body) else {
        return storage_error(
            "400",
            "Error",
            "body must be a JSON object",
            "InvalidRequest",
        );
    };
    let Some(name) = body.name else {
        return storage_error(
            "400",
            "Error",
            "body must have required property 'name'",
            "InvalidRequest",
        );
    };
    let id = body.id.unwrap_or_else(|| name.clone());
    if st.buckets.contains_key(&id) {
        return storage_error(
            "409",
            "Duplicate",
            "The resource already exists",
            "BucketAlreadyExists",
        );
    }
    st.buckets.insert(
        id,
        Bucket {
            public: body.public.unwrap_or(false),
            file_size_limit: body.file_size_limit,
            created_at: Utc::now(),
        },
    );
    ResponseTemplate::new(200).set_body_json(serde_json::json!({ "name": name }))
}

fn get_bucket(st: &State, id: &str) -> ResponseTemplate {
    let Some(b) = st.buckets.get(id) else {
        return no_bucket();
    };
    let created = b.created_at.to_rfc3339();
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "id": id,
        "name": id,
        "owner": "",
        "public": b.public,
        "file_size_limit": b.file_size_limit,
        "allowed_mime_types": null,
        "created_at": created,
        "updated_at": created,
    }))
}

fn upload(
    st: &mut State,
    req: &Request,
    bucket: &str,
    name: &str,
    upsert: bool,
) -> ResponseTemplate {
    st.counts.standard_uploads += 1;
    if !st.buckets.contains_key(bucket) {
        return no_bucket();
    }
    if !valid_name(name) {
        return invalid_key(name);
    }
    let content_type = header(req, "content-type").unwrap_or("application/octet-stream");
    let (data, mimetype) = if content_type.starts_with("multipart/form-data") {
        let Some(part) = super::multipart::file_part(content_type, &req.body) else {
            return storage_error(
                "400",
                "InvalidRequest",
                "No content provided",
                "InvalidRequest",
            );
        };
        let mimetype = part
            .content_type
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        (Bytes::from(part.data), mimetype)
    } else {
        (Bytes::from(req.body.clone()), content_type.to_owned())
    };
    // A body over the standard limit is `EntityTooLarge` (`fileUploadFromRequest`, supabase/storage
    // `src/storage/uploader.ts`: a known `Content-Length`, or the multipart file truncated).
    if data.len() as u64 > standard_size_limit(st, bucket) {
        return too_large();
    }
    if !upsert
        && st
            .objects
            .contains_key(&(bucket.to_owned(), name.to_owned()))
    {
        return duplicate();
    }
    let etag = md5_etag(&data);
    let id = commit(st, bucket, name, data, &mimetype, etag);
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "Id": id.to_string(),
        "Key": format!("{bucket}/{name}"),
    }))
}

fn delete_many(st: &mut State, req: &Request, bucket: &str) -> ResponseTemplate {
    #[derive(Deserialize)]
    struct Body {
        prefixes: Vec<String>,
    }
    st.counts.deletes += 1;
    let body = match serde_json::from_slice::<Body>(&req.body) {
        Ok(b) if !b.prefixes.is_empty() && b.prefixes.len() <= 1000 => b,
        _ => {
            return storage_error(
                "400",
                "Error",
                "body/prefixes must NOT have fewer than 1 items",
                "InvalidRequest",
            )
        }
    };
    // Only the rows deleted come back: `200 []` when no name matched (`deleteObjects` in
    // supabase/storage `src/storage/object.ts`).
    let mut deleted = Vec::new();
    for name in body.prefixes {
        let key = (bucket.to_owned(), name.clone());
        if st.delete_denied.contains(&key) {
            continue;
        }
        if let Some(obj) = st.objects.remove(&(bucket.to_owned(), name.clone())) {
            // `DELETE ... RETURNING *` (supabase/storage `src/storage/database/pg.ts`,
            // `deleteObjects`) serialized through `objectSchema` (`src/storage/schemas/object.ts`).
            deleted.push(serde_json::json!({
                "bucket_id": bucket,
                "name": name,
                "id": obj.id.to_string(),
                "owner": null,
                "owner_id": null,
                "version": obj.id.to_string(),
                "updated_at": obj.updated_at.to_rfc3339(),
                "created_at": obj.created_at.to_rfc3339(),
                "last_accessed_at": obj.updated_at.to_rfc3339(),
                "metadata": object_metadata(obj.data.len(), &obj.etag, &obj.mimetype, obj.updated_at),
                "user_metadata": null,
            }));
        }
    }
    ResponseTemplate::new(200).set_body_json(deleted)
}

fn download(st: &mut State, bucket: &str, name: &str) -> ResponseTemplate {
    st.counts.downloads += 1;
    if !st.buckets.contains_key(bucket) {
        return no_bucket();
    }
    let Some(obj) = st.objects.get(&(bucket.to_owned(), name.to_owned())) else {
        return storage_error("404", "not_found", "Object not found", "NoSuchKey");
    };
    ResponseTemplate::new(200)
        .insert_header("etag", obj.etag.as_str())
        .insert_header(
            "last-modified",
            obj.updated_at
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string()
                .as_str(),
        )
        .insert_header("cache-control", "max-age=3600")
        .set_body_raw(obj.data.to_vec(), &obj.mimetype)
}

/// An object's `metadata` column as the backend fills it (`ObjectMetadata` in supabase/storage
/// `src/storage/backend/adapter.ts`).
pub(super) fn object_metadata(
    size: usize,
    etag: &str,
    mimetype: &str,
    updated_at: chrono::DateTime<Utc>,
) -> serde_json::Value {
    serde_json::json!({
        "eTag": etag,
        "size": size,
        "mimetype": mimetype,
        "cacheControl": "no-cache",
        "lastModified": updated_at.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        "contentLength": size,
        "httpStatusCode": 200,
    })
}

/// `GET /object/info/...`: the object's row (`InfoRenderer`, supabase/storage
/// `src/storage/renderer/info.ts`), `NoSuchKey` when the exact name does not exist.
fn info(st: &mut State, bucket: &str, name: &str) -> ResponseTemplate {
    st.counts.infos += 1;
    if !st.buckets.contains_key(bucket) {
        return no_bucket();
    }
    let Some(obj) = st.objects.get(&(bucket.to_owned(), name.to_owned())) else {
        return storage_error("404", "not_found", "Object not found", "NoSuchKey");
    };
    ResponseTemplate::new(200)
        .set_body_json(serde_json::json!({
            "id": obj.id.to_string(),
            "name": name,
            "version": obj.id.to_string(),
            "bucket_id": bucket,
            "size": obj.data.len(),
            "content_type": obj.mimetype,
            "cache_control": "no-cache",
            "etag": obj.etag,
            "metadata": null,
            "last_modified": obj.updated_at.to_rfc3339(),
            "created_at": obj.created_at.to_rfc3339(),
        }))
        .insert_header("etag", obj.etag.as_str())
}
