//! One function per Supabase Storage endpoint, with authentication and error mapping.
//!
//! Every REST call goes through [`RetryPolicy::run`]; TUS `PATCH`/`HEAD` are single attempts
//! here because the resume loop in `upload.rs` (itself one [`RetryPolicy::run`] per chunk)
//! decides what to resend: an outage is ridden out there, resuming from the server's
//! `Upload-Offset`.
//!
//! Every TUS request carries `x-upsert: true`: the server checks it on each request (create,
//! each `PATCH`, `DELETE`) with that request's own header, so a re-upload over an existing name
//! needs it on all of them (supabase/storage `src/http/routes/tus/lifecycle.ts`).

use base64::Engine as _;
use bytes::Bytes;
use cloudmirror_contract::{Error, ErrorKind, RetryPolicy};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, Response};
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::config::{KeyStyle, Settings};
use crate::error::{network_error, parse_error, BACKEND};
use crate::names::url_path;

const TUS_VERSION: &str = "1.0.0";
const OCTET_STREAM: &str = "application/octet-stream";

/// An authenticated HTTP client for one project and bucket.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    pub(crate) settings: Settings,
    pub(crate) retry: RetryPolicy,
}

/// A page of `POST /object/list-v2/{bucket}`: full names, an opaque cursor.
#[derive(Debug, Deserialize)]
pub(crate) struct PageV2 {
    #[serde(rename = "hasNext", default)]
    pub(crate) has_next: bool,
    #[serde(rename = "nextCursor")]
    pub(crate) next_cursor: Option<String>,
    #[serde(default)]
    pub(crate) objects: Vec<Entry>,
}

/// One row the batch delete answers: an object it deleted.
#[derive(Debug, Deserialize)]
struct Deleted {
    name: String,
}

/// One entry of a listing page: a folder when `id` is null.
#[derive(Debug, Deserialize)]
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) id: Option<String>,
    pub(crate) updated_at: Option<String>,
    pub(crate) metadata: Option<EntryMetadata>,
}

/// The file metadata of a listing entry.
#[derive(Debug, Deserialize)]
pub(crate) struct EntryMetadata {
    pub(crate) size: Option<u64>,
}

/// What `HEAD` on a TUS upload says.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TusStatus {
    pub(crate) offset: u64,
    pub(crate) length: Option<u64>,
}

