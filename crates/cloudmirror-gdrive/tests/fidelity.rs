//! Drive rules from the official references, each enforced by the fake: permanent deletes in a
//! shared drive need the Manager role, service accounts own no files outside shared drives, the
//! 750 GB daily upload cap, and a 20 s outage in the middle of a resumable upload.

// Reason: test helpers outside #[test] fns; a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cloudmirror_contract::testkit::{body_in_pieces, data};
use cloudmirror_contract::{ByteSize, ErrorKind, Key, Prefix, RetryPolicy, Store, StoreExt};
use cloudmirror_fakes::gdrive::{FakeGdrive, FakeGdriveOptions, RequestKind, SharedDriveRole};
use cloudmirror_gdrive::{GdriveConfig, GdriveStore};
use secrecy::SecretString;

const CHUNK: usize = 256 * 1024;

fn config(fake: &FakeGdrive) -> GdriveConfig {
    GdriveConfig {
        folder_id: fake.folder_id(),
        shared_drive_id: fake.shared_drive_id(),
        service_account_json: Some(SecretString::from(fake.service_account_json())),
        api_url: Some(fake.uri()),
        chunk_size: Some(ByteSize(CHUNK as u64)),
        ..GdriveConfig::default()
    }
}

async fn store_with(config: GdriveConfig, policy: RetryPolicy) -> GdriveStore {
    GdriveStore::new(config)
        .await
        .unwrap()
        .with_retry_policy(policy)
}

fn key(k: &str) -> Key {
    Key::parse(k).unwrap()
}

async fn upload(s: &GdriveStore, k: &str, d: &Bytes) -> cloudmirror_contract::Result<()> {
    s.upload(&key(k), body_in_pieces(d, 100_000), None)
        .await
        .map(|_| ())
}

/// Log lines the adapter emits while the guard lives (current-thread tests only).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let logs = self.clone();
        let sub = tracing_subscriber::fmt()
            .with_writer(move || logs.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .finish();
        tracing::subscriber::set_default(sub)
    }

    fn lines_with(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }
}

async fn fake_with_role(role: SharedDriveRole) -> FakeGdrive {
    FakeGdrive::start_with(FakeGdriveOptions {
        shared_drive_role: role,
        ..FakeGdriveOptions::default()
    })
    .await
}

#[tokio::test]
async fn a_content_manager_s_deletes_go_to_the_trash_with_one_warning() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let fake = fake_with_role(SharedDriveRole::FileOrganizer).await;
    let s = store_with(config(&fake), RetryPolicy::fast()).await;
    for k in ["daily/a.bin", "daily/b.bin", "daily/c.bin"] {
        upload(&s, k, &data(3, 1000)).await.unwrap();
    }
    // Retention deletes two backups; a third delete of a name already gone is a no-op.
    s.delete(&key("daily/a.bin")).await.unwrap();
    s.delete(&key("daily/b.bin")).await.unwrap();
    s.delete(&key("daily/a.bin")).await.unwrap();
    assert_eq!(fake.object_keys(), ["daily/c.bin"]);
    assert_eq!(fake.trashed_keys(), ["daily/a.bin", "daily/b.bin"]);
    let listed = s.list_all(&Prefix::parse("daily/").unwrap()).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(s.download_bytes(&key("daily/a.bin")).await.is_err());
    assert_eq!(logs.lines_with("Manager role"), 1, "one warning per store");
    assert_eq!(logs.lines_with("30 days"), 1);
}

#[tokio::test]
async fn a_manager_deletes_permanently_and_a_contributor_is_told_to_become_one() {
    let fake = fake_with_role(SharedDriveRole::Organizer).await;
    let s = store_with(config(&fake), RetryPolicy::fast()).await;
    upload(&s, "x.bin", &data(1, 10)).await.unwrap();
    s.delete(&key("x.bin")).await.unwrap();
    assert!(fake.object_keys().is_empty());
    assert!(fake.trashed_keys().is_empty(), "deleted, not trashed");
    assert_eq!(fake.request_count(RequestKind::Update), 0);

    let fake = fake_with_role(SharedDriveRole::Writer).await;
    let s = store_with(config(&fake), RetryPolicy::fast()).await;
    upload(&s, "x.bin", &data(1, 10)).await.unwrap();
    let err = s.delete(&key("x.bin")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.to_string().contains("Manager role"), "{err}");
    assert_eq!(fake.object_keys(), ["x.bin"]);
}

