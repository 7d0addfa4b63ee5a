//! A local folder as a cloudmirror store.
//!
//! [`LocalStore`] keeps each object as a file under a root folder, keys mapped to sub-folders.
//! Uploads write a hidden temporary file in the target folder, fsync it and rename it over the
//! target, so readers see the old file or the new one, never half of one; a failed upload removes
//! its temporary file. Listings never show temporary files.
//!
//! ```
//! # tokio_test();
//! # fn tokio_test() {
//! use cloudmirror_contract::{Key, StoreExt};
//! use cloudmirror_local::{LocalConfig, LocalStore};
//! let dir = std::env::temp_dir().join(format!("cm-doc-{}", std::process::id()));
//! let store = LocalStore::new(LocalConfig::new(&dir));
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! rt.block_on(async {
//!     let key = Key::parse("daily/hello.txt").unwrap();
//!     store.upload_bytes(&key, "hi".into()).await.unwrap();
//!     assert_eq!(store.download_bytes(&key).await.unwrap(), "hi");
//! });
//! std::fs::remove_dir_all(&dir).unwrap();
//! # }
//! ```

mod config;
mod store;

pub use config::LocalConfig;
pub use store::LocalStore;
