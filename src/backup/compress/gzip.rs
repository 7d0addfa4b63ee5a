//! Parallel gzip: the input split into [`GZIP_BLOCK`]-byte blocks, each deflated by libdeflate as
//! an independent gzip member on every core, the members written in order.
//!
//! The stream is plain multi-member gzip (RFC 1952): `gunzip`, `zcat`, `pigz -d` and older
//! cloudmirror (`MultiGzDecoder`) read it whole. Each member's header carries one extra subfield
//! (RFC 1952 §2.3.1.1, `FEXTRA`), `CM`, holding the member's total length, so that restore can hand
//! whole members to its own threads without inflating them first (the idea of BGZF's `BC`
//! subfield, SAM/BAM specification §4.1). Decoders that do not know it skip it, as RFC 1952
//! requires. The output depends only on the input, the level and [`GZIP_BLOCK`], never on the
//! number of threads or on how the input was split into writes.
//!
//! `[backup] level` 0-9 keeps zlib's meaning (0 stores, 1 fastest, 6 the default, 9 smallest) and
//! maps to libdeflate's levels with [`libdeflate_level`]: from the default up, libdeflate one level
//! lower already stores less than zlib at the level asked for on database exports, in less time.

use std::io::{self, Write};

use libdeflater::{CompressionLvl, Compressor};

use super::pool::{BlockWork, CopyInto, OrderedBlocks};

/// Source bytes per gzip member. 1 MiB keeps the ratio within about 0.1 % of one single stream
/// (each member restarts with an empty 32 KiB window) while leaving enough blocks to share out.
pub const GZIP_BLOCK: usize = 1024 * 1024;

/// libdeflate's level for `[backup] level` `level` (0-9): 0-5 are libdeflate's own, 6, 7 and 8
/// are libdeflate 5, 6 and 7, 9 is libdeflate 9 (the smallest). Measured on the benchmark's JSON
/// export (`docs/benchmarks.md`, "Level mapping"), each stores no more than zlib (`gzip -n`,
/// `pigz -n`) at the same level, and libdeflate 6, 7 and 8 would cost 1.2x, 1.4x and 2x the time
/// for 0.6, 0.1 and 0.3 points; on executables and source code level 6 stores up to 1 % more than
/// `gzip -6`. Before 2026-12-06 level n was libdeflate n; both read back the same.
pub fn libdeflate_level(level: u32) -> u32 {
    match level {
        6..=8 => level - 1,
        other => other,
    }
}

/// Length of the member header this encoder writes: the 10 fixed bytes, `XLEN`, and the `CM`
/// subfield (2 id bytes, 2 length bytes, a little-endian `u32` member length).
pub const MEMBER_HEADER: usize = 20;
/// Length of a gzip member's trailer (CRC-32, ISIZE), RFC 1952 §2.3.1.
pub const MEMBER_TRAILER: usize = 8;
/// The subfield id (SI1, SI2) of the member-length subfield.
const SUBFIELD_ID: [u8; 2] = *b"CM";
/// `FLG.FEXTRA`, RFC 1952 §2.3.1.
const FEXTRA: u8 = 0x04;
/// OS = 255 ("unknown"), as before: the output must not depend on the machine.
const OS_UNKNOWN: u8 = 255;

/// The member length recorded in a header this encoder wrote, or `None` when `header` is not one
/// (another tool's member, or not gzip at all). Does not check the length against anything.
pub fn member_length(header: &[u8; MEMBER_HEADER]) -> Option<usize> {
    let fixed = header[0] == 0x1f && header[1] == 0x8b && header[2] == 8 && header[3] == FEXTRA;
    // XLEN = 8: exactly one subfield, `CM` with 4 bytes of data.
    let extra =
        header[10..12] == [8, 0] && header[12..14] == SUBFIELD_ID && header[14..16] == [4, 0];
    (fixed && extra)
        .then(|| u32::from_le_bytes([header[16], header[17], header[18], header[19]]) as usize)
}

/// Room for a member of `len` source bytes in the worst case (libdeflate's stored-block bound is
/// 5 bytes per 64 KiB block, well under this), plus header and trailer.
pub fn member_capacity(len: usize) -> usize {
    len + len / 4096 + len / 16384 + 64 + MEMBER_HEADER + MEMBER_TRAILER
}

/// A gzip encoder that splits its input into [`GZIP_BLOCK`]-byte blocks, deflates each as an
/// independent gzip member on a small thread pool and writes the members in order.
///
/// With one thread it compresses inline (same output). Dropping it without [`finish`] writes
/// nothing more and stops its threads.
///
/// [`finish`]: ParallelGzEncoder::finish
pub struct ParallelGzEncoder<W: Write> {
    inner: W,
    level: u32,
    block_size: usize,
    block: Vec<u8>,
    blocks: OrderedBlocks,
}

impl<W: Write> std::fmt::Debug for ParallelGzEncoder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParallelGzEncoder")
            .field("level", &self.level)
            .field("block_size", &self.block_size)
            .field("blocks", &self.blocks)
            .finish_non_exhaustive()
    }
}

impl<W: Write> ParallelGzEncoder<W> {
    /// An encoder at gzip `level` (0-9) on `threads` threads (1: inline, no thread started).
    pub fn new(inner: W, level: u32, threads: usize) -> Self {
        Self::with_block_size(inner, level, threads, GZIP_BLOCK)
    }

