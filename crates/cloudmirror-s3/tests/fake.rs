//! The contract suite and S3-specific behaviour against the wiremock S3 fake.

use bytes::Bytes;
use cloudmirror_contract::testkit::{data, failing_body, source_failure, Fixture};
use cloudmirror_contract::{
    body_from_bytes, ByteSize, ByteStream, Checksum, Digests, ErrorKind, Key, Prefix, RetryPolicy,
    Store, StoreExt,
};
use cloudmirror_fakes::s3::{FakeS3, S3Op};
use cloudmirror_s3::{S3Config, S3Store};
use futures::stream::{self, StreamExt};

const PART: usize = 5 * 1024 * 1024;

fn config_for(fake: &FakeS3) -> S3Config {
    let o = fake.options();
    let mut c = S3Config::new(o.bucket.clone());
    c.region = Some(o.region.clone());
    c.endpoint = Some(fake.uri());
    c.access_key_id = Some(o.access_key_id.clone());
    c.secret_access_key = Some(o.secret_access_key.clone().into());
    c.part_size = Some(ByteSize(PART as u64));
    c.list_page_size = Some(5);
    c
}

async fn store_for(fake: &FakeS3) -> S3Store {
    S3Store::new(config_for(fake))
        .await
        .expect("store")
        .with_retry_policy(RetryPolicy::fast())
}

async fn fixture() -> Fixture {
    let fake = FakeS3::start().await;
    let store = store_for(&fake).await;
    Fixture::with_guard(store, fake)
}

cloudmirror_contract::contract_suite!(fixture);

