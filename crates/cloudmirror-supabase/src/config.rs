//! Configuration of a Supabase Storage destination, and its validation.

use std::fmt;

use base64::Engine as _;
use cloudmirror_contract::{ByteSize, Error, ErrorKind};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::error::BACKEND;

/// The TUS chunk size the hosted platform requires ("must be set to 6MB (for now)").
pub const PLATFORM_CHUNK_SIZE: ByteSize = ByteSize::mib(6);
/// Smallest chunk size accepted for self-hosted servers (tests use small chunks).
const MIN_CHUNK_SIZE: u64 = 64 * 1024;
/// Largest chunk size accepted (one chunk is held in memory).
const MAX_CHUNK_SIZE: u64 = 1024 * 1024 * 1024;
/// Default and largest listing page (the server caps `limit` at 1500).
const DEFAULT_PAGE_SIZE: usize = 1000;
const MAX_PAGE_SIZE: usize = 1500;

/// A `type = "supabase"` destination: one bucket of a Supabase project (hosted or self-hosted).
///
/// `name`, `type` and `prefix` are handled by the orchestrator and are not part of this struct.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupabaseConfig {
    /// The project URL: `https://<project-ref>.supabase.co` (or the direct storage host
    /// `https://<project-ref>.storage.supabase.co`), or a self-hosted URL such as
    /// `http://localhost:8000`.
    pub url: String,
    /// The project's `service_role` key (legacy JWT) or a secret key (`sb_secret_…`). It bypasses
    /// row-level security: keep it out of config files (`${SUPABASE_SERVICE_ROLE_KEY}`).
    pub service_role_key: SecretString,
    /// The bucket that holds the backups.
    pub bucket: String,
    /// Create the bucket (private) when it does not exist. Default `false`: a missing bucket is
    /// an error naming `bucket`.
    #[serde(default)]
    pub create_bucket: bool,
    /// Path of the storage API under `url` (default `/storage/v1`, what the hosted gateway and the
    /// self-hosted Kong use; `""` for a storage server reached without the gateway). Ignored when
    /// `url` already ends with `/storage/v1`.
    #[serde(default)]
    pub storage_path: Option<String>,
    /// Bodies of at most this size go through one standard upload; larger ones through TUS.
    /// Default and maximum: `chunk_size`.
    #[serde(default)]
    pub standard_upload_limit: Option<ByteSize>,
    /// TUS chunk size. Default 6 MiB, which the hosted platform requires exactly; self-hosted
    /// servers accept 64 KiB to 1 GiB.
    #[serde(default)]
    pub chunk_size: Option<ByteSize>,
    /// Entries per listing request (default 1000, at most 1500).
    #[serde(default)]
    pub list_page_size: Option<usize>,
}

impl fmt::Debug for SupabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupabaseConfig")
            .field("url", &self.url)
            .field("service_role_key", &"[redacted]")
            .field("bucket", &self.bucket)
            .field("create_bucket", &self.create_bucket)
            .field("storage_path", &self.storage_path)
            .field("standard_upload_limit", &self.standard_upload_limit)
            .field("chunk_size", &self.chunk_size)
            .field("list_page_size", &self.list_page_size)
            .finish()
    }
}

/// How the key is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyStyle {
    /// A legacy JWT: `apikey` and `Authorization: Bearer`.
    Jwt,
    /// A new `sb_secret_…` key: `apikey` only (it is not a JWT).
    Secret,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The storage API base, without a trailing `/` (e.g. `https://x.supabase.co/storage/v1`).
    pub(crate) base: String,
    pub(crate) key: SecretString,
    pub(crate) key_style: KeyStyle,
    pub(crate) bucket: String,
    pub(crate) create_bucket: bool,
    pub(crate) chunk_size: usize,
    pub(crate) standard_limit: u64,
    pub(crate) page_size: usize,
}

impl SupabaseConfig {
    /// A configuration with the required keys and every optional one at its default.
    pub fn new(
        url: impl Into<String>,
        service_role_key: SecretString,
        bucket: impl Into<String>,
    ) -> Self {
        Self {
            url: url.into(),
            service_role_key,
            bucket: bucket.into(),
            create_bucket: false,
            storage_path: None,
            standard_upload_limit: None,
            chunk_size: None,
            list_page_size: None,
        }
    }

    /// Checks every setting and reports all problems at once, each naming its key.
    pub fn validate(&self) -> Result<(), Error> {
        self.settings().map(|_| ())
    }

