//! One function per Dropbox endpoint, with auth (token refresh on 401), team headers and retries.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use cloudmirror_contract::cause::endpoint_of;
use cloudmirror_contract::{dropbox_content_hash, Error, ErrorKind, Result, RetryPolicy};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Auth;
use crate::config::{PathRoot, Settings};
use crate::error::{parse_error, ApiError};
use crate::BACKEND;

/// The route that commits an upload session.
pub(crate) const FINISH: &str = "files/upload_session/finish";

/// A 409 route error the caller may want to inspect (`not_found`, `incorrect_offset`...).
pub(crate) type Routed<T> = std::result::Result<T, ApiError>;

/// Which host a route lives on and how it takes its argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// JSON body on the API host.
    Rpc,
    /// Argument in `Dropbox-API-Arg`, bytes in the body, on the content host.
    Upload,
    /// Argument in `Dropbox-API-Arg`, bytes in the response, on the content host.
    Download,
}

/// Dropbox metadata as `list_folder`, `get_metadata` and uploads return it.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub(crate) enum Metadata {
    /// A file.
    File(FileMetadata),
    /// A folder (never returned to callers of the store).
    Folder {},
    /// A deleted entry or anything newer than this code.
    #[serde(other)]
    Other,
}

/// The fields of a file's metadata the adapter uses.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct FileMetadata {
    #[serde(default)]
    pub(crate) path_display: Option<String>,
    #[serde(default)]
    pub(crate) path_lower: Option<String>,
    pub(crate) size: u64,
    #[serde(default)]
    pub(crate) rev: Option<String>,
    #[serde(default)]
    pub(crate) server_modified: Option<String>,
    #[serde(default)]
    pub(crate) content_hash: Option<String>,
}

/// One `list_folder` page.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ListPage {
    pub(crate) entries: Vec<Metadata>,
    pub(crate) cursor: String,
    pub(crate) has_more: bool,
}

#[derive(Debug, Deserialize)]
struct Account {
    root_info: RootInfo,
}

#[derive(Debug, Deserialize)]
struct RootInfo {
    root_namespace_id: String,
    home_namespace_id: String,
}

#[derive(Debug, Deserialize)]
struct SessionStart {
    session_id: String,
}

/// The HTTP side of the adapter: settings, one reqwest client, the token cache and retries.
#[derive(Debug)]
pub(crate) struct Client {
    http: reqwest::Client,
    pub(crate) settings: Settings,
    pub(crate) retry: RetryPolicy,
    auth: Auth,
    /// `Dropbox-API-Path-Root` value once known (`root_namespace_id = "auto"` looks it up once).
    path_root: tokio::sync::OnceCell<Option<HeaderValue>>,
}

impl Client {
    pub(crate) fn new(settings: Settings) -> Result<Self> {
        let http = reqwest::Client::builder()
            // oauth2 requires no redirects; Dropbox never redirects API calls either.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_mins(5))
            .user_agent(concat!("cloudmirror/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                Error::new(ErrorKind::Other, BACKEND, "could not build the HTTP client")
                    .with_source(e)
            })?;
        let auth = Auth::new(
            settings.app_key.clone(),
            settings.app_secret.clone(),
            settings.refresh_token.clone(),
            settings.token_url.clone(),
        );
        Ok(Self {
            http,
            settings,
            retry: RetryPolicy::default(),
            auth,
            path_root: tokio::sync::OnceCell::new(),
        })
    }

    /// `files/list_folder` (recursive or not) on `path` (`""` = the namespace root).
    pub(crate) async fn list_folder(
        &self,
        path: &str,
        recursive: bool,
    ) -> Result<Routed<ListPage>> {
        let arg = json!({"path": path, "recursive": recursive, "include_deleted": false,
            "limit": self.settings.list_page_size});
        self.json(Style::Rpc, "files/list_folder", &arg, None).await
    }

    /// `files/list_folder/continue`.
    pub(crate) async fn list_folder_continue(&self, cursor: &str) -> Result<Routed<ListPage>> {
        let arg = json!({"cursor": cursor});
        self.json(Style::Rpc, "files/list_folder/continue", &arg, None)
            .await
    }

    /// `files/get_metadata`.
    pub(crate) async fn get_metadata(&self, path: &str) -> Result<Routed<Metadata>> {
        let arg = json!({"path": path, "include_deleted": false});
        self.json(Style::Rpc, "files/get_metadata", &arg, None)
            .await
    }

    /// `files/delete_v2`; with `parent_rev` only that revision of a file is deleted.
    pub(crate) async fn delete(&self, path: &str, parent_rev: Option<&str>) -> Result<Routed<()>> {
        let mut arg = json!({"path": path});
        if let Some(rev) = parent_rev {
            arg["parent_rev"] = json!(rev);
        }
        let done: Routed<Value> = self.json(Style::Rpc, "files/delete_v2", &arg, None).await?;
        Ok(done.map(|_| ()))
    }

