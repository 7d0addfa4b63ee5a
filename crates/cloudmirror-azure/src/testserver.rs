//! A real Azure Blob Storage emulator for tests and the demo (feature `testserver`, never in a
//! release build): Microsoft's Azurite (npm package `azurite`) on `127.0.0.1`, a temporary
//! `--location`, telemetry off; plus [`CutProxy`], which drops connections mid-request.
//!
//! The program (`azurite-blob`) comes from `CLOUDMIRROR_AZURITE`,
//! `target/azurite/node_modules/.bin/azurite-blob` (where `cargo xtask ci` installs it) or `PATH`.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cloudmirror_contract::RetryPolicy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{AzureConfig, AzureStore};

/// Azurite's one account (the emulator's documented well-known name).
pub const ACCOUNT: &str = "devstoreaccount1";
/// That account's key: the emulator's documented well-known key, public by design.
pub const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// The container made at start.
pub const CONTAINER: &str = "backups";

/// A running Azurite blob service; killed, and its folder removed, on drop.
#[derive(Debug)]
pub struct Azurite {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Azurite {
    /// Finds `azurite-blob`: `CLOUDMIRROR_AZURITE`, then `target/azurite/node_modules/.bin/` of
    /// this workspace, then `PATH`.
    pub fn find() -> Option<PathBuf> {
        if let Some(path) = std::env::var_os("CLOUDMIRROR_AZURITE") {
            return Some(PathBuf::from(path)).filter(|p| p.is_file());
        }
        let local = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/azurite/node_modules/.bin/azurite-blob");
        let on_path = std::env::var_os("PATH")
            .map(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join("azurite-blob"))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        std::iter::once(local).chain(on_path).find(|p| p.is_file())
    }

