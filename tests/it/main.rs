//! End-to-end tests of the `cloudmirror` binary: each runs the built command in a scratch folder.

// Test helpers are crate-internal and read best without pedantic ceremony.
#![allow(
    unreachable_pub,
    missing_docs,
    clippy::similar_names,
    clippy::needless_pass_by_value,
    clippy::case_sensitive_file_extension_comparisons,
    clippy::doc_markdown,
    clippy::missing_panics_doc,
    clippy::new_without_default,
    clippy::format_collect,
    clippy::unwrap_used
)]

mod common;

mod azure;
mod backup_restore;
mod bad_input;
mod check;
mod clouds;
mod compression;
mod daemon;
mod daemon_jobs;
mod docs;
mod documented;
mod encryption;
mod fakes;
mod faults;
mod first_hour;
mod folders;
mod init;
mod jobs;
mod lifecycle;
mod limits;
mod memory;
mod metrics;
mod monitoring;
mod postgres;
mod restore_into;
mod secrets;
mod spool;
