//! Where the spool's bytes live on disk: one file (with holes punched behind the slowest reader
//! where the file system supports it), or a ring of segment files, each deleted once every reader
//! is past it. Only the writer writes and releases; readers open their own handles.

use std::fs::File;
use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Segment files are this big at most: small enough that a consumed segment frees disk soon.
const MAX_SEGMENT: u64 = 64 * 1024 * 1024;
/// Segment files are this big at least.
const MIN_SEGMENT: u64 = 256 * 1024;

/// The spool's storage, shared by the writer and every reader; removed from disk when the last of
/// them drops it.
#[derive(Debug)]
pub(super) enum Backing {
    /// One file. `punch`: consumed ranges are released with `fallocate(PUNCH_HOLE | KEEP_SIZE)`;
    /// otherwise nothing is released before the end.
    File {
        /// The file (removed on drop).
        path: tempfile::TempPath,
        /// Whether consumed bytes are punched out.
        punch: bool,
    },
    /// Files `seg-<n>` in a private folder, segment `n` holding bytes `[n × size, (n+1) × size)`.
    Segments {
        /// The folder (removed with its contents on drop).
        dir: tempfile::TempDir,
        /// Bytes per segment.
        size: u64,
    },
}

impl Backing {
    /// One spool file in `dir` (the system temp folder when `None`); `release` asks for hole
    /// punching, and falls back to segments when the file system cannot punch holes.
    pub(super) fn create(
        dir: Option<&Path>,
        release: bool,
        force_segments: bool,
        limit: Option<u64>,
    ) -> io::Result<(Arc<Backing>, BackingWriter)> {
        let builder = |hidden: bool| {
            let mut b = tempfile::Builder::new();
            b.prefix(if hidden {
                ".cloudmirror-spool-"
            } else {
                "cloudmirror-spool-"
            });
            b
        };
        if release && !force_segments {
            let tmp = match dir {
                Some(d) => builder(true).tempfile_in(d)?,
                None => builder(false).tempfile()?,
            };
            let (file, path) = tmp.into_parts();
            if punch_supported(&file) {
                let backing = Arc::new(Backing::File { path, punch: true });
                return Ok((backing.clone(), BackingWriter::new(backing, Some(file))));
            }
            tracing::debug!("the spool folder cannot punch holes: using segment files");
        }
        if release {
            let tmp = match dir {
                Some(d) => builder(true).tempdir_in(d)?,
                None => builder(false).tempdir()?,
            };
            let size = limit
                .map_or(MAX_SEGMENT, |l| l / 8)
                .clamp(MIN_SEGMENT, MAX_SEGMENT);
            let backing = Arc::new(Backing::Segments { dir: tmp, size });
            return Ok((backing.clone(), BackingWriter::new(backing, None)));
        }
        let tmp = match dir {
            Some(d) => builder(true).tempfile_in(d)?,
            None => builder(false).tempfile()?,
        };
        let (file, path) = tmp.into_parts();
        let backing = Arc::new(Backing::File { path, punch: false });
        Ok((backing.clone(), BackingWriter::new(backing, Some(file))))
    }

    /// Whether this is the segment ring.
    pub(super) fn is_segments(&self) -> bool {
        matches!(self, Backing::Segments { .. })
    }

    /// The smallest amount the writer must be able to release for the writer to make progress:
    /// a bounded spool must be at least twice this.
    pub(super) fn granule(&self) -> u64 {
        match self {
            Backing::File { .. } => 1,
            Backing::Segments { size, .. } => *size,
        }
    }

    fn segment_path(dir: &Path, n: u64) -> PathBuf {
        dir.join(format!("seg-{n:08}"))
    }
}

/// Whether `file` (empty, fresh) supports punching holes; leaves it empty.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn punch_supported(file: &File) -> bool {
    use rustix::fs::FallocateFlags;
    let probe = (|| -> io::Result<()> {
        let mut f = file;
        f.write_all(&[0u8; 8192])?;
        rustix::fs::fallocate(
            file,
            FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
            0,
            4096,
        )?;
        Ok(())
    })();
    let reset = file
        .set_len(0)
        .and_then(|()| (&mut &*file).seek(io::SeekFrom::Start(0)).map(|_| ()));
    probe.is_ok() && reset.is_ok()
}

