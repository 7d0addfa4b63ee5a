//! Turns `[[destinations]]` tables into stores: one match on `type`, adapters parse their own settings.

use std::sync::Arc;

use async_trait::async_trait;
use cloudmirror_contract::{
    ByteStream, Capabilities, ErrorKind, Key, ObjectMeta, ObjectStream, Prefix, RetryPolicy, Store,
    DEFAULT_RETRY_FOR,
};
use cloudmirror_local::{LocalConfig, LocalStore};

use crate::config::named::NamedStore;
use crate::config::prefixed::PrefixedStore;
use crate::config::{Config, DestinationConfig};
use crate::destination::Destination;
use crate::Error;
use tracing::Instrument;

/// Opens every destination `to` selects (all when empty), concurrently. Settings are validated
/// before anything is uploaded: one bad setting stops the command with an error naming its field.
/// A destination that is unreachable or refuses our credentials while opening does not stop the
/// others: it becomes a store whose every operation fails with that error.
pub async fn open_selected(config: &Config, to: &[String]) -> Result<Vec<Destination>, Error> {
    let selected = config.select(to)?;
    let opened =
        futures::future::join_all(selected.iter().map(|d| open_within_timeout(config, d))).await;
    opened.into_iter().collect()
}

/// [`open`], bounded by `[backup] destination_timeout`: a destination that hangs while opening
/// (an endpoint that accepts connections and never answers) fails alone.
async fn open_within_timeout(
    config: &Config,
    dest: &DestinationConfig,
) -> Result<Destination, Error> {
    let timeout = config
        .backup
        .destination_timeout
        .unwrap_or(crate::backup::DEFAULT_DESTINATION_TIMEOUT);
    let opening = open(config, dest).instrument(crate::config::named::span(&dest.name));
    if let Ok(opened) = tokio::time::timeout(timeout, opening).await {
        return opened;
    }
    tracing::warn!(destination = %dest.name, "timed out opening the destination");
    let store: Arc<dyn Store> = Arc::new(FailedStore {
        kind: ErrorKind::Transient,
        backend: "cloudmirror",
        message: format!(
            "timed out after {}s opening the destination (backup.destination_timeout)",
            timeout.as_secs_f64()
        ),
    });
    Ok(Destination {
        name: dest.name.clone(),
        kind: dest.kind.clone(),
        store,
    })
}

/// The retry policy of `dest`: its `retry_for`, else `[backup] retry_for`, else 5 minutes.
pub(crate) fn retry_policy(config: &Config, dest: &DestinationConfig) -> RetryPolicy {
    RetryPolicy::with_budget(
        dest.retry_for
            .or(config.backup.retry_for)
            .unwrap_or(DEFAULT_RETRY_FOR),
    )
}

