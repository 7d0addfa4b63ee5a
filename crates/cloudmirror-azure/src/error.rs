//! Azure Blob Storage answers mapped to the contract's error kinds, in one place.
//!
//! A failed request carries the service's error code in the `x-ms-error-code` header and an
//! `<Error><Code>…</Code><Message>…</Message></Error>` body ("Status and error codes" and
//! "Blob Storage error codes",
//! <https://learn.microsoft.com/en-us/rest/api/storageservices/blob-service-error-codes>).

use std::time::Duration;

use cloudmirror_contract::cause::endpoint_of;
use cloudmirror_contract::{Error, ErrorKind};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

/// The backend name in every error.
pub(crate) const BACKEND: &str = "azure";

/// What a failed Blob service request means for the orchestrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AzureError {
    /// 401/403 (`AuthenticationFailed`, `AuthorizationPermissionMismatch`, an expired SAS).
    Auth,
    /// 404 (`BlobNotFound`, `ContainerNotFound`).
    Missing,
    /// 409/412 (a lease, a condition, a container being deleted).
    State,
    /// A block's `Content-MD5` did not match what arrived (`Md5Mismatch`): corrupted in flight.
    Corrupted,
    /// 429, and 503 `ServerBusy` (the account's scalability targets).
    Throttled,
    /// 408 and other 5xx (`InternalError`, `OperationTimedOut`).
    Server,
    /// Any other 4xx (a malformed request: a bug or an unsupported setting).
    Request,
    /// Anything else.
    Unknown,
}

impl AzureError {
    fn classify(status: StatusCode, code: &str) -> Self {
        match (status.as_u16(), code) {
            (_, "Md5Mismatch" | "InvalidMd5") => Self::Corrupted,
            (401 | 403, _) => Self::Auth,
            (404, _) => Self::Missing,
            (409 | 412, _) => Self::State,
            (429 | 503, _) => Self::Throttled,
            (408 | 500..=599, _) => Self::Server,
            (400..=499, _) => Self::Request,
            _ => Self::Unknown,
        }
    }
}

/// Turns a non-success answer into the contract's error.
pub(crate) fn parse_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    let body = String::from_utf8_lossy(body);
    let code = headers
        .get("x-ms-error-code")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| element(&body, "Code"))
        .unwrap_or_default();
    // Messages end with `RequestId:…` and `Time:…` lines; the first line says what happened.
    let message = element(&body, "Message")
        .and_then(|m| m.lines().next().map(str::trim).map(str::to_owned))
        .unwrap_or_default();
    let mut shown = format!("HTTP {status}");
    for part in [&code, &message] {
        if !part.is_empty() {
            shown.push_str(": ");
            shown.extend(part.chars().take(200));
        }
    }
    let (kind, hint) = match AzureError::classify(status, &code) {
        AzureError::Auth => (
            ErrorKind::Unauthorized,
            " (check `access_key`, or that `sas_token` has not expired and grants read, add, create, write, delete and list on the container)",
        ),
        AzureError::Missing if code == "ContainerNotFound" => (
            ErrorKind::NotFound,
            " (create the container first, or fix `container`)",
        ),
        AzureError::Missing => (ErrorKind::NotFound, ""),
        AzureError::State => (ErrorKind::Conflict, ""),
        AzureError::Corrupted => (ErrorKind::Transient, " (the data changed in transit)"),
        AzureError::Throttled => (
            ErrorKind::RateLimited {
                retry_after: retry_after(headers),
            },
            "",
        ),
        AzureError::Server => (ErrorKind::Transient, ""),
        AzureError::Request => (ErrorKind::InvalidInput, ""),
        AzureError::Unknown => (ErrorKind::Other, ""),
    };
    Error::new(kind, BACKEND, format!("{shown}{hint}"))
}

/// A failure with no HTTP answer (refused, reset, timed out, TLS).
pub(crate) fn network_error(what: &str, err: reqwest::Error) -> Error {
    // The URL may carry a SAS: name only scheme, host and port.
    let endpoint = err
        .url()
        .map_or_else(|| "the server".to_owned(), |u| endpoint_of(u.as_str()));
    Error::transport(BACKEND, &endpoint, what, err.without_url())
}

/// An error of this backend.
pub(crate) fn error(kind: ErrorKind, message: impl Into<String>) -> Error {
    Error::new(kind, BACKEND, message)
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(cloudmirror_contract::parse_retry_after)
}

/// The text of the first `<name>…</name>` in `xml`, unescaped, if any.
fn element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    let raw = &xml[start..end];
    Some(
        quick_xml::escape::unescape(raw)
            .map_or_else(|_| raw.to_owned(), std::borrow::Cow::into_owned),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: u16, code: &str) -> ErrorKind {
        let mut h = HeaderMap::new();
        if !code.is_empty() {
            h.insert("x-ms-error-code", code.parse().unwrap());
        }
        parse_error(StatusCode::from_u16(status).unwrap(), &h, b"").kind()
    }

    #[test]
    fn statuses_and_codes_map_to_kinds() {
        assert_eq!(kind(403, "AuthenticationFailed"), ErrorKind::Unauthorized);
        assert_eq!(kind(401, ""), ErrorKind::Unauthorized);
        assert_eq!(kind(404, "BlobNotFound"), ErrorKind::NotFound);
        assert_eq!(kind(409, "LeaseIdMissing"), ErrorKind::Conflict);
        assert_eq!(kind(412, "ConditionNotMet"), ErrorKind::Conflict);
        assert_eq!(kind(400, "Md5Mismatch"), ErrorKind::Transient);
        assert_eq!(kind(400, "InvalidBlockId"), ErrorKind::InvalidInput);
        assert_eq!(kind(500, "InternalError"), ErrorKind::Transient);
        assert_eq!(
            kind(503, "ServerBusy"),
            ErrorKind::RateLimited { retry_after: None }
        );
        let mut h = HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(
            parse_error(StatusCode::TOO_MANY_REQUESTS, &h, b"").kind(),
            ErrorKind::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            }
        );
    }

    #[test]
    fn the_body_becomes_one_line() {
        let body = b"\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>ContainerNotFound</Code><Message>The specified container does not exist.\nRequestId:1b2c\nTime:2026-01-01T00:00:00Z</Message></Error>";
        let e = parse_error(StatusCode::NOT_FOUND, &HeaderMap::new(), body);
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(
            e.message().starts_with(
                "HTTP 404 Not Found: ContainerNotFound: The specified container does not exist. (create"
            ),
            "{e}"
        );
        assert!(!e.message().contains('\n'), "{e}");
    }
}
