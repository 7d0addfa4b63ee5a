//! The fake's OAuth token route and the per-request checks: bearer token, team headers, Path-Root.

use std::collections::HashMap;
use std::time::Instant;

use serde_json::{json, Value};
use wiremock::{Request, ResponseTemplate};

use super::wire::{auth_error, header, parse_ascii_json, raw_header, text};
use super::{Ctx, State};

impl State {
    pub(super) fn token(&mut self, req: &Request) -> ResponseTemplate {
        let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect();
        let (mut id, mut secret) = (
            form.get("client_id").cloned(),
            form.get("client_secret").cloned(),
        );
        if let Some(basic) =
            header(req, "authorization").and_then(|h| h.strip_prefix("Basic ").map(str::to_owned))
        {
            use base64::Engine as _;
            if let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(basic.trim()) {
                let raw = String::from_utf8_lossy(&raw).into_owned();
                if let Some((i, s)) = raw.split_once(':') {
                    let dec = |v: &str| {
                        percent_encoding::percent_decode_str(v)
                            .decode_utf8_lossy()
                            .into_owned()
                    };
                    id = Some(dec(i));
                    secret = Some(dec(s));
                }
            }
        }
        let oauth_error = |error: &str, description: &str| {
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": error, "error_description": description}))
        };
        if form.get("grant_type").map(String::as_str) != Some("refresh_token") {
            return oauth_error(
                "unsupported_grant_type",
                "only refresh_token is supported here",
            );
        }
        // The client secret is required unless the refresh token came from a PKCE flow: the
        // official Python SDK sends `client_secret` only when it has an app secret
        // (dropbox-sdk-python `dropbox/dropbox_client.py`, `refresh_access_token`), and Dropbox's
        // OAuth guide (https://developers.dropbox.com/oauth-guide, "PKCE") has PKCE apps refresh
        // with the app key alone. A secret that is sent must still be the right one.
        let secret_ok = match secret.as_deref() {
            Some(s) => s == self.opts.app_secret,
            None => self.opts.pkce,
        };
        if id.as_deref() != Some(self.opts.app_key.as_str()) || !secret_ok {
            return oauth_error("invalid_client", "Invalid client_id or client_secret");
        }
        if self.refresh_revoked
            || form.get("refresh_token").map(String::as_str)
                != Some(self.opts.refresh_token.as_str())
        {
            return oauth_error("invalid_grant", "refresh token is invalid or revoked");
        }
        let n = self.next_seq();
        let token = format!("sl.fake-access-token-{n}");
        self.tokens
            .insert(token.clone(), Instant::now() + self.opts.token_lifetime);
        self.tokens_issued += 1;
        ResponseTemplate::new(200).set_body_json(json!({
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self.opts.token_lifetime.as_secs(),
        }))
    }

    /// Checks the bearer token, the team headers and the Path-Root header.
    pub(super) fn authorize(
        &mut self,
        req: &Request,
        route: &str,
    ) -> Result<Ctx, ResponseTemplate> {
        let Some(auth) = header(req, "authorization") else {
            return Err(text(
                400,
                route,
                "Must provide HTTP header \"Authorization\" or URL parameter \"authorization\".",
            ));
        };
        let Some(token) = auth.strip_prefix("Bearer ") else {
            return Err(text(
                400,
                route,
                "The given OAuth 2 access token is malformed.",
            ));
        };
        match self.tokens.get(token) {
            None => {
                self.unauthorized += 1;
                return Err(auth_error("invalid_access_token"));
            }
            Some(exp) if *exp <= Instant::now() => {
                self.unauthorized += 1;
                return Err(auth_error("expired_access_token"));
            }
            Some(_) => {}
        }
        let select = header(req, "dropbox-api-select-user").filter(|s| !s.is_empty());
        let member = if self.opts.team_token {
            let Some(select) = select else {
                return Err(text(
                    400,
                    route,
                    "This API function operates on a single Dropbox account, but the OAuth 2 access \
                     token you provided is for an entire Dropbox Business team. Since your API app key \
                     has team member file access permissions, you can operate on a team member's \
                     Dropbox by providing the \"Dropbox-API-Select-User\" HTTP header or \
                     \"select_user\" URL parameter to specify the exact user \
                     <https://www.dropbox.com/developers/documentation/http/teams>.",
                ));
            };
            if !select.starts_with("dbmid:") {
                return Err(text(400, route, "Invalid select user id format"));
            }
            let Some(i) = self.members.iter().position(|m| m.id == select) else {
                self.unauthorized += 1;
                return Err(auth_error("invalid_select_user"));
            };
            i
        } else {
            if select.is_some() {
                return Err(text(
                    400,
                    route,
                    "Unexpected select user header. Your app does not have permission to use this feature.",
                ));
            }
            0
        };
        let home = self.members[member].home_ns.clone();
        let ns = match raw_header(req, "dropbox-api-path-root") {
            None => home,
            Some(raw) => {
                let value = parse_ascii_json(raw)
                    .map_err(|why| text(400, route, &format!("Dropbox-API-Path-Root: {why}")))?;
                match value.get(".tag").and_then(Value::as_str) {
                    Some("home") => home,
                    Some("root") => {
                        let want = self.root_ns(member);
                        if value.get("root").and_then(Value::as_str) == Some(want.as_str()) {
                            want
                        } else {
                            return Err(ResponseTemplate::new(422).set_body_json(json!({
                                "error_summary": "invalid_root/..",
                                "error": {".tag": "invalid_root", "invalid_root": self.root_info(member)},
                            })));
                        }
                    }
                    Some("namespace_id") => {
                        let id = value
                            .get("namespace_id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned();
                        if id == home || id == self.root_ns(member) {
                            id
                        } else {
                            return Err(ResponseTemplate::new(422).set_body_json(json!({
                                "error_summary": "no_permission/..",
                                "error": {".tag": "no_permission"},
                            })));
                        }
                    }
                    _ => return Err(text(400, route, "Dropbox-API-Path-Root: unknown mode")),
                }
            }
        };
        Ok(Ctx { member, ns })
    }
}
