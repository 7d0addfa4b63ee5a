//! Listing: a lazy stream over `ListObjectsV2` pages, following continuation tokens.

use aws_sdk_s3::types::Object;
use chrono::{DateTime, Utc};
use cloudmirror_contract::{ErrorKind, Key, ObjectMeta, ObjectStream, Prefix};
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::client::Client;
use crate::error::error;

enum Page {
    First,
    Next(String),
    Done,
}

/// Every object whose key starts with `prefix`, page by page (`page_size` keys per request).
///
/// S3 matches prefixes as plain strings, so the whole prefix goes to the server; results are
/// still filtered locally, and "folder" marker objects (keys ending in `/`) and keys that are not
/// valid cloudmirror keys are skipped.
pub(crate) fn list<'a>(
    client: &'a Client,
    prefix: &'a Prefix,
    page_size: usize,
) -> ObjectStream<'a> {
    stream::try_unfold(Page::First, move |page| async move {
        let token = match page {
            Page::Done => return Ok(None),
            Page::First => None,
            Page::Next(token) => Some(token),
        };
        let out = client
            .list_page(prefix.as_str(), token.as_deref(), page_size)
            .await?;
        let items: Vec<ObjectMeta> = out
            .contents()
            .iter()
            .filter_map(|o| to_meta(o, prefix))
            .collect();
        let next = match (out.is_truncated(), out.next_continuation_token()) {
            (Some(true), Some(next)) if !next.is_empty() && token.as_deref() != Some(next) => {
                Page::Next(next.to_owned())
            }
            (Some(true), _) => {
                return Err(error(
                    ErrorKind::Other,
                    format!(
                        "ListObjectsV2 {:?}: a truncated page without a new continuation token",
                        prefix.as_str()
                    ),
                ))
            }
            _ => Page::Done,
        };
        Ok(Some((stream::iter(items.into_iter().map(Ok)), next)))
    })
    .try_flatten()
    .boxed()
}

/// [`to_meta`] for the crate's fuzzing entry point.
pub(crate) fn fuzz_to_meta(object: &Object, prefix: &Prefix) -> Option<ObjectMeta> {
    to_meta(object, prefix)
}

fn to_meta(object: &Object, prefix: &Prefix) -> Option<ObjectMeta> {
    let name = object.key()?;
    if name.ends_with('/') || !prefix.matches(name) {
        return None;
    }
    let Ok(key) = Key::parse(name) else {
        tracing::debug!(
            key = name,
            "skipping an S3 key that is not a valid cloudmirror key"
        );
        return None;
    };
    let modified = object
        .last_modified()
        .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()));
    Some(ObjectMeta {
        key,
        size: object
            .size()
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or(0),
        modified,
        // ListObjectsV2 names the checksum algorithm but never carries the value.
        checksum: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::primitives::DateTime as SdkTime;

    #[test]
    fn skips_folder_markers_foreign_and_invalid_keys() {
        let prefix = Prefix::parse("p/a").unwrap();
        let obj = |k: &str| {
            Object::builder()
                .key(k)
                .size(3)
                .last_modified(SdkTime::from_secs(1_700_000_000))
                .build()
        };
        let meta = to_meta(&obj("p/a-1"), &prefix).unwrap();
        assert_eq!(meta.key.as_str(), "p/a-1");
        assert_eq!(meta.size, 3);
        assert_eq!(meta.modified.unwrap().timestamp(), 1_700_000_000);
        assert!(to_meta(&obj("p/a/"), &prefix).is_none());
        assert!(to_meta(&obj("q/a-1"), &prefix).is_none());
        assert!(to_meta(&obj("p/a//x"), &prefix).is_none());
    }
}
