//! A store seen through a folder prefix: how every destination's `prefix` setting is applied.

use std::sync::Arc;

use async_trait::async_trait;
use cloudmirror_contract::{
    ByteStream, Capabilities, Key, ObjectMeta, ObjectStream, Prefix, Result, Store, StoreExt,
};
use futures::{StreamExt, TryStreamExt};

/// Wraps a store so that key `k` is stored as `prefix + k`, and listings strip the prefix again.
#[derive(Debug, Clone)]
pub(crate) struct PrefixedStore {
    inner: Arc<dyn Store>,
    prefix: Prefix,
}

impl PrefixedStore {
    /// `inner` seen through `prefix` (which is `""` or ends with `/`).
    pub(crate) fn new(inner: Arc<dyn Store>, prefix: Prefix) -> Self {
        Self { inner, prefix }
    }
}

#[async_trait]
impl Store for PrefixedStore {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn upload(&self, key: &Key, body: ByteStream, len: Option<u64>) -> Result<ObjectMeta> {
        let mut meta = self
            .inner
            .upload(&key.under(&self.prefix)?, body, len)
            .await?;
        meta.key = key.clone();
        Ok(meta)
    }

    fn list<'a>(&'a self, prefix: &'a Prefix) -> ObjectStream<'a> {
        // The inner listing borrows the joined prefix, so it is collected here; backup folders
        // hold thousands of objects at most.
        let full = self.prefix.join(prefix);
        futures::stream::once(async move { self.inner.list_all(&full).await })
            .map_ok(|items| futures::stream::iter(items.into_iter().map(Ok)))
            .try_flatten()
            .try_filter_map(move |mut meta| async move {
                Ok(meta.key.strip_prefix(&self.prefix).map(|k| {
                    meta.key = k;
                    meta
                }))
            })
            .boxed()
    }

    async fn download(&self, key: &Key) -> Result<ByteStream> {
        self.inner.download(&key.under(&self.prefix)?).await
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        self.inner.delete(&key.under(&self.prefix)?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudmirror_contract::testkit::Fixture;
    use cloudmirror_local::{LocalConfig, LocalStore};

    #[allow(clippy::unused_async)] // the contract macro awaits every factory
    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let inner: Arc<dyn Store> = Arc::new(LocalStore::new(LocalConfig::new(dir.path())));
        let store = PrefixedStore::new(inner, Prefix::parse("nested/prefix/").expect("prefix"));
        Fixture::with_guard(store, dir)
    }

    cloudmirror_contract::contract_suite!(fixture);

    #[tokio::test]
    async fn stores_under_the_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let inner: Arc<dyn Store> = Arc::new(LocalStore::new(LocalConfig::new(dir.path())));
        let store = PrefixedStore::new(inner.clone(), Prefix::parse("daily/").unwrap());
        let k = Key::parse("a.gz").unwrap();
        store.upload_bytes(&k, "x".into()).await.unwrap();
        inner
            .upload_bytes(&Key::parse("other.gz").unwrap(), "y".into())
            .await
            .unwrap();
        assert!(dir.path().join("daily/a.gz").is_file());
        let listed = store.list_all(&Prefix::root()).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].key, k);
    }
}
