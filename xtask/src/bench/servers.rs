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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let upstream: SocketAddr = upstream_uri
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .with_context(|| format!("not a loopback address: {upstream_uri}"))?;
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let uri = format!("http://{}", listener.local_addr()?);
    // When the simulated link is next free.
    let link = Arc::new(Mutex::new(tokio::time::Instant::now()));
    let handle = tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let link = link.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = cr.read(&mut buf).await?;
                        if n == 0 {
                            sw.shutdown().await?;
                            return Ok::<_, std::io::Error>(());
                        }
                        let free_at = {
                            let mut next =
                                link.lock().map_err(|_| std::io::Error::other("lock"))?;
                            let start = (*next).max(tokio::time::Instant::now());
                            *next = start + Duration::from_secs_f64(n as f64 / rate as f64);
                            *next
                        };
                        tokio::time::sleep_until(free_at).await;
                        sw.write_all(&buf[..n]).await?;
                    }
                };
                let down = async move { tokio::io::copy(&mut sr, &mut cw).await };
                let _ = tokio::join!(up, down);
            });
        }
    });
    Ok((uri, handle))
}
