//! One function per Drive endpoint, each sending a bearer token and refreshing it once on a 401.

use std::hash::{BuildHasher, Hasher};

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use cloudmirror_contract::{Result, RetryPolicy};
use reqwest::header::{CONTENT_RANGE, CONTENT_TYPE, LOCATION};
use reqwest::{RequestBuilder, Response, StatusCode};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use crate::auth::TokenSource;
use crate::daily_cap::DailyCap;
use crate::error::{has_reason, parse_error, protocol, transport};

/// The MIME type of Drive folders.
pub(crate) const FOLDER_MIME: &str = "application/vnd.google-apps.folder";

/// The requests that upload content (the daily upload cap applies to them).
const UPLOADS: &[&str] = &[
    "files.create (multipart)",
    "files.update (media)",
    "resumable upload start",
    "resumable upload chunk",
];

/// The File fields the adapter reads, everywhere.
const FILE_FIELDS: &str = "id,name,mimeType,size,md5Checksum,modifiedTime,createdTime";

/// A Drive File resource, reduced to what the adapter reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DriveFile {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) mime_type: String,
    /// int64 as a JSON string; absent for folders.
    #[serde(default)]
    pub(crate) size: Option<String>,
    #[serde(default)]
    pub(crate) md5_checksum: Option<String>,
    #[serde(default)]
    pub(crate) modified_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub(crate) created_time: Option<DateTime<Utc>>,
}

impl DriveFile {
    pub(crate) fn is_folder(&self) -> bool {
        self.mime_type == FOLDER_MIME
    }

    pub(crate) fn size(&self) -> Option<u64> {
        self.size.as_deref().and_then(|s| s.parse().ok())
    }
}

/// One page of `files.list`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FileList {
    #[serde(default)]
    pub(crate) files: Vec<DriveFile>,
    #[serde(default)]
    pub(crate) next_page_token: Option<String>,
}

/// What a resumable session says after a chunk or a status probe.
#[derive(Debug)]
pub(crate) enum ChunkOutcome {
    /// The last byte arrived: the file.
    Done(DriveFile),
    /// The server holds this many bytes (from offset 0) and wants the rest.
    Incomplete(u64),
}

/// What a new resumable session writes to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SessionTarget<'a> {
    /// A new file `name` in folder `parent`.
    Create { name: &'a str, parent: &'a str },
    /// A new revision of an existing file.
    Update { id: &'a str },
}

/// The HTTP side of the adapter: endpoints, tokens and the retry policy.
#[derive(Debug)]
pub(crate) struct Client {
    http: reqwest::Client,
    tokens: TokenSource,
    files_url: String,
    upload_url: String,
    drive_id: Option<String>,
    page_size: usize,
    pub(crate) retry: RetryPolicy,
    daily_cap: DailyCap,
    /// Set once the "trashed instead of deleted" warning was logged (once per store).
    trash_warned: std::sync::atomic::AtomicBool,
}

