//! Stateful fakes of each provider's HTTP API, built on wiremock and listening on 127.0.0.1 only.
//!
//! Each module starts one fake server that keeps objects in memory and enforces what the real API
//! enforces (auth headers, size limits, offsets, token expiry), so the adapters' contract tests
//! prove something. Fakes stop when their handle is dropped.

pub mod dropbox;
pub mod gdrive;
pub mod outage;
pub mod s3;
pub mod supabase;
