//! Configuration of a Dropbox destination, and its validation.

use std::fmt;

use cloudmirror_contract::{ByteSize, Error, ErrorKind, Result};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

use crate::BACKEND;

/// Largest file an upload session may build: "The maximum size of a file one can upload to an
/// upload session is 350 GB" (`files/upload_session/start`,
/// <https://www.dropbox.com/developers/documentation/http/documentation#files-upload_session-start>),
/// read as decimal GB.
pub(crate) const MAX_OBJECT_SIZE: u64 = 350 * 1_000_000_000;

/// Default chunk size of upload sessions (48 MiB reaches ~90% of the best measured throughput).
pub const DEFAULT_CHUNK_SIZE: ByteSize = ByteSize::mib(48);
/// Largest body Dropbox accepts in one request.
pub(crate) const MAX_REQUEST_BODY: u64 = 150 * 1024 * 1024;
/// Default `list_folder` page size (Dropbox allows 1 to 2000).
pub(crate) const DEFAULT_LIST_PAGE_SIZE: usize = 1000;
/// Dropbox's RPC host.
pub(crate) const DEFAULT_API_URL: &str = "https://api.dropboxapi.com";
/// Dropbox's content (upload/download) host.
pub(crate) const DEFAULT_CONTENT_URL: &str = "https://content.dropboxapi.com";
/// Dropbox's OAuth token route.
pub(crate) const DEFAULT_TOKEN_URL: &str = "https://api.dropboxapi.com/oauth2/token";

/// A `type = "dropbox"` destination, as written in the config file (after `${VAR}` substitution).
///
/// Optional string settings that are empty (`select_user = "${DROPBOX_API_SELECT_USER}"` with the
/// variable set to nothing) count as absent. [`Debug`] never shows the secrets.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropboxConfig {
    /// The folder that is the store's root, e.g. `/DATABASE-BACKUPS` (`""` or `/` for the root of
    /// the account, app folder or team space).
    pub folder: String,
    /// The app key (OAuth client id) from the App Console.
    pub app_key: String,
    /// The app secret (OAuth client secret); leave empty for PKCE apps that have none.
    #[serde(default)]
    pub app_secret: Option<SecretString>,
    /// A long-lived refresh token (from the authorize flow with `token_access_type=offline`).
    pub refresh_token: SecretString,
    /// A team member id (`dbmid:…`), sent as `Dropbox-API-Select-User`; needed with team tokens.
    #[serde(default)]
    pub select_user: Option<String>,
    /// The root namespace id sent as `Dropbox-API-Path-Root` so paths resolve in the team space,
    /// or `"auto"` to look it up once from `users/get_current_account`.
    #[serde(default)]
    pub root_namespace_id: Option<String>,
    /// Upload-session chunk size: at most 150 MiB (default 48 MiB). Bodies that fit in one chunk
    /// go in a single `files/upload` request. Any length is allowed: the adapter opens
    /// *sequential* sessions, and Dropbox requires multiples of 4 MiB (2^22 bytes) only in
    /// *concurrent* ones (dropbox-api-spec `files.stone`, route `upload_session/start` and
    /// `UploadSessionAppendError.concurrent_session_invalid_data_size`).
    #[serde(default, deserialize_with = "empty_size_as_none")]
    pub chunk_size: Option<ByteSize>,
    /// Entries asked for per `list_folder` page (1 to 2000, default 1000).
    #[serde(default)]
    pub list_page_size: Option<usize>,
    /// Base URL of the RPC routes (default `https://api.dropboxapi.com`).
    #[serde(default)]
    pub api_url: Option<String>,
    /// Base URL of the content routes (default `https://content.dropboxapi.com`).
    #[serde(default)]
    pub content_url: Option<String>,
    /// URL of the OAuth token route (default `https://api.dropboxapi.com/oauth2/token`).
    #[serde(default)]
    pub token_url: Option<String>,
}

impl fmt::Debug for DropboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DropboxConfig")
            .field("folder", &self.folder)
            .field("app_key", &self.app_key)
            .field(
                "app_secret",
                &self.app_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("refresh_token", &"[redacted]")
            .field("select_user", &self.select_user)
            .field("root_namespace_id", &self.root_namespace_id)
            .field("chunk_size", &self.chunk_size)
            .field("list_page_size", &self.list_page_size)
            .field("api_url", &self.api_url)
            .field("content_url", &self.content_url)
            .field("token_url", &self.token_url)
            .finish()
    }
}