impl Client {
    pub(crate) fn new(
        tokens: TokenSource,
        api_url: &str,
        drive_id: Option<String>,
        page_size: usize,
    ) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(30))
            .read_timeout(std::time::Duration::from_mins(5))
            .build()
            .map_err(transport)?;
        Ok(Self {
            http,
            tokens,
            files_url: format!("{api_url}/drive/v3/files"),
            upload_url: format!("{api_url}/upload/drive/v3/files"),
            drive_id,
            page_size,
            retry: RetryPolicy::default(),
            daily_cap: DailyCap::default(),
            trash_warned: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// One try: sends with the cached token, and once more with a fresh token after a 401.
    /// Statuses that `accept` are returned as they are; others become errors.
    async fn attempt(
        &self,
        what: &str,
        accept: fn(StatusCode) -> bool,
        build: &(dyn Fn(&str) -> RequestBuilder + Send + Sync),
    ) -> Result<Response> {
        tracing::debug!(backend = crate::BACKEND, "{what}");
        let token = self.tokens.token(false).await?;
        let mut resp = build(token.expose_secret())
            .send()
            .await
            .map_err(transport)?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            tracing::debug!(
                backend = crate::BACKEND,
                "{what}: 401, getting a fresh token"
            );
            let token = self.tokens.token(true).await?;
            resp = build(token.expose_secret())
                .send()
                .await
                .map_err(transport)?;
        }
        let upload = UPLOADS.contains(&what);
        if accept(resp.status()) {
            if upload {
                self.daily_cap.upload_succeeded();
            }
            return Ok(resp);
        }
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.unwrap_or_default();
        let err = parse_error(status, &headers, &body).context(what);
        Err(if upload {
            self.daily_cap.judge(err, self.retry.budget)
        } else {
            err
        })
    }

    /// [`Self::attempt`] under the retry policy, accepting 2xx.
    async fn send(
        &self,
        what: &str,
        build: &(dyn Fn(&str) -> RequestBuilder + Send + Sync),
    ) -> Result<Response> {
        self.retry
            .run(what, || self.attempt(what, |s| s.is_success(), build))
            .await
    }

    async fn send_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        build: &(dyn Fn(&str) -> RequestBuilder + Send + Sync),
    ) -> Result<T> {
        self.retry
            .run(what, || async {
                let resp = self.attempt(what, |s| s.is_success(), build).await?;
                let body = resp.bytes().await.map_err(transport)?;
                serde_json::from_slice(&body)
                    .map_err(|e| protocol(format!("{what}: cannot parse the response: {e}")))
            })
            .await
    }

    /// `files.list` of one page for `q`.
    pub(crate) async fn list_page(
        &self,
        q: &str,
        order_by: Option<&str>,
        page_token: Option<&str>,
    ) -> Result<FileList> {
        let fields = format!("nextPageToken,files({FILE_FIELDS})");
        let page_size = self.page_size.to_string();
        let build = |token: &str| {
            let mut rb = all_drives(self.http.get(&self.files_url))
                .bearer_auth(token)
                .query(&[
                    ("q", q),
                    ("fields", fields.as_str()),
                    ("pageSize", page_size.as_str()),
                ]);
            if let Some(d) = &self.drive_id {
                rb = rb.query(&[
                    ("includeItemsFromAllDrives", "true"),
                    ("corpora", "drive"),
                    ("driveId", d.as_str()),
                ]);
            }
            if let Some(o) = order_by {
                rb = rb.query(&[("orderBy", o)]);
            }
            if let Some(t) = page_token {
                rb = rb.query(&[("pageToken", t)]);
            }
            rb
        };
        self.send_json("files.list", &build).await
    }

    /// `files.get` of metadata.
    pub(crate) async fn get_file(&self, id: &str) -> Result<DriveFile> {
        let url = format!("{}/{}", self.files_url, enc(id));
        let build = |token: &str| {
            all_drives(self.http.get(&url))
                .bearer_auth(token)
                .query(&[("fields", FILE_FIELDS)])
        };
        self.send_json("files.get", &build).await
    }

    /// `files.create` of a folder.
    pub(crate) async fn create_folder(&self, name: &str, parent: &str) -> Result<DriveFile> {
        let body = json!({"name": name, "mimeType": FOLDER_MIME, "parents": [parent]});
        let build = |token: &str| {
            all_drives(self.http.post(&self.files_url))
                .bearer_auth(token)
                .query(&[("fields", FILE_FIELDS)])
                .json(&body)
        };
        self.send_json("files.create (folder)", &build).await
    }

    /// `files.get?alt=media`: the response whose body is the content.
    pub(crate) async fn download(&self, id: &str) -> Result<Response> {
        let url = format!("{}/{}", self.files_url, enc(id));
        let build = |token: &str| {
            all_drives(self.http.get(&url))
                .bearer_auth(token)
                .query(&[("alt", "media")])
        };
        self.send("files.get (media)", &build).await
    }

    /// `files.delete` (permanent); a missing file is success. In a shared drive where the service
    /// account is not a Manager, the file is moved to the trash instead (see [`Self::trash`]).
    pub(crate) async fn delete(&self, id: &str) -> Result<()> {
        let url = format!("{}/{}", self.files_url, enc(id));
        let build = |token: &str| all_drives(self.http.delete(&url)).bearer_auth(token);
        match self.send("files.delete", &build).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == cloudmirror_contract::ErrorKind::NotFound => Ok(()),
            // files.delete: "If the file belongs to a shared drive, the user must be an
            // organizer on the parent folder"; others get 403 insufficientFilePermissions.
            Err(e)
                if self.drive_id.is_some()
                    && has_reason(&e, 403, "insufficientFilePermissions") =>
            {
                self.trash(id).await
            }
            Err(e) => Err(e),
        }
    }

    /// `files.update` with `{"trashed": true}`: what a Content manager may do. A shared drive's
    /// trash empties itself after 30 days; warns once per store that a Manager would free the
    /// space at once.
    async fn trash(&self, id: &str) -> Result<()> {
        let url = format!("{}/{}", self.files_url, enc(id));
        let body = json!({"trashed": true});
        let build = |token: &str| {
            all_drives(self.http.patch(&url))
                .bearer_auth(token)
                .query(&[("fields", "id,trashed")])
                .json(&body)
        };
        match self.send("files.update (trash)", &build).await {
            Ok(_) => {}
            Err(e) if e.kind() == cloudmirror_contract::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(e.context(
                    "the service account may neither delete nor trash files in this shared drive: give it the Manager role",
                ))
            }
        }
        if !self
            .trash_warned
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::warn!(
                backend = crate::BACKEND,
                "the service account is not a Manager of the shared drive, so Drive refuses permanent deletes: deleted backups were moved to the shared drive's trash, which empties itself after 30 days; give the service account the Manager role to free the space at once"
            );
        }
        Ok(())
    }

    /// `files.create` with `uploadType=multipart`: metadata and content in one request.
    pub(crate) async fn multipart_create(
        &self,
        name: &str,
        parent: &str,
        data: &Bytes,
    ) -> Result<DriveFile> {
        let boundary = format!("cloudmirror-{:016x}{:016x}", random_u64(), random_u64());
        let meta = json!({"name": name, "parents": [parent]}).to_string();
        let mut body = BytesMut::with_capacity(data.len() + meta.len() + 256);
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{meta}\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let body = body.freeze();
        let content_type = format!("multipart/related; boundary={boundary}");
        let build = |token: &str| {
            all_drives(self.http.post(&self.upload_url))
                .bearer_auth(token)
                .query(&[("uploadType", "multipart"), ("fields", FILE_FIELDS)])
                .header(CONTENT_TYPE, content_type.as_str())
                .body(body.clone())
        };
        self.send_json("files.create (multipart)", &build).await
    }

    /// `files.update` with `uploadType=media`: new content for an existing file.
    pub(crate) async fn media_update(&self, id: &str, data: &Bytes) -> Result<DriveFile> {
        let url = format!("{}/{}", self.upload_url, enc(id));
        let build = |token: &str| {
            all_drives(self.http.patch(&url))
                .bearer_auth(token)
                .query(&[("uploadType", "media"), ("fields", FILE_FIELDS)])
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(data.clone())
        };
        self.send_json("files.update (media)", &build).await
    }

    /// Starts a resumable session and returns its URI (a credential: never logged).
    pub(crate) async fn start_session(&self, target: SessionTarget<'_>) -> Result<String> {
        let (method, url, body) = match target {
            SessionTarget::Create { name, parent } => (
                reqwest::Method::POST,
                self.upload_url.clone(),
                json!({"name": name, "parents": [parent]}),
            ),
            SessionTarget::Update { id } => (
                reqwest::Method::PATCH,
                format!("{}/{}", self.upload_url, enc(id)),
                json!({}),
            ),
        };
        let build = |token: &str| {
            all_drives(self.http.request(method.clone(), &url))
                .bearer_auth(token)
                .query(&[("uploadType", "resumable"), ("fields", FILE_FIELDS)])
                .header("X-Upload-Content-Type", "application/octet-stream")
                .json(&body)
        };
        let resp = self.send("resumable upload start", &build).await?;
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| protocol("resumable upload start: no Location header"))?;
        let base = url::Url::parse(&url).map_err(|e| protocol(e.to_string()))?;
        base.join(location)
            .map(String::from)
            .map_err(|_| protocol("resumable upload start: invalid Location header"))
    }

    /// One `PUT` of `data` at offset `first` to a session (`total` on the last chunk). One try:
    /// the upload state machine decides how to retry.
    pub(crate) async fn put_chunk(
        &self,
        session: &str,
        data: &Bytes,
        first: u64,
        total: Option<u64>,
    ) -> Result<ChunkOutcome> {
        let total_s = total.map_or_else(|| "*".to_owned(), |t| t.to_string());
        let range = if data.is_empty() {
            format!("bytes */{total_s}")
        } else {
            format!("bytes {first}-{}/{total_s}", first + data.len() as u64 - 1)
        };
        let build = |token: &str| {
            self.http
                .put(session)
                .bearer_auth(token)
                .header(CONTENT_RANGE, range.as_str())
                .body(data.clone())
        };
        let resp = self
            .attempt("resumable upload chunk", accept_chunk, &build)
            .await?;
        chunk_outcome(resp).await
    }

    /// Asks a session how much it holds (`Content-Range: bytes */*`). One try.
    pub(crate) async fn probe(&self, session: &str) -> Result<ChunkOutcome> {
        let build = |token: &str| {
            self.http
                .put(session)
                .bearer_auth(token)
                .header(CONTENT_RANGE, "bytes */*")
                .body(Bytes::new())
        };
        let resp = self
            .attempt("resumable upload status", accept_chunk, &build)
            .await?;
        chunk_outcome(resp).await
    }

    /// Cancels a session (best effort: failures are only logged).
    pub(crate) async fn cancel_session(&self, session: &str) {
        let build = |token: &str| self.http.delete(session).bearer_auth(token);
        if let Err(e) = self
            .attempt("resumable upload cancel", |_| true, &build)
            .await
        {
            tracing::warn!(
                backend = crate::BACKEND,
                "could not cancel an upload session: {}",
                e.message()
            );
        }
    }
}

