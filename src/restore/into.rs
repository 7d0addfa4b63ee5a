//! `restore --into COMMAND`: stream a backup, decompressed and verified, into a command's standard
//! input (`psql`, `pg_restore`, any loader), so that a corrupt copy never completes a restore.
//!
//! The command runs as `sh -c COMMAND` in its own process group, with its standard output and error
//! passed through. Every stored byte is hashed on the way; only when size and SHA-256 match the
//! manifest is the command's input closed, and then its exit status decides. On a mismatch, an
//! unreadable copy or an interruption, the whole process group is killed while its input is still
//! open, so a loader running in one transaction (`psql --single-transaction -v ON_ERROR_STOP=1`,
//! `pg_restore --single-transaction`) never reaches the end of its input and never commits.

use std::future::Future;
use std::io::{self, BufWriter, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};

use cloudmirror_contract::{ErrorKind, Key};
use futures::TryStreamExt;
use serde::Serialize;
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::backup::manifest::Manifest;
use crate::catalog::fetch_manifest;
use crate::destination::Destination;
use crate::restore::{check_digests, decode_hashed};
use crate::Error;

/// Where the command's standard output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommandStdout {
    /// Our standard output (the default).
    #[default]
    Inherit,
    /// Our standard error, so that standard output stays one JSON document (`--json`).
    Stderr,
}

/// What a `restore --into` did.
#[derive(Debug, Clone, Serialize)]
pub struct IntoReport {
    /// The backup's name.
    pub name: String,
    /// The destination it came from.
    pub destination: String,
    /// Stored (compressed) bytes downloaded and verified.
    pub stored_bytes: u64,
    /// Bytes written into the command after decompression.
    pub restored_bytes: u64,
    /// The command's program (never the whole command line, which may hold credentials).
    pub command: String,
    /// Destinations tried before, and why they were skipped.
    pub skipped: Vec<String>,
}

/// The program a command line starts, for messages: never the arguments, which may hold secrets.
pub fn program_of(command: &str) -> String {
    command
        .split_whitespace()
        .next()
        .and_then(|p| std::path::Path::new(p).file_name())
        .map_or_else(
            || "the command".to_owned(),
            |n| n.to_string_lossy().into_owned(),
        )
}

/// Streams `name` from the first of `candidates` that can serve it into `sh -c command`.
///
/// A destination without the backup (or whose download cannot start) is skipped before the
/// command starts. Once the command runs, any failure is final: the command is killed unless
/// every byte was verified, and the error says so. `cancel` (e.g. Ctrl-C) kills the command too.
pub async fn run(
    candidates: &[Destination],
    name: &Key,
    command: &str,
    stdout: CommandStdout,
    cancel: impl Future<Output = ()>,
) -> Result<IntoReport, Error> {
    let mut skipped = Vec::new();
    let program = program_of(command);
    tokio::pin!(cancel);
    for dest in candidates {
        let manifest = match fetch_manifest(dest, name).await {
            Ok(m) => m,
            Err(e) => {
                let why = if e.kind() == ErrorKind::NotFound {
                    format!("no backup named {name} (no manifest)")
                } else {
                    format!("cannot read the manifest: {e}")
                };
                tracing::warn!(destination = %dest.name, "cannot restore from here: {why}");
                skipped.push(format!("{}: {why}", dest.name));
                continue;
            }
        };
        let body = match dest.store.download(name).await {
            Ok(b) => b,
            Err(e) => {
                let why = format!("cannot download the backup: {e}");
                tracing::warn!(destination = %dest.name, "cannot restore from here: {why}");
                skipped.push(format!("{}: {why}", dest.name));
                continue;
            }
        };
        let reader = SyncIoBridge::new(StreamReader::new(body.map_err(io::Error::other)));
        let restored = stream_into(
            reader,
            &manifest,
            &dest.name,
            command,
            stdout,
            cancel.as_mut(),
        )
        .await?;
        return Ok(IntoReport {
            name: name.to_string(),
            destination: dest.name.clone(),
            stored_bytes: manifest.stored_size,
            restored_bytes: restored,
            command: program,
            skipped,
        });
    }
    Err(Error::Failed(format!(
        "no copy of {name} could be restored: {}",
        if skipped.is_empty() {
            "no destination selected".to_owned()
        } else {
            skipped.join("; ")
        }
    )))
}

/// How feeding the command ended.
enum Fed {
    /// Every stored byte was read, decompressed and written; the digests still need checking.
    All(u64, cloudmirror_contract::Digests),
    /// The command stopped reading (closed its input or exited) after this many bytes.
    CommandStopped(u64, io::Error),
    /// The stored bytes could not be read or decompressed.
    Unreadable(io::Error),
}

