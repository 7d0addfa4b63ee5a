//! The `Store` implementation over one WebDAV folder (thin: the work is in the modules).

use async_trait::async_trait;
use cloudmirror_contract::{
    ByteStream, Capabilities, Error, ErrorKind, Key, ObjectMeta, ObjectStream, Prefix, Result,
    RetryPolicy, Store,
};
use futures::{StreamExt, TryStreamExt};

use crate::client::Client;
use crate::error::{error, BACKEND};
use crate::{list, upload, WebdavConfig};

/// A WebDAV folder as a cloudmirror store.
#[derive(Debug, Clone)]
pub struct WebdavStore {
    client: Client,
}

impl WebdavStore {
    /// Validates `config` (every problem at once, each naming its key), then checks with a
    /// `PROPFIND` that the folder exists and the credentials are accepted: wrong credentials fail
    /// here with [`ErrorKind::Unauthorized`], a missing folder with [`ErrorKind::NotFound`].
    pub async fn new(config: WebdavConfig) -> Result<Self> {
        Self::new_with_retry(config, RetryPolicy::default()).await
    }

    /// [`WebdavStore::new`], retrying with `policy` from the first request on.
    pub async fn new_with_retry(config: WebdavConfig, policy: RetryPolicy) -> Result<Self> {
        let store = Self {
            client: Client::new(config.settings()?)?,
        }
        .with_retry_policy(policy);
        match store.client.propfind("", 0).await? {
            Some(entries) if entries.first().is_some_and(|e| e.dir) => Ok(store),
            Some(_) => Err(error(
                ErrorKind::InvalidInput,
                "url is a file, not a folder (point `url` at a folder)",
            )),
            None => Err(error(
                ErrorKind::NotFound,
                "the folder at `url` does not exist on the server (create it first)",
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
impl Store for WebdavStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            backend: BACKEND,
            chunk_size: Some(self.client.settings.chunk_size as u64),
            list_page_size: None,
            // WebDAV (RFC 4918) sets no size limit; a server's own one shows as its error.
            max_object_size: None,
        }
    }

    async fn upload(&self, key: &Key, body: ByteStream, len: Option<u64>) -> Result<ObjectMeta> {
        upload::upload(&self.client, key, body, len)
            .await
            .map_err(|e| e.context(format!("uploading {key}")))
    }

    fn list<'a>(&'a self, prefix: &'a Prefix) -> ObjectStream<'a> {
        list::list(&self.client, prefix)
    }

    async fn download(&self, key: &Key) -> Result<ByteStream> {
        let resp = self.client.get(key.as_str()).await?;
        let key = key.clone();
        Ok(resp
            .bytes_stream()
            .map_err(move |e| {
                Error::new(ErrorKind::Transient, BACKEND, format!("reading {key}: {e}"))
                    .with_source(e)
            })
            .boxed())
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        self.client.delete(key.as_str()).await
    }
}
