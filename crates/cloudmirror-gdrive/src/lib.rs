//! Placeholder: the gdrive adapter is being written (see its issue).
