//! Dropbox error responses mapped to the contract's error kinds (one `parse_error`).

use std::time::Duration;

use cloudmirror_contract::{Error, ErrorKind};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::Value;

use crate::BACKEND;

/// A parsed Dropbox error body: the Stone `error` value and its summary.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    /// The HTTP status.
    pub(crate) status: u16,
    /// `error_summary`, e.g. `path_lookup/not_found/..` (empty for plain-text bodies).
    pub(crate) summary: String,
    /// The `error` value (`Null` for plain-text bodies).
    pub(crate) error: Value,
    /// `user_message.text` or the plain-text body, shortened.
    pub(crate) text: String,
    /// The body says a team token needs `Dropbox-API-Select-User` (or the id is malformed).
    select_user_problem: bool,
}

impl ApiError {
    pub(crate) fn parse(status: StatusCode, body: &[u8]) -> Self {
        let json: Option<Value> = serde_json::from_slice(body).ok();
        let (summary, error, text) = match json {
            Some(v) if v.is_object() => (
                v.get("error_summary")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                v.get("error").cloned().unwrap_or(Value::Null),
                v.pointer("/user_message/text")
                    .and_then(Value::as_str)
                    .or_else(|| v.get("error_description").and_then(Value::as_str))
                    .unwrap_or_default()
                    .to_owned(),
            ),
            _ => (
                String::new(),
                Value::Null,
                shorten(&String::from_utf8_lossy(body)),
            ),
        };
        let full = String::from_utf8_lossy(body);
        Self {
            status: status.as_u16(),
            summary,
            error,
            text,
            select_user_problem: full.contains("Dropbox-API-Select-User")
                || full.contains("select user"),
        }
    }

    /// The chain of tags: from `error_summary` when present, else by following `.tag`s.
    pub(crate) fn tags(&self) -> Vec<String> {
        let from_summary: Vec<String> = self
            .summary
            .split('/')
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .map(str::to_owned)
            .collect();
        if !from_summary.is_empty() {
            return from_summary;
        }
        let mut tags = Vec::new();
        let mut cur = &self.error;
        while let Some(tag) = cur.get(".tag").and_then(Value::as_str) {
            tags.push(tag.to_owned());
            match cur.get(tag).or_else(|| cur.get("reason")) {
                Some(next) if next.is_object() => cur = next,
                _ => break,
            }
        }
        tags
    }

    /// The top-level `.tag` of the route error (`path`, `content_hash_mismatch`, ...).
    pub(crate) fn tag(&self) -> Option<&str> {
        self.error.get(".tag").and_then(Value::as_str)
    }

    /// Whether `tag` appears anywhere in the chain.
    pub(crate) fn has(&self, tag: &str) -> bool {
        self.tags().iter().any(|t| t == tag)
            || self.error.get(".tag").and_then(Value::as_str) == Some(tag)
    }

    /// `correct_offset` of an `incorrect_offset` error, wherever it is nested.
    pub(crate) fn correct_offset(&self) -> Option<u64> {
        if !self.has("incorrect_offset") {
            return None;
        }
        find_key(&self.error, "correct_offset").and_then(Value::as_u64)
    }

    /// `HTTP 409: path/conflict/file (text)`: the status, the tags and Dropbox's text.
    pub(crate) fn describe(&self) -> String {
        let what = if self.summary.is_empty() {
            self.tags().join("/")
        } else {
            self.summary.trim_end_matches(['/', '.']).to_owned()
        };
        match (what.is_empty(), self.text.is_empty()) {
            (true, true) => format!("HTTP {}", self.status),
            (true, false) => format!("HTTP {}: {}", self.status, self.text),
            (false, true) => format!("HTTP {}: {what}", self.status),
            (false, false) => format!("HTTP {}: {what} ({})", self.status, self.text),
        }
    }

    /// The contract error for this response.
    pub(crate) fn into_error(self, retry_after_header: Option<Duration>) -> Error {
        let kind = self.kind(retry_after_header);
        let mut message = self.describe();
        if let Some(hint) = self.hint() {
            message = format!("{message}: {hint}");
        }
        Error::new(kind, BACKEND, message)
    }

