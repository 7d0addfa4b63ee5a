//! Uploads: one `files/upload` when the body fits in a chunk, else an upload session streamed chunk
//! by chunk, resuming from `correct_offset` when Dropbox reports `incorrect_offset`.

use bytes::Bytes;
use cloudmirror_contract::{
    ByteStream, Chunk, ChunkReader, DigestSet, Error, ErrorKind, Hashes, Result,
};

use crate::client::{Client, FileMetadata, Routed};
use crate::BACKEND;

/// How many `incorrect_offset` answers one chunk may get before giving up.
const MAX_OFFSET_RECOVERIES: u32 = 5;

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
    let meta = if first.last {
        let digests = hashes.finish();
        check_len(len, digests.len)?;
        let hash = digests.dropbox_content_hash;
        let meta = client
            .upload(path, first.data, &hash)
            .await?
            .map_err(|api| api.into_error(None).context("files/upload"))?;
        verify(&meta, &hash, path)?;
        meta
    } else {
        let session = client
            .session_start(first.data)
            .await?
            .map_err(|api| api.into_error(None).context("files/upload_session/start"))?;
        tracing::debug!(path, "upload session started");
        loop {
            let chunk = next_chunk(&mut reader).await?;
            hashes.update(&chunk.data);
            if chunk.last {
                let digests = hashes.finish();
                check_len(len, digests.len)?;
                let hash = digests.dropbox_content_hash;
                let meta =
                    send_chunk(client, &session, &chunk, Some((path, hash.as_str()))).await?;
                let meta = meta.ok_or_else(|| {
                    Error::new(
                        ErrorKind::Other,
                        BACKEND,
                        "upload_session/finish returned nothing",
                    )
                })?;
                verify(&meta, &hash, path)?;
                break meta;
            }
            send_chunk(client, &session, &chunk, None).await?;
        }
    };
    Ok(meta)
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

/// Appends `chunk` to the session, or finishes the session with it when `commit` is given.
/// On `incorrect_offset` it resends from the server's offset, as long as that lies in this chunk.
async fn send_chunk(
    client: &Client,
    session: &str,
    chunk: &Chunk,
    commit: Option<(&str, &str)>,
) -> Result<Option<FileMetadata>> {
    let end = chunk.offset + chunk.data.len() as u64;
    let mut offset = chunk.offset;
    let mut recoveries = 0;
    loop {
        let data: Bytes = chunk.data.slice((offset - chunk.offset) as usize..);
        let (route, outcome): (&str, Routed<Option<FileMetadata>>) = match commit {
            Some((path, hash)) => (
                "files/upload_session/finish",
                client
                    .session_finish(session, offset, path, hash, data)
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

/// Compares the server's `content_hash` with ours.
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
