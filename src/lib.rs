//! cloudmirror: take one backup, compress and checksum it once, mirror it to several clouds at once,
//! and restore it verified.
//!
//! This crate is the orchestrator behind the `cloudmirror` binary. It never talks HTTP itself:
//! every destination is an `Arc<dyn Store>` from an adapter crate (see `cloudmirror-contract`).
//!
//! - [`config`]: `cloudmirror.toml` discovery, `${VAR}` substitution, errors naming file, line and field.
//! - [`destinations`]: `[[destinations]]` tables to stores (one match on `type`), prefixes applied by [`prefixed`].
//! - [`backup`]: source → compression ([`compress`]: parallel gzip, zstd) + hashing into the [`spool`] → concurrent uploads → [`manifest`]s.
//! - [`restore`]: download, verify size and SHA-256 while decompressing, fall back to the next copy.
//!   [`restore_target`] resolves `latest` and plans the `--safety-backup`; [`restore_into`] streams
//!   into a command (`--into`) and kills it unless every byte was verified.
//! - [`catalog`]: `list` and `delete` (a backup is an object with a manifest beside it).
//! - [`template`]: backup name templates.
//! - [`lifecycle`]: retention ([`retention`]) after backups and in `prune`; health ([`health`]) for `status`.
//! - [`verify`]: does each copy still match its manifest (provider checksums, or a deep re-hash).

pub mod backup;
pub mod catalog;
pub mod config;
pub mod destination;
mod error;
pub mod lifecycle;
pub mod restore;
pub mod schedule;
#[cfg(test)]
mod tidy;

pub use error::{Error, ExitStatus};
