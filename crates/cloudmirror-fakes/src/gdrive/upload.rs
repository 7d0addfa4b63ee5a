//! The fake's upload routes: multipart and media uploads, and resumable sessions.

// Reason: handlers return ready wiremock responses as their errors; the fake is no hot path.
#![allow(clippy::result_large_err)]

use bytes::Bytes;
use serde_json::{Map, Value};
use wiremock::{Request, ResponseTemplate};

use super::files::{apply_meta, bad_request, check_new, not_found, param, respond_file, visible};
use super::state::{ChunkKeep, Session, State, Target};
use super::{drive_error, injected, CHUNK_GRANULARITY, FOLDER_MIME};

/// Drive's answer to a service account that writes into a My Drive folder.
pub(crate) fn quota_error() -> ResponseTemplate {
    drive_error(
        403,
        "storageQuotaExceeded",
        "Service Accounts do not have storage quota. Leverage shared drives (https://developers.google.com/workspace/drive/api/guides/about-shareddrives), or use OAuth delegation (http://support.google.com/a/answer/7281227) instead.",
    )
}

/// Drive's answer to a new upload once the user's 750 GB of the day are used up. Google documents
/// the cap (Shared drives limits, <https://support.google.com/a/answer/7338880>: "Users who reach
/// the 750-GB limit [...] cannot upload additional files that day. Uploads that are in progress
/// will complete") but not the answer; users see 403 `userRateLimitExceeded`, "User rate limit
/// exceeded." (rclone/rclone#1591, labbots/google-drive-upload#192), which rclone's
/// `--drive-stop-on-upload-limit` keys on (backend/drive/drive.go, `shouldRetry`).
pub(crate) fn over_daily_cap(st: &State) -> Option<ResponseTemplate> {
    (st.uploaded_today >= st.opts.daily_upload_cap)
        .then(|| drive_error(403, "userRateLimitExceeded", "User rate limit exceeded."))
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

/// `POST /upload/drive/v3/files` (create) or `PATCH /upload/drive/v3/files/{id}` (update).
pub(crate) fn start(st: &mut State, req: &Request, id: Option<&str>) -> ResponseTemplate {
    if let Some(id) = id {
        match visible(st, req, id) {
            Ok(f) if f.is_folder() => {
                return bad_request("fake: cannot upload content into a folder")
            }
            Ok(_) => {}
            Err(r) => return r,
        }
    }
    if st.quota_exceeded {
        return quota_error();
    }
    if let Some(r) = over_daily_cap(st) {
        return r;
    }
    if param(req, "uploadType").as_deref() != Some("resumable") {
        st.bytes_received += req.body.len() as u64;
    }
    let (meta, media) = match param(req, "uploadType").as_deref() {
        Some("multipart") => {
            let ct = header(req, "content-type").unwrap_or_default();
            match parse_multipart(ct, &req.body) {
                Ok(x) => x,
                Err(why) => return bad_request(&format!("Malformed multipart body: {why}")),
            }
        }
        Some("media") => (Map::new(), Bytes::copy_from_slice(&req.body)),
        Some("resumable") => return start_session(st, req, id),
        _ => return bad_request("Invalid uploadType (multipart, media or resumable)"),
    };
    let target = match id {
        Some(id) => Target::Update(id.to_owned(), meta),
        None => Target::Create(meta),
    };
    match finish(st, req, target, media) {
        Ok(id) => respond_file(st, req, &id, None),
        Err(r) => r,
    }
}

/// Writes a finished upload: a new file, or a new revision of an existing one.
fn finish(
    st: &mut State,
    req: &Request,
    target: Target,
    data: Bytes,
) -> Result<String, ResponseTemplate> {
    st.uploaded_today += data.len() as u64;
    match target {
        Target::Create(meta) => {
            let (name, parent, mime) = check_new(st, req, &meta)?;
            if mime == FOLDER_MIME {
                return Err(bad_request("fake: folders have no content"));
            }
            Ok(st.insert(&name, &parent, &mime, data))
        }
        Target::Update(id, meta) => {
            if !st.files.contains_key(&id) {
                return Err(not_found(&id));
            }
            st.replace(&id, data);
            if !meta.is_empty() {
                apply_meta(st, &id, &meta);
            }
            Ok(id)
        }
    }
}

fn start_session(st: &mut State, req: &Request, id: Option<&str>) -> ResponseTemplate {
    let meta: Map<String, Value> = if req.body.is_empty() {
        Map::new()
    } else {
        match serde_json::from_slice(&req.body) {
            Ok(m) => m,
            Err(_) => return bad_request("fake: the metadata must be a JSON object"),
        }
    };
    if id.is_none() {
        if let Err(r) = check_new(st, req, &meta) {
            return r;
        }
    }
    let total = match header(req, "x-upload-content-length").map(str::parse::<u64>) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return bad_request("Invalid X-Upload-Content-Length"),
    };
    let sid = st.new_id("up");
    let target = match id {
        Some(id) => Target::Update(id.to_owned(), meta),
        None => Target::Create(meta),
    };
    st.sessions.insert(
        sid.clone(),
        Session {
            target,
            received: Vec::new(),
            total,
            fields: param(req, "fields"),
            done: None,
        },
    );
    let path = id.map(|i| format!("/{i}")).unwrap_or_default();
    // Like Google's, the session URI keeps the initiating request's parameters.
    let query = req.url.query().unwrap_or("uploadType=resumable");
    let location = format!(
        "{}/upload/drive/v3/files{path}?{query}&upload_id={sid}",
        st.base
    );
    ResponseTemplate::new(200).insert_header("Location", location.as_str())
}

