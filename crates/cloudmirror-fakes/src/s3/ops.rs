//! The S3 fake's operations: request classification, the handlers and S3's XML shapes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use md5::Md5;
use percent_encoding::percent_decode_str;
use sha2::{Digest, Sha256};
use wiremock::{Request, ResponseTemplate};

use super::listing;
use super::xml::{elements, escape, text};
use super::{FakeS3Options, Part, S3Op, State, StoredObject, Upload};

const MAX_PARTS: i32 = 10_000;
pub(super) const XML_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
pub(super) const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// A classified request: operation, bucket, key and query parameters.
pub(super) struct Target {
    pub(super) op: S3Op,
    pub(super) bucket: String,
    key: String,
    pub(super) query: BTreeMap<String, String>,
    /// The bucket came from the `Host` header (virtual-hosted style).
    pub(super) virtual_hosted: bool,
}

impl Target {
    /// Classifies a path-style or virtual-hosted-style request.
    pub(super) fn parse(req: &Request) -> Result<Self, Box<ResponseTemplate>> {
        let head = req.method == http::Method::HEAD;
        let path = req.url.path().trim_start_matches('/');
        // Virtual-hosted style (Amazon S3 User Guide, "Virtual hosting of general purpose
        // buckets"): `Host: {bucket}.{endpoint host}` and the whole path is the key. A host that
        // is an IP address (this fake's own 127.0.0.1) or a single label carries no bucket.
        let host = req
            .headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        let virtual_bucket = match host.split_once('.') {
            Some((bucket, _)) if host.parse::<std::net::IpAddr>().is_err() => Some(bucket),
            _ => None,
        };
        let (bucket, raw_key) = match virtual_bucket {
            Some(bucket) => (bucket, path),
            None => path.split_once('/').unwrap_or((path, "")),
        };
        let Ok(key) = percent_decode_str(raw_key).decode_utf8() else {
            return Err(Box::new(error(
                400,
                "InvalidURI",
                "the key is not UTF-8",
                head,
            )));
        };
        let query: BTreeMap<String, String> = req.url.query_pairs().into_owned().collect();
        let has = |q: &str| query.contains_key(q);
        let op = match (req.method.as_str(), key.is_empty()) {
            ("PUT", false) if has("partNumber") && has("uploadId") => S3Op::UploadPart,
            ("PUT", false) if req.headers.contains_key("x-amz-copy-source") => S3Op::Unsupported,
            ("PUT", false) => S3Op::PutObject,
            ("GET", false) => S3Op::GetObject,
            ("HEAD", false) => S3Op::HeadObject,
            ("DELETE", false) if has("uploadId") => S3Op::AbortMultipartUpload,
            ("DELETE", false) => S3Op::DeleteObject,
            ("POST", false) if has("uploads") => S3Op::CreateMultipartUpload,
            ("POST", false) if has("uploadId") => S3Op::CompleteMultipartUpload,
            ("GET", true) if query.get("list-type").map(String::as_str) == Some("2") => {
                S3Op::ListObjectsV2
            }
            ("GET", true) if has("uploads") => S3Op::ListMultipartUploads,
            ("POST", true) if has("delete") => S3Op::DeleteObjects,
            ("PUT", true) if query.is_empty() => S3Op::CreateBucket,
            ("HEAD", true) => S3Op::HeadBucket,
            _ => S3Op::Unsupported,
        };
        Ok(Self {
            op,
            bucket: bucket.to_owned(),
            key: key.into_owned(),
            query,
            virtual_hosted: virtual_bucket.is_some(),
        })
    }
}

/// An S3 error response (no body for HEAD, as S3 does).
pub(super) fn error(status: u16, code: &str, message: &str, head: bool) -> ResponseTemplate {
    let resp = ResponseTemplate::new(status).insert_header("x-amz-request-id", "FAKE");
    if head {
        return resp;
    }
    resp.set_body_raw(
        format!(
            "{XML_HEAD}<Error><Code>{code}</Code><Message>{}</Message><RequestId>FAKE</RequestId></Error>",
            escape(message)
        ),
        "application/xml",
    )
}

pub(super) fn xml_ok(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(format!("{XML_HEAD}{body}"), "application/xml")
}

/// The quoted hex MD5 `ETag` of a single-part object.
pub(super) fn etag_of(data: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Md5::digest(data)))
}

fn b64_sha256(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(data))
}