/// How paths are rooted (`Dropbox-API-Path-Root`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathRoot {
    /// No header: the user's home namespace (or the app folder).
    Home,
    /// `{".tag": "root", "root": id}` with this id.
    Root(String),
    /// Look the root namespace id up once from `users/get_current_account`.
    Auto,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// `""` for the namespace root, else `/a/b` (no trailing `/`).
    pub(crate) folder: String,
    pub(crate) app_key: String,
    pub(crate) app_secret: Option<SecretString>,
    pub(crate) refresh_token: SecretString,
    pub(crate) select_user: Option<String>,
    pub(crate) path_root: PathRoot,
    pub(crate) chunk_size: usize,
    pub(crate) list_page_size: usize,
    pub(crate) api_url: String,
    pub(crate) content_url: String,
    pub(crate) token_url: String,
}

impl DropboxConfig {
    /// A configuration with the required settings and defaults for the rest.
    pub fn new(
        folder: impl Into<String>,
        app_key: impl Into<String>,
        app_secret: impl Into<String>,
        refresh_token: impl Into<String>,
    ) -> Self {
        Self {
            folder: folder.into(),
            app_key: app_key.into(),
            app_secret: Some(SecretString::from(app_secret.into())),
            refresh_token: SecretString::from(refresh_token.into()),
            select_user: None,
            root_namespace_id: None,
            chunk_size: None,
            list_page_size: None,
            api_url: None,
            content_url: None,
            token_url: None,
        }
    }

    /// Checks every setting and reports all problems at once, each naming its field.
    pub fn validate(&self) -> Result<()> {
        self.settings().map(|_| ())
    }

    pub(crate) fn settings(&self) -> Result<Settings> {
        let mut problems = Vec::new();
        let folder = normalize_folder(&self.folder).unwrap_or_else(|why| {
            problems.push(format!("folder {why} (got {:?})", self.folder));
            String::new()
        });
        let app_key = self.app_key.trim().to_owned();
        if app_key.is_empty() {
            problems.push("app_key must not be empty".to_owned());
        }
        let refresh_token = self.refresh_token.expose_secret().trim();
        if refresh_token.is_empty() {
            problems.push("refresh_token must not be empty".to_owned());
        }
        let chunk_size = self.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE);
        if chunk_size.bytes() == 0 {
            problems.push("chunk_size must be more than 0 bytes".to_owned());
        } else if chunk_size.bytes() > MAX_REQUEST_BODY {
            problems.push(format!(
                "chunk_size must be at most 150 MiB, Dropbox's request limit (got {chunk_size})"
            ));
        }
        let list_page_size = self.list_page_size.unwrap_or(DEFAULT_LIST_PAGE_SIZE);
        if !(1..=2000).contains(&list_page_size) {
            problems.push(format!(
                "list_page_size must be between 1 and 2000 (got {list_page_size})"
            ));
        }
        let select_user = non_empty(self.select_user.as_deref());
        if let Some(id) = &select_user {
            if !id.is_ascii() || id.chars().any(char::is_whitespace) {
                problems.push(format!(
                    "select_user must be a team member id such as dbmid:AAH... (got {id:?})"
                ));
            }
        }
        let path_root = match non_empty(self.root_namespace_id.as_deref()) {
            None => PathRoot::Home,
            Some(a) if a.eq_ignore_ascii_case("auto") => PathRoot::Auto,
            Some(id) if id.chars().all(|c| c.is_ascii_digit()) => PathRoot::Root(id),
            Some(id) => {
                problems.push(format!(
                    "root_namespace_id must be a numeric namespace id or \"auto\" (got {id:?})"
                ));
                PathRoot::Home
            }
        };
        let url = |field: &str, value: Option<&str>, default: &str, problems: &mut Vec<String>| {
            let v = non_empty(value).unwrap_or_else(|| default.to_owned());
            match url::Url::parse(&v) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => problems.push(format!("{field} must be an http(s) URL (got {v:?})")),
            }
            v.trim_end_matches('/').to_owned()
        };
        let api_url = url(
            "api_url",
            self.api_url.as_deref(),
            DEFAULT_API_URL,
            &mut problems,
        );
        let content_url = url(
            "content_url",
            self.content_url.as_deref(),
            DEFAULT_CONTENT_URL,
            &mut problems,
        );
        let token_url = url(
            "token_url",
            self.token_url.as_deref(),
            DEFAULT_TOKEN_URL,
            &mut problems,
        );
        if !problems.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                BACKEND,
                format!("invalid configuration: {}", problems.join("; ")),
            ));
        }
        let app_secret = self
            .app_secret
            .as_ref()
            .filter(|s| !s.expose_secret().trim().is_empty())
            .map(|s| SecretString::from(s.expose_secret().trim().to_owned()));
        Ok(Settings {
            folder,
            app_key,
            app_secret,
            refresh_token: SecretString::from(refresh_token.to_owned()),
            select_user,
            path_root,
            chunk_size: chunk_size.bytes() as usize,
            list_page_size,
            api_url,
            content_url,
            token_url,
        })
    }
}

