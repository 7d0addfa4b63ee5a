//! Listings: List Blobs with a prefix, page by page (`NextMarker`), lazily.
//!
//! "List Blobs" (<https://learn.microsoft.com/en-us/rest/api/storageservices/list-blobs>):
//! `GET ?restype=container&comp=list&prefix=…&marker=…&maxresults=…` answers an
//! `<EnumerationResults>` document; a non-empty `<NextMarker>` means more pages. Uncommitted
//! blobs (staged blocks only) are not listed without `include=uncommittedblobs`, so an upload in
//! flight or a failed one never shows.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use cloudmirror_contract::{Checksum, Key, ObjectMeta, ObjectStream, Prefix, Result};
use futures::stream::{self, StreamExt};
use reqwest::Method;
use serde::Deserialize;

use crate::client::{Call, Client};
use crate::error::{error, BACKEND};

/// Blobs per page (the service's maximum is 5000).
pub(crate) const PAGE_SIZE: usize = 5000;

#[derive(Deserialize)]
struct EnumerationResults {
    #[serde(rename = "Blobs", default)]
    blobs: Option<Blobs>,
    #[serde(rename = "NextMarker", default)]
    next_marker: Option<String>,
}

#[derive(Deserialize)]
struct Blobs {
    #[serde(rename = "Blob", default)]
    blob: Vec<Blob>,
}

#[derive(Deserialize)]
struct Blob {
    #[serde(rename = "Name")]
    name: Name,
    #[serde(rename = "Properties")]
    properties: Properties,
}

/// A blob name; `Encoded="true"` (names with characters XML cannot carry) means percent-encoded.
#[derive(Deserialize)]
struct Name {
    #[serde(rename = "@Encoded", default)]
    encoded: Option<String>,
    #[serde(rename = "$text", default)]
    text: String,
}

#[derive(Deserialize)]
struct Properties {
    #[serde(rename = "Last-Modified", default)]
    last_modified: Option<String>,
    #[serde(rename = "Content-Length", default)]
    content_length: Option<u64>,
    #[serde(rename = "Content-MD5", default)]
    content_md5: Option<String>,
}

/// One page: the blobs (name, metadata) and the marker of the next page.
pub(crate) type Page = (
    Vec<(String, u64, Option<DateTime<Utc>>, Option<Checksum>)>,
    Option<String>,
);

/// Parses a List Blobs answer.
pub(crate) fn parse_page(body: &[u8]) -> std::result::Result<Page, String> {
    let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
    let text = text.trim_start_matches('\u{feff}');
    let page: EnumerationResults = quick_xml::de::from_str(text).map_err(|e| e.to_string())?;
    let blobs = page
        .blobs
        .map(|b| b.blob)
        .unwrap_or_default()
        .into_iter()
        .map(|b| {
            let name = if b.name.encoded.as_deref() == Some("true") {
                percent_encoding::percent_decode_str(&b.name.text)
                    .decode_utf8_lossy()
                    .into_owned()
            } else {
                b.name.text
            };
            let modified = b
                .properties
                .last_modified
                .and_then(|d| DateTime::parse_from_rfc2822(d.trim()).ok())
                .map(|d| d.with_timezone(&Utc));
            let md5 = b
                .properties
                .content_md5
                .and_then(|m| BASE64.decode(m.trim()).ok())
                .filter(|m| m.len() == 16)
                .map(|m| Checksum::Md5(hex::encode(m)));
            (
                name,
                b.properties.content_length.unwrap_or(0),
                modified,
                md5,
            )
        })
        .collect();
    let next = page.next_marker.filter(|m| !m.trim().is_empty());
    Ok((blobs, next))
}

/// Fetches one page of names starting with `prefix`, after `marker`.
pub(crate) async fn page(
    client: &Client,
    prefix: &str,
    marker: Option<&str>,
    max: usize,
) -> Result<Page> {
    let mut call = Call::new(Method::GET, None)
        .query("restype", "container")
        .query("comp", "list")
        .query("maxresults", max.to_string());
    if !prefix.is_empty() {
        call = call.query("prefix", prefix);
    }
    if let Some(m) = marker {
        call = call.query("marker", m);
    }
    let what = if prefix.is_empty() {
        "listing the container".to_owned()
    } else {
        format!("listing {prefix:?}")
    };
    let (_, body) = client.send_read(&what, &call).await?;
    parse_page(&body).map_err(|e| {
        error(
            cloudmirror_contract::ErrorKind::Other,
            format!("{what}: unreadable List Blobs answer: {e}"),
        )
    })
}

pub(crate) fn list<'a>(client: &'a Client, prefix: &'a Prefix) -> ObjectStream<'a> {
    // (ready objects, next marker, finished)
    let state = (Vec::<ObjectMeta>::new(), None::<String>, false);
    stream::try_unfold(state, move |(mut ready, mut marker, mut done)| async move {
        loop {
            if let Some(meta) = ready.pop() {
                return Ok(Some((meta, (ready, marker, done))));
            }
            if done {
                return Ok(None);
            }
            let (blobs, next) = page(client, prefix.as_str(), marker.as_deref(), PAGE_SIZE).await?;
            done = next.is_none();
            marker = next;
            for (name, size, modified, checksum) in blobs.into_iter().rev() {
                if !prefix.matches(&name) {
                    continue;
                }
                let Ok(key) = Key::parse(&name) else {
                    tracing::debug!(
                        backend = BACKEND,
                        "skipping the blob {name:?}: not a valid key"
                    );
                    continue;
                };
                ready.push(ObjectMeta {
                    key,
                    size,
                    modified,
                    checksum,
                });
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_with_markers_encoded_names_and_md5s() {
        let body = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>
<EnumerationResults ServiceEndpoint=\"http://127.0.0.1:10000/devstoreaccount1\" ContainerName=\"c\">
<Prefix>daily/</Prefix><MaxResults>2</MaxResults>
<Blobs>
<Blob><Name>daily/Résumé 1.gz</Name><Properties><Last-Modified>Sun, 06 Dec 2026 02:25:09 GMT</Last-Modified><Content-Length>11</Content-Length><Content-MD5>XrY7u+Ae7tCTyyK7j1rNww==</Content-MD5></Properties></Blob>
<Blob><Name Encoded=\"true\">daily/a%01b</Name><Properties><Content-Length>0</Content-Length><Content-MD5 /></Properties></Blob>
</Blobs>
<NextMarker>2!abc</NextMarker>
</EnumerationResults>";
        let (blobs, next) = parse_page(body.as_bytes()).unwrap();
        assert_eq!(next.as_deref(), Some("2!abc"));
        assert_eq!(blobs.len(), 2);
        assert_eq!(blobs[0].0, "daily/Résumé 1.gz");
        assert_eq!(blobs[0].1, 11);
        assert!(blobs[0].2.is_some());
        assert_eq!(
            blobs[0].3,
            Some(Checksum::Md5("5eb63bbbe01eeed093cb22bb8f5acdc3".into()))
        );
        assert_eq!(blobs[1].0, "daily/a\u{1}b");
        assert_eq!(blobs[1].3, None);
        let (blobs, next) =
            parse_page(b"<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>")
                .unwrap();
        assert!(blobs.is_empty() && next.is_none());
    }
}
