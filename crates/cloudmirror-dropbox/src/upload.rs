//! Uploads: one `files/upload` when the body fits in a chunk, else an upload session streamed chunk
//! by chunk. Every call carries the content hash of its own body, so Dropbox checks each chunk as
//! it arrives; the whole file is checked against the `content_hash` of the metadata Dropbox returns.
//!
//! Recovery follows the official spec (dropbox/dropbox-api-spec, `files.stone`):
//! - `incorrect_offset` (`UploadSessionLookupError`): resend from `correct_offset`, which also
//!   resumes a session after an outage or a lost response instead of restarting from byte 0.
//! - `content_hash_mismatch` (`UploadError`, `UploadSessionStartError`, `UploadSessionAppendError`,
//!   `UploadSessionFinishError`): "the content received by the Dropbox server in this call does
//!   not match the provided content hash": that call's bytes arrived damaged, so it is resent.
//! - `path` at finish (`UploadSessionFinishError.path`): "Data has already been appended to the
//!   upload session. Please retry with empty data body and updated offset." A write error worth
//!   waiting out (`too_many_write_operations`, or a `conflict` with a file, which under mode
//!   `overwrite` only a concurrent write causes) is retried that way within the retry budget; the
//!   others (`insufficient_space`, no permission, a folder in the way...) fail at once. A
//!   `files/upload` write error names the session that holds its bytes (`UploadWriteFailed`), so
//!   it is retried the same way.

use bytes::Bytes;
use cloudmirror_contract::{
    ByteStream, Chunk, ChunkReader, DigestSet, Error, ErrorKind, Hashes, Result,
};
use serde_json::Value;

use crate::client::{Client, FileMetadata, Metadata, Routed, FINISH};
use crate::error::ApiError;
use crate::BACKEND;

/// How many `incorrect_offset` answers one chunk may get before giving up.
const MAX_OFFSET_RECOVERIES: u32 = 5;

/// The finish of a session: where the file goes and the content hash of the whole file.
#[derive(Debug, Clone, Copy)]
struct Commit<'a> {
    path: &'a str,
    whole_hash: &'a str,
}

/// How many times one call is resent after `content_hash_mismatch` (its bytes arrived damaged).
const MAX_DAMAGED_RESENDS: u32 = 5;

/// Uploads `body` to `path` (mode overwrite) and returns the stored file's metadata after checking
/// its `content_hash` against our own. Nothing becomes visible unless the whole body arrived:
/// a body error means the session is never finished.
pub(crate) async fn upload(
    client: &Client,
    path: &str,
    body: ByteStream,
    len: Option<u64>,
) -> Result<FileMetadata> {
    let mut reader = ChunkReader::new(body, client.settings.chunk_size);
    let mut hashes = Hashes::with(DigestSet::DROPBOX);
    let first = next_chunk(&mut reader).await?;
    hashes.update(&first.data);
    if first.last {
        let digests = hashes.finish();
        check_len(len, digests.len)?;
        let meta = single_upload(client, path, first.data).await?;
        verify(&meta, &digests.dropbox_content_hash, path)?;
        return Ok(meta);
    }
    let session = start_session(client, first.data).await?;
    tracing::debug!(path, "upload session started");
    loop {
        let chunk = next_chunk(&mut reader).await?;
        hashes.update(&chunk.data);
        if chunk.last {
            let digests = hashes.finish();
            check_len(len, digests.len)?;
            let commit = Commit {
                path,
                whole_hash: &digests.dropbox_content_hash,
            };
            let meta = send_chunk(client, &session, &chunk, Some(commit))
                .await?
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Other,
                        BACKEND,
                        "upload_session/finish returned nothing",
                    )
                })?;
            verify(&meta, &digests.dropbox_content_hash, path)?;
            return Ok(meta);
        }
        send_chunk(client, &session, &chunk, None).await?;
    }
}

