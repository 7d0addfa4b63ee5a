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
//!   write. A body that fails never sends its last chunk, so no file or revision appears. The MD5
//!   computed while sending is checked against Drive's `md5Checksum`.
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
