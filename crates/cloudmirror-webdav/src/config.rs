//! Configuration of a WebDAV destination, and its validation.

use std::fmt;

use cloudmirror_contract::{ByteSize, Error, ErrorKind};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::error::BACKEND;

/// Default size up to which a body is sent as one replayable (retried) `PUT`.
const DEFAULT_CHUNK_SIZE: ByteSize = ByteSize::mib(8);
/// Smallest and largest `chunk_size` (one chunk is held in memory).
const MIN_CHUNK_SIZE: u64 = 64 * 1024;
const MAX_CHUNK_SIZE: u64 = 1024 * 1024 * 1024;

/// A `type = "webdav"` destination: one folder (collection) on a WebDAV server.
///
/// `name`, `type` and `prefix` are handled by the orchestrator and are not part of this struct.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebdavConfig {
    /// The folder's URL, e.g. `https://cloud.example.com/remote.php/dav/files/alice/backups/`
    /// (Nextcloud) or `https://u12345.your-storagebox.de/backups/` (Hetzner). It must exist.
    pub url: String,
    /// The user name (HTTP Basic authentication).
    pub user: String,
    /// The password or app password: keep it out of config files (`${WEBDAV_PASSWORD}`).
    pub password: SecretString,
    /// Bodies of at most this size are sent as one `PUT` that is retried on transient failures;
    /// larger ones stream in one `PUT` (default 8 MiB, 64 KiB to 1 GiB; one chunk is held in memory).
    #[serde(default)]
    pub chunk_size: Option<ByteSize>,
}

impl fmt::Debug for WebdavConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebdavConfig")
            .field("url", &self.url)
            .field("user", &self.user)
            .field("password", &"[redacted]")
            .field("chunk_size", &self.chunk_size)
            .finish()
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The folder URL, ending with `/`.
    pub(crate) base: url::Url,
    pub(crate) user: String,
    pub(crate) password: SecretString,
    pub(crate) chunk_size: usize,
}

impl WebdavConfig {
    /// A configuration with the required keys and every optional one at its default.
    pub fn new(url: impl Into<String>, user: impl Into<String>, password: SecretString) -> Self {
        Self {
            url: url.into(),
            user: user.into(),
            password,
            chunk_size: None,
        }
    }

    /// Checks every setting and reports all problems at once, each naming its key.
    pub fn validate(&self) -> Result<(), Error> {
        self.settings().map(|_| ())
    }

    pub(crate) fn settings(&self) -> Result<Settings, Error> {
        let mut problems = Vec::new();
        let base = match check_url(&self.url) {
            Ok(u) => Some(u),
            Err(p) => {
                problems.push(p);
                None
            }
        };
        if self.user.trim().is_empty() || self.user.contains(':') {
            problems.push("user must be the WebDAV user name (not empty, without ':')".to_owned());
        }
        let password = self.password.expose_secret();
        if password.is_empty() {
            problems.push("password is empty (set it, e.g. \"${WEBDAV_PASSWORD}\")".to_owned());
        } else if password.chars().any(char::is_control) {
            problems.push(
                "password contains control characters (check for a stray newline)".to_owned(),
            );
        }
        let chunk = self.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE);
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk.bytes()) {
            problems.push(format!(
                "chunk_size must be between 64KiB and 1024MiB (got {chunk})"
            ));
        }
        match base {
            Some(base) if problems.is_empty() => Ok(Settings {
                base,
                user: self.user.clone(),
                password: self.password.clone(),
                chunk_size: chunk.bytes() as usize,
            }),
            _ => Err(Error::new(
                ErrorKind::InvalidInput,
                BACKEND,
                format!("invalid settings: {}", problems.join("; ")),
            )),
        }
    }
}

/// The folder URL, normalised to end with `/`.
fn check_url(raw: &str) -> Result<url::Url, String> {
    let example = "https://host/path/to/folder/";
    let mut url = url::Url::parse(raw.trim()).map_err(|e| {
        format!("url must be the folder's URL ({example}); {raw:?} is not a URL: {e}")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "url must start with https:// ({example}), got {raw:?}"
        ));
    }
    if url.host_str().is_none() {
        return Err(format!("url has no host ({example}), got {raw:?}"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "url must not carry a query or fragment ({example})"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("url must not carry credentials: use `user` and `password`".to_owned());
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> WebdavConfig {
        WebdavConfig::new(url, "alice", SecretString::from("s3cret-pw"))
    }

    #[test]
    fn url_is_normalised_and_every_problem_is_named() {
        let s = config("https://dav.example.com/backups")
            .settings()
            .unwrap();
        assert_eq!(s.base.as_str(), "https://dav.example.com/backups/");
        let mut c = config("ftp://x/");
        c.user = String::new();
        c.password = SecretString::from("");
        c.chunk_size = Some(ByteSize(1024));
        let msg = c.validate().unwrap_err().to_string();
        for field in ["url", "user", "password", "chunk_size"] {
            assert!(msg.contains(field), "{field} missing in {msg}");
        }
        let msg = config("https://bob:pw@x/")
            .validate()
            .unwrap_err()
            .to_string();
        assert!(msg.contains("credentials"), "{msg}");
    }

    #[test]
    fn toml_keys_and_redaction() {
        let c: WebdavConfig =
            toml::from_str("url = \"https://x/dav/\"\nuser = \"alice\"\npassword = \"hunter22\"")
                .unwrap();
        assert!(!format!("{c:?}").contains("hunter22"));
        let err = toml::from_str::<WebdavConfig>(
            "url = \"https://x/\"\nuser = \"a\"\npassword = \"p\"\npasword = \"typo\"",
        )
        .unwrap_err();
        assert!(err.to_string().contains("pasword"), "{err}");
    }
}
