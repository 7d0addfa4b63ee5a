//! Wire helpers of the fake: header and argument parsing, error bodies in the real API's shapes.

use std::fmt::Write as _;

use serde_json::{json, Value};
use wiremock::{Request, ResponseTemplate};

pub(super) fn header<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

pub(super) fn raw_header<'r>(req: &'r Request, name: &str) -> Option<&'r [u8]> {
    req.headers
        .get(name)
        .map(wiremock::http::HeaderValue::as_bytes)
}

/// Parses a header's JSON, refusing raw non-ASCII bytes and DEL as the real API does.
pub(super) fn parse_ascii_json(raw: &[u8]) -> Result<Value, String> {
    if raw.iter().any(|b| *b >= 0x7F) {
        return Err("header value must be ASCII: escape other characters as \\uXXXX".to_owned());
    }
    serde_json::from_slice(raw).map_err(|e| format!("could not decode input as JSON: {e}"))
}

pub(super) fn rpc_arg(req: &Request, route: &str) -> Result<Value, ResponseTemplate> {
    let ct = header(req, "content-type").unwrap_or_default();
    if !ct.starts_with("application/json") {
        return Err(text(
            400,
            route,
            &format!(
                "Bad HTTP \"Content-Type\" header: {ct:?}. Expecting one of \"application/json\"."
            ),
        ));
    }
    serde_json::from_slice(&req.body).map_err(|e| {
        text(
            400,
            route,
            &format!("request body: could not decode input as JSON: {e}"),
        )
    })
}

pub(super) fn content_arg(
    req: &Request,
    route: &str,
    download: bool,
) -> Result<Value, ResponseTemplate> {
    let ct = header(req, "content-type").unwrap_or_default();
    if download {
        if !(ct.is_empty()
            || ct.starts_with("text/plain")
            || ct.starts_with("application/octet-stream"))
        {
            return Err(text(
                400,
                route,
                &format!("Bad HTTP \"Content-Type\" header: {ct:?}."),
            ));
        }
    } else if !ct.starts_with("application/octet-stream") {
        return Err(text(
            400,
            route,
            &format!("Bad HTTP \"Content-Type\" header: {ct:?}. Expecting one of \"application/octet-stream\"."),
        ));
    }
    let Some(raw) = raw_header(req, "dropbox-api-arg") else {
        return Err(text(
            400,
            route,
            "Must provide HTTP header \"Dropbox-API-Arg\" or URL parameter \"arg\".",
        ));
    };
    parse_ascii_json(raw).map_err(|why| text(400, route, &format!("Dropbox-API-Arg: {why}")))
}

/// A 400-style plain-text error, worded like the real API's.
pub(super) fn text(status: u16, route: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(
        format!("Error in call to API function \"{route}\": {message}"),
        "text/plain; charset=utf-8",
    )
}

pub(super) fn auth_error(tag: &str) -> ResponseTemplate {
    ResponseTemplate::new(401)
        .set_body_json(json!({"error_summary": format!("{tag}/.."), "error": {".tag": tag}}))
}

/// A 409 route error; `error_summary` is the chain of tags, as the real API writes it.
#[allow(clippy::needless_pass_by_value)] // Reason: callers build the value inline with json!.
pub(super) fn route_error(error: Value) -> ResponseTemplate {
    let mut tags = Vec::new();
    let mut cur = &error;
    while let Some(tag) = cur.get(".tag").and_then(Value::as_str) {
        tags.push(tag.to_owned());
        match cur.get(tag).or_else(|| cur.get("reason")) {
            Some(next) if next.is_object() => cur = next,
            _ => break,
        }
    }
    let summary = format!("{}/..", tags.join("/"));
    ResponseTemplate::new(409).set_body_json(json!({"error_summary": summary, "error": error}))
}

/// Escapes every non-ASCII character and DEL as `\uXXXX`, for JSON carried in a header.
pub(super) fn header_safe_json(value: &Value) -> String {
    let raw = value.to_string();
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if (c as u32) < 0x7F {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
    out
}
