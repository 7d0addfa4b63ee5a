//! Folder backups: a directory source is streamed as a tar archive (then compressed like any other
//! source), and restoring one extracts it into a new folder, refusing any entry that would land
//! outside it (absolute paths, `..`, links pointing outside, devices).

use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::thread::JoinHandle;

/// The manifest's `archive` value for folder backups.
pub(crate) const TAR: &str = "tar";

/// A tar archive of a folder, produced on a thread while it is read. An error while archiving
/// (an unreadable file) surfaces as a read error at the end, so the backup fails instead of
/// storing a partial archive.
#[derive(Debug)]
pub(crate) struct TarReader {
    pipe: io::PipeReader,
    thread: Option<JoinHandle<io::Result<()>>>,
}

/// Starts archiving `dir` (symbolic links are stored as links, not followed).
pub(crate) fn tar_folder(dir: &Path) -> io::Result<TarReader> {
    let (pipe, writer) = io::pipe()?;
    let dir = dir.to_path_buf();
    let thread = std::thread::spawn(move || {
        let mut builder = tar::Builder::new(io::BufWriter::with_capacity(256 * 1024, writer));
        builder.follow_symlinks(false);
        builder.append_dir_all(".", &dir)?;
        builder.into_inner()?.flush()
    });
    Ok(TarReader {
        pipe,
        thread: Some(thread),
    })
}

impl Read for TarReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.pipe.read(buf)?;
        if n == 0 {
            if let Some(t) = self.thread.take() {
                t.join()
                    .map_err(|_| io::Error::other("the archiving thread panicked"))?
                    .map_err(|e| {
                        io::Error::new(e.kind(), format!("archiving the folder failed: {e}"))
                    })?;
            }
        }
        Ok(n)
    }
}

/// Extracts a tar stream written into it into a staging folder beside `target`; [`Extractor::finish`]
/// moves it into place only when the caller has verified the backup's checksum.
#[derive(Debug)]
pub(crate) struct Extractor {
    writer: Option<io::PipeWriter>,
    thread: Option<JoinHandle<io::Result<u64>>>,
    staging: Option<tempfile::TempDir>,
    target: PathBuf,
}

/// Prepares extraction into `target`: a new folder, or an existing one whose entries the archive
/// replaces where names clash (the command line refuses a non-empty folder unless `--force`).
pub(crate) fn extract_into(target: &Path) -> io::Result<Extractor> {
    if target.exists() && !target.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} already exists and is not a folder; a folder backup is restored into a folder",
                target.display()
            ),
        ));
    }
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let staging = tempfile::Builder::new()
        .prefix(".cloudmirror-extract-")
        .tempdir_in(&parent)?;
    let root = staging.path().to_path_buf();
    let (reader, writer) = io::pipe()?;
    let thread = std::thread::spawn(move || unpack_checked(reader, &root));
    Ok(Extractor {
        writer: Some(writer),
        thread: Some(thread),
        staging: Some(staging),
        target: target.to_path_buf(),
    })
}

impl Write for Extractor {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.writer {
            Some(w) => w.write(buf).map_err(|e| {
                if e.kind() == io::ErrorKind::BrokenPipe {
                    io::Error::other("the archive was refused (see the next error)")
                } else {
                    e
                }
            }),
            None => Err(io::Error::other("the extractor is closed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.as_mut().map_or(Ok(()), Write::flush)
    }
}

impl Extractor {
    /// Ends the stream and waits for extraction; returns the number of entries.
    pub(crate) fn close(&mut self) -> io::Result<u64> {
        drop(self.writer.take());
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| io::Error::other("the extraction thread panicked"))?,
            None => Ok(0),
        }
    }

    /// Moves the extracted folder into place (call only after the checksum matched).
    pub(crate) fn commit(mut self) -> io::Result<()> {
        self.close()?;
        let staging = self
            .staging
            .take()
            .ok_or_else(|| io::Error::other("nothing extracted"))?;
        if !self.target.is_dir() {
            let path = staging.keep();
            return std::fs::rename(&path, &self.target);
        }
        // An existing folder: move each top-level entry in, replacing what has its name.
        for entry in std::fs::read_dir(staging.path())? {
            let entry = entry?;
            let to = self.target.join(entry.file_name());
            match std::fs::symlink_metadata(&to) {
                Ok(m) if m.is_dir() => std::fs::remove_dir_all(&to)?,
                Ok(_) => std::fs::remove_file(&to)?,
                Err(_) => {}
            }
            std::fs::rename(entry.path(), &to)?;
        }
        Ok(())
    }
}

