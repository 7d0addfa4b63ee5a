//! End-to-end tests of the `cloudmirror` binary: each runs the built command in a scratch folder.

mod common;

mod backup_restore;
mod bad_input;
mod memory;
