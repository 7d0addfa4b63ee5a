//! The `Store` implementation over Google Drive (thin: the work is in `upload`, `list` and `client`).

use async_trait::async_trait;
use cloudmirror_contract::{
    ByteStream, Capabilities, Error, ErrorKind, Key, ObjectMeta, ObjectStream, Prefix, Result,
    RetryPolicy, Store,
};
use futures::{StreamExt, TryStreamExt};

use crate::auth::TokenSource;
use crate::client::Client;
use crate::config::GdriveConfig;
use crate::error::transport;
use crate::index::{find_files, FolderIndex, KeyedLocks};
use crate::upload::Uploader;
use crate::BACKEND;

/// A Google Drive folder as a cloudmirror store, authenticated as a service account.
#[derive(Debug)]
pub struct GdriveStore {
    client: Client,
    index: FolderIndex,
    key_locks: KeyedLocks,
    chunk_size: u64,
    list_page_size: usize,
}

impl GdriveStore {
    /// Validates `config`, loads the service-account key and prepares the client (no request is
    /// made until the first operation).
    pub async fn new(config: GdriveConfig) -> Result<Self> {
        let s = config.settings()?;
        let tokens = TokenSource::new(&s.key, s.subject.as_deref()).await?;
        let client = Client::new(
            tokens,
            &s.api_url,
            s.shared_drive_id.clone(),
            s.list_page_size,
        )?;
        Ok(Self {
            client,
            index: FolderIndex::new(s.folder_id),
            key_locks: KeyedLocks::default(),
            chunk_size: s.chunk_size,
            list_page_size: s.list_page_size,
        })
    }

    /// Uses `policy` for every request (tests use [`RetryPolicy::fast`]).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.client.retry = policy;
        self
    }

    fn uploader(&self) -> Uploader<'_> {
        Uploader {
            client: &self.client,
            index: &self.index,
            key_locks: &self.key_locks,
            chunk_size: self.chunk_size as usize,
        }
    }
}

#[async_trait]
impl Store for GdriveStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            backend: BACKEND,
            chunk_size: Some(self.chunk_size),
            list_page_size: Some(self.list_page_size),
            max_object_size: Some(crate::config::MAX_OBJECT_SIZE),
        }
    }

    async fn upload(&self, key: &Key, body: ByteStream, _len: Option<u64>) -> Result<ObjectMeta> {
        self.uploader()
            .upload(key, body)
            .await
            .map_err(|e| e.context(format!("uploading {key}")))
    }

    fn list<'a>(&'a self, prefix: &'a Prefix) -> ObjectStream<'a> {
        crate::list::list(&self.client, &self.index, prefix)
    }

    async fn download(&self, key: &Key) -> Result<ByteStream> {
        let missing = || {
            Error::new(
                ErrorKind::NotFound,
                BACKEND,
                format!("{key} does not exist"),
            )
        };
        let Some(parent) = self.index.find(&self.client, key.dir()).await? else {
            return Err(missing());
        };
        let files = find_files(&self.client, &parent, key.name()).await?;
        let Some(newest) = files.first() else {
            return Err(missing());
        };
        let resp = self
            .client
            .download(&newest.id)
            .await
            .map_err(|e| e.context(format!("downloading {key}")))?;
        Ok(resp.bytes_stream().map_err(transport).boxed())
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        let Some(parent) = self.index.find(&self.client, key.dir()).await? else {
            return Ok(());
        };
        // Every file of that name: duplicates go too.
        for f in find_files(&self.client, &parent, key.name()).await? {
            self.client
                .delete(&f.id)
                .await
                .map_err(|e| e.context(format!("deleting {key}")))?;
        }
        Ok(())
    }
}
