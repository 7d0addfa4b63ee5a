//! The contract suite and the WebDAV adapter's own rules against a real WebDAV server: `wsgidav`
//! (PyPI), started per test on 127.0.0.1 with a temporary root folder and one Basic-auth user.
//!
//! The program comes from `CLOUDMIRROR_WSGIDAV`, `target/webdav-venv/bin/wsgidav` (where
//! `cargo xtask ci` installs it) or `PATH`. Without it the tests print one "skipped" line, except
//! under `CI=true`, where a missing server is a failure.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cloudmirror_contract::testkit::{data, files_on_disk, gated_body, run_case_logged};
use cloudmirror_contract::{ByteSize, ErrorKind, Key, Prefix, RetryPolicy, Store, StoreExt};
use cloudmirror_webdav::testserver::{Wsgidav, PASSWORD, USER};
use cloudmirror_webdav::{WebdavConfig, WebdavStore};
use futures::stream::{self, StreamExt};

/// Starts `wsgidav`, or returns `None` (after printing why) when it is not installed.
fn start_server(test: &str) -> Option<Wsgidav> {
    let Some(binary) = Wsgidav::find() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "wsgidav not found and CI=true: `cargo xtask ci` installs it (pip install wsgidav cheroot \
             into target/webdav-venv)"
        );
        println!("{test}: skipped: wsgidav not found (run `cargo xtask ci`, which installs it)");
        return None;
    };
    Some(Wsgidav::start(binary).unwrap_or_else(|e| panic!("{test}: starting wsgidav: {e}")))
}

async fn store_for(server: &Wsgidav) -> WebdavStore {
    let mut c = WebdavConfig::new(server.url(), USER, PASSWORD.to_owned().into());
    c.chunk_size = Some(ByteSize(64 * 1024));
    WebdavStore::new_with_retry(c, RetryPolicy::fast())
        .await
        .unwrap_or_else(|e| panic!("opening the store: {e}\nserver log:\n{}", server.log()))
}

/// Runs one contract case against a fresh server (or prints why it was skipped).
async fn run_case(name: &str) {
    let test = format!("contract case {name} against wsgidav");
    let Some(server) = start_server(&test) else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(store_for(&server).await);
    run_case_logged(&test, name, store, || server.log()).await;
}

// One `#[tokio::test]` per contract case (the contract's own list), so a failure names its case.
cloudmirror_contract::contract_cases_with!(run_case);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_temporary_name_then_move_and_clean_up() {
    let Some(server) = start_server("put_temporary_name_then_move_and_clean_up") else {
        return;
    };
    let store = Arc::new(store_for(&server).await);
    let key = Key::parse("daily/Résumé ü 1.gz").unwrap();
    let d = data(3, 300_000);
    let (body, reached, release) = gated_body(d.slice(..100_000), d.slice(100_000..));
    let st = store.clone();
    let k = key.clone();
    let task = tokio::spawn(async move { st.upload(&k, body, None).await });
    reached.await.unwrap();
    // Give the server time to write what it got.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = files_on_disk(&server.folder());
    assert_eq!(during.len(), 1, "{during:?}");
    assert!(
        during[0].starts_with("daily/.Résumé ü 1.gz.") && during[0].ends_with(".partial"),
        "the body goes to a temporary name beside the target: {during:?}"
    );
    assert!(
        store.list_all(&Prefix::root()).await.unwrap().is_empty(),
        "temporary names are not listed"
    );
    let _ = release.send(());
    let meta = task.await.unwrap().unwrap();
    assert_eq!(meta.size, 300_000);
    assert_eq!(
        files_on_disk(&server.folder()),
        vec!["daily/Résumé ü 1.gz".to_owned()],
        "stored under its real name"
    );

    // A body that fails after a chunk went out: the temporary file is removed, the old object stays.
    let failing = stream::iter(vec![
        Ok(d.slice(..200_000)),
        Err(cloudmirror_contract::testkit::source_failure()),
    ])
    .boxed();
    let err = store.upload(&key, failing, None).await.unwrap_err();
    assert_eq!(
        err.backend(),
        "source",
        "the producer's error is returned: {err}"
    );
    assert_eq!(
        files_on_disk(&server.folder()),
        vec!["daily/Résumé ü 1.gz".to_owned()]
    );
    assert_eq!(store.download_bytes(&key).await.unwrap(), d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_unauthorized_and_never_echoed() {
    let Some(server) = start_server("wrong_credentials_are_unauthorized_and_never_echoed") else {
        return;
    };
    let c = WebdavConfig::new(server.url(), USER, "not-the-password-xyz".to_owned().into());
    let err = WebdavStore::new_with_retry(c, RetryPolicy::fast())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.to_string().contains("`password`"), "{err}");
    assert!(!err.to_string().contains("not-the-password-xyz"), "{err}");
    let c = WebdavConfig::new(
        format!("{}missing/", server.url()),
        USER,
        PASSWORD.to_owned().into(),
    );
    let err = WebdavStore::new_with_retry(c, RetryPolicy::fast())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_mid_upload_leaves_nothing_under_the_name() {
    let Some(mut server) =
        start_server("a_connection_dropped_mid_upload_leaves_nothing_under_the_name")
    else {
        return;
    };
    let store = Arc::new(store_for(&server).await);
    let key = Key::parse("cut/backup.gz").unwrap();
    let d = data(5, 400_000);
    let (body, reached, release) = gated_body(d.slice(..150_000), d.slice(150_000..));
    let st = store.clone();
    let k = key.clone();
    let task = tokio::spawn(async move { st.upload(&k, body, Some(400_000)).await });
    reached.await.unwrap();
    server.stop();
    let _ = release.send(());
    let err = task.await.unwrap().unwrap_err();
    assert!(
        err.is_retryable(),
        "a dropped connection is transient: {err}"
    );
    server.restart().unwrap();
    assert!(
        store.head(&key).await.unwrap().is_none(),
        "nothing under the final name"
    );
    assert!(!files_on_disk(&server.folder()).contains(&"cut/backup.gz".to_owned()));
    // A left-over temporary file (the server died before the adapter could delete it) stays hidden.
    assert!(store.list_all(&Prefix::root()).await.unwrap().is_empty());
    store.upload_bytes(&key, d.clone()).await.unwrap();
    assert_eq!(store.download_bytes(&key).await.unwrap(), d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_onto_a_folder_is_refused_and_its_temporary_file_removed() {
    let Some(server) =
        start_server("an_upload_onto_a_folder_is_refused_and_its_temporary_file_removed")
    else {
        return;
    };
    let store = store_for(&server).await;
    store
        .upload_bytes(
            &Key::parse("daily/kept.gz").unwrap(),
            Bytes::from_static(b"old"),
        )
        .await
        .unwrap();
    // The PUT under the temporary name succeeds; the MOVE onto `daily` must not happen (it would
    // delete the folder and everything in it).
    let err = store
        .upload_bytes(&Key::parse("daily").unwrap(), data(9, 1000))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(
        files_on_disk(&server.folder()),
        vec!["daily/kept.gz".to_owned()],
        "temporary file removed, folder kept"
    );
}
