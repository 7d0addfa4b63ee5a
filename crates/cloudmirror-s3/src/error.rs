//! S3 failures mapped to the contract's error kinds, in one place.

use std::fmt;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use cloudmirror_contract::cause::one_line;
use cloudmirror_contract::{Error, ErrorKind};

/// The backend name in every error.
pub(crate) const BACKEND: &str = "s3";

/// What went wrong, before it becomes a contract [`Error`].
#[derive(Debug)]
pub(crate) enum S3Failure {
    /// The server answered with an error status (code and message from its XML body, if any).
    Service {
        status: u16,
        code: Option<String>,
        message: Option<String>,
    },
    /// The request timed out.
    Timeout,
    /// The request could not be sent or the connection broke.
    Dispatch(String),
    /// No usable credentials (the default AWS chain found none, or a provider failed).
    Credentials(String),
    /// The response could not be read or parsed.
    Response(String),
    /// The request could not be built (a bug or an invalid setting).
    Construction(String),
}

impl fmt::Display for S3Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            S3Failure::Service {
                status,
                code,
                message,
            } => {
                write!(f, "HTTP {status}")?;
                if let Some(code) = code {
                    write!(f, " {code}")?;
                }
                if let Some(message) = message {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            S3Failure::Timeout => f.write_str("the request timed out"),
            S3Failure::Dispatch(m) => write!(f, "could not reach the server: {m}"),
            S3Failure::Credentials(m) => write!(f, "no usable AWS credentials: {m}"),
            S3Failure::Response(m) => write!(f, "unreadable response: {m}"),
            S3Failure::Construction(m) => write!(f, "could not build the request: {m}"),
        }
    }
}

/// Maps an S3 error response (status and the error code from its XML body) to a contract kind.
///
/// S3 sends no `Retry-After`, so rate limits carry no hint and the retry policy backs off itself.
pub(crate) fn parse_error(status: u16, code: Option<&str>) -> ErrorKind {
    match (status, code.unwrap_or("")) {
        (_, "NoSuchKey" | "NoSuchBucket" | "NoSuchUpload" | "NotFound") | (404, _) => {
            ErrorKind::NotFound
        }
        (
            _,
            "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "AccessDenied"
            | "ExpiredToken"
            | "InvalidToken"
            | "TokenRefreshRequired"
            | "AccountProblem"
            | "AllAccessDisabled",
        )
        | (401 | 403, _) => ErrorKind::Unauthorized,
        (_, "SlowDown" | "Throttling" | "ThrottlingException" | "RequestLimitExceeded")
        | (429, _) => ErrorKind::RateLimited { retry_after: None },
        (_, "EntityTooLarge" | "QuotaExceeded" | "XMinioStorageFull" | "StorageFull") => {
            ErrorKind::QuotaExceeded
        }
        (_, "RequestTimeout" | "InternalError" | "ServiceUnavailable") | (500..=599, _) => {
            ErrorKind::Transient
        }
        (_, "OperationAborted" | "BucketAlreadyExists" | "InvalidObjectState") | (409, _) => {
            ErrorKind::Conflict
        }
        (
            _,
            "EntityTooSmall"
            | "InvalidPart"
            | "InvalidPartOrder"
            | "InvalidArgument"
            | "InvalidRequest"
            | "BadDigest"
            | "InvalidDigest"
            | "XAmzContentSHA256Mismatch"
            | "KeyTooLongError"
            | "InvalidBucketName"
            | "AuthorizationHeaderMalformed",
        )
        | (400, _) => ErrorKind::InvalidInput,
        _ => ErrorKind::Other,
    }
}