/// `chunk_size = ""` (an empty `${VAR}`) means the default.
fn empty_size_as_none<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<ByteSize>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "a size such as \"48MiB\" or a number of bytes")]
    enum Raw {
        Text(String),
        Size(ByteSize),
    }
    match Option::<Raw>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Raw::Text(s)) if s.trim().is_empty() => Ok(None),
        Some(Raw::Text(s)) => s.parse().map(Some).map_err(serde::de::Error::custom),
        Some(Raw::Size(size)) => Ok(Some(size)),
    }
}

fn non_empty(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// `/A/b/` -> `/A/b`; `""` and `/` -> `""` (the namespace root).
fn normalize_folder(folder: &str) -> std::result::Result<String, &'static str> {
    let f = folder.trim().trim_end_matches('/');
    if f.is_empty() {
        return Ok(String::new());
    }
    if !f.starts_with('/') {
        return Err("must start with '/'");
    }
    for seg in f[1..].split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return Err("must not contain empty, '.' or '..' segments");
        }
        if seg.chars().any(|c| c.is_control() || c == '\\') {
            return Err("must not contain control characters or '\\'");
        }
    }
    Ok(f.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> DropboxConfig {
        DropboxConfig::new("/DATABASE-BACKUPS", "key", "secret", "refresh")
    }

    #[test]
    fn defaults_and_normalisation() {
        let s = base().settings().unwrap();
        assert_eq!(s.folder, "/DATABASE-BACKUPS");
        assert_eq!(s.chunk_size, 48 * 1024 * 1024);
        assert_eq!(s.path_root, PathRoot::Home);
        assert_eq!(s.api_url, DEFAULT_API_URL);
        let mut c = base();
        c.folder = "/a/b/".into();
        c.root_namespace_id = Some("auto".into());
        c.select_user = Some(String::new());
        c.api_url = Some("http://127.0.0.1:9/".into());
        let s = c.settings().unwrap();
        assert_eq!(s.folder, "/a/b");
        assert_eq!(s.path_root, PathRoot::Auto);
        assert_eq!(s.select_user, None);
        assert_eq!(s.api_url, "http://127.0.0.1:9");
        c.folder = "/".into();
        c.root_namespace_id = Some("  ".into());
        let s = c.settings().unwrap();
        assert_eq!(s.folder, "");
        assert_eq!(s.path_root, PathRoot::Home);
    }

    #[test]
    fn chunk_size_rules_name_the_field() {
        for (size, want) in [
            (ByteSize(0), "chunk_size must be more than 0 bytes"),
            (ByteSize::mib(152), "chunk_size must be at most 150 MiB"),
        ] {
            let mut c = base();
            c.chunk_size = Some(size);
            let err = c.validate().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(err.to_string().contains(want), "{err}");
        }
        let mut c = base();
        c.chunk_size = Some(ByteSize::mib(148));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn reports_every_problem_at_once() {
        let toml_err = |s: &str| serde_json::from_str::<DropboxConfig>(s).err();
        assert!(
            toml_err(r#"{"folder":"/a","app_key":"k","refresh_token":"r","bogus":1}"#).is_some()
        );
        let c: DropboxConfig = serde_json::from_str(
            r#"{"folder":"no-slash","app_key":" ","refresh_token":"","chunk_size":"200MiB",
                "root_namespace_id":"team","token_url":"ftp://x"}"#,
        )
        .unwrap();
        let msg = c.validate().unwrap_err().to_string();
        for field in [
            "folder",
            "app_key",
            "refresh_token",
            "chunk_size",
            "root_namespace_id",
            "token_url",
        ] {
            assert!(msg.contains(field), "{field} missing from: {msg}");
        }
    }

    #[test]
    fn empty_optional_settings_are_absent() {
        let c: DropboxConfig = serde_json::from_str(
            r#"{"folder":"/a","app_key":"k","app_secret":"","refresh_token":"r","chunk_size":"",
                "select_user":"","root_namespace_id":"","api_url":""}"#,
        )
        .unwrap();
        let s = c.settings().unwrap();
        assert_eq!(s.chunk_size, 48 * 1024 * 1024);
        assert!(s.app_secret.is_none() && s.select_user.is_none());
        assert_eq!(s.path_root, PathRoot::Home);
        let c: DropboxConfig = serde_json::from_str(
            r#"{"folder":"/a","app_key":"k","refresh_token":"r","chunk_size":8388608}"#,
        )
        .unwrap();
        assert_eq!(c.settings().unwrap().chunk_size, 8 * 1024 * 1024);
        let bad = serde_json::from_str::<DropboxConfig>(
            r#"{"folder":"/a","app_key":"k","refresh_token":"r","chunk_size":"4 parsecs"}"#,
        );
        assert!(bad.is_err());
    }

    #[test]
    fn debug_hides_secrets() {
        let c = DropboxConfig::new("/f", "key", "very-secret", "refresh-secret");
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("very-secret") && !shown.contains("refresh-secret"),
            "{shown}"
        );
        assert!(shown.contains("key"));
    }
}
