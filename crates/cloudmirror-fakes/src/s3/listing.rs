//! The S3 fake's bucket-level calls: `ListObjectsV2` (prefix, delimiter, pages) and `DeleteObjects`.

use std::fmt::Write as _;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use wiremock::{Request, ResponseTemplate};

use super::ops::{error, iso, xml_ok, Target, NS};
use super::xml::{elements, escape, text};
use super::{FakeS3Options, State, StoredObject};

/// Continuation tokens are opaque to clients: hex of the last key (or common prefix) returned.
fn decode_token(token: &str) -> Option<String> {
    hex::decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
}

/// One `<Contents>` entry of a listing (`key` already escaped or URL-encoded).
fn content_xml(key: &str, obj: &StoredObject) -> String {
    let algo = if obj.checksum_sha256.is_some() {
        "<ChecksumAlgorithm>SHA256</ChecksumAlgorithm>"
    } else {
        ""
    };
    format!(
        "<Contents><Key>{key}</Key><LastModified>{}</LastModified><ETag>{}</ETag>{algo}\
         <Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
        iso(obj.modified),
        escape(&obj.etag),
        obj.data.len()
    )
}

pub(super) fn list_objects(
    state: &State,
    options: &FakeS3Options,
    target: &Target,
) -> ResponseTemplate {
    let q = &target.query;
    let prefix = q.get("prefix").cloned().unwrap_or_default();
    let delimiter = q.get("delimiter").cloned().filter(|d| !d.is_empty());
    let max_keys = match q.get("max-keys").map(|m| m.parse::<usize>()) {
        None => options.max_keys,
        Some(Ok(m)) => m.min(options.max_keys),
        Some(Err(_)) => return error(400, "InvalidArgument", "max-keys is not a number", false),
    };
    let url_encode = q.get("encoding-type").map(String::as_str) == Some("url");
    let after = match q.get("continuation-token") {
        Some(token) => match decode_token(token) {
            Some(after) => Some(after),
            None => {
                return error(
                    400,
                    "InvalidArgument",
                    "The continuation token provided is incorrect",
                    false,
                )
            }
        },
        None => q.get("start-after").cloned(),
    };
    let shown = |k: &str| {
        if url_encode {
            utf8_percent_encode(k, NON_ALPHANUMERIC).to_string()
        } else {
            escape(k)
        }
    };
    let mut contents = String::new();
    let mut prefixes: Vec<String> = Vec::new();
    let mut count = 0;
    let mut last = None;
    let mut truncated = false;
    for (key, obj) in state.objects.range(after.clone().unwrap_or_default()..) {
        if !key.starts_with(&prefix) || after.as_deref().is_some_and(|a| key.as_str() <= a) {
            continue;
        }
        let common = delimiter.as_deref().and_then(|d| {
            key[prefix.len()..]
                .find(d)
                .map(|i| key[..prefix.len() + i + d.len()].to_owned())
        });
        if let Some(cp) = &common {
            if prefixes.last() == Some(cp)
                || after.as_deref().is_some_and(|a| a.starts_with(cp.as_str()))
            {
                continue;
            }
        }
        if count == max_keys {
            truncated = true;
            break;
        }
        count += 1;
        if let Some(cp) = common {
            last = Some(cp.clone());
            prefixes.push(cp);
        } else {
            last = Some(key.clone());
            contents.push_str(&content_xml(&shown(key), obj));
        }
    }
    let mut common_xml = String::new();
    for p in &prefixes {
        let _ = write!(
            common_xml,
            "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
            shown(p)
        );
    }
    let next = match (&last, truncated) {
        (Some(last), true) => format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            hex::encode(last)
        ),
        _ => String::new(),
    };
    let token_echo = q
        .get("continuation-token")
        .map(|t| format!("<ContinuationToken>{}</ContinuationToken>", escape(t)))
        .unwrap_or_default();
    let encoding = if url_encode {
        "<EncodingType>url</EncodingType>"
    } else {
        ""
    };
    xml_ok(&format!(
        "<ListBucketResult xmlns=\"{NS}\"><Name>{}</Name><Prefix>{}</Prefix><KeyCount>{count}</KeyCount>\
         <MaxKeys>{max_keys}</MaxKeys>{encoding}<IsTruncated>{truncated}</IsTruncated>{token_echo}{next}\
         {contents}{common_xml}</ListBucketResult>",
        escape(&options.bucket),
        shown(&prefix)
    ))
}

pub(super) fn delete_objects(state: &mut State, req: &Request) -> ResponseTemplate {
    let has_checksum = req.headers.contains_key("content-md5")
        || req.headers.keys().any(|k| {
            k.as_str().starts_with("x-amz-checksum-") && k.as_str() != "x-amz-checksum-mode"
        });
    if !has_checksum {
        return error(
            400,
            "InvalidRequest",
            "Missing required header for this request: Content-MD5",
            false,
        );
    }
    let body = String::from_utf8_lossy(&req.body);
    let objects = elements(&body, "Object");
    if objects.len() > 1000 {
        return error(
            400,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
            false,
        );
    }
    let quiet = text(&body, "Quiet").as_deref() == Some("true");
    let mut deleted = String::new();
    for object in objects {
        let Some(key) = text(object, "Key") else {
            return error(400, "MalformedXML", "an Object has no Key", false);
        };
        state.objects.remove(&key);
        if !quiet {
            let _ = write!(deleted, "<Deleted><Key>{}</Key></Deleted>", escape(&key));
        }
    }
    xml_ok(&format!(
        "<DeleteResult xmlns=\"{NS}\">{deleted}</DeleteResult>"
    ))
}
