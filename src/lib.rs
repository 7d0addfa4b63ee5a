//! cloudmirror: take one backup, compress and checksum it once, mirror it to several clouds at once,
//! and restore it verified.
//!
//! This crate is the orchestrator behind the `cloudmirror` binary. It never talks HTTP itself:
//! every destination is an `Arc<dyn Store>` from an adapter crate (see `cloudmirror-contract`).
//! It never prints, reads the process environment, installs a tracing subscriber or builds a
//! runtime: the binary (`src/main.rs`, `src/cli/`) does.
//!
//! # Public API
//!
//! What the binary, `xtask` and the fuzz targets use; everything else is `pub(crate)`.
//!
//! - [`config`]: [`config::Config`] (`discover`, `parse`: `cloudmirror.toml` with `${VAR}`
//!   substitution and errors naming file, line and field), [`config::destinations`]
//!   (`open_selected`, `open`: `[[destinations]]` to stores), [`config::plan`] (the one place a
//!   [`backup::BackupPlan`] is built from a config), [`config::secrets`] (the world-readable
//!   warning), [`config::duration`] (`"1h30m"` values).
//! - [`destination::Destination`]: a configured name and its store, what every stage works on.
//! - [`backup`]: [`backup::BackupPlan`], [`backup::run`] / [`backup::run_with_timeout`] (source →
//!   [`backup::compress`] + hashing into the spool → concurrent uploads → [`backup::manifest`]s),
//!   [`backup::template`] (stored names), [`backup::encrypt`] (age recipients and identities).
//! - [`restore`]: [`restore::run`] (download, verify size and SHA-256 while decompressing, fall back
//!   to the next copy); [`restore::target`] resolves `latest` and describes a named backup;
//!   [`restore::into`] streams into a command (`--into`) and kills it unless every byte was verified.
//! - [`catalog`]: `list`, `summarize` and `delete` (a backup is an object with a manifest beside it).
//! - [`lifecycle`]: `prune` with the pure planner [`lifecycle::retention`], `status` with the pure
//!   [`lifecycle::health`], and [`lifecycle::verify`] (does each copy still match its manifest).
//! - [`schedule`]: cron schedules of the daemon; [`schedule::notify`]: the webhook after each run.
//! - [`Error`] and [`ExitStatus`]: every failure, and the exit codes 0 / 1 / 2.
//!
//! Stages own their settings types ([`backup::compress::Compression`],
//! [`lifecycle::retention::RetentionPolicy`], [`lifecycle::health::HealthPolicy`],
//! [`schedule::notify::NotifyConfig`]); `config` assembles them and no stage imports `config`. The
//! tidy tests (`src/tidy.rs`) keep the modules free of import cycles.

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
