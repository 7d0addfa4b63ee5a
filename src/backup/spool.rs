//! The spool: the compressed backup is written once to a temporary file that every destination
//! reads at its own pace, so a slow destination never holds back a fast one and memory stays flat.
//!
//! Bounded (`[backup] spool_limit`), bytes every live reader has consumed are released (holes
//! punched, or segment files deleted: `backing`), and the writer waits while it is the limit
//! ahead of the slowest live reader (`flow`), so disk use follows the distance between the writer
//! and the slowest destination, and that destination paces the source.

mod backing;
mod flow;
pub mod limit;

pub use flow::Paced;
pub use limit::{SpoolLimit, SpoolMode};

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use cloudmirror_contract::{
    ByteStream, DigestSet, DigestThreads, Digests, Error as StoreError, ErrorKind,
};
use futures::StreamExt;
use tokio::sync::watch;

use backing::{Backing, BackingReader, BackingWriter};
use flow::Flow;

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

/// Where and how a spool stores its bytes.
#[derive(Debug, Clone, Default)]
pub struct SpoolOptions {
    /// The folder (the system temp folder when `None`).
    pub dir: Option<std::path::PathBuf>,
    /// The most disk it may use.
    pub limit: SpoolLimit,
    /// One file with holes punched, or segment files.
    pub mode: SpoolMode,
}

impl SpoolOptions {
    /// An unlimited spool in `dir`: the whole backup is staged, nothing released early.
    pub fn unlimited(dir: Option<&Path>) -> Self {
        Self {
            dir: dir.map(Path::to_path_buf),
            limit: SpoolLimit::Unlimited,
            mode: SpoolMode::Auto,
        }
    }
}

/// Creates an unlimited spool in `dir` (the system temp folder when `None`).
pub fn create(dir: Option<&Path>) -> io::Result<(SpoolWriter, SpoolReaders)> {
    create_with(dir, None, DigestSet::ALL)
}

/// [`create_spool`] of an unlimited spool in `dir`.
pub fn create_with(
    dir: Option<&Path>,
    recipients: Option<&crate::backup::encrypt::Recipients>,
    digests: DigestSet,
) -> io::Result<(SpoolWriter, SpoolReaders)> {
    create_spool(&SpoolOptions::unlimited(dir), recipients, digests)
}

/// Creates a spool as `options` say, whose stored bytes are encrypted to `recipients` (when
/// given): what the compressor writes is encrypted before it is hashed and written, so the
/// digests are those of the stored (encrypted) bytes. Only the digests in `digests` are computed
/// (the others are empty in [`SpoolWriter::finish`]'s result): each costs a pass of CPU over
/// every stored byte.
///
/// A bounded spool's readers must all be created (with [`SpoolReaders::reader_for`]) before the
/// writer gets more than the limit ahead; later ones fail.
pub fn create_spool(
    options: &SpoolOptions,
    recipients: Option<&crate::backup::encrypt::Recipients>,
    digests: DigestSet,
) -> io::Result<(SpoolWriter, SpoolReaders)> {
    let dir = options.dir.as_deref();
    remove_stale(&dir.map_or_else(std::env::temp_dir, Path::to_path_buf));
    let limit = options.limit.bytes();
    let (backing, file) = Backing::create(
        dir,
        limit.is_some(),
        options.mode == SpoolMode::Segments,
        limit,
    )?;
    if let Some(l) = limit {
        if l < 2 * backing.granule() {
            return Err(io::Error::other(format!(
                "spool_limit {l} is below two spool segments ({} bytes each)",
                backing.granule()
            )));
        }
    }
    let flow = Arc::new(Flow::new(limit));
    let (tx, rx) = watch::channel(SpoolState::Writing(0));
    let tx = Arc::new(tx);
    let stored = Stored {
        file,
        flow: flow.clone(),
        hashes: Some(DigestThreads::spawn(digests)?),
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
    let readers = SpoolReaders { backing, flow, rx };
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
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let name = name.to_string_lossy();
        if !(name.starts_with("cloudmirror-spool-") || name.starts_with(".cloudmirror-spool-")) {
            continue;
        }
        let stale = entry
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_SPOOL_AGE);
        // A segment spool is a folder of `seg-*` files.
        let removed = match (stale, kind.is_file(), kind.is_dir()) {
            (true, true, _) => std::fs::remove_file(entry.path()).is_ok(),
            (true, _, true) => std::fs::remove_dir_all(entry.path()).is_ok(),
            _ => false,
        };
        if removed {
            tracing::info!(path = %entry.path().display(), "removed a stale spool file");
        }
    }
}

