//! One function per Blob service operation, with authorization and error mapping.
//!
//! Blob names are the keys (`daily/db 1.gz`), each `/`-separated segment percent-encoded here.
//! Every request goes through [`RetryPolicy::run`]: every body we send is in memory (one block or
//! one block list), so every attempt can be sent again.
//!
//! Shared Key authorization follows "Authorize with Shared Key"
//! (<https://learn.microsoft.com/en-us/rest/api/storageservices/authorize-with-shared-key>): the
//! `Authorization: SharedKey {account}:{signature}` header, where the signature is the base64
//! HMAC-SHA256, keyed with the base64-decoded account key, of the "Blob, Queue, and File services
//! (Shared Key authorization)" string-to-sign built in [`string_to_sign`].

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use cloudmirror_contract::{Error, ErrorKind, RetryPolicy};
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::{Method, Response, StatusCode};
use secrecy::ExposeSecret;

use crate::config::{Auth, Settings};
use crate::error::{error, network_error, parse_error, BACKEND};

/// The service version every request asks for (`x-ms-version`); 2019-12-12 and later accept
/// blocks up to 4000 MiB.
const VERSION: &str = "2021-08-06";

/// Characters left as they are in a path segment or a query value: RFC 3986 unreserved.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One request, before it is authorized and sent.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    method: Method,
    /// The blob's name, or `None` for the container itself.
    blob: Option<String>,
    /// Query parameters, unencoded.
    query: Vec<(&'static str, String)>,
    /// `x-ms-*` headers besides `x-ms-date` and `x-ms-version`, lower-case names.
    ms_headers: Vec<(&'static str, String)>,
    content_md5: Option<String>,
    body: Option<Bytes>,
}

impl Call {
    pub(crate) fn new(method: Method, blob: Option<&str>) -> Self {
        Self {
            method,
            blob: blob.map(str::to_owned),
            query: Vec::new(),
            ms_headers: Vec::new(),
            content_md5: None,
            body: None,
        }
    }

    pub(crate) fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.ms_headers.push((name, value.into()));
        self
    }

    /// The body and its `Content-MD5` (base64), which the service checks on arrival.
    pub(crate) fn body(mut self, body: Bytes) -> Self {
        self.content_md5 = Some(BASE64.encode(md5_of(&body)));
        self.body = Some(body);
        self
    }
}

/// The MD5 digest of `data`.
pub(crate) fn md5_of(data: &[u8]) -> [u8; 16] {
    use md5::Digest as _;
    md5::Md5::digest(data).into()
}

/// An authorized HTTP client for one container.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    pub(crate) settings: Settings,
    pub(crate) retry: RetryPolicy,
}

impl Client {
    pub(crate) fn new(settings: Settings) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("cloudmirror-azure/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(30))
            .read_timeout(std::time::Duration::from_mins(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| error(ErrorKind::Other, format!("building the HTTP client: {e}")))?;
        Ok(Self {
            http,
            settings,
            retry: RetryPolicy::default(),
        })
    }

    /// The request path: the endpoint's own path, the container, then the encoded blob name.
    fn path(&self, blob: Option<&str>) -> String {
        let mut out = self
            .settings
            .endpoint
            .path()
            .trim_end_matches('/')
            .to_owned();
        out.push('/');
        out.push_str(&self.settings.container);
        if let Some(blob) = blob {
            for seg in blob.split('/') {
                out.push('/');
                out.extend(utf8_percent_encode(seg, UNRESERVED));
            }
        }
        out
    }

    /// Sends `call` once; a status outside `ok` becomes the mapped error.
    async fn send_once(
        &self,
        what: &str,
        call: &Call,
        ok: &[StatusCode],
    ) -> Result<Response, Error> {
        let path = self.path(call.blob.as_deref());
        let mut query: Vec<String> = call
            .query
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, UNRESERVED)))
            .collect();
        if let Auth::Sas(sas) = &self.settings.auth {
            query.push(sas.expose_secret().to_owned());
        }
        let mut url = self.settings.endpoint.clone();
        url.set_path(&path);
        url.set_query((!query.is_empty()).then(|| query.join("&")).as_deref());
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let mut ms_headers = call.ms_headers.clone();
        ms_headers.push(("x-ms-date", date));
        ms_headers.push(("x-ms-version", VERSION.to_owned()));
        let len = call.body.as_ref().map_or(0, Bytes::len);
        let mut req = self.http.request(call.method.clone(), url);
        for (name, value) in &ms_headers {
            req = req.header(*name, value);
        }
        if let Some(md5) = &call.content_md5 {
            req = req.header("Content-MD5", md5);
        }
        if matches!(call.method, Method::PUT) {
            req = req.header(reqwest::header::CONTENT_LENGTH, len);
        }
        if let Auth::SharedKey(key) = &self.settings.auth {
            let to_sign = string_to_sign(&Request {
                method: call.method.as_str(),
                content_length: len as u64,
                content_md5: call.content_md5.as_deref().unwrap_or(""),
                ms_headers: &ms_headers,
                account: &self.settings.account,
                path: &path,
                query: &call.query,
            });
            let signature = sign(key.expose_secret(), &to_sign)?;
            let mut value = reqwest::header::HeaderValue::from_str(&format!(
                "SharedKey {}:{signature}",
                self.settings.account
            ))
            .map_err(|e| error(ErrorKind::Other, format!("building the signature: {e}")))?;
            value.set_sensitive(true);
            req = req.header(reqwest::header::AUTHORIZATION, value);
        }
        if let Some(body) = &call.body {
            req = req.body(body.clone());
        }
        tracing::debug!(backend = BACKEND, "{what}");
        let resp = req.send().await.map_err(|e| network_error(what, e))?;
        let status = resp.status();
        if ok.contains(&status) || (ok.is_empty() && status.is_success()) {
            return Ok(resp);
        }
        let headers = resp.headers().clone();
        let body = resp.bytes().await.unwrap_or_default();
        Err(parse_error(status, &headers, &body).context(what))
    }

    /// Sends `call`, retried with the policy, until its answer's headers arrive.
    pub(crate) async fn send(
        &self,
        what: &str,
        call: &Call,
        ok: &[StatusCode],
    ) -> Result<Response, Error> {
        self.retry
            .run(what, || async { self.send_once(what, call, ok).await })
            .await
    }

    /// Sends `call`, retried, and reads its whole answer (also retried when it breaks off).
    pub(crate) async fn send_read(
        &self,
        what: &str,
        call: &Call,
    ) -> Result<(reqwest::header::HeaderMap, Bytes), Error> {
        self.retry
            .run(what, || async {
                let resp = self.send_once(what, call, &[]).await?;
                let headers = resp.headers().clone();
                let body = resp.bytes().await.map_err(|e| network_error(what, e))?;
                Ok((headers, body))
            })
            .await
    }
}

