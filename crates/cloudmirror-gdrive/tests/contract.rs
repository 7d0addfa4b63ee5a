//! The contract suite against the Drive fake (small chunks and pages, fast retries).

use cloudmirror_contract::testkit::Fixture;
use cloudmirror_contract::{ByteSize, RetryPolicy};
use cloudmirror_fakes::gdrive::FakeGdrive;
use cloudmirror_gdrive::{GdriveConfig, GdriveStore};
use secrecy::SecretString;

async fn fixture() -> Fixture {
    let fake = FakeGdrive::start().await;
    let config = GdriveConfig {
        folder_id: fake.folder_id(),
        // The fake's folder is in a shared drive, where users must put it (service accounts own
        // no files elsewhere).
        shared_drive_id: fake.shared_drive_id(),
        service_account_json: Some(SecretString::from(fake.service_account_json())),
        api_url: Some(fake.uri()),
        chunk_size: Some(ByteSize(256 * 1024)),
        list_page_size: Some(5),
        ..GdriveConfig::default()
    };
    let store = GdriveStore::new(config)
        .await
        .expect("store")
        .with_retry_policy(RetryPolicy::fast());
    Fixture::with_guard(store, fake)
}

cloudmirror_contract::contract_suite!(fixture);
