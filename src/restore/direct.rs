//! The restored file, written around the page cache where the filesystem allows it.
//!
//! A restore writes a large file once and syncs it at the end. Through the page cache every byte
//! is first copied into freshly allocated cache pages, which on this project's machines costs more
//! CPU than inflating it and varies threefold from run to run (`docs/benchmarks.md`); with
//! `O_DIRECT` the disk reads straight from the restore's buffers. Direct writes need the buffer,
//! its length and the file offset aligned to the device's block: [`ALIGN`] covers every common
//! one. Whatever does not fit (the last partial block, a filesystem that refuses `O_DIRECT`, a
//! short write that left the offset unaligned) is written the ordinary way; the bytes in the file
//! are the same either way, and the caller's `sync_all` makes them durable in both.

use std::fs::File;
use std::io::{self, Write};

/// Alignment of direct writes: buffer address, length and file offset (4 KiB covers 512-byte and
/// 4 KiB sector devices alike).
pub const ALIGN: usize = 4096;

/// Bytes to skip from `ptr` (the start of a buffer's allocation) to its first [`ALIGN`]ed
/// address: where a buffer meant for direct writes puts its data.
pub fn align_pad(ptr: *const u8) -> usize {
    ptr.align_offset(ALIGN).min(ALIGN)
}

/// A file written with `O_DIRECT` while the writes allow it, buffered from then on.
#[derive(Debug)]
pub struct DirectFile {
    file: File,
    /// Bytes written so far (the file offset: the file is new and written in order).
    written: u64,
    /// `O_DIRECT` is on.
    direct: bool,
}

impl DirectFile {
    /// Wraps a new, empty `file`, turning `O_DIRECT` on when its filesystem supports it.
    pub fn new(file: File) -> Self {
        let direct = set_direct(&file, true).is_ok();
        Self {
            file,
            written: 0,
            direct,
        }
    }

    /// Whether writes currently bypass the page cache.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// Turns `O_DIRECT` off for the rest of the file.
    fn buffered(&mut self) -> io::Result<()> {
        if self.direct {
            set_direct(&self.file, false)?;
            self.direct = false;
        }
        Ok(())
    }

    /// The longest prefix of `buf` that can be written directly now (0: none).
    fn direct_len(&self, buf: &[u8]) -> usize {
        let aligned = buf.as_ptr().addr().is_multiple_of(ALIGN)
            && self.written.is_multiple_of(ALIGN as u64)
            && self.direct;
        if aligned {
            buf.len() / ALIGN * ALIGN
        } else {
            0
        }
    }
}

impl Write for DirectFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let len = self.direct_len(buf);
        if len > 0 {
            match self.file.write(&buf[..len]) {
                Ok(n) => {
                    self.written += n as u64;
                    return Ok(n);
                }
                // The filesystem or device wants another alignment: write the ordinary way.
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {}
                Err(e) => return Err(e),
            }
        }
        self.buffered()?;
        let n = self.file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(target_os = "linux")]
fn set_direct(file: &File, on: bool) -> io::Result<()> {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    let flags = fcntl_getfl(file)?;
    let flags = if on {
        flags | OFlags::DIRECT
    } else {
        flags - OFlags::DIRECT
    };
    Ok(fcntl_setfl(file, flags)?)
}

#[cfg(not(target_os = "linux"))]
fn set_direct(_file: &File, on: bool) -> io::Result<()> {
    if on {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `len` bytes of a pattern starting at an [`ALIGN`]ed address (`Vec` alone does not promise
    /// one), as the restore's writer hands them over.
    fn aligned(len: usize) -> (Vec<u8>, usize) {
        let mut buf: Vec<u8> = Vec::with_capacity(len + ALIGN);
        let start = align_pad(buf.as_ptr());
        buf.resize(start, 0);
        buf.extend((0..len).map(|i| (i * 7 % 253) as u8));
        (buf, start)
    }

    #[test]
    fn every_byte_lands_whatever_the_sizes() {
        let dir = tempfile::tempdir().unwrap();
        for sizes in [
            &[1 << 20, 1 << 20, 12_345][..],
            &[ALIGN, 1, ALIGN, 3 * ALIGN],
            &[0, 7],
            &[],
        ] {
            let path = dir.path().join("out");
            let mut file = DirectFile::new(File::create(&path).unwrap());
            let mut expected = Vec::new();
            for &size in sizes {
                let (buf, start) = aligned(size);
                file.write_all(&buf[start..]).unwrap();
                expected.extend_from_slice(&buf[start..]);
            }
            file.flush().unwrap();
            drop(file);
            assert!(std::fs::read(&path).unwrap() == expected, "{sizes:?}");
        }
    }

    #[test]
    fn aligned_writes_go_direct_until_the_first_partial_block() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = DirectFile::new(File::create(dir.path().join("out")).unwrap());
        if !file.is_direct() {
            // tmpfs before Linux 6.6 and some others refuse O_DIRECT: nothing to see here.
            eprintln!("O_DIRECT unsupported in {}", dir.path().display());
            return;
        }
        let (buf, start) = aligned(4 * ALIGN);
        file.write_all(&buf[start..]).unwrap();
        assert!(file.is_direct(), "whole aligned blocks stay direct");
        file.write_all(&buf[start..start + 10]).unwrap();
        assert!(!file.is_direct(), "a partial block is written buffered");
    }
}