    fn kind(&self, retry_after_header: Option<Duration>) -> ErrorKind {
        let tags = self.tags();
        let has = |t: &str| tags.iter().any(|x| x == t);
        match self.status {
            400 if self.is_team_token_without_member() => ErrorKind::InvalidInput,
            400 if self.text.contains("access token") => ErrorKind::Unauthorized,
            401 | 403 => ErrorKind::Unauthorized,
            422 if has("no_permission") => ErrorKind::Unauthorized,
            400 | 422 => ErrorKind::InvalidInput,
            429 => ErrorKind::RateLimited {
                retry_after: self
                    .error
                    .get("retry_after")
                    .and_then(Value::as_u64)
                    .map(Duration::from_secs)
                    .or(retry_after_header),
            },
            409 => {
                if has("too_many_write_operations") {
                    ErrorKind::RateLimited { retry_after: None }
                } else if has("not_found") {
                    ErrorKind::NotFound
                } else if has("insufficient_space") || has("insufficient_quota") {
                    ErrorKind::QuotaExceeded
                } else if has("conflict") || has("not_folder") || has("not_file") {
                    ErrorKind::Conflict
                } else if has("no_write_permission")
                    || has("access_restricted")
                    || has("team_folder")
                    || has("restricted_content")
                {
                    ErrorKind::Unauthorized
                } else if has("malformed_path")
                    || has("disallowed_name")
                    || has("too_large")
                    || has("payload_too_large")
                    || has("too_many_files")
                {
                    ErrorKind::InvalidInput
                } else {
                    ErrorKind::Other
                }
            }
            500..=599 => ErrorKind::Transient,
            _ => ErrorKind::Other,
        }
    }

    fn is_team_token_without_member(&self) -> bool {
        self.select_user_problem
    }

    /// Advice naming the setting to fix, for the errors a user can fix.
    fn hint(&self) -> Option<String> {
        let tags = self.tags();
        let has = |t: &str| tags.iter().any(|x| x == t);
        if self.status == 400 && self.is_team_token_without_member() {
            return Some(
                "the refresh token belongs to a team app: set select_user to the team member id \
                 (dbmid:...) whose files to use"
                    .to_owned(),
            );
        }
        if self.status == 409 && has("insufficient_space") {
            return Some(
                "the Dropbox account (or its team's space) is full: free space or raise the quota; \
                 the file was not saved"
                    .to_owned(),
            );
        }
        if self.status == 401 && has("invalid_select_user") {
            return Some(
                "select_user is not a member of this team: check the team member id".to_owned(),
            );
        }
        if self.status == 401 && has("missing_scope") {
            let scope = find_key(&self.error, "required_scope")
                .and_then(Value::as_str)
                .unwrap_or("files.content.write");
            return Some(format!(
                "the app lacks the scope {scope}: enable it in the App Console, then create a new refresh_token"
            ));
        }
        if self.status == 422 && has("invalid_root") {
            let current = find_key(&self.error, "root_namespace_id")
                .and_then(Value::as_str)
                .unwrap_or("?");
            return Some(format!(
                "root_namespace_id is not this account's root namespace (it is {current}): set \
                 root_namespace_id = \"{current}\" or \"auto\""
            ));
        }
        None
    }
}

/// Maps any non-success Dropbox response to a contract error.
pub(crate) fn parse_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    ApiError::parse(status, body).into_error(retry_after(headers))
}

/// The `Retry-After` header in seconds.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(cloudmirror_contract::parse_retry_after)
}

fn find_key<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    match v {
        Value::Object(map) => map
            .get(key)
            .or_else(|| map.values().find_map(|child| find_key(child, key))),
        _ => None,
    }
}