/// Opens one destination.
pub async fn open(config: &Config, dest: &DestinationConfig) -> Result<Destination, Error> {
    let retry = retry_policy(config, dest);
    let store: Arc<dyn Store> = match dest.kind.as_str() {
        "local" => {
            let mut c: LocalConfig = config.adapter_settings(dest)?;
            if c.path.as_os_str().is_empty() {
                return Err(config.destination_error(dest, Some("path"), "path must not be empty"));
            }
            c.path = config.resolve_path(&c.path);
            Arc::new(LocalStore::new(c))
        }
        "s3" => {
            let c: cloudmirror_s3::S3Config = config.adapter_settings(dest)?;
            opened(
                config,
                dest,
                cloudmirror_s3::S3Store::new(c)
                    .await
                    .map(|s| s.with_retry_policy(retry)),
            )?
        }
        "dropbox" => {
            let c: cloudmirror_dropbox::DropboxConfig = config.adapter_settings(dest)?;
            opened(
                config,
                dest,
                cloudmirror_dropbox::DropboxStore::new(c).map(|s| s.with_retry_policy(retry)),
            )?
        }
        "gdrive" => {
            let mut c: cloudmirror_gdrive::GdriveConfig = config.adapter_settings(dest)?;
            if let Some(key) = c.service_account_key.take() {
                c.service_account_key = Some(config.resolve_path(&key));
            }
            opened(
                config,
                dest,
                cloudmirror_gdrive::GdriveStore::new(c)
                    .await
                    .map(|s| s.with_retry_policy(retry)),
            )?
        }
        "supabase" => {
            let c: cloudmirror_supabase::SupabaseConfig = config.adapter_settings(dest)?;
            opened(
                config,
                dest,
                cloudmirror_supabase::SupabaseStore::new_with_retry(c, retry).await,
            )?
        }
        "webdav" => {
            let c: cloudmirror_webdav::WebdavConfig = config.adapter_settings(dest)?;
            opened(
                config,
                dest,
                cloudmirror_webdav::WebdavStore::new_with_retry(c, retry).await,
            )?
        }
        "sftp" => {
            let c = sftp_settings(config, dest)?;
            opened(
                config,
                dest,
                cloudmirror_sftp::SftpStore::new_with_retry(c, retry).await,
            )?
        }
        "azure" => {
            let c: cloudmirror_azure::AzureConfig = config.adapter_settings(dest)?;
            opened(
                config,
                dest,
                cloudmirror_azure::AzureStore::new_with_retry(c, retry).await,
            )?
        }
        other => {
            return Err(config.destination_error(
                dest,
                Some("type"),
                &format!("type {other:?} is not available in this build"),
            ))
        }
    };
    let store: Arc<dyn Store> = if dest.prefix.is_root() {
        store
    } else {
        Arc::new(PrefixedStore::new(store, dest.prefix.clone()))
    };
    let store: Arc<dyn Store> = Arc::new(NamedStore::new(store, &dest.name));
    Ok(Destination {
        name: dest.name.clone(),
        kind: dest.kind.clone(),
        store,
    })
}

/// An SFTP destination's settings, its key and `known_hosts` files resolved: `~/...` is the
/// adapter's (the home folder); other relative paths follow the config file.
fn sftp_settings(
    config: &Config,
    dest: &DestinationConfig,
) -> Result<cloudmirror_sftp::SftpConfig, Error> {
    let mut c: cloudmirror_sftp::SftpConfig = config.adapter_settings(dest)?;
    let resolve = |k: std::path::PathBuf| {
        if k.starts_with("~") {
            k
        } else {
            config.resolve_path(&k)
        }
    };
    c.private_key = c.private_key.map(resolve);
    c.known_hosts = c.known_hosts.map(resolve);
    Ok(c)
}

/// Turns an adapter's construction result into a store: invalid settings are config errors (exit 2),
/// anything else (unreachable, unauthorized) a store that fails every operation with that error.
fn opened<S: Store + 'static>(
    config: &Config,
    dest: &DestinationConfig,
    result: cloudmirror_contract::Result<S>,
) -> Result<Arc<dyn Store>, Error> {
    match result {
        Ok(store) => Ok(Arc::new(store)),
        Err(e) if e.kind() == ErrorKind::InvalidInput => {
            Err(config.destination_error(dest, None, &e.to_string()))
        }
        Err(e) => {
            tracing::warn!(destination = %dest.name, "cannot open destination: {e}");
            Ok(Arc::new(FailedStore {
                kind: e.kind(),
                backend: e.backend(),
                message: e.message().to_owned(),
            }))
        }
    }
}

/// A destination that could not be opened: every operation fails with the opening error.
#[derive(Debug)]
struct FailedStore {
    kind: ErrorKind,
    backend: &'static str,
    message: String,
}

impl FailedStore {
    fn error(&self) -> cloudmirror_contract::Error {
        cloudmirror_contract::Error::new(self.kind, self.backend, self.message.clone())
    }
}

#[async_trait]
impl Store for FailedStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            backend: self.backend,
            chunk_size: None,
            list_page_size: None,
            max_object_size: None,
        }
    }
    async fn upload(
        &self,
        _: &Key,
        _: ByteStream,
        _: Option<u64>,
    ) -> cloudmirror_contract::Result<ObjectMeta> {
        Err(self.error())
    }
    fn list<'a>(&'a self, _: &'a Prefix) -> ObjectStream<'a> {
        Box::pin(futures::stream::once(async move { Err(self.error()) }))
    }
    async fn download(&self, _: &Key) -> cloudmirror_contract::Result<ByteStream> {
        Err(self.error())
    }
    async fn delete(&self, _: &Key) -> cloudmirror_contract::Result<()> {
        Err(self.error())
    }
}