    pub(crate) fn settings(&self) -> Result<Settings, Error> {
        let mut problems = Vec::new();
        let (base, hosted) = match check_url(&self.url, self.storage_path.as_deref()) {
            Ok(v) => v,
            Err(p) => {
                problems.push(p);
                (String::new(), false)
            }
        };
        let key_style = match check_key(self.service_role_key.expose_secret()) {
            Ok(s) => s,
            Err(p) => {
                problems.push(p);
                KeyStyle::Jwt
            }
        };
        let bucket = self.bucket.trim();
        if bucket.is_empty() || bucket.contains('/') || bucket != self.bucket {
            problems.push(format!(
                "bucket must be a bucket name without '/' or surrounding spaces (got {:?})",
                self.bucket
            ));
        }
        let chunk = self.chunk_size.unwrap_or(PLATFORM_CHUNK_SIZE);
        if hosted && chunk != PLATFORM_CHUNK_SIZE {
            problems.push(format!(
                "chunk_size must be exactly 6MiB for hosted Supabase projects (got {chunk})"
            ));
        } else if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk.bytes()) {
            problems.push(format!(
                "chunk_size must be between 64KiB and 1024MiB (got {chunk})"
            ));
        }
        let standard = self.standard_upload_limit.unwrap_or(chunk);
        if standard > chunk {
            problems.push(format!(
                "standard_upload_limit must not exceed chunk_size ({chunk}); larger bodies go through TUS (got {standard})"
            ));
        }
        let page_size = self.list_page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
            problems.push(format!(
                "list_page_size must be between 1 and {MAX_PAGE_SIZE} (got {page_size})"
            ));
        }
        if !problems.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                BACKEND,
                format!("invalid settings: {}", problems.join("; ")),
            ));
        }
        Ok(Settings {
            base,
            key: self.service_role_key.clone(),
            key_style,
            bucket: self.bucket.clone(),
            create_bucket: self.create_bucket,
            chunk_size: chunk.bytes() as usize,
            standard_limit: standard.bytes(),
            page_size,
        })
    }
}

/// Returns the storage base URL and whether the project is hosted on supabase.co.
fn check_url(raw: &str, storage_path: Option<&str>) -> Result<(String, bool), String> {
    let example = "https://<project-ref>.supabase.co or a self-hosted URL";
    let url = url::Url::parse(raw.trim()).map_err(|e| {
        format!("url must be the project URL ({example}); {raw:?} is not a URL: {e}")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "url must start with https:// ({example}), got {raw:?}"
        ));
    }
    let Some(host) = url.host_str() else {
        return Err(format!("url has no host ({example}), got {raw:?}"));
    };
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!(
            "url must not carry a query, fragment or credentials ({example})"
        ));
    }
    let host = host.to_ascii_lowercase();
    if host == "supabase.com" || host.ends_with(".supabase.com") {
        return Err(format!(
            "url points to the Supabase dashboard ({raw:?}); use the project URL {example} (Project Settings > API)"
        ));
    }
    let hosted = host == "supabase.co" || host.ends_with(".supabase.co");
    if hosted {
        let sub = host.strip_suffix("supabase.co").unwrap_or_default();
        let sub = sub.strip_suffix('.').unwrap_or(sub);
        let project_ref = sub.strip_suffix(".storage").unwrap_or(sub);
        if project_ref.is_empty()
            || project_ref.contains('.')
            || !project_ref.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(format!(
                "url has no project ref: expected https://<project-ref>.supabase.co, got {raw:?}"
            ));
        }
        if url.scheme() != "https" {
            return Err(format!(
                "url must use https:// for hosted projects, got {raw:?}"
            ));
        }
    }
    let path = url.path().trim_end_matches('/');
    let origin = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    let origin = match url.port() {
        Some(p) => format!("{origin}:{p}"),
        None => origin,
    };
    let base = if path.ends_with("/storage/v1") {
        format!("{origin}{path}")
    } else {
        let sp = storage_path.unwrap_or("/storage/v1").trim_end_matches('/');
        let sp = if sp.is_empty() || sp.starts_with('/') {
            sp.to_owned()
        } else {
            format!("/{sp}")
        };
        format!("{origin}{path}{sp}")
    };
    Ok((base, hosted))
}

