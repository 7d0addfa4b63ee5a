//! Uploads: one multipart (or media) request when the body fits in a chunk, otherwise a resumable
//! session fed chunk by chunk, resuming from the server's committed range after failures.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use bytes::Bytes;
use cloudmirror_contract::{
    ByteStream, Checksum, Chunk, ChunkReader, ErrorKind, Key, ObjectMeta, Result,
};

use crate::client::{ChunkOutcome, Client, DriveFile, SessionTarget};
use crate::error::protocol;
use crate::index::{find_files, FolderIndex, KeyedLocks};

/// What an upload needs from the store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Uploader<'a> {
    pub(crate) client: &'a Client,
    pub(crate) index: &'a FolderIndex,
    pub(crate) key_locks: &'a KeyedLocks,
    pub(crate) chunk_size: usize,
}

impl Uploader<'_> {
    /// Uploads `body` to `key`: updates the newest file of that name, or creates one.
    pub(crate) async fn upload(self, key: &Key, body: ByteStream) -> Result<ObjectMeta> {
        let mut reader = ChunkReader::new(body, self.chunk_size);
        let first = reader
            .next_chunk()
            .await?
            .ok_or_else(|| protocol("the body yielded no chunk"))?;
        // One upload per key at a time in this process, so racing uploads do not make twins.
        let _key_guard = self.key_locks.lock(key.as_str()).await;
        let file = if first.last {
            self.single(key, &first.data).await?
        } else {
            let session = self.start(key).await?;
            match self.chunks(&session, first, &mut reader).await {
                Ok(f) => f,
                Err(e) => {
                    // No last chunk was sent, so no file (or revision) appears; free the session.
                    self.client.cancel_session(&session).await;
                    return Err(e);
                }
            }
        };
        let sent = reader.position();
        self.verify(key, file, sent).await
    }

    /// Finds the parent and the file to update; retries once after a stale cached id.
    async fn target(&self, key: &Key) -> Result<(String, Option<String>)> {
        let parent = self.index.ensure(self.client, key.dir()).await?;
        let existing = find_files(self.client, &parent, key.name()).await?;
        Ok((parent, existing.into_iter().next().map(|f| f.id)))
    }

    async fn single(&self, key: &Key, data: &Bytes) -> Result<DriveFile> {
        let mut retried = false;
        loop {
            let (parent, existing) = self.target(key).await?;
            let res = match &existing {
                Some(id) => self.client.media_update(id, data).await,
                None => {
                    self.client
                        .multipart_create(key.name(), &parent, data)
                        .await
                }
            };
            match res {
                Err(e) if e.kind() == ErrorKind::NotFound && !retried => {
                    // The folder or the file went away behind our back: look again.
                    retried = true;
                    self.index.forget(key.dir());
                }
                other => return other,
            }
        }
    }

    async fn start(&self, key: &Key) -> Result<String> {
        let mut retried = false;
        loop {
            let (parent, existing) = self.target(key).await?;
            let target = match &existing {
                Some(id) => SessionTarget::Update { id },
                None => SessionTarget::Create {
                    name: key.name(),
                    parent: &parent,
                },
            };
            match self.client.start_session(target).await {
                Err(e) if e.kind() == ErrorKind::NotFound && !retried => {
                    retried = true;
                    self.index.forget(key.dir());
                }
                other => return other,
            }
        }
    }

    /// Feeds every chunk to the session; returns the file the last chunk produced.
    async fn chunks(
        &self,
        session: &str,
        first: Chunk,
        reader: &mut ChunkReader,
    ) -> Result<DriveFile> {
        let mut chunk = first;
        let mut committed = 0u64;
        loop {
            if let Some(file) = self.send_chunk(session, &chunk, &mut committed).await? {
                return Ok(file);
            }
            if chunk.last {
                return Err(protocol("the session did not finish after the last chunk"));
            }
            // Free this chunk before reading the next: one chunk in memory, not two.
            chunk.data = Bytes::new();
            chunk = reader
                .next_chunk()
                .await?
                .ok_or_else(|| protocol("the body ended without a last chunk"))?;
        }
    }

    /// Sends one chunk until the server holds all of it (`None`) or the upload is done (`Some`).
    /// On a retryable failure it asks the session what it holds and resends from there.
    async fn send_chunk(
        &self,
        session: &str,
        chunk: &Chunk,
        committed: &mut u64,
    ) -> Result<Option<DriveFile>> {
        let end = chunk.offset + chunk.data.len() as u64;
        let total = chunk.last.then_some(end);
        let pos = AtomicU64::new(*committed);
        let probe_first = AtomicBool::new(false);
        let mut stalls = 0u32;
        loop {
            let before = pos.load(Relaxed);
            let outcome = self
                .client
                .retry
                .run("resumable upload chunk", || async {
                    if probe_first.load(Relaxed) {
                        match self.client.probe(session).await? {
                            ChunkOutcome::Done(f) => return Ok(ChunkOutcome::Done(f)),
                            ChunkOutcome::Incomplete(n) => pos.store(n, Relaxed),
                        }
                        probe_first.store(false, Relaxed);
                    }
                    let at = pos.load(Relaxed);
                    if at < chunk.offset || at > end {
                        return Err(protocol(format!(
                            "the session holds {at} bytes, outside the chunk being sent ({}..{end}); the upload cannot resume",
                            chunk.offset
                        )));
                    }
                    let piece = chunk.data.slice((at - chunk.offset) as usize..);
                    let res = self.client.put_chunk(session, &piece, at, total).await;
                    if res.as_ref().is_err_and(cloudmirror_contract::Error::is_retryable) {
                        probe_first.store(true, Relaxed);
                    }
                    res
                })
                .await?;
            match outcome {
                ChunkOutcome::Done(f) => {
                    *committed = end;
                    return Ok(Some(f));
                }
                ChunkOutcome::Incomplete(n) => {
                    if n < chunk.offset || n > end {
                        return Err(protocol(format!(
                            "the session reports {n} bytes, outside the chunk just sent ({}..{end})",
                            chunk.offset
                        )));
                    }
                    pos.store(n, Relaxed);
                    *committed = n;
                    if n == end && total.is_none() {
                        return Ok(None);
                    }
                    // The server kept less than we sent: resend the rest of this chunk.
                    if n <= before {
                        stalls += 1;
                        if stalls >= self.client.retry.max_attempts {
                            return Err(cloudmirror_contract::Error::new(
                                ErrorKind::Transient,
                                crate::BACKEND,
                                format!("the upload session stopped accepting data at byte {n}"),
                            ));
                        }
                    }
                }
            }
        }
    }

    /// Checks the stored size against what was sent (fetching metadata if the answer lacked it)
    /// and reports Drive's `md5Checksum`. The caller compares that with its own MD5 of the content:
    /// the orchestrator computes it once while spooling, so the bytes are not hashed again here.
    async fn verify(&self, key: &Key, file: DriveFile, sent: u64) -> Result<ObjectMeta> {
        let file = if file.size.is_none() || file.md5_checksum.is_none() {
            self.client.get_file(&file.id).await?
        } else {
            file
        };
        let size = file.size().unwrap_or(0);
        if size != sent {
            return Err(protocol(format!(
                "Drive stored {size} bytes for {key} but {sent} were sent"
            )));
        }
        let Some(md5) = file.md5_checksum else {
            return Err(protocol(format!("Drive reported no md5Checksum for {key}")));
        };
        Ok(ObjectMeta {
            key: key.clone(),
            size,
            modified: file.modified_time,
            checksum: Some(Checksum::Md5(md5.to_ascii_lowercase())),
        })
    }
}
