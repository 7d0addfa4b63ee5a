//! The contract suite and a 100 MiB streamed multipart round trip against a real S3 server:
//! `s3s-fs` (crates.io), started on 127.0.0.1 with a temporary root folder and static keys.
//!
//! The binary comes from `CLOUDMIRROR_S3S_FS` or `PATH` (`cargo xtask ci` installs it with
//! `cargo install s3s-fs --version 0.14.1 --features binary`). Without it the tests print one
//! "skipped" line, except under `CI=true`, where a missing server is a failure.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cloudmirror_contract::testkit::run_case_logged;
use cloudmirror_contract::{ByteSize, ByteStream, Key, Prefix, RetryPolicy, Store, StoreExt};
use cloudmirror_s3::{S3Config, S3Store};
use futures::stream::{self, StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

const ACCESS_KEY: &str = "cloudmirror-test-key";
const SECRET_KEY: &str = "cloudmirror-test-secret";
const BUCKET: &str = "cloudmirror-test";
/// Size of the large multipart round trip.
const TOTAL: usize = 100 * 1024 * 1024;

/// A running `s3s-fs`; killed (and its folder removed) on drop.
struct S3sFs {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl S3sFs {
    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("s3s-fs.log")).unwrap_or_default()
    }
}

fn find_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CLOUDMIRROR_S3S_FS") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "CLOUDMIRROR_S3S_FS={} is not a file",
            path.display()
        );
        return Some(path);
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(cargo_home) = std::env::var_os("CARGO_HOME") {
        dirs.push(Path::new(&cargo_home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cargo").join("bin"));
    }
    dirs.into_iter()
        .map(|d| d.join("s3s-fs"))
        .find(|p| p.is_file())
}

/// Starts `s3s-fs`, or returns `None` (after printing why) when it is not installed.
fn start_server(test: &str) -> Option<S3sFs> {
    let Some(binary) = find_binary() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "s3s-fs not found and CI=true: `cargo xtask ci` installs it \
             (cargo install s3s-fs --version 0.14.1 --features binary)"
        );
        println!("{test}: skipped: s3s-fs not found (run `cargo xtask ci`, which installs it)");
        return None;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("root");
    // s3s-fs keeps each bucket as a folder under its root: this creates the bucket.
    std::fs::create_dir_all(root.join(BUCKET)).expect("bucket folder");
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let log = std::fs::File::create(dir.path().join("s3s-fs.log")).expect("log file");
    let child = Command::new(&binary)
        .arg("--host")
        .arg("127.0.0.1")
        .arg("--port")
        .arg(port.to_string())
        .arg("--access-key")
        .arg(ACCESS_KEY)
        .arg("--secret-key")
        .arg(SECRET_KEY)
        .arg(&root)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
    Some(S3sFs { child, port, dir })
}

async fn store_for(server: &S3sFs, part_size: ByteSize) -> S3Store {
    let mut c = S3Config::new(BUCKET);
    c.region = Some("us-east-1".into());
    c.endpoint = Some(server.endpoint());
    c.access_key_id = Some(ACCESS_KEY.into());
    c.secret_access_key = Some(SECRET_KEY.to_owned().into());
    c.part_size = Some(part_size);
    c.list_page_size = Some(7);
    let store = S3Store::new(c)
        .await
        .expect("store")
        .with_retry_policy(RetryPolicy::fast());
    // Wait until the server answers S3 requests.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match store.list_all(&Prefix::root()).await {
            Ok(_) => return store,
            Err(e) if Instant::now() < deadline && e.is_retryable() => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("s3s-fs did not answer: {e}\nserver log:\n{}", server.log()),
        }
    }
}

/// Runs one contract case against a fresh server (or prints why it was skipped).
async fn run_case(name: &str) {
    let test = format!("contract case {name} against s3s-fs");
    let Some(server) = start_server(&test) else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(store_for(&server, ByteSize::mib(5)).await);
    run_case_logged(&test, name, store, || server.log()).await;
}

// One `#[tokio::test]` per contract case (the contract's own list), so a failure names its case.
cloudmirror_contract::contract_cases_with!(run_case);

