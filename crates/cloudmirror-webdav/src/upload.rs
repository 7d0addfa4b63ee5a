//! Uploads: `MKCOL` the parents, `PUT` a temporary name beside the target, `MOVE` it into place.
//!
//! The temporary name is `.<name>.<8 hex digits>.partial` in the target's folder, so the `MOVE` is
//! a rename within one collection, which servers do atomically on their file system. A failed
//! upload deletes it; listings never show such names.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::Utc;
use cloudmirror_contract::{ByteStream, ChunkReader, Error, ErrorKind, Key, ObjectMeta, Result};
use futures::stream::{self, StreamExt};

use cloudmirror_contract::temp::temp_path;

use crate::client::Client;
use crate::error::error;

/// Stores `body` under `key` atomically and returns what the server then lists for it.
pub(crate) async fn upload(
    client: &Client,
    key: &Key,
    body: ByteStream,
    len: Option<u64>,
) -> Result<ObjectMeta> {
    make_parents(client, key).await?;
    let mut reader = ChunkReader::new(body, client.settings.chunk_size);
    // A producer failure before anything is sent leaves nothing to clean.
    let first = reader
        .next_chunk()
        .await?
        .ok_or_else(|| error(ErrorKind::Other, "the body reader ended without a chunk"))?;
    let temp = temp_path(key);
    let sent = if first.last {
        let n = first.data.len() as u64;
        client.put_bytes(&temp, first.data).await.map(|()| n)
    } else {
        put_streamed(client, &temp, first.data, reader, len).await
    };
    let result = match sent {
        Ok(n) => finish(client, &temp, key, n).await,
        Err(e) => Err(e),
    };
    if result.is_err() {
        if let Err(e) = client.delete(&temp).await {
            tracing::warn!(
                backend = crate::error::BACKEND,
                "could not remove the temporary upload /{temp}: {e}"
            );
        }
    }
    result
}

/// Makes each missing parent collection, top down (`PUT` into a missing one is 409, RFC 4918 9.7.1).
async fn make_parents(client: &Client, key: &Key) -> Result<()> {
    let mut dir = String::new();
    for seg in key.dir_segments() {
        dir.push_str(seg);
        dir.push('/');
        client.mkcol(&dir).await?;
    }
    Ok(())
}

/// Streams `first` and the rest of `reader` in one `PUT`, returning the bytes sent. A producer
/// failure is returned as the producer's error, not as the HTTP client's.
async fn put_streamed(
    client: &Client,
    temp: &str,
    first: Bytes,
    reader: ChunkReader,
    len: Option<u64>,
) -> Result<u64> {
    let failed: Arc<Mutex<Option<Error>>> = Arc::new(Mutex::new(None));
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(first.len() as u64));
    let rest = {
        let failed = failed.clone();
        let sent = sent.clone();
        stream::try_unfold(reader, move |mut reader| {
            let failed = failed.clone();
            let sent = sent.clone();
            async move {
                match reader.next_chunk().await {
                    Ok(Some(c)) if !c.data.is_empty() => {
                        sent.fetch_add(c.data.len() as u64, std::sync::atomic::Ordering::Relaxed);
                        Ok(Some((c.data, reader)))
                    }
                    Ok(_) => Ok(None),
                    Err(e) => {
                        let copy = Error::new(e.kind(), e.backend(), e.message().to_owned());
                        if let Ok(mut slot) = failed.lock() {
                            *slot = Some(copy);
                        }
                        Err(e)
                    }
                }
            }
        })
    };
    let body = stream::once(async move { Ok(first) }).chain(rest).boxed();
    let res = client.put_stream(temp, body, len).await;
    if let Some(e) = failed.lock().ok().and_then(|mut s| s.take()) {
        return Err(e);
    }
    res.map(|()| sent.load(std::sync::atomic::Ordering::Relaxed))
}

/// Moves the temporary file onto `key` and reads back its listed size. A `MOVE` whose answer was
/// lost and that is retried finds its source gone (404): then the target decides.
async fn finish(client: &Client, temp: &str, key: &Key, sent: u64) -> Result<ObjectMeta> {
    // `Overwrite: T` deletes whatever is at the destination first, a whole folder included
    // (RFC 4918 9.9.3): never move onto a folder.
    let existing = client.propfind(key.as_str(), 0).await?;
    if existing.is_some_and(|entries| entries.first().is_some_and(|e| e.dir)) {
        return Err(error(
            ErrorKind::Conflict,
            format!("a folder named {key} exists on the server; refusing to replace it"),
        ));
    }
    match client.move_to(temp, key.as_str()).await {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {
            tracing::info!(
                backend = crate::error::BACKEND,
                "MOVE answered 404; checking whether the target is already in place"
            );
        }
        Err(e) => return Err(e),
    }
    let listed = client
        .propfind(key.as_str(), 0)
        .await?
        .and_then(|entries| entries.into_iter().find(|e| !e.dir));
    let Some(entry) = listed else {
        return Err(error(
            ErrorKind::Other,
            format!("{key} is not on the server after moving the upload into place"),
        ));
    };
    let size = entry.size.unwrap_or(0);
    if size != sent {
        return Err(error(
            ErrorKind::Transient,
            format!("the server holds {size} bytes for {key}, {sent} were sent"),
        ));
    }
    Ok(ObjectMeta {
        key: key.clone(),
        size,
        modified: entry.modified.or_else(|| Some(Utc::now())),
        checksum: None,
    })
}
