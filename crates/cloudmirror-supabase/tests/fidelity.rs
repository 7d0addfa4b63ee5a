//! What the real Supabase Storage server (supabase/storage v1.70.6) does and our fake now does too:
//! per-request `x-upsert` on TUS, case-insensitive legacy listing, deletes that remove nothing,
//! the standard-upload limit, `Upload-Length` vs deferral, set-up mistakes, multipart `ETag`s and
//! an outage in the middle of a TUS upload.

use std::time::Duration;

use cloudmirror_contract::testkit::{body_in_pieces, data};
use cloudmirror_contract::{ByteSize, ErrorKind, Key, Prefix, RetryPolicy, Store, StoreExt};
use cloudmirror_fakes::supabase::{FakeSupabase, FakeSupabaseOptions, STORAGE_PATH};
use cloudmirror_supabase::{SupabaseConfig, SupabaseStore};
use futures::TryStreamExt;

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

async fn listed(store: &SupabaseStore, prefix: &str) -> Vec<String> {
    store
        .list(&Prefix::parse(prefix).expect("valid prefix"))
        .map_ok(|m| m.key.to_string())
        .try_collect()
        .await
        .expect("listing")
}

/// A `{date}` name stored twice in one day with a body over the standard limit: the second TUS
/// upload replaces the first (every TUS request carries `x-upsert: true`).
#[tokio::test]
async fn same_name_tus_reupload_replaces_the_object() {
    let fake = FakeSupabase::start().await;
    let store = store(config(&fake)).await;
    let k = key("daily/db.sql.gz");
    let first = data(1, 7 * MIB);
    let second = data(2, 13 * MIB + 5);
    store
        .upload(&k, body_in_pieces(&first, 65_536), None)
        .await
        .unwrap();
    store
        .upload(
            &k,
            body_in_pieces(&second, 65_536),
            Some(second.len() as u64),
        )
        .await
        .expect("same-name re-upload over TUS");
    assert!(fake.object("backups", "daily/db.sql.gz").unwrap() == second.as_ref());
    let c = fake.counts();
    assert_eq!(
        (c.standard_uploads, c.tus_creates, c.tus_deletes),
        (0, 2, 0),
        "{c:?}"
    );
    assert_eq!(fake.pending_uploads(), 0);
}

/// The fake, like the server, checks `x-upsert` on each TUS request with that request's own
/// header: a PATCH or DELETE without it on an existing name is `409 The resource already exists`.
#[tokio::test]
async fn fake_refuses_tus_requests_without_x_upsert_on_an_existing_name() {
    let fake = FakeSupabase::start().await;
    let store = store(config(&fake)).await;
    store
        .upload_bytes(&key("x.bin"), "old".into())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let key = fake.service_role_key();
    let req = |m: reqwest::Method, url: &str| {
        http.request(m, url)
            .header("apikey", &key)
            .header("authorization", format!("Bearer {key}"))
            .header("tus-resumable", "1.0.0")
    };
    let created = req(
        reqwest::Method::POST,
        &format!("{}{STORAGE_PATH}/upload/resumable", fake.uri()),
    )
    .header("x-upsert", "true")
    .header("upload-length", "3")
    .header(
        "upload-metadata",
        "bucketName YmFja3Vwcw==,objectName eC5iaW4=",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let patch = |upsert: bool| {
        let r = req(reqwest::Method::PATCH, &location)
            .header("upload-offset", "0")
            .header("content-type", "application/offset+octet-stream")
            .body("new");
        if upsert {
            r.header("x-upsert", "true")
        } else {
            r
        }
    };
    let refused = patch(false).send().await.unwrap();
    assert_eq!(refused.status(), 409);
    assert_eq!(refused.text().await.unwrap(), "The resource already exists");
    let refused = req(reqwest::Method::DELETE, &location)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);
    assert_eq!(patch(true).send().await.unwrap().status(), 204);
    assert_eq!(fake.object("backups", "x.bin").unwrap(), b"new");
}

