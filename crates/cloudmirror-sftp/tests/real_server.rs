//! The contract suite and the SFTP adapter's own rules against a real server: OpenSSH's `sshd`,
//! started per test as the current user on 127.0.0.1 with generated host and user keys.
//!
//! The program comes from `CLOUDMIRROR_SSHD`, `/usr/sbin/sshd` or `PATH`. Without it the tests
//! print one "skipped" line, except under `CI=true`, where a missing server is a failure.

use std::sync::Arc;

use bytes::Bytes;
use cloudmirror_contract::testkit::{data, files_on_disk, gated_body, run_case_logged};
use cloudmirror_contract::{ErrorKind, Key, Prefix, RetryPolicy, Store, StoreExt};
use cloudmirror_sftp::testserver::Sshd;
use cloudmirror_sftp::{SftpConfig, SftpStore};
use futures::stream::{self, StreamExt};

/// Starts `sshd`, or returns `None` (after printing why) when it is not installed.
fn start_server(test: &str) -> Option<Sshd> {
    let Some(binary) = Sshd::find() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "sshd not found and CI=true: `cargo xtask ci` installs it (apt-get install openssh-server)"
        );
        println!("{test}: skipped: sshd not found (apt-get install openssh-server)");
        return None;
    };
    Some(Sshd::start(binary).unwrap_or_else(|e| panic!("{test}: starting sshd: {e}")))
}

async fn open(config: SftpConfig) -> cloudmirror_contract::Result<SftpStore> {
    SftpStore::new_with_retry(config, RetryPolicy::fast()).await
}

async fn store_for(server: &Sshd) -> SftpStore {
    open(server.config())
        .await
        .unwrap_or_else(|e| panic!("opening the store: {e}\nserver log:\n{}", server.log()))
}

/// Runs one contract case against a fresh server (or prints why it was skipped).
async fn run_case(name: &str) {
    let test = format!("contract case {name} against sshd");
    let Some(server) = start_server(&test) else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(store_for(&server).await);
    run_case_logged(&test, name, store, || server.log()).await;
}

// One `#[tokio::test]` per contract case (the contract's own list), so a failure names its case.
cloudmirror_contract::contract_cases_with!(run_case);

