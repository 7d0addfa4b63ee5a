//! The one error type every adapter returns, with the kinds the orchestrator acts on.

use std::time::Duration;

/// Result alias used throughout the contract.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a full disk (`ENOSPC`), a full quota (`EDQUOT`) and a file-size limit (`EFBIG`, as
/// `ulimit -f` sets it) mean to a user: a file could not grow. Appended to such I/O errors.
pub const DISK_FULL: &str = "disk full or file-size limit reached";
/// [`DISK_FULL`] as [`Error::from_io`] appends it.
const DISK_FULL_HINT: &str = " (disk full or file-size limit reached)";

/// What kind of failure happened: the orchestrator branches on this, never on messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The object (or the destination root) does not exist.
    NotFound,
    /// Bad, expired-and-unrefreshable or revoked credentials, or no permission. Never retried.
    Unauthorized,
    /// The provider asked us to slow down; `retry_after` is its hint when it gave one.
    RateLimited {
        /// How long the provider asked us to wait.
        retry_after: Option<Duration>,
    },
    /// A 5xx, a timeout or a dropped connection: worth retrying.
    Transient,
    /// The request conflicts with the object's current state (e.g. a folder where a file should go).
    Conflict,
    /// The destination is full or the account's quota is used up.
    QuotaExceeded,
    /// The request or the configuration is invalid (bad key, bad setting); retrying cannot help.
    InvalidInput,
    /// Anything else; the message and source say what.
    Other,
}

impl ErrorKind {
    /// A short lower-case label for logs and JSON output.
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::RateLimited { .. } => "rate_limited",
            ErrorKind::Transient => "transient",
            ErrorKind::Conflict => "conflict",
            ErrorKind::QuotaExceeded => "quota_exceeded",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Other => "other",
        }
    }
}