impl Client {
    pub(crate) fn new(settings: Settings) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("cloudmirror-supabase/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(30))
            .read_timeout(std::time::Duration::from_mins(5))
            .build()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Other,
                    BACKEND,
                    format!("building the HTTP client: {e}"),
                )
            })?;
        Ok(Self {
            http,
            settings,
            retry: RetryPolicy::default(),
        })
    }

    fn url(&self, route: &str) -> String {
        format!("{}{route}", self.settings.base)
    }

    fn bucket_path(&self) -> String {
        url_path(&self.settings.bucket)
    }

    /// A request with the key in `apikey` (gateway) and, for JWT keys, `Authorization`.
    fn request(&self, method: Method, url: &str) -> RequestBuilder {
        let key = self.settings.key.expose_secret();
        let mut b = self.http.request(method, url);
        if let Ok(mut v) = HeaderValue::from_str(key) {
            v.set_sensitive(true);
            b = b.header("apikey", v);
        }
        if self.settings.key_style == KeyStyle::Jwt {
            if let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {key}")) {
                v.set_sensitive(true);
                b = b.header(AUTHORIZATION, v);
            }
        }
        b
    }

    /// Sends once; a non-success status becomes the mapped error.
    async fn send(&self, what: &str, req: RequestBuilder) -> Result<Response, Error> {
        tracing::debug!(backend = BACKEND, "{what}");
        let resp = req.send().await.map_err(|e| network_error(what, e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.unwrap_or_default();
        Err(parse_error(status, &headers, &body).context(what))
    }

    /// `GET /bucket/{id}`: `None` when the bucket does not exist, else its `file_size_limit`
    /// (bytes; `None` when the bucket has none and only the project's global limit applies,
    /// which the Storage API does not expose). The field is the bucket row's `file_size_limit`
    /// (supabase/storage `src/http/routes/bucket/getBucket.ts`; "Storage File Limits",
    /// <https://supabase.com/docs/guides/storage/uploads/file-limits>).
    pub(crate) async fn bucket_limit(&self) -> Result<Option<Option<u64>>, Error> {
        #[derive(serde::Deserialize)]
        struct BucketInfo {
            #[serde(default)]
            file_size_limit: Option<u64>,
        }

        let url = self.url(&format!("/bucket/{}", self.bucket_path()));
        let res = self
            .retry
            .run("get bucket", || {
                self.send("checking the bucket", self.request(Method::GET, &url))
            })
            .await;
        match res {
            // An unreadable body still means the bucket exists; its limit is then unknown.
            Ok(resp) => Ok(Some(
                resp.json::<BucketInfo>()
                    .await
                    .ok()
                    .and_then(|b| b.file_size_limit)
                    .filter(|&l| l > 0),
            )),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /bucket`: creates the bucket, private. An existing bucket is fine.
    pub(crate) async fn create_bucket(&self) -> Result<(), Error> {
        let url = self.url("/bucket");
        let body = serde_json::json!({
            "id": self.settings.bucket,
            "name": self.settings.bucket,
            "public": false,
        });
        let res = self
            .retry
            .run("create bucket", || {
                self.send(
                    "creating the bucket",
                    self.request(Method::POST, &url).json(&body),
                )
            })
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::Conflict => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `POST /object/{bucket}/{name}` with `x-upsert: true`: one-request upload.
    pub(crate) async fn upload_standard(&self, name: &str, data: Bytes) -> Result<(), Error> {
        let url = self.url(&format!(
            "/object/{}/{}",
            self.bucket_path(),
            url_path(name)
        ));
        self.retry
            .run("standard upload", || {
                let req = self
                    .request(Method::POST, &url)
                    .header("x-upsert", "true")
                    .header(CONTENT_TYPE, OCTET_STREAM)
                    .body(data.clone());
                self.send("uploading", req)
            })
            .await
            .map(|_| ())
    }

    /// `POST /object/list/{bucket}`: one page of the folder `dir` (`""` or ending with `/`).
    pub(crate) async fn list_page(&self, dir: &str, offset: usize) -> Result<Vec<Entry>, Error> {
        let url = self.url(&format!("/object/list/{}", self.bucket_path()));
        let body = serde_json::json!({
            "prefix": dir,
            "limit": self.settings.page_size,
            "offset": offset,
            "sortBy": { "column": "name", "order": "asc" },
        });
        self.retry
            .run("list", || async {
                let resp = self
                    .send("listing", self.request(Method::POST, &url).json(&body))
                    .await?;
                resp.json::<Vec<Entry>>().await.map_err(|e| {
                    Error::new(
                        ErrorKind::Transient,
                        BACKEND,
                        format!("reading a listing page: {e}"),
                    )
                })
            })
            .await
    }

    /// `POST /object/list-v2/{bucket}` without a delimiter: one page of every object whose full
    /// name starts with `prefix`, matched case-sensitively (`name LIKE`). `None` when the server
    /// predates the route (supabase/storage v1.19.0) or has not enabled it for this project.
    pub(crate) async fn list_v2_page(
        &self,
        prefix: &str,
        cursor: Option<&str>,
    ) -> Result<Option<PageV2>, Error> {
        let url = self.url(&format!("/object/list-v2/{}", self.bucket_path()));
        let mut body = serde_json::json!({
            "prefix": prefix,
            "limit": self.settings.page_size.min(1000),
        });
        if let Some(c) = cursor {
            body["cursor"] = c.into();
        }
        self.retry
            .run("list", || async {
                let resp = self.request(Method::POST, &url).json(&body).send().await;
                let resp = resp.map_err(|e| network_error("listing", e))?;
                let status = resp.status();
                if !status.is_success() {
                    let headers = resp.headers().clone();
                    let bytes = resp.bytes().await.unwrap_or_default();
                    let err = parse_error(status, &headers, &bytes);
                    // An older server: its `POST /object/{bucket}/*` upload route takes the
                    // request as an upload into a bucket named `list-v2` (`Bucket not found`),
                    // or a route 404; a hosted project not migrated yet: `FeatureNotEnabled`.
                    if err.kind() == ErrorKind::NotFound
                        || String::from_utf8_lossy(&bytes).contains("FeatureNotEnabled")
                    {
                        return Ok(None);
                    }
                    return Err(err.context("listing"));
                }
                resp.json::<PageV2>().await.map(Some).map_err(|e| {
                    Error::new(
                        ErrorKind::Transient,
                        BACKEND,
                        format!("reading a listing page: {e}"),
                    )
                })
            })
            .await
    }

    /// `DELETE /object/{bucket}` with `{"prefixes": [names]}`: the names it deleted. The server
    /// answers only the rows it deleted (`200 []` when none matched).
    pub(crate) async fn delete(&self, names: &[String]) -> Result<Vec<String>, Error> {
        let url = self.url(&format!("/object/{}", self.bucket_path()));
        let body = serde_json::json!({ "prefixes": names });
        self.retry
            .run("delete", || async {
                let resp = self
                    .send("deleting", self.request(Method::DELETE, &url).json(&body))
                    .await?;
                let rows = resp.json::<Vec<Deleted>>().await.map_err(|e| {
                    Error::new(
                        ErrorKind::Transient,
                        BACKEND,
                        format!("reading the delete answer: {e}"),
                    )
                })?;
                Ok(rows.into_iter().map(|r| r.name).collect())
            })
            .await
    }

    /// `GET /object/info/authenticated/{bucket}/{name}`: whether the object exists under exactly
    /// this name.
    pub(crate) async fn exists(&self, name: &str) -> Result<bool, Error> {
        let url = self.url(&format!(
            "/object/info/authenticated/{}/{}",
            self.bucket_path(),
            url_path(name)
        ));
        let res = self
            .retry
            .run("object info", || {
                self.send("checking the object", self.request(Method::GET, &url))
            })
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `GET /object/authenticated/{bucket}/{name}`: the response whose body is the object.
    pub(crate) async fn download(&self, name: &str) -> Result<Response, Error> {
        let url = self.url(&format!(
            "/object/authenticated/{}/{}",
            self.bucket_path(),
            url_path(name)
        ));
        self.retry
            .run("download", || {
                self.send("downloading", self.request(Method::GET, &url))
            })
            .await
    }

    /// TUS creation: returns the upload URL. `length` is `None` for a deferred length.
    pub(crate) async fn tus_create(
        &self,
        name: &str,
        length: Option<u64>,
    ) -> Result<String, Error> {
        let url = self.url("/upload/resumable");
        let b64 = base64::engine::general_purpose::STANDARD;
        let metadata = format!(
            "bucketName {},objectName {},contentType {}",
            b64.encode(&self.settings.bucket),
            b64.encode(name),
            b64.encode(OCTET_STREAM)
        );
        self.retry
            .run("tus create", || async {
                let mut req = self
                    .tus_request(Method::POST, &url)
                    .header("upload-metadata", &metadata);
                req = match length {
                    Some(l) => req.header("upload-length", l),
                    None => req.header("upload-defer-length", "1"),
                };
                let resp = self.send("creating a resumable upload", req).await?;
                let location = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::Other,
                            BACKEND,
                            "resumable upload created without a Location",
                        )
                    })?;
                Ok(self.upload_url(location))
            })
            .await
    }

    /// A TUS request: `Tus-Resumable` and `x-upsert: true` on every one of them.
    fn tus_request(&self, method: Method, url: &str) -> RequestBuilder {
        self.request(method, url)
            .header("tus-resumable", TUS_VERSION)
            .header("x-upsert", "true")
    }

    /// The URL of a created upload. A `Location` on another origin than `url` (TLS terminated in
    /// front of the server, `NODE_ENV=production` forcing `https`, `STORAGE_PUBLIC_URL`) is
    /// re-based: the upload id (its last segment) under `url`'s storage API, which is where this
    /// store reached the server that created it.
    fn upload_url(&self, location: &str) -> String {
        let Ok(base) = url::Url::parse(&format!("{}/", self.settings.base)) else {
            return location.to_owned();
        };
        let Ok(loc) = base.join(location) else {
            return location.to_owned();
        };
        if loc.origin() == base.origin() {
            return loc.to_string();
        }
        let id = loc
            .path_segments()
            .and_then(|mut s| s.rfind(|p| !p.is_empty()))
            .unwrap_or_default();
        let rebased = format!("{}/upload/resumable/{id}", self.settings.base);
        tracing::info!(
            backend = BACKEND,
            "the server named the upload {location} (another scheme, host or port than `url`); using {rebased}"
        );
        rebased
    }

    /// One TUS `PATCH` (single attempt): returns the server's new offset. A 409 offset mismatch
    /// is reported as transient so the caller resyncs with `HEAD`; the 409 "The resource already
    /// exists" (the upsert check every request runs) is a conflict.
    pub(crate) async fn tus_patch(
        &self,
        upload_url: &str,
        offset: u64,
        data: Bytes,
        declare_length: Option<u64>,
    ) -> Result<u64, Error> {
        let mut req = self
            .tus_request(Method::PATCH, upload_url)
            .header(CONTENT_TYPE, "application/offset+octet-stream")
            .header("upload-offset", offset);
        if let Some(l) = declare_length {
            req = req.header("upload-length", l);
        }
        let resp = match self.send("sending a chunk", req.body(data)).await {
            Err(e)
                if e.kind() == ErrorKind::Conflict && !e.message().contains("already exists") =>
            {
                return Err(Error::new(
                    ErrorKind::Transient,
                    BACKEND,
                    format!("{} (offset mismatch, resyncing)", e.message()),
                ))
            }
            other => other?,
        };
        header_u64(&resp, "upload-offset").ok_or_else(|| {
            Error::new(
                ErrorKind::Transient,
                BACKEND,
                "chunk answer without Upload-Offset",
            )
        })
    }

    /// TUS `HEAD` (single attempt): the server's offset and declared length.
    pub(crate) async fn tus_head(&self, upload_url: &str) -> Result<TusStatus, Error> {
        let req = self.tus_request(Method::HEAD, upload_url);
        let resp = self.send("asking for the upload offset", req).await?;
        let offset = header_u64(&resp, "upload-offset").ok_or_else(|| {
            Error::new(
                ErrorKind::Transient,
                BACKEND,
                "HEAD answer without Upload-Offset",
            )
        })?;
        Ok(TusStatus {
            offset,
            length: header_u64(&resp, "upload-length"),
        })
    }

    /// TUS termination (`DELETE` on the upload URL), best effort with retries.
    pub(crate) async fn tus_terminate(&self, upload_url: &str) -> Result<(), Error> {
        self.retry
            .run("tus terminate", || {
                let req = self.tus_request(Method::DELETE, upload_url);
                self.send("terminating the resumable upload", req)
            })
            .await
            .map(|_| ())
    }
}

fn header_u64(resp: &Response, name: &str) -> Option<u64> {
    resp.headers().get(name)?.to_str().ok()?.trim().parse().ok()
}