pub(super) fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn header<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Checks the signed payload hash and the SHA-256 checksum header against the body.
fn check_body(req: &Request) -> Result<(), Box<ResponseTemplate>> {
    let content_sha = header(req, "x-amz-content-sha256").unwrap_or("");
    if content_sha.starts_with("STREAMING-")
        || header(req, "content-encoding") == Some("aws-chunked")
    {
        return Err(Box::new(error(
            501,
            "NotImplemented",
            "aws-chunked bodies are not supported by this fake (set request_checksum_calculation = WhenRequired)",
            false,
        )));
    }
    if content_sha != "UNSIGNED-PAYLOAD" && content_sha != hex::encode(Sha256::digest(&req.body)) {
        return Err(Box::new(error(
            400,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            false,
        )));
    }
    if let Some(sum) = header(req, "x-amz-checksum-sha256") {
        if sum != b64_sha256(&req.body) {
            return Err(Box::new(error(
                400,
                "BadDigest",
                "The SHA256 you specified did not match the calculated checksum.",
                false,
            )));
        }
    }
    Ok(())
}

/// Serves one authenticated request for the configured bucket.
pub(super) fn handle(
    state: &mut State,
    options: &FakeS3Options,
    target: &Target,
    req: &Request,
) -> ResponseTemplate {
    let head = req.method == http::Method::HEAD;
    if let Err(resp) = check_body(req) {
        return *resp;
    }
    let key = target.key.as_str();
    match target.op {
        S3Op::PutObject => put_object(state, key, req),
        S3Op::GetObject | S3Op::HeadObject => get_object(state, key, req, head),
        S3Op::DeleteObject => {
            state.objects.remove(key);
            ResponseTemplate::new(204)
        }
        S3Op::CreateMultipartUpload => {
            state.next_id += 1;
            let id = format!(
                "fake-upload-{:06}-{:016x}",
                state.next_id,
                fastrand_id(state.next_id)
            );
            let sha256 = header(req, "x-amz-checksum-algorithm")
                .is_some_and(|a| a.eq_ignore_ascii_case("SHA256"));
            state.uploads.insert(
                id.clone(),
                Upload {
                    key: key.to_owned(),
                    initiated: Utc::now(),
                    sha256,
                    parts: BTreeMap::new(),
                },
            );
            xml_ok(&format!(
                "<InitiateMultipartUploadResult xmlns=\"{NS}\"><Bucket>{}</Bucket><Key>{}</Key>\
                 <UploadId>{id}</UploadId></InitiateMultipartUploadResult>",
                escape(&options.bucket),
                escape(key)
            ))
        }
        S3Op::UploadPart => upload_part(state, options, target, req),
        S3Op::CompleteMultipartUpload => complete(state, options, target, req),
        S3Op::AbortMultipartUpload => {
            let id = target.query.get("uploadId").cloned().unwrap_or_default();
            match state.uploads.get(&id) {
                Some(u) if u.key == key => {
                    state.uploads.remove(&id);
                    ResponseTemplate::new(204)
                }
                _ => no_such_upload(),
            }
        }
        S3Op::ListObjectsV2 => listing::list_objects(state, options, target),
        S3Op::ListMultipartUploads => {
            let mut uploads = String::new();
            for (id, u) in state.uploads.iter().take(1000) {
                let _ = write!(
                    uploads,
                    "<Upload><Key>{}</Key><UploadId>{id}</UploadId><Initiated>{}</Initiated></Upload>",
                    escape(&u.key),
                    iso(u.initiated)
                );
            }
            xml_ok(&format!(
                "<ListMultipartUploadsResult xmlns=\"{NS}\"><Bucket>{}</Bucket>\
                 <IsTruncated>false</IsTruncated>{uploads}</ListMultipartUploadsResult>",
                escape(&options.bucket)
            ))
        }
        S3Op::DeleteObjects => listing::delete_objects(state, req),
        S3Op::CreateBucket | S3Op::HeadBucket => ResponseTemplate::new(200),
        S3Op::Unsupported => error(
            501,
            "NotImplemented",
            "this request is not implemented by the S3 fake",
            head,
        ),
    }
}

fn put_object(state: &mut State, key: &str, req: &Request) -> ResponseTemplate {
    let data = Bytes::from(req.body.clone());
    let checksum = header(req, "x-amz-checksum-sha256").map(str::to_owned);
    let etag = etag_of(&data);
    let mut resp = ResponseTemplate::new(200).insert_header("etag", etag.as_str());
    if let Some(sum) = &checksum {
        resp = resp.insert_header("x-amz-checksum-sha256", sum.as_str());
    }
    state.objects.insert(
        key.to_owned(),
        StoredObject {
            data,
            etag,
            modified: Utc::now(),
            checksum_sha256: checksum,
        },
    );
    resp
}

