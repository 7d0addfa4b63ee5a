//! Drive-specific behaviour against the fake: resumes, duplicates, tokens, keys, quota, shared drives.

// Reason: test helpers outside #[test] fns; a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use bytes::Bytes;
use cloudmirror_contract::testkit::{body_in_pieces, data};
use cloudmirror_contract::{
    ByteSize, ByteStream, Checksum, Digests, Error, ErrorKind, Key, Prefix, RetryPolicy, Store,
    StoreExt,
};
use cloudmirror_fakes::gdrive::{FakeGdrive, FakeGdriveOptions, RequestKind};
use cloudmirror_gdrive::{GdriveConfig, GdriveStore};
use futures::StreamExt;
use secrecy::SecretString;

const CHUNK: usize = 256 * 1024;

fn config(fake: &FakeGdrive) -> GdriveConfig {
    GdriveConfig {
        folder_id: fake.folder_id(),
        shared_drive_id: fake.shared_drive_id(),
        service_account_json: Some(SecretString::from(fake.service_account_json())),
        api_url: Some(fake.uri()),
        chunk_size: Some(ByteSize(CHUNK as u64)),
        list_page_size: Some(3),
        ..GdriveConfig::default()
    }
}

async fn store(fake: &FakeGdrive) -> GdriveStore {
    GdriveStore::new(config(fake))
        .await
        .unwrap()
        .with_retry_policy(RetryPolicy::fast())
}

fn key(k: &str) -> Key {
    Key::parse(k).unwrap()
}

async fn upload(s: &GdriveStore, k: &str, d: &Bytes) -> cloudmirror_contract::ObjectMeta {
    s.upload(&key(k), body_in_pieces(d, 100_000), None)
        .await
        .unwrap()
}

#[tokio::test]
async fn resumes_after_lost_and_half_stored_chunks() {
    let fake = FakeGdrive::start().await;
    let s = store(&fake).await;
    let d = data(1, 4 * CHUNK + 123);
    // The first chunk is lost with a 503 (status probe, then resend).
    fake.fail_next_chunks(1, 503, false);
    let meta = upload(&s, "a/resume.bin", &d).await;
    assert_eq!(meta.size, d.len() as u64);
    assert_eq!(fake.object("a/resume.bin").unwrap(), d);

    // Two chunks in a row are half stored before a 500.
    fake.fail_next_chunks(2, 500, true);
    let d2 = data(2, 3 * CHUNK + 7);
    upload(&s, "a/resume2.bin", &d2).await;
    assert_eq!(fake.object("a/resume2.bin").unwrap(), d2);
    assert_eq!(fake.copies("a/resume2.bin"), 1);
    assert_eq!(fake.open_sessions(), 0);
    assert!(
        fake.request_count(RequestKind::Chunk) > 4 + 4,
        "status probes were sent"
    );
}

#[tokio::test]
async fn resumes_when_the_server_stores_less_than_sent() {
    let fake = FakeGdrive::start().await;
    let s = GdriveStore::new(GdriveConfig {
        chunk_size: Some(ByteSize(4 * CHUNK as u64)),
        ..config(&fake)
    })
    .await
    .unwrap()
    .with_retry_policy(RetryPolicy::fast());
    fake.short_write_next_chunks(2);
    let d = data(3, 9 * CHUNK + 1);
    let meta = upload(&s, "short.bin", &d).await;
    assert_eq!(meta.checksum, Some(Checksum::Md5(Digests::of(&d).md5)));
    assert_eq!(fake.object("short.bin").unwrap(), d);
}

#[tokio::test]
async fn random_short_writes_still_land_intact() {
    let fake = FakeGdrive::start_with(FakeGdriveOptions {
        random_short_writes: true,
        ..FakeGdriveOptions::default()
    })
    .await;
    let s = GdriveStore::new(GdriveConfig {
        chunk_size: Some(ByteSize(4 * CHUNK as u64)),
        ..config(&fake)
    })
    .await
    .unwrap()
    .with_retry_policy(RetryPolicy {
        max_attempts: 20,
        ..RetryPolicy::fast()
    });
    for i in 0..3u64 {
        let d = data(10 + i, 6 * CHUNK + i as usize * 1000);
        upload(&s, &format!("r/{i}.bin"), &d).await;
        assert_eq!(fake.object(&format!("r/{i}.bin")).unwrap(), d);
    }
}

