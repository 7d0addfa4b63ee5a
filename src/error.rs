//! The orchestrator's error type and how each kind maps to an exit code.

/// What went wrong in a command. Messages name the file, field, destination or variable at fault
/// and never contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is unreadable or invalid (exit 2).
    #[error("{0}")]
    Config(String),
    /// The command line asks for something impossible (unknown destination, bad flag values; exit 2).
    #[error("{0}")]
    Usage(String),
    /// The backup source or restore target is unusable (missing, empty, a folder; exit 2).
    #[error("{0}")]
    Input(String),
    /// A destination failed.
    #[error("{0}")]
    Store(#[from] cloudmirror_contract::Error),
    /// Local I/O failed (spool file, output file).
    #[error("{context}: {}", io_message(source))]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A backup copy failed verification (size or checksum), or a command could not complete.
    #[error("{0}")]
    Failed(String),
}

impl Error {
    /// An I/O error with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// An I/O error's message, saying what it means when a file cannot grow: a full disk (`ENOSPC`),
/// a full quota (`EDQUOT`) and a file-size limit (`EFBIG`, `ulimit -f`) are one problem to a user.
pub(crate) fn io_message(e: &std::io::Error) -> String {
    use std::io::ErrorKind as Io;
    match e.kind() {
        Io::StorageFull | Io::QuotaExceeded | Io::FileTooLarge => {
            format!("{e} ({})", cloudmirror_contract::DISK_FULL)
        }
        _ => e.to_string(),
    }
}

/// Process exit status of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    /// Everything succeeded.
    Success = 0,
    /// Some destinations failed; the others hold the result (or: a health warning).
    Partial = 1,
    /// Nothing succeeded, or the input was bad.
    Failure = 2,
}

impl ExitStatus {
    /// The process exit code.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The status for `ok` successes out of `total` attempts.
    pub fn from_counts(ok: usize, total: usize) -> Self {
        if total > 0 && ok == total {
            ExitStatus::Success
        } else if ok > 0 {
            ExitStatus::Partial
        } else {
            ExitStatus::Failure
        }
    }
}