fn get_object(state: &State, key: &str, req: &Request, head: bool) -> ResponseTemplate {
    let Some(obj) = state.objects.get(key) else {
        return error(404, "NoSuchKey", "The specified key does not exist.", head);
    };
    // GetObject, `Range`: "Downloads the specified byte range of an object" (RFC 9110 byte
    // ranges; "Amazon S3 doesn't support retrieving multiple ranges of data per GET request"),
    // answered 206 with `Content-Range`; a range past the end is 416 `InvalidRange` (S3 API
    // reference, GetObject and "Error responses"). No full-object checksum on a part.
    let total = obj.data.len() as u64;
    let range = match header(req, "range").map(|r| parse_range(r, total)) {
        None => None,
        Some(Ok(r)) => Some(r),
        Some(Err(())) => {
            return error(
                416,
                "InvalidRange",
                "The requested range is not satisfiable",
                head,
            )
            .insert_header("content-range", format!("bytes */{total}").as_str())
        }
    };
    let mut resp = ResponseTemplate::new(if range.is_some() { 206 } else { 200 })
        .insert_header("etag", obj.etag.as_str())
        .insert_header("accept-ranges", "bytes")
        .insert_header(
            "last-modified",
            obj.modified.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        );
    if range.is_none() && header(req, "x-amz-checksum-mode") == Some("ENABLED") {
        if let Some(sum) = &obj.checksum_sha256 {
            resp = resp.insert_header("x-amz-checksum-sha256", sum.as_str());
        }
    }
    let body = match range {
        None => obj.data.to_vec(),
        Some((first, last)) => {
            resp = resp.insert_header(
                "content-range",
                format!("bytes {first}-{last}/{total}").as_str(),
            );
            obj.data[first as usize..=last as usize].to_vec()
        }
    };
    resp.set_body_raw(body, "application/octet-stream")
}

/// A single `bytes=a-b`, `bytes=a-` or `bytes=-n` range within `total` bytes, as `(first, last)`.
fn parse_range(value: &str, total: u64) -> Result<(u64, u64), ()> {
    let spec = value.trim().strip_prefix("bytes=").ok_or(())?;
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (first, last) = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        (total.saturating_sub(n), total.checked_sub(1).ok_or(())?)
    } else {
        let first: u64 = a.parse().map_err(|_| ())?;
        let last = if b.is_empty() {
            total.saturating_sub(1)
        } else {
            b.parse::<u64>()
                .map_err(|_| ())?
                .min(total.saturating_sub(1))
        };
        (first, last)
    };
    if first >= total || last < first {
        return Err(());
    }
    Ok((first, last))
}

fn fastrand_id(n: u64) -> u64 {
    // Deterministic but scrambled, so ids do not look sequential to a client.
    n.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)
}

fn no_such_upload() -> ResponseTemplate {
    error(
        404,
        "NoSuchUpload",
        "The specified multipart upload does not exist.",
        false,
    )
}

fn upload_part(
    state: &mut State,
    options: &FakeS3Options,
    target: &Target,
    req: &Request,
) -> ResponseTemplate {
    let id = target.query.get("uploadId").cloned().unwrap_or_default();
    let Some(upload) = state.uploads.get_mut(&id) else {
        return no_such_upload();
    };
    if upload.key != target.key {
        return no_such_upload();
    }
    let number: i32 = match target.query.get("partNumber").map(|n| n.parse()) {
        Some(Ok(n)) if (1..=MAX_PARTS).contains(&n) => n,
        _ => {
            return error(
                400,
                "InvalidArgument",
                "Part number must be an integer between 1 and 10000, inclusive",
                false,
            )
        }
    };
    let checksum = header(req, "x-amz-checksum-sha256").map(str::to_owned);
    if upload.sha256 && checksum.is_none() {
        return error(
            400,
            "InvalidRequest",
            "The upload was created using a sha256 checksum. The part must carry one too.",
            false,
        );
    }
    let len = req.body.len();
    let data = Bytes::from(req.body.clone());
    let etag = etag_of(&data);
    // "Count, don't store": keep the part's size, not its bytes.
    let data = if options.count_only {
        Bytes::new()
    } else {
        data
    };
    let mut resp = ResponseTemplate::new(200).insert_header("etag", etag.as_str());
    if let Some(sum) = &checksum {
        resp = resp.insert_header("x-amz-checksum-sha256", sum.as_str());
    }
    upload.parts.insert(
        number,
        Part {
            data,
            len,
            etag,
            checksum_sha256: checksum,
        },
    );
    resp
}