#[tokio::test]
async fn duplicate_names_are_updated_listed_once_and_deleted_together() {
    let fake = FakeGdrive::start().await;
    let s = store(&fake).await;
    fake.insert_file("dup/x.bin", b"older twin");
    fake.insert_file("dup/x.bin", b"newer twin");
    assert_eq!(fake.copies("dup/x.bin"), 2);
    assert_eq!(
        s.download_bytes(&key("dup/x.bin")).await.unwrap(),
        "newer twin"
    );

    let small = Bytes::from_static(b"new content");
    upload(&s, "dup/x.bin", &small).await;
    assert_eq!(
        fake.copies("dup/x.bin"),
        2,
        "updated in place, no third copy"
    );
    let list = s.list_all(&Prefix::parse("dup/").unwrap()).await.unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].size, small.len() as u64);
    assert_eq!(s.download_bytes(&key("dup/x.bin")).await.unwrap(), small);

    // The chunked path also updates instead of creating.
    let large = data(5, 2 * CHUNK + 1);
    upload(&s, "dup/x.bin", &large).await;
    assert_eq!(fake.copies("dup/x.bin"), 2);
    assert_eq!(s.download_bytes(&key("dup/x.bin")).await.unwrap(), large);

    s.delete(&key("dup/x.bin")).await.unwrap();
    assert_eq!(
        fake.copies("dup/x.bin"),
        0,
        "every copy deleted, permanently"
    );
    assert!(fake.object_keys().is_empty());
}

