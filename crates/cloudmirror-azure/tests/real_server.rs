//! The contract suite and the Azure adapter's own rules against a real Blob service: Microsoft's
//! Azurite emulator (npm `azurite`), started per test on 127.0.0.1 with a temporary state folder.
//!
//! The program comes from `CLOUDMIRROR_AZURITE`, `target/azurite/node_modules/.bin/azurite-blob`
//! (where `cargo xtask ci` installs it) or `PATH`. Without it the tests print one "skipped" line,
//! except under `CI=true`, where a missing server is a failure.

use std::sync::Arc;

use cloudmirror_azure::testserver::{Azurite, CutProxy};
use cloudmirror_azure::{AzureConfig, AzureStore};
use cloudmirror_contract::testkit::{data, gated_body, run_case_logged};
use cloudmirror_contract::{
    ByteSize, Checksum, ErrorKind, Key, Prefix, RetryPolicy, Store, StoreExt,
};
use futures::stream::{self, StreamExt};

/// Starts Azurite, or returns `None` (after printing why) when it is not installed.
async fn start_server(test: &str) -> Option<Azurite> {
    let Some(binary) = Azurite::find() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "azurite-blob not found and CI=true: `cargo xtask ci` installs it (npm install azurite \
             into target/azurite)"
        );
        println!(
            "{test}: skipped: azurite-blob not found (run `cargo xtask ci`, which installs it)"
        );
        return None;
    };
    Some(
        Azurite::start(&binary)
            .await
            .unwrap_or_else(|e| panic!("{test}: starting Azurite: {e}")),
    )
}

fn small_blocks(mut c: AzureConfig) -> AzureConfig {
    c.chunk_size = Some(ByteSize(64 * 1024));
    c
}

async fn store_for(server: &Azurite) -> AzureStore {
    AzureStore::new_with_retry(small_blocks(server.config()), RetryPolicy::fast())
        .await
        .unwrap_or_else(|e| panic!("opening the store: {e}\nserver log:\n{}", server.log()))
}

/// Runs one contract case against a fresh server (or prints why it was skipped).
async fn run_case(name: &str) {
    let test = format!("contract case {name} against Azurite");
    let Some(server) = start_server(&test).await else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(store_for(&server).await);
    run_case_logged(&test, name, store, || server.log()).await;
}

// One `#[tokio::test]` per contract case (the contract's own list), so a failure names its case.
cloudmirror_contract::contract_cases_with!(run_case);

