//! The fake's listings: `POST /object/list/{bucket}` (`storage.search`) and
//! `POST /object/list-v2/{bucket}` (flat, without a delimiter).

use base64::Engine as _;
use serde::Deserialize;
use wiremock::{Request, ResponseTemplate};

use super::rest::object_metadata;
use super::{storage_error, Object, State};

fn bad_body(message: &str) -> ResponseTemplate {
    storage_error("400", "Error", message, "InvalidRequest")
}

/// One file entry: the columns `storage.search` and the list-v2 query return.
fn file_entry(name: &str, obj: &Object) -> serde_json::Value {
    let updated = obj.updated_at.to_rfc3339();
    serde_json::json!({
        "name": name,
        "id": obj.id.to_string(),
        "updated_at": updated,
        "created_at": obj.created_at.to_rfc3339(),
        "last_accessed_at": updated,
        "metadata": object_metadata(obj.data.len(), &obj.etag, &obj.mimetype, obj.updated_at),
    })
}

/// `POST /object/list/{bucket}` as `storage.search` (name order) answers it, from supabase/storage
/// `migrations/tenant/0063-fix-search-name-relative-to-prefix.sql`:
/// - `prefix` gets a trailing `/` when it has none (`searchObjects`, `src/storage/object.ts`);
/// - `prefix || search` is matched **case-insensitively** (`lower(o.name) >= v_prefix_lower`);
///   `search` makes it a string prefix within the folder;
/// - entries are named relative to `prefix` (`substring(name from v_prefix_len + 1)`), in the
///   stored name's own case, so `DAILY/x` listed with `daily/` comes back as `x`;
/// - a name with a `/` after the prefix is a folder entry (null `id`), emitted once per
///   lower-cased folder (`get_common_prefix`, then the seek skips the folder's range);
/// - order is `lower(name) COLLATE "C"`, `limit` is capped at 1500, then `offset` skips entries.
pub(super) fn list(st: &mut State, req: &Request, bucket: &str) -> ResponseTemplate {
    #[derive(Deserialize)]
    struct Body {
        prefix: Option<String>,
        limit: Option<usize>,
        offset: Option<usize>,
        search: Option<String>,
    }
    st.counts.lists += 1;
    let Ok(body) = serde_json::from_slice::<Body>(&req.body) else {
        return bad_body("body must be object");
    };
    // The body schema requires `prefix` (`src/http/routes/object/listObjects.ts`).
    let Some(prefix) = body.prefix else {
        return bad_body("body must have required property 'prefix'");
    };
    // "assuming prefix is always a folder" (`searchObjects`, `src/storage/object.ts`).
    let prefix = if prefix.is_empty() || prefix.ends_with('/') {
        prefix
    } else {
        format!("{prefix}/")
    };
    let full = format!("{prefix}{}", body.search.unwrap_or_default());
    let full_lower = full.to_ascii_lowercase();
    let mut names: Vec<(&String, &Object)> = st
        .objects
        .iter()
        .filter(|((b, name), _)| b == bucket && name.to_ascii_lowercase().starts_with(&full_lower))
        .map(|((_, name), obj)| (name, obj))
        .collect();
    names.sort_by_key(|(name, _)| name.to_ascii_lowercase());
    let mut entries = Vec::new();
    let mut last_folder: Option<String> = None;
    for (name, obj) in names {
        // Object names are ASCII (the key pattern), so byte offsets are character offsets.
        let after = &name[full.len()..];
        if let Some(slash) = after.find('/') {
            let folder = &name[..full.len() + slash];
            let lower = folder.to_ascii_lowercase();
            if last_folder.as_deref() == Some(lower.as_str()) {
                continue;
            }
            last_folder = Some(lower);
            entries.push(serde_json::json!({
                "name": &folder[prefix.len()..],
                "id": null,
                "updated_at": null,
                "created_at": null,
                "last_accessed_at": null,
                "metadata": null,
            }));
        } else {
            entries.push(file_entry(&name[prefix.len()..], obj));
        }
    }
    let limit = body.limit.unwrap_or(100).min(st.options.max_list_limit);
    let offset = body.offset.unwrap_or(0);
    let page: Vec<serde_json::Value> = entries.into_iter().skip(offset).take(limit).collect();
    ResponseTemplate::new(200).set_body_json(page)
}

/// `POST /object/list-v2/{bucket}` without `with_delimiter`: every object whose full name starts
/// with `prefix` (`name LIKE prefix%`, **case-sensitive**), full names, `name COLLATE "C"` order,
/// at most 1000 a page, `{hasNext, nextCursor, nextCursorKey, folders, objects}` (supabase/storage
/// `src/storage/database/pg.ts` `listObjectsV2`, `src/storage/object.ts` `listObjectsV2`). The
/// fake's cursor is opaque too: the base64 of the last name. A missing bucket lists nothing (the
/// query filters on `bucket_id`).
pub(super) fn list_v2(st: &mut State, req: &Request, bucket: &str) -> ResponseTemplate {
    #[derive(Deserialize)]
    struct Body {
        prefix: Option<String>,
        limit: Option<usize>,
        cursor: Option<String>,
        with_delimiter: Option<bool>,
    }
    st.counts.lists_v2 += 1;
    let Ok(body) = serde_json::from_slice::<Body>(&req.body) else {
        return bad_body("body must be object");
    };
    if body.with_delimiter == Some(true) {
        return bad_body("the fake serves list-v2 without a delimiter only");
    }
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let after = match body.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => match b64.decode(c).ok().and_then(|b| String::from_utf8(b).ok()) {
            Some(a) => Some(a),
            None => return bad_body("Invalid cursor"),
        },
    };
    let prefix = body.prefix.unwrap_or_default();
    let limit = body.limit.unwrap_or(1000).clamp(1, 1000);
    let mut matching = st.objects.iter().filter(|((b, name), _)| {
        b == bucket
            && name.starts_with(&prefix)
            && after.as_ref().is_none_or(|a| name.as_str() > a.as_str())
    });
    let page: Vec<(&String, &Object)> = matching
        .by_ref()
        .take(limit)
        .map(|((_, n), o)| (n, o))
        .collect();
    let has_next = matching.next().is_some();
    let last = page.last().map(|(n, _)| (*n).clone());
    let objects: Vec<serde_json::Value> = page.iter().map(|(n, o)| file_entry(n, o)).collect();
    let mut answer = serde_json::json!({
        "hasNext": has_next,
        "folders": [],
        "objects": objects,
    });
    if let (true, Some(last)) = (has_next, last) {
        answer["nextCursor"] = b64.encode(last.as_bytes()).into();
        answer["nextCursorKey"] = last.into();
    }
    ResponseTemplate::new(200).set_body_json(answer)
}
