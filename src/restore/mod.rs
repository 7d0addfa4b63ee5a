//! `restore`: download a backup, verify size and SHA-256 against its manifest while decompressing,
//! and only then put the output in place. Falls back to the next destination when one fails.

pub mod direct;
pub mod gunzip;
pub mod into;
pub mod sink;
pub mod target;
pub mod write_behind;

use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use cloudmirror_contract::{DigestSet, ErrorKind, Hashes, Key};
use futures::TryStreamExt;
use serde::Serialize;
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::backup::compress::Compression;
use crate::backup::manifest::Manifest;
use crate::catalog::fetch_manifest;
use crate::destination::Destination;
use crate::Error;
use sink::OutputSink;
use write_behind::WriteBehind;

/// Where the restored bytes go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Standard output (`-o -`).
    Stdout,
    /// A file, written beside its final path and renamed into place once verified.
    File(PathBuf),
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// The backup's name.
    pub name: String,
    /// The destination it came from.
    pub destination: String,
    /// Stored (compressed) bytes downloaded and verified.
    pub stored_bytes: u64,
    /// Bytes written after decompression.
    pub restored_bytes: u64,
    /// Where they went (`-` for standard output).
    pub output: String,
    /// Destinations tried before, and why they were skipped.
    pub skipped: Vec<String>,
}

/// Restores `name` from the first of `candidates` that holds an intact copy.
pub async fn run(
    candidates: &[Destination],
    name: &Key,
    output: &Output,
) -> Result<RestoreReport, Error> {
    let mut skipped = Vec::new();
    for dest in candidates {
        match restore_from(dest, name, output).await {
            Ok((manifest, restored)) => {
                return Ok(RestoreReport {
                    name: name.to_string(),
                    destination: dest.name.clone(),
                    stored_bytes: manifest.stored_size,
                    restored_bytes: restored,
                    output: match output {
                        Output::Stdout => "-".into(),
                        Output::File(p) => p.display().to_string(),
                    },
                    skipped,
                });
            }
            Err(Attempt::Fatal(e)) => return Err(e),
            Err(Attempt::Skip(why)) => {
                tracing::warn!(destination = %dest.name, "cannot restore from here: {why}");
                skipped.push(format!("{}: {why}", dest.name));
            }
        }
    }
    Err(Error::Failed(format!(
        "no intact copy of {name} could be restored: {}",
        if skipped.is_empty() {
            "no destination selected".to_owned()
        } else {
            skipped.join("; ")
        }
    )))
}

enum Attempt {
    /// This destination cannot serve the restore; try the next one.
    Skip(String),
    /// Stop: trying elsewhere cannot help (output unwritable, stdout already written).
    Fatal(Error),
}

async fn restore_from(
    dest: &Destination,
    name: &Key,
    output: &Output,
) -> Result<(Manifest, u64), Attempt> {
    let manifest = fetch_manifest(dest, name).await.map_err(|e| {
        if e.kind() == ErrorKind::NotFound {
            Attempt::Skip(format!("no backup named {name} (no manifest)"))
        } else {
            Attempt::Skip(format!("cannot read the manifest: {e}"))
        }
    })?;
    let body = dest
        .store
        .download(name)
        .await
        .map_err(|e| Attempt::Skip(format!("cannot download the backup: {e}")))?;
    let reader = SyncIoBridge::new(StreamReader::new(body.map_err(io::Error::other)));
    let compression = manifest.compression;
    let expected = manifest.clone();
    let output = output.clone();
    let dest_name = dest.name.clone();
    tokio::task::spawn_blocking(move || {
        write_verified(reader, &expected, compression, &output, &dest_name)
    })
    .await
    .map_err(|e| Attempt::Fatal(Error::Failed(format!("restore task failed: {e}"))))?
    .map(|restored| (manifest, restored))
}

/// Hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    hashes: Hashes,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hashes.update(&buf[..n]);
        Ok(n)
    }
}

