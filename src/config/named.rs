//! A store whose every operation runs in a `destination` tracing span, so a retry line from deep
//! inside an adapter names the destination the person configured (`dest{name=offsite}: ...`).

use std::sync::Arc;

use async_trait::async_trait;
use cloudmirror_contract::{
    ByteStream, Capabilities, Key, ObjectMeta, ObjectStream, Prefix, Result, Store, StoreExt,
};
use futures::{StreamExt, TryStreamExt};
use tracing::Instrument;

/// Wraps a store so that its operations log inside the span [`span`] of destination `name`.
#[derive(Debug, Clone)]
pub struct NamedStore {
    inner: Arc<dyn Store>,
    name: Arc<str>,
}

/// The span every operation on destination `name` runs in.
pub fn span(name: &str) -> tracing::Span {
    tracing::warn_span!("dest", name = %name)
}

impl NamedStore {
    /// `inner`, logging as destination `name`.
    pub fn new(inner: Arc<dyn Store>, name: &str) -> Self {
        Self {
            inner,
            name: Arc::from(name),
        }
    }
}

#[async_trait]
impl Store for NamedStore {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn upload(&self, key: &Key, body: ByteStream, len: Option<u64>) -> Result<ObjectMeta> {
        self.inner
            .upload(key, body, len)
            .instrument(span(&self.name))
            .await
    }

    fn list<'a>(&'a self, prefix: &'a Prefix) -> ObjectStream<'a> {
        // Collected inside the span (as `PrefixedStore` does): listings are small.
        futures::stream::once(self.inner.list_all(prefix).instrument(span(&self.name)))
            .map_ok(|items| futures::stream::iter(items.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }

    async fn download(&self, key: &Key) -> Result<ByteStream> {
        self.inner.download(key).instrument(span(&self.name)).await
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        self.inner.delete(key).instrument(span(&self.name)).await
    }
}