/// The stored bytes: written to the spool file, hashed, and announced to readers.
struct Stored {
    file: BackingWriter,
    flow: Arc<Flow>,
    /// Each digest on its own thread: the writer only copies.
    hashes: Option<DigestThreads>,
    written: u64,
    published: u64,
    tx: Arc<watch::Sender<SpoolState>>,
}

impl Write for Stored {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let (written, published, tx) = (self.written, &mut self.published, &self.tx);
        let file = &mut self.file;
        let room = self.flow.room(
            written,
            buf.len() as u64,
            &mut |from, to| file.release(from, to),
            &mut || {
                *published = written;
                tx.send_replace(SpoolState::Writing(written));
            },
        )?;
        let take = usize::try_from(room).unwrap_or(usize::MAX).min(buf.len());
        let n = self.file.write(self.written, &buf[..take])?;
        if let Some(h) = &mut self.hashes {
            h.update(&buf[..n]);
        }
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
        let hashes = stored
            .hashes
            .take()
            .ok_or_else(|| io::Error::other("the spool is closed"))?
            .finish()?;
        self.tx.send_replace(SpoolState::Done(stored.written));
        Ok(hashes)
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
/// The spool's files are removed when the writer and every reader are gone.
#[derive(Debug, Clone)]
pub struct SpoolReaders {
    backing: Arc<Backing>,
    flow: Arc<Flow>,
    rx: watch::Receiver<SpoolState>,
}

/// How a bounded spool's writer was held back, readable after the readers are handed out.
#[derive(Debug, Clone)]
pub struct SpoolPacing(Arc<Flow>);

impl SpoolPacing {
    /// Every destination the compressor waited for, longest wait first (empty when the spool
    /// never filled up).
    pub fn paced(&self) -> Vec<Paced> {
        self.0.pacing()
    }
}

struct ReadState {
    file: BackingReader,
    rx: watch::Receiver<SpoolState>,
    offset: u64,
    slot: ReaderSlot,
}

/// A reader's place in the flow; dropping it (the upload ended, failed or was cancelled) stops
/// it from holding the writer back.
struct ReaderSlot {
    flow: Arc<Flow>,
    id: usize,
}

impl Drop for ReaderSlot {
    fn drop(&mut self) {
        self.flow.leave(self.id);
    }
}

impl SpoolReaders {
    /// A body that yields the spool from its start (see [`SpoolReaders::reader_for`]).
    pub fn reader(&self) -> ByteStream {
        self.reader_for("reader")
    }

    /// A body that yields the spool from its start, waiting for the writer as needed, and ends
    /// when the writer finishes (or fails with the writer's error). `label` names it in the
    /// pacing report. On a bounded spool, the writer waits for the slowest body still alive:
    /// a body that is dropped (its upload failed) stops counting at once.
    pub fn reader_for(&self, label: &str) -> ByteStream {
        let id = match self.flow.register(label) {
            Ok(id) => id,
            Err(message) => {
                let err = StoreError::new(ErrorKind::Other, "spool", message);
                return futures::stream::once(async move { Err(err) }).boxed();
            }
        };
        let state = ReadState {
            file: BackingReader::new(self.backing.clone()),
            rx: self.rx.clone(),
            offset: 0,
            slot: ReaderSlot {
                flow: self.flow.clone(),
                id,
            },
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
                    let want = (available - st.offset).min(READ_PIECE);
                    let buf =
                        st.file.read(st.offset, want).await.map_err(|e| {
                            StoreError::from_io("spool", "reading the spool file", e)
                        })?;
                    st.offset += buf.len() as u64;
                    st.slot.flow.advance(st.slot.id, st.offset);
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

    /// A handle on the pacing report, valid after these readers are dropped.
    pub fn pacing(&self) -> SpoolPacing {
        SpoolPacing(self.flow.clone())
    }

    /// Whether the spool is a ring of segment files.
    pub fn is_segmented(&self) -> bool {
        self.backing.is_segments()
    }
}

#[cfg(test)]
mod tests;
