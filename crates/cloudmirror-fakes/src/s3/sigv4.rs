//! `SigV4` checking for the S3 fake: the `Authorization` header must name the configured key, the
//! region and `s3`, and its signature must verify against the configured secret.

use std::fmt::Write as _;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use wiremock::Request;

/// What is wrong with a request's signature, as S3 reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthError {
    pub(crate) status: u16,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

fn deny(status: u16, code: &'static str, message: impl Into<String>) -> AuthError {
    AuthError {
        status,
        code,
        message: message.into(),
    }
}

/// RFC 3986 unreserved characters stay; everything else is percent-encoded (`SigV4`'s rule).
const SIGV4_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Verifies the request's `SigV4` `Authorization` header.
pub(crate) fn verify(
    req: &Request,
    access_key_id: &str,
    secret_access_key: &str,
    region: &str,
) -> Result<(), AuthError> {
    let (credential, signed_headers, signature) = parse_authorization(req)?;
    let parts: Vec<&str> = credential.split('/').collect();
    let [key_id, date, cred_region, service, terminal] = parts.as_slice() else {
        return Err(deny(
            400,
            "AuthorizationHeaderMalformed",
            "malformed Credential scope",
        ));
    };
    if *key_id != access_key_id {
        return Err(deny(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        ));
    }
    if *cred_region != region || *service != "s3" || *terminal != "aws4_request" {
        return Err(deny(
            400,
            "AuthorizationHeaderMalformed",
            format!("the credential scope must be <date>/{region}/s3/aws4_request"),
        ));
    }
    let Some(amz_date) = header(req, "x-amz-date") else {
        return Err(deny(403, "AccessDenied", "missing x-amz-date"));
    };
    let Some(payload_hash) = header(req, "x-amz-content-sha256") else {
        return Err(deny(400, "InvalidRequest", "missing x-amz-content-sha256"));
    };
    let names: Vec<&str> = signed_headers.split(';').collect();
    if !names.contains(&"host") || !names.contains(&"x-amz-date") {
        return Err(deny(
            400,
            "AuthorizationHeaderMalformed",
            "host and x-amz-date must be signed",
        ));
    }
    let mut canonical_headers = String::new();
    for name in &names {
        let values: Vec<String> = req
            .headers
            .get_all(*name)
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let _ = writeln!(canonical_headers, "{name}:{}", values.join(","));
    }
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method.as_str(),
        req.url.path(),
        canonical_query(req.url.query().unwrap_or("")),
        canonical_headers,
        signed_headers,
        payload_hash
    );
    let scope = format!("{date}/{region}/s3/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let k_date = hmac(
        format!("AWS4{secret_access_key}").as_bytes(),
        date.as_bytes(),
    );
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, b"s3");
    let k_signing = hmac(&k_service, b"aws4_request");
    let expected = hex::encode(hmac(&k_signing, string_to_sign.as_bytes()));
    if expected != signature {
        return Err(deny(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        ));
    }
    Ok(())
}

/// The `Credential`, `SignedHeaders` and `Signature` fields of the `Authorization` header.
fn parse_authorization(req: &Request) -> Result<(&str, &str, &str), AuthError> {
    let Some(auth) = header(req, "authorization") else {
        return Err(deny(
            403,
            "AccessDenied",
            "Access Denied (no Authorization header)",
        ));
    };
    let Some(fields) = auth.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return Err(deny(
            400,
            "AuthorizationHeaderMalformed",
            "only AWS4-HMAC-SHA256 is supported",
        ));
    };
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for field in fields.split(',') {
        let field = field.trim();
        if let Some(v) = field.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = field.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = field.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(deny(
            400,
            "AuthorizationHeaderMalformed",
            "the Authorization header lacks Credential, SignedHeaders or Signature",
        ));
    };
    Ok((credential, signed_headers, signature))
}

fn header<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (encode(k), encode(v))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(raw: &str) -> String {
    let decoded = percent_decode_str(raw).decode_utf8_lossy();
    utf8_percent_encode(&decoded, SIGV4_SET).to_string()
}

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        assert_eq!(
            hex::encode(hmac(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn canonical_query_sorts_and_encodes() {
        assert_eq!(
            canonical_query("uploadId=a%2Bb&partNumber=2"),
            "partNumber=2&uploadId=a%2Bb"
        );
        assert_eq!(canonical_query("uploads"), "uploads=");
        assert_eq!(
            canonical_query("list-type=2&prefix=a%20b%2Fc"),
            "list-type=2&prefix=a%20b%2Fc"
        );
    }
}