fn shorten(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(300) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, body: &str) -> Error {
        parse_error(
            StatusCode::from_u16(status).unwrap(),
            &HeaderMap::new(),
            body.as_bytes(),
        )
    }

    #[test]
    fn route_errors_by_tag() {
        let not_found = r#"{"error_summary":"path_lookup/not_found/..","error":{".tag":"path_lookup","path_lookup":{".tag":"not_found"}}}"#;
        assert_eq!(err(409, not_found).kind(), ErrorKind::NotFound);
        let conflict = r#"{"error_summary":"path/conflict/file/..","error":{".tag":"path","reason":{".tag":"conflict","conflict":{".tag":"file"}}}}"#;
        assert_eq!(err(409, conflict).kind(), ErrorKind::Conflict);
        let space = r#"{"error_summary":"path/insufficient_space/","error":{".tag":"path","reason":{".tag":"insufficient_space"}}}"#;
        assert_eq!(err(409, space).kind(), ErrorKind::QuotaExceeded);
        let busy = r#"{"error_summary":"too_many_write_operations/..","error":{".tag":"too_many_write_operations"}}"#;
        assert!(err(409, busy).is_retryable());
        // No summary: follow the tags.
        let nested = r#"{"error":{".tag":"path","path":{".tag":"not_found"}}}"#;
        assert_eq!(err(409, nested).kind(), ErrorKind::NotFound);
    }

    #[test]
    fn incorrect_offset_is_found_where_it_nests() {
        let append = ApiError::parse(
            StatusCode::CONFLICT,
            br#"{"error_summary":"incorrect_offset/..","error":{".tag":"incorrect_offset","correct_offset":12}}"#,
        );
        assert_eq!(append.correct_offset(), Some(12));
        let finish = ApiError::parse(
            StatusCode::CONFLICT,
            br#"{"error_summary":"lookup_failed/incorrect_offset/..","error":{".tag":"lookup_failed","lookup_failed":{".tag":"incorrect_offset","correct_offset":7}}}"#,
        );
        assert_eq!(finish.correct_offset(), Some(7));
    }

    #[test]
    fn rate_limits_prefer_the_json_hint_then_the_header() {
        let body = r#"{"error_summary":"too_many_requests/..","error":{"reason":{".tag":"too_many_requests"},"retry_after":3}}"#;
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, "9".parse().unwrap());
        let e = parse_error(StatusCode::TOO_MANY_REQUESTS, &headers, body.as_bytes());
        assert_eq!(
            e.kind(),
            ErrorKind::RateLimited {
                retry_after: Some(Duration::from_secs(3))
            }
        );
        let e = parse_error(StatusCode::TOO_MANY_REQUESTS, &headers, b"slow down");
        assert_eq!(
            e.kind(),
            ErrorKind::RateLimited {
                retry_after: Some(Duration::from_secs(9))
            }
        );
    }

    #[test]
    fn auth_and_team_errors_say_what_to_fix() {
        assert_eq!(
            err(401, r#"{"error_summary":"expired_access_token/..","error":{".tag":"expired_access_token"}}"#).kind(),
            ErrorKind::Unauthorized
        );
        let team = err(400, "Error in call to API function \"files/list_folder\": This API function operates on a single Dropbox account, but the OAuth 2 access token you provided is for an entire Dropbox Business team. ... providing the \"Dropbox-API-Select-User\" HTTP header");
        assert_eq!(team.kind(), ErrorKind::InvalidInput);
        assert!(team.message().contains("select_user"), "{team}");
        let root = err(
            422,
            r#"{"error_summary":"invalid_root/..","error":{".tag":"invalid_root","invalid_root":{".tag":"team","root_namespace_id":"7","home_namespace_id":"1","home_path":"/S"}}}"#,
        );
        assert_eq!(root.kind(), ErrorKind::InvalidInput);
        assert!(
            root.message().contains("root_namespace_id = \"7\""),
            "{root}"
        );
        assert_eq!(err(503, "busy").kind(), ErrorKind::Transient);
        assert_eq!(
            err(400, "The given OAuth 2 access token is malformed.").kind(),
            ErrorKind::Unauthorized
        );
    }
}
