//! The fake's authentication: the API gateway's `apikey` check and the storage server's JWT.

use wiremock::{Request, ResponseTemplate};

use super::{header, storage_error, State};

/// The gateway checks `apikey`; the storage server checks the bearer JWT.
pub(super) fn check_auth(st: &mut State, req: &Request, schema: bool) -> Option<ResponseTemplate> {
    let key = st.key.clone();
    let refuse = |st: &mut State, t: ResponseTemplate| {
        st.counts.unauthorized += 1;
        Some(t)
    };
    if !st.options.gateway {
        // No gateway: `apikey` means nothing to the storage server and nobody swaps an
        // `sb_secret_…` key for a JWT. A route whose schema requires `authorization` refuses a
        // request without it before any handler runs: Fastify's validation error, rendered by
        // `setErrorHandler` (supabase/storage `src/http/error-handler.ts`) as
        // `{statusCode: "400", error: "Error", code: "InvalidRequest", message}` with HTTP 400.
        let bearer = header(req, "authorization");
        if bearer.is_none() && schema {
            return refuse(
                st,
                ResponseTemplate::new(400).set_body_json(serde_json::json!({
                    "statusCode": "400",
                    "error": "Error",
                    "code": "InvalidRequest",
                    "message": "headers must have required property 'authorization'",
                })),
            );
        }
        // The JWT plugin (`src/http/plugins/jwt.ts`): a token that does not verify is
        // `AccessDenied` with the verifier's message.
        if bearer.and_then(|b| b.strip_prefix("Bearer ")) == Some(key.as_str())
            && !key.starts_with("sb_")
        {
            return None;
        }
        return refuse(
            st,
            storage_error("403", "Unauthorized", "Invalid Compact JWS", "AccessDenied"),
        );
    }
    match header(req, "apikey") {
        None => {
            return refuse(
                st,
                ResponseTemplate::new(401).set_body_json(serde_json::json!({
                    "message": "No API key found in request",
                    "hint": "No `apikey` request header or url param was found."
                })),
            )
        }
        Some(k) if k != key => {
            return refuse(
                st,
                ResponseTemplate::new(401).set_body_json(serde_json::json!({
                    "message": "Invalid API key",
                    "hint": "Double check your Supabase `anon` or `service_role` API key."
                })),
            )
        }
        Some(_) => {}
    }
    let bearer = header(req, "authorization");
    let new_style = key.starts_with("sb_");
    let ok = match bearer {
        Some(b) => b.strip_prefix("Bearer ") == Some(key.as_str()) && !new_style,
        None => new_style,
    };
    if ok {
        return None;
    }
    let message = if new_style {
        "Invalid Compact JWS"
    } else if bearer.is_none() {
        "headers must have required property 'authorization'"
    } else {
        "signature verification failed"
    };
    refuse(
        st,
        storage_error("403", "Unauthorized", message, "AccessDenied"),
    )
}
