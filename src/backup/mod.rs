//! `backup`: read the source once, compress and hash it into the spool, upload to every destination
//! concurrently, then store the manifest next to each copy that landed intact.

pub(crate) mod archive;
pub mod cancel;
pub mod compress;
pub mod encrypt;
mod limits;
pub mod manifest;
mod source;
pub mod spool;
pub mod template;

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::Utc;
use cloudmirror_contract::{DigestSet, Digests, Key, StoreExt};
use indicatif::ProgressBar;
use serde::Serialize;

use crate::backup::compress::Compression;
use crate::backup::manifest::Manifest;
use crate::destination::Destination;
use crate::{Error, ExitStatus};

use source::describe;
pub use source::Source;

/// An upload running in the background: its result and when it ended.
type UploadTask = tokio::task::JoinHandle<(
    cloudmirror_contract::Result<cloudmirror_contract::ObjectMeta>,
    std::time::Duration,
)>;

/// Default of `[backup] destination_timeout`: how long one destination may take to store a backup
/// and its manifest before it is failed (the others go on).
pub const DEFAULT_DESTINATION_TIMEOUT: std::time::Duration = std::time::Duration::from_mins(30);

/// Read size from the source.
const READ_BUF: usize = 256 * 1024;

/// How to make one backup.
#[derive(Debug, Clone)]
pub struct BackupPlan {
    /// What to read.
    pub source: Source,
    /// The stored name.
    pub name: Key,
    /// Compression of stored bytes.
    pub compression: Compression,
    /// Compression level, already checked against the compression's range
    /// ([`crate::backup::compress::resolve_level`]).
    pub level: u32,
    /// Folder for the spool file.
    pub spool_dir: Option<PathBuf>,
    /// The most disk the spool may use (`[backup] spool_limit`).
    pub spool_limit: spool::SpoolLimit,
    /// How the spool stores its bytes (segment files can be forced, for tests).
    pub spool_mode: spool::SpoolMode,
    /// A safety backup made by `restore --safety-backup` (recorded in the manifest; retention keeps
    /// the newest one).
    pub pre_restore: bool,
    /// age recipients the stored bytes are encrypted to (`[encryption]`), if any.
    pub recipients: Option<crate::backup::encrypt::Recipients>,
    /// Cancels the run from outside (the daemon's shutdown); `None`: the run cannot be cancelled.
    pub cancel: Option<cancel::Cancel>,
}

/// One destination's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct DestinationResult {
    /// Destination name.
    pub destination: String,
    /// Whether the backup and its manifest landed intact.
    pub ok: bool,
    /// Stored bytes uploaded.
    pub bytes: u64,
    /// Seconds from start to manifest stored (or failure).
    pub seconds: f64,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The whole backup's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    /// The stored name.
    pub name: String,
    /// The manifest, when the source was read completely.
    pub manifest: Option<Manifest>,
    /// Per destination, in config order.
    pub destinations: Vec<DestinationResult>,
    /// The destinations the compressor waited for because the spool was full (`spool_limit`),
    /// longest wait first; empty when nothing paced the backup.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paced_by: Vec<PacedBy>,
    /// Set when the source could not be read: nothing was stored anywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A destination that held the compressor back (the spool was `spool_limit` ahead of it).
#[derive(Debug, Clone, Serialize)]
pub struct PacedBy {
    /// Destination name.
    pub destination: String,
    /// Seconds the compressor waited for it.
    pub waited_seconds: f64,
}

impl std::fmt::Display for PacedBy {
    /// `paced by: dropbox (waited 41 s)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let digits = usize::from(self.waited_seconds < 10.0);
        write!(
            f,
            "paced by: {} (waited {:.digits$} s)",
            self.destination, self.waited_seconds
        )
    }
}

fn paced_by(pacing: &spool::SpoolPacing) -> Vec<PacedBy> {
    pacing
        .paced()
        .into_iter()
        .map(|p| PacedBy {
            destination: p.destination,
            waited_seconds: p.waited.as_secs_f64(),
        })
        .collect()
}

impl BackupReport {
    /// 0 when every destination holds the backup, 1 when some do, 2 when none do.
    pub fn exit_status(&self) -> ExitStatus {
        let ok = self.destinations.iter().filter(|d| d.ok).count();
        ExitStatus::from_counts(ok, self.destinations.len())
    }
}

