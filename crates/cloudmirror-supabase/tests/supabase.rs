//! Supabase-specific behaviour against the fake: TUS resume, auth, settings, limits, buckets.

use bytes::Bytes;
use cloudmirror_contract::testkit::{body_in_pieces, data, failing_body};
use cloudmirror_contract::{ByteSize, ErrorKind, Key, Prefix, RetryPolicy, Store, StoreExt};
use cloudmirror_fakes::supabase::{test_jwt, FakeSupabase, FakeSupabaseOptions, RequestCounts};
use cloudmirror_supabase::{SupabaseConfig, SupabaseStore};
use serde::Deserialize as _;

const MIB: usize = 1024 * 1024;

fn config(fake: &FakeSupabase) -> SupabaseConfig {
    SupabaseConfig::new(fake.uri(), fake.service_role_key().into(), "backups")
}

async fn store(config: SupabaseConfig) -> SupabaseStore {
    SupabaseStore::new(config)
        .await
        .expect("store")
        .with_retry_policy(RetryPolicy::fast())
}

fn key(k: &str) -> Key {
    Key::parse(k).expect("valid key")
}

/// A 20 MiB body at the platform's 6 MiB chunks; one PATCH stores half its chunk then fails.
#[tokio::test]
async fn large_tus_upload_resumes_after_an_interrupted_chunk() {
    let fake = FakeSupabase::start().await;
    let store = store(config(&fake)).await;
    assert_eq!(store.capabilities().chunk_size, Some(6 * MIB as u64));
    let d = data(1, 20 * MIB + 123);
    let k = key("big/known.bin");

    fake.fail_next_patch_after_storing();
    let meta = store
        .upload(&k, body_in_pieces(&d, 1_000_003), Some(d.len() as u64))
        .await
        .expect("upload");
    assert_eq!(meta.size, d.len() as u64);
    assert!(fake.object("backups", "big/known.bin").unwrap() == d.as_ref());
    let c = fake.counts();
    assert_eq!((c.standard_uploads, c.tus_creates), (0, 1), "{c:?}");
    // 4 chunks, plus the rest of the interrupted one, after one HEAD.
    assert_eq!((c.tus_patches, c.tus_heads), (5, 1), "{c:?}");
    assert_eq!(fake.pending_uploads(), 0);
    assert!(store.download_bytes(&k).await.unwrap() == d);
}

/// Unknown length (deferred `Upload-Length`), the connection dropped mid-PATCH, then a 503.
#[tokio::test]
async fn deferred_length_upload_survives_a_dropped_connection() {
    let fake = FakeSupabase::start().await;
    let store = store(config(&fake)).await;
    let d = data(2, 13 * MIB + 7);
    let k = key("big/stream.bin");
    fake.drop_next_patch_after_storing();
    fake.fail_next_patches(1, 503);
    store
        .upload(&k, body_in_pieces(&d, 65_536), None)
        .await
        .expect("upload");
    assert!(fake.object("backups", "big/stream.bin").unwrap() == d.as_ref());
    let c = fake.counts();
    assert_eq!(c.tus_creates, 1, "{c:?}");
    assert!(c.tus_heads >= 1, "{c:?}");
    assert_eq!(fake.pending_uploads(), 0);
}

/// A body that fails after a chunk went out: the TUS upload is terminated, nothing appears.
#[tokio::test]
async fn failed_body_terminates_the_tus_upload() {
    let fake = FakeSupabase::start().await;
    let store = store(config(&fake)).await;
    let old = Bytes::from_static(b"old version");
    let k = key("keep.bin");
    store.upload_bytes(&k, old.clone()).await.unwrap();
    let body = failing_body(data(3, 7 * MIB));
    let err = store.upload(&k, body, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other);
    let c = fake.counts();
    assert_eq!(
        (c.tus_creates, c.tus_patches, c.tus_deletes),
        (1, 1, 1),
        "{c:?}"
    );
    assert_eq!(fake.pending_uploads(), 0);
    assert_eq!(store.download_bytes(&k).await.unwrap(), old);
}

#[tokio::test]
async fn small_bodies_use_one_standard_upload() {
    let fake = FakeSupabase::start().await;
    let store = store(config(&fake)).await;
    store
        .upload_bytes(&key("a.txt"), "hello".into())
        .await
        .unwrap();
    store
        .upload(&key("b.txt"), body_in_pieces(&data(4, 5000), 100), None)
        .await
        .unwrap();
    let c = fake.counts();
    assert_eq!((c.standard_uploads, c.tus_creates), (2, 0), "{c:?}");
}