/// Checks the key's shape (never printing it) and picks how it is sent.
fn check_key(key: &str) -> Result<KeyStyle, String> {
    if key.trim().is_empty() {
        return Err("service_role_key is empty (set it to the project's service_role key, e.g. \"${SUPABASE_SERVICE_ROLE_KEY}\")".to_owned());
    }
    if key
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
    {
        return Err("service_role_key contains spaces or invalid characters (check for a stray newline or quote)".to_owned());
    }
    if key.starts_with("sb_publishable_") {
        return Err("service_role_key is a publishable key; use the secret (sb_secret_...) or service_role key".to_owned());
    }
    if key.starts_with("sb_secret_") {
        return Ok(KeyStyle::Secret);
    }
    // A legacy key is a JWT: when its payload is readable, its role must be service_role.
    let mut parts = key.split('.');
    if let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    {
        let role = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v.get("role").and_then(|r| r.as_str()).map(str::to_owned));
        if let Some(role) = role {
            if role != "service_role" {
                return Err(format!(
                    "service_role_key is a key for role {role:?}; use the service_role key (Project Settings > API)"
                ));
            }
        }
    }
    Ok(KeyStyle::Jwt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> SupabaseConfig {
        SupabaseConfig::new(url, SecretString::from("k.e.y"), "backups")
    }

    #[test]
    fn storage_base_from_project_url() {
        let s = cfg("https://abcdefgh.supabase.co").settings().unwrap();
        assert_eq!(s.base, "https://abcdefgh.supabase.co/storage/v1");
        let s = cfg("https://abcdefgh.storage.supabase.co/")
            .settings()
            .unwrap();
        assert_eq!(s.base, "https://abcdefgh.storage.supabase.co/storage/v1");
        let s = cfg("http://localhost:8000/storage/v1").settings().unwrap();
        assert_eq!(s.base, "http://localhost:8000/storage/v1");
        let mut c = cfg("http://10.0.0.5:5000");
        c.storage_path = Some(String::new());
        assert_eq!(c.settings().unwrap().base, "http://10.0.0.5:5000");
    }

    #[test]
    fn url_without_project_ref_names_url() {
        for bad in [
            "https://supabase.co",
            "https://.supabase.co",
            "https://a.b.supabase.co",
            "https://supabase.com/dashboard/project/abc",
            "ftp://x.supabase.co",
            "not a url",
            "",
        ] {
            let err = cfg(bad).validate().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad}");
            assert!(err.message().contains("url"), "{bad}: {err}");
        }
    }

    #[test]
    fn reports_every_problem_with_its_key() {
        let mut c = SupabaseConfig::new("https://supabase.co", SecretString::from(""), "a/b");
        c.chunk_size = Some(ByteSize::mib(5));
        c.list_page_size = Some(0);
        let msg = c.validate().unwrap_err().to_string();
        for key in ["url", "service_role_key", "bucket", "list_page_size"] {
            assert!(msg.contains(key), "{key} missing from {msg}");
        }
        let mut c = cfg("https://abc.supabase.co");
        c.chunk_size = Some(ByteSize::mib(8));
        let msg = c.validate().unwrap_err().to_string();
        assert!(msg.contains("chunk_size must be exactly 6MiB"), "{msg}");
        let mut c = cfg("http://localhost:8000");
        c.chunk_size = Some(ByteSize::mib(1));
        c.standard_upload_limit = Some(ByteSize::mib(2));
        let msg = c.validate().unwrap_err().to_string();
        assert!(msg.contains("standard_upload_limit"), "{msg}");
    }

    #[test]
    fn key_checks_never_print_the_key() {
        let anon = format!(
            "x.{}.y",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"role":"anon"}"#)
        );
        let c = SupabaseConfig::new(
            "https://abc.supabase.co",
            SecretString::from(anon.clone()),
            "b",
        );
        let msg = c.validate().unwrap_err().to_string();
        assert!(
            msg.contains("service_role_key") && msg.contains("anon"),
            "{msg}"
        );
        assert!(!msg.contains(&anon));
        let c = SupabaseConfig::new(
            "https://abc.supabase.co",
            SecretString::from("sb_publishable_x"),
            "b",
        );
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("publishable"));
        let c = SupabaseConfig::new(
            "https://abc.supabase.co",
            SecretString::from("sb_secret_x"),
            "b",
        );
        assert_eq!(c.settings().unwrap().key_style, KeyStyle::Secret);
        assert!(!format!("{c:?}").contains("sb_secret_x"));
    }
}