/// Runs a backup to `destinations`, each given [`DEFAULT_DESTINATION_TIMEOUT`].
/// Source errors detected before any upload are returned as `Err`; failures during the run are
/// reported per destination in the report.
pub async fn run(
    plan: &BackupPlan,
    destinations: &[Destination],
    progress: &ProgressBar,
) -> Result<BackupReport, Error> {
    run_with_timeout(plan, destinations, progress, DEFAULT_DESTINATION_TIMEOUT).await
}

/// The digests a backup to `destinations` records: SHA-256 always (restore and `verify --deep`
/// check it), MD5 only for Google Drive and Azure and Dropbox's content hash only for Dropbox, the providers
/// that report them (`verify` compares). MD5 alone costs about 1.5 CPU seconds per GiB stored;
/// the spool runs each digest on a thread of its own ([`cloudmirror_contract::DigestThreads`]).
pub(crate) fn digests_for(destinations: &[Destination]) -> DigestSet {
    DigestSet {
        sha256: true,
        md5: destinations
            .iter()
            .any(|d| matches!(d.kind.as_str(), "gdrive" | "azure")),
        dropbox: destinations.iter().any(|d| d.kind == "dropbox"),
    }
}

/// [`run`], with `timeout` for each destination to store the backup and its manifest (past it,
/// that destination fails with an error naming the timeout; the others go on).
pub async fn run_with_timeout(
    plan: &BackupPlan,
    destinations: &[Destination],
    progress: &ProgressBar,
    timeout: std::time::Duration,
) -> Result<BackupReport, Error> {
    let (reader, len) = plan.source.open_with(plan.cancel.as_ref())?;
    if let Some(len) = len {
        progress.set_length(len);
    }
    let options = spool::SpoolOptions {
        dir: plan.spool_dir.clone(),
        limit: plan.spool_limit,
        mode: plan.spool_mode,
    };
    let (writer, readers) = spool::create_spool(
        &options,
        plan.recipients.as_ref(),
        digests_for(destinations),
    )
    .map_err(|e| Error::io("creating the spool file", e))?;
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let created_at = Utc::now();

    // The stored size is known up front only for a file stored as is.
    let known_len = match (&plan.source, plan.compression, &plan.recipients) {
        (Source::File(_), Compression::None, None) => len,
        _ => None,
    };
    let uploads = start_uploads(
        plan,
        destinations,
        &readers,
        known_len,
        (started, deadline, timeout),
    );
    let pacing = readers.pacing();
    drop(readers);

    let compression = plan.compression;
    let level = plan.level;
    let source_label = describe(&plan.source);
    let pb = progress.clone();
    let produced = tokio::task::spawn_blocking(move || {
        compress(reader, writer, compression, level, &pb, &source_label)
    })
    .await
    .map_err(|e| Error::Failed(format!("the compression task failed: {e}")))?;

    let (digests, original) = match produced {
        Ok(done) => done,
        Err(message) => {
            let mut results = Vec::new();
            for (dest, task) in destinations.iter().zip(uploads) {
                let (res, took) = task
                    .await
                    .map_err(|e| Error::Failed(format!("upload task failed: {e}")))?;
                if res.is_ok() {
                    // The adapter finished before seeing the failure: remove the partial copy.
                    let _ = dest.store.delete(&plan.name).await;
                }
                results.push(DestinationResult {
                    destination: dest.name.clone(),
                    ok: false,
                    bytes: 0,
                    seconds: took.as_secs_f64(),
                    error: Some(message.clone()),
                });
            }
            return Ok(BackupReport {
                name: plan.name.to_string(),
                manifest: None,
                destinations: results,
                paced_by: paced_by(&pacing),
                error: Some(message),
            });
        }
    };
    let mut manifest = Manifest::new(
        &plan.name,
        &digests,
        original,
        plan.compression,
        created_at,
        plan.source.manifest_label(),
    );
    manifest.pre_restore = plan.pre_restore;
    manifest.encrypted = plan.recipients.is_some();
    if plan.source.is_folder() {
        manifest.archive = Some(crate::backup::archive::TAR.to_owned());
    }
    let results = finish(
        plan,
        destinations,
        uploads,
        &digests,
        &manifest,
        (started, deadline, timeout),
    )
    .await?;
    Ok(BackupReport {
        name: plan.name.to_string(),
        manifest: Some(manifest),
        destinations: results,
        paced_by: paced_by(&pacing),
        error: None,
    })
}

