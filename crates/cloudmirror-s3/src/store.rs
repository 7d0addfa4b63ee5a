//! The `Store` implementation for S3 (thin: the work is in `client`, `upload` and `list`).

use async_trait::async_trait;
use cloudmirror_contract::{
    ByteStream, Capabilities, Key, ObjectMeta, ObjectStream, Prefix, Result, RetryPolicy, Store,
};
use futures::stream::{self, StreamExt};

use crate::client::{body_error, Client};
use crate::config::{DEFAULT_LIST_PAGE_SIZE, DEFAULT_PARTS_IN_FLIGHT, MAX_OBJECT_SIZE};
use crate::error::{error, BACKEND};
use crate::upload::{self, UploadSettings};
use crate::S3Config;

/// Most keys one `DeleteObjects` request may name.
const DELETE_BATCH: usize = 1000;

/// An S3 bucket (AWS or S3-compatible) as a cloudmirror store.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    upload: UploadSettings,
    list_page_size: usize,
}

impl S3Store {
    /// Validates `config` (every problem at once) and builds the SDK client. Nothing is sent yet.
    pub async fn new(config: S3Config) -> Result<Self> {
        config.validate()?;
        let client = Client::connect(&config).await?;
        Ok(Self {
            client,
            upload: UploadSettings {
                part_size: config.part_size_bytes(),
                max_part_size: config.max_part_size_bytes(),
                growth_every: upload::GROWTH_EVERY,
                parts_in_flight: config.parts_in_flight.unwrap_or(DEFAULT_PARTS_IN_FLIGHT),
                checksums: config.send_checksums.unwrap_or(true),
            },
            list_page_size: config.list_page_size.unwrap_or(DEFAULT_LIST_PAGE_SIZE),
        })
    }

    /// The same store retrying with `policy` (tests use [`RetryPolicy::fast`]).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.client.retry = policy;
        self
    }

    /// The bucket this store writes to.
    pub fn bucket(&self) -> &str {
        self.client.bucket()
    }

    /// Deletes many keys with `DeleteObjects`, 1,000 per request. Missing keys count as deleted.
    /// Fails if any key could not be deleted, naming the first few.
    pub async fn delete_many(&self, keys: &[Key]) -> Result<()> {
        let mut failures = Vec::new();
        for batch in keys.chunks(DELETE_BATCH) {
            let names: Vec<&str> = batch.iter().map(Key::as_str).collect();
            failures.extend(self.client.delete_objects(&names).await?);
        }
        let Some(first) = failures.first() else {
            return Ok(());
        };
        let kind = crate::error::parse_error(0, first.code.as_deref());
        let shown: Vec<String> = failures
            .iter()
            .take(5)
            .map(|f| {
                format!(
                    "{} ({}: {})",
                    f.key,
                    f.code.as_deref().unwrap_or("error"),
                    f.message.as_deref().unwrap_or("no message")
                )
            })
            .collect();
        Err(error(
            kind,
            format!(
                "DeleteObjects: {} of {} keys could not be deleted: {}",
                failures.len(),
                keys.len(),
                shown.join(", ")
            ),
        ))
    }
}

#[async_trait]
impl Store for S3Store {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            backend: BACKEND,
            chunk_size: Some(self.upload.part_size),
            list_page_size: Some(self.list_page_size),
            max_object_size: Some(MAX_OBJECT_SIZE),
        }
    }

    async fn upload(&self, key: &Key, body: ByteStream, len: Option<u64>) -> Result<ObjectMeta> {
        upload::upload(&self.client, key, body, len, self.upload).await
    }

    fn list<'a>(&'a self, prefix: &'a Prefix) -> ObjectStream<'a> {
        crate::list::list(&self.client, prefix, self.list_page_size)
    }

    async fn download(&self, key: &Key) -> Result<ByteStream> {
        let out = self.client.get_object(key.as_str()).await?;
        let name = key.as_str().to_owned();
        Ok(
            stream::try_unfold((out.body, name), |(mut body, name)| async move {
                match body.try_next().await {
                    Ok(Some(bytes)) => Ok(Some((bytes, (body, name)))),
                    Ok(None) => Ok(None),
                    Err(e) => Err(body_error(&name, e)),
                }
            })
            .boxed(),
        )
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        self.client.delete_object(key.as_str()).await
    }
}
