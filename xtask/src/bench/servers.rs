//! The test servers a scenario talks to: `s3s-fs`, the in-process fakes, a throttling proxy.

use anyhow::Result;
use cloudmirror_fakes::dropbox::FakeDropbox;
use cloudmirror_fakes::gdrive::FakeGdrive;
use cloudmirror_fakes::supabase::FakeSupabase;

use super::S3_BUCKET;
use super::S3_KEY;
use super::S3_SECRET;
use crate::provision;
use anyhow::bail;
use anyhow::Context;
use std::net::Ipv4Addr;
use std::net::SocketAddr;
use std::net::TcpListener as StdListener;
use std::path::Path;
use std::path::PathBuf;
use std::process::Child;
use std::process::Command;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

/// A running `s3s-fs`; killed on drop.
pub(super) struct S3sFs {
    pub(super) child: Child,
    pub(super) port: u16,
    pub(super) root: PathBuf,
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The in-process fakes of one scenario; they stop when dropped.
pub(super) struct Fakes {
    pub(super) dropbox: FakeDropbox,
    pub(super) gdrive: FakeGdrive,
    pub(super) supabase: FakeSupabase,
    pub(super) proxy: Option<tokio::task::JoinHandle<()>>,
    pub(super) proxy_uri: Option<String>,
}

impl Drop for Fakes {
    fn drop(&mut self) {
        if let Some(p) = self.proxy.take() {
            p.abort();
        }
    }
}

impl Fakes {
    /// The fake's destination table at default adapter settings (the fakes' own tables shrink
    /// chunk sizes for tests; those lines are dropped).
    pub(super) fn toml(&self, which: &str) -> String {
        let table = match which {
            "dropbox" => {
                let t = self.dropbox.destination_toml("dropbox");
                match &self.proxy_uri {
                    Some(proxy) => t.replace(&self.dropbox.uri(), proxy),
                    None => t,
                }
            }
            "gdrive" => self.gdrive.destination_toml("gdrive"),
            _ => self.supabase.destination_toml("supabase"),
        };
        let mut out = String::new();
        for line in table.lines().filter(|l| !l.starts_with("chunk_size")) {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

/// Starts `s3s-fs` (installed by [`provision::s3s_fs`] if missing) on a free loopback port.
pub(super) fn start_s3s_fs(work: &Path) -> Result<S3sFs> {
    let bin = provision::s3s_fs().map_err(|e| anyhow::anyhow!(e))?;
    let root = work.join("s3s-root");
    std::fs::create_dir_all(root.join(S3_BUCKET))?;
    let port = StdListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port();
    let log = std::fs::File::create(work.join("s3s-fs.log"))?;
    let child = Command::new(&bin)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", S3_KEY, "--secret-key", S3_SECRET])
        .arg(&root)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let server = S3sFs { child, port, root };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        if Instant::now() > deadline {
            bail!("s3s-fs did not listen on port {port} within 20 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(server)
}

/// A TCP proxy to `upstream_uri` (`http://127.0.0.1:PORT`) that passes client-to-server bytes at
/// `rate` bytes per second (all connections together) and answers unthrottled. Returns its URI.
pub(super) async fn throttle_proxy(
    upstream_uri: &str,
    rate: u64,
) -> Result<(String, tokio::task::JoinHandle<()>)> {
    link_proxy(upstream_uri, Some(rate), Duration::ZERO).await
}

/// A TCP proxy to `upstream_uri` (`http://127.0.0.1:PORT`) that simulates a wide-area link: bytes
/// sent to the server pass at `rate` bytes per second (all connections share that uplink), and
/// every byte, either way, arrives `latency` after it was sent (in order, pipelined: the delay adds
/// to each round trip, not to each byte). Returns its URI.
pub(super) async fn link_proxy(
    upstream_uri: &str,
    rate: Option<u64>,
    latency: Duration,
) -> Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    link_proxy_on(listener, upstream_uri, rate, latency)
}

/// [`link_proxy`] on a listener the caller bound (so a fake can be told the proxy's address, for
/// the `Location` headers it answers, before the proxy starts).
pub(super) fn link_proxy_on(
    listener: tokio::net::TcpListener,
    upstream_uri: &str,
    rate: Option<u64>,
    latency: Duration,
) -> Result<(String, tokio::task::JoinHandle<()>)> {
    let upstream: SocketAddr = upstream_uri
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .with_context(|| format!("not a loopback address: {upstream_uri}"))?;
    let uri = format!("http://{}", listener.local_addr()?);
    // When the simulated uplink is next free.
    let uplink = Arc::new(Mutex::new(tokio::time::Instant::now()));
    let handle = tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let uplink = uplink.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                let up = pipe(cr, sw, rate.map(|r| (r, uplink)), latency);
                let down = pipe(sr, cw, None, latency);
                let _ = tokio::join!(up, down);
            });
        }
    });
    Ok((uri, handle))
}

/// Copies `from` to `to`, each read held back until the link (`rate` bytes per second, shared
/// through its next-free instant) has carried it and then for `latency`.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    link: Option<(u64, Arc<Mutex<tokio::time::Instant>>)>,
    latency: Duration,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Bytes in flight on the simulated wire: at most 64 reads of 64 KiB.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(tokio::time::Instant, Vec<u8>)>(64);
    let reader = async move {
        loop {
            let mut buf = vec![0u8; 64 * 1024];
            let n = from.read(&mut buf).await?;
            buf.truncate(n);
            let now = tokio::time::Instant::now();
            let sent = match &link {
                Some((rate, next)) => {
                    let mut next = next.lock().map_err(|_| std::io::Error::other("lock"))?;
                    let start = (*next).max(now);
                    *next = start + Duration::from_secs_f64(n as f64 / *rate as f64);
                    *next
                }
                None => now,
            };
            let done = n == 0;
            if tx.send((sent + latency, buf)).await.is_err() || done {
                return Ok::<_, std::io::Error>(());
            }
        }
    };
    let writer = async move {
        while let Some((at, buf)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if buf.is_empty() {
                to.shutdown().await?;
                break;
            }
            to.write_all(&buf).await?;
        }
        Ok::<_, std::io::Error>(())
    };
    let (r, w) = tokio::join!(reader, writer);
    r.and(w)
}
