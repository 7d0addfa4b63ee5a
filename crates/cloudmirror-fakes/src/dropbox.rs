//! Placeholder: the dropbox fake is being written (see the dropbox adapter issue).
