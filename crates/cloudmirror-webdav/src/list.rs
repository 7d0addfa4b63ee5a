//! Listings: `PROPFIND` with `Depth: 1`, folder by folder, lazily; temporary upload names hidden.
//!
//! `Depth: infinity` would be one request, but servers may refuse it (RFC 4918 9.1: "servers
//! MAY choose not to support it"; Apache `mod_dav` refuses it unless `DavDepthInfinity On`), so
//! only the folders that can hold keys under the prefix are visited.

use chrono::{DateTime, Utc};
use cloudmirror_contract::{Key, ObjectMeta, ObjectStream, Prefix};
use futures::stream::{self, StreamExt};
use serde::Deserialize;

use crate::client::Client;
use cloudmirror_contract::temp::is_temp_name;

/// One member of a `PROPFIND` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The `href`, percent-decoded, as a path (a full URL is cut to its path).
    pub(crate) href: String,
    /// Whether it is a collection (`<D:resourcetype><D:collection/>`).
    pub(crate) dir: bool,
    /// `getcontentlength`.
    pub(crate) size: Option<u64>,
    /// `getlastmodified` (an RFC 1123 date).
    pub(crate) modified: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct Multistatus {
    #[serde(default)]
    response: Vec<DavResponse>,
}

#[derive(Deserialize)]
struct DavResponse {
    href: String,
    #[serde(default)]
    propstat: Vec<Propstat>,
}

#[derive(Deserialize)]
struct Propstat {
    #[serde(default)]
    prop: Option<Prop>,
    #[serde(default)]
    status: String,
}

#[derive(Deserialize)]
struct Prop {
    #[serde(default)]
    resourcetype: Option<ResourceType>,
    #[serde(default)]
    getcontentlength: Option<String>,
    #[serde(default)]
    getlastmodified: Option<String>,
}

#[derive(Deserialize)]
struct ResourceType {
    #[serde(default)]
    collection: Option<serde::de::IgnoredAny>,
}

/// Parses a `207 Multi-Status` body (RFC 4918 section 13); properties come from the `200` propstat.
pub(crate) fn parse_multistatus(body: &[u8]) -> std::result::Result<Vec<Entry>, String> {
    let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
    let ms: Multistatus = quick_xml::de::from_str(text).map_err(|e| e.to_string())?;
    Ok(ms
        .response
        .into_iter()
        .map(|r| {
            let mut entry = Entry {
                href: href_path(&r.href),
                dir: false,
                size: None,
                modified: None,
            };
            for ps in r.propstat {
                let Some(prop) = ps.prop else { continue };
                if !ps.status.contains(" 200") {
                    continue;
                }
                entry.dir |= prop.resourcetype.is_some_and(|t| t.collection.is_some());
                if let Some(len) = prop.getcontentlength {
                    entry.size = len.trim().parse().ok();
                }
                if let Some(date) = prop.getlastmodified {
                    entry.modified = DateTime::parse_from_rfc2822(date.trim())
                        .ok()
                        .map(|d| d.with_timezone(&Utc));
                }
            }
            entry.dir |= entry.href.ends_with('/') && entry.size.is_none();
            entry
        })
        .collect())
}

/// The path of an `href` (absolute URL or absolute path), percent-decoded.
fn href_path(href: &str) -> String {
    let href = href.trim();
    let path = match url::Url::parse(href) {
        Ok(u) => u.path().to_owned(),
        Err(_) => href.to_owned(),
    };
    percent_encoding::percent_decode_str(&path)
        .decode_utf8_lossy()
        .into_owned()
}

/// Every object under `prefix`, folder by folder.
pub(crate) fn list<'a>(client: &'a Client, prefix: &'a Prefix) -> ObjectStream<'a> {
    let base = client.base_path();
    let start = prefix.dir().to_owned();
    let state = (vec![start], Vec::<ObjectMeta>::new());
    stream::try_unfold(state, move |(mut dirs, mut ready)| {
        let base = base.clone();
        async move {
            loop {
                if let Some(meta) = ready.pop() {
                    return Ok(Some((meta, (dirs, ready))));
                }
                let Some(dir) = dirs.pop() else {
                    return Ok(None);
                };
                let Some(entries) = client.propfind(&dir, 1).await? else {
                    continue;
                };
                for e in entries {
                    let Some(rel) = e.href.strip_prefix(&base) else {
                        continue;
                    };
                    let rel = rel.trim_start_matches('/');
                    if e.dir {
                        let sub = format!("{}/", rel.trim_end_matches('/'));
                        let wanted =
                            sub.starts_with(prefix.as_str()) || prefix.as_str().starts_with(&sub);
                        if rel.trim_end_matches('/').len() > dir.trim_end_matches('/').len()
                            && wanted
                        {
                            dirs.push(sub);
                        }
                        continue;
                    }
                    let name = rel.rsplit('/').next().unwrap_or(rel);
                    if is_temp_name(name) || !prefix.matches(rel) {
                        continue;
                    }
                    let Ok(key) = Key::parse(rel) else { continue };
                    ready.push(ObjectMeta {
                        key,
                        size: e.size.unwrap_or(0),
                        modified: e.modified,
                        checksum: None,
                    });
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multistatus_with_prefixes_full_urls_and_failed_propstats() {
        // The shape of RFC 4918's example 9.1.3, with an `href` as a full URL as some servers send.
        let body = br#"<?xml version="1.0" encoding="utf-8" ?>
<D:multistatus xmlns:D="DAV:">
  <D:response>
    <D:href>/dav/backups/</D:href>
    <D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype>
      <D:getlastmodified>Tue, 01 May 2022 06:39:47 GMT</D:getlastmodified></D:prop>
      <D:status>HTTP/1.1 200 OK</D:status></D:propstat>
    <D:propstat><D:prop><D:getcontentlength/></D:prop>
      <D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>
  </D:response>
  <D:response>
    <D:href>http://127.0.0.1:8080/dav/backups/R%C3%A9sum%C3%A9%20a.gz</D:href>
    <D:propstat><D:prop><D:resourcetype/><D:getcontentlength>1234</D:getcontentlength>
      <D:getlastmodified>Wed, 02 Dec 2026 10:00:00 GMT</D:getlastmodified></D:prop>
      <D:status>HTTP/1.1 200 OK</D:status></D:propstat>
  </D:response>
</D:multistatus>"#;
        let entries = parse_multistatus(body).unwrap();
        assert_eq!(entries.len(), 2);
        assert!(entries[0].dir);
        assert_eq!(entries[0].href, "/dav/backups/");
        assert!(!entries[1].dir);
        assert_eq!(entries[1].href, "/dav/backups/Résumé a.gz");
        assert_eq!(entries[1].size, Some(1234));
        assert_eq!(
            entries[1].modified.unwrap().to_rfc3339(),
            "2026-12-02T10:00:00+00:00"
        );
        assert!(
            parse_multistatus(b"<html>nope").is_err()
                || parse_multistatus(b"<html>nope").unwrap().is_empty()
        );
    }
}