#[tokio::test]
async fn trashed_files_are_invisible() {
    let fake = FakeGdrive::start().await;
    let s = store(&fake).await;
    fake.insert_file("tr/x.bin", b"live");
    let newer = fake.insert_file("tr/x.bin", b"trashed");
    fake.trash(&newer);
    let gone = fake.insert_file("tr/only-trashed.bin", b"t");
    fake.trash(&gone);
    assert_eq!(s.download_bytes(&key("tr/x.bin")).await.unwrap(), "live");
    let list = s.list_all(&Prefix::parse("tr/").unwrap()).await.unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    let err = s.download(&key("tr/only-trashed.bin")).await.err().unwrap();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn names_with_quotes_and_backslash_like_characters_round_trip() {
    let fake = FakeGdrive::start().await;
    let s = store(&fake).await;
    let d = Bytes::from_static(b"q");
    for k in ["it's/o'neil's \"x\".txt", "and = 'x' or/trashed = true"] {
        upload(&s, k, &d).await;
        assert_eq!(s.download_bytes(&key(k)).await.unwrap(), d);
    }
    assert_eq!(fake.object_keys().len(), 2);
}

#[tokio::test]
async fn expired_token_mid_upload_is_refreshed() {
    let fake = Arc::new(FakeGdrive::start().await);
    let s = store(&fake).await;
    let d = data(6, 3 * CHUNK + 5);
    let f2 = fake.clone();
    let pieces: Vec<Bytes> = d.chunks(CHUNK).map(Bytes::copy_from_slice).collect();
    // Tokens expire on the server once two chunks went out (the reader looks one piece ahead).
    let body: ByteStream = futures::stream::iter(pieces.into_iter().enumerate())
        .map(move |(i, p)| {
            if i == 3 {
                f2.expire_tokens();
            }
            Ok(p)
        })
        .boxed();
    s.upload(&key("t/expiry.bin"), body, None).await.unwrap();
    assert_eq!(fake.object("t/expiry.bin").unwrap(), d);
    assert_eq!(
        fake.request_count(RequestKind::Token),
        2,
        "one token, then one refresh"
    );
    // Later metadata calls work with the fresh token too.
    assert_eq!(s.list_all(&Prefix::root()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn malformed_key_json_is_invalid_input_without_echoing_it() {
    let fake = FakeGdrive::start().await;
    let secret_bit = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC";
    for bad in [
        format!("{{\"private_key\": \"{secret_bit}\", "),
        format!("{{\"type\": \"service_account\", \"private_key\": \"-----BEGIN PRIVATE KEY-----\\n{secret_bit}\\n-----END PRIVATE KEY-----\\n\", \"client_email\": \"a@b\", \"token_uri\": \"{}/token\"}}", fake.uri()),
        format!("{{\"private_key\": 42, \"client_email\": \"{secret_bit}\"}}"),
    ] {
        let err = GdriveStore::new(GdriveConfig {
            service_account_json: Some(SecretString::from(bad)),
            ..config(&fake)
        })
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("service_account_json"), "{shown}");
        assert!(!shown.contains(secret_bit), "{shown}");
    }
    // The same through a key file names the other setting.
    let dir = std::env::temp_dir().join(format!("cm-gdrive-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sa.json");
    std::fs::write(&path, format!("{{\"private_key\": \"{secret_bit}\"")).unwrap();
    let err = GdriveStore::new(GdriveConfig {
        service_account_json: None,
        service_account_key: Some(path.clone()),
        ..config(&fake)
    })
    .await
    .unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("service_account_key"), "{err}");
    assert!(!err.to_string().contains(secret_bit), "{err}");
}

#[tokio::test]
async fn storage_quota_exceeded_is_reported_with_the_service_account_hint() {
    let fake = FakeGdrive::start().await;
    let s = store(&fake).await;
    fake.set_quota_exceeded(true);
    for len in [10, 3 * CHUNK] {
        let err = s
            .upload(&key("q/x.bin"), body_in_pieces(&data(7, len), 4096), None)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::QuotaExceeded, "{err}");
        assert!(err.to_string().contains("shared drive"), "{err}");
        assert!(err.to_string().contains("delegation"), "{err}");
    }
    assert!(fake.object_keys().is_empty());
}

#[tokio::test]
async fn chunk_size_must_be_a_multiple_of_256_kib() {
    let fake = FakeGdrive::start().await;
    let err = GdriveStore::new(GdriveConfig {
        chunk_size: Some(ByteSize(1024 * 1024 + 1)),
        ..config(&fake)
    })
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("chunk_size"), "{err}");
    let ok = GdriveStore::new(GdriveConfig {
        chunk_size: Some(ByteSize(512 * 1024)),
        ..config(&fake)
    })
    .await
    .unwrap();
    assert_eq!(ok.capabilities().chunk_size, Some(512 * 1024));
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried() {
    let fake = FakeGdrive::start().await;
    let s = store(&fake).await;
    fake.fail_next(RequestKind::List, 2, 403);
    fake.fail_next(RequestKind::Upload, 1, 429);
    fake.fail_next(RequestKind::Create, 1, 503);
    let d = Bytes::from_static(b"rate limited");
    upload(&s, "rl/a.txt", &d).await;
    fake.fail_next(RequestKind::Download, 2, 500);
    assert_eq!(s.download_bytes(&key("rl/a.txt")).await.unwrap(), d);
    fake.fail_next(RequestKind::Delete, 1, 503);
    s.delete(&key("rl/a.txt")).await.unwrap();
    assert!(fake.object_keys().is_empty());
    // A permanent rate limit ends as RateLimited once attempts run out.
    fake.fail_next(RequestKind::List, 50, 429);
    let err = s.download(&key("rl/a.txt")).await.err().unwrap();
    assert!(matches!(err.kind(), ErrorKind::RateLimited { .. }), "{err}");
}

#[tokio::test]
async fn failed_body_cancels_the_session_and_keeps_the_old_file() {
    let fake = FakeGdrive::start().await;
    let s = store(&fake).await;
    let old = Bytes::from_static(b"old");
    upload(&s, "keep.bin", &old).await;
    let body: ByteStream = futures::stream::iter(vec![
        Ok(data(8, 2 * CHUNK)),
        Err(Error::new(ErrorKind::Other, "source", "died")),
    ])
    .boxed();
    let err = s.upload(&key("keep.bin"), body, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other);
    assert_eq!(fake.object("keep.bin").unwrap(), old);
    assert_eq!(fake.open_sessions(), 0, "the session was cancelled");
}

#[tokio::test]
async fn delegation_subject_is_sent_and_a_refusal_is_unauthorized() {
    let fake = FakeGdrive::start().await;
    let s = GdriveStore::new(GdriveConfig {
        subject: Some("backup@acme.example".into()),
        ..config(&fake)
    })
    .await
    .unwrap()
    .with_retry_policy(RetryPolicy::fast());
    assert!(s.list_all(&Prefix::root()).await.unwrap().is_empty());
    assert_eq!(fake.last_subject().as_deref(), Some("backup@acme.example"));

    let strict = FakeGdrive::start_with(FakeGdriveOptions {
        allow_delegation: false,
        ..FakeGdriveOptions::default()
    })
    .await;
    let s = GdriveStore::new(GdriveConfig {
        subject: Some("backup@acme.example".into()),
        ..config(&strict)
    })
    .await
    .unwrap()
    .with_retry_policy(RetryPolicy::fast());
    let err = s.list_all(&Prefix::root()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.to_string().contains("domain-wide delegation"), "{err}");
}

#[tokio::test]
async fn shared_drive_mode_round_trips() {
    let fake = FakeGdrive::start_with(FakeGdriveOptions {
        shared_drive_id: Some("0AFakeSharedDrive".into()),
        ..FakeGdriveOptions::default()
    })
    .await;
    let s = GdriveStore::new(GdriveConfig {
        shared_drive_id: Some("0AFakeSharedDrive".into()),
        ..config(&fake)
    })
    .await
    .unwrap()
    .with_retry_policy(RetryPolicy::fast());
    let d = data(9, 2 * CHUNK + 3);
    upload(&s, "sd/a.bin", &d).await;
    upload(&s, "sd/b.txt", &Bytes::from_static(b"b")).await;
    let list = s.list_all(&Prefix::parse("sd/").unwrap()).await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(s.download_bytes(&key("sd/a.bin")).await.unwrap(), d);
    s.delete(&key("sd/a.bin")).await.unwrap();
    assert_eq!(fake.object_keys(), ["sd/b.txt"]);
}

#[tokio::test]
async fn destination_toml_configures_a_working_store() {
    let fake = FakeGdrive::start().await;
    let doc: toml::Table = toml::from_str(&fake.destination_toml("drive")).unwrap();
    let mut table = doc["destinations"].as_array().unwrap()[0]
        .as_table()
        .unwrap()
        .clone();
    assert_eq!(table.remove("name").unwrap().as_str(), Some("drive"));
    assert_eq!(table.remove("type").unwrap().as_str(), Some("gdrive"));
    let config: GdriveConfig = table.try_into().unwrap();
    let s = GdriveStore::new(config).await.unwrap();
    s.upload_bytes(&key("hello.txt"), Bytes::from_static(b"hi"))
        .await
        .unwrap();
    assert_eq!(fake.object("hello.txt").unwrap(), b"hi");
}

#[tokio::test]
async fn concurrent_uploads_into_a_new_folder_create_it_once() {
    let fake = FakeGdrive::start().await;
    let s = store(&fake).await;
    let uploads = (0..8).map(|i| {
        let s = &s;
        async move {
            s.upload_bytes(
                &key(&format!("new/deep/{i}.txt")),
                Bytes::from(vec![b'x'; i]),
            )
            .await
            .unwrap();
        }
    });
    futures::future::join_all(uploads).await;
    assert_eq!(fake.folder_count(), 2, "new/ and new/deep/ once each");
    assert_eq!(
        s.list_all(&Prefix::parse("new/").unwrap())
            .await
            .unwrap()
            .len(),
        8
    );
}