/// Starts one upload per destination, each reading its own spool body (cut off at the
/// destination's largest object); a destination whose limit the known size passes fails at once.
fn start_uploads(
    plan: &BackupPlan,
    destinations: &[Destination],
    readers: &spool::SpoolReaders,
    known_len: Option<u64>,
    (started, deadline, timeout): (Instant, tokio::time::Instant, std::time::Duration),
) -> Vec<UploadTask> {
    let mut uploads = Vec::new();
    for dest in destinations {
        let store = dest.store.clone();
        let key = plan.name.clone();
        let caps = store.capabilities();
        if let Some(err) = limits::known_too_big(known_len, caps.max_object_size, caps.backend) {
            // Never a reader: this destination neither receives a byte nor holds the spool.
            uploads.push(tokio::spawn(async move { (Err(err), started.elapsed()) }));
            continue;
        }
        let body = readers.reader_for(&dest.name);
        let body = match caps.max_object_size {
            Some(limit) => limits::capped(body, limit, caps.backend),
            None => body,
        };
        uploads.push(tokio::spawn(async move {
            let res = tokio::time::timeout_at(deadline, store.upload(&key, body, None))
                .await
                .unwrap_or_else(|_| Err(timed_out(store.as_ref(), timeout, "uploading")));
            (res, started.elapsed())
        }));
    }
    uploads
}

/// Waits for each upload, checks what the destination stored, then stores the manifest beside it.
async fn finish(
    plan: &BackupPlan,
    destinations: &[Destination],
    uploads: Vec<UploadTask>,
    digests: &Digests,
    manifest: &Manifest,
    (started, deadline, timeout): (Instant, tokio::time::Instant, std::time::Duration),
) -> Result<Vec<DestinationResult>, Error> {
    let mut results = Vec::new();
    let manifest_key = Manifest::key_for(&plan.name)?;
    let manifest_bytes = bytes::Bytes::from(manifest.to_json());

    let mut finishing = Vec::new();
    for (dest, task) in destinations.iter().zip(uploads) {
        let dest = dest.clone();
        let digests = digests.clone();
        let key = plan.name.clone();
        let manifest_key = manifest_key.clone();
        let manifest_bytes = manifest_bytes.clone();
        finishing.push(tokio::spawn(async move {
            let (res, _) = task.await.map_err(|e| format!("upload task failed: {e}"))?;
            let meta = res.map_err(|e| e.to_string())?;
            check_stored(&digests, &meta, &key)?;
            tokio::time::timeout_at(
                deadline,
                dest.store.upload_bytes(&manifest_key, manifest_bytes),
            )
            .await
            .unwrap_or_else(|_| {
                Err(timed_out(
                    dest.store.as_ref(),
                    timeout,
                    "storing the manifest",
                ))
            })
            .map_err(|e| format!("storing the manifest failed: {e}"))?;
            // Timed here, not when awaited below: a slow destination listed first must not
            // inflate the times of the ones after it.
            Ok::<_, String>(started.elapsed())
        }));
    }
    for (dest, task) in destinations.iter().zip(finishing) {
        let res = task
            .await
            .unwrap_or_else(|e| Err(format!("task failed: {e}")));
        let seconds = res
            .as_ref()
            .map_or_else(|_| started.elapsed(), |t| *t)
            .as_secs_f64();
        match &res {
            Ok(_) => {
                tracing::info!(destination = %dest.name, bytes = digests.len, seconds, "backup stored");
            }
            Err(e) => tracing::error!(destination = %dest.name, "backup failed: {e}"),
        }
        results.push(DestinationResult {
            destination: dest.name.clone(),
            ok: res.is_ok(),
            bytes: if res.is_ok() { digests.len } else { 0 },
            seconds,
            error: res.err(),
        });
    }
    Ok(results)
}

