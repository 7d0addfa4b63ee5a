//! SFTP for cloudmirror: one folder on an SSH server (a NAS, a second server, a Hetzner Storage
//! Box), over OpenSSH's SFTP (draft-ietf-secsh-filexfer-02) with `russh` and `russh-sftp`.
//!
//! - [`SftpConfig`]: the `type = "sftp"` destination keys (`host`, `port`, `user`, `path`,
//!   `private_key` or `password`, `known_hosts`), validated all at once.
//! - [`SftpStore`]: the [`cloudmirror_contract::Store`]. The host key is checked against
//!   `known_hosts` before authenticating; an unknown or changed key is refused with its SHA256
//!   fingerprint (there is no "accept any host key" setting).
//!   - uploads (`upload.rs`): `mkdir -p` the parents, write `.<name>.<random>.partial` beside the
//!     target in chunks (bounded memory; a dropped connection resumes at the chunk's offset), then
//!     `posix-rename@openssh.com` onto the final name, so readers see the old object or the new
//!     one whole. A failed upload removes its temporary file; listings never show such names.
//!   - listings (`list.rs`): folder by folder, lazily, descending only where the prefix leads.
//!   - SFTP reports no content checksum, so objects carry none and `verify` re-hashes the copy.
//! - Errors: SFTP status codes and SSH failures map to the contract's kinds in `error.rs`;
//!   every request runs in the [`cloudmirror_contract::RetryPolicy`], reconnecting after a
//!   dropped connection (`client.rs`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), cloudmirror_contract::Error> {
//! use cloudmirror_contract::{Key, StoreExt};
//! use cloudmirror_sftp::{SftpConfig, SftpStore};
//! let config = SftpConfig::new("nas.local", "alice", "/srv/backups", "/home/alice/.ssh/id_ed25519");
//! let store = SftpStore::new(config).await?;
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

pub use config::SftpConfig;
pub use store::SftpStore;