async fn next_chunk(reader: &mut ChunkReader) -> Result<Chunk> {
    reader.next_chunk().await?.ok_or_else(|| {
        Error::new(
            ErrorKind::Other,
            BACKEND,
            "the body ended before its last chunk",
        )
    })
}

/// `files/upload` of the whole body, resent if it arrived damaged.
async fn single_upload(client: &Client, path: &str, data: Bytes) -> Result<FileMetadata> {
    let route = "files/upload";
    let mut resends = 0;
    loop {
        let api = match client.upload(path, data.clone()).await? {
            Ok(meta) => return Ok(meta),
            Err(api) => api,
        };
        if api.tag() == Some("content_hash_mismatch") {
            damaged(route, &mut resends, &api)?;
            continue;
        }
        // UploadWriteFailed: the bytes wait in `upload_session_id`; finish may commit them.
        let session = api
            .error
            .get("upload_session_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let (Some("path"), Some(session)) = (api.tag(), session) {
            return finish_after_write_error(client, &session, data.len() as u64, path, api).await;
        }
        return Err(api.into_error(None).context(route));
    }
}

/// `files/upload_session/start` with the first chunk, resent if it arrived damaged.
async fn start_session(client: &Client, data: Bytes) -> Result<String> {
    let route = "files/upload_session/start";
    let mut resends = 0;
    loop {
        match client.session_start(data.clone()).await? {
            Ok(id) => return Ok(id),
            Err(api) if api.tag() == Some("content_hash_mismatch") => {
                damaged(route, &mut resends, &api)?;
            }
            Err(api) => return Err(api.into_error(None).context(route)),
        }
    }
}

/// Counts one resend after `content_hash_mismatch`, or fails once there were too many.
fn damaged(route: &str, resends: &mut u32, api: &ApiError) -> Result<()> {
    *resends += 1;
    if *resends > MAX_DAMAGED_RESENDS {
        return Err(Error::new(
            ErrorKind::Transient,
            BACKEND,
            format!(
                "{route}: {}: the bytes arrived damaged {} times in a row",
                api.describe(),
                *resends
            ),
        ));
    }
    tracing::warn!(
        route,
        resend = *resends,
        "content_hash_mismatch: the call's bytes arrived damaged, resending them"
    );
    Ok(())
}

/// Appends `chunk` to the session, or finishes the session with it when `commit` (the path) is
/// given. On `incorrect_offset` it resends from the server's offset, as long as that lies in this
/// chunk; on `content_hash_mismatch` it resends the same bytes.
async fn send_chunk(
    client: &Client,
    session: &str,
    chunk: &Chunk,
    commit: Option<Commit<'_>>,
) -> Result<Option<FileMetadata>> {
    let end = chunk.offset + chunk.data.len() as u64;
    let mut offset = chunk.offset;
    let (mut recoveries, mut resends) = (0, 0);
    loop {
        let data: Bytes = chunk.data.slice((offset - chunk.offset) as usize..);
        let sent = data.len() as u64;
        let (route, outcome): (&str, Routed<Option<FileMetadata>>) = match commit {
            Some(Commit { path, .. }) => (
                FINISH,
                client
                    .session_finish(session, offset, path, data)
                    .await?
                    .map(Some),
            ),
            None if offset == end => return Ok(None),
            None => (
                "files/upload_session/append_v2",
                client
                    .session_append(session, offset, data)
                    .await?
                    .map(|()| None),
            ),
        };
        let api = match outcome {
            Ok(meta) => return Ok(meta),
            Err(api) => api,
        };
        if api.tag() == Some("content_hash_mismatch") {
            damaged(route, &mut resends, &api)?;
            continue;
        }
        if let (Some(Commit { path, whole_hash }), Some("lookup_failed")) = (commit, api.tag()) {
            if api.has("not_found") || api.has("closed") {
                // A finish that went through but whose answer was lost (a retry after a dropped
                // connection) finds its session gone: the file is there if it has our hash.
                if let Some(meta) = committed(client, path, whole_hash).await? {
                    return Ok(Some(meta));
                }
            }
        }
        if let (Some(Commit { path, .. }), Some("path")) = (commit, api.tag()) {
            // The finish call's bytes are in the session now: the updated offset includes them.
            return finish_after_write_error(client, session, offset + sent, path, api)
                .await
                .map(Some);
        }
        let Some(correct) = api.correct_offset() else {
            return Err(api.into_error(None).context(route));
        };
        recoveries += 1;
        if correct < chunk.offset || correct > end || recoveries > MAX_OFFSET_RECOVERIES {
            return Err(Error::new(
                ErrorKind::Other,
                BACKEND,
                format!(
                    "{route}: Dropbox expects offset {correct}, but the chunk in hand covers \
                     {}..{end}; the upload cannot resume and was abandoned",
                    chunk.offset
                ),
            ));
        }
        tracing::warn!(
            route,
            sent = offset,
            correct,
            "incorrect_offset: resending from the server's offset"
        );
        offset = correct;
    }
}