/// Objects under `DAILY/` and `daily/`: the legacy route (like the server's `storage.search`)
/// mixes them; the store lists exactly what starts with `daily/`.
#[tokio::test]
async fn listing_keeps_the_prefix_case_exactly() {
    let fake = FakeSupabase::start().await;
    let store = store(config(&fake)).await;
    for k in [
        "DAILY/a.gz",
        "daily/b.gz",
        "daily/sub/c.gz",
        "Daily/sub/d.gz",
        "dailyx.gz",
    ] {
        store.upload_bytes(&key(k), "x".into()).await.unwrap();
    }
    assert_eq!(
        listed(&store, "daily/").await,
        ["daily/b.gz", "daily/sub/c.gz"]
    );
    assert_eq!(listed(&store, "DAILY/").await, ["DAILY/a.gz"]);
    assert_eq!(listed(&store, "").await.len(), 5);

    // The fake's legacy route answers as the server does: case-insensitive, relative names.
    let page: serde_json::Value = reqwest::Client::new()
        .post(format!("{}{STORAGE_PATH}/object/list/backups", fake.uri()))
        .header("apikey", fake.service_role_key())
        .bearer_auth(fake.service_role_key())
        .json(&serde_json::json!({"prefix": "daily/", "limit": 100, "offset": 0}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a.gz", "b.gz", "sub"]);
}

/// The batch delete answers only what it deleted: a name it left in place is an error, a name
/// that was not there is fine (`delete` is idempotent).
#[tokio::test]
async fn delete_that_removed_nothing_is_an_error() {
    let fake = FakeSupabase::start().await;
    let store = store(config(&fake)).await;
    let k = key("daily/kept.gz");
    store.upload_bytes(&k, "x".into()).await.unwrap();
    fake.deny_delete("backups", "daily/kept.gz");
    let err = store.delete(&k).await.unwrap_err();
    assert!(err.message().contains("still there"), "{err}");
    assert_eq!(fake.object_keys("backups"), ["daily/kept.gz"]);
    store
        .delete(&key("daily/never-existed.gz"))
        .await
        .expect("idempotent");
    let k2 = key("daily/gone.gz");
    store.upload_bytes(&k2, "x".into()).await.unwrap();
    let infos = fake.counts().infos;
    store.delete(&k2).await.unwrap();
    assert_eq!(
        fake.counts().infos,
        infos,
        "a delete the answer confirms needs no check"
    );
    assert_eq!(fake.object_keys("backups"), ["daily/kept.gz"]);
}

/// A self-hosted `UPLOAD_FILE_SIZE_LIMIT_STANDARD` below `standard_upload_limit`: the standard
/// route's 413 sends the same bytes over TUS.
#[tokio::test]
async fn standard_route_413_falls_back_to_tus() {
    let fake = FakeSupabase::start_with(FakeSupabaseOptions {
        standard_upload_limit: Some(100 * 1024),
        tus_chunk_size: 256 * 1024,
        ..FakeSupabaseOptions::default()
    })
    .await;
    let mut c = config(&fake);
    c.chunk_size = Some(ByteSize(256 * 1024));
    let store = store(c).await;
    let d = data(4, 150 * 1024);
    store.upload_bytes(&key("s.bin"), d.clone()).await.unwrap();
    assert!(fake.object("backups", "s.bin").unwrap() == d.as_ref());
    let c = fake.counts();
    assert_eq!((c.standard_uploads, c.tus_creates), (1, 1), "{c:?}");
    // Under the standard limit: one request.
    store
        .upload_bytes(&key("t.bin"), data(5, 1000))
        .await
        .unwrap();
    assert_eq!(fake.counts().tus_creates, 1);
}

/// A known size is announced with `Upload-Length`; only an unknown one is deferred. The fake
/// refuses a creation with both or neither, as tus-node-server does.
#[tokio::test]
async fn known_lengths_are_not_deferred() {
    let fake = FakeSupabase::start().await;
    let store = store(config(&fake)).await;
    let d = data(6, 13 * MIB);
    store
        .upload(
            &key("known.bin"),
            body_in_pieces(&d, 65_536),
            Some(d.len() as u64),
        )
        .await
        .unwrap();
    assert_eq!(fake.counts().tus_creates_deferred, 0);
    store
        .upload(&key("stream.bin"), body_in_pieces(&d, 65_536), None)
        .await
        .unwrap();
    let c = fake.counts();
    assert_eq!((c.tus_creates, c.tus_creates_deferred), (2, 1), "{c:?}");

    let key = fake.service_role_key();
    let create = |h: &[(&str, &str)]| {
        let mut r = reqwest::Client::new()
            .post(format!("{}{STORAGE_PATH}/upload/resumable", fake.uri()))
            .header("apikey", &key)
            .bearer_auth(&key)
            .header("tus-resumable", "1.0.0")
            .header(
                "upload-metadata",
                "bucketName YmFja3Vwcw==,objectName eS5iaW4=",
            );
        for (k, v) in h {
            r = r.header(*k, *v);
        }
        r.send()
    };
    let both = create(&[("upload-length", "3"), ("upload-defer-length", "1")])
        .await
        .unwrap();
    assert_eq!(both.status(), 400);
    assert_eq!(create(&[]).await.unwrap().status(), 400);
    assert_eq!(
        create(&[("upload-defer-length", "2")])
            .await
            .unwrap()
            .status(),
        400
    );
}

/// Set-up mistakes: an `sb_secret_…` key on a server reached without the gateway, and a TUS
/// `Location` on another scheme/host/port than `url` (re-based on `url`).
#[tokio::test]
async fn secret_key_without_the_gateway_names_service_role_key() {
    let fake = FakeSupabase::start_with(FakeSupabaseOptions {
        service_role_key: "sb_secret_fake0123456789".to_owned(),
        gateway: false,
        ..FakeSupabaseOptions::default()
    })
    .await;
    let mut c = config(&fake);
    c.storage_path = Some(String::new());
    let err = SupabaseStore::new(c).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(
        err.message().contains("gateway") && err.message().contains("service_role_key"),
        "{err}"
    );

    // A JWT key reaches the same kind of server directly.
    let fake = FakeSupabase::start_with(FakeSupabaseOptions {
        gateway: false,
        ..FakeSupabaseOptions::default()
    })
    .await;
    let mut c = config(&fake);
    c.storage_path = Some(String::new());
    let store = store(c).await;
    let d = data(7, 7 * MIB);
    store
        .upload(&key("direct.bin"), body_in_pieces(&d, 65_536), None)
        .await
        .unwrap();
    assert_eq!(listed(&store, "").await, ["direct.bin"]);
}

#[tokio::test]
async fn tus_location_on_another_origin_is_rebased_on_url() {
    let fake = FakeSupabase::start_with(FakeSupabaseOptions {
        tus_public_origin: Some("https://127.0.0.1:9".to_owned()),
        ..FakeSupabaseOptions::default()
    })
    .await;
    let store = store(config(&fake)).await;
    let d = data(8, 7 * MIB);
    store
        .upload(&key("tls.bin"), body_in_pieces(&d, 65_536), None)
        .await
        .unwrap();
    assert!(fake.object("backups", "tls.bin").unwrap() == d.as_ref());
}

/// With the S3 backend a TUS upload's `ETag` is multipart (`<hex>-N`): the store never reports an
/// `ETag` as a checksum, so `verify` does the deep check.
#[tokio::test]
async fn multipart_etags_are_never_reported_as_checksums() {
    let fake = FakeSupabase::start_with(FakeSupabaseOptions {
        s3_backend: true,
        ..FakeSupabaseOptions::default()
    })
    .await;
    let store = store(config(&fake)).await;
    let d = data(9, 7 * MIB);
    let meta = store
        .upload(
            &key("e.bin"),
            body_in_pieces(&d, 65_536),
            Some(d.len() as u64),
        )
        .await
        .unwrap();
    assert_eq!(meta.checksum, None);
    let all = store.list_all(&Prefix::root()).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].checksum, None);
    assert_eq!(all[0].size, d.len() as u64);
}