/// 100 MiB of deterministic pseudo-random bytes, generated piece by piece (never held whole).
fn generated(seed: u64, total: usize, piece: usize) -> ByteStream {
    let mut rng = fastrand::Rng::with_seed(seed);
    stream::iter((0..total).step_by(piece).map(move |start| {
        let mut v = vec![0u8; piece.min(total - start)];
        rng.fill(&mut v);
        Ok(Bytes::from(v))
    }))
    .boxed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_100_mib_streamed_round_trip() {
    let Some(server) = start_server("multipart_100_mib_streamed_round_trip") else {
        return;
    };
    let store = store_for(&server, ByteSize::mib(16)).await;
    let key = Key::parse("big/backup-100MiB.bin").unwrap();

    let mut expected = Sha256::new();
    let mut source = generated(7, TOTAL, 1_000_003);
    while let Some(piece) = source.try_next().await.unwrap() {
        expected.update(&piece);
    }
    let expected = hex::encode(expected.finalize());

    let meta = store
        .upload(&key, generated(7, TOTAL, 1_000_003), None)
        .await
        .unwrap_or_else(|e| panic!("upload: {e}\nserver log:\n{}", server.log()));
    assert_eq!(meta.size, TOTAL as u64);

    let mut got = Sha256::new();
    let mut len = 0usize;
    let mut body = store.download(&key).await.unwrap();
    while let Some(chunk) = body.try_next().await.unwrap() {
        len += chunk.len();
        got.update(&chunk);
    }
    assert_eq!(len, TOTAL);
    assert_eq!(hex::encode(got.finalize()), expected, "content differs");

    let listed = store.head(&key).await.unwrap().expect("listed");
    assert_eq!(listed.size, TOTAL as u64);
    store.delete(&key).await.unwrap();
    assert!(store.head(&key).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_checksums_and_auth_against_s3s_fs() {
    let Some(server) = start_server("listing_checksums_and_auth_against_s3s_fs") else {
        return;
    };
    let store = store_for(&server, ByteSize::mib(5)).await;
    // '-' (0x2D) < '/' (0x2F) < '0' (0x30): a server walking folders could order these
    // differently from S3's byte order and lose keys across continuation tokens.
    let names = ["t/a-b", "t/a/c", "t/a/d/e", "t/a0", "t/b", "u"];
    for name in names {
        let meta = store
            .upload_bytes(&Key::parse(name).unwrap(), Bytes::from_static(b"hello"))
            .await
            .unwrap();
        assert_eq!(
            meta.checksum.as_ref().map(ToString::to_string).as_deref(),
            Some("sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"),
            "PutObject reports the SHA-256 the server verified"
        );
    }
    let mut c = S3Config::new(BUCKET);
    c.region = Some("us-east-1".into());
    c.endpoint = Some(server.endpoint());
    c.access_key_id = Some(ACCESS_KEY.into());
    c.secret_access_key = Some(SECRET_KEY.to_owned().into());
    c.list_page_size = Some(1);
    let one_per_page = S3Store::new(c.clone()).await.unwrap();
    for (prefix, want) in [
        ("", &names[..]),
        ("t/", &names[..5]),
        ("t/a", &names[..4]),
        ("t/a/", &names[1..3]),
        ("t/z", &[][..]),
    ] {
        let got: Vec<String> = one_per_page
            .list(&Prefix::parse(prefix).unwrap())
            .map_ok(|m| m.key.to_string())
            .try_collect()
            .await
            .unwrap();
        let mut sorted = got.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            got.len(),
            "duplicates listing {prefix:?}: {got:?}"
        );
        assert_eq!(sorted, want, "listing {prefix:?}");
    }

    c.secret_access_key = Some("not-the-secret".to_owned().into());
    let wrong = S3Store::new(c.clone()).await.unwrap();
    let err = wrong.list_all(&Prefix::root()).await.unwrap_err();
    assert_eq!(
        err.kind(),
        cloudmirror_contract::ErrorKind::Unauthorized,
        "{err}"
    );
    c.access_key_id = Some("nobody".into());
    let wrong = S3Store::new(c).await.unwrap();
    let err = wrong
        .upload_bytes(&Key::parse("x").unwrap(), Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        cloudmirror_contract::ErrorKind::Unauthorized,
        "{err}"
    );
}
