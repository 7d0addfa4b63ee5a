//! An untrusted TLS certificate fails at once, through the contract's one transport mapping, with
//! the root cause at the end of the message (not retried for the whole budget).

// Reason: test helpers outside #[test] fns; a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cloudmirror_contract::{ErrorKind, Prefix, RetryPolicy, StoreExt};
use cloudmirror_gdrive::{GdriveConfig, GdriveStore};
use secrecy::SecretString;

/// `openssl s_server` with a fresh self-signed certificate for 127.0.0.1; killed when dropped.
struct SelfSigned {
    child: Child,
    port: u16,
    _dir: tempdir::Dir,
}

impl Drop for SelfSigned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

mod tempdir {
    /// A scratch directory removed on drop.
    pub(crate) struct Dir(pub(crate) std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn self_signed_server() -> Option<SelfSigned> {
    let dir = std::env::temp_dir().join(format!("cm-gdrive-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dir = tempdir::Dir(dir);
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .args(["-keyout", "k.pem", "-out", "c.pem"])
        .current_dir(&dir.0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    assert!(made.success(), "openssl could not make a certificate");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("openssl")
        .args([
            "s_server", "-www", "-cert", "c.pem", "-key", "k.pem", "-accept",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .current_dir(&dir.0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let server = SelfSigned {
        child,
        port,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "openssl s_server did not start in 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(server)
}

#[tokio::test]
async fn an_untrusted_certificate_fails_at_once_naming_the_cause() {
    let Some(server) = self_signed_server() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "openssl is needed for this test under CI=true"
        );
        eprintln!("skipped: openssl is not installed");
        return;
    };
    let url = format!("https://127.0.0.1:{}", server.port);
    let key = serde_json::json!({
        "type": "service_account",
        "private_key": cloudmirror_fakes::gdrive::TEST_PRIVATE_KEY_PEM,
        "client_email": "backup@project.iam.gserviceaccount.com",
        "token_uri": format!("{url}/token"),
    })
    .to_string();
    let store = GdriveStore::new(GdriveConfig {
        folder_id: "folder".into(),
        service_account_json: Some(SecretString::from(key)),
        api_url: Some(url.clone()),
        ..GdriveConfig::default()
    })
    .await
    .unwrap()
    // A retried certificate error would spin for this budget and end as transient.
    .with_retry_policy(RetryPolicy::with_budget(Duration::from_secs(10)));
    let err = store.list_all(&Prefix::root()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other, "not retryable: {err}");
    let msg = err.to_string();
    // One line: the endpoint (the token URI's host) and the root cause (issue 17).
    assert!(
        msg.starts_with(&format!(
            "gdrive: cannot connect to {}: TLS certificate problem: ",
            cloudmirror_contract::cause::endpoint_of(&url)
        )),
        "{msg}"
    );
    assert_eq!(msg.matches("certificate").count(), 2, "said once: {msg}");
    let msg = msg.to_lowercase();
    assert!(!msg.contains("html"), "{msg}");
}