/// The server is down (503) for 20 s in the middle of a TUS upload: the store rides it out
/// within its retry budget and resumes from the server's `Upload-Offset`, not from byte 0.
#[tokio::test]
async fn tus_upload_rides_out_a_20s_outage() {
    let fake = FakeSupabase::start().await;
    let store = SupabaseStore::new(config(&fake))
        .await
        .unwrap()
        .with_retry_policy(RetryPolicy {
            budget: Duration::from_secs(90),
            max_delay: Duration::from_secs(2),
            ..RetryPolicy::default()
        });
    let d = data(10, 20 * MIB + 11);
    // Creation and two chunks go through, then 20 s of 503s.
    fake.outage_after(3, Duration::from_secs(20));
    let started = std::time::Instant::now();
    store
        .upload(
            &key("big/outage.bin"),
            body_in_pieces(&d, 1_000_003),
            Some(d.len() as u64),
        )
        .await
        .expect("upload through the outage");
    assert!(started.elapsed() >= Duration::from_secs(20));
    assert!(fake.outage_refused() > 0);
    assert!(fake.object("backups", "big/outage.bin").unwrap() == d.as_ref());
    let c = fake.counts();
    assert_eq!(c.tus_creates, 1, "{c:?}");
    assert_eq!(
        c.tus_patch_bytes,
        d.len() as u64,
        "nothing sent twice: {c:?}"
    );
    assert_eq!(fake.pending_uploads(), 0);
}