/// A parsed `Content-Range` of a session `PUT`.
enum Range {
    /// `bytes */total` or `bytes */*`: a status probe.
    Probe,
    /// `bytes first-last/total` (`total` is `None` for `*`).
    Data(u64, u64, Option<u64>),
}

fn parse_range(v: &str) -> Option<Range> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let total = if total == "*" {
        None
    } else {
        Some(total.parse().ok()?)
    };
    if span == "*" {
        return Some(Range::Probe);
    }
    let (a, b) = span.split_once('-')?;
    let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
    (b >= a).then_some(Range::Data(a, b, total))
}

fn resume_incomplete(received: u64) -> ResponseTemplate {
    let r = ResponseTemplate::new(308);
    if received == 0 {
        r
    } else {
        r.insert_header("Range", format!("bytes=0-{}", received - 1).as_str())
    }
}

/// `PUT` (chunk or probe) or `DELETE` (cancel) on a session URI.
pub(crate) fn session(st: &mut State, req: &Request) -> ResponseTemplate {
    let Some(sid) = param(req, "upload_id") else {
        return bad_request("fake: missing upload_id");
    };
    if req.method.as_str() == "DELETE" {
        return match st.sessions.remove(&sid) {
            Some(_) => ResponseTemplate::new(499),
            None => drive_error(404, "notFound", "No such upload session."),
        };
    }
    let Some(sess) = st.sessions.get(&sid) else {
        return drive_error(404, "notFound", "No such upload session.");
    };
    let fields = param(req, "fields").or_else(|| sess.fields.clone());
    if let Some(id) = sess.done.clone() {
        return respond_file(st, req, &id, fields.as_deref());
    }
    let received = sess.received.len() as u64;
    let len = req.body.len() as u64;
    let range = match header(req, "content-range") {
        None => Range::Data(0, len.saturating_sub(1), Some(len)),
        Some(v) => match parse_range(v) {
            Some(r) => r,
            None => return bad_request(&format!("Invalid Content-Range {v:?}")),
        },
    };
    let (first, last, total) = match range {
        Range::Probe if len == 0 => return resume_incomplete(received),
        Range::Probe => return bad_request("A status probe must have an empty body"),
        Range::Data(a, b, t) => (a, b, t),
    };
    if last - first + 1 != len && !(len == 0 && total == Some(0)) {
        return bad_request("Content-Range does not match the body length");
    }
    if let (Some(t), Some(known)) = (total, sess.total) {
        if t != known {
            return bad_request("The total size changed during the upload");
        }
    }
    if first > received {
        return bad_request(&format!(
            "Chunk starts at {first} but the server has only {received} bytes"
        ));
    }
    if total.is_some_and(|t| last + 1 > t) {
        return bad_request("The chunk extends past the declared total size");
    }
    let is_final = total.is_some_and(|t| last + 1 == t);
    if !is_final && !len.is_multiple_of(CHUNK_GRANULARITY) {
        return bad_request(&format!(
            "Invalid request. The number of bytes uploaded is required to be equal or greater than {CHUNK_GRANULARITY}, except for the final request (it's recommended to be the exact multiple of {CHUNK_GRANULARITY}). The received request contained {len} bytes"
        ));
    }
    st.bytes_received += len;
    // Bytes of this chunk the server has not stored yet.
    let skip = (received - first) as usize;
    let new = req.body.get(skip..).unwrap_or_default();
    if let Some((status, keep)) = st.chunk_faults.pop_front() {
        let keep_n = match keep {
            ChunkKeep::Nothing => 0,
            ChunkKeep::Half => round_down(new.len() as u64 / 2) as usize,
        };
        if let Some(s) = st.sessions.get_mut(&sid) {
            s.received.extend_from_slice(&new[..keep_n]);
        }
        return injected(status);
    }
    let store_n = if is_final {
        new.len()
    } else if st.short_writes > 0 {
        st.short_writes -= 1;
        round_down(new.len() as u64 / 2) as usize
    } else if st.opts.random_short_writes {
        let units = new.len() as u64 / CHUNK_GRANULARITY;
        ((st.rng.u64() % (units + 1)) * CHUNK_GRANULARITY) as usize
    } else {
        new.len()
    };
    let Some(s) = st.sessions.get_mut(&sid) else {
        return drive_error(404, "notFound", "No such upload session.");
    };
    s.received.extend_from_slice(&new[..store_n]);
    if let Some(t) = total {
        s.total = Some(t);
    }
    if !is_final {
        return resume_incomplete(s.received.len() as u64);
    }
    let data = Bytes::from(std::mem::take(&mut s.received));
    let target = s.target.clone();
    match finish(st, req, target, data) {
        Ok(id) => {
            if let Some(s) = st.sessions.get_mut(&sid) {
                s.done = Some(id.clone());
            }
            respond_file(st, req, &id, fields.as_deref())
        }
        Err(r) => {
            st.sessions.remove(&sid);
            r
        }
    }
}