/// A storage failure: its kind, the backend that produced it and the provider's message.
///
/// Messages never contain secrets (tokens, keys, signed URLs, auth headers): adapters build them
/// from the provider's error body and their own words only.
#[derive(Debug, thiserror::Error)]
#[error("{backend}: {message}")]
pub struct Error {
    kind: ErrorKind,
    backend: &'static str,
    message: String,
    /// The retry loop already said how often this was tried (nested loops add it once).
    retried: bool,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// A new error of `kind` from `backend` (e.g. `"s3"`) with a human-readable message.
    pub fn new(kind: ErrorKind, backend: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            backend,
            message: message.into(),
            retried: false,
            source: None,
        }
    }

    /// Attaches the underlying cause (kept for `source()` chains, never printed with secrets).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Maps an I/O error: the kind follows the `io::ErrorKind` (missing file, full disk, timeouts...).
    pub fn from_io(
        backend: &'static str,
        context: impl std::fmt::Display,
        err: std::io::Error,
    ) -> Self {
        use std::io::ErrorKind as Io;
        let mut hint = "";
        let kind = match err.kind() {
            Io::NotFound => ErrorKind::NotFound,
            Io::PermissionDenied => ErrorKind::Unauthorized,
            // A full disk (ENOSPC), quota (EDQUOT) or file-size limit (EFBIG): one problem.
            Io::StorageFull | Io::QuotaExceeded | Io::FileTooLarge => {
                hint = DISK_FULL_HINT;
                ErrorKind::QuotaExceeded
            }
            Io::TimedOut
            | Io::Interrupted
            | Io::ConnectionReset
            | Io::ConnectionAborted
            | Io::BrokenPipe
            | Io::UnexpectedEof => ErrorKind::Transient,
            Io::InvalidInput | Io::InvalidFilename | Io::InvalidData => ErrorKind::InvalidInput,
            Io::AlreadyExists | Io::DirectoryNotEmpty | Io::IsADirectory | Io::NotADirectory => {
                ErrorKind::Conflict
            }
            _ => ErrorKind::Other,
        };
        Self::new(kind, backend, format!("{context}: {err}{hint}")).with_source(err)
    }

    /// Maps a transport failure (no HTTP answer: refused, DNS, reset, timed out, TLS) towards
    /// `endpoint` (scheme, host and port; never a path or query, which may be signed) into one
    /// line naming the root cause ([`crate::cause::transport_message`]):
    /// `cannot connect to http://127.0.0.1:1: connection refused`. A failure after connecting
    /// keeps `context` (the operation) in front. These are [`ErrorKind::Transient`] and retried,
    /// except what retrying cannot fix: a TLS certificate the client does not trust (a private CA,
    /// a wrong host) and a host name that does not exist, which fail at once as
    /// [`ErrorKind::Other`].
    pub fn transport(
        backend: &'static str,
        endpoint: &str,
        context: impl std::fmt::Display,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        use crate::cause::{transport_message, ConnectFailure};
        let failure = ConnectFailure::classify(&err);
        let line = transport_message(endpoint, &err);
        let message = if line.starts_with("cannot connect") {
            line
        } else {
            format!("{context}: {line}")
        };
        let kind = match &failure {
            ConnectFailure::Certificate(_) => ErrorKind::Other,
            ConnectFailure::DnsNotFound(reason)
                if !reason.to_ascii_lowercase().contains("temporary") =>
            {
                ErrorKind::Other
            }
            _ => ErrorKind::Transient,
        };
        Self::new(kind, backend, message).with_source(err)
    }

    /// The kind the orchestrator branches on.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The backend that produced the error (`"local"`, `"s3"`, `"dropbox"`, ...).
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// The provider's (or adapter's) message, without the backend prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether retrying the same request may succeed (rate limits and transient failures).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::RateLimited { .. } | ErrorKind::Transient
        )
    }

    /// Whether a retry loop already gave up on this error.
    pub fn was_retried(&self) -> bool {
        self.retried
    }

    /// Appends how often `what` was tried, once: an error that already went through a retry loop
    /// (a token refresh inside a retried request) keeps its first note.
    pub(crate) fn tried(mut self, note: impl std::fmt::Display) -> Self {
        use std::fmt::Write as _;
        if !self.retried {
            let _ = write!(self.message, "{note}");
            self.retried = true;
        }
        self
    }

    /// Returns the same error with extra context put in front of its message.
    pub fn context(mut self, context: impl std::fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_kinds() {
        assert!(Error::new(ErrorKind::Transient, "x", "boom").is_retryable());
        assert!(
            Error::new(ErrorKind::RateLimited { retry_after: None }, "x", "slow").is_retryable()
        );
        assert!(!Error::new(ErrorKind::Unauthorized, "x", "no").is_retryable());
        assert!(!Error::new(ErrorKind::NotFound, "x", "no").is_retryable());
    }

    #[derive(Debug)]
    struct Chain(&'static str, Option<Box<Chain>>);
    impl std::fmt::Display for Chain {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Chain {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|c| c as _)
        }
    }

    #[test]
    fn transport_failures_retry_except_untrusted_certificates_and_unknown_hosts() {
        let refused = Chain(
            "error sending request",
            Some(Box::new(Chain("Connection refused (os error 111)", None))),
        );
        let e = Error::transport(
            "dropbox",
            "https://api.dropboxapi.com",
            "files/upload",
            refused,
        );
        assert_eq!(e.kind(), ErrorKind::Transient);
        assert_eq!(
            e.to_string(),
            "dropbox: cannot connect to https://api.dropboxapi.com: connection refused"
        );
        let tls = Chain(
            "error sending request",
            Some(Box::new(Chain(
                "invalid peer certificate: UnknownIssuer",
                None,
            ))),
        );
        let e = Error::transport("supabase", "https://x", "listing", tls);
        assert_eq!(e.kind(), ErrorKind::Other);
        assert!(!e.is_retryable());
        assert!(e
            .message()
            .ends_with("TLS certificate problem: invalid peer certificate: UnknownIssuer"));
        let dns = Chain(
            "dns error",
            Some(Box::new(Chain(
                "failed to lookup address information: Name or service not known",
                None,
            ))),
        );
        assert_eq!(
            Error::transport("s3", "https://x", "op", dns).kind(),
            ErrorKind::Other
        );
        let flaky_dns = Chain(
            "dns error",
            Some(Box::new(Chain(
                "failed to lookup address information: Temporary failure in name resolution",
                None,
            ))),
        );
        assert!(Error::transport("s3", "https://x", "op", flaky_dns).is_retryable());
        let reset = Chain(
            "error reading a body",
            Some(Box::new(Chain("connection reset by peer", None))),
        );
        let e = Error::transport("webdav", "https://x", "GET a.gz", reset);
        assert_eq!(
            e.message(),
            "GET a.gz: connection to https://x lost: connection reset"
        );
    }

    #[test]
    fn io_mapping_and_display() {
        let e = Error::from_io(
            "local",
            "writing a.txt",
            std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.to_string(), "local: writing a.txt: gone");
        assert_eq!(e.context("upload").message(), "upload: writing a.txt: gone");
    }

    #[test]
    fn a_full_disk_and_a_file_size_limit_are_the_same_quota_error() {
        for errno in [28, 27, 122] {
            // ENOSPC, EFBIG, EDQUOT
            let e = Error::from_io(
                "local",
                "writing a.txt",
                std::io::Error::from_raw_os_error(errno),
            );
            assert_eq!(e.kind(), ErrorKind::QuotaExceeded, "errno {errno}: {e}");
            assert!(e.message().ends_with(DISK_FULL_HINT), "{e}");
        }
        assert_eq!(DISK_FULL_HINT, format!(" ({DISK_FULL})"));
    }
}
