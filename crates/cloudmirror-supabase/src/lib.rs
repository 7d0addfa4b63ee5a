//! Supabase Storage for cloudmirror: one bucket of a hosted or self-hosted project.
//!
//! - [`SupabaseConfig`]: the `type = "supabase"` destination keys (`url`, `service_role_key`,
//!   `bucket`, `create_bucket`, plus tuning knobs), validated all at once.
//! - [`SupabaseStore`]: the [`cloudmirror_contract::Store`]. Every request carries the key in
//!   `apikey` and `Authorization: Bearer` (new `sb_secret_…` keys: `apikey` only).
//!   - uploads: bodies that end within the first chunk go through one standard upload with
//!     `x-upsert: true` (falling back to TUS when the route's own limit refuses them); larger ones
//!     through TUS resumable uploads in 6 MiB chunks, `x-upsert: true` on every TUS request,
//!     resuming from the server's `Upload-Offset` after a failure (`upload.rs`);
//!   - listings: flat, case-sensitive `POST /object/list-v2/{bucket}` pages, or the legacy folder
//!     listing on servers without it; only keys that start with the prefix exactly (`list.rs`);
//!   - deletes: the batch delete, idempotent, checked against its answer (a name it did not
//!     delete and that still exists is an error); downloads: the authenticated object GET.
//!   - `ETag`s are never reported as checksums (multipart `ETag`s with the S3 backend).
//! - Errors: Supabase answers HTTP 400 with the real code as a string `statusCode` in the body;
//!   `error.rs` maps that to the contract's kinds.
//! - Names: the server refuses non-ASCII and some symbols in object names, so keys are escaped
//!   reversibly (`names.rs`): `Résumé.txt` is stored as `R*C3*A9sum*C3*A9.txt`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cloudmirror_contract::Error> {
//! use cloudmirror_contract::{Key, StoreExt};
//! use cloudmirror_supabase::{SupabaseConfig, SupabaseStore};
//! let config = SupabaseConfig::new(
//!     "https://abcdefghijklmnop.supabase.co",
//!     std::env::var("SUPABASE_SERVICE_ROLE_KEY").unwrap_or_default().into(),
//!     "backups",
//! );
//! let store = SupabaseStore::new(config).await?;
//! store.upload_bytes(&Key::parse("daily/hello.txt")?, "hi".into()).await?;
//! # Ok(())
//! # }
//! ```

mod client;
mod config;
mod error;
mod list;
mod names;
mod store;
mod upload;

pub use config::{SupabaseConfig, PLATFORM_CHUNK_SIZE};
pub use store::SupabaseStore;

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

/// Fuzzing entry point (the `fuzz/` crate), not API: parses a listing page and decodes each
/// object name into a key as the listing does. Must never panic.
#[doc(hidden)]
pub fn fuzz_parse_list_page(body: &[u8]) -> Vec<Option<String>> {
    let Ok(entries) = serde_json::from_slice::<Vec<client::Entry>>(body) else {
        return Vec::new();
    };
    entries
        .iter()
        .map(|e| {
            names::decode(&e.name)
                .filter(|k| cloudmirror_contract::Key::parse(k).is_ok())
                .map(|k| format!("{k} {:?}", e.metadata.as_ref().and_then(|m| m.size)))
        })
        .collect()
}
