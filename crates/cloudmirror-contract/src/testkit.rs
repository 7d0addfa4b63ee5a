//! The contract suite: every case every adapter must pass, run against its fake (and live accounts).
//!
//! Each case is a public function taking a store and a fresh prefix; it cleans up after itself.
//! [`crate::contract_suite!`] expands the case list into one `#[tokio::test]` per case in an
//! adapter's tests, so a failure names its case; [`CASES`] lists them for table runners
//! (`cargo xtask contract`).
//!
//! ```ignore
//! async fn fixture() -> cloudmirror_contract::testkit::Fixture {
//!     let dir = tempfile::tempdir().unwrap();
//!     let store = LocalStore::new(LocalConfig::new(dir.path())).unwrap();
//!     Fixture::with_guard(store, dir)
//! }
//! cloudmirror_contract::contract_suite!(fixture);
//! ```

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};

use crate::{ByteStream, Error, ErrorKind, Prefix, Store};

mod cases;
pub use cases::*;

/// A store under test plus whatever must live as long as it (a fake server, a temp folder).
pub struct Fixture {
    /// The store under test.
    pub store: Arc<dyn Store>,
    /// Dropped after the case: stops servers, removes folders.
    pub guard: Box<dyn Any + Send + Sync>,
}

impl fmt::Debug for Fixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fixture")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Fixture {
    /// A fixture with nothing to keep alive.
    pub fn new(store: impl Store + 'static) -> Self {
        Self::with_guard(store, ())
    }

    /// A fixture that keeps `guard` alive as long as the store is tested.
    pub fn with_guard(store: impl Store + 'static, guard: impl Any + Send + Sync) -> Self {
        Self {
            store: Arc::new(store),
            guard: Box::new(guard),
        }
    }
}

/// One contract case: takes the store and a fresh prefix, panics on a broken promise.
pub type CaseFn = fn(Arc<dyn Store>, Prefix) -> BoxFuture<'static, ()>;

/// Lists every case by name: the single source of the case list.
#[doc(hidden)]
#[macro_export]
macro_rules! __contract_cases {
    ($callback:ident ! { $($args:tt)* }) => {
        $crate::$callback! { $($args)* ;
            round_trip,
            unknown_length,
            overwrite,
            nested_and_unicode_keys,
            empty_object,
            large_chunked,
            large_chunked_unknown_length,
            list_pages,
            list_prefix_filters,
            delete_idempotent,
            download_missing,
            concurrent_uploads,
            invisible_until_complete,
            failed_upload_leaves_nothing,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __contract_table {
    ( ; $($case:ident),* $(,)?) => {
        /// Every contract case by name, in the order they run.
        pub const CASES: &[(&str, $crate::testkit::CaseFn)] =
            &[ $( (stringify!($case), $crate::testkit::$case as $crate::testkit::CaseFn) ),* ];
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __contract_tests {
    ($factory:path ; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fixture = $factory().await;
                let prefix = $crate::testkit::unique_prefix();
                $crate::testkit::$case(fixture.store.clone(), prefix).await;
                drop(fixture);
            }
        )*
    };
}

/// Expands into one `#[tokio::test]` per contract case, each calling `$factory().await` for a
/// fresh [`Fixture`]. The calling crate needs `tokio` (macros, rt-multi-thread) as a dev-dependency.
#[macro_export]
macro_rules! contract_suite {
    ($factory:path) => {
        $crate::__contract_cases!(__contract_tests! { $factory });
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __contract_runner_tests {
    ($run:path ; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $run(stringify!($case)).await;
            }
        )*
    };
}

/// Like [`crate::contract_suite!`], but each generated test calls `$run(case_name).await`, for
/// fixtures that need per-case set-up or may skip (a real server that is not installed); `$run`
/// looks the case up in [`CASES`].
#[macro_export]
macro_rules! contract_cases_with {
    ($run:path) => {
        $crate::__contract_cases!(__contract_runner_tests! { $run });
    };
}

__contract_cases!(__contract_table! {});

/// Runs the contract case `name` against `store` in a task of its own, so a failed assertion still
/// lets `test` (the test's description) panic with `server_log()`: what a real server said.
pub async fn run_case_logged(
    test: &str,
    name: &str,
    store: Arc<dyn Store>,
    server_log: impl FnOnce() -> String,
) {
    let Some(&(_, case)) = CASES.iter().find(|(n, _)| *n == name) else {
        panic!("no contract case named {name}");
    };
    if let Err(e) = tokio::spawn(case(store, unique_prefix())).await {
        panic!("{test} failed: {e}\nserver log:\n{}", server_log());
    }
}

/// A fresh, unique prefix such as `contract-5f3a9c1e/`, so cases never see each other's objects.
pub fn unique_prefix() -> Prefix {
    let p = Prefix::parse(&format!("contract-{:016x}/", fastrand::u64(..)));
    p.unwrap_or_default()
}

/// Deterministic pseudo-random bytes (incompressible, like compressed backups).
pub fn data(seed: u64, len: usize) -> Bytes {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut v = vec![0u8; len];
    rng.fill(&mut v);
    Bytes::from(v)
}

/// A body that yields `data` in pieces of `piece` bytes.
pub fn body_in_pieces(data: &Bytes, piece: usize) -> ByteStream {
    let piece = piece.max(1);
    let parts: Vec<_> = (0..data.len())
        .step_by(piece)
        .map(|i| Ok(data.slice(i..(i + piece).min(data.len()))))
        .collect();
    stream::iter(parts).boxed()
}

/// The error a dying backup source (say `pg_dump`) puts into its body stream.
pub fn source_failure() -> Error {
    Error::new(ErrorKind::Other, "source", "the backup source failed")
}

/// A body that yields `head`, then fails with [`source_failure`].
pub fn failing_body(head: Bytes) -> ByteStream {
    stream::iter(vec![Ok(head), Err(source_failure())]).boxed()
}

/// The files (not folders) under `dir` on disk, as `/`-separated relative paths, sorted: what a
/// real server's folder holds, for tests of temporary names and atomic renames.
pub fn files_on_disk(dir: &std::path::Path) -> Vec<String> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if let Ok(rel) = p.strip_prefix(root) {
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
