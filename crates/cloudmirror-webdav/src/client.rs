//! One function per WebDAV method, with authentication and error mapping.
//!
//! Paths are relative to the configured folder, `/`-separated and unescaped (`daily/db 1.gz`); each
//! segment is percent-encoded here. Every request but the streamed `PUT` goes through
//! [`RetryPolicy::run`]: a streamed body cannot be sent twice (see `upload.rs`).

use bytes::Bytes;
use cloudmirror_contract::{ByteStream, Error, ErrorKind, RetryPolicy};
use futures::TryStreamExt;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use secrecy::ExposeSecret;

use crate::config::Settings;
use crate::error::{error, network_error, parse_error, BACKEND};
use crate::list::{parse_multistatus, Entry};

/// Characters left as they are in a path segment: RFC 3986 unreserved.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The properties a listing needs (RFC 4918 section 15).
const PROPFIND_BODY: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/><D:getlastmodified/></D:prop></D:propfind>"#;

/// An authenticated HTTP client for one WebDAV folder.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    pub(crate) settings: Settings,
    pub(crate) retry: RetryPolicy,
}

impl Client {
    pub(crate) fn new(settings: Settings) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("cloudmirror-webdav/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(30))
            .read_timeout(std::time::Duration::from_mins(5))
            // A MOVE or PROPFIND must not be turned into a GET by a redirect.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| error(ErrorKind::Other, format!("building the HTTP client: {e}")))?;
        Ok(Self {
            http,
            settings,
            retry: RetryPolicy::default(),
        })
    }

    /// The URL of `path` (a collection when it ends with `/`).
    pub(crate) fn url(&self, path: &str) -> String {
        let mut out = self.settings.base.as_str().to_owned();
        let mut first = true;
        for seg in path.split('/') {
            if !first {
                out.push('/');
            }
            first = false;
            out.extend(utf8_percent_encode(seg, SEGMENT));
        }
        out
    }

    /// The folder's own path on the server, unescaped (to make listed `href`s relative).
    pub(crate) fn base_path(&self) -> String {
        percent_encoding::percent_decode_str(self.settings.base.path())
            .decode_utf8_lossy()
            .into_owned()
    }

    fn request(&self, method: Method, url: &str) -> RequestBuilder {
        // reqwest marks the Authorization header sensitive.
        self.http.request(method, url).basic_auth(
            &self.settings.user,
            Some(self.settings.password.expose_secret()),
        )
    }

    /// Sends once; a status outside `ok` becomes the mapped error.
    async fn send(
        &self,
        what: &str,
        req: RequestBuilder,
        ok: &[StatusCode],
    ) -> Result<Response, Error> {
        tracing::debug!(backend = BACKEND, "{what}");
        let resp = req.send().await.map_err(|e| network_error(what, e))?;
        let status = resp.status();
        if ok.contains(&status) || (ok.is_empty() && status.is_success()) {
            return Ok(resp);
        }
        let headers = resp.headers().clone();
        let body = resp.bytes().await.unwrap_or_default();
        Err(parse_error(status, &headers, &body).context(what))
    }

    /// `PROPFIND` with `Depth: 0` or `1` on `path`; `None` when it does not exist.
    pub(crate) async fn propfind(
        &self,
        path: &str,
        depth: u8,
    ) -> Result<Option<Vec<Entry>>, Error> {
        let url = self.url(path);
        let what = format!("listing /{path}");
        let method =
            Method::from_bytes(b"PROPFIND").map_err(|e| error(ErrorKind::Other, e.to_string()))?;
        let res = self
            .retry
            .run(&what, || async {
                let req = self
                    .request(method.clone(), &url)
                    .header("Depth", depth.to_string())
                    .header(CONTENT_TYPE, "application/xml; charset=utf-8")
                    .body(PROPFIND_BODY);
                let resp = self.send(&what, req, &[StatusCode::MULTI_STATUS]).await?;
                resp.bytes().await.map_err(|e| network_error(&what, e))
            })
            .await;
        match res {
            Ok(body) => parse_multistatus(&body).map(Some).map_err(|e| {
                error(
                    ErrorKind::Other,
                    format!("{what}: unreadable PROPFIND answer: {e}"),
                )
            }),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `MKCOL` on the collection `path` (ending with `/`); an existing one is fine (405, RFC 4918 9.3.1).
    pub(crate) async fn mkcol(&self, path: &str) -> Result<(), Error> {
        let url = self.url(path);
        let what = format!("creating the folder /{path}");
        let method =
            Method::from_bytes(b"MKCOL").map_err(|e| error(ErrorKind::Other, e.to_string()))?;
        self.retry
            .run(&what, || async {
                let req = self.request(method.clone(), &url);
                self.send(
                    &what,
                    req,
                    &[StatusCode::CREATED, StatusCode::METHOD_NOT_ALLOWED],
                )
                .await
                .map(drop)
            })
            .await
    }

    /// `PUT` of an in-memory body, retried.
    pub(crate) async fn put_bytes(&self, path: &str, data: Bytes) -> Result<(), Error> {
        let url = self.url(path);
        let what = format!("uploading /{path}");
        self.retry
            .run(&what, || async {
                let req = self
                    .request(Method::PUT, &url)
                    .header(CONTENT_LENGTH, data.len())
                    .body(data.clone());
                self.send(&what, req, &[]).await.map(drop)
            })
            .await
    }

    /// `PUT` of a streamed body: one attempt (the body cannot be replayed). With `len`, the
    /// request carries `Content-Length`; without, it is sent chunked.
    pub(crate) async fn put_stream(
        &self,
        path: &str,
        body: ByteStream,
        len: Option<u64>,
    ) -> Result<(), Error> {
        let url = self.url(path);
        let what = format!("uploading /{path}");
        let mut req = self
            .request(Method::PUT, &url)
            .body(reqwest::Body::wrap_stream(body.map_err(StreamError)));
        if let Some(len) = len {
            req = req.header(CONTENT_LENGTH, len);
        }
        self.send(&what, req, &[]).await.map(drop)
    }

    /// `MOVE` `from` onto `to` with `Overwrite: T` (RFC 4918 9.9), retried.
    pub(crate) async fn move_to(&self, from: &str, to: &str) -> Result<(), Error> {
        let (src, dst) = (self.url(from), self.url(to));
        let what = format!("moving /{from} to /{to}");
        let method =
            Method::from_bytes(b"MOVE").map_err(|e| error(ErrorKind::Other, e.to_string()))?;
        self.retry
            .run(&what, || async {
                let req = self
                    .request(method.clone(), &src)
                    .header("Destination", dst.as_str())
                    .header("Overwrite", "T");
                self.send(&what, req, &[]).await.map(drop)
            })
            .await
    }

    /// `DELETE`, retried; a missing resource is fine.
    pub(crate) async fn delete(&self, path: &str) -> Result<(), Error> {
        let url = self.url(path);
        let what = format!("deleting /{path}");
        let res = self
            .retry
            .run(&what, || async {
                self.send(&what, self.request(Method::DELETE, &url), &[])
                    .await
                    .map(drop)
            })
            .await;
        match res {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// `GET`, retried until the answer's headers arrive.
    pub(crate) async fn get(&self, path: &str) -> Result<Response, Error> {
        let url = self.url(path);
        let what = format!("downloading /{path}");
        self.retry
            .run(&what, || async {
                self.send(&what, self.request(Method::GET, &url), &[StatusCode::OK])
                    .await
            })
            .await
    }
}

/// A body producer's error, carried through the HTTP client (whose error hides it).
#[derive(Debug)]
pub(crate) struct StreamError(pub(crate) Error);

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for StreamError {}
