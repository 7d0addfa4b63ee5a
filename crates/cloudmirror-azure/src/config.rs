//! Configuration of an Azure Blob Storage destination, and its validation.

use std::fmt;

use base64::Engine as _;
use cloudmirror_contract::{ByteSize, Error, ErrorKind};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::error::BACKEND;

/// Default block size (one block is held in memory per upload).
const DEFAULT_CHUNK_SIZE: ByteSize = ByteSize::mib(8);
/// Smallest and largest `chunk_size`. Put Block accepts up to 4000 MiB per block (service version
/// 2019-12-12 and later); one block is held in memory, so 1 GiB is our ceiling.
const MIN_CHUNK_SIZE: u64 = 64 * 1024;
const MAX_CHUNK_SIZE: u64 = 1024 * 1024 * 1024;

/// A `type = "azure"` destination: one container of an Azure storage account.
///
/// `name`, `type` and `prefix` are handled by the orchestrator and are not part of this struct.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureConfig {
    /// The storage account's name (3 to 24 lower-case letters and digits).
    pub account: String,
    /// The container (3 to 63 lower-case letters, digits and single hyphens). It must exist.
    pub container: String,
    /// One of the account's access keys (base64), for Shared Key authorization:
    /// keep it out of config files (`${AZURE_STORAGE_KEY}`). Exactly one of `access_key` and
    /// `sas_token` is set.
    #[serde(default)]
    pub access_key: Option<SecretString>,
    /// A shared access signature (the query string, with or without its leading `?`), with at
    /// least the read, add, create, write, delete and list permissions on the container.
    #[serde(default)]
    pub sas_token: Option<SecretString>,
    /// The Blob service endpoint, for Azurite (`http://127.0.0.1:10000/devstoreaccount1`) and
    /// sovereign clouds; default `https://{account}.blob.core.windows.net`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The block size: each block is sent (and retried) on its own; at most 50,000 blocks make
    /// one blob, so this also caps the object size (default 8 MiB, 64 KiB to 1 GiB).
    #[serde(default)]
    pub chunk_size: Option<ByteSize>,
}

impl fmt::Debug for AzureConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |s: &Option<SecretString>| s.as_ref().map(|_| "[redacted]");
        f.debug_struct("AzureConfig")
            .field("account", &self.account)
            .field("container", &self.container)
            .field("access_key", &redacted(&self.access_key))
            .field("sas_token", &redacted(&self.sas_token))
            .field("endpoint", &self.endpoint)
            .field("chunk_size", &self.chunk_size)
            .finish()
    }
}

/// How requests are authorized.
#[derive(Clone)]
pub(crate) enum Auth {
    /// Shared Key: the decoded account key.
    SharedKey(SecretString),
    /// A SAS query string, without its leading `?`.
    Sas(SecretString),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Auth::SharedKey(_) => "SharedKey([redacted])",
            Auth::Sas(_) => "Sas([redacted])",
        })
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) account: String,
    pub(crate) container: String,
    /// The endpoint without a trailing `/`.
    pub(crate) endpoint: url::Url,
    pub(crate) auth: Auth,
    pub(crate) chunk_size: usize,
}

impl AzureConfig {
    /// A configuration authorized by an access key, every optional key at its default.
    pub fn with_access_key(
        account: impl Into<String>,
        container: impl Into<String>,
        access_key: SecretString,
    ) -> Self {
        Self {
            account: account.into(),
            container: container.into(),
            access_key: Some(access_key),
            sas_token: None,
            endpoint: None,
            chunk_size: None,
        }
    }

    /// Checks every setting and reports all problems at once, each naming its key.
    pub fn validate(&self) -> Result<(), Error> {
        self.settings().map(|_| ())
    }