/// Streams one copy into the command. The command's input stays open until the verdict.
async fn stream_into(
    reader: impl io::Read + Send + 'static,
    manifest: &Manifest,
    dest: &str,
    command: &str,
    stdout: CommandStdout,
    cancel: std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Result<u64, Error> {
    let program = program_of(command);
    let mut child = spawn(command, stdout)
        .map_err(|e| Error::Input(format!("cannot start the --into command ({program}): {e}")))?;
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| Error::Failed("the --into command has no standard input".into()))?;
    let compression = manifest.compression;
    let encrypted = manifest.encrypted;
    let feeding = tokio::task::spawn_blocking(move || feed(reader, stdin, compression, encrypted));
    tokio::pin!(feeding);
    let joined = tokio::select! {
        joined = &mut feeding => joined,
        () = cancel => {
            kill_group(&child);
            let status = wait(child).await;
            // The command is dead, so its input can be dropped safely now.
            let _ = feeding.await;
            return Err(Error::Failed(format!(
                "interrupted: {program} was killed before its input ended ({}); nothing was committed \
                 if it runs in a single transaction",
                describe(status.as_ref())
            )));
        }
    };
    let (fed, stdin) = match joined {
        Ok(x) => x,
        Err(e) => {
            kill_group(&child);
            let _ = wait(child).await;
            return Err(Error::Failed(format!("restore task failed: {e}")));
        }
    };
    match fed {
        Fed::All(restored, digests) => {
            if let Err(why) = check_digests(&digests, manifest, dest) {
                return Err(kill_and_explain(child, stdin, &why, &program).await);
            }
            drop(stdin);
            match wait(child).await {
                Ok(status) if status.success() => Ok(restored),
                status => Err(Error::Failed(format!(
                    "the backup was verified and streamed in full, but {program} failed ({})",
                    describe(status.as_ref())
                ))),
            }
        }
        Fed::Unreadable(e) => {
            let why = format!("the copy on {dest} is unreadable or corrupt: {e}");
            Err(kill_and_explain(child, stdin, &why, &program).await)
        }
        Fed::CommandStopped(written, e) => {
            drop(stdin);
            let status = wait(child).await;
            Err(Error::Failed(format!(
                "{program} stopped reading its input after {written} bytes ({e}) and {}; the restore \
                 is incomplete",
                match &status {
                    Ok(s) => format!("ended ({s})"),
                    Err(e) => format!("could not be waited for: {e}"),
                }
            )))
        }
    }
}

/// Kills the command while its input is still open (a single-transaction loader never sees its
/// end), then closes the input; the error says why and that nothing was committed.
async fn kill_and_explain(child: Child, stdin: ChildStdin, why: &str, program: &str) -> Error {
    kill_group(&child);
    let status = wait(child).await;
    drop(stdin);
    Error::Failed(format!(
        "{why}; {program} was killed before its input ended ({}), so nothing was committed if it \
         runs in a single transaction",
        describe(status.as_ref())
    ))
}

/// Starts `sh -c command` in its own process group (so it can be killed with its children).
fn spawn(command: &str, stdout: CommandStdout) -> io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let out = match stdout {
        CommandStdout::Inherit => Stdio::inherit(),
        CommandStdout::Stderr => {
            use std::os::fd::AsFd;
            Stdio::from(io::stderr().as_fd().try_clone_to_owned()?)
        }
    };
    Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(out)
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
}

/// Decompresses into the command's input; returns the input unclosed, whatever happened.
fn feed(
    reader: impl io::Read,
    stdin: ChildStdin,
    compression: crate::backup::compress::Compression,
    encrypted: bool,
) -> (Fed, ChildStdin) {
    // Counted below the buffer: what the command was handed, not what waits in our buffer.
    let mut sink = BufWriter::with_capacity(
        256 * 1024,
        CountingWriter {
            inner: stdin,
            written: 0,
            failed: None,
        },
    );
    let decoded = decode_hashed(reader, compression, encrypted, &mut sink);
    let flushed = if decoded.is_ok() {
        sink.flush()
    } else {
        Ok(())
    };
    // A write error leaves unwritten bytes in the buffer; they are dropped with it, not written.
    let (mut counting, _unwritten) = sink.into_parts();
    let written = counting.written;
    let failed = counting.failed.take();
    let stdin = counting.inner;
    let fed = match (decoded, flushed, failed) {
        (_, _, Some(e)) | (Ok(_), Err(e), None) => Fed::CommandStopped(written, e),
        (Err(e), _, None) => Fed::Unreadable(e),
        (Ok((restored, digests)), Ok(()), None) => Fed::All(restored, digests),
    };
    (fed, stdin)
}

/// Counts the bytes the command accepted and remembers a failed write (the command went away).
struct CountingWriter<W> {
    inner: W,
    written: u64,
    failed: Option<io::Error>,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.inner.write(buf) {
            Ok(n) => {
                self.written += n as u64;
                Ok(n)
            }
            Err(e) => Err(self.remember(e)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().map_err(|e| self.remember(e))
    }
}

impl<W> CountingWriter<W> {
    fn remember(&mut self, e: io::Error) -> io::Error {
        let copy = io::Error::new(e.kind(), e.to_string());
        self.failed.get_or_insert(e);
        copy
    }
}

/// Kills the command's whole process group (the shell and whatever it started).
fn kill_group(child: &Child) {
    let pid = rustix::process::Pid::from_child(child);
    if let Err(e) = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL) {
        // Already gone (ESRCH) is fine; anything else is worth a line in the log.
        if e != rustix::io::Errno::SRCH {
            tracing::warn!("cannot kill the --into command's process group: {e}");
        }
    }
}

/// Waits for the command without blocking the runtime.
async fn wait(mut child: Child) -> io::Result<ExitStatus> {
    tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
}

fn describe(status: Result<&ExitStatus, &io::Error>) -> String {
    match status {
        Ok(s) => s.to_string(),
        Err(e) => format!("could not be waited for: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_program_never_the_arguments() {
        assert_eq!(
            program_of("/usr/bin/psql --single-transaction postgresql://u:secret@h/db"),
            "psql"
        );
        assert_eq!(program_of("  pg_restore -d x"), "pg_restore");
        assert_eq!(program_of(""), "the command");
    }
}
