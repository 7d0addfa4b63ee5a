//! Supabase error responses mapped to the contract's error kinds.
//!
//! REST routes answer HTTP 400 for nearly every storage error and put the real code, as a
//! *string*, in the JSON body's `statusCode` (`"404"` for a missing object, `"409"` for a
//! duplicate...). So the body decides, the HTTP status only when there is no such body (TUS
//! answers plain text with real statuses; the gateway answers `{"message": ...}`).

use std::time::Duration;

use cloudmirror_contract::cause::endpoint_of;
use cloudmirror_contract::{Error, ErrorKind};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde::Deserialize;

/// The backend name in every error.
pub(crate) const BACKEND: &str = "supabase";

/// The error body shapes Supabase returns.
#[derive(Debug)]
enum SupabaseError {
    /// The storage server's `{statusCode, error, message, code}`.
    Storage {
        status_code: Option<u16>,
        error: String,
        message: String,
        code: String,
    },
    /// The gateway's `{message, hint}` or a plain-text (TUS) body.
    Plain(String),
}

#[derive(Deserialize)]
struct StorageBody {
    #[serde(rename = "statusCode")]
    status_code: Option<serde_json::Value>,
    error: Option<String>,
    message: Option<String>,
    code: Option<String>,
}

impl SupabaseError {
    fn parse(body: &[u8]) -> Self {
        if let Ok(b) = serde_json::from_slice::<StorageBody>(body) {
            let status_code = b.status_code.as_ref().and_then(|v| match v {
                serde_json::Value::String(s) => s.parse().ok(),
                serde_json::Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
                _ => None,
            });
            if status_code.is_some() || b.code.is_some() || b.error.is_some() {
                return Self::Storage {
                    status_code,
                    error: b.error.unwrap_or_default(),
                    message: b.message.unwrap_or_default(),
                    code: b.code.unwrap_or_default(),
                };
            }
            if let Some(m) = b.message {
                return Self::Plain(m);
            }
        }
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        Self::Plain(text.chars().take(300).collect())
    }
}

/// Turns a non-success response into the contract's error.
pub(crate) fn parse_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    let parsed = SupabaseError::parse(body);
    let (code, name, text) = match &parsed {
        SupabaseError::Storage {
            status_code,
            error,
            message,
            code,
        } => (
            status_code.unwrap_or(status.as_u16()),
            code.clone(),
            if message.is_empty() {
                error.clone()
            } else {
                message.clone()
            },
        ),
        SupabaseError::Plain(m) => (status.as_u16(), String::new(), m.clone()),
    };
    let text = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let shown = if name.is_empty() {
        format!("HTTP {}: {text}", status.as_u16())
    } else {
        format!("{name}: {text}")
    };
    // A storage server reached without the gateway: the route schema wants `authorization`,
    // which an `sb_secret_…` key (sent in `apikey` only) cannot give: only the gateway swaps such
    // keys for a JWT (supabase/storage `src/http/schemas/auth.ts`).
    if text.contains("required property 'authorization'") {
        return Error::new(
            ErrorKind::Unauthorized,
            BACKEND,
            format!(
                "{shown} (sb_secret_... keys work only through the Supabase API gateway, which turns them into a JWT: point `url` at the gateway (the project URL, or Kong on port 8000 when self-hosted), or set `service_role_key` to the legacy service_role JWT for a storage server reached directly)"
            ),
        );
    }
    let (kind, hint) = match code {
        404 if name == "NoSuchBucket" || text == "Bucket not found" => (
            ErrorKind::NotFound,
            " (check the `bucket` setting, or set create_bucket = true)",
        ),
        404 | 410 => (ErrorKind::NotFound, ""),
        401 | 403 => (
            ErrorKind::Unauthorized,
            " (check `service_role_key`: it must be this project's service_role or secret key)",
        ),
        409 if text.contains("already exists") => (
            ErrorKind::Conflict,
            " (an object of this name exists and the server did not take the upload as an upsert)",
        ),
        409 => (ErrorKind::Conflict, ""),
        413 => (
            ErrorKind::QuotaExceeded,
            " (the object is larger than the file size limit: raise the project's global file size limit in Storage settings, the bucket's file_size_limit, or a self-hosted server's UPLOAD_FILE_SIZE_LIMIT)",
        ),
        429 => (
            ErrorKind::RateLimited {
                retry_after: retry_after(headers),
            },
            "",
        ),
        408 | 500..=599 => (ErrorKind::Transient, ""),
        400..=499 => (ErrorKind::InvalidInput, ""),
        _ => (ErrorKind::Other, ""),
    };
    Error::new(kind, BACKEND, format!("{shown}{hint}"))
}

