//! The contract suite against the Supabase Storage fake (small TUS chunks, small list pages).

use cloudmirror_contract::testkit::Fixture;
use cloudmirror_contract::{ByteSize, RetryPolicy};
use cloudmirror_fakes::supabase::{FakeSupabase, FakeSupabaseOptions};
use cloudmirror_supabase::{SupabaseConfig, SupabaseStore};

/// Chunk size of the fixture: the fake enforces it like the platform enforces 6 MiB.
const CHUNK: u64 = 256 * 1024;

async fn fixture() -> Fixture {
    let fake = FakeSupabase::start_with(FakeSupabaseOptions {
        tus_chunk_size: CHUNK,
        ..FakeSupabaseOptions::default()
    })
    .await;
    let mut config = SupabaseConfig::new(fake.uri(), fake.service_role_key().into(), "backups");
    config.chunk_size = Some(ByteSize(CHUNK));
    config.list_page_size = Some(5);
    let store = SupabaseStore::new(config)
        .await
        .expect("store")
        .with_retry_policy(RetryPolicy::fast());
    Fixture::with_guard(store, fake)
}

cloudmirror_contract::contract_suite!(fixture);
