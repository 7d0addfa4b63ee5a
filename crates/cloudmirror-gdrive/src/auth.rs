//! Service-account access tokens: key loading (never echoing the key) and yup-oauth2's JWT flow.

use std::fmt;
use std::time::Duration;

use cloudmirror_contract::{Error, ErrorKind, Result};
use secrecy::{ExposeSecret, SecretString};
use yup_oauth2::authenticator::Authenticator;
use yup_oauth2::error::AuthErrorCode;
use yup_oauth2::{DefaultHyperClientBuilder, HyperClientBuilder, ServiceAccountKey};

use crate::config::KeySource;
use crate::BACKEND;

/// The scope the adapter asks for: full Drive access (needed to write into a shared folder).
pub(crate) const DRIVE_SCOPE: &str = "https://www.googleapis.com/auth/drive";

type Connector = <DefaultHyperClientBuilder as HyperClientBuilder>::Connector;

/// Hands out cached access tokens and fetches fresh ones when asked.
pub(crate) struct TokenSource {
    auth: Authenticator<Connector>,
    /// The token endpoint's scheme, host and port, for "cannot connect to ..." messages.
    token_endpoint: String,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource").finish_non_exhaustive()
    }
}

impl TokenSource {
    /// Loads and checks the key, then builds the authenticator (no network yet).
    pub(crate) async fn new(source: &KeySource, subject: Option<&str>) -> Result<Self> {
        let (field, raw) = match source {
            KeySource::File(path) => {
                let raw = tokio::fs::read(path).await.map_err(|e| {
                    let kind = if e.kind() == std::io::ErrorKind::PermissionDenied {
                        ErrorKind::Unauthorized
                    } else {
                        ErrorKind::InvalidInput
                    };
                    Error::new(
                        kind,
                        BACKEND,
                        format!(
                            "service_account_key: cannot read the key file {}: {e}",
                            path.display()
                        ),
                    )
                })?;
                (
                    "service_account_key",
                    SecretString::from(String::from_utf8_lossy(&raw).into_owned()),
                )
            }
            KeySource::Inline(json) => ("service_account_json", json.clone()),
        };
        let key = parse_key(field, &raw)?;
        let token_endpoint = cloudmirror_contract::cause::endpoint_of(&key.token_uri);
        let mut builder = yup_oauth2::ServiceAccountAuthenticator::with_client(
            key,
            DefaultHyperClientBuilder::default(),
        )
        .with_timeout(Duration::from_mins(1));
        if let Some(s) = subject {
            builder = builder.subject(s);
        }
        let auth = builder.build().await.map_err(|e| {
            // yup-oauth2's messages here never contain the key ("Error reading key from PEM").
            let text = e.to_string();
            let key_problem = e.kind() == std::io::ErrorKind::InvalidInput
                || text.contains("signer")
                || text.contains("signing scheme");
            let kind = if key_problem {
                ErrorKind::InvalidInput
            } else {
                ErrorKind::Other
            };
            Error::new(
                kind,
                BACKEND,
                format!("{field}: cannot use the service account key: {e} (private_key must be the PEM key of the downloaded JSON key file)"),
            )
        })?;
        Ok(Self {
            auth,
            token_endpoint,
        })
    }

    /// An access token: the cached one, or a fresh one when `fresh` (after a 401) or expired.
    pub(crate) async fn token(&self, fresh: bool) -> Result<SecretString> {
        let scopes = [DRIVE_SCOPE];
        let res = if fresh {
            self.auth.force_refreshed_token(&scopes).await
        } else {
            self.auth.token(&scopes).await
        };
        let token = res.map_err(|e| map_auth_error(&self.token_endpoint, e))?;
        token
            .token()
            .map(|t| SecretString::from(t.to_owned()))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Unauthorized,
                    BACKEND,
                    "the token endpoint answered without an access token",
                )
            })
    }
}