/// Classifies an SDK error and builds the contract error, with `what` (operation and key) in front;
/// a request that got no answer names `endpoint` and the root cause instead.
pub(crate) fn from_sdk<E>(endpoint: &str, what: &str, err: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let failure = match &err {
        SdkError::ServiceError(service) => S3Failure::Service {
            status: service.raw().status().as_u16(),
            code: service.err().code().map(str::to_owned),
            message: service.err().message().map(str::to_owned),
        },
        SdkError::TimeoutError(_) => S3Failure::Timeout,
        // A connect timeout is a transport failure like a refusal: named with the endpoint below.
        SdkError::DispatchFailure(d) if d.is_timeout() => S3Failure::Dispatch(one_line(&err)),
        SdkError::DispatchFailure(d) if d.is_user() => S3Failure::Construction(one_line(&err)),
        SdkError::DispatchFailure(d) => {
            let text = one_line(&err);
            // Identity resolution happens before sending: a missing or broken credential chain
            // surfaces as an "other" dispatch failure, which retrying cannot fix.
            if d.is_other() && text.to_ascii_lowercase().contains("credential") {
                S3Failure::Credentials(text)
            } else {
                S3Failure::Dispatch(text)
            }
        }
        SdkError::ResponseError(r) => {
            // A response that arrived but failed to parse: an error status still decides the kind.
            let status = r.raw().status().as_u16();
            if status >= 400 {
                S3Failure::Service {
                    status,
                    code: None,
                    message: None,
                }
            } else {
                S3Failure::Response(one_line(&err))
            }
        }
        _ => S3Failure::Construction(one_line(&err)),
    };
    if matches!(failure, S3Failure::Dispatch(_)) {
        // No answer: refused, reset, TLS. The shared mapping keeps the root cause and never
        // retries a certificate the client does not trust.
        return Error::transport(BACKEND, endpoint, what, err);
    }
    let kind = match &failure {
        S3Failure::Service { status, code, .. } => parse_error(*status, code.as_deref()),
        S3Failure::Timeout | S3Failure::Dispatch(_) | S3Failure::Response(_) => {
            ErrorKind::Transient
        }
        S3Failure::Construction(_) => ErrorKind::InvalidInput,
        S3Failure::Credentials(_) => ErrorKind::Unauthorized,
    };
    let hint = match kind {
        ErrorKind::Unauthorized => " (check access_key_id, secret_access_key and region)",
        _ => "",
    };
    Error::new(kind, BACKEND, format!("{what}: {failure}{hint}")).with_source(err)
}

/// An error of our own making (not from the server).
pub(crate) fn error(kind: ErrorKind, message: impl Into<String>) -> Error {
    Error::new(kind, BACKEND, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_codes_and_statuses() {
        let cases: &[(u16, Option<&str>, ErrorKind)] = &[
            (404, Some("NoSuchKey"), ErrorKind::NotFound),
            (404, None, ErrorKind::NotFound),
            (404, Some("NoSuchBucket"), ErrorKind::NotFound),
            (403, Some("InvalidAccessKeyId"), ErrorKind::Unauthorized),
            (403, Some("SignatureDoesNotMatch"), ErrorKind::Unauthorized),
            (403, Some("AccessDenied"), ErrorKind::Unauthorized),
            (403, None, ErrorKind::Unauthorized),
            (
                503,
                Some("SlowDown"),
                ErrorKind::RateLimited { retry_after: None },
            ),
            (503, None, ErrorKind::Transient),
            (500, Some("InternalError"), ErrorKind::Transient),
            (400, Some("RequestTimeout"), ErrorKind::Transient),
            (400, Some("EntityTooLarge"), ErrorKind::QuotaExceeded),
            (400, Some("EntityTooSmall"), ErrorKind::InvalidInput),
            (409, Some("OperationAborted"), ErrorKind::Conflict),
            (418, Some("Teapot"), ErrorKind::Other),
        ];
        for (status, code, want) in cases {
            assert_eq!(parse_error(*status, *code), *want, "{status} {code:?}");
        }
    }

    #[test]
    fn failure_display_has_status_code_and_message() {
        let f = S3Failure::Service {
            status: 403,
            code: Some("InvalidAccessKeyId".into()),
            message: Some("The key does not exist".into()),
        };
        assert_eq!(
            f.to_string(),
            "HTTP 403 InvalidAccessKeyId: The key does not exist"
        );
    }
}
