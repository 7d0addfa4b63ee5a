//! The fake's OAuth side: the service-account JWT bearer grant and bearer-token checks.

use base64::Engine as _;
use serde_json::{json, Value};
use wiremock::{Request, ResponseTemplate};

use super::state::State;
use super::{DRIVE_SCOPE, JWT_GRANT_TYPE, TEST_PUBLIC_KEY_PEM};

/// The audience Google documents for the JWT bearer grant.
const GOOGLE_TOKEN_AUDIENCE: &str = "https://oauth2.googleapis.com/token";

/// `POST /token`: verifies the signed JWT and issues an access token.
pub(crate) fn token_endpoint(st: &mut State, req: &Request) -> ResponseTemplate {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect();
    let get = |k: &str| {
        form.iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.as_str())
    };
    if get("grant_type") != Some(JWT_GRANT_TYPE) {
        return oauth_error(400, "unsupported_grant_type", "Invalid grant_type.");
    }
    let Some(assertion) = get("assertion") else {
        return oauth_error(
            400,
            "invalid_request",
            "Missing required parameter: assertion",
        );
    };
    let claims = match verify_jwt(assertion) {
        Ok(c) => c,
        Err(why) => return oauth_error(400, "invalid_grant", why),
    };
    let now = chrono::Utc::now().timestamp();
    let int = |k: &str| claims.get(k).and_then(Value::as_i64);
    let text = |k: &str| claims.get(k).and_then(Value::as_str);
    if text("iss") != Some(st.opts.client_email.as_str()) {
        return oauth_error(401, "invalid_client", "The OAuth client was not found.");
    }
    // "aud: A descriptor of the intended target of the assertion. When making an access token
    // request this value is always https://oauth2.googleapis.com/token" (Google Identity,
    // "Using OAuth 2.0 for Server to Server Applications", JWT claim set); google-auth sends that
    // whatever the key's token_uri (google/oauth2/service_account.py). Clients that send the
    // key's token_uri (yup-oauth2) reach this fake's own endpoint, accepted too.
    let own = format!("{}/token", st.base);
    if !matches!(text("aud"), Some(a) if a == GOOGLE_TOKEN_AUDIENCE || a == own) {
        return oauth_error(400, "invalid_grant", "Invalid JWT: audience mismatch.");
    }
    let (Some(iat), Some(exp)) = (int("iat"), int("exp")) else {
        return oauth_error(400, "invalid_grant", "Invalid JWT: missing iat or exp.");
    };
    if iat > now + 60 || exp <= now || exp - iat > 3600 {
        return oauth_error(
            400,
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
        );
    }
    let scopes: Vec<&str> = text("scope").unwrap_or("").split(' ').collect();
    if !scopes.contains(&DRIVE_SCOPE) {
        return oauth_error(
            400,
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
        );
    }
    let subject = text("sub").map(str::to_owned);
    if subject.is_some() && !st.opts.allow_delegation {
        return oauth_error(
            401,
            "unauthorized_client",
            "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
        );
    }
    st.last_subject.clone_from(&subject);
    let (token, life) = st.issue_token(subject);
    ResponseTemplate::new(200).set_body_json(json!({
        "access_token": token,
        "expires_in": life,
        "token_type": "Bearer",
    }))
}

/// Whether the request carries a currently valid `Authorization: Bearer` token.
pub(crate) fn authorized(st: &State, req: &Request) -> bool {
    bearer(req).is_some_and(|t| st.token_valid(t))
}

/// Whether the request acts as a Workspace user through domain-wide delegation (its token was
/// issued for a JWT with `sub`), rather than as the bare service account.
pub(crate) fn delegated(st: &State, req: &Request) -> bool {
    bearer(req).is_some_and(|t| st.token_delegated(t))
}

fn bearer(req: &Request) -> Option<&str> {
    req.headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// The JSON error Drive returns for a missing, invalid or expired token.
pub(crate) fn unauthenticated() -> ResponseTemplate {
    ResponseTemplate::new(401).set_body_json(json!({"error": {
        "code": 401,
        "message": "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        "errors": [{"message": "Invalid Credentials", "domain": "global", "reason": "authError",
                    "location": "Authorization", "locationType": "header"}],
        "status": "UNAUTHENTICATED"
    }}))
}

fn oauth_error(status: u16, error: &str, description: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"error": error, "error_description": description}))
}

/// Checks an RS256 JWT's shape and signature against the test public key; returns its claims.
fn verify_jwt(jwt: &str) -> Result<serde_json::Map<String, Value>, &'static str> {
    // base64url, padded or not (yup-oauth2 pads; Google accepts both).
    let b64 =
        |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s.trim_end_matches('='));
    let mut parts = jwt.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("Invalid JWT: not three segments.");
    };
    let header: Value = b64(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("Invalid JWT: bad header.")?;
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err("Invalid JWT: alg must be RS256.");
    }
    let sig = b64(s).map_err(|_| "Invalid JWT Signature.")?;
    let public = public_key_der().ok_or("fake: bad test public key")?;
    let key = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        public,
    );
    key.verify(format!("{h}.{c}").as_bytes(), &sig)
        .map_err(|_| "Invalid JWT Signature.")?;
    let claims: Value = b64(c)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("Invalid JWT: bad claims.")?;
    match claims {
        Value::Object(m) => Ok(m),
        _ => Err("Invalid JWT: claims are not an object."),
    }
}

/// The PKCS#1 DER of the test public key.
fn public_key_der() -> Option<Vec<u8>> {
    let b64: String = TEST_PUBLIC_KEY_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}
