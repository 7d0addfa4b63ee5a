//! The `Store` implementation over one SFTP folder (thin: the work is in the modules).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use cloudmirror_contract::{
    ByteStream, Capabilities, ErrorKind, Key, ObjectMeta, ObjectStream, Prefix, Result,
    RetryPolicy, Store,
};
use futures::stream::{self, StreamExt};
use russh_sftp::protocol::{FileAttributes, OpenFlags};

use crate::client::{Client, Conn, OpenFile};
use crate::error::{error, is_eof, is_no_such_file, sftp_error, BACKEND};
use crate::list::stat;
use crate::{list, upload, SftpConfig};

/// Bytes per `SSH_FXP_READ`, and reads in flight at once.
const READ_LEN: u32 = 32 * 1024;
const READS_IN_FLIGHT: usize = 16;

/// A folder on an SFTP server as a cloudmirror store.
#[derive(Debug, Clone)]
pub struct SftpStore {
    client: Client,
}

impl SftpStore {
    /// Validates `config` (every problem at once, each naming its key), connects (checking the
    /// host key against `known_hosts` and authenticating) and checks that `path` is a folder:
    /// wrong credentials fail here with [`ErrorKind::Unauthorized`], an unknown or changed host
    /// key with [`ErrorKind::Other`] naming its SHA256 fingerprint, a missing folder with
    /// [`ErrorKind::NotFound`].
    pub async fn new(config: SftpConfig) -> Result<Self> {
        Self::new_with_retry(config, RetryPolicy::default()).await
    }

    /// [`SftpStore::new`], retrying with `policy` from the first request on.
    pub async fn new_with_retry(config: SftpConfig, policy: RetryPolicy) -> Result<Self> {
        let store = Self {
            client: Client::new(config.settings()?),
        }
        .with_retry_policy(policy);
        let root = store.client.settings().remote("");
        let attrs = store
            .client
            .run("opening the folder", |conn| {
                let root = root.clone();
                async move { stat(&conn, &root).await }
            })
            .await?;
        match attrs {
            Some(a) if a.is_dir() => Ok(store),
            Some(_) => Err(error(
                ErrorKind::InvalidInput,
                format!("path {root} is a file on the server, not a folder"),
            )),
            None => Err(error(
                ErrorKind::NotFound,
                format!(
                    "the folder `path` ({root}) does not exist on the server (create it first)"
                ),
            )),
        }
    }

    /// Uses `policy` for every request (tests use [`RetryPolicy::fast`]).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.client.retry = policy;
        self
    }
}

#[async_trait]
impl Store for SftpStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            backend: BACKEND,
            chunk_size: Some(upload::CHUNK_SIZE as u64),
            list_page_size: None,
            // SFTP sets no limit; the server's file system's shows as its error.
            max_object_size: None,
        }
    }

    async fn upload(&self, key: &Key, body: ByteStream, _len: Option<u64>) -> Result<ObjectMeta> {
        upload::upload(&self.client, key, body)
            .await
            .map_err(|e| e.context(format!("uploading {key}")))
    }

    fn list<'a>(&'a self, prefix: &'a Prefix) -> ObjectStream<'a> {
        list::list(&self.client, prefix)
    }

    async fn download(&self, key: &Key) -> Result<ByteStream> {
        let path = self.client.settings().remote(key.as_str());
        let file: OpenFile = Arc::new(Mutex::new(None));
        // Open now, so a missing object fails here as NotFound.
        self.client
            .run("opening for download", |conn| {
                let (file, path) = (file.clone(), path.clone());
                async move { open(&conn, &file, &path).await.map(|_| ()) }
            })
            .await?;
        let client = self.client.clone();
        Ok(stream::try_unfold(0u64, move |offset| {
            let (client, file, path) = (client.clone(), file.clone(), path.clone());
            async move {
                let data = client
                    .run("downloading", |conn| {
                        let (file, path) = (file.clone(), path.clone());
                        async move {
                            let handle = open(&conn, &file, &path).await?;
                            read_at(&conn, &handle, offset, &path).await
                        }
                    })
                    .await?;
                if data.is_empty() {
                    client.close(&file).await;
                    return Ok(None);
                }
                let next = offset + data.len() as u64;
                Ok(Some((data, next)))
            }
        })
        .boxed())
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        let path = self.client.settings().remote(key.as_str());
        self.client
            .run("deleting", |conn| {
                let path = path.clone();
                async move {
                    match conn.sftp.remove(path.as_str()).await {
                        Ok(_) => Ok(()),
                        Err(e) if is_no_such_file(&e) => Ok(()),
                        Err(e) => Err(sftp_error(&format!("deleting {path}"), &e)),
                    }
                }
            })
            .await
    }
}

/// The read handle of `path` on `conn`, opening it (again) after a reconnect.
async fn open(conn: &Conn, file: &OpenFile, path: &str) -> Result<String> {
    if let Some((id, handle)) = file.lock().ok().and_then(|f| f.clone()) {
        if id == conn.id {
            return Ok(handle);
        }
    }
    let handle = conn
        .sftp
        .open(path, OpenFlags::READ, FileAttributes::default())
        .await
        .map_err(|e| sftp_error(&format!("opening {path}"), &e))?
        .handle;
    if let Ok(mut f) = file.lock() {
        *f = Some((conn.id, handle.clone()));
    }
    Ok(handle)
}

/// Up to `READ_LEN * READS_IN_FLIGHT` bytes from `offset` (pipelined reads), empty at the end.
async fn read_at(conn: &Conn, handle: &str, offset: u64, path: &str) -> Result<Bytes> {
    let reads = (0..READS_IN_FLIGHT as u64).map(|i| async move {
        match conn
            .sftp
            .read(handle, offset + i * u64::from(READ_LEN), READ_LEN)
            .await
        {
            Ok(d) => Ok(d.data),
            Err(e) if is_eof(&e) => Ok(Vec::new()),
            Err(e) => Err(sftp_error(&format!("reading {path}"), &e)),
        }
    });
    let parts: Vec<Vec<u8>> = stream::iter(reads)
        .buffered(READS_IN_FLIGHT)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    // A short read ends what is contiguous: the rest is read from there next time.
    let mut out = Vec::with_capacity(parts.iter().map(Vec::len).sum());
    for part in parts {
        let short = part.len() < READ_LEN as usize;
        out.extend_from_slice(&part);
        if short {
            break;
        }
    }
    Ok(Bytes::from(out))
}
