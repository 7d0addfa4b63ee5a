//! Placeholder: the dropbox adapter is being written (see its issue).
