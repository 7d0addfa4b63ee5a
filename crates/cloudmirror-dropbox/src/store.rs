//! The `Store` implementation over Dropbox (thin: the work is in `client`, `upload` and `list`).

use async_trait::async_trait;
use cloudmirror_contract::{
    ByteStream, Capabilities, Error, ErrorKind, Key, ObjectMeta, ObjectStream, Prefix, Result,
    RetryPolicy, Store,
};
use futures::{StreamExt, TryStreamExt};

use crate::client::{Client, Metadata};
use crate::{list, upload, DropboxConfig, BACKEND};

/// A Dropbox folder (personal account, app folder or team space) as an object store.
#[derive(Debug)]
pub struct DropboxStore {
    client: Client,
}

impl DropboxStore {
    /// Validates `config` (every problem reported at once) and builds the store. Nothing is
    /// sent until the first call.
    #[allow(clippy::needless_pass_by_value)] // Reason: the shape every adapter shares; the config is done with.
    pub fn new(config: DropboxConfig) -> Result<Self> {
        let settings = config.settings()?;
        Ok(Self {
            client: Client::new(settings)?,
        })
    }

    /// Uses `policy` for every request (tests use [`RetryPolicy::fast`]).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.client.retry = policy;
        self
    }

    /// The Dropbox path of `key`.
    fn path_of(&self, key: &Key) -> String {
        format!("{}/{}", self.client.settings.folder, key.as_str())
    }
}

#[async_trait]
impl Store for DropboxStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            backend: BACKEND,
            chunk_size: Some(self.client.settings.chunk_size as u64),
            list_page_size: Some(self.client.settings.list_page_size),
            max_object_size: Some(crate::config::MAX_OBJECT_SIZE),
        }
    }

    async fn upload(&self, key: &Key, body: ByteStream, len: Option<u64>) -> Result<ObjectMeta> {
        let path = self.path_of(key);
        let file = upload::upload(&self.client, &path, body, len)
            .await
            .map_err(|e| e.context(format!("uploading {key}")))?;
        Ok(list::meta_of(key.clone(), &file))
    }

    fn list<'a>(&'a self, prefix: &'a Prefix) -> ObjectStream<'a> {
        list::list(&self.client, prefix)
    }

    async fn download(&self, key: &Key) -> Result<ByteStream> {
        let resp = self
            .client
            .download(&self.path_of(key))
            .await?
            .map_err(|api| api.into_error(None).context(format!("downloading {key}")))?;
        let key = key.clone();
        Ok(resp
            .bytes_stream()
            .map_err(move |e| {
                Error::new(
                    ErrorKind::Transient,
                    BACKEND,
                    format!("downloading {key}: {}", e.without_url()),
                )
            })
            .boxed())
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        let path = self.path_of(key);
        // Look first: delete_v2 would remove a whole folder, and parent_rev pins the file.
        let rev = match self.client.get_metadata(&path).await? {
            Ok(Metadata::File(file)) => file.rev,
            Ok(_) => return Ok(()), // a folder (or a deleted entry) is no object
            Err(api) if api.has("not_found") || api.has("not_folder") => return Ok(()),
            Err(api) => return Err(api.into_error(None).context(format!("deleting {key}"))),
        };
        match self.client.delete(&path, rev.as_deref()).await? {
            Ok(()) => Ok(()),
            Err(api) if api.has("not_found") => Ok(()),
            Err(api) => Err(api.into_error(None).context(format!("deleting {key}"))),
        }
    }
}