/// Other systems: no hole punching (segments are used).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn punch_supported(_file: &File) -> bool {
    false
}

/// The writing end of a [`Backing`]: appends, and releases what every reader has consumed.
#[derive(Debug)]
pub(super) struct BackingWriter {
    backing: Arc<Backing>,
    /// The one file, or the segment being written.
    file: Option<File>,
    /// Index of the open segment.
    segment: u64,
}

impl BackingWriter {
    fn new(backing: Arc<Backing>, file: Option<File>) -> Self {
        Self {
            backing,
            file,
            segment: 0,
        }
    }

    /// Writes some of `buf` at offset `written` (the current end); returns how much.
    pub(super) fn write(&mut self, written: u64, buf: &[u8]) -> io::Result<usize> {
        match &*self.backing {
            Backing::File { .. } => match &mut self.file {
                Some(f) => f.write(buf),
                None => Err(io::Error::other("the spool file is closed")),
            },
            Backing::Segments { dir, size } => {
                let n = written / size;
                if self.file.is_none() || self.segment != n {
                    self.file = Some(
                        std::fs::OpenOptions::new()
                            .create_new(true)
                            .write(true)
                            .open(Backing::segment_path(dir.path(), n))?,
                    );
                    self.segment = n;
                }
                let room = ((n + 1) * size - written) as usize;
                let take = buf.len().min(room);
                match &mut self.file {
                    Some(f) => f.write(&buf[..take]),
                    None => Err(io::Error::other("the spool segment is closed")),
                }
            }
        }
    }

    /// Flushes the open file.
    pub(super) fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), Write::flush)
    }

    /// Frees the bytes `[from, to)`, which every reader has consumed; returns the new start of
    /// what is still on disk (`to`, or a segment boundary at or below it).
    pub(super) fn release(&mut self, from: u64, to: u64) -> io::Result<u64> {
        if to <= from {
            return Ok(from);
        }
        match &*self.backing {
            Backing::File { punch: false, .. } => Ok(from),
            Backing::File { punch: true, .. } => {
                #[cfg(any(target_os = "linux", target_os = "android"))]
                if let Some(f) = &self.file {
                    use rustix::fs::FallocateFlags;
                    rustix::fs::fallocate(
                        f,
                        FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
                        from,
                        to - from,
                    )?;
                    return Ok(to);
                }
                Ok(from)
            }
            Backing::Segments { dir, size } => {
                let done = to / size;
                for n in from / size..done {
                    if n == self.segment {
                        self.file = None;
                    }
                    match std::fs::remove_file(Backing::segment_path(dir.path(), n)) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok((done * size).max(from))
            }
        }
    }
}

/// A reader's handle on a [`Backing`]: reads forward from any offset not yet released.
#[derive(Debug)]
pub(super) struct BackingReader {
    backing: Arc<Backing>,
    /// The open file (or segment, with its index) and the offset it is positioned at.
    open: Option<(u64, tokio::fs::File)>,
}

impl BackingReader {
    pub(super) fn new(backing: Arc<Backing>) -> Self {
        Self {
            backing,
            open: None,
        }
    }

    /// Reads up to `max` bytes at `offset` (all of them written already). Returns fewer at the
    /// end of a segment.
    pub(super) async fn read(&mut self, offset: u64, max: u64) -> io::Result<Bytes> {
        let (index, within, n, path) = match &*self.backing {
            Backing::File { path, .. } => (0, offset, max, path.to_path_buf()),
            Backing::Segments { dir, size } => {
                let index = offset / size;
                let within = offset % size;
                let n = max.min(size - within);
                (index, within, n, Backing::segment_path(dir.path(), index))
            }
        };
        if self.open.as_ref().is_none_or(|(i, _)| *i != index) {
            self.open = None;
            let mut f = tokio::fs::File::open(&path).await?;
            f.seek(io::SeekFrom::Start(within)).await?;
            self.open = Some((index, f));
        }
        let Some((_, file)) = self.open.as_mut() else {
            return Err(io::Error::other("the spool file is not open"));
        };
        let mut buf = BytesMut::zeroed(n as usize);
        file.read_exact(&mut buf).await?;
        Ok(buf.freeze())
    }
}