fn md5_hex(d: &[u8]) -> String {
    use md5::Digest as _;
    hex::encode(md5::Md5::digest(d))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_visible_before_the_block_list_is_committed() {
    let Some(server) = start_server("nothing_is_visible_before_the_block_list_is_committed").await
    else {
        return;
    };
    let store = Arc::new(store_for(&server).await);
    let key = Key::parse("daily/Résumé ü 1.gz").unwrap();
    let d = data(3, 300_000);
    // Two whole blocks (64 KiB each) are staged before the body pauses.
    let (body, reached, release) = gated_body(d.slice(..200_000), d.slice(200_000..));
    let st = store.clone();
    let k = key.clone();
    let task = tokio::spawn(async move { st.upload(&k, body, None).await });
    reached.await.unwrap();
    // Blocks already staged (the reader holds the third chunk while the body waits).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(store.head(&key).await.unwrap().is_none(), "not visible");
    assert_eq!(
        store.download(&key).await.err().map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
    assert!(store.list_all(&Prefix::root()).await.unwrap().is_empty());
    let _ = release.send(());
    let meta = task.await.unwrap().unwrap();
    assert_eq!(meta.size, 300_000);
    assert_eq!(meta.checksum, Some(Checksum::Md5(md5_hex(&d))));
    let listed = store.list_all(&Prefix::root()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, key);
    assert_eq!(
        listed[0].checksum,
        Some(Checksum::Md5(md5_hex(&d))),
        "the service stores the whole blob's MD5"
    );
    assert_eq!(store.download_bytes(&key).await.unwrap(), d);

    // A body that fails after blocks went out: nothing new is committed, the old blob stays.
    let failing = stream::iter(vec![
        Ok(data(4, 200_000)),
        Err(cloudmirror_contract::testkit::source_failure()),
    ])
    .boxed();
    let err = store.upload(&key, failing, None).await.unwrap_err();
    assert_eq!(
        err.backend(),
        "source",
        "the producer's error is returned: {err}"
    );
    assert_eq!(store.download_bytes(&key).await.unwrap(), d);
    let fresh = Key::parse("daily/never.gz").unwrap();
    let failing = stream::iter(vec![
        Ok(data(5, 200_000)),
        Err(cloudmirror_contract::testkit::source_failure()),
    ])
    .boxed();
    store.upload(&fresh, failing, None).await.unwrap_err();
    assert!(store.head(&fresh).await.unwrap().is_none());
    assert_eq!(store.list_all(&Prefix::root()).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_unauthorized_and_never_echoed() {
    let Some(server) = start_server("wrong_credentials_are_unauthorized_and_never_echoed").await
    else {
        return;
    };
    // A well-formed key that is not the account's.
    let wrong = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==";
    let mut c = server.config();
    c.access_key = Some(wrong.to_owned().into());
    let err = AzureStore::new_with_retry(c, RetryPolicy::fast())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.to_string().contains("`access_key`"), "{err}");
    assert!(!err.to_string().contains(wrong), "{err}");
    assert!(!err.to_string().contains('\n'), "{err}");
    // A forged SAS.
    let mut c = server.config();
    c.access_key = None;
    c.sas_token = Some(
        "sv=2021-08-06&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00:00:00Z&sig=Zm9yZ2Vk"
            .to_owned()
            .into(),
    );
    let err = AzureStore::new_with_retry(c, RetryPolicy::fast())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(!err.to_string().contains("Zm9yZ2Vk"), "{err}");
    // A missing container.
    let mut c = server.config();
    c.container = "missing".into();
    let err = AzureStore::new_with_retry(c, RetryPolicy::fast())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("`container`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_mid_block_is_retried_or_leaves_nothing() {
    let Some(server) =
        start_server("a_connection_dropped_mid_block_is_retried_or_leaves_nothing").await
    else {
        return;
    };
    let proxy = CutProxy::start(server.port()).await.unwrap();
    let mut c = small_blocks(server.config());
    c.endpoint = Some(Azurite::endpoint_on(proxy.port()));
    let store = AzureStore::new_with_retry(c, RetryPolicy::fast())
        .await
        .unwrap();
    let direct = store_for(&server).await;

    // Cut in the middle of the third block: that block is sent again, the blob is whole.
    let key = Key::parse("cut/retried.gz").unwrap();
    let d = data(5, 400_000);
    proxy.cut_after(150_000);
    let meta = store
        .upload(
            &key,
            stream::iter(vec![Ok(d.clone())]).boxed(),
            Some(400_000),
        )
        .await
        .unwrap();
    assert_eq!(meta.size, 400_000);
    assert_eq!(direct.download_bytes(&key).await.unwrap(), d);

    // Cut, and the server stays unreachable: the upload fails as retryable, nothing is committed.
    let key = Key::parse("cut/failed.gz").unwrap();
    proxy.cut_after(150_000);
    proxy.refuse(true);
    let err = store
        .upload(
            &key,
            stream::iter(vec![Ok(d.clone())]).boxed(),
            Some(400_000),
        )
        .await
        .unwrap_err();
    assert!(
        err.is_retryable(),
        "a dropped connection is transient: {err}"
    );
    proxy.refuse(false);
    assert!(
        direct.head(&key).await.unwrap().is_none(),
        "nothing under the final name"
    );
    assert_eq!(
        direct
            .list_all(&Prefix::parse("cut/").unwrap())
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_spaces_and_non_ascii_round_trip() {
    let Some(server) = start_server("names_with_spaces_and_non_ascii_round_trip").await else {
        return;
    };
    let store = store_for(&server).await;
    let names = [
        "a b/c d.gz",
        "Résumé/ünïcødé 日本語.gz",
        "x+y=z&w%20v/#hash?q.gz",
        "emoji 🎉/it's (1).gz",
    ];
    for (i, name) in names.iter().enumerate() {
        let key = Key::parse(name).unwrap();
        let d = data(i as u64, 1000 + i);
        store.upload_bytes(&key, d.clone()).await.unwrap();
        assert_eq!(store.download_bytes(&key).await.unwrap(), d, "{name}");
    }
    let mut listed: Vec<String> = store
        .list_all(&Prefix::root())
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.key.as_str().to_owned())
        .collect();
    listed.sort();
    let mut want: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
    want.sort();
    assert_eq!(listed, want);
    let under = store
        .list_all(&Prefix::parse("Résumé/").unwrap())
        .await
        .unwrap();
    assert_eq!(under.len(), 1);
    for name in names {
        store.delete(&Key::parse(name).unwrap()).await.unwrap();
    }
    assert!(store.list_all(&Prefix::root()).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sas_token_authorizes_every_operation() {
    let Some(server) = start_server("a_sas_token_authorizes_every_operation").await else {
        return;
    };
    let store = AzureStore::new_with_retry(small_blocks(server.sas_config()), RetryPolicy::fast())
        .await
        .unwrap_or_else(|e| panic!("opening with a SAS: {e}\nserver log:\n{}", server.log()));
    let key = Key::parse("sas/Résumé 1.gz").unwrap();
    let d = data(8, 200_000);
    let meta = store.upload_bytes(&key, d.clone()).await.unwrap();
    assert_eq!(meta.checksum, Some(Checksum::Md5(md5_hex(&d))));
    let listed = store
        .list_all(&Prefix::parse("sas/").unwrap())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].checksum, meta.checksum);
    assert_eq!(store.download_bytes(&key).await.unwrap(), d);
    store.delete(&key).await.unwrap();
    store.delete(&key).await.unwrap();
    assert!(store.head(&key).await.unwrap().is_none());
}
