//! The input layout the HTTP adapters' targets share: two bytes of status, one header line (used
//! as `Retry-After`, and by Drive as a `Range`), `\n`, then the body.

// Each target is its own crate and reads only some of the fields.
#![allow(dead_code)]

use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::StatusCode;

/// One fuzzed response.
pub struct Response<'a> {
    /// The status (an invalid code becomes 400).
    pub status: StatusCode,
    /// The two status bytes as a number, for targets that derive other parameters from them.
    pub raw_status: u16,
    /// The header line, raw.
    pub header: &'a [u8],
    /// `Retry-After: <header line>` when it is a valid header value.
    pub headers: HeaderMap,
    /// The body.
    pub body: &'a [u8],
}

/// Splits fuzzer input into a response; `None` when it is too short.
pub fn split(data: &[u8]) -> Option<Response<'_>> {
    let (status, rest) = data.split_at_checked(2)?;
    let raw_status = u16::from_be_bytes([status[0], status[1]]);
    let nl = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
    let (header, body) = rest.split_at(nl);
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(header) {
        headers.insert(RETRY_AFTER, v);
    }
    Some(Response {
        status: StatusCode::from_u16(raw_status).unwrap_or(StatusCode::BAD_REQUEST),
        raw_status,
        header,
        headers,
        body: body.get(1..).unwrap_or_default(),
    })
}