/// Parses the key JSON; errors name the setting and never include the content.
fn parse_key(field: &str, raw: &SecretString) -> Result<ServiceAccountKey> {
    let invalid = |why: String| {
        Error::new(
            ErrorKind::InvalidInput,
            BACKEND,
            format!("{field}: not a valid service-account key JSON: {why}"),
        )
    };
    let key: ServiceAccountKey = serde_json::from_str(raw.expose_secret()).map_err(|e| {
        // serde_json's message may quote the offending value: report only where and what kind.
        let what = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "malformed JSON"
            }
            serde_json::error::Category::Data => {
                "a required field (private_key, client_email, token_uri) is missing or not a string"
            }
            serde_json::error::Category::Io => "unreadable",
        };
        invalid(format!("{what} at line {} column {}", e.line(), e.column()))
    })?;
    if key
        .key_type
        .as_deref()
        .is_some_and(|t| t != "service_account")
    {
        return Err(invalid(format!(
            "its type is {:?}, expected \"service_account\" (create a key for a service account, not an OAuth client)",
            key.key_type.as_deref().unwrap_or_default()
        )));
    }
    if !key.private_key.contains("-----BEGIN PRIVATE KEY-----") {
        return Err(invalid(
            "private_key is not a PEM (PKCS#8) private key".into(),
        ));
    }
    if key.client_email.trim().is_empty() {
        return Err(invalid("client_email is empty".into()));
    }
    match url::Url::parse(&key.token_uri) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(key),
        _ => Err(invalid("token_uri is not an http(s) URL".into())),
    }
}

/// Maps a token-endpoint failure to a kind, keeping only the OAuth error code and description.
fn map_auth_error(token_endpoint: &str, e: yup_oauth2::Error) -> Error {
    use yup_oauth2::Error as E;
    match e {
        E::AuthError(ref a) => {
            let kind = match &a.error {
                AuthErrorCode::InvalidGrant
                | AuthErrorCode::InvalidClient
                | AuthErrorCode::UnauthorizedClient
                | AuthErrorCode::InvalidScope
                | AuthErrorCode::AccessDenied
                | AuthErrorCode::ExpiredToken => ErrorKind::Unauthorized,
                AuthErrorCode::InvalidRequest | AuthErrorCode::UnsupportedGrantType => {
                    ErrorKind::InvalidInput
                }
                AuthErrorCode::Other(_) => ErrorKind::Transient,
            };
            let mut msg = format!(
                "the token endpoint refused the service account: {}",
                a.error.as_str()
            );
            if let Some(d) = &a.error_description {
                msg.push_str(": ");
                msg.push_str(d);
            }
            if matches!(a.error, AuthErrorCode::InvalidClient) {
                msg.push_str(" (check the service account key: use the current JSON key file of an account that exists, client_email and private_key unchanged)");
            }
            if matches!(a.error, AuthErrorCode::UnauthorizedClient) {
                msg.push_str(" (with subject set, the service account's client id needs domain-wide delegation for the Drive scope in the Workspace admin console)");
            }
            Error::new(kind, BACKEND, msg)
        }
        // No answer (refused, reset, TLS): the contract's one mapping, so an untrusted
        // certificate fails at once and the root cause ends the message.
        E::HttpError(_) | E::HttpClientError(_) | E::LowLevelError(_) => {
            Error::transport(BACKEND, token_endpoint, "getting an access token failed", e)
        }
        E::JSONError(_) => Error::new(
            ErrorKind::Transient,
            BACKEND,
            format!("getting an access token failed: {e}"),
        ),
        _ => Error::new(
            ErrorKind::Unauthorized,
            BACKEND,
            format!("getting an access token failed: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_keys_never_echo_content() {
        let secret = "SUPERSECRETKEYMATERIAL";
        for raw in [
            format!("{{\"private_key\": \"{secret}\""),
            format!("{{\"private_key\": 5, \"client_email\": \"{secret}\", \"token_uri\": 7}}"),
            format!("{{\"private_key\": \"{secret}\", \"client_email\": \"a@b\", \"token_uri\": \"https://x/token\"}}"),
            format!("{{\"type\": \"authorized_user\", \"private_key\": \"{secret}\", \"client_email\": \"a\", \"token_uri\": \"https://x\"}}"),
        ] {
            let err = parse_key("service_account_json", &SecretString::from(raw)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            let m = err.to_string();
            assert!(m.contains("service_account_json"), "{m}");
            assert!(!m.contains(secret), "{m}");
        }
    }
}
