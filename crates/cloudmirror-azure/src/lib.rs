//! Azure Blob Storage for cloudmirror: one container of a storage account (or Azurite).
//!
//! - [`AzureConfig`]: the `type = "azure"` destination keys (`account`, `container`,
//!   `access_key` or `sas_token`, `endpoint`), validated all at once.
//! - [`AzureStore`]: the [`cloudmirror_contract::Store`], Shared Key or SAS authorization on every
//!   request.
//!   - uploads (`upload.rs`): each chunk is staged with Put Block (its `Content-MD5` checked by
//!     the service, retried on its own), then Put Block List commits them with the whole blob's
//!     MD5 (`x-ms-blob-content-md5`). The blob appears, or is replaced, whole at the commit; a
//!     failed upload leaves nothing under the key, and the service garbage-collects uncommitted
//!     blocks. Memory is one block.
//!   - listings (`list.rs`): List Blobs with the prefix, following `NextMarker`, lazily.
//!   - objects carry the MD5 the service stores (`Content-MD5`), so `verify` can compare it.
//! - Errors: statuses and `x-ms-error-code`s map to the contract's kinds in `error.rs`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cloudmirror_contract::Error> {
//! use cloudmirror_contract::{Key, StoreExt};
//! use cloudmirror_azure::{AzureConfig, AzureStore};
//! let config = AzureConfig::with_access_key(
//!     "myaccount",
//!     "backups",
//!     std::env::var("AZURE_STORAGE_KEY").unwrap_or_default().into(),
//! );
//! let store = AzureStore::new(config).await?;
//! store.upload_bytes(&Key::parse("daily/hello.txt")?, "hi".into()).await?;
//! # Ok(())
//! # }
//! ```

mod client;
mod config;
mod error;
mod list;
mod store;
mod upload;

#[cfg(feature = "testserver")]
pub mod testserver;

pub use config::AzureConfig;
pub use store::AzureStore;

/// Fuzzing entry point, not API: maps an error answer the way every request does. Must never panic.
#[doc(hidden)]
pub fn fuzz_parse_error(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> cloudmirror_contract::Error {
    error::parse_error(status, headers, body)
}

/// Fuzzing entry point, not API: parses a List Blobs answer the way listings do. Must never panic.
#[doc(hidden)]
pub fn fuzz_parse_list_blobs(body: &[u8]) -> usize {
    list::parse_page(body).map_or(0, |(blobs, _)| blobs.len())
}
