//! Placeholder: the s3 fake is being written (see the s3 adapter issue).
