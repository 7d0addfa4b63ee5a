//! Google Drive as a cloudmirror store, for servers authenticated as a service account.
//!
//! A tour:
//! - [`GdriveConfig`]: the `type = "gdrive"` destination settings (`folder_id`, one of
//!   `service_account_key` / `service_account_json`, optional `shared_drive_id`, `subject`,
//!   `chunk_size`, `api_url`), validated all at once.
//! - [`GdriveStore`]: the [`cloudmirror_contract::Store`]. Keys such as `daily/db.json.gz` map
//!   onto folders (`daily`) under `folder_id`, created on demand and cached per store. Drive
//!   allows duplicate names: an upload updates the newest file of its name instead of adding a
//!   twin, `list` and `download` use the newest, `delete` removes them all (permanently).
//! - Uploads that fit in one chunk are one `multipart` (create) or `media` (update) request;
//!   larger ones go through a resumable session in chunks of `chunk_size` (a multiple of 256 KiB),
//!   resuming from the server's committed range after a 5xx, a dropped connection or a short
//!   write. A body that fails never sends its last chunk, so no file or revision appears. The
//!   stored size is checked, and Drive's own `md5Checksum` is reported as the object's checksum
//!   for the caller to compare with its MD5 of the content (the backup computes it once).
//! - Tokens come from yup-oauth2's service-account (JWT bearer) flow, cached and refreshed; a 401
//!   gets one fresh token and one more try. `supportsAllDrives=true` is on every request.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cloudmirror_contract::Error> {
//! use cloudmirror_contract::{Key, StoreExt};
//! use cloudmirror_gdrive::{GdriveConfig, GdriveStore};
//! let store = GdriveStore::new(GdriveConfig::new("1AbCdEf", "/etc/cloudmirror/sa.json")).await?;
//! store.upload_bytes(&Key::parse("daily/hello.txt")?, "hi".into()).await?;
//! # Ok(()) }
//! ```

mod auth;
mod client;
mod config;
mod daily_cap;
mod error;
mod index;
mod list;
mod store;
mod upload;

/// The backend name in errors and capabilities.
const BACKEND: &str = "gdrive";

pub use config::{
    GdriveConfig, CHUNK_GRANULARITY, DEFAULT_API_URL, DEFAULT_CHUNK_SIZE, DEFAULT_LIST_PAGE_SIZE,
};
pub use store::GdriveStore;

/// Fuzzing entry point (the `fuzz/` crate), not API: parses a response body as an error the way
/// every request does. Must never panic.
#[doc(hidden)]
pub fn fuzz_parse_error(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> cloudmirror_contract::Error {
    error::parse_error(status, headers, body)
}

/// Fuzzing entry point (the `fuzz/` crate), not API: parses a `files.list` page and reads each
/// file's fields as the listing does (folder test, size, key). Must never panic.
#[doc(hidden)]
pub fn fuzz_parse_list_page(body: &[u8]) -> Vec<(bool, Option<u64>, bool)> {
    let Ok(page) = serde_json::from_slice::<client::FileList>(body) else {
        return Vec::new();
    };
    page.files
        .iter()
        .map(|f| {
            (
                f.is_folder(),
                f.size(),
                cloudmirror_contract::Key::parse(&f.name).is_ok(),
            )
        })
        .collect()
}

/// Fuzzing entry point (the `fuzz/` crate), not API: the byte count a resumable session's
/// `Range` header reports. Must never panic (nor overflow).
#[doc(hidden)]
pub fn fuzz_parse_range(value: &[u8]) -> Option<u64> {
    client::committed_from_range(value)
}
