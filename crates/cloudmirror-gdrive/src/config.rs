//! Configuration of a Google Drive destination, and its validation.

use std::fmt;
use std::path::PathBuf;

use cloudmirror_contract::{ByteSize, Error, ErrorKind};
use secrecy::SecretString;
use serde::Deserialize;

use crate::BACKEND;

/// Resumable chunks (all but the last) must be multiples of this: 256 KiB.
pub const CHUNK_GRANULARITY: u64 = 256 * 1024;

/// Largest file the Drive API accepts: "Maximum file size: 5120 GB" (the `files.create` upload
/// limit, <https://developers.google.com/workspace/drive/api/reference/rest/v3/files/create> and
/// <https://developers.google.com/workspace/drive/api/guides/manage-uploads>), read as decimal GB.
pub(crate) const MAX_OBJECT_SIZE: u64 = 5_120 * 1_000_000_000;

/// Default chunk size: 8 MiB.
pub const DEFAULT_CHUNK_SIZE: u64 = 8 * 1024 * 1024;

/// Default listing page size (Drive's maximum).
pub const DEFAULT_LIST_PAGE_SIZE: usize = 1000;

/// Default API root; the metadata (`/drive/v3`) and upload (`/upload/drive/v3`) URLs derive from it.
pub const DEFAULT_API_URL: &str = "https://www.googleapis.com";

/// A `type = "gdrive"` destination, as written in the config file (minus `name`, `type`, `prefix`).
///
/// Exactly one of `service_account_key` and `service_account_json` must be set. The token URL
/// comes from the key's `token_uri`.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GdriveConfig {
    /// The id of the Drive folder the backups go to (shared with the service account, or in a
    /// shared drive the service account is a member of).
    #[serde(default)]
    pub folder_id: String,
    /// Path of the service account's JSON key file.
    #[serde(default)]
    pub service_account_key: Option<PathBuf>,
    /// The JSON key file's contents (for containers and CI secrets).
    #[serde(default)]
    pub service_account_json: Option<SecretString>,
    /// The shared drive that holds `folder_id`, if it lives in one.
    #[serde(default)]
    pub shared_drive_id: Option<String>,
    /// A Workspace user to impersonate (domain-wide delegation).
    #[serde(default)]
    pub subject: Option<String>,
    /// Resumable upload chunk size (default 8 MiB, a multiple of 256 KiB); bodies that fit in one
    /// chunk go up in a single multipart request.
    #[serde(default)]
    pub chunk_size: Option<ByteSize>,
    /// API root override (default `https://www.googleapis.com`), for proxies and tests.
    #[serde(default)]
    pub api_url: Option<String>,
    /// Files per `files.list` page (1..=1000, default 1000).
    #[serde(default)]
    pub list_page_size: Option<usize>,
}

impl fmt::Debug for GdriveConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GdriveConfig")
            .field("folder_id", &self.folder_id)
            .field("service_account_key", &self.service_account_key)
            .field(
                "service_account_json",
                &self.service_account_json.as_ref().map(|_| "[REDACTED]"),
            )
            .field("shared_drive_id", &self.shared_drive_id)
            .field("subject", &self.subject)
            .field("chunk_size", &self.chunk_size)
            .field("api_url", &self.api_url)
            .field("list_page_size", &self.list_page_size)
            .finish()
    }
}

/// Where the service-account key comes from.
#[derive(Debug, Clone)]
pub(crate) enum KeySource {
    /// A key file path (`service_account_key`).
    File(PathBuf),
    /// The key's contents (`service_account_json`).
    Inline(SecretString),
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) folder_id: String,
    pub(crate) key: KeySource,
    pub(crate) shared_drive_id: Option<String>,
    pub(crate) subject: Option<String>,
    pub(crate) chunk_size: u64,
    pub(crate) api_url: String,
    pub(crate) list_page_size: usize,
}

impl GdriveConfig {
    /// A config for `folder_id` with a key file; other settings at their defaults.
    pub fn new(folder_id: impl Into<String>, service_account_key: impl Into<PathBuf>) -> Self {
        Self {
            folder_id: folder_id.into(),
            service_account_key: Some(service_account_key.into()),
            ..Self::default()
        }
    }

    /// Checks every setting and reports all problems at once, each naming its field.
    pub fn validate(&self) -> Result<(), Error> {
        self.settings().map(|_| ())
    }

