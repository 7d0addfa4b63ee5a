//! What a backup reads: a file, a folder (as tar), standard input or a command's output.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::Error;

/// What to back up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file.
    File(PathBuf),
    /// Standard input (`-`).
    Stdin,
    /// A shell command whose standard output is the backup (`--exec`, `[backup] exec`). Its
    /// standard error is passed through; a non-zero exit fails the backup everywhere.
    Exec(String),
}

impl Source {
    /// Whether this source is a folder, stored as a tar archive.
    pub(crate) fn is_folder(&self) -> bool {
        matches!(self, Source::File(p) if p.is_dir())
    }

    /// The source's file name, for name templates (`None` for stdin).
    pub fn file_name(&self) -> Option<String> {
        match self {
            Source::File(p) => p.file_name().map(|n| {
                let name = n.to_string_lossy().into_owned();
                if p.is_dir() {
                    format!("{name}.tar")
                } else {
                    name
                }
            }),
            Source::Stdin => None,
            // The program's name only: the rest of a command line may hold credentials.
            Source::Exec(cmd) => cmd
                .split_whitespace()
                .next()
                .and_then(|prog| Path::new(prog).file_name())
                .map(|n| n.to_string_lossy().into_owned()),
        }
    }

    /// What the manifest records as the source (never a command line, which may hold secrets).
    pub fn manifest_label(&self) -> String {
        match self {
            Source::Exec(_) => format!("exec:{}", self.file_name().unwrap_or_default()),
            _ => self.file_name().unwrap_or_else(|| "stdin".into()),
        }
    }

    /// Checks the source is usable and opens it. Errors name the path.
    pub fn open(&self) -> Result<(Box<dyn Read + Send>, Option<u64>), Error> {
        self.open_with(None)
    }

    /// [`Source::open`] for a run that `cancel` may cancel: the reader fails once cancelled, and
    /// an `exec` command runs in its own process group, which cancelling kills.
    pub(crate) fn open_with(
        &self,
        cancel: Option<&crate::backup::cancel::Cancel>,
    ) -> Result<(Box<dyn Read + Send>, Option<u64>), Error> {
        let (reader, len) = self.open_source(cancel)?;
        Ok(match cancel {
            Some(c) => (Box::new(c.guard(reader)), len),
            None => (reader, len),
        })
    }

    fn open_source(
        &self,
        cancel: Option<&crate::backup::cancel::Cancel>,
    ) -> Result<(Box<dyn Read + Send>, Option<u64>), Error> {
        match self {
            Source::Stdin => Ok((Box::new(io::stdin()), None)),
            Source::Exec(cmd) => {
                let mut command = std::process::Command::new("sh");
                command
                    .arg("-c")
                    .arg(cmd)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::inherit());
                if cancel.is_some() {
                    // Its own process group, so cancelling kills whatever the shell started.
                    std::os::unix::process::CommandExt::process_group(&mut command, 0);
                }
                let child = command
                    .spawn()
                    .map_err(|e| Error::Input(format!("cannot start the --exec command: {e}")))?;
                if let Some(c) = cancel {
                    c.set_group(rustix::process::Pid::from_child(&child));
                }
                Ok((Box::new(ExecReader { child, done: false }), None))
            }
            Source::File(p) => {
                let meta = std::fs::metadata(p).map_err(|e| {
                    Error::Input(format!("cannot read source {}: {e}", p.display()))
                })?;
                if meta.is_dir() {
                    let empty = std::fs::read_dir(p)
                        .map_err(|e| {
                            Error::Input(format!("cannot read source {}: {e}", p.display()))
                        })?
                        .next()
                        .is_none();
                    if empty {
                        return Err(Error::Input(format!(
                            "source {} is an empty directory: nothing to back up",
                            p.display()
                        )));
                    }
                    // A folder is streamed as a tar archive (see `archive`).
                    let tar = crate::backup::archive::tar_folder(p).map_err(|e| {
                        Error::Input(format!("cannot archive source folder {}: {e}", p.display()))
                    })?;
                    return Ok((Box::new(tar), None));
                }
                if meta.is_file() && meta.len() == 0 {
                    return Err(Error::Input(format!("source {} is empty", p.display())));
                }
                let f = std::fs::File::open(p).map_err(|e| {
                    Error::Input(format!("cannot read source {}: {e}", p.display()))
                })?;
                Ok((Box::new(f), meta.is_file().then_some(meta.len())))
            }
        }
    }
}

/// The standard output of a running command; at its end, a non-zero exit status is a read error,
/// so the backup fails instead of storing a truncated dump.
struct ExecReader {
    child: std::process::Child,
    done: bool,
}

impl Read for ExecReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        let n = match self.child.stdout.as_mut() {
            Some(out) => out.read(buf)?,
            None => 0,
        };
        if n > 0 {
            return Ok(n);
        }
        self.done = true;
        drop(self.child.stdout.take());
        let status = self.child.wait()?;
        if status.success() {
            Ok(0)
        } else {
            Err(io::Error::other(format!(
                "the command exited with {status}"
            )))
        }
    }
}

impl Drop for ExecReader {
    fn drop(&mut self) {
        if !self.done {
            // The backup was abandoned (a spool error): do not leave the command running.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The source as messages name it.
pub(crate) fn describe(source: &Source) -> String {
    match source {
        Source::File(p) => p.display().to_string(),
        Source::Stdin => "standard input".into(),
        Source::Exec(_) => format!("command `{}`", source.file_name().unwrap_or_default()),
    }
}
