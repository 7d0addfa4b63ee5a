//! The `Store` implementation over one Supabase Storage bucket (thin: the work is in the modules).

use async_trait::async_trait;
use chrono::Utc;
use cloudmirror_contract::{
    ByteStream, Capabilities, Error, ErrorKind, Key, ObjectMeta, ObjectStream, Prefix, Result,
    RetryPolicy, Store,
};
use futures::{StreamExt, TryStreamExt};

use crate::client::Client;
use crate::error::BACKEND;
use crate::{list, names, upload, SupabaseConfig};

/// A Supabase Storage bucket as a cloudmirror store.
#[derive(Debug, Clone)]
pub struct SupabaseStore {
    client: Client,
    /// The bucket's `file_size_limit`, read when the store opens.
    file_size_limit: Option<u64>,
}

impl SupabaseStore {
    /// Validates `config` (every problem at once, each naming its key), then checks that the
    /// bucket exists, creating it (private) when `create_bucket = true`. A wrong key fails here
    /// with [`ErrorKind::Unauthorized`], a missing bucket with [`ErrorKind::NotFound`].
    pub async fn new(config: SupabaseConfig) -> Result<Self> {
        Self::new_with_retry(config, RetryPolicy::default()).await
    }

    /// [`SupabaseStore::new`], retrying with `policy` from the first request on (the bucket check
    /// included), so `retry_for` also bounds opening the destination.
    pub async fn new_with_retry(config: SupabaseConfig, policy: RetryPolicy) -> Result<Self> {
        let settings = config.settings()?;
        let mut store = Self {
            client: Client::new(settings)?,
            file_size_limit: None,
        }
        .with_retry_policy(policy);
        store.file_size_limit = store.ensure_bucket().await?;
        Ok(store)
    }

    /// Uses `policy` for every request (tests use [`RetryPolicy::fast`]).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.client.retry = policy;
        self
    }

    /// Checks (or creates) the bucket; returns its `file_size_limit`.
    async fn ensure_bucket(&self) -> Result<Option<u64>> {
        if let Some(limit) = self.client.bucket_limit().await? {
            return Ok(limit);
        }
        let bucket = &self.client.settings.bucket;
        if !self.client.settings.create_bucket {
            return Err(Error::new(
                ErrorKind::NotFound,
                BACKEND,
                format!(
                    "bucket {bucket:?} does not exist in this project (check `bucket`, or set create_bucket = true to create it as a private bucket)"
                ),
            ));
        }
        tracing::info!(backend = BACKEND, bucket = %bucket, "creating the private bucket");
        self.client.create_bucket().await?;
        Ok(None)
    }
}

#[async_trait]
impl Store for SupabaseStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            backend: BACKEND,
            chunk_size: Some(self.client.settings.chunk_size as u64),
            list_page_size: Some(self.client.settings.page_size),
            max_object_size: self.file_size_limit,
        }
    }

    async fn upload(&self, key: &Key, body: ByteStream, len: Option<u64>) -> Result<ObjectMeta> {
        let size = upload::upload(&self.client, &names::encode(key.as_str()), body, len)
            .await
            .map_err(|e| e.context(format!("uploading {key}")))?;
        Ok(ObjectMeta {
            key: key.clone(),
            size,
            modified: Some(Utc::now()),
            checksum: None,
        })
    }

    fn list<'a>(&'a self, prefix: &'a Prefix) -> ObjectStream<'a> {
        list::list(&self.client, prefix)
    }

    async fn download(&self, key: &Key) -> Result<ByteStream> {
        let resp = self
            .client
            .download(&names::encode(key.as_str()))
            .await
            .map_err(|e| e.context(format!("downloading {key}")))?;
        let key = key.clone();
        Ok(resp
            .bytes_stream()
            .map_err(move |e| {
                Error::new(ErrorKind::Transient, BACKEND, format!("reading {key}: {e}"))
                    .with_source(e)
            })
            .boxed())
    }

    /// The batch delete answers the rows it deleted. A name missing from the answer was either
    /// not there (fine: `delete` is idempotent) or not deleted (a storage policy hid the row from
    /// the key, for one): the object's info, asked by its exact name, tells which.
    async fn delete(&self, key: &Key) -> Result<()> {
        let name = names::encode(key.as_str());
        let deleted = self
            .client
            .delete(std::slice::from_ref(&name))
            .await
            .map_err(|e| e.context(format!("deleting {key}")))?;
        if deleted.contains(&name) {
            return Ok(());
        }
        let still_there = self
            .client
            .exists(&name)
            .await
            .map_err(|e| e.context(format!("checking that {key} is gone")))?;
        if still_there {
            return Err(Error::new(
                ErrorKind::Other,
                BACKEND,
                format!(
                    "deleting {key}: the server deleted nothing and the object is still there (does `service_role_key` bypass row-level security? a storage policy may hide it from deletes)"
                ),
            ));
        }
        Ok(())
    }
}
