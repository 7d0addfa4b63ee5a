//! Configuration of a local-folder store.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where a [`crate::LocalStore`] keeps its objects.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalConfig {
    /// The root folder; created on the first upload if missing.
    pub path: PathBuf,
}

impl LocalConfig {
    /// A store rooted at `path`.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
        }
    }
}