fn key(k: &str) -> Key {
    Key::parse(k).expect("valid test key")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_multipart_upload_is_aborted() {
    let fake = FakeS3::start().await;
    let store = std::sync::Arc::new(store_for(&fake).await);
    // Two whole parts, then the body waits at a gate; once both parts reached the server the
    // test opens the gate and the body fails.
    let (open, gate) = tokio::sync::oneshot::channel::<()>();
    let head = stream::iter(vec![Ok(data(1, 2 * PART + 1))]);
    let tail = stream::once(async move {
        let _ = gate.await;
        Err(source_failure())
    });
    let body: ByteStream = head.chain(tail).boxed();
    let st = store.clone();
    let task = tokio::spawn(async move { st.upload(&key("db/big.bin"), body, None).await });
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
    while fake.request_count(S3Op::UploadPart) < 2 {
        assert!(std::time::Instant::now() < deadline, "parts never arrived");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let _ = open.send(());
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other, "{err}");
    assert_eq!(err.backend(), "source");
    assert_eq!(fake.request_count(S3Op::CreateMultipartUpload), 1);
    assert_eq!(fake.request_count(S3Op::AbortMultipartUpload), 1);
    assert_eq!(fake.request_count(S3Op::CompleteMultipartUpload), 0);
    assert!(fake.open_multipart_uploads().is_empty(), "orphaned uploads");
    assert!(fake.object_keys().is_empty());

    // A body failing before the first part is complete never starts a multipart upload.
    let err = store
        .upload(&key("db/small.bin"), failing_body(data(2, 100)), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other);
    assert_eq!(fake.request_count(S3Op::CreateMultipartUpload), 1);
    assert_eq!(fake.request_count(S3Op::PutObject), 0);
}

#[tokio::test]
async fn multipart_failing_on_the_server_is_aborted() {
    let fake = FakeS3::start().await;
    let store = store_for(&fake).await;
    // More failures than the retry policy has attempts: the part upload gives up.
    fake.fail_next_op(S3Op::UploadPart, 100, 500);
    let d = data(2, 2 * PART + 10);
    let err = store
        .upload(&key("big.bin"), body_from_bytes(d), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    assert!(fake.open_multipart_uploads().is_empty(), "orphaned uploads");
    assert!(fake.object_keys().is_empty());
}

#[tokio::test]
async fn transient_errors_are_retried() {
    let fake = FakeS3::start().await;
    let store = store_for(&fake).await;
    fake.fail_next(2, 503);
    let meta = store
        .upload_bytes(&key("a.txt"), Bytes::from_static(b"hello"))
        .await
        .unwrap();
    assert_eq!(fake.request_count(S3Op::PutObject), 3);
    assert_eq!(fake.object("a.txt").unwrap(), b"hello");
    assert_eq!(
        meta.checksum,
        Some(Checksum::Sha256(Digests::of(b"hello").sha256))
    );

    // Parts, completion and listing retry too.
    fake.fail_next_op(S3Op::UploadPart, 2, 500);
    fake.fail_next_op(S3Op::CompleteMultipartUpload, 1, 503);
    fake.fail_next_op(S3Op::ListObjectsV2, 1, 500);
    let d = data(3, 2 * PART + 1);
    store
        .upload(&key("big.bin"), body_from_bytes(d.clone()), None)
        .await
        .unwrap();
    assert_eq!(fake.object("big.bin").unwrap(), d);
    assert_eq!(fake.request_count(S3Op::UploadPart), 3 + 2);
    assert_eq!(store.list_all(&Prefix::root()).await.unwrap().len(), 2);
}

#[tokio::test]
async fn persistent_slow_down_gives_up_as_rate_limited() {
    let fake = FakeS3::start().await;
    let store = store_for(&fake).await;
    fake.fail_next(100, 503);
    let err = store
        .upload_bytes(&key("a.txt"), Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited { retry_after: None });
    assert_eq!(
        fake.request_count(S3Op::PutObject),
        RetryPolicy::fast().max_attempts as usize
    );
}

#[tokio::test]
async fn bad_credentials_are_unauthorized_and_not_retried() {
    let fake = FakeS3::start().await;
    let mut c = config_for(&fake);
    c.access_key_id = Some("AKIDWRONG".into());
    let store = S3Store::new(c)
        .await
        .unwrap()
        .with_retry_policy(RetryPolicy::fast());
    let err = store
        .upload_bytes(&key("a.txt"), Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.to_string().contains("InvalidAccessKeyId"), "{err}");
    assert_eq!(fake.request_count(S3Op::PutObject), 1);

    let mut c = config_for(&fake);
    c.secret_access_key = Some("wrong-secret".to_owned().into());
    let store = S3Store::new(c)
        .await
        .unwrap()
        .with_retry_policy(RetryPolicy::fast());
    let err = store.list_all(&Prefix::root()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.to_string().contains("SignatureDoesNotMatch"), "{err}");
    assert!(!err.to_string().contains("wrong-secret"), "{err}");
    assert!(fake.object_keys().is_empty());
}

#[tokio::test]
async fn checksums_are_sent_and_multipart_ones_are_not_reported() {
    let fake = FakeS3::start().await;
    let store = store_for(&fake).await;
    let small = data(4, 1000);
    store
        .upload_bytes(&key("small"), small.clone())
        .await
        .unwrap();
    let stored = fake.object_checksum_sha256("small").unwrap();
    assert!(!stored.contains('-'), "{stored}");

    let big = data(5, 2 * PART + 7);
    let meta = store
        .upload(
            &key("big"),
            body_from_bytes(big.clone()),
            Some(big.len() as u64),
        )
        .await
        .unwrap();
    assert_eq!(meta.size, big.len() as u64);
    assert_eq!(meta.checksum, None, "a composite checksum is not a SHA-256");
    assert!(fake.object_checksum_sha256("big").unwrap().ends_with("-3"));
    assert_eq!(fake.request_count(S3Op::UploadPart), 3);
    // Checksummed bodies are hashed once: the signature covers the checksum header, not the
    // payload (the PutObject and the three parts).
    assert_eq!(fake.unsigned_payloads(), 4);
}

#[tokio::test]
async fn delete_many_uses_batches_of_1000() {
    let fake = FakeS3::start().await;
    let store = store_for(&fake).await;
    let keys: Vec<Key> = (0..2500)
        .map(|i| key(&format!("old/{i:05} & <x>.gz")))
        .collect();
    for k in &keys {
        fake.insert_object(k.as_str(), "x");
    }
    fake.insert_object("keep/me", "y");
    let mut with_missing = keys.clone();
    with_missing.push(key("old/never-existed"));
    store.delete_many(&with_missing).await.unwrap();
    assert_eq!(fake.request_count(S3Op::DeleteObjects), 3);
    assert_eq!(fake.object_keys(), ["keep/me"]);
    store.delete_many(&[]).await.unwrap();
    assert_eq!(fake.request_count(S3Op::DeleteObjects), 3);
}

#[tokio::test]
async fn listing_skips_folder_markers_and_pages() {
    let fake = FakeS3::start().await;
    let store = store_for(&fake).await;
    fake.insert_object("p/", "");
    fake.insert_object("p/dir/", "");
    for i in 0..12 {
        fake.insert_object(&format!("p/dir/{i:02}"), "z");
    }
    let all = store.list_all(&Prefix::parse("p/").unwrap()).await.unwrap();
    assert_eq!(all.len(), 12);
    assert!(all.iter().all(|m| m.size == 1 && m.modified.is_some()));
    // 12 objects + 2 markers at 5 per page.
    assert_eq!(fake.request_count(S3Op::ListObjectsV2), 3);
}

#[tokio::test]
async fn missing_bucket_is_not_found() {
    let fake = FakeS3::start().await;
    let mut c = config_for(&fake);
    c.bucket = "no-such-bucket".into();
    let store = S3Store::new(c).await.unwrap();
    let err = store.list_all(&Prefix::root()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = store.delete(&key("a")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn invalid_settings_are_reported_together() {
    let mut c = S3Config::new("b");
    c.part_size = Some(ByteSize::mib(1));
    c.access_key_id = Some("id".into());
    let err = S3Store::new(c).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let msg = err.to_string();
    assert!(
        msg.contains("part_size") && msg.contains("secret_access_key"),
        "{msg}"
    );
}

#[tokio::test]
async fn destination_toml_configures_a_working_store() {
    #[derive(serde::Deserialize)]
    struct File {
        destinations: Vec<toml::Table>,
    }
    let fake = FakeS3::start().await;
    let file: File = toml::from_str(&fake.destination_toml("s3")).unwrap();
    let mut table = file.destinations.into_iter().next().unwrap();
    assert_eq!(table.remove("name").unwrap().as_str(), Some("s3"));
    assert_eq!(table.remove("type").unwrap().as_str(), Some("s3"));
    let config: S3Config = table.try_into().unwrap();
    let store = S3Store::new(config).await.unwrap();
    store
        .upload_bytes(&key("k"), Bytes::from_static(b"v"))
        .await
        .unwrap();
    assert_eq!(fake.object("k").unwrap(), b"v");
}

#[tokio::test]
async fn checksums_can_be_turned_off_for_picky_servers() {
    let fake = FakeS3::start().await;
    let mut c = config_for(&fake);
    c.send_checksums = Some(false);
    let store = S3Store::new(c).await.unwrap();
    let meta = store
        .upload_bytes(&key("small"), data(6, 10))
        .await
        .unwrap();
    assert_eq!(meta.checksum, None);
    let big = data(7, PART + 1);
    store
        .upload(&key("big"), body_from_bytes(big.clone()), None)
        .await
        .unwrap();
    assert_eq!(fake.object("big").unwrap(), big);
    assert_eq!(fake.object_checksum_sha256("small"), None);
    assert_eq!(fake.object_checksum_sha256("big"), None);
    // Without a checksum header every body stays covered by the signature.
    assert_eq!(fake.unsigned_payloads(), 0);
}

/// A raw SDK client for the fake, to check the fake enforces S3's rules by itself.
fn raw_client(fake: &FakeS3) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::retry::RetryConfig;
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation};
    let o = fake.options();
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(o.region.clone()))
        .endpoint_url(fake.uri())
        .force_path_style(true)
        .retry_config(RetryConfig::disabled())
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .credentials_provider(Credentials::new(
            o.access_key_id.clone(),
            o.secret_access_key.clone(),
            None,
            None,
            "test",
        ))
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

fn code<E: aws_sdk_s3::error::ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("none").to_owned()
}

#[tokio::test]
async fn the_fake_enforces_s3_rules() {
    use aws_sdk_s3::primitives::ByteStream as Body;
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    let fake = FakeS3::start().await;
    let s3 = raw_client(&fake);
    let bucket = fake.options().bucket.clone();

    // A checksum that does not match the body.
    let err = s3
        .put_object()
        .bucket(&bucket)
        .key("k")
        .checksum_sha256("LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=")
        .body(Body::from_static(b"hellO"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "BadDigest");

    // Parts below 5 MiB (but the last), wrong ETags, and invisibility until completion.
    let id = s3
        .create_multipart_upload()
        .bucket(&bucket)
        .key("m")
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    let mut parts = Vec::new();
    for n in 1..=2 {
        let out = s3
            .upload_part()
            .bucket(&bucket)
            .key("m")
            .upload_id(&id)
            .part_number(n)
            .body(Body::from(data(n as u64, 1000)))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag.unwrap())
                .build(),
        );
    }
    assert!(fake.object_keys().is_empty(), "parts are invisible");
    assert_eq!(fake.open_multipart_uploads(), ["m"]);
    let complete = |parts: Vec<CompletedPart>| {
        s3.complete_multipart_upload()
            .bucket(&bucket)
            .key("m")
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
    };
    let err = complete(parts.clone()).await.unwrap_err();
    assert_eq!(code(&err), "EntityTooSmall");
    let wrong = vec![CompletedPart::builder()
        .part_number(1)
        .e_tag("\"0000\"")
        .build()];
    assert_eq!(code(&complete(wrong).await.unwrap_err()), "InvalidPart");
    let reversed = vec![parts[1].clone(), parts[0].clone()];
    assert_eq!(
        code(&complete(reversed).await.unwrap_err()),
        "InvalidPartOrder"
    );
    // A single (last) part may be small.
    complete(vec![parts[0].clone()]).await.unwrap();
    assert_eq!(fake.object("m").unwrap(), data(1, 1000));
    assert!(fake.open_multipart_uploads().is_empty());
}

#[tokio::test]
async fn the_fake_lists_with_delimiters() {
    let fake = FakeS3::start().await;
    let s3 = raw_client(&fake);
    let bucket = fake.options().bucket.clone();
    // Delimiter listings group "folders" into common prefixes.
    for k in ["d/a", "d/b/c", "d/b/d", "d/e/f", "e"] {
        fake.insert_object(k, "x");
    }
    let out = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("d/")
        .delimiter("/")
        .max_keys(2)
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = out.contents().iter().filter_map(|o| o.key()).collect();
    let prefixes: Vec<_> = out
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!((keys, prefixes), (vec!["d/a"], vec!["d/b/"]));
    let token = out.next_continuation_token().unwrap().to_owned();
    let out = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("d/")
        .delimiter("/")
        .max_keys(2)
        .continuation_token(token)
        .send()
        .await
        .unwrap();
    let prefixes: Vec<_> = out
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert!(out.contents().is_empty());
    assert_eq!(prefixes, ["d/e/"]);
    assert_eq!(out.is_truncated(), Some(false));
}
