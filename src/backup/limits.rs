//! Each destination's largest object (`Capabilities::max_object_size`): a backup known to be
//! larger fails there before a byte is sent; one of unknown length is cut off as soon as it
//! crosses the limit, not after the whole stream was uploaded.

use cloudmirror_contract::{ByteStream, Error, ErrorKind};
use futures::StreamExt;

/// The error of a backup over a destination's limit.
fn over_limit(backend: &'static str, what: &str, limit: u64) -> Error {
    Error::new(
        ErrorKind::QuotaExceeded,
        backend,
        format!(
            "{what}, over this destination's largest object of {limit} bytes ({})",
            human(limit)
        ),
    )
}

/// When the stored size is known up front and over `limit`: the error to fail with at once.
pub(crate) fn known_too_big(
    len: Option<u64>,
    limit: Option<u64>,
    backend: &'static str,
) -> Option<Error> {
    match (len, limit) {
        (Some(len), Some(limit)) if len > limit => Some(over_limit(
            backend,
            &format!("the backup is {len} bytes ({})", human(len)),
            limit,
        )),
        _ => None,
    }
}

/// `body`, failing with an error naming `limit` at the first piece that takes it past `limit`
/// bytes; the body is not read any further (the adapter aborts its upload).
pub(crate) fn capped(body: ByteStream, limit: u64, backend: &'static str) -> ByteStream {
    futures::stream::unfold(Some((body, 0u64)), move |state| async move {
        let (mut body, seen) = state?;
        match body.next().await? {
            Ok(piece) => {
                let seen = seen + piece.len() as u64;
                if seen > limit {
                    let err = over_limit(
                        backend,
                        &format!("the backup passed {limit} bytes while uploading"),
                        limit,
                    );
                    return Some((Err(err), None));
                }
                Some((Ok(piece), Some((body, seen))))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
    .boxed()
}

/// A size for messages.
fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use futures::TryStreamExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn a_known_size_over_the_limit_fails_at_once_naming_it() {
        let err = known_too_big(Some(3 << 20), Some(1 << 20), "supabase").unwrap();
        assert_eq!(err.kind(), ErrorKind::QuotaExceeded);
        let msg = err.to_string();
        assert!(msg.contains("1048576 bytes (1.0 MiB)"), "{msg}");
        assert!(msg.contains("3.0 MiB"), "{msg}");
        assert!(known_too_big(Some(1 << 20), Some(1 << 20), "s3").is_none());
        assert!(known_too_big(None, Some(1), "s3").is_none());
        assert!(known_too_big(Some(u64::MAX), None, "local").is_none());
    }

    #[tokio::test]
    async fn an_unknown_length_body_is_cut_off_when_it_crosses_the_limit() {
        let pulled = Arc::new(AtomicUsize::new(0));
        let p = pulled.clone();
        let body = futures::stream::iter(0..100)
            .map(move |_| {
                p.fetch_add(1, Ordering::SeqCst);
                Ok(Bytes::from(vec![7u8; 1000]))
            })
            .boxed();
        let mut capped = capped(body, 2500, "dropbox");
        let mut got = 0;
        let err = loop {
            match capped.try_next().await {
                Ok(Some(piece)) => got += piece.len(),
                Ok(None) => panic!("the body ended without crossing the limit"),
                Err(e) => break e,
            }
        };
        assert_eq!(got, 2000, "pieces within the limit go through");
        assert!(err.to_string().contains("2500 bytes"), "{err}");
        assert_eq!(
            pulled.load(Ordering::SeqCst),
            3,
            "nothing read past the crossing"
        );
        assert!(capped.try_next().await.unwrap().is_none());
        // Within the limit, the body is untouched.
        let whole = capped_body_len(5000).await;
        assert_eq!(whole, 5000);
    }

    async fn capped_body_len(limit: u64) -> usize {
        let body = futures::stream::iter((0..5).map(|_| Ok(Bytes::from(vec![1u8; 1000])))).boxed();
        let parts: Vec<Bytes> = capped(body, limit, "s3").try_collect().await.unwrap();
        parts.iter().map(Bytes::len).sum()
    }
}