/// A server older than list-v2 (supabase/storage v1.19.0): the store falls back to the legacy
/// folder listing.
#[tokio::test]
async fn servers_without_list_v2_use_the_legacy_listing() {
    let fake = FakeSupabase::start_with(FakeSupabaseOptions {
        list_v2: false,
        ..FakeSupabaseOptions::default()
    })
    .await;
    let mut c = config(&fake);
    c.list_page_size = Some(2);
    let store = store(c).await;
    for k in ["daily/a", "daily/b", "daily/sub/c", "weekly/d", "x"] {
        store.upload_bytes(&key(k), "x".into()).await.unwrap();
    }
    assert_eq!(
        listed(&store, "daily/").await,
        ["daily/a", "daily/b", "daily/sub/c"]
    );
    assert_eq!(listed(&store, "").await.len(), 5);
    // Each listing asked list-v2 once (taken by the upload route), then listed folder by folder.
    let c = fake.counts();
    assert!(c.lists_v2 == 0 && c.lists >= 4, "{c:?}");
    assert_eq!(
        fake.object_keys("backups").len(),
        5,
        "nothing was stored by the probe"
    );
}

/// The upsert check's `409 The resource already exists` on a PATCH is a conflict: not retried as
/// an offset mismatch, and the upload is cancelled.
#[tokio::test]
async fn tus_already_exists_is_a_conflict_not_an_offset_problem() {
    let fake = FakeSupabase::start().await;
    let store = store(config(&fake)).await;
    fake.fail_next_patch_as_existing();
    let err = store
        .upload(
            &key("c.bin"),
            body_in_pieces(&data(11, 7 * MIB), 65_536),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(err.message().contains("already exists"), "{err}");
    let c = fake.counts();
    assert_eq!(
        (c.tus_patches, c.tus_heads, c.tus_deletes),
        (1, 0, 1),
        "{c:?}"
    );
    assert_eq!(fake.pending_uploads(), 0);
}