#[tokio::test]
async fn keys_outside_the_servers_alphabet_are_escaped() {
    let fake = FakeSupabase::start().await;
    let store = store(config(&fake)).await;
    for k in ["daily/db 1 (copy).sql.gz", "Résumé/100%.txt", "a*b"] {
        store.upload_bytes(&key(k), "x".into()).await.unwrap();
    }
    assert_eq!(
        fake.object_keys("backups"),
        [
            "R*C3*A9sum*C3*A9/100*25.txt",
            "a*2Ab",
            "daily/db 1 (copy).sql.gz"
        ]
    );
    let listed: Vec<String> = store
        .list_all(&Prefix::root())
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.key.to_string())
        .collect();
    assert_eq!(
        listed,
        ["Résumé/100%.txt", "a*b", "daily/db 1 (copy).sql.gz"]
    );
}

#[tokio::test]
async fn transient_failures_and_rate_limits_are_retried() {
    let fake = FakeSupabase::start().await;
    let store = store(config(&fake)).await;
    let k = key("retry.txt");
    fake.fail_next_requests(2, 503);
    store.upload_bytes(&k, "one".into()).await.unwrap();
    fake.fail_next_requests(1, 429);
    fake.fail_next_requests(1, 500);
    assert_eq!(store.download_bytes(&k).await.unwrap(), "one");
    fake.fail_next_requests(2, 500);
    assert_eq!(store.list_all(&Prefix::root()).await.unwrap().len(), 1);
    fake.fail_next_requests(1, 503);
    store.delete(&k).await.unwrap();
    assert!(fake.object_keys("backups").is_empty());
}

#[tokio::test]
async fn wrong_key_is_unauthorized_naming_service_role_key() {
    let fake = FakeSupabase::start().await;
    let mut c = config(&fake);
    c.service_role_key = format!("{}x", fake.service_role_key()).into();
    let err = SupabaseStore::new(c).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.message().contains("service_role_key"), "{err}");

    // A key rotated while the store runs: refused at once, not retried.
    let store = store(config(&fake)).await;
    let old = fake.service_role_key();
    fake.rotate_service_key(&format!("{old}-rotated"));
    let before = fake.counts().unauthorized;
    let err = store.upload_bytes(&key("x"), "x".into()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.message().contains("service_role_key"), "{err}");
    assert!(!err.to_string().contains(&old));
    assert_eq!(fake.counts().unauthorized, before + 1);
}

#[tokio::test]
async fn anon_key_and_url_without_project_ref_are_invalid_input() {
    let fake = FakeSupabase::start().await;
    let mut c = config(&fake);
    c.service_role_key = test_jwt("anon").into();
    let err = SupabaseStore::new(c).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.message().contains("service_role_key"), "{err}");

    for url in ["https://supabase.co", "https://.supabase.co"] {
        let c = SupabaseConfig::new(url, test_jwt("service_role").into(), "backups");
        let err = SupabaseStore::new(c).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{url}");
        assert!(err.message().contains("url has no project ref"), "{err}");
    }
    assert_eq!(fake.counts(), RequestCounts::default(), "nothing was sent");
}

#[tokio::test]
async fn new_style_secret_key_goes_in_apikey_only() {
    let fake = FakeSupabase::start_with(FakeSupabaseOptions {
        service_role_key: "sb_secret_fake0123456789".to_owned(),
        ..FakeSupabaseOptions::default()
    })
    .await;
    let store = store(config(&fake)).await;
    store.upload_bytes(&key("s.txt"), "s".into()).await.unwrap();
    assert_eq!(fake.counts().unauthorized, 0);
}

/// Over the file size limit: the standard upload's 413 (as `"statusCode": "413"`) and TUS's
/// plain 413 are both `QuotaExceeded` with a message saying which limit to raise. Switching to
/// TUS would not help: the same limit applies to both.
#[tokio::test]
async fn file_size_limit_is_quota_exceeded() {
    let fake = FakeSupabase::start_with(FakeSupabaseOptions {
        file_size_limit: 100 * 1024,
        tus_chunk_size: 64 * 1024,
        ..FakeSupabaseOptions::default()
    })
    .await;
    let mut c = config(&fake);
    c.chunk_size = Some(ByteSize(256 * 1024));
    let store = store(c).await;
    let err = store
        .upload_bytes(&key("standard.bin"), data(5, 150 * 1024))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QuotaExceeded, "{err}");
    assert!(err.message().contains("file size limit"), "{err}");

    let mut c = config(&fake);
    c.chunk_size = Some(ByteSize(64 * 1024));
    let store = store_fast(c).await;
    let d = data(6, 300 * 1024);
    let err = store
        .upload_bytes(&key("known.bin"), d.clone())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QuotaExceeded, "{err}");
    let err = store
        .upload(&key("stream.bin"), body_in_pieces(&d, 10_000), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QuotaExceeded, "{err}");
    assert_eq!(fake.pending_uploads(), 0);
    assert!(fake.object_keys("backups").is_empty());
}

