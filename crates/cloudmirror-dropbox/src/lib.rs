//! Dropbox as a cloudmirror store: personal accounts, app folders and Dropbox Business team spaces.
//!
//! A guided tour:
//! - [`DropboxConfig`] is the `type = "dropbox"` destination: `folder`, `app_key`, `app_secret`,
//!   `refresh_token`, and optionally `select_user` (team member id, sent as
//!   `Dropbox-API-Select-User`), `root_namespace_id` (sent as `Dropbox-API-Path-Root`, or `"auto"`
//!   to look it up from `users/get_current_account`), `chunk_size` (at most 150 MiB, default
//!   48 MiB), `list_page_size` and URL overrides for fakes and proxies.
//! - [`DropboxStore`] implements [`cloudmirror_contract::Store`]. Access tokens come from the
//!   refresh-token grant (the `oauth2` crate), are cached, refreshed five minutes before expiry and
//!   once more on a 401 `expired_access_token`. Bodies that fit in one chunk go up in a single
//!   `files/upload`; larger ones stream through an upload session (`start` / `append_v2` / `finish`),
//!   one chunk in memory, resuming from `correct_offset` on `incorrect_offset`. Every call carries
//!   the content hash of its own body (a damaged call, `content_hash_mismatch`, is resent); after a
//!   `path` error at `finish` the commit is retried with an empty body at the updated offset.
//!   Nothing is visible before `finish`, and the `content_hash` of the whole file that Dropbox
//!   returns is checked against our own.
//! - Every request goes through the contract's [`cloudmirror_contract::RetryPolicy`] (429 with
//!   `Retry-After`, `too_many_write_operations`, 5xx), within its budget of elapsed time; an
//!   upload session survives an outage and goes on from the offset Dropbox holds. Route errors
//!   map by their `.tag`.
//! - Keys map to `folder/key`; listings use recursive `list_folder` and return files only, keys in
//!   the case Dropbox displays them.
//!
//! ```
//! use cloudmirror_dropbox::{DropboxConfig, DropboxStore};
//! let mut config = DropboxConfig::new("/DATABASE-BACKUPS", "app-key", "app-secret", "refresh-token");
//! config.chunk_size = Some("200MiB".parse().unwrap());
//! let err = DropboxStore::new(config).unwrap_err();
//! assert!(err.to_string().contains("chunk_size must be at most 150 MiB"));
//! ```

mod auth;
mod client;
mod config;
mod error;
mod list;
mod store;
mod upload;

pub use config::{DropboxConfig, DEFAULT_CHUNK_SIZE};
pub use store::DropboxStore;

/// The backend name in errors and capabilities.
const BACKEND: &str = "dropbox";

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

/// Fuzzing entry point (the `fuzz/` crate), not API: parses a `list_folder` page and turns its
/// entries into object metadata below a root of `root_segments` folders. Must never panic.
#[doc(hidden)]
pub fn fuzz_parse_list_page(
    body: &[u8],
    root_segments: usize,
) -> Vec<cloudmirror_contract::ObjectMeta> {
    let Ok(page) = serde_json::from_slice::<client::ListPage>(body) else {
        return Vec::new();
    };
    page.entries
        .iter()
        .filter_map(|entry| match entry {
            client::Metadata::File(file) => {
                list::object_meta(file, root_segments, &cloudmirror_contract::Prefix::root())
            }
            _ => None,
        })
        .collect()
}
