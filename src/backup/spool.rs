//! The spool: the compressed backup is written once to a temporary file that every destination
//! reads at its own pace, so a slow destination never holds back a fast one and memory stays flat.

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use bytes::BytesMut;
use cloudmirror_contract::{
    ByteStream, DigestSet, Digests, Error as StoreError, ErrorKind, Hashes,
};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::watch;

/// Readers are woken after at least this many new bytes (and at the end).
const PUBLISH_STEP: u64 = 1024 * 1024;
/// Largest piece a reader hands to its destination at once.
const READ_PIECE: u64 = 1024 * 1024;

/// How far the writer got.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SpoolState {
    /// Still writing; this many bytes are readable.
    Writing(u64),
    /// Finished; the spool holds exactly this many bytes.
    Done(u64),
    /// The producer failed; readers fail with this message.
    Failed(String),
}

/// Creates a spool in `dir` (the system temp folder when `None`), computing every digest (tests).
#[cfg(test)]
pub(crate) fn create(dir: Option<&Path>) -> io::Result<(SpoolWriter, SpoolReaders)> {
    create_with(dir, None, DigestSet::ALL)
}

/// Creates a spool whose stored bytes are encrypted to `recipients` (when given): what the
/// compressor writes is encrypted before it is hashed and written, so the digests are those of
/// the stored (encrypted) bytes. Only the digests in `digests` are computed (the others are
/// empty in [`SpoolWriter::finish`]'s result): each costs a pass of CPU over every stored byte.
pub(crate) fn create_with(
    dir: Option<&Path>,
    recipients: Option<&crate::backup::encrypt::Recipients>,
    digests: DigestSet,
) -> io::Result<(SpoolWriter, SpoolReaders)> {
    remove_stale(&dir.map_or_else(std::env::temp_dir, Path::to_path_buf));
    let file = match dir {
        Some(d) => tempfile::Builder::new()
            .prefix(".cloudmirror-spool-")
            .tempfile_in(d)?,
        None => tempfile::Builder::new()
            .prefix("cloudmirror-spool-")
            .tempfile()?,
    };
    let (file, path) = file.into_parts();
    let (tx, rx) = watch::channel(SpoolState::Writing(0));
    let tx = Arc::new(tx);
    let stored = Stored {
        file,
        hashes: Hashes::with(digests),
        written: 0,
        published: 0,
        tx: tx.clone(),
    };
    let sink = match recipients {
        None => Sink::Plain(Box::new(stored)),
        Some(r) => Sink::Age(Box::new(crate::backup::encrypt::encrypting_writer(
            r, stored,
        )?)),
    };
    let writer = SpoolWriter {
        sink: Some(sink),
        tx,
        finished: false,
    };
    let readers = SpoolReaders {
        path: Arc::new(path),
        rx,
    };
    Ok((writer, readers))
}

/// Spool files older than this were left by a killed process (a normal run removes its own).
const STALE_SPOOL_AGE: std::time::Duration = std::time::Duration::from_hours(24);

/// Best effort: removes spool files in `dir` older than [`STALE_SPOOL_AGE`] (SIGKILL leftovers).
fn remove_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with("cloudmirror-spool-") || name.starts_with(".cloudmirror-spool-")) {
            continue;
        }
        let stale = entry
            .metadata()
            .ok()
            .filter(std::fs::Metadata::is_file)
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_SPOOL_AGE);
        if stale && std::fs::remove_file(entry.path()).is_ok() {
            tracing::info!(path = %entry.path().display(), "removed a stale spool file");
        }
    }
}

/// The stored bytes: written to the spool file, hashed, and announced to readers.
struct Stored {
    file: std::fs::File,
    hashes: Hashes,
    written: u64,
    published: u64,
    tx: Arc<watch::Sender<SpoolState>>,
}

