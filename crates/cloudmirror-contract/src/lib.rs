//! The storage contract of cloudmirror: what every adapter promises and what the orchestrator may rely on.
//!
//! - [`Store`]: the dyn-compatible async trait (`Arc<dyn Store>`) with four operations: upload a
//!   stream of [`bytes::Bytes`], list a [`Prefix`] lazily across pages, download as a stream, and
//!   delete idempotently. [`StoreExt`] adds conveniences on top.
//! - [`Key`] and [`Prefix`]: validated, `/`-separated, relative names; adapters only ever see valid ones.
//! - [`Error`] with an [`ErrorKind`] the orchestrator branches on, and [`RetryPolicy`], the one retry loop
//!   every adapter uses.
//! - [`ChunkReader`]: re-chunks a body stream into the provider's chunk size with bounded memory.
//! - [`ByteSize`]: sizes in settings (`"48MiB"`).
//! - [`Hashes`]: SHA-256, MD5 and the Dropbox content hash in one pass, to check any provider's [`Checksum`].
//! - `testkit` (feature `testkit`): the contract suite every adapter runs against its fake.
//!
//! ```
//! use cloudmirror_contract::{Key, Prefix};
//! let key = Key::parse("daily/db-2026-11-23.json.gz").unwrap();
//! assert_eq!(key.name(), "db-2026-11-23.json.gz");
//! assert!(Key::parse("../etc/passwd").is_err());
//! assert_eq!(Prefix::parse("daily/db-").unwrap().dir(), "daily/");
//! ```

pub mod cause;
mod chunk;
mod error;
mod hash;
mod key;
mod retry;
mod size;
mod store;
pub mod temp;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use chunk::{Chunk, ChunkReader};
pub use error::{Error, ErrorKind, Result, DISK_FULL};
pub use hash::{
    dropbox_content_hash, DigestSet, DigestThreads, Digests, Hashes, DROPBOX_BLOCK_SIZE,
};
pub use key::{Key, Prefix};
pub use retry::{parse_retry_after, RetryPolicy, DEFAULT_RETRY_FOR};
pub use size::ByteSize;
pub use store::{
    body_from_bytes, ByteStream, Capabilities, Checksum, ObjectMeta, ObjectStream, Store, StoreExt,
};