    /// `files/upload` (one request, mode overwrite). Like every upload call, it carries the
    /// content hash of its own body (here the whole file), which Dropbox checks on arrival.
    pub(crate) async fn upload(&self, path: &str, data: Bytes) -> Result<Routed<FileMetadata>> {
        let mut arg = commit_info(path);
        arg["content_hash"] = json!(dropbox_content_hash(&data));
        self.json(Style::Upload, "files/upload", &arg, Some(data))
            .await
    }

    /// `files/upload_session/start` with the first chunk and that chunk's content hash.
    pub(crate) async fn session_start(&self, data: Bytes) -> Result<Routed<String>> {
        let arg = json!({"close": false, "content_hash": dropbox_content_hash(&data)});
        let started: Routed<SessionStart> = self
            .json(
                Style::Upload,
                "files/upload_session/start",
                &arg,
                Some(data),
            )
            .await?;
        Ok(started.map(|s| s.session_id))
    }

    /// `files/upload_session/append_v2` of `data` at `offset`, with the content hash of `data`.
    pub(crate) async fn session_append(
        &self,
        session_id: &str,
        offset: u64,
        data: Bytes,
    ) -> Result<Routed<()>> {
        let arg = json!({"cursor": {"session_id": session_id, "offset": offset}, "close": false,
            "content_hash": dropbox_content_hash(&data)});
        let done: Routed<Value> = self
            .json(
                Style::Upload,
                "files/upload_session/append_v2",
                &arg,
                Some(data),
            )
            .await?;
        Ok(done.map(|_| ()))
    }

    /// `files/upload_session/finish`: the last `data` at `offset` (with the content hash of
    /// `data` only: `UploadSessionFinishArg.content_hash` covers "the file content uploaded in
    /// this call"), committed to `path`.
    pub(crate) async fn session_finish(
        &self,
        session_id: &str,
        offset: u64,
        path: &str,
        data: Bytes,
    ) -> Result<Routed<FileMetadata>> {
        let arg = json!({"cursor": {"session_id": session_id, "offset": offset},
            "commit": commit_info(path), "content_hash": dropbox_content_hash(&data)});
        self.json(Style::Upload, FINISH, &arg, Some(data)).await
    }

    /// `files/download`: the response whose body is the file.
    pub(crate) async fn download(&self, path: &str) -> Result<Routed<reqwest::Response>> {
        let arg = json!({"path": path});
        let root = self.path_root().await?;
        self.retry
            .run("files/download", || {
                self.send(Style::Download, "files/download", &arg, None, root.as_ref())
            })
            .await
    }

    /// The `Dropbox-API-Path-Root` header, looked up once for `root_namespace_id = "auto"`.
    async fn path_root(&self) -> Result<Option<HeaderValue>> {
        let value = self
            .path_root
            .get_or_try_init(|| async {
                let id = match &self.settings.path_root {
                    PathRoot::Home => return Ok(None),
                    PathRoot::Root(id) => id.clone(),
                    PathRoot::Auto => {
                        let info = self.current_root_info().await?;
                        tracing::debug!(
                            root = %info.root_namespace_id,
                            home = %info.home_namespace_id,
                            "looked up the root namespace"
                        );
                        info.root_namespace_id
                    }
                };
                let value = header_json(&json!({".tag": "root", "root": id}));
                HeaderValue::from_str(&value).map(Some).map_err(|_| {
                    Error::new(
                        ErrorKind::InvalidInput,
                        BACKEND,
                        "root_namespace_id is not header-safe",
                    )
                })
            })
            .await?;
        Ok(value.clone())
    }

    async fn current_root_info(&self) -> Result<RootInfo> {
        let route = "users/get_current_account";
        let account: Routed<Account> = self
            .retry
            .run(route, || async {
                match self
                    .send(Style::Rpc, route, &Value::Null, None, None)
                    .await?
                {
                    Ok(resp) => read_json(resp, route).await.map(Ok),
                    Err(api) => Ok(Err(api)),
                }
            })
            .await?;
        account
            .map(|a| a.root_info)
            .map_err(|api| api.into_error(None).context(route))
    }

    /// Sends a JSON-answering route with retries; 409s come back as `Ok(Err(..))`.
    async fn json<T: DeserializeOwned>(
        &self,
        style: Style,
        route: &str,
        arg: &Value,
        data: Option<Bytes>,
    ) -> Result<Routed<T>> {
        let root = self.path_root().await?;
        self.retry
            .run(route, || async {
                match self
                    .send(style, route, arg, data.clone(), root.as_ref())
                    .await?
                {
                    Ok(resp) => read_json(resp, route).await.map(Ok),
                    Err(api) => Ok(Err(api)),
                }
            })
            .await
    }