/// `count_only` mode: the upload completes as its part sizes (no bytes are kept).
fn complete_counted(
    state: &mut State,
    options: &FakeS3Options,
    id: &str,
    key: String,
    sizes: Vec<u64>,
) -> ResponseTemplate {
    state.uploads.remove(id);
    let body = format!(
        "<CompleteMultipartUploadResult xmlns=\"{NS}\"><Bucket>{}</Bucket><Key>{}</Key>\
         <ETag>\"counted\"</ETag></CompleteMultipartUploadResult>",
        escape(&options.bucket),
        escape(&key),
    );
    state.counted.insert(key, sizes);
    xml_ok(&body)
}

fn complete(
    state: &mut State,
    options: &FakeS3Options,
    target: &Target,
    req: &Request,
) -> ResponseTemplate {
    let id = target.query.get("uploadId").cloned().unwrap_or_default();
    let Some(upload) = state.uploads.get(&id) else {
        return no_such_upload();
    };
    if upload.key != target.key {
        return no_such_upload();
    }
    let body = String::from_utf8_lossy(&req.body);
    let listed = elements(&body, "Part");
    if listed.is_empty() {
        return error(400, "MalformedXML", "no parts listed", false);
    }
    let invalid_part = || {
        error(
            400,
            "InvalidPart",
            "One or more of the specified parts could not be found or the specified entity tag \
             (or checksum) might not have matched the part's.",
            false,
        )
    };
    let mut chosen: Vec<&Part> = Vec::new();
    let mut previous = 0;
    for p in &listed {
        let Some(number) = text(p, "PartNumber").and_then(|n| n.parse::<i32>().ok()) else {
            return error(400, "MalformedXML", "a part has no PartNumber", false);
        };
        if number <= previous {
            return error(
                400,
                "InvalidPartOrder",
                "The list of parts was not in ascending order.",
                false,
            );
        }
        previous = number;
        let Some(part) = upload.parts.get(&number) else {
            return invalid_part();
        };
        if text(p, "ETag").as_deref() != Some(part.etag.as_str()) {
            return invalid_part();
        }
        let sum = text(p, "ChecksumSHA256");
        if upload.sha256 && (sum.is_none() || sum != part.checksum_sha256) {
            return invalid_part();
        }
        chosen.push(part);
    }
    for part in &chosen[..chosen.len() - 1] {
        // S3: every part but the last is at least 5 MiB (`EntityTooSmall`), checked at
        // CompleteMultipartUpload; https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html
        if part.len < options.min_part_size {
            return error(
                400,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed object size.",
                false,
            );
        }
    }
    if options.count_only {
        let sizes = chosen.iter().map(|p| p.len as u64).collect();
        let key = upload.key.clone();
        return complete_counted(state, options, &id, key, sizes);
    }
    let mut data = Vec::with_capacity(chosen.iter().map(|p| p.data.len()).sum());
    let mut md5s = Vec::new();
    let mut shas = Vec::new();
    for part in &chosen {
        data.extend_from_slice(&part.data);
        md5s.extend_from_slice(&Md5::digest(&part.data));
        shas.extend_from_slice(&Sha256::digest(&part.data));
    }
    let n = chosen.len();
    let etag = format!("\"{}-{n}\"", hex::encode(Md5::digest(&md5s)));
    let checksum = upload.sha256.then(|| format!("{}-{n}", b64_sha256(&shas)));
    let key = upload.key.clone();
    state.uploads.remove(&id);
    let checksum_xml = checksum
        .as_deref()
        .map(|c| format!("<ChecksumSHA256>{c}</ChecksumSHA256>"))
        .unwrap_or_default();
    state.objects.insert(
        key.clone(),
        StoredObject {
            data: Bytes::from(data),
            etag: etag.clone(),
            modified: Utc::now(),
            checksum_sha256: checksum,
        },
    );
    xml_ok(&format!(
        "<CompleteMultipartUploadResult xmlns=\"{NS}\"><Bucket>{}</Bucket><Key>{}</Key>\
         <ETag>{}</ETag>{checksum_xml}</CompleteMultipartUploadResult>",
        escape(&options.bucket),
        escape(&key),
        escape(&etag)
    ))
}