fn write_verified(
    reader: impl Read,
    manifest: &Manifest,
    compression: Compression,
    output: &Output,
    dest: &str,
) -> Result<u64, Attempt> {
    if let (Some(crate::backup::archive::TAR), Output::File(path)) =
        (manifest.archive.as_deref(), output)
    {
        return extract_verified(reader, manifest, compression, path, dest);
    }
    if let Output::File(path) = output {
        if path.is_dir() {
            return Err(Attempt::Fatal(Error::Input(format!(
                "output {} is a directory and {} is a file backup; give a file path",
                path.display(),
                manifest.name
            ))));
        }
    }
    let (inner, temp): (Box<dyn Write + Send>, Option<tempfile::NamedTempFile>) = match output {
        Output::Stdout => (Box::new(io::stdout()), None),
        Output::File(path) => {
            let dir = parent_dir(path);
            let tmp = tempfile::Builder::new()
                .prefix(".cloudmirror-restore-")
                .tempfile_in(&dir)
                .map_err(|e| {
                    Attempt::Fatal(Error::io(format!("cannot write in {}", dir.display()), e))
                })?;
            let file = tmp
                .reopen()
                .map_err(|e| Attempt::Fatal(Error::io("opening the output", e)))?;
            (Box::new(direct::DirectFile::new(file)), Some(tmp))
        }
    };
    // Writing costs about as much as inflating: it gets a thread of its own.
    let mut sink = WriteBehind::new(inner, "restore-write")
        .map_err(|e| Attempt::Fatal(Error::io("starting the output writer", e)))?;
    let mut tracked = TrackWrites::new(&mut sink);
    let copied = decode_hashed(reader, compression, manifest.encrypted, &mut tracked);
    let write_failed = tracked.failed.take();
    let written_to_stdout = matches!(output, Output::Stdout);
    let (restored, digests) = copied.map_err(|e| {
        // The output could not take the bytes (a full disk, a file-size limit): that is no fault
        // of the copy, and no other copy would fare better.
        if let Some(e) = write_failed {
            return Attempt::Fatal(Error::io("writing the output", e));
        }
        let why = format!("the copy on {dest} is unreadable or corrupt: {e}");
        if written_to_stdout {
            Attempt::Fatal(Error::Failed(why))
        } else {
            Attempt::Skip(why)
        }
    })?;
    sink.finish()
        .map_err(|e| Attempt::Fatal(Error::io("writing the output", e)))?;
    if let Err(why) = check_digests(&digests, manifest, dest) {
        // A file output is discarded with its temporary file; stdout cannot be taken back.
        return Err(if written_to_stdout {
            Attempt::Fatal(Error::Failed(why))
        } else {
            Attempt::Skip(why)
        });
    }
    if let (Some(tmp), Output::File(path)) = (temp, output) {
        tmp.as_file()
            .sync_all()
            .map_err(|e| Attempt::Fatal(Error::io("syncing the output", e)))?;
        tmp.persist(path).map_err(|e| {
            Attempt::Fatal(Error::io(
                format!("cannot write {}", path.display()),
                e.error,
            ))
        })?;
    }
    Ok(restored)
}

/// A folder backup: the tar stream is extracted beside `target` and moved into place only once
/// every stored byte matched the manifest; an entry escaping the folder fails the restore.
fn extract_verified(
    reader: impl Read,
    manifest: &Manifest,
    compression: Compression,
    target: &Path,
    dest: &str,
) -> Result<u64, Attempt> {
    let mut extractor = crate::backup::archive::extract_into(target).map_err(|e| {
        Attempt::Fatal(Error::Input(format!(
            "cannot restore into {}: {e}",
            target.display()
        )))
    })?;
    let decoded = decode_hashed(reader, compression, manifest.encrypted, &mut extractor);
    let closed = extractor.close();
    // A corrupt copy is skipped (its partial extraction is removed with the staging folder);
    // a verified archive whose entries are refused stops the restore.
    let (restored, digests) = match (decoded, &closed) {
        // The extractor stopped reading because it refused an entry: say which.
        (Err(_), Err(e)) if e.kind() == io::ErrorKind::InvalidData => {
            return Err(Attempt::Fatal(Error::Failed(format!(
                "the folder backup from {dest} cannot be extracted: {e}"
            ))));
        }
        (Err(e), _) => {
            return Err(Attempt::Skip(format!(
                "the copy on {dest} is unreadable or corrupt: {e}"
            )));
        }
        (Ok(done), _) => done,
    };
    check_digests(&digests, manifest, dest).map_err(Attempt::Skip)?;
    if let Err(e) = closed {
        return Err(Attempt::Fatal(Error::Failed(format!(
            "the folder backup from {dest} cannot be extracted: {e}"
        ))));
    }
    extractor.commit().map_err(|e| {
        Attempt::Fatal(Error::io(
            format!("cannot move the folder into {}", target.display()),
            e,
        ))
    })?;
    Ok(restored)
}