    /// One attempt: sends the request, refreshing the token once on an expired or invalid one.
    async fn send(
        &self,
        style: Style,
        route: &str,
        arg: &Value,
        data: Option<Bytes>,
        root: Option<&HeaderValue>,
    ) -> Result<Routed<reqwest::Response>> {
        let mut refreshed = false;
        loop {
            let token = self.auth.token(&self.http, &self.retry).await?;
            let base = match style {
                Style::Rpc => &self.settings.api_url,
                Style::Upload | Style::Download => &self.settings.content_url,
            };
            let mut req = self
                .http
                .post(format!("{base}/2/{route}"))
                .header(AUTHORIZATION, bearer(token.expose_secret())?);
            if let Some(member) = &self.settings.select_user {
                req = req.header("Dropbox-API-Select-User", member.as_str());
            }
            if let Some(root) = root {
                req = req.header("Dropbox-API-Path-Root", root.clone());
            }
            req = match style {
                Style::Rpc => req
                    .header(CONTENT_TYPE, "application/json")
                    .body(serde_json::to_vec(arg).unwrap_or_default()),
                Style::Upload => req
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header("Dropbox-API-Arg", header_json(arg))
                    .body(data.clone().unwrap_or_default()),
                Style::Download => req.header("Dropbox-API-Arg", header_json(arg)),
            };
            tracing::debug!(
                route,
                bytes = data.as_ref().map_or(0, Bytes::len),
                "dropbox request"
            );
            let resp = req.send().await.map_err(|e| transport(route, e))?;
            let status = resp.status();
            if let Some(id) = resp
                .headers()
                .get("x-dropbox-request-id")
                .and_then(|v| v.to_str().ok())
            {
                tracing::debug!(
                    route,
                    status = status.as_u16(),
                    request_id = id,
                    "dropbox response"
                );
            }
            if status.is_success() {
                return Ok(Ok(resp));
            }
            let headers = resp.headers().clone();
            let body = resp.bytes().await.map_err(|e| transport(route, e))?;
            let api = ApiError::parse(status, &body);
            if status.as_u16() == 401
                && !refreshed
                && (api.has("expired_access_token") || api.has("invalid_access_token"))
            {
                tracing::debug!(route, "access token rejected, refreshing it once");
                self.auth.invalidate(&token).await;
                refreshed = true;
                continue;
            }
            // A 409 is the caller's to handle, except `too_many_write_operations`, retried here.
            // A finish's `path` error is always the caller's: its bytes are already appended
            // (`UploadSessionFinishError.path`), so the retry needs the updated offset.
            if status.as_u16() == 409
                && (!api.has("too_many_write_operations")
                    || (route == FINISH && api.tag() == Some("path")))
            {
                return Ok(Err(api));
            }
            return Err(parse_error(status, &headers, &body).context(route));
        }
    }
}

/// `CommitInfo` for every write: overwrite, never rename, no notifications.
fn commit_info(path: &str) -> Value {
    json!({"path": path, "mode": "overwrite", "autorename": false, "mute": true,
        "strict_conflict": false})
}

fn bearer(token: &str) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        Error::new(
            ErrorKind::Unauthorized,
            BACKEND,
            "the access token is not header-safe",
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

async fn read_json<T: DeserializeOwned>(resp: reqwest::Response, route: &str) -> Result<T> {
    let body = resp.bytes().await.map_err(|e| transport(route, e))?;
    serde_json::from_slice(&body).map_err(|e| {
        Error::new(
            ErrorKind::Other,
            BACKEND,
            format!("{route}: unexpected response: {e}"),
        )
        .with_source(e)
    })
}

fn transport(route: &str, e: reqwest::Error) -> Error {
    let endpoint = e
        .url()
        .map_or_else(|| "the server".to_owned(), |u| endpoint_of(u.as_str()));
    Error::transport(BACKEND, &endpoint, route, e.without_url())
}

/// JSON for a header (`Dropbox-API-Arg`, `Dropbox-API-Path-Root`): every character outside
/// printable ASCII, DEL included, is escaped as `\uXXXX` (UTF-16 units, so surrogate pairs).
pub(crate) fn header_json(value: &Value) -> String {
    let raw = value.to_string();
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if (c as u32) < 0x7F {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_json_escapes_non_ascii_surrogates_and_del() {
        let v = json!({"path": "/Résumé ü.txt"});
        assert_eq!(
            header_json(&v),
            r#"{"path":"/R\u00e9sum\u00e9 \u00fc.txt"}"#
        );
        let emoji = header_json(&json!("😀\u{7f}"));
        assert_eq!(emoji, r#""\ud83d\ude00\u007f""#);
        assert!(header_json(&json!({"p": "日本語/データ \"q\""})).is_ascii());
        let back: Value = serde_json::from_str(&header_json(&json!({"p": "😀 ü"}))).unwrap();
        assert_eq!(back, json!({"p": "😀 ü"}));
    }
}
