//! Configuration of an S3 destination: the issue's keys plus a few optional tuning knobs.

use std::fmt;

use cloudmirror_contract::{ByteSize, Error, ErrorKind};
use secrecy::SecretString;
use serde::Deserialize;

/// Smallest multipart part S3 accepts (every part but the last).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// Largest multipart part S3 accepts.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Largest object S3 stores: 5 TiB ("The largest object that can be uploaded in a single PUT is
/// 5 GiB"; multipart "Maximum object size 5 TiB",
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html>).
pub(crate) const MAX_OBJECT_SIZE: u64 = 5 * 1024 * 1024 * 1024 * 1024;
/// Most parts one multipart upload may have.
pub const MAX_PARTS: u64 = 10_000;
/// Part size used when `part_size` is not set.
pub const DEFAULT_PART_SIZE: u64 = 16 * 1024 * 1024;
/// Keys per `ListObjectsV2` page when `list_page_size` is not set (S3's own maximum).
pub const DEFAULT_LIST_PAGE_SIZE: usize = 1000;
/// Parts uploaded at once when `parts_in_flight` is not set.
pub const DEFAULT_PARTS_IN_FLIGHT: usize = 4;

/// One `type = "s3"` destination, as written in the config file (minus `name`, `type`, `prefix`).
///
/// ```toml
/// bucket = "acme-backups"
/// region = "eu-west-1"                   # optional when the default AWS chain provides it
/// endpoint = "http://127.0.0.1:9000"     # optional: S3-compatible stores (implies path-style)
/// access_key_id = "${AWS_ACCESS_KEY_ID}" # optional: else the default AWS credential chain
/// secret_access_key = "${AWS_SECRET_ACCESS_KEY}"
/// part_size = "16MiB"                    # optional
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// The bucket objects go to (it must exist).
    pub bucket: String,
    /// The region (`us-east-1`, `eu-west-1`, `auto` for R2). Optional when the default AWS chain
    /// (`AWS_REGION`, profile) provides one; `us-east-1` when only `endpoint` is set.
    #[serde(default)]
    pub region: Option<String>,
    /// Base URL of an S3-compatible store (`MinIO`, R2, B2, Supabase); AWS's own endpoints otherwise.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Path-style addressing (`https://host/bucket/key`). Defaults to `true` when `endpoint` is set,
    /// `false` otherwise (virtual-hosted style, AWS's default).
    #[serde(default)]
    pub force_path_style: Option<bool>,
    /// Static access key id; without it the default AWS credential chain is used
    /// (environment, profile, SSO, web identity, ECS/EC2 roles).
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Static secret access key (required with `access_key_id`).
    #[serde(default)]
    pub secret_access_key: Option<SecretString>,
    /// Optional session token for temporary static credentials.
    #[serde(default)]
    pub session_token: Option<SecretString>,
    /// Multipart part size (5 MiB to 5 GiB, default 16 MiB): bodies up to this size go in one
    /// `PutObject`, larger ones in parts. With a known length the parts are all one size, grown
    /// as needed to fit 10,000 parts. With a body of unknown length (a compressor's output) the
    /// first 1,000 parts are this size and the size doubles every 1,000 parts up to
    /// `max_part_size`, so a stream can reach S3's 5 TiB object limit within 10,000 parts
    /// (see `docs/providers/s3.md` for the memory it takes).
    #[serde(default)]
    pub part_size: Option<ByteSize>,
    /// Largest part an unknown-length upload grows to (`part_size` to 5 GiB, default 5 GiB).
    /// Memory is about `(parts_in_flight + 1) × current part size`: lowering this caps memory,
    /// and caps the largest unknown-length object with it.
    #[serde(default)]
    pub max_part_size: Option<ByteSize>,
    /// Parts uploaded at once (1 to 32, default 4); memory use is about
    /// `(parts_in_flight + 1) × part_size`.
    #[serde(default)]
    pub parts_in_flight: Option<usize>,
    /// Keys per listing page (1 to 1000, default 1000).
    #[serde(default)]
    pub list_page_size: Option<usize>,
    /// Send each body's SHA-256 (`x-amz-checksum-sha256`) so the server verifies it (default
    /// `true`). Set `false` only for an S3-compatible store that rejects checksum headers.
    #[serde(default)]
    pub send_checksums: Option<bool>,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |s: &Option<SecretString>| s.as_ref().map(|_| "[redacted]");
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("force_path_style", &self.force_path_style)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .field("part_size", &self.part_size)
            .field("max_part_size", &self.max_part_size)
            .field("parts_in_flight", &self.parts_in_flight)
            .field("list_page_size", &self.list_page_size)
            .field("send_checksums", &self.send_checksums)
            .finish()
    }
}