/// A network-level failure (connect, timeout, reset): always worth retrying.
pub(crate) fn network_error(what: &str, err: reqwest::Error) -> Error {
    // reqwest's Display may include the URL, never headers; our URLs carry no secrets.
    let endpoint = err
        .url()
        .map_or_else(|| "the server".to_owned(), |u| endpoint_of(u.as_str()));
    Error::transport(BACKEND, &endpoint, what, err.without_url())
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(cloudmirror_contract::parse_retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: u16, body: &str) -> ErrorKind {
        parse_error(
            StatusCode::from_u16(status).unwrap(),
            &HeaderMap::new(),
            body.as_bytes(),
        )
        .kind()
    }

    #[test]
    fn body_status_code_wins_over_http_status() {
        let missing = r#"{"statusCode":"404","error":"not_found","message":"Object not found","code":"NoSuchKey"}"#;
        assert_eq!(kind(400, missing), ErrorKind::NotFound);
        let dup = r#"{"statusCode":"409","error":"Duplicate","message":"The resource already exists","code":"KeyAlreadyExists"}"#;
        assert_eq!(kind(400, dup), ErrorKind::Conflict);
        let big = r#"{"statusCode":"413","error":"Payload too large","message":"The object exceeded the maximum allowed size","code":"EntityTooLarge"}"#;
        assert_eq!(kind(400, big), ErrorKind::QuotaExceeded);
        let jwt = r#"{"statusCode":"403","error":"Unauthorized","message":"jwt expired","code":"AccessDenied"}"#;
        assert_eq!(kind(400, jwt), ErrorKind::Unauthorized);
        let key = r#"{"statusCode":"400","error":"InvalidKey","message":"Invalid key: a~b","code":"InvalidKey"}"#;
        assert_eq!(kind(400, key), ErrorKind::InvalidInput);
        assert_eq!(
            kind(500, r#"{"statusCode":"500","code":"InternalError"}"#),
            ErrorKind::Transient
        );
    }

    #[test]
    fn gateway_tus_and_rate_limits() {
        assert_eq!(
            kind(401, r#"{"message":"Invalid API key"}"#),
            ErrorKind::Unauthorized
        );
        assert_eq!(kind(409, "Upload-Offset conflict"), ErrorKind::Conflict);
        assert_eq!(kind(503, "upstream"), ErrorKind::Transient);
        let mut h = HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "3".parse().unwrap());
        let e = parse_error(StatusCode::TOO_MANY_REQUESTS, &h, b"{}");
        assert_eq!(
            e.kind(),
            ErrorKind::RateLimited {
                retry_after: Some(Duration::from_secs(3))
            }
        );
        let e = parse_error(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            br#"{"statusCode":"403","error":"Unauthorized","message":"invalid signature"}"#,
        );
        assert!(e.message().contains("service_role_key"), "{e}");
        let e = parse_error(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            br#"{"statusCode":"404","error":"Bucket not found","message":"Bucket not found","code":"NoSuchBucket"}"#,
        );
        assert!(e.message().contains("`bucket`"), "{e}");
    }

    #[test]
    fn secret_key_without_the_gateway_names_service_role_key() {
        let body = r#"{"statusCode":"400","error":"Error","code":"InvalidRequest","message":"headers must have required property 'authorization'"}"#;
        let e = parse_error(StatusCode::BAD_REQUEST, &HeaderMap::new(), body.as_bytes());
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert!(
            e.message().contains("gateway") && e.message().contains("service_role_key"),
            "{e}"
        );
        let e = parse_error(
            StatusCode::CONFLICT,
            &HeaderMap::new(),
            b"The resource already exists",
        );
        assert_eq!(e.kind(), ErrorKind::Conflict);
    }
}
