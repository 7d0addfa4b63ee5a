//! Compression of the stored bytes: parallel gzip (independent gzip members of fixed-size blocks,
//! deflated by libdeflate on all cores and written in order, [`gzip`]), multithreaded zstd, or
//! none; level validation.
//!
//! Memory is bounded: at most `2 × threads` blocks (input plus compressed output) are in flight
//! ([`pool`]), plus the block being filled.

pub mod gzip;
pub(crate) mod pool;
#[cfg(test)]
mod tests;

use std::io::{self, Write};

use cloudmirror_contract::Digests;

use crate::backup::spool::SpoolWriter;

pub use gzip::{ParallelGzEncoder, GZIP_BLOCK};

/// The level used when `[backup] level` is not set.
pub fn default_level(compression: Compression) -> u32 {
    match compression {
        Compression::Gzip => 6,
        Compression::Zstd => 3,
        Compression::None => 0,
    }
}

/// The levels `compression` accepts, inclusive.
pub fn level_range(compression: Compression) -> (u32, u32) {
    match compression {
        Compression::Gzip => (0, 9),
        // 20-22 are zstd's "ultra" levels: windows up to 128 MiB, so far more memory.
        Compression::Zstd => (1, 22),
        Compression::None => (0, u32::MAX),
    }
}

/// Resolves `[backup] level` for `compression`: the default when unset, an error naming the field
/// and the accepted range when out of range.
pub fn resolve_level(compression: Compression, level: Option<u32>) -> Result<u32, String> {
    let Some(level) = level else {
        return Ok(default_level(compression));
    };
    let (lo, hi) = level_range(compression);
    if (lo..=hi).contains(&level) {
        Ok(level)
    } else {
        Err(format!(
            "backup.level must be {lo}-{hi} for compress = \"{}\" (got {level})",
            compression.as_str()
        ))
    }
}

/// Compression threads to use: every core the process may run on.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// A compressor writing into the spool, finished or aborted as a whole.
pub trait SpoolEncoder: Write + Send {
    /// Writes whatever is buffered and the stream's end, then finishes the spool.
    fn finish_all(self: Box<Self>) -> io::Result<Digests>;
    /// Marks the spool failed (readers end with `message`) without writing anything more.
    fn abort(&mut self, message: &str);
}

/// The compressor for `compression` at `level` on `threads` threads, writing into `spool`.
/// `level` must already be valid ([`resolve_level`]).
pub fn spool_encoder(
    compression: Compression,
    level: u32,
    threads: usize,
    spool: SpoolWriter,
) -> io::Result<Box<dyn SpoolEncoder>> {
    Ok(match compression {
        Compression::Gzip => Box::new(ParallelGzEncoder::new(spool, level, threads)),
        Compression::Zstd => {
            let level = i32::try_from(level).map_err(io::Error::other)?;
            let mut enc = zstd::stream::write::Encoder::new(spool, level)?;
            enc.include_checksum(true)?;
            if threads > 1 {
                enc.multithread(threads as u32)?;
            }
            Box::new(enc)
        }
        Compression::None => Box::new(Plain(Some(spool))),
    })
}

impl SpoolEncoder for ParallelGzEncoder<SpoolWriter> {
    fn finish_all(self: Box<Self>) -> io::Result<Digests> {
        (*self).finish()?.finish()
    }
    fn abort(&mut self, message: &str) {
        self.get_mut().abort_in_place(message);
    }
}

impl SpoolEncoder for zstd::stream::write::Encoder<'static, SpoolWriter> {
    fn finish_all(self: Box<Self>) -> io::Result<Digests> {
        (*self).finish()?.finish()
    }
    fn abort(&mut self, message: &str) {
        // The zstd encoder writes nothing on drop; marking the spool is enough.
        self.get_mut().abort_in_place(message);
    }
}

/// Stored as is.
struct Plain(Option<SpoolWriter>);

impl Write for Plain {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.0 {
            Some(w) => w.write(buf),
            None => Err(io::Error::other("spool closed")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.as_mut().map_or(Ok(()), Write::flush)
    }
}

impl SpoolEncoder for Plain {
    fn finish_all(mut self: Box<Self>) -> io::Result<Digests> {
        self.0
            .take()
            .ok_or_else(|| io::Error::other("spool closed"))?
            .finish()
    }
    fn abort(&mut self, message: &str) {
        if let Some(w) = self.0.take() {
            w.fail(message);
        }
    }
}

/// How stored bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// gzip (the default), compressed in parallel as independent members; restores read
    /// multi-member streams.
    #[default]
    Gzip,
    /// zstd (multithreaded), `.zst`.
    Zstd,
    /// Stored as is.
    None,
}

impl Compression {
    /// The manifest's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::None => "none",
        }
    }

    /// The file extension it adds (with the dot), if any.
    pub(crate) fn extension(self) -> Option<&'static str> {
        match self {
            Compression::Gzip => Some(".gz"),
            Compression::Zstd => Some(".zst"),
            Compression::None => None,
        }
    }

    /// A guess from a backup's name (by its extension), for when no manifest is at hand.
    pub fn guess_from_name(name: &str) -> Compression {
        let ext = std::path::Path::new(name)
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("gz") => Compression::Gzip,
            Some("zst") => Compression::Zstd,
            _ => Compression::None,
        }
    }
}
