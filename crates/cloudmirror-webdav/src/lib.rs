//! WebDAV for cloudmirror: one folder (collection) on a WebDAV server (Nextcloud, ownCloud,
//! Synology, Hetzner Storage Box, Apache `mod_dav`, `wsgidav`).
//!
//! - [`WebdavConfig`]: the `type = "webdav"` destination keys (`url`, `user`, `password`), validated
//!   all at once.
//! - [`WebdavStore`]: the [`cloudmirror_contract::Store`], HTTP Basic authentication on every request.
//!   - uploads (`upload.rs`): the missing parent collections are made with `MKCOL`, the body is
//!     `PUT` under a temporary name beside the target (`.<name>.<random>.partial`), then `MOVE`d onto
//!     the final name with `Overwrite: T`, so readers see the old object or the new one whole. A
//!     failed upload deletes its temporary file; temporary names never appear in listings.
//!     Bodies within one chunk are sent as one replayable `PUT` (retried); larger ones stream in
//!     one `PUT` with bounded memory (WebDAV has no standard resumable upload).
//!   - listings (`list.rs`): `PROPFIND` with `Depth: 1`, folder by folder (many servers refuse
//!     `Depth: infinity`), lazily.
//!   - WebDAV reports no content checksum, so objects carry none and `verify` re-hashes the copy.
//! - Errors: HTTP statuses (RFC 4918's 207/409/423/507 included) map to the contract's kinds in
//!   `error.rs`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cloudmirror_contract::Error> {
//! use cloudmirror_contract::{Key, StoreExt};
//! use cloudmirror_webdav::{WebdavConfig, WebdavStore};
//! let config = WebdavConfig::new(
//!     "https://cloud.example.com/remote.php/dav/files/alice/backups/",
//!     "alice",
//!     std::env::var("WEBDAV_PASSWORD").unwrap_or_default().into(),
//! );
//! let store = WebdavStore::new(config).await?;
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

pub use config::WebdavConfig;
pub use store::WebdavStore;

/// Fuzzing entry point, not API: parses a `PROPFIND` answer the way listings do. Must never panic.
#[doc(hidden)]
pub fn fuzz_parse_multistatus(body: &[u8]) -> usize {
    list::parse_multistatus(body).map_or(0, |entries| entries.len())
}
