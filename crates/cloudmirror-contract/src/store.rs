//! The `Store` trait every adapter implements, the data it moves, and conveniences on top.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use crate::{Key, Prefix, Result};

/// A body: a stream of byte chunks, any sizes, ending at the end of the object.
///
/// An `Err` item means the producer failed (e.g. the backup source died): an adapter that sees one
/// abandons the upload, leaves no object behind and returns that error.
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// A lazy listing: yields objects page by page as the provider returns them.
pub type ObjectStream<'a> = BoxStream<'a, Result<ObjectMeta>>;

/// A checksum as a provider reports it (lower-case hex).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Checksum {
    /// SHA-256 of the whole object (local, S3 full-object checksums).
    Sha256(String),
    /// MD5 of the whole object (Google Drive's `md5Checksum`).
    Md5(String),
    /// Dropbox's `content_hash` (SHA-256 of the SHA-256s of 4 MiB blocks).
    DropboxContentHash(String),
}

impl Checksum {
    /// The algorithm's name, as used in manifests and messages.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Checksum::Sha256(_) => "sha256",
            Checksum::Md5(_) => "md5",
            Checksum::DropboxContentHash(_) => "dropbox_content_hash",
        }
    }

    /// The hex value.
    pub fn value(&self) -> &str {
        match self {
            Checksum::Sha256(v) | Checksum::Md5(v) | Checksum::DropboxContentHash(v) => v,
        }
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm(), self.value())
    }
}

/// What a listing or an upload says about one stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The key relative to the store's root.
    pub key: Key,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time, when the provider reports one.
    pub modified: Option<DateTime<Utc>>,
    /// The provider's own checksum of the content, when it has one.
    pub checksum: Option<Checksum>,
}

/// What an adapter is and how it moves data; the contract suite sizes its cases from this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// The backend's short name (`"local"`, `"s3"`, `"dropbox"`, `"gdrive"`, `"supabase"`).
    pub backend: &'static str,
    /// Size above which uploads take the chunked/multipart/resumable path (and the size of each
    /// chunk), when the adapter has one.
    pub chunk_size: Option<u64>,
    /// Objects per listing page, when the adapter pages its listings.
    pub list_page_size: Option<usize>,
    /// The largest object the provider accepts, when it has a limit (S3 5 TiB, Dropbox 350 GB,
    /// Drive 5,120 GB, a Supabase bucket's `file_size_limit`). The orchestrator fails a backup
    /// known to be larger before sending a byte, and cuts an unknown-length one off as soon as it
    /// crosses this.
    pub max_object_size: Option<u64>,
}

/// An object store: the one trait the orchestrator talks to, as `Arc<dyn Store>`.
///
/// Promises every implementation keeps (the contract suite checks each):
/// - `upload` is atomic: no reader ever sees a partial object; an existing object under the same key
///   is replaced only once the new one is complete; a failed upload leaves no new object behind.
///   It streams: memory stays bounded by the adapter's chunk size, whatever the object's size.
/// - `upload` reads its body once, forward only, and never needs a byte before the chunk it
///   currently holds: a retry resends the chunk the adapter kept in memory, and a resumed upload
///   continues from the server's offset within that chunk. The orchestrator relies on this to
///   release spool bytes every destination has read (`[backup] spool_limit`), and drops the body
///   as soon as `upload` returns, which tells the spool this destination no longer reads.
/// - `list` returns every object whose key starts with the prefix, following pagination lazily,
///   with keys relative to the store's root. It never returns folders.
/// - `download` of a missing key fails with [`crate::ErrorKind::NotFound`].
/// - `delete` is idempotent: deleting a missing key succeeds.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// What this store is and how it chunks.
    fn capabilities(&self) -> Capabilities;

    /// Stores `body` under `key`. `len` is the total size when known in advance (`None` for a
    /// stream being produced, such as a compressor's output).
    async fn upload(&self, key: &Key, body: ByteStream, len: Option<u64>) -> Result<ObjectMeta>;

    /// Lists every object under `prefix`, lazily.
    fn list<'a>(&'a self, prefix: &'a Prefix) -> ObjectStream<'a>;

    /// Streams the object's content.
    async fn download(&self, key: &Key) -> Result<ByteStream>;

    /// Deletes the object; succeeds when it does not exist.
    async fn delete(&self, key: &Key) -> Result<()>;
}

/// Conveniences for every [`Store`] (blanket-implemented).
#[async_trait]
pub trait StoreExt: Store {
    /// Uploads an in-memory buffer (small objects: manifests, tests).
    async fn upload_bytes(&self, key: &Key, data: Bytes) -> Result<ObjectMeta> {
        let len = data.len() as u64;
        self.upload(key, body_from_bytes(data), Some(len)).await
    }

    /// Downloads a whole object into memory (small objects only: manifests, tests).
    async fn download_bytes(&self, key: &Key) -> Result<Bytes> {
        let mut body = self.download(key).await?;
        let mut buf = BytesMut::new();
        while let Some(chunk) = body.try_next().await? {
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }

    /// Collects a whole listing, sorted by key.
    async fn list_all(&self, prefix: &Prefix) -> Result<Vec<ObjectMeta>> {
        let mut all: Vec<ObjectMeta> = self.list(prefix).try_collect().await?;
        all.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(all)
    }

    /// The metadata of one object, found by listing its exact key.
    async fn head(&self, key: &Key) -> Result<Option<ObjectMeta>> {
        let prefix = Prefix::parse(key.as_str())?;
        let mut listing = self.list(&prefix);
        while let Some(meta) = listing.try_next().await? {
            if meta.key == *key {
                return Ok(Some(meta));
            }
        }
        Ok(None)
    }
}

impl<S: Store + ?Sized> StoreExt for S {}

#[async_trait]
impl<S: Store + ?Sized> Store for Arc<S> {
    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }
    async fn upload(&self, key: &Key, body: ByteStream, len: Option<u64>) -> Result<ObjectMeta> {
        (**self).upload(key, body, len).await
    }
    fn list<'a>(&'a self, prefix: &'a Prefix) -> ObjectStream<'a> {
        (**self).list(prefix)
    }
    async fn download(&self, key: &Key) -> Result<ByteStream> {
        (**self).download(key).await
    }
    async fn delete(&self, key: &Key) -> Result<()> {
        (**self).delete(key).await
    }
}

/// A body made of one in-memory buffer.
pub fn body_from_bytes(data: Bytes) -> ByteStream {
    if data.is_empty() {
        stream::empty().boxed()
    } else {
        stream::once(async move { Ok(data) }).boxed()
    }
}
