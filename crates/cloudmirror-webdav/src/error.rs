//! WebDAV answers mapped to the contract's error kinds, in one place.
//!
//! WebDAV errors are plain HTTP statuses (RFC 4918 section 11 adds 207, 422, 423, 424 and 507);
//! bodies are HTML pages or `<D:error>` XML meant for people, so only a short text is kept.

use std::time::Duration;

use cloudmirror_contract::cause::endpoint_of;
use cloudmirror_contract::{Error, ErrorKind};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

/// The backend name in every error.
pub(crate) const BACKEND: &str = "webdav";

/// What a failed WebDAV request means for the orchestrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DavError {
    /// 401/403: wrong user or password, or no right to the folder.
    Auth,
    /// 404/410.
    Missing,
    /// 409 (a missing parent collection, RFC 4918 9.7.1), 405 (a collection where a file should
    /// be), 412 (`Overwrite` refused).
    State,
    /// 423 Locked (RFC 4918 11.3): another client holds a lock, which ends.
    Locked,
    /// 413 or 507 Insufficient Storage (RFC 4918 11.5).
    Full,
    /// 429.
    Throttled,
    /// 408 and 5xx but 507.
    Server,
    /// Any other 4xx.
    Request,
    /// Anything else.
    Unknown,
}

impl DavError {
    fn from_status(status: StatusCode) -> Self {
        match status.as_u16() {
            401 | 403 => Self::Auth,
            404 | 410 => Self::Missing,
            405 | 409 | 412 => Self::State,
            423 => Self::Locked,
            413 | 507 => Self::Full,
            429 => Self::Throttled,
            408 | 500..=599 => Self::Server,
            400..=499 => Self::Request,
            _ => Self::Unknown,
        }
    }
}

/// Turns a non-success answer into the contract's error.
pub(crate) fn parse_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    let text = short_text(body);
    let shown = if text.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {text}")
    };
    let (kind, hint) = match DavError::from_status(status) {
        DavError::Auth => (
            ErrorKind::Unauthorized,
            " (check `user` and `password`: Nextcloud and ownCloud with two-factor login need an app password)",
        ),
        DavError::Missing => (ErrorKind::NotFound, ""),
        DavError::State => (ErrorKind::Conflict, ""),
        DavError::Locked => (ErrorKind::Transient, " (locked by another client)"),
        DavError::Full => (ErrorKind::QuotaExceeded, " (the server's storage or quota is full)"),
        DavError::Throttled => (
            ErrorKind::RateLimited {
                retry_after: retry_after(headers),
            },
            "",
        ),
        DavError::Server => (ErrorKind::Transient, ""),
        DavError::Request => (ErrorKind::InvalidInput, ""),
        DavError::Unknown => (ErrorKind::Other, ""),
    };
    Error::new(kind, BACKEND, format!("{shown}{hint}"))
}

/// A failure with no HTTP answer (refused, reset, timed out, TLS).
pub(crate) fn network_error(what: &str, err: reqwest::Error) -> Error {
    // reqwest's Display may include the URL, never headers; our URLs carry no credentials.
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

/// The body without markup, whitespace collapsed, at most 200 characters.
fn short_text(body: &[u8]) -> String {
    let raw = String::from_utf8_lossy(body);
    let mut out = String::new();
    let mut in_tag = false;
    for c in raw.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: u16) -> ErrorKind {
        parse_error(
            StatusCode::from_u16(status).unwrap(),
            &HeaderMap::new(),
            b"",
        )
        .kind()
    }

    #[test]
    fn statuses_map_to_kinds() {
        assert_eq!(kind(401), ErrorKind::Unauthorized);
        assert_eq!(kind(403), ErrorKind::Unauthorized);
        assert_eq!(kind(404), ErrorKind::NotFound);
        assert_eq!(kind(409), ErrorKind::Conflict);
        assert_eq!(kind(423), ErrorKind::Transient);
        assert_eq!(kind(507), ErrorKind::QuotaExceeded);
        assert_eq!(kind(503), ErrorKind::Transient);
        assert_eq!(kind(400), ErrorKind::InvalidInput);
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
    fn html_bodies_become_one_short_line() {
        let e = parse_error(
            StatusCode::UNAUTHORIZED,
            &HeaderMap::new(),
            b"<html><head><title>401 Unauthorized</title></head>\n<body><h1>Unauthorized</h1></body></html>",
        );
        assert!(
            e.message()
                .starts_with("HTTP 401 Unauthorized: 401 Unauthorized Unauthorized"),
            "{e}"
        );
        assert!(e.message().contains("`password`"), "{e}");
        assert!(!e.message().contains('\n'));
    }
}