    pub(crate) fn settings(&self) -> Result<Settings, Error> {
        let mut problems = Vec::new();
        let folder_id = self.folder_id.trim().to_owned();
        if folder_id.is_empty() {
            problems.push(
                "folder_id is required (the id of the Drive folder the backups go to)".to_owned(),
            );
        }
        let key = match (&self.service_account_key, &self.service_account_json) {
            (Some(path), None) => Some(KeySource::File(path.clone())),
            (None, Some(json)) => Some(KeySource::Inline(json.clone())),
            (Some(_), Some(_)) => {
                problems.push(
                    "set only one of service_account_key (a key file path) and service_account_json (the key file's contents), not both"
                        .to_owned(),
                );
                None
            }
            (None, None) => {
                problems.push(
                    "one of service_account_key (a key file path) or service_account_json (the key file's contents) is required"
                        .to_owned(),
                );
                None
            }
        };
        let chunk_size = self.chunk_size.map_or(DEFAULT_CHUNK_SIZE, ByteSize::bytes);
        if chunk_size == 0 || !chunk_size.is_multiple_of(CHUNK_GRANULARITY) {
            problems.push(format!(
                "chunk_size must be a non-zero multiple of 256 KiB (got {})",
                ByteSize(chunk_size)
            ));
        }
        let list_page_size = self.list_page_size.unwrap_or(DEFAULT_LIST_PAGE_SIZE);
        if !(1..=1000).contains(&list_page_size) {
            problems.push(format!(
                "list_page_size must be between 1 and 1000 (got {list_page_size})"
            ));
        }
        let api_url = self
            .api_url
            .as_deref()
            .unwrap_or(DEFAULT_API_URL)
            .trim_end_matches('/')
            .to_owned();
        match url::Url::parse(&api_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.query().is_none() => {}
            _ => problems.push(format!(
                "api_url must be an http(s) URL without a query (got {api_url:?})"
            )),
        }
        let non_empty = |v: &Option<String>, field: &str, problems: &mut Vec<String>| {
            v.as_ref().and_then(|s| {
                let s = s.trim();
                if s.is_empty() {
                    problems.push(format!("{field} must not be empty when set"));
                    None
                } else {
                    Some(s.to_owned())
                }
            })
        };
        let shared_drive_id = non_empty(&self.shared_drive_id, "shared_drive_id", &mut problems);
        let subject = non_empty(&self.subject, "subject", &mut problems);
        match key {
            Some(key) if problems.is_empty() => Ok(Settings {
                folder_id,
                key,
                shared_drive_id,
                subject,
                chunk_size,
                api_url,
                list_page_size,
            }),
            _ => Err(Error::new(
                ErrorKind::InvalidInput,
                BACKEND,
                format!("invalid gdrive settings: {}", problems.join("; ")),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> GdriveConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn reports_every_problem_with_its_field() {
        let c = parse("chunk_size = \"300KiB\"\nlist_page_size = 0\napi_url = \"ftp://x\"\n");
        let err = c.validate().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let m = err.to_string();
        for needle in [
            "folder_id",
            "service_account_key",
            "service_account_json",
            "chunk_size must be a non-zero multiple of 256 KiB (got 300KiB)",
            "list_page_size",
            "api_url",
        ] {
            assert!(m.contains(needle), "{needle} missing from {m}");
        }
    }

    #[test]
    fn both_key_settings_are_rejected_and_the_secret_is_not_shown() {
        let c = parse(
            "folder_id = \"f\"\nservice_account_key = \"/k.json\"\nservice_account_json = \"SECRET-CONTENT\"\n",
        );
        let err = c.validate().unwrap_err();
        assert!(err.to_string().contains("not both"), "{err}");
        assert!(!format!("{c:?}").contains("SECRET-CONTENT"));
        assert!(!err.to_string().contains("SECRET-CONTENT"));
    }

    #[test]
    fn defaults_and_unknown_keys() {
        let s = GdriveConfig::new("f", "/k.json").settings().unwrap();
        assert_eq!(s.chunk_size, DEFAULT_CHUNK_SIZE);
        assert_eq!(s.api_url, DEFAULT_API_URL);
        assert_eq!(s.list_page_size, 1000);
        let ok =
            parse("folder_id = \"f\"\nservice_account_key = \"/k\"\nchunk_size = \"512KiB\"\n");
        assert_eq!(ok.settings().unwrap().chunk_size, 512 * 1024);
        assert!(toml::from_str::<GdriveConfig>("folder_id = \"f\"\nbucket = \"x\"\n").is_err());
    }
}