    /// Like [`ParallelGzEncoder::new`] with another block size (tests use small ones).
    pub fn with_block_size(inner: W, level: u32, threads: usize, block_size: usize) -> Self {
        let block_size = block_size.max(1);
        // Two blocks per thread: the workers keep busy while the next block is read.
        let blocks =
            OrderedBlocks::new(threads, 2 * threads, "gzip", || MemberDeflater::new(level));
        Self {
            inner,
            level,
            block_size,
            block: Vec::with_capacity(block_size),
            blocks,
        }
    }

    /// The writer it writes into.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Compresses what is buffered, writes every remaining member (an empty member when the input
    /// was empty, so the output is always valid gzip) and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.block.is_empty() || self.blocks.submitted() == 0 {
            self.submit()?;
        }
        self.blocks.finish(&mut CopyInto(&mut self.inner))?;
        self.inner.flush()?;
        // Dropping the pipeline stops its (idle) threads.
        let Self { inner, .. } = self;
        Ok(inner)
    }

    fn submit(&mut self) -> io::Result<()> {
        let mut next = self.blocks.buffer();
        next.reserve(self.block_size);
        let data = std::mem::replace(&mut self.block, next);
        self.blocks.submit(data, &mut CopyInto(&mut self.inner))
    }
}

impl<W: Write> Write for ParallelGzEncoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let take = buf.len().min(self.block_size - self.block.len());
        self.block.extend_from_slice(&buf[..take]);
        if self.block.len() == self.block_size {
            self.submit()?;
        }
        Ok(take)
    }

    /// Flushes the inner writer. The partial block stays buffered, so the output does not depend
    /// on when flushes happen.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// One thread's libdeflate compressors: the configured level, level 0 for incompressible
/// blocks, level 1 for the incompressibility probe.
struct MemberDeflater {
    level: u32,
    main: Option<Compressor>,
    stored: Option<Compressor>,
    probe: Option<Compressor>,
}

impl MemberDeflater {
    fn new(level: u32) -> Self {
        Self {
            level,
            main: None,
            stored: None,
            probe: None,
        }
    }
}

impl BlockWork for MemberDeflater {
    fn run(&mut self, _seq: u64, input: &[u8], out: &mut Vec<u8>) -> io::Result<usize> {
        let level = if self.level > 0 && incompressible(compressor(&mut self.probe, 1)?, input) {
            0
        } else {
            self.level
        };
        let deflater = if level == 0 {
            compressor(&mut self.stored, 0)?
        } else {
            compressor(&mut self.main, libdeflate_level(level))?
        };
        gzip_member(deflater, input, out, level)?;
        Ok(0)
    }
}

/// The compressor in `slot`, created at `level` on first use.
fn compressor(slot: &mut Option<Compressor>, level: u32) -> io::Result<&mut Compressor> {
    if slot.is_none() {
        let lvl = i32::try_from(level)
            .ok()
            .and_then(|l| CompressionLvl::new(l).ok())
            .ok_or_else(|| io::Error::other(format!("gzip level {level} is not 0-9")))?;
        *slot = Some(Compressor::new(lvl));
    }
    slot.as_mut()
        .ok_or_else(|| io::Error::other("no compressor"))
}

/// Writes one complete gzip member holding `data` into `out` (emptied first): the header with
/// the member-length subfield, the deflate stream, CRC-32 and ISIZE.
fn gzip_member(
    deflater: &mut Compressor,
    data: &[u8],
    out: &mut Vec<u8>,
    level: u32,
) -> io::Result<()> {
    // XFL (RFC 1952 §2.3.1): 2 = slowest, best compression; 4 = fastest.
    let xfl = match level {
        9 => 2,
        1 => 4,
        _ => 0,
    };
    out.clear();
    out.extend_from_slice(&[0x1f, 0x8b, 8, FEXTRA, 0, 0, 0, 0, xfl, OS_UNKNOWN, 8, 0]);
    out.extend_from_slice(&SUBFIELD_ID);
    out.extend_from_slice(&[4, 0, 0, 0, 0, 0]);
    let bound = deflater.deflate_compress_bound(data.len());
    out.resize(MEMBER_HEADER + bound, 0);
    let n = deflater
        .deflate_compress(data, &mut out[MEMBER_HEADER..])
        .map_err(|e| io::Error::other(format!("deflate: {e}")))?;
    out.truncate(MEMBER_HEADER + n);
    out.extend_from_slice(&libdeflater::crc32(data).to_le_bytes());
    // ISIZE is the length modulo 2^32 (RFC 1952); blocks are far smaller.
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    let len = u32::try_from(out.len()).map_err(|_| io::Error::other("a gzip member over 4 GiB"))?;
    out[16..20].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

/// Bytes of each sample [`incompressible`] deflates.
pub(super) const PROBE: usize = 16 * 1024;

/// Whether deflate would not shrink `data`: three samples (start, middle, end) each keep at least
/// 99 % of their size at level 1. Compressible data stops at the first sample, so this costs
/// about 1.5 % of the block's size at the fastest level. Blocks under four samples are never
/// called incompressible. Depends only on `data`, so the output stays deterministic.
pub(super) fn incompressible(probe: &mut Compressor, data: &[u8]) -> bool {
    if data.len() < 4 * PROBE {
        return false;
    }
    let starts = [0, data.len() / 2 - PROBE / 2, data.len() - PROBE];
    let mut out = vec![0; probe.deflate_compress_bound(PROBE)];
    starts.iter().all(|&at| {
        let sample = &data[at..at + PROBE];
        match probe.deflate_compress(sample, &mut out) {
            Ok(n) => n * 100 >= sample.len() * 99,
            // No room even at the bound: it grew, incompressible too.
            Err(_) => true,
        }
    })
}