fn round_down(n: u64) -> u64 {
    n - n % CHUNK_GRANULARITY
}

/// Parses a `multipart/related` body: exactly a JSON metadata part, then a media part.
fn parse_multipart(content_type: &str, body: &[u8]) -> Result<(Map<String, Value>, Bytes), String> {
    let (mime, params) = content_type
        .split_once(';')
        .ok_or("no boundary parameter")?;
    if !mime.trim().eq_ignore_ascii_case("multipart/related") {
        return Err(format!("content type is {mime:?}, not multipart/related"));
    }
    let boundary = params
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"'))
        .filter(|b| !b.is_empty())
        .ok_or("no boundary parameter")?;
    // RFC 2046 §5.1.1 asks for CRLF line breaks, but Google's upload servers also take the bare
    // LF that the official Python client writes (googleapiclient/discovery.py flattens the body
    // with email's BytesGenerator): accept either, the same one throughout the body.
    let nl = if body.starts_with(format!("--{boundary}\r\n").as_bytes()) {
        "\r\n"
    } else {
        "\n"
    };
    let open = format!("--{boundary}{nl}");
    let mid = format!("{nl}--{boundary}{nl}");
    let close = format!("{nl}--{boundary}--");
    let rest = body
        .strip_prefix(open.as_bytes())
        .ok_or("the body does not start with the boundary")?;
    let end = rfind(rest, close.as_bytes()).ok_or("no closing boundary")?;
    let tail = &rest[end + close.len()..];
    if !(tail.is_empty() || tail == nl.as_bytes()) {
        return Err("data after the closing boundary".into());
    }
    let inner = &rest[..end];
    let split = find(inner, mid.as_bytes()).ok_or("expected exactly two parts")?;
    let (p1, p2) = (&inner[..split], &inner[split + mid.len()..]);
    let (h1, b1) = part(p1, nl)?;
    let (_, b2) = part(p2, nl)?;
    if !h1
        .to_ascii_lowercase()
        .contains("content-type: application/json")
    {
        return Err("the first part must be application/json metadata".into());
    }
    let meta: Map<String, Value> =
        serde_json::from_slice(b1).map_err(|e| format!("bad metadata JSON: {e}"))?;
    Ok((meta, Bytes::copy_from_slice(b2)))
}

/// Splits a part into its headers and its body at the blank line.
fn part<'a>(p: &'a [u8], nl: &str) -> Result<(String, &'a [u8]), String> {
    let blank = format!("{nl}{nl}");
    let at = find(p, blank.as_bytes()).ok_or("a part has no header block")?;
    let headers = std::str::from_utf8(&p[..at]).map_err(|_| "part headers are not UTF-8")?;
    if !headers.to_ascii_lowercase().contains("content-type:") {
        return Err("a part has no Content-Type".into());
    }
    Ok((headers.to_owned(), &p[at + blank.len()..]))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_parsing_is_strict() {
        let ok = b"--b1\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{\"name\":\"x\"}\r\n--b1\r\nContent-Type: application/octet-stream\r\n\r\nDATA\r\n--b1--\r\n";
        let (meta, data) = parse_multipart("multipart/related; boundary=b1", ok).unwrap();
        assert_eq!(meta["name"], "x");
        assert_eq!(&data[..], b"DATA");
        assert!(parse_multipart("multipart/form-data; boundary=b1", ok).is_err());
        assert!(parse_multipart("multipart/related; boundary=zz", ok).is_err());
        let no_close = &ok[..ok.len() - 8];
        assert!(parse_multipart("multipart/related; boundary=b1", no_close).is_err());
        let one_part = b"--b1\r\nContent-Type: application/json\r\n\r\n{}\r\n--b1--";
        assert!(parse_multipart("multipart/related; boundary=b1", one_part).is_err());
        // Bare LF throughout, as google-api-python-client sends it.
        let lf = b"--b1\nContent-Type: application/json\n\n{\"name\":\"y\"}\n--b1\nContent-Type: application/octet-stream\n\nD\r\nA\n--b1--";
        let (meta, data) = parse_multipart("multipart/related; boundary=\"b1\"", lf).unwrap();
        assert_eq!(meta["name"], "y");
        assert_eq!(&data[..], b"D\r\nA");
    }
}