/// The error of a destination that ran past `[backup] destination_timeout`.
fn timed_out(
    store: &dyn cloudmirror_contract::Store,
    timeout: std::time::Duration,
    doing: &str,
) -> cloudmirror_contract::Error {
    cloudmirror_contract::Error::new(
        cloudmirror_contract::ErrorKind::Transient,
        store.capabilities().backend,
        format!(
            "timed out after {}s {doing} (backup.destination_timeout)",
            timeout.as_secs_f64()
        ),
    )
}

/// Checks an adapter's report of a stored copy against what was written.
fn check_stored(
    digests: &Digests,
    meta: &cloudmirror_contract::ObjectMeta,
    key: &Key,
) -> Result<(), String> {
    if meta.size != digests.len {
        return Err(format!(
            "the destination stored {} bytes of {key}, expected {}",
            meta.size, digests.len
        ));
    }
    if let Some(cs) = &meta.checksum {
        if !digests.matches(cs) {
            return Err(format!(
                "the destination's {} checksum of {key} does not match what was sent",
                cs.algorithm()
            ));
        }
    }
    Ok(())
}

/// Reads the whole source, compressing into the spool. Returns the digests of the stored bytes and
/// the source's size; on failure the spool is marked failed so every upload aborts.
fn compress(
    mut reader: Box<dyn Read + Send>,
    writer: spool::SpoolWriter,
    compression: Compression,
    level: u32,
    progress: &ProgressBar,
    source: &str,
) -> Result<(Digests, u64), String> {
    let mut out = crate::backup::compress::spool_encoder(
        compression,
        level,
        crate::backup::compress::default_threads(),
        writer,
    )
    .map_err(|e| format!("starting the compressor failed: {e}"))?;
    let mut buf = vec![0u8; READ_BUF];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let msg = format!("reading the source {source} failed: {e}");
                out.abort(&msg);
                return Err(msg);
            }
        };
        total += n as u64;
        progress.inc(n as u64);
        if let Err(e) = out.write_all(&buf[..n]) {
            let msg = format!(
                "writing the spool file failed: {}",
                crate::error::io_message(&e)
            );
            out.abort(&msg);
            return Err(msg);
        }
    }
    if total == 0 {
        let msg = format!("the source {source} is empty: nothing was stored");
        out.abort(&msg);
        return Err(msg);
    }
    let digests = out.finish_all().map_err(|e| {
        format!(
            "writing the spool file failed: {}",
            crate::error::io_message(&e)
        )
    })?;
    Ok((digests, total))
}

/// Where `restore` writes when `-o` is not given: the backup's file name without the
/// compression extension, in the current folder.
pub fn default_restore_path(name: &str, compression: Compression) -> PathBuf {
    let file = name.rsplit('/').next().unwrap_or(name);
    let file = compression
        .extension()
        .and_then(|ext| file.strip_suffix(ext))
        .filter(|f| !f.is_empty())
        .unwrap_or(file);
    Path::new(".").join(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudmirror_contract::{Checksum, ObjectMeta};

    fn meta(size: u64, checksum: Option<Checksum>) -> ObjectMeta {
        ObjectMeta {
            key: Key::parse("b.gz").unwrap(),
            size,
            modified: None,
            checksum,
        }
    }

    #[test]
    fn a_stored_copy_is_checked_against_the_spools_digests() {
        // Adapters report the provider's own checksum (Drive's md5Checksum, Dropbox's content
        // hash, S3's SHA-256); this is where it is compared with what was written.
        let digests = Digests::of(b"backup bytes");
        let key = Key::parse("b.gz").unwrap();
        let md5 = Checksum::Md5(digests.md5.clone());
        assert!(check_stored(&digests, &meta(12, Some(md5)), &key).is_ok());
        assert!(check_stored(&digests, &meta(12, None), &key).is_ok());
        let wrong = Checksum::Md5("0".repeat(32));
        let err = check_stored(&digests, &meta(12, Some(wrong)), &key).unwrap_err();
        assert!(err.contains("md5 checksum of b.gz"), "{err}");
        let err = check_stored(&digests, &meta(11, None), &key).unwrap_err();
        assert!(err.contains("stored 11 bytes"), "{err}");
    }
}
