//! [`AzureStore`]: the [`Store`] implementation (uploads in `upload.rs`, listings in `list.rs`).

use async_trait::async_trait;
use cloudmirror_contract::{
    ByteStream, Capabilities, Error, ErrorKind, Key, ObjectMeta, ObjectStream, Prefix, Result,
    RetryPolicy, Store,
};
use futures::{StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode};

use crate::client::{Call, Client};
use crate::error::BACKEND;
use crate::{list, upload, AzureConfig};

/// An Azure Blob Storage container as a cloudmirror store.
#[derive(Debug, Clone)]
pub struct AzureStore {
    client: Client,
}

impl AzureStore {
    /// Validates `config` (every problem at once, each naming its key), then lists one blob of
    /// the container to check that it exists and the credentials are accepted: wrong credentials
    /// fail here with [`ErrorKind::Unauthorized`], a missing container with [`ErrorKind::NotFound`].
    pub async fn new(config: AzureConfig) -> Result<Self> {
        Self::new_with_retry(config, RetryPolicy::default()).await
    }

    /// [`AzureStore::new`], retrying with `policy` from the first request on.
    pub async fn new_with_retry(config: AzureConfig, policy: RetryPolicy) -> Result<Self> {
        let store = Self {
            client: Client::new(config.settings()?)?,
        }
        .with_retry_policy(policy);
        // List Blobs needs only the list permission a SAS must grant anyway (Get Container
        // Properties would need more of an account SAS).
        list::page(&store.client, "", None, 1).await?;
        Ok(store)
    }

    /// Uses `policy` for every request (tests use [`RetryPolicy::fast`]).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.client.retry = policy;
        self
    }

    /// Create Container (`PUT ?restype=container`); an existing one is fine. For tests and the
    /// demo: destinations expect their container to exist.
    pub async fn create_container(config: AzureConfig, policy: RetryPolicy) -> Result<()> {
        let mut client = Client::new(config.settings()?)?;
        client.retry = policy;
        let call = Call::new(Method::PUT, None).query("restype", "container");
        match client
            .send("creating the container", &call, &[StatusCode::CREATED])
            .await
        {
            Err(e) if e.kind() == ErrorKind::Conflict => Ok(()),
            other => other.map(drop),
        }
    }
}

#[async_trait]
impl Store for AzureStore {
    fn capabilities(&self) -> Capabilities {
        let chunk = self.client.settings.chunk_size as u64;
        Capabilities {
            backend: BACKEND,
            chunk_size: Some(chunk),
            list_page_size: Some(list::PAGE_SIZE),
            // Put Block List: at most 50,000 committed blocks, each of our block size.
            max_object_size: Some(upload::MAX_BLOCKS * chunk),
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

    /// Get Blob, streamed (<https://learn.microsoft.com/en-us/rest/api/storageservices/get-blob>).
    async fn download(&self, key: &Key) -> Result<ByteStream> {
        let call = Call::new(Method::GET, Some(key.as_str()));
        let resp = self
            .client
            .send(&format!("downloading {key}"), &call, &[StatusCode::OK])
            .await?;
        let key = key.clone();
        Ok(resp
            .bytes_stream()
            .map_err(move |e| {
                Error::new(ErrorKind::Transient, BACKEND, format!("reading {key}: {e}"))
                    .with_source(e)
            })
            .boxed())
    }

    /// Delete Blob with its snapshots
    /// (<https://learn.microsoft.com/en-us/rest/api/storageservices/delete-blob>); a missing blob
    /// is fine.
    async fn delete(&self, key: &Key) -> Result<()> {
        let call = Call::new(Method::DELETE, Some(key.as_str()))
            .header("x-ms-delete-snapshots", "include");
        match self
            .client
            .send(&format!("deleting {key}"), &call, &[StatusCode::ACCEPTED])
            .await
        {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            other => other.map(drop),
        }
    }
}