/// More than one upload chunk (4 MiB), so the first is on the server while the body waits.
const BIG: usize = 5 * 1024 * 1024 + 123;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_a_temporary_name_then_rename_and_clean_up() {
    let Some(server) = start_server("write_a_temporary_name_then_rename_and_clean_up") else {
        return;
    };
    let store = Arc::new(store_for(&server).await);
    let key = Key::parse("daily/Résumé ü 1.gz").unwrap();
    let old = Bytes::from_static(b"the old copy");
    store.upload_bytes(&key, old.clone()).await.unwrap();
    let d = data(3, BIG);
    let (body, reached, release) = gated_body(d.slice(..4_500_000), d.slice(4_500_000..));
    let st = store.clone();
    let k = key.clone();
    let task = tokio::spawn(async move { st.upload(&k, body, None).await });
    reached.await.unwrap();
    let during = files_on_disk(&server.folder());
    assert_eq!(during.len(), 2, "{during:?}");
    let temp = during.iter().find(|p| p.ends_with(".partial")).unwrap();
    assert!(
        temp.starts_with("daily/.Résumé ü 1.gz."),
        "the body goes to a temporary name beside the target: {during:?}"
    );
    assert_eq!(
        std::fs::read(server.folder().join("daily/Résumé ü 1.gz")).unwrap(),
        old,
        "the old object stays whole until the rename"
    );
    let listed = store.list_all(&Prefix::root()).await.unwrap();
    assert_eq!(
        listed.len(),
        1,
        "temporary names are not listed: {listed:?}"
    );
    let _ = release.send(());
    let meta = task.await.unwrap().unwrap();
    assert_eq!(meta.size, BIG as u64);
    assert_eq!(
        files_on_disk(&server.folder()),
        vec!["daily/Résumé ü 1.gz".to_owned()],
        "renamed over the old object"
    );
    assert_eq!(store.download_bytes(&key).await.unwrap(), d);

    // A body that fails after a chunk went out: the temporary file is removed, the old object stays.
    let failing = stream::iter(vec![
        Ok(d.slice(..4_200_000)),
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
    // A new key whose upload fails leaves nothing at all.
    let fresh = Key::parse("new dir/ä b.gz").unwrap();
    let failing = stream::iter(vec![
        Ok(d.slice(..4_200_000)),
        Err(cloudmirror_contract::testkit::source_failure()),
    ])
    .boxed();
    store.upload(&fresh, failing, None).await.unwrap_err();
    assert!(store.head(&fresh).await.unwrap().is_none());
    assert_eq!(
        files_on_disk(&server.folder()),
        vec!["daily/Résumé ü 1.gz".to_owned()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_reconnects_and_resumes_the_upload() {
    let Some(server) = start_server("a_dropped_connection_reconnects_and_resumes_the_upload")
    else {
        return;
    };
    let store = Arc::new(store_for(&server).await);
    let key = Key::parse("cut/backup.gz").unwrap();
    let d = data(5, BIG);
    let (body, reached, release) = gated_body(d.slice(..4_500_000), d.slice(4_500_000..));
    let st = store.clone();
    let k = key.clone();
    let task = tokio::spawn(async move { st.upload(&k, body, None).await });
    reached.await.unwrap();
    assert!(server.drop_connections() > 0, "{}", server.log());
    assert!(!files_on_disk(&server.folder()).contains(&"cut/backup.gz".to_owned()));
    let _ = release.send(());
    let meta = task
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    assert_eq!(meta.size, BIG as u64);
    assert_eq!(store.download_bytes(&key).await.unwrap(), d);
    assert_eq!(
        files_on_disk(&server.folder()),
        vec!["cut/backup.gz".to_owned()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_gone_mid_upload_leaves_nothing_under_the_name() {
    let Some(mut server) = start_server("a_server_gone_mid_upload_leaves_nothing_under_the_name")
    else {
        return;
    };
    let store = Arc::new(store_for(&server).await);
    let key = Key::parse("cut/backup.gz").unwrap();
    let d = data(6, BIG);
    let (body, reached, release) = gated_body(d.slice(..4_500_000), d.slice(4_500_000..));
    let st = store.clone();
    let k = key.clone();
    let task = tokio::spawn(async move { st.upload(&k, body, None).await });
    reached.await.unwrap();
    server.stop();
    let _ = release.send(());
    let err = task.await.unwrap().unwrap_err();
    assert!(
        err.is_retryable(),
        "a dropped connection is transient: {err}"
    );
    assert!(
        err.message().contains("127.0.0.1"),
        "names the server: {err}"
    );
    server.restart().unwrap();
    assert!(
        store.head(&key).await.unwrap().is_none(),
        "nothing under the final name"
    );
    let on_disk = files_on_disk(&server.folder());
    assert!(
        on_disk.iter().all(|p| p.ends_with(".partial")),
        "only the stale temporary file: {on_disk:?}"
    );
    // A left-over temporary file (the server died before the adapter could remove it) stays hidden.
    assert!(store.list_all(&Prefix::root()).await.unwrap().is_empty());
    store.upload_bytes(&key, d.clone()).await.unwrap();
    assert_eq!(store.download_bytes(&key).await.unwrap(), d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_is_unauthorized_and_names_the_server() {
    let Some(server) = start_server("wrong_key_is_unauthorized_and_names_the_server") else {
        return;
    };
    let mut c = server.config();
    c.private_key = Some(server.stranger_key());
    let err = open(c).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    let endpoint = format!("[127.0.0.1]:{}", server.port());
    assert!(err.to_string().contains(&endpoint), "{err}");
    assert!(!err.to_string().contains('\n'), "{err}");
    let mut c = server.config();
    c.private_key = None;
    c.password = Some("not-the-password-xyz".to_owned().into());
    let err = open(c).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(!err.to_string().contains("not-the-password-xyz"), "{err}");
    let mut c = server.config();
    c.path = format!("{}/missing", c.path);
    let err = open(c).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

/// `ssh-keygen -lf` of the server's host key: the fingerprint a person compares.
fn fingerprint(server: &Sshd) -> String {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let pubkey = dir.path().join("host.pub");
    std::fs::write(&pubkey, server.host_public_key()).expect("writing the host key");
    let out = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&pubkey)
        .output()
        .expect("running ssh-keygen -lf");
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    line.split_whitespace()
        .nth(1)
        .expect("ssh-keygen -lf prints a fingerprint")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_changed_host_keys_are_refused_with_the_fingerprint() {
    let Some(server) =
        start_server("unknown_and_changed_host_keys_are_refused_with_the_fingerprint")
    else {
        return;
    };
    let expected = fingerprint(&server);
    assert!(expected.starts_with("SHA256:"), "{expected}");
    let dir = tempfile::tempdir().unwrap();
    // Not in the file (another host is).
    let other = dir.path().join("other_hosts");
    std::fs::write(
        &other,
        format!("[127.0.0.1]:1 {}", server.host_public_key().trim()),
    )
    .unwrap();
    let mut c = server.config();
    c.known_hosts = Some(other);
    let err = open(c).await.unwrap_err();
    assert_ne!(err.kind(), ErrorKind::Transient, "never retried: {err}");
    assert!(err.to_string().contains(&expected), "{err}");
    assert!(err.to_string().contains("ssh-keyscan"), "{err}");
    // No file at all.
    let mut c = server.config();
    c.known_hosts = Some(dir.path().join("missing"));
    let err = open(c).await.unwrap_err();
    assert!(err.to_string().contains(&expected), "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");
    // A different key of the same type recorded for this host: a mismatch.
    let changed = dir.path().join("changed_hosts");
    let stranger = std::fs::read_to_string(server.stranger_key().with_extension("pub")).unwrap();
    std::fs::write(
        &changed,
        format!("[127.0.0.1]:{} {}", server.port(), stranger.trim()),
    )
    .unwrap();
    let mut c = server.config();
    c.known_hosts = Some(changed);
    let err = open(c).await.unwrap_err();
    assert!(err.to_string().contains("MISMATCH"), "{err}");
    assert!(err.to_string().contains(&expected), "{err}");
    assert!(
        !server.log().contains("Accepted publickey"),
        "never authenticated"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_recorded_with_another_key_type_is_asked_for_that_one() {
    let Some(server) = start_server("a_host_recorded_with_another_key_type_is_asked_for_that_one")
    else {
        return;
    };
    // Only the ECDSA key is recorded; the server offers Ed25519 too, which russh prefers.
    let dir = tempfile::tempdir().unwrap();
    let known = dir.path().join("known_hosts");
    std::fs::write(
        &known,
        format!(
            "[127.0.0.1]:{} {}",
            server.port(),
            server.host_ecdsa_public_key().trim()
        ),
    )
    .unwrap();
    let mut c = server.config();
    c.known_hosts = Some(known);
    let store = open(c)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    assert!(store.list_all(&Prefix::root()).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_and_downloads_close_their_files() {
    let Some(server) = start_server("uploads_and_downloads_close_their_files") else {
        return;
    };
    let store = store_for(&server).await;
    let key = Key::parse("a/b.gz").unwrap();
    let d = data(4, 100_000);
    store.upload_bytes(&key, d.clone()).await.unwrap();
    assert_eq!(store.download_bytes(&key).await.unwrap(), d);
    // The connection stays open (the store lives on), but no handle on the file does.
    let target = server.folder().join("a/b.gz");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut open = server.open_files();
    while open.iter().any(|p| p.starts_with(server.folder()))
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        open = server.open_files();
    }
    assert!(
        !open.iter().any(|p| p.starts_with(server.folder())),
        "{} is still open: {open:?}",
        target.display()
    );
    assert!(
        !open.is_empty(),
        "the connection's process is there: {open:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_onto_a_folder_fails_and_its_temporary_file_is_removed() {
    let Some(server) =
        start_server("an_upload_onto_a_folder_fails_and_its_temporary_file_is_removed")
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
    store
        .upload_bytes(&Key::parse("daily").unwrap(), data(9, 1000))
        .await
        .unwrap_err();
    assert_eq!(
        files_on_disk(&server.folder()),
        vec!["daily/kept.gz".to_owned()],
        "temporary file removed, folder kept"
    );
}