/// The file at `path` if it holds exactly the bytes we sent (its content hash is `whole_hash`).
async fn committed(client: &Client, path: &str, whole_hash: &str) -> Result<Option<FileMetadata>> {
    Ok(match client.get_metadata(path).await? {
        Ok(Metadata::File(meta))
            if meta
                .content_hash
                .as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(whole_hash)) =>
        {
            tracing::warn!(
                path,
                "upload_session/finish: the session was already committed (its answer was lost)"
            );
            Some(meta)
        }
        _ => None,
    })
}

/// Whether a `WriteError` is worth waiting out: `too_many_write_operations` ("Please retry this
/// request") and a `conflict` with a file, which under mode `overwrite` only a concurrent write to
/// the same path causes. `insufficient_space`, missing permission, a folder or a file ancestor in
/// the way, or a disallowed name stay until someone acts.
fn retryable_write_error(api: &ApiError) -> bool {
    api.has("too_many_write_operations") || (api.has("conflict") && api.has("file"))
}

/// Commits a session whose bytes are all appended (`offset` is their total) after a `path` error:
/// finish again with an empty body at the updated offset, within the retry budget, while the
/// write error is one worth waiting out.
async fn finish_after_write_error(
    client: &Client,
    session: &str,
    offset: u64,
    path: &str,
    first: ApiError,
) -> Result<FileMetadata> {
    if !retryable_write_error(&first) {
        return Err(first.into_error(None).context(FINISH));
    }
    tracing::warn!(
        offset,
        reason = %first.describe(),
        "the session could not be saved; its bytes are appended, finishing again with an empty body"
    );
    let outcome = client
        .retry
        .run(FINISH, || async {
            match client
                .session_finish(session, offset, path, Bytes::new())
                .await?
            {
                Err(api) if api.tag() == Some("path") && retryable_write_error(&api) => {
                    Err(Error::new(ErrorKind::Transient, BACKEND, api.describe()))
                }
                other => Ok(other),
            }
        })
        .await?;
    outcome.map_err(|api| api.into_error(None).context(FINISH))
}

fn check_len(announced: Option<u64>, actual: u64) -> Result<()> {
    match announced {
        Some(n) if n != actual => Err(Error::new(
            ErrorKind::InvalidInput,
            BACKEND,
            format!("the body had {actual} bytes but {n} were announced; nothing was stored"),
        )),
        _ => Ok(()),
    }
}

/// Compares the server's `content_hash` of the whole file with ours.
fn verify(meta: &FileMetadata, expected: &str, path: &str) -> Result<()> {
    match &meta.content_hash {
        Some(got) if got.eq_ignore_ascii_case(expected) => Ok(()),
        got => Err(Error::new(
            ErrorKind::Other,
            BACKEND,
            format!(
                "content_hash mismatch after uploading {path}: Dropbox reports {}, the data we sent \
                 hashes to {expected}",
                got.as_deref().unwrap_or("none")
            ),
        )),
    }
}
