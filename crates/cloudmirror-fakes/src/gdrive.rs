//! Placeholder: the gdrive fake is being written (see the gdrive adapter issue).