    /// Starts `binary` on a free port of 127.0.0.1 with an empty state folder, waits until it
    /// answers, and creates [`CONTAINER`].
    pub async fn start(binary: &Path) -> std::io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let log = std::fs::File::create(dir.path().join("azurite.log"))?;
        let child = Command::new(binary)
            .args(["--blobHost", "127.0.0.1", "--blobPort"])
            .arg(port.to_string())
            .arg("--location")
            .arg(dir.path().join("state"))
            .arg("--debug")
            .arg(dir.path().join("debug.log"))
            // Tests never reach the internet; Azurite reports telemetry unless told not to.
            .arg("--disableTelemetry")
            // We ask for one fixed service version; newer Azurites accept it anyway, older ones
            // would refuse versions they do not know.
            .arg("--skipApiVersionCheck")
            .arg("--disableProductStyleUrl")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let server = Self {
            child: Some(child),
            port,
            dir,
        };
        let deadline = Instant::now() + Duration::from_mins(1);
        loop {
            match AzureStore::create_container(server.config(), RetryPolicy::none()).await {
                Ok(()) => return Ok(server),
                Err(e) if Instant::now() > deadline => {
                    return Err(std::io::Error::other(format!(
                        "Azurite did not start: {e}\n{}",
                        server.log()
                    )))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// The blob service's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The endpoint on `port` (Azurite's, or a [`CutProxy`]'s in front of it).
    pub fn endpoint_on(port: u16) -> String {
        format!("http://127.0.0.1:{port}/{ACCOUNT}")
    }

    /// A configuration for [`CONTAINER`] with the account key.
    pub fn config(&self) -> AzureConfig {
        let mut c = AzureConfig::with_access_key(ACCOUNT, CONTAINER, KEY.to_owned().into());
        c.endpoint = Some(Self::endpoint_on(self.port));
        c
    }

    /// A configuration for [`CONTAINER`] authorized by [`Azurite::account_sas`] instead of the key.
    pub fn sas_config(&self) -> AzureConfig {
        let mut c = self.config();
        c.access_key = None;
        c.sas_token = Some(self.account_sas().into());
        c
    }

    /// An account SAS for the blob service with the permissions a destination needs (`racwdl`),
    /// valid until 2099: "Create an account SAS"
    /// (<https://learn.microsoft.com/en-us/rest/api/storageservices/create-account-sas>), the
    /// string-to-sign of versions 2015-04-05 to 2020-12-06 (account, permissions, services,
    /// resource types, start, expiry, IP, protocol, version, each followed by a newline).
    pub fn account_sas(&self) -> String {
        let (sp, ss, srt, se, sv) = ("rwdlac", "b", "sco", "2099-01-01T00:00:00Z", "2019-12-12");
        let to_sign = format!("{ACCOUNT}\n{sp}\n{ss}\n{srt}\n\n{se}\n\n\n{sv}\n");
        let sig = crate::client::sign(KEY, &to_sign).unwrap_or_default();
        let sig: String =
            percent_encoding::utf8_percent_encode(&sig, percent_encoding::NON_ALPHANUMERIC)
                .collect();
        format!("sv={sv}&ss={ss}&srt={srt}&sp={sp}&se={se}&sig={sig}")
    }

    /// What the server logged so far (console and debug log).
    pub fn log(&self) -> String {
        let read = |n: &str| std::fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
        let debug = read("debug.log");
        let tail: Vec<&str> = debug.lines().rev().take(40).collect();
        format!(
            "{}\n--- debug log (last lines) ---\n{}",
            read("azurite.log"),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    }
}

/// A TCP proxy on 127.0.0.1 that can drop the connection in the middle of a request.
#[derive(Debug)]
pub struct CutProxy {
    port: u16,
    state: Arc<ProxyState>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Default)]
struct ProxyState {
    /// Bytes still forwarded towards the server before every connection is cut (once).
    cut_after: Mutex<Option<u64>>,
    /// Whether connections are closed (new ones at once, open ones at their next byte).
    refuse: AtomicBool,
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CutProxy {
    /// Starts forwarding a free port of 127.0.0.1 to `upstream` on 127.0.0.1.
    pub async fn start(upstream: u16) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(ProxyState::default());
        let st = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                if st.refuse.load(Ordering::SeqCst) {
                    drop(conn);
                    continue;
                }
                tokio::spawn(pipe(conn, upstream, st.clone()));
            }
        });
        Ok(Self { port, state, task })
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Cuts the connection that carries the byte `bytes` from now on towards the server (once).
    pub fn cut_after(&self, bytes: u64) {
        if let Ok(mut c) = self.state.cut_after.lock() {
            *c = Some(bytes);
        }
    }

    /// From now on, closes every new connection at once and ends the open ones at their next byte
    /// towards the server (`false`: forwards new ones again).
    pub fn refuse(&self, refuse: bool) {
        self.state.refuse.store(refuse, Ordering::SeqCst);
    }
}

impl ProxyState {
    /// How many of the next `n` bytes may pass, and whether the connection is cut after them.
    fn allow(&self, n: usize) -> (usize, bool) {
        let Ok(mut c) = self.cut_after.lock() else {
            return (n, false);
        };
        match *c {
            Some(left) if left < n as u64 => {
                *c = None;
                (left as usize, true)
            }
            Some(left) => {
                *c = Some(left - n as u64);
                (n, false)
            }
            None => (n, false),
        }
    }
}

async fn pipe(mut client: tokio::net::TcpStream, upstream: u16, state: Arc<ProxyState>) {
    let Ok(mut server) = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, upstream)).await
    else {
        return;
    };
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let up = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = cr.read(&mut buf).await?;
            if n == 0 {
                return sw.shutdown().await;
            }
            // Refusing also ends the connections already open (an idle pooled one would
            // otherwise still reach the server).
            if state.refuse.load(Ordering::SeqCst) {
                return Err(std::io::Error::other("refused"));
            }
            let (pass, cut) = state.allow(n);
            sw.write_all(&buf[..pass]).await?;
            if cut {
                return Err(std::io::Error::other("cut"));
            }
        }
    };
    let down = tokio::io::copy(&mut sr, &mut cw);
    tokio::pin!(down);
    tokio::select! {
        r = up => if r.is_ok() { let _ = (&mut down).await; },
        _ = &mut down => {}
    }
    // Dropping both sockets here closes them: a cut connection ends mid-request.
}
