//! Uploads: one standard request for small bodies, TUS resumable uploads for the rest.
//!
//! The body is read through [`ChunkReader`] in `chunk_size` pieces (6 MiB on the platform), so
//! memory holds one chunk. If the body ends within the first chunk and fits the standard limit,
//! it goes out as one `POST /object/{bucket}/{name}` with `x-upsert: true`. A self-hosted server
//! may hold that route to a lower limit of its own (`UPLOAD_FILE_SIZE_LIMIT_STANDARD`): its 413
//! sends the same bytes, still in memory, over TUS instead. Otherwise a TUS upload
//! is created (`Upload-Length` when the size is known, else `Upload-Defer-Length: 1` and the
//! length is declared on the last `PATCH`: the tus server that Supabase runs supports the
//! creation-defer-length extension) and each chunk is `PATCH`ed at its offset.
//!
//! A failed `PATCH` is retried through the retry policy; each retry first asks the server
//! (`HEAD`) how much it stored and sends only the rest of the chunk it holds. The object exists
//! only once the last byte is in (Supabase commits it then), so readers never see a partial
//! object. When the body fails, or retries run out, the upload is terminated (`DELETE`, best
//! effort) and never completed: nothing new appears and an old object stays as it was.

use std::sync::Mutex;

use bytes::Bytes;
use cloudmirror_contract::{ByteStream, Chunk, ChunkReader, Error, ErrorKind};

use crate::client::Client;
use crate::error::BACKEND;

/// Uploads `body` as the object `name`; returns the number of bytes stored.
pub(crate) async fn upload(
    client: &Client,
    name: &str,
    body: ByteStream,
    len: Option<u64>,
) -> Result<u64, Error> {
    let mut reader = ChunkReader::new(body, client.settings.chunk_size);
    let first = reader.next_chunk().await?.unwrap_or(Chunk {
        offset: 0,
        data: Bytes::new(),
        last: true,
    });
    check_len(len, &first)?;
    let first_len = first.data.len() as u64;
    if first.last && first_len <= client.settings.standard_limit {
        match client.upload_standard(name, first.data.clone()).await {
            Ok(()) => return Ok(first_len),
            // TUS is not held to the standard route's own limit; if the object is over the
            // global limit, TUS says so in turn.
            Err(e) if e.kind() == ErrorKind::QuotaExceeded => tracing::info!(
                backend = BACKEND,
                "the standard upload route refused {first_len} bytes as too large (a self-hosted UPLOAD_FILE_SIZE_LIMIT_STANDARD?); sending them over TUS (set standard_upload_limit below that limit to go there directly)"
            ),
            Err(e) => return Err(e),
        }
    }
    let length = if first.last { Some(first_len) } else { len };
    let upload_url = client.tus_create(name, length).await?;
    let result = send_all(
        client,
        &upload_url,
        &mut reader,
        first,
        len,
        length.is_some(),
    )
    .await;
    if result.is_err() {
        if let Err(e) = client.tus_terminate(&upload_url).await {
            tracing::warn!(
                backend = BACKEND,
                "could not terminate the abandoned upload: {}",
                e.message()
            );
        }
    }
    result
}

async fn send_all(
    client: &Client,
    upload_url: &str,
    reader: &mut ChunkReader,
    first: Chunk,
    len: Option<u64>,
    length_declared: bool,
) -> Result<u64, Error> {
    let mut chunk = first;
    loop {
        check_len(len, &chunk)?;
        send_chunk(client, upload_url, &chunk, length_declared).await?;
        let end = chunk.offset + chunk.data.len() as u64;
        if chunk.last {
            return Ok(end);
        }
        // Free this chunk before reading the next: one chunk in memory, not two.
        chunk.data = bytes::Bytes::new();
        chunk = match reader.next_chunk().await? {
            Some(c) => c,
            None => return Ok(end),
        };
    }
}

/// The body must match the length announced for it.
fn check_len(len: Option<u64>, chunk: &Chunk) -> Result<(), Error> {
    let Some(len) = len else { return Ok(()) };
    let end = chunk.offset + chunk.data.len() as u64;
    if end > len || (chunk.last && end != len) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            BACKEND,
            format!(
                "the body has {} {len} bytes announced",
                if end > len {
                    "more than the"
                } else {
                    "fewer than the"
                }
            ),
        ));
    }
    Ok(())
}

/// Sends one chunk, resuming from the server's offset after a failure.
async fn send_chunk(
    client: &Client,
    upload_url: &str,
    chunk: &Chunk,
    length_declared: bool,
) -> Result<(), Error> {
    let end = chunk.offset + chunk.data.len() as u64;
    // What the server has: known after a success, unknown (ask with HEAD) after a failure.
    let known = Mutex::new(Some((chunk.offset, length_declared)));
    client
        .retry
        .run("tus chunk", || async {
            let state = *known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let (offset, declared) = if let Some(s) = state {
                s
            } else {
                let st = client.tus_head(upload_url).await?;
                tracing::debug!(backend = BACKEND, offset = st.offset, "resuming the upload");
                (st.offset, length_declared || st.length.is_some())
            };
            if offset < chunk.offset || offset > end {
                return Err(Error::new(
                    ErrorKind::Other,
                    BACKEND,
                    format!(
                        "the server holds {offset} bytes of the upload, outside the chunk being sent ({}..{end})",
                        chunk.offset
                    ),
                ));
            }
            let declare = (chunk.last && !declared).then_some(end);
            if offset == end && declare.is_none() {
                return Ok(());
            }
            let data = chunk.data.slice((offset - chunk.offset) as usize..);
            set(&known, None);
            let new_offset = client.tus_patch(upload_url, offset, data, declare).await?;
            if new_offset == end {
                return Ok(());
            }
            set(&known, Some((new_offset, declared || declare.is_some())));
            Err(Error::new(
                ErrorKind::Transient,
                BACKEND,
                format!("the server stored the chunk only up to byte {new_offset} of {end}"),
            ))
        })
        .await
}

fn set(m: &Mutex<Option<(u64, bool)>>, v: Option<(u64, bool)>) {
    *m.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = v;
}