/// What the string-to-sign is made of.
struct Request<'a> {
    method: &'a str,
    content_length: u64,
    content_md5: &'a str,
    ms_headers: &'a [(&'static str, String)],
    account: &'a str,
    /// The encoded request path, as sent.
    path: &'a str,
    /// The query parameters, unencoded.
    query: &'a [(&'static str, String)],
}

/// The Shared Key string-to-sign for the Blob service, version 2009-09-19 and later
/// ("Authorize with Shared Key", sections "Blob, Queue, and File services (Shared Key
/// authorization)", "Constructing the canonicalized headers string" and "Constructing the
/// canonicalized resource string"): the verb, eleven standard headers (we send none of them but
/// `Content-Length`, empty when zero since version 2015-02-21, and `Content-MD5`), the `x-ms-`
/// headers sorted by lower-case name as `name:value` lines, then `/{account}{path}` and each
/// query parameter as a `\nname:value` line, sorted by name, values decoded.
fn string_to_sign(r: &Request<'_>) -> String {
    let length = if r.content_length == 0 {
        String::new()
    } else {
        r.content_length.to_string()
    };
    let mut out = format!(
        "{}\n\n\n{length}\n{}\n\n\n\n\n\n\n\n",
        r.method, r.content_md5
    );
    let mut headers: Vec<(String, &str)> = r
        .ms_headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim()))
        .collect();
    headers.sort();
    for (k, v) in headers {
        out.push_str(&k);
        out.push(':');
        out.push_str(v);
        out.push('\n');
    }
    out.push('/');
    out.push_str(r.account);
    out.push_str(r.path);
    let mut query: Vec<(String, &str)> = r
        .query
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
        .collect();
    query.sort();
    for (k, v) in query {
        out.push('\n');
        out.push_str(&k);
        out.push(':');
        out.push_str(v);
    }
    out
}

/// `Base64(HMAC-SHA256(Base64Decode(key), UTF8(string_to_sign)))`.
pub(crate) fn sign(key: &str, string_to_sign: &str) -> Result<String, Error> {
    let key = BASE64
        .decode(key.trim())
        .map_err(|_| error(ErrorKind::InvalidInput, "access_key is not base64"))?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key)
        .map_err(|e| error(ErrorKind::InvalidInput, format!("access_key: {e}")))?;
    mac.update(string_to_sign.as_bytes());
    Ok(BASE64.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_to_sign_follows_the_documented_layout() {
        let headers = vec![
            ("x-ms-version", VERSION.to_owned()),
            ("x-ms-date", "Sun, 06 Dec 2026 02:00:00 GMT".to_owned()),
        ];
        let query = vec![
            ("restype", "container".to_owned()),
            ("comp", "list".to_owned()),
            ("prefix", "a b/".to_owned()),
        ];
        let s = string_to_sign(&Request {
            method: "GET",
            content_length: 0,
            content_md5: "",
            ms_headers: &headers,
            account: "myaccount",
            path: "/mycontainer",
            query: &query,
        });
        assert_eq!(
            s,
            "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Sun, 06 Dec 2026 02:00:00 GMT\nx-ms-version:2021-08-06\n/myaccount/mycontainer\ncomp:list\nprefix:a b/\nrestype:container"
        );
        let s = string_to_sign(&Request {
            method: "PUT",
            content_length: 11,
            content_md5: "md5==",
            ms_headers: &headers,
            account: "a",
            path: "/c/x%20y",
            query: &[],
        });
        assert!(s.starts_with("PUT\n\n\n11\nmd5==\n\n"), "{s:?}");
        assert!(s.ends_with("\n/a/c/x%20y"), "{s:?}");
    }

    #[test]
    fn signatures_are_hmac_sha256_of_the_decoded_key() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let sig = sign(&BASE64.encode("Jefe"), "what do ya want for nothing?").unwrap();
        assert_eq!(
            hex::encode(BASE64.decode(sig).unwrap()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
