//! A destination as every stage sees it: a configured name and its store (prefix applied).
//!
//! Built from `[[destinations]]` by `config::destinations`; read by backup, restore, the catalog
//! and lifecycle, none of which needs to know how it was configured.

use std::fmt;
use std::sync::Arc;

use cloudmirror_contract::Store;

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
