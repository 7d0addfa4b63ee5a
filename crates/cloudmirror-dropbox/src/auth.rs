//! Access tokens from the OAuth refresh-token grant (the `oauth2` crate), cached until shortly
//! before they expire.

use std::fmt;
use std::time::{Duration, Instant};

use cloudmirror_contract::{Error, ErrorKind, Result, RetryPolicy};
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AsyncHttpClient, AuthType, ClientId, ClientSecret, HttpClientError, HttpRequest, HttpResponse,
    RefreshToken, RequestTokenError, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};

use crate::BACKEND;

/// Refresh this long before the token expires (less for very short-lived tokens).
const REFRESH_MARGIN: Duration = Duration::from_mins(5);
/// Assumed lifetime when the token response has no `expires_in` (Dropbox issues 4 h tokens).
const DEFAULT_LIFETIME: Duration = Duration::from_hours(4);

/// Holds the app credentials and the current access token.
pub(crate) struct Auth {
    app_key: String,
    app_secret: Option<SecretString>,
    refresh_token: SecretString,
    token_url: String,
    cache: tokio::sync::Mutex<Option<Cached>>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("app_key", &self.app_key)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

struct Cached {
    token: SecretString,
    refresh_at: Instant,
}

/// Why a token request failed before `oauth2` could read an OAuth error body.
#[derive(Debug, thiserror::Error)]
enum TokenHttpError {
    #[error("{0}")]
    Transport(HttpClientError<reqwest::Error>),
    #[error("the token endpoint answered HTTP {status}")]
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
}

impl Auth {
    pub(crate) fn new(
        app_key: String,
        app_secret: Option<SecretString>,
        refresh_token: SecretString,
        token_url: String,
    ) -> Self {
        Self {
            app_key,
            app_secret,
            refresh_token,
            token_url,
            cache: tokio::sync::Mutex::new(None),
        }
    }

    /// A valid access token: the cached one, or a fresh one from the refresh grant.
    pub(crate) async fn token(
        &self,
        http: &reqwest::Client,
        retry: &RetryPolicy,
    ) -> Result<SecretString> {
        // Holding the lock while refreshing makes concurrent callers wait for one refresh.
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref() {
            if Instant::now() < c.refresh_at {
                return Ok(c.token.clone());
            }
        }
        let fresh = retry
            .run("refreshing the Dropbox access token", || self.refresh(http))
            .await?;
        let token = fresh.token.clone();
        *cache = Some(fresh);
        Ok(token)
    }

    /// Forgets `stale` (after a 401) so the next [`Auth::token`] refreshes; a token another
    /// caller already replaced is left alone.
    pub(crate) async fn invalidate(&self, stale: &SecretString) {
        let mut cache = self.cache.lock().await;
        if cache
            .as_ref()
            .is_some_and(|c| c.token.expose_secret() == stale.expose_secret())
        {
            *cache = None;
        }
    }

    async fn refresh(&self, http: &reqwest::Client) -> Result<Cached> {
        let token_url = TokenUrl::new(self.token_url.clone()).map_err(|e| {
            Error::new(
                ErrorKind::InvalidInput,
                BACKEND,
                format!("token_url is not a valid URL: {e}"),
            )
        })?;
        let mut client = BasicClient::new(ClientId::new(self.app_key.clone()))
            .set_token_uri(token_url)
            .set_auth_type(AuthType::RequestBody);
        if let Some(secret) = &self.app_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()));
        }
        // Wraps reqwest so 5xx and 429 keep their status (oauth2 would report them as parse errors).
        let call = |request: HttpRequest| {
            let http = http.clone();
            async move {
                let response: HttpResponse = http
                    .call(request)
                    .await
                    .map_err(TokenHttpError::Transport)?;
                let status = response.status().as_u16();
                if status == 429 || status >= 500 {
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse().ok())
                        .map(Duration::from_secs);
                    return Err(TokenHttpError::Status {
                        status,
                        retry_after,
                    });
                }
                Ok(response)
            }
        };
        let refresh = RefreshToken::new(self.refresh_token.expose_secret().to_owned());
        tracing::debug!(token_url = %self.token_url, "refreshing the Dropbox access token");
        let response = client
            .exchange_refresh_token(&refresh)
            .request_async(&call)
            .await
            .map_err(|e| token_error(&self.token_url, e))?;
        let lifetime = response.expires_in().unwrap_or(DEFAULT_LIFETIME);
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        Ok(Cached {
            token: SecretString::from(response.access_token().secret().clone()),
            refresh_at: Instant::now() + lifetime.saturating_sub(margin),
        })
    }
}

fn token_error(
    token_url: &str,
    err: RequestTokenError<TokenHttpError, oauth2::basic::BasicErrorResponse>,
) -> Error {
    match err {
        RequestTokenError::ServerResponse(resp) => {
            let detail = resp
                .error_description()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            let message = match resp.error() {
                BasicErrorResponseType::InvalidGrant => format!(
                    "Dropbox rejected refresh_token (invalid_grant{detail}); create a new refresh \
                     token for this app and update the refresh_token setting"
                ),
                BasicErrorResponseType::InvalidClient
                | BasicErrorResponseType::UnauthorizedClient => format!(
                    "Dropbox rejected the app credentials ({}{detail}); check the app_key and \
                     app_secret settings",
                    resp.error()
                ),
                other => format!("the token request failed ({other}{detail})"),
            };
            Error::new(ErrorKind::Unauthorized, BACKEND, message)
        }
        RequestTokenError::Request(TokenHttpError::Status {
            status,
            retry_after,
        }) => {
            let kind = if status == 429 {
                ErrorKind::RateLimited { retry_after }
            } else {
                ErrorKind::Transient
            };
            Error::new(
                kind,
                BACKEND,
                format!("the token endpoint answered HTTP {status}"),
            )
        }
        RequestTokenError::Request(TokenHttpError::Transport(e)) => Error::transport(
            BACKEND,
            &cloudmirror_contract::cause::endpoint_of(token_url),
            "token request failed",
            e,
        ),
        // The body is not shown: it could hold a token.
        RequestTokenError::Parse(e, _) => Error::new(
            ErrorKind::Other,
            BACKEND,
            format!("unexpected answer from the token endpoint: {}", e.path()),
        ),
        RequestTokenError::Other(msg) => Error::new(
            ErrorKind::Other,
            BACKEND,
            format!("token request failed: {msg}"),
        ),
    }
}