/// A writer that remembers the first error its inner writer returned, so a failed restore can
/// tell a failing output (fatal) from a corrupt copy (try the next one).
struct TrackWrites<'a> {
    inner: &'a mut dyn OutputSink,
    failed: Option<io::Error>,
}

impl<'a> TrackWrites<'a> {
    fn new(inner: &'a mut dyn OutputSink) -> Self {
        Self {
            inner,
            failed: None,
        }
    }

    fn note(&mut self, e: &io::Error) {
        if self.failed.is_none() {
            self.failed = Some(match e.raw_os_error() {
                Some(code) => io::Error::from_raw_os_error(code),
                None => io::Error::new(e.kind(), e.to_string()),
            });
        }
    }
}

impl Write for TrackWrites<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).inspect_err(|e| self.note(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().inspect_err(|e| self.note(e))
    }
}

impl OutputSink for TrackWrites<'_> {
    fn put_owned(&mut self, buf: Vec<u8>, start: usize) -> io::Result<Option<Vec<u8>>> {
        self.inner
            .put_owned(buf, start)
            .inspect_err(|e| self.note(e))
    }
}

/// Decrypts (when `encrypted`) and decompresses the stored bytes read from `reader` into `sink`,
/// hashing every stored byte (including anything after the last gzip member). Returns the bytes
/// written and the digests of the stored bytes, for [`check_digests`]; nothing is verified here.
pub(crate) fn decode_hashed(
    reader: impl Read,
    compression: Compression,
    encrypted: bool,
    sink: &mut dyn OutputSink,
) -> io::Result<(u64, cloudmirror_contract::Digests)> {
    let mut hashing = HashingReader {
        inner: reader,
        hashes: Hashes::with(DigestSet::SHA256),
    };
    let copied = {
        let mut plain: Box<dyn Read + '_> = if encrypted {
            crate::backup::encrypt::decrypting_reader(&mut hashing)?
        } else {
            Box::new(&mut hashing)
        };
        let buffered = BufReader::with_capacity(256 * 1024, &mut plain);
        match compression {
            Compression::Gzip => {
                // Our members on every core, anything else streamed; whatever follows the last
                // member is read below, so the checksum covers every byte.
                gunzip::decode(buffered, sink, crate::backup::compress::default_threads())?
            }
            Compression::Zstd => {
                let mut dec = zstd::stream::read::Decoder::with_buffer(buffered)?;
                let n = io::copy(&mut dec, sink)?;
                // As for gzip: read whatever follows the last frame too.
                io::copy(&mut dec.finish(), &mut io::sink())?;
                n
            }
            Compression::None => {
                let mut buffered = buffered;
                io::copy(&mut buffered, sink)?
            }
        }
    };
    // Whatever the decoders left unread still counts towards the stored bytes' checksum.
    io::copy(&mut hashing, &mut io::sink())?;
    Ok((copied, hashing.hashes.finish()))
}

/// Compares what was read with the manifest; the error says what differs, naming `dest`.
pub(crate) fn check_digests(
    digests: &cloudmirror_contract::Digests,
    manifest: &Manifest,
    dest: &str,
) -> Result<(), String> {
    if digests.len != manifest.stored_size || digests.sha256 != manifest.sha256 {
        return Err(format!(
            "the copy on {dest} is corrupt: {} bytes with sha256 {}, the manifest says {} bytes with sha256 {}",
            digests.len, digests.sha256, manifest.stored_size, manifest.sha256
        ));
    }
    Ok(())
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