#[tokio::test]
async fn a_service_account_cannot_upload_into_a_my_drive_folder() {
    let fake = FakeGdrive::start_with(FakeGdriveOptions {
        shared_drive_id: None,
        ..FakeGdriveOptions::default()
    })
    .await;
    let s = store_with(config(&fake), RetryPolicy::fast()).await;
    for len in [10, 3 * CHUNK] {
        let err = upload(&s, "q/x.bin", &data(7, len)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::QuotaExceeded, "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("Service Accounts do not have storage quota"),
            "{msg}"
        );
        assert!(
            msg.contains("shared drive") && msg.contains("shared_drive_id"),
            "{msg}"
        );
    }
    assert!(fake.object_keys().is_empty());
    // Domain-wide delegation acts as a Workspace user, who owns what it uploads.
    let delegated = store_with(
        GdriveConfig {
            subject: Some("backup@example.com".into()),
            ..config(&fake)
        },
        RetryPolicy::fast(),
    )
    .await;
    upload(&delegated, "q/x.bin", &data(7, 10)).await.unwrap();
    assert_eq!(fake.object_keys(), ["q/x.bin"]);
}

#[tokio::test]
async fn the_daily_upload_cap_ends_the_retries_early_and_names_the_cap() {
    let fake = FakeGdrive::start_with(FakeGdriveOptions {
        daily_upload_cap: 3 * CHUNK as u64,
        ..FakeGdriveOptions::default()
    })
    .await;
    // A budget the cap must not use up: concluded after half of it (2 s of refusals).
    let policy = RetryPolicy {
        budget: Duration::from_secs(4),
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
        ..RetryPolicy::default()
    };
    let s = store_with(config(&fake), policy).await;
    // The upload that crosses the cap completes ("uploads that are in progress will complete").
    upload(&s, "big.bin", &data(5, 4 * CHUNK)).await.unwrap();
    for name in ["next.bin", "small.bin"] {
        let len = if name == "next.bin" { 2 * CHUNK } else { 10 };
        let err = upload(&s, name, &data(6, len)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::QuotaExceeded, "{err}");
        assert!(err.to_string().contains("750 GB a day"), "{err}");
        assert!(err.to_string().contains("userRateLimitExceeded"), "{err}");
    }
    assert_eq!(fake.object_keys(), ["big.bin"]);
    assert_eq!(fake.open_sessions(), 0);
}

#[tokio::test]
async fn a_20_second_outage_mid_upload_resumes_where_the_session_stopped() {
    let fake = FakeGdrive::start().await;
    let policy = RetryPolicy {
        budget: Duration::from_secs(90),
        max_delay: Duration::from_secs(2),
        ..RetryPolicy::default()
    };
    let s = store_with(config(&fake), policy).await;
    let body = data(20, 12 * CHUNK + 777);
    // Token, files.list, the session start and two chunks go through; then Drive is down 20 s.
    fake.outage_after(5, Duration::from_secs(20));
    let started = std::time::Instant::now();
    upload(&s, "outage.bin", &body).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(20));
    assert!(fake.outage_refusals() >= 5, "{}", fake.outage_refusals());
    assert_eq!(fake.object("outage.bin").unwrap(), body.to_vec());
    assert_eq!(
        fake.request_count(RequestKind::Upload),
        1,
        "the session was not restarted"
    );
    assert_eq!(
        fake.bytes_received(),
        body.len() as u64,
        "every byte reached Drive once: the upload resumed at the session's Range"
    );
}