/// Adds `supportsAllDrives=true` (every metadata and upload request carries it).
fn all_drives(rb: RequestBuilder) -> RequestBuilder {
    rb.query(&[("supportsAllDrives", "true")])
}

fn accept_chunk(s: StatusCode) -> bool {
    s.is_success() || s.as_u16() == 308
}

/// The bytes a session holds, from a 308's `Range: bytes=0-<last>` (`None` when malformed,
/// including a `<last>` of `u64::MAX`, which would overflow).
pub(crate) fn committed_from_range(value: &[u8]) -> Option<u64> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.trim().strip_prefix("bytes=0-"))
        .and_then(|n| n.parse::<u64>().ok())
        .and_then(|last| last.checked_add(1))
}

async fn chunk_outcome(resp: Response) -> Result<ChunkOutcome> {
    if resp.status().as_u16() == 308 {
        let committed = match resp.headers().get(reqwest::header::RANGE) {
            None => 0,
            Some(v) => committed_from_range(v.as_bytes())
                .ok_or_else(|| protocol("resumable upload: malformed Range header"))?,
        };
        return Ok(ChunkOutcome::Incomplete(committed));
    }
    let body = resp.bytes().await.map_err(transport)?;
    serde_json::from_slice(&body)
        .map(ChunkOutcome::Done)
        .map_err(|e| protocol(format!("resumable upload: cannot parse the file: {e}")))
}

/// What a file id may keep unescaped in a path segment.
const ID_SAFE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.');

/// Percent-encodes a file id for a path segment (ids are URL-safe already; this is a guard).
fn enc(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, ID_SAFE).to_string()
}

/// A random number from the standard library's per-process hasher keys (for multipart boundaries).
fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::committed_from_range;

    #[test]
    fn range_header_overflow_is_malformed() {
        assert_eq!(committed_from_range(b"bytes=0-262143"), Some(262_144));
        assert_eq!(committed_from_range(b" bytes=0-0 "), Some(1));
        // u64::MAX + 1 used to overflow (a panic in debug builds).
        assert_eq!(committed_from_range(b"bytes=0-18446744073709551615"), None);
        assert_eq!(committed_from_range(b"bytes=5-9"), None);
        assert_eq!(committed_from_range(b"\xff"), None);
    }
}