/// Unpacks a tar stream under `root`, refusing entries that would escape it.
fn unpack_checked(reader: impl Read, root: &Path) -> io::Result<u64> {
    let mut archive = tar::Archive::new(reader);
    archive.set_overwrite(true);
    let mut count = 0;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        check_relative(&path, &path)?;
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let link = entry
                .link_name()?
                .ok_or_else(|| refuse(&path, "a link without a target"))?
                .into_owned();
            if kind.is_hard_link() {
                check_relative(&link, &path)?;
            } else {
                let base = path.parent().unwrap_or(Path::new(""));
                check_relative(&base.join(&link), &path)?;
            }
        } else if !(kind.is_file()
            || kind.is_dir()
            || kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink())
        {
            return Err(refuse(
                &path,
                "devices, fifos and other special files are not restored",
            ));
        }
        if !entry.unpack_in(root)? {
            return Err(refuse(
                &path,
                "it would be written outside the target folder",
            ));
        }
        count += 1;
    }
    Ok(count)
}

/// Fails unless `p` stays inside the root: relative, and never climbing above it.
fn check_relative(p: &Path, entry: &Path) -> io::Result<()> {
    let mut depth: i64 = 0;
    for c in p.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => {
                return Err(refuse(entry, "absolute paths are not allowed"));
            }
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return Err(refuse(entry, "it points outside the target folder ('..')"));
                }
            }
            Component::CurDir => {}
            Component::Normal(_) => depth += 1,
        }
    }
    Ok(())
}

fn refuse(entry: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("refusing archive entry {}: {why}", entry.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive_of(dir: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        tar_folder(dir).unwrap().read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn folder_round_trip() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("a/b")).unwrap();
        std::fs::write(src.path().join("a/b/c.txt"), "deep").unwrap();
        std::fs::write(src.path().join("top é.bin"), vec![7u8; 100_000]).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("a/b/c.txt", src.path().join("link")).unwrap();
        let bytes = archive_of(src.path());
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("restored");
        let mut x = extract_into(&target).unwrap();
        x.write_all(&bytes).unwrap();
        x.commit().unwrap();
        assert_eq!(
            std::fs::read_to_string(target.join("a/b/c.txt")).unwrap(),
            "deep"
        );
        assert_eq!(
            std::fs::read(target.join("top é.bin")).unwrap().len(),
            100_000
        );
        #[cfg(unix)]
        assert_eq!(
            std::fs::read_link(target.join("link")).unwrap(),
            Path::new("a/b/c.txt")
        );
    }

    fn crafted(path: &str, link: Option<&str>) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        if let Some(target) = link {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            h.set_link_name(target).unwrap();
        } else {
            h.set_size(4);
        }
        h.set_mode(0o644);
        // Write the raw name: the builder's own checks would refuse '..'.
        let name = path.as_bytes();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        let data: &[u8] = if link.is_some() { b"" } else { b"evil" };
        b.append(&h, data).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn refuses_entries_that_escape() {
        for (path, link) in [
            ("../evil.txt", None),
            ("a/../../evil.txt", None),
            ("/etc/evil", None),
            ("ok-link", Some("../../outside")),
            ("abs-link", Some("/etc/passwd")),
        ] {
            let out = tempfile::tempdir().unwrap();
            let target = out.path().join("restored");
            let mut x = extract_into(&target).unwrap();
            let _ = x.write_all(&crafted(path, link));
            let err = x.close().unwrap_err();
            assert!(
                err.to_string().contains("refusing archive entry"),
                "{path}: {err}"
            );
            assert!(
                !out.path().join("evil.txt").exists() && !target.exists(),
                "{path}"
            );
        }
    }

    #[test]
    fn an_existing_file_is_refused_and_an_existing_folder_receives_the_entries() {
        let out = tempfile::tempdir().unwrap();
        let file = out.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(extract_into(&file).is_err());

        let folder = out.path().join("folder");
        std::fs::create_dir_all(folder.join("a.txt")).unwrap(); // a clash: a folder named a.txt
        std::fs::write(folder.join("kept.txt"), b"mine").unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "a.txt", &b"new"[..]).unwrap();
        let mut x = extract_into(&folder).unwrap();
        x.write_all(&b.into_inner().unwrap()).unwrap();
        x.commit().unwrap();
        assert_eq!(std::fs::read(folder.join("a.txt")).unwrap(), b"new");
        assert_eq!(std::fs::read(folder.join("kept.txt")).unwrap(), b"mine");
        let leftovers: Vec<_> = std::fs::read_dir(out.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".cloudmirror"))
            .collect();
        assert!(leftovers.is_empty(), "staging folder removed");
    }
}