impl Write for Stored {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hashes.update(&buf[..n]);
        self.written += n as u64;
        if self.written - self.published >= PUBLISH_STEP {
            self.published = self.written;
            self.tx.send_replace(SpoolState::Writing(self.written));
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Plain stored bytes, or encrypted with age first.
enum Sink {
    Plain(Box<Stored>),
    Age(Box<age::stream::StreamWriter<Stored>>),
}

/// The writing end: hashes what it stores and wakes readers as bytes become readable.
/// Dropped without [`SpoolWriter::finish`], it marks the spool failed.
pub struct SpoolWriter {
    sink: Option<Sink>,
    tx: Arc<watch::Sender<SpoolState>>,
    finished: bool,
}

impl std::fmt::Debug for SpoolWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpoolWriter")
            .field("encrypted", &matches!(self.sink, Some(Sink::Age(_))))
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl SpoolWriter {
    /// Marks the spool complete and returns the digests of everything stored.
    pub(crate) fn finish(mut self) -> io::Result<Digests> {
        let mut stored = match self.sink.take() {
            Some(Sink::Plain(s)) => *s,
            Some(Sink::Age(w)) => (*w).finish()?,
            None => return Err(io::Error::other("the spool is closed")),
        };
        stored.file.flush()?;
        self.finished = true;
        let hashes = std::mem::take(&mut stored.hashes);
        self.tx.send_replace(SpoolState::Done(stored.written));
        Ok(hashes.finish())
    }

    /// Marks the spool failed: readers end with an error carrying `message`.
    pub fn fail(mut self, message: &str) {
        self.abort_in_place(message);
    }

    /// Marks the spool failed without consuming the writer (for writers owned by an encoder);
    /// later writes fail.
    pub(crate) fn abort_in_place(&mut self, message: &str) {
        self.finished = true;
        self.sink = None;
        self.tx.send_replace(SpoolState::Failed(message.to_owned()));
    }
}

impl Write for SpoolWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match (&mut self.sink, self.finished) {
            (Some(Sink::Plain(s)), false) => s.write(buf),
            (Some(Sink::Age(w)), false) => w.write(buf),
            _ => Err(io::Error::other("the spool is closed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Some(Sink::Plain(s)) => s.flush(),
            Some(Sink::Age(w)) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for SpoolWriter {
    fn drop(&mut self) {
        if !self.finished {
            self.tx
                .send_replace(SpoolState::Failed("the backup was interrupted".into()));
        }
    }
}

/// The reading side: hands out independent readers, one per destination.
/// The spool file is removed when the writer and every reader are gone.
#[derive(Debug, Clone)]
pub(crate) struct SpoolReaders {
    path: Arc<tempfile::TempPath>,
    rx: watch::Receiver<SpoolState>,
}

struct ReadState {
    path: Arc<tempfile::TempPath>,
    rx: watch::Receiver<SpoolState>,
    file: Option<tokio::fs::File>,
    offset: u64,
}

impl SpoolReaders {
    /// A body that yields the spool from its start, waiting for the writer as needed, and ends
    /// when the writer finishes (or fails with the writer's error).
    pub(crate) fn reader(&self) -> ByteStream {
        let state = ReadState {
            path: self.path.clone(),
            rx: self.rx.clone(),
            file: None,
            offset: 0,
        };
        futures::stream::try_unfold(state, |mut st| async move {
            loop {
                let current = st.rx.borrow_and_update().clone();
                let available = match current {
                    SpoolState::Writing(n) | SpoolState::Done(n) => n,
                    SpoolState::Failed(message) => {
                        return Err(StoreError::new(ErrorKind::Other, "source", message));
                    }
                };
                if st.offset < available {
                    let n = (available - st.offset).min(READ_PIECE) as usize;
                    let buf = read_at(&mut st, n).await?;
                    st.offset += n as u64;
                    return Ok(Some((buf, st)));
                }
                if matches!(current, SpoolState::Done(_)) {
                    return Ok(None);
                }
                if st.rx.changed().await.is_err() {
                    return Err(StoreError::new(
                        ErrorKind::Other,
                        "source",
                        "the backup was interrupted",
                    ));
                }
            }
        })
        .boxed()
    }
}

async fn read_at(st: &mut ReadState, n: usize) -> Result<bytes::Bytes, StoreError> {
    let spool_err = |e: io::Error| StoreError::from_io("spool", "reading the spool file", e);
    if st.file.is_none() {
        let mut f = tokio::fs::File::open(&*st.path).await.map_err(spool_err)?;
        f.seek(io::SeekFrom::Start(st.offset))
            .await
            .map_err(spool_err)?;
        st.file = Some(f);
    }
    let file = st
        .file
        .as_mut()
        .ok_or_else(|| StoreError::new(ErrorKind::Other, "spool", "spool file not open"))?;
    let mut buf = BytesMut::zeroed(n);
    file.read_exact(&mut buf).await.map_err(spool_err)?;
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    async fn collect(s: ByteStream) -> Result<Vec<u8>, StoreError> {
        let parts: Vec<bytes::Bytes> = s.try_collect().await?;
        Ok(parts.concat())
    }

    #[tokio::test]
    async fn readers_follow_the_writer_and_see_everything() {
        let (mut w, readers) = create(None).unwrap();
        let early = tokio::spawn(collect(readers.reader()));
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let d2 = data.clone();
        let digests = tokio::task::spawn_blocking(move || {
            for piece in d2.chunks(70_000) {
                w.write_all(piece).unwrap();
            }
            w.finish().unwrap()
        })
        .await
        .unwrap();
        assert_eq!(digests.len, data.len() as u64);
        assert_eq!(early.await.unwrap().unwrap(), data);
        let late = collect(readers.reader()).await.unwrap();
        assert_eq!(late, data);
    }

    #[tokio::test]
    async fn a_failed_or_dropped_writer_fails_readers() {
        let (mut w, readers) = create(None).unwrap();
        w.write_all(&vec![1; 2_000_000]).unwrap();
        w.fail("source died");
        let err = collect(readers.reader()).await.unwrap_err();
        assert!(err.to_string().contains("source died"), "{err}");

        let (w, readers) = create(None).unwrap();
        drop(w);
        assert!(collect(readers.reader()).await.is_err());
    }

    #[tokio::test]
    async fn spool_file_is_removed_when_done() {
        let dir = tempfile::tempdir().unwrap();
        let (w, readers) = create(Some(dir.path())).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        w.finish().unwrap();
        drop(readers);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
