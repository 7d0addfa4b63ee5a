//! Drive's error responses mapped to contract error kinds, in one place.

use cloudmirror_contract::cause::endpoint_of;
use cloudmirror_contract::{Error, ErrorKind};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde::Deserialize;

use crate::BACKEND;

/// The hint attached to `storageQuotaExceeded`, Drive's answer to service accounts writing into a
/// My Drive folder.
pub(crate) const QUOTA_HINT: &str = "service accounts have no Drive storage of their own: put folder_id in a shared drive the service account is a member of (and set shared_drive_id), or use domain-wide delegation (subject = a Workspace user) so files count against that user";

/// Failures that are the adapter's own (not an HTTP status from Drive).
#[derive(Debug, thiserror::Error)]
pub(crate) enum GdriveError {
    /// The request never got an answer (connect, timeout, reset).
    #[error("request failed: {0}")]
    Transport(#[source] reqwest::Error),
    /// A success response that cannot be understood.
    #[error("unexpected response: {0}")]
    Protocol(String),
}

impl GdriveError {
    pub(crate) fn into_error(self) -> Error {
        let kind = match &self {
            GdriveError::Transport(e) if e.is_builder() => ErrorKind::InvalidInput,
            GdriveError::Transport(_) => ErrorKind::Transient,
            GdriveError::Protocol(_) => ErrorKind::Other,
        };
        let msg = self.to_string();
        Error::new(kind, BACKEND, msg).with_source(self)
    }
}

/// A reqwest error without its URL (session URIs work like signed URLs). Failures without an
/// answer go through the contract's one mapping ([`Error::transport`]): an untrusted certificate
/// fails at once and the root cause ends the message; a request that cannot be built is invalid
/// input.
pub(crate) fn transport(e: reqwest::Error) -> Error {
    let endpoint = e
        .url()
        .map_or_else(|| "the server".to_owned(), |u| endpoint_of(u.as_str()));
    let e = e.without_url();
    if e.is_builder() {
        return GdriveError::Transport(e).into_error();
    }
    Error::transport(BACKEND, &endpoint, "request failed", e)
}

/// A success response with an unexpected shape.
pub(crate) fn protocol(msg: impl Into<String>) -> Error {
    GdriveError::Protocol(msg.into()).into_error()
}

/// The status and first `reason` of a Drive error answer, kept as the contract error's source so
/// the adapter can branch on Drive's reason (never on messages).
#[derive(Debug, thiserror::Error)]
#[error("HTTP {status} {reason}")]
pub(crate) struct DriveReason {
    pub(crate) status: u16,
    pub(crate) reason: String,
}

/// Whether `e` is a Drive answer with this status and reason.
pub(crate) fn has_reason(e: &Error, status: u16, reason: &str) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<DriveReason>())
        .is_some_and(|r| r.status == status && r.reason == reason)
}

#[derive(Deserialize)]
struct Envelope {
    error: Option<Body>,
}

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    reason: String,
}

/// Maps a Drive error response (status, headers, body) to a contract error.
pub(crate) fn parse_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    let parsed = serde_json::from_slice::<Envelope>(body)
        .ok()
        .and_then(|e| e.error);
    let (reason, message) = if let Some(b) = parsed {
        let reason = b.errors.into_iter().next().map(|i| i.reason);
        (reason.unwrap_or_default(), b.message)
    } else {
        let text = String::from_utf8_lossy(body);
        (String::new(), text.chars().take(200).collect())
    };
    let retry_after = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(cloudmirror_contract::parse_retry_after);
    let code = status.as_u16();
    let kind = match (code, reason.as_str()) {
        (403 | 429, "userRateLimitExceeded" | "rateLimitExceeded") | (429, _) => {
            ErrorKind::RateLimited { retry_after }
        }
        (
            403,
            "storageQuotaExceeded"
            | "teamDriveFileLimitExceeded"
            | "numChildrenInNonRootLimitExceeded",
        ) => ErrorKind::QuotaExceeded,
        (401 | 403, _) => ErrorKind::Unauthorized,
        (404 | 410, _) => ErrorKind::NotFound,
        (409 | 412, _) => ErrorKind::Conflict,
        (400, _) => ErrorKind::InvalidInput,
        (408 | 500..=599, _) => ErrorKind::Transient,
        _ => ErrorKind::Other,
    };
    let reason_part = if reason.is_empty() {
        String::new()
    } else {
        format!(" {reason}")
    };
    let mut msg = format!("HTTP {code}{reason_part}: {message}");
    if reason == "storageQuotaExceeded" {
        msg.push_str(" — ");
        msg.push_str(QUOTA_HINT);
    }
    Error::new(kind, BACKEND, msg).with_source(DriveReason {
        status: code,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, reason: &str) -> Error {
        let body = serde_json::json!({"error": {"code": status, "message": "m",
            "errors": [{"domain": "usageLimits", "reason": reason, "message": "m"}]}});
        parse_error(
            StatusCode::from_u16(status).unwrap(),
            &HeaderMap::new(),
            body.to_string().as_bytes(),
        )
    }

    #[test]
    fn maps_reasons_to_kinds() {
        assert!(matches!(
            err(403, "userRateLimitExceeded").kind(),
            ErrorKind::RateLimited { .. }
        ));
        assert!(matches!(
            err(403, "rateLimitExceeded").kind(),
            ErrorKind::RateLimited { .. }
        ));
        assert!(matches!(
            err(429, "whatever").kind(),
            ErrorKind::RateLimited { .. }
        ));
        let q = err(403, "storageQuotaExceeded");
        assert_eq!(q.kind(), ErrorKind::QuotaExceeded);
        assert!(q.message().contains("shared drive"), "{q}");
        assert_eq!(
            err(403, "insufficientFilePermissions").kind(),
            ErrorKind::Unauthorized
        );
        assert_eq!(err(401, "authError").kind(), ErrorKind::Unauthorized);
        assert_eq!(err(404, "notFound").kind(), ErrorKind::NotFound);
        assert_eq!(err(503, "backendError").kind(), ErrorKind::Transient);
        assert_eq!(err(400, "invalid").kind(), ErrorKind::InvalidInput);
        let html = parse_error(
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            b"<html>bad gateway</html>",
        );
        assert_eq!(html.kind(), ErrorKind::Transient);
    }
}