async fn store_fast(c: SupabaseConfig) -> SupabaseStore {
    store(c).await
}

#[tokio::test]
async fn missing_bucket_is_not_found_unless_create_bucket() {
    let fake = FakeSupabase::start_with(FakeSupabaseOptions {
        buckets: vec![],
        ..FakeSupabaseOptions::default()
    })
    .await;
    let err = SupabaseStore::new(config(&fake)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(
        err.message().contains("bucket") && err.message().contains("create_bucket"),
        "{err}"
    );
    assert!(!fake.has_bucket("backups"));

    let mut c = config(&fake);
    c.create_bucket = true;
    let s = store(c.clone()).await;
    assert_eq!(fake.bucket_is_public("backups"), Some(false));
    s.upload_bytes(&key("x.txt"), "x".into()).await.unwrap();
    let _again = store(c).await;
    assert_eq!(fake.counts().bucket_creates, 1);
    assert_eq!(fake.object_keys("backups"), ["x.txt"]);
}

/// The fake's `[[destinations]]` table, minus what the orchestrator strips, is a valid config
/// (`deny_unknown_fields`) that reaches the fake.
#[tokio::test]
async fn destination_toml_is_a_working_config() {
    #[derive(serde::Deserialize)]
    struct File {
        destinations: Vec<toml::Table>,
    }
    let fake = FakeSupabase::start().await;
    let file: File = toml::from_str(&fake.destination_toml("sb")).expect("toml");
    let mut table = file
        .destinations
        .into_iter()
        .next()
        .expect("one destination");
    let mut take = |k: &str| table.remove(k).and_then(|v| v.as_str().map(str::to_owned));
    assert_eq!(take("name").as_deref(), Some("sb"));
    assert_eq!(take("type").as_deref(), Some("supabase"));
    let config: SupabaseConfig = table.try_into().expect("a valid supabase config");
    let s = store(config).await;
    s.upload_bytes(&key("t.txt"), "t".into())
        .await
        .expect("upload");
    assert_eq!(fake.object_keys("backups"), ["t.txt"]);

    let mut bad = toml::Table::new();
    bad.insert("url".into(), fake.uri().into());
    bad.insert("service_role_key".into(), "k".into());
    bad.insert("bucket".into(), "b".into());
    bad.insert("chunk_sise".into(), "6MiB".into());
    let err = SupabaseConfig::deserialize(bad).expect_err("unknown key refused");
    assert!(err.to_string().contains("chunk_sise"), "{err}");
}

/// A stream of exactly two platform chunks: the second is known to be the last (look-ahead), so
/// the deferred length is declared on it and no empty third `PATCH` is needed.
#[tokio::test]
async fn exact_multiple_of_the_chunk_size_with_unknown_length() {
    let fake = FakeSupabase::start().await;
    let store = store(config(&fake)).await;
    let d = data(7, 12 * MIB);
    store
        .upload(&key("exact.bin"), body_in_pieces(&d, 4 * MIB), None)
        .await
        .expect("upload");
    assert!(fake.object("backups", "exact.bin").unwrap() == d.as_ref());
    let c = fake.counts();
    assert_eq!(
        (c.tus_creates, c.tus_patches, c.tus_heads),
        (1, 2, 0),
        "{c:?}"
    );
}

/// Below `standard_upload_limit` one request; above it (still within one chunk) TUS with a known
/// length, even when the caller did not give one.
#[tokio::test]
async fn standard_upload_limit_picks_the_route() {
    let fake = FakeSupabase::start_with(FakeSupabaseOptions {
        tus_chunk_size: 256 * 1024,
        ..FakeSupabaseOptions::default()
    })
    .await;
    let mut c = config(&fake);
    c.chunk_size = Some(ByteSize(256 * 1024));
    c.standard_upload_limit = Some(ByteSize(1000));
    let store = store(c).await;
    store
        .upload(&key("small"), body_in_pieces(&data(8, 1000), 10), None)
        .await
        .unwrap();
    let d = data(9, 1001);
    store
        .upload(&key("tus"), body_in_pieces(&d, 10), None)
        .await
        .unwrap();
    assert!(fake.object("backups", "tus").unwrap() == d.as_ref());
    let c = fake.counts();
    assert_eq!(
        (c.standard_uploads, c.tus_creates, c.tus_patches),
        (1, 1, 1),
        "{c:?}"
    );
}
