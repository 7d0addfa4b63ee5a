//! Turns `[[destinations]]` tables into stores: one match on `type`, adapters parse their own settings.

use std::fmt;
use std::sync::Arc;

use cloudmirror_contract::Store;
use cloudmirror_local::{LocalConfig, LocalStore};

use crate::config::{Config, DestinationConfig};
use crate::prefixed::PrefixedStore;
use crate::Error;

/// A configured destination, ready to use.
#[derive(Clone)]
pub struct Destination {
    /// Its configured name.
    pub name: String,
    /// Its type (`local`, `s3`, ...).
    pub kind: String,
    /// The store, with the destination's prefix applied.
    pub store: Arc<dyn Store>,
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Destination")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Opens every destination `to` selects (all when empty). Settings are validated before anything
/// is uploaded: one bad destination stops the command with an error naming its field.
pub async fn open_selected(config: &Config, to: &[String]) -> Result<Vec<Destination>, Error> {
    let mut out = Vec::new();
    for dest in config.select(to)? {
        out.push(open(config, dest).await?);
    }
    Ok(out)
}

/// Opens one destination.
pub async fn open(config: &Config, dest: &DestinationConfig) -> Result<Destination, Error> {
    let store: Arc<dyn Store> = match dest.kind.as_str() {
        "local" => {
            let mut c: LocalConfig = config.adapter_settings(dest)?;
            if c.path.as_os_str().is_empty() {
                return Err(config.destination_error(dest, Some("path"), "path must not be empty"));
            }
            c.path = config.resolve_path(&c.path);
            Arc::new(LocalStore::new(c))
        }
        other => {
            return Err(config.destination_error(
                dest,
                Some("type"),
                &format!("type {other:?} is not available in this build"),
            ))
        }
    };
    // Adapters are built before any transfer, so settings errors surface first.
    std::future::ready(()).await;
    let store: Arc<dyn Store> = if dest.prefix.is_root() {
        store
    } else {
        Arc::new(PrefixedStore::new(store, dest.prefix.clone()))
    };
    Ok(Destination {
        name: dest.name.clone(),
        kind: dest.kind.clone(),
        store,
    })
}