impl S3Config {
    /// A config for `bucket` with every optional key unset.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            region: None,
            endpoint: None,
            force_path_style: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            part_size: None,
            max_part_size: None,
            parts_in_flight: None,
            list_page_size: None,
            send_checksums: None,
        }
    }

    /// Checks every setting and reports all problems at once, naming the fields.
    pub fn validate(&self) -> Result<(), Error> {
        let mut problems = Vec::new();
        let bucket = self.bucket.trim();
        if bucket.is_empty() {
            problems.push("bucket must not be empty".to_owned());
        } else if bucket.contains('/') || bucket != self.bucket {
            problems.push(format!(
                "bucket must be a bare bucket name (got {:?}); put folders in prefix",
                self.bucket
            ));
        }
        if self.region.as_deref().is_some_and(|r| r.trim().is_empty()) {
            problems.push("region must not be empty when set".to_owned());
        }
        if let Some(endpoint) = &self.endpoint {
            match endpoint.parse::<http::Uri>() {
                Ok(uri)
                    if matches!(uri.scheme_str(), Some("http" | "https"))
                        && uri.host().is_some() => {}
                _ => problems.push(format!(
                    "endpoint must be an http:// or https:// URL (got {endpoint:?})"
                )),
            }
        }
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(id), Some(_)) if id.trim().is_empty() => {
                problems.push("access_key_id must not be empty when set".to_owned());
            }
            (Some(_), None) => {
                problems.push("secret_access_key is required when access_key_id is set".to_owned());
            }
            (None, Some(_)) => {
                problems.push("access_key_id is required when secret_access_key is set".to_owned());
            }
            _ => {}
        }
        if self.session_token.is_some() && self.access_key_id.is_none() {
            problems.push("session_token needs access_key_id and secret_access_key".to_owned());
        }
        if let Some(size) = self.part_size {
            if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&size.bytes()) {
                problems.push(format!(
                    "part_size must be between 5MiB and 5GiB (got {size})"
                ));
            }
        }
        if let Some(max) = self.max_part_size {
            if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&max.bytes()) {
                problems.push(format!(
                    "max_part_size must be between 5MiB and 5GiB (got {max})"
                ));
            } else if max.bytes() < self.part_size_bytes() {
                problems.push(format!(
                    "max_part_size ({max}) must not be below part_size ({})",
                    ByteSize(self.part_size_bytes())
                ));
            }
        }
        if let Some(n) = self.parts_in_flight {
            if !(1..=32).contains(&n) {
                problems.push(format!(
                    "parts_in_flight must be between 1 and 32 (got {n})"
                ));
            }
        }
        if let Some(n) = self.list_page_size {
            if !(1..=1000).contains(&n) {
                problems.push(format!(
                    "list_page_size must be between 1 and 1000 (got {n})"
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::InvalidInput,
                "s3",
                format!("invalid s3 settings: {}", problems.join("; ")),
            ))
        }
    }

    /// The configured part size, or the default.
    pub fn part_size_bytes(&self) -> u64 {
        self.part_size.map_or(DEFAULT_PART_SIZE, ByteSize::bytes)
    }

    /// The configured largest part, or 5 GiB.
    pub fn max_part_size_bytes(&self) -> u64 {
        self.max_part_size.map_or(MAX_PART_SIZE, ByteSize::bytes)
    }

    /// Whether requests use path-style addressing.
    pub fn path_style(&self) -> bool {
        self.force_path_style.unwrap_or(self.endpoint.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<S3Config, String> {
        toml::from_str(toml_text).map_err(|e| e.to_string())
    }

    #[test]
    fn parses_the_issue_example_and_hides_secrets() {
        let c = parse(
            r#"
            bucket = "acme-backups"
            region = "eu-west-1"
            endpoint = "http://127.0.0.1:9000"
            access_key_id = "AKIDEXAMPLE"
            secret_access_key = "very-secret"
            part_size = "16MiB"
            "#,
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.part_size_bytes(), 16 * 1024 * 1024);
        assert!(c.path_style());
        let shown = format!("{c:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }

    #[test]
    fn rejects_unknown_keys() {
        let err = parse("bucket = \"b\"\nbukcet = \"x\"").unwrap_err();
        assert!(err.contains("bukcet"), "{err}");
    }

    #[test]
    fn reports_every_problem_with_its_field() {
        let mut c = S3Config::new("");
        c.endpoint = Some("ftp://x".into());
        c.access_key_id = Some("id".into());
        c.part_size = Some(ByteSize::mib(1));
        c.list_page_size = Some(0);
        c.parts_in_flight = Some(100);
        let err = c.validate().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let msg = err.to_string();
        for field in [
            "bucket",
            "endpoint",
            "secret_access_key",
            "part_size must be between 5MiB and 5GiB (got 1MiB)",
            "list_page_size",
            "parts_in_flight",
        ] {
            assert!(msg.contains(field), "{field} missing from {msg}");
        }
    }

    #[test]
    fn defaults() {
        let c = S3Config::new("b");
        c.validate().unwrap();
        assert!(!c.path_style());
        assert_eq!(c.part_size_bytes(), DEFAULT_PART_SIZE);
    }
}
