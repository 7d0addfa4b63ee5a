//! S3 and S3-compatible stores (AWS, `MinIO`, Cloudflare R2, Backblaze B2, Supabase S3) for cloudmirror.
//!
//! A guided tour:
//! - [`S3Config`]: the `type = "s3"` destination keys (`bucket`, `region`, `endpoint`, static keys
//!   or the default AWS credential chain, `part_size`), validated all at once.
//! - [`S3Store`]: the [`cloudmirror_contract::Store`] on top of `aws-sdk-s3`. Bodies up to one part
//!   go in one `PutObject`; larger (or longer-than-a-part streams of unknown length) go in a
//!   multipart upload with a few parts in flight, each part carrying its SHA-256 so S3 verifies it;
//!   a failed multipart upload is aborted. Every request goes through the contract's
//!   [`cloudmirror_contract::RetryPolicy`] (the SDK's own retries are off).
//! - Inside: `client` (one function per S3 operation), `error` (S3 codes to error kinds),
//!   `upload` (the multipart state machine) and `list` (the `ListObjectsV2` page stream).
//!
//! ```no_run
//! # async fn demo() -> Result<(), cloudmirror_contract::Error> {
//! use cloudmirror_contract::{Key, StoreExt};
//! use cloudmirror_s3::{S3Config, S3Store};
//! let mut config = S3Config::new("acme-backups");
//! config.endpoint = Some("http://127.0.0.1:9000".into());
//! config.access_key_id = Some("minio".into());
//! config.secret_access_key = Some("minio-secret".into());
//! let store = S3Store::new(config).await?;
//! store.upload_bytes(&Key::parse("daily/hello.txt")?, "hi".into()).await?;
//! # Ok(()) }
//! ```

mod client;
mod config;
mod error;
mod list;
mod store;
mod upload;

pub use config::{
    S3Config, DEFAULT_LIST_PAGE_SIZE, DEFAULT_PARTS_IN_FLIGHT, DEFAULT_PART_SIZE, MAX_PARTS,
    MAX_PART_SIZE, MIN_PART_SIZE,
};
pub use store::S3Store;

/// Fuzzing entry point (the `fuzz/` crate), not API: the error kind of an S3 response with this
/// status and error code (the SDK parses the XML). Must never panic.
#[doc(hidden)]
pub fn fuzz_parse_error(status: u16, code: Option<&str>) -> cloudmirror_contract::ErrorKind {
    error::parse_error(status, code)
}

/// Fuzzing entry point (the `fuzz/` crate), not API: a `ListObjectsV2` entry with these fields,
/// turned into object metadata as the listing does. Must never panic.
#[doc(hidden)]
pub fn fuzz_list_entry(
    key: &str,
    size: i64,
    secs: i64,
    nanos: u32,
    prefix: &str,
) -> Option<cloudmirror_contract::ObjectMeta> {
    let object = aws_sdk_s3::types::Object::builder()
        .key(key)
        .size(size)
        .last_modified(aws_sdk_s3::primitives::DateTime::from_fractional_secs(
            secs,
            f64::from(nanos % 1_000_000_000) / 1e9,
        ))
        .build();
    let prefix = cloudmirror_contract::Prefix::parse(prefix).ok()?;
    list::fuzz_to_meta(&object, &prefix)
}