    pub(crate) fn settings(&self) -> Result<Settings, Error> {
        let mut problems = Vec::new();
        if !valid_account(&self.account) {
            problems.push(format!(
                "account must be the storage account's name (3 to 24 lower-case letters and digits), got {:?}",
                self.account
            ));
        }
        if !valid_container(&self.container) {
            problems.push(format!(
                "container must be 3 to 63 lower-case letters, digits and single hyphens, got {:?}",
                self.container
            ));
        }
        let auth = match (&self.access_key, &self.sas_token) {
            (Some(key), None) => check_key(key.expose_secret())
                .map_err(|p| problems.push(p))
                .ok()
                .map(|()| Auth::SharedKey(key.clone())),
            (None, Some(sas)) => check_sas(sas.expose_secret())
                .map_err(|p| problems.push(p))
                .ok()
                .map(|t| Auth::Sas(SecretString::from(t))),
            (Some(_), Some(_)) => {
                problems.push("set either access_key or sas_token, not both".to_owned());
                None
            }
            (None, None) => {
                problems.push(
                    "set access_key (\"${AZURE_STORAGE_KEY}\") or sas_token (\"${AZURE_SAS_TOKEN}\")"
                        .to_owned(),
                );
                None
            }
        };
        let default = format!("https://{}.blob.core.windows.net", self.account);
        let endpoint = check_endpoint(self.endpoint.as_deref().unwrap_or(&default))
            .map_err(|p| problems.push(p))
            .ok();
        let chunk = self.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE);
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk.bytes()) {
            problems.push(format!(
                "chunk_size must be between 64KiB and 1024MiB (got {chunk})"
            ));
        }
        match (auth, endpoint) {
            (Some(auth), Some(endpoint)) if problems.is_empty() => Ok(Settings {
                account: self.account.clone(),
                container: self.container.clone(),
                endpoint,
                auth,
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

/// Storage account names: 3 to 24 lower-case letters and digits.
fn valid_account(name: &str) -> bool {
    (3..=24).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Container names ("Naming and referencing containers, blobs, and metadata"): 3 to 63
/// characters, lower-case letters, digits and hyphens, starting and ending with a letter or
/// digit, no two hyphens in a row.
fn valid_container(name: &str) -> bool {
    let ok_char = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    (3..=63).contains(&name.len())
        && name.bytes().all(|b| ok_char(b) || b == b'-')
        && name.bytes().next().is_some_and(ok_char)
        && name.bytes().last().is_some_and(ok_char)
        && !name.contains("--")
}

fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("access_key is empty (set it, e.g. \"${AZURE_STORAGE_KEY}\")".to_owned());
    }
    match base64::engine::general_purpose::STANDARD.decode(key.trim()) {
        Ok(bytes) if !bytes.is_empty() => Ok(()),
        // Never echo the value, not even a part of it.
        _ => Err(
            "access_key is not base64 (copy key1 or key2 from the account's \"Access keys\" page)"
                .to_owned(),
        ),
    }
}

/// The SAS query string without its leading `?`.
fn check_sas(sas: &str) -> Result<String, String> {
    let sas = sas.trim().trim_start_matches('?');
    if sas.is_empty() {
        return Err("sas_token is empty (set it, e.g. \"${AZURE_SAS_TOKEN}\")".to_owned());
    }
    if sas.chars().any(|c| c.is_control() || c == ' ' || c == '#')
        || !sas.split('&').any(|p| p.starts_with("sig="))
    {
        return Err(
            "sas_token must be a shared access signature query string (`sv=...&sig=...`)"
                .to_owned(),
        );
    }
    Ok(sas.to_owned())
}

/// The endpoint, without a trailing `/`.
fn check_endpoint(raw: &str) -> Result<url::Url, String> {
    let example = "https://myaccount.blob.core.windows.net";
    let mut url = url::Url::parse(raw.trim())
        .map_err(|e| format!("endpoint must be a URL ({example}); {raw:?} is not: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "endpoint must start with https:// and name a host ({example}), got {raw:?}"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!(
            "endpoint must not carry a query, fragment or credentials ({example}): put a SAS in sas_token"
        ));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "a2V5LWJ5dGVzLWZvci10ZXN0cw==";

    #[test]
    fn defaults_and_azurite_endpoints() {
        let s = AzureConfig::with_access_key("acct1", "backups", KEY.to_owned().into())
            .settings()
            .unwrap();
        assert_eq!(s.endpoint.as_str(), "https://acct1.blob.core.windows.net/");
        assert_eq!(s.chunk_size, 8 * 1024 * 1024);
        let mut c = AzureConfig::with_access_key("devstoreaccount1", "c-1", KEY.to_owned().into());
        c.endpoint = Some("http://127.0.0.1:10000/devstoreaccount1/".into());
        let s = c.settings().unwrap();
        assert_eq!(s.endpoint.path(), "/devstoreaccount1");
    }

    #[test]
    fn every_problem_is_named_and_secrets_never_shown() {
        let mut c = AzureConfig::with_access_key(
            "Bad_Account",
            "-x",
            "not base64 s3cret!".to_owned().into(),
        );
        c.chunk_size = Some(ByteSize(10));
        c.endpoint = Some("ftp://x".into());
        let e = c.validate().unwrap_err().to_string();
        for needle in [
            "account",
            "container",
            "access_key",
            "chunk_size",
            "endpoint",
        ] {
            assert!(e.contains(needle), "{needle}: {e}");
        }
        assert!(!e.contains("s3cret"), "{e}");
        assert!(!format!("{c:?}").contains("s3cret"));

        c = AzureConfig::with_access_key("acct1", "backups", KEY.to_owned().into());
        c.sas_token = Some("?sv=1&sig=abc".to_owned().into());
        assert!(c.validate().unwrap_err().to_string().contains("not both"));
        c.access_key = None;
        let s = c.settings().unwrap();
        assert!(matches!(&s.auth, Auth::Sas(t) if t.expose_secret() == "sv=1&sig=abc"));
        c.sas_token = Some("sv=1&se=2".to_owned().into());
        assert!(c.validate().unwrap_err().to_string().contains("sas_token"));
        c.sas_token = None;
        assert!(c.validate().unwrap_err().to_string().contains("access_key"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = toml::from_str::<AzureConfig>(
            "account = \"a1b\"\ncontainer = \"abc\"\naccess_key = \"x\"\nbucket = \"y\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("bucket"), "{e}");
    }
}
