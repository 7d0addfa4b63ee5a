//! Gzip decoding for restore: members that cloudmirror wrote (their header records their length,
//! see [`crate::backup::compress::gzip`]) are inflated whole by libdeflate on every core and
//! written in order; anything else (another tool's gzip, a backup from before libdeflate, or
//! whatever follows the last recognised member) goes through the streaming `MultiGzDecoder`.
//!
//! Memory stays bounded: at most [`in_flight`]`(threads)` members are in flight, each inflated
//! member goes to the output without a copy ([`OutputSink::put_owned`]), and a recorded member
//! length or size over [`MAX_MEMBER_SOURCE`] is refused before anything is allocated. A damaged
//! stream ends in an error naming the member, never a panic; the caller's SHA-256 check over the
//! stored bytes remains the integrity guarantee.

use std::io::{self, BufRead, Read, Write};

use libdeflater::Decompressor;

use crate::backup::compress::gzip::{
    member_capacity, member_length, MEMBER_HEADER, MEMBER_TRAILER,
};
use crate::backup::compress::pool::{BlockWork, OrderedBlocks};

use super::direct::{align_pad, ALIGN};
use super::sink::OutputSink;

/// Largest member source size accepted (members are [`crate::backup::compress::GZIP_BLOCK`]
/// bytes; the headroom lets a later release raise the block size without breaking restores).
pub const MAX_MEMBER_SOURCE: usize = 16 * 1024 * 1024;

/// Members submitted and not yet written, at most: one per thread. Every member in flight holds
/// a whole inflated megabyte, and a restore reads the next member far faster than a thread
/// inflates it, so one waiting per thread (as a backup keeps) only costs memory: measured in
/// `docs/benchmarks.md`, a restore was no faster with it and 1 MiB larger.
pub fn in_flight(threads: usize) -> usize {
    threads.max(1)
}

/// Decodes the gzip stream in `reader` into `sink` on `threads` threads; returns the bytes
/// written. Stops at the end of the last member (the caller reads and hashes anything after).
pub fn decode(
    mut reader: impl BufRead,
    sink: &mut dyn OutputSink,
    threads: usize,
) -> io::Result<u64> {
    let mut blocks: Option<OrderedBlocks> = None;
    let mut counted = CountingWriter {
        inner: sink,
        written: 0,
    };
    let mut offset = 0u64;
    loop {
        let mut header = [0u8; MEMBER_HEADER];
        let got = read_up_to(&mut reader, &mut header)?;
        let recorded = (got == MEMBER_HEADER)
            .then(|| member_length(&header))
            .flatten();
        let Some(len) = recorded else {
            if let Some(b) = &mut blocks {
                b.finish(&mut counted)?;
            }
            if got == 0 && blocks.is_some() {
                return Ok(counted.written);
            }
            // Not ours (or nothing at all): the streaming decoder, from this header on, exactly
            // as restores did before.
            let rest = io::Cursor::new(header[..got].to_vec()).chain(reader);
            let mut dec = flate2::bufread::MultiGzDecoder::new(rest);
            io::copy(&mut dec, &mut counted)?;
            // Read what follows the last member too (the caller hashes every stored byte).
            let mut tail = dec.into_inner();
            io::copy(&mut tail, &mut io::sink())?;
            return Ok(counted.written);
        };
        let seq = blocks.as_ref().map_or(0, OrderedBlocks::submitted);
        if len < MEMBER_HEADER + MEMBER_TRAILER || len > member_capacity(MAX_MEMBER_SOURCE) {
            return Err(corrupt(
                seq,
                offset,
                &format!("its header records an impossible length of {len} bytes"),
            ));
        }
        let blocks = blocks.get_or_insert_with(|| {
            OrderedBlocks::new(threads, in_flight(threads), "gunzip", || MemberInflater {
                decompressor: None,
            })
        });
        let mut member = blocks.buffer();
        member.extend_from_slice(&header);
        // Grows with the bytes actually there, so a cut-off stream allocates no more than it holds.
        (&mut reader)
            .take((len - MEMBER_HEADER) as u64)
            .read_to_end(&mut member)?;
        if member.len() < len {
            return Err(corrupt(
                seq,
                offset,
                "the stream ends inside it (truncated)",
            ));
        }
        offset += len as u64;
        blocks.submit(member, &mut counted)?;
    }
}

/// One thread's libdeflate decompressor.
struct MemberInflater {
    decompressor: Option<Decompressor>,
}

impl BlockWork for MemberInflater {
    /// Inflates into `out` from its first [`ALIGN`]ed address on, so the output thread can hand
    /// the bytes to a direct write as they are.
    fn run(&mut self, seq: u64, member: &[u8], out: &mut Vec<u8>) -> io::Result<usize> {
        let trailer = member.len().saturating_sub(4);
        let isize = member
            .get(trailer..)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes)
            .ok_or_else(|| corrupt_member(seq, "too short"))? as usize;
        if isize > MAX_MEMBER_SOURCE {
            return Err(corrupt_member(
                seq,
                &format!("its trailer records {isize} bytes, over the {MAX_MEMBER_SOURCE} limit"),
            ));
        }
        // A recycled buffer keeps its length: only what it lacks is zeroed, every byte is
        // overwritten below.
        out.reserve((isize + ALIGN).saturating_sub(out.len()));
        let start = align_pad(out.as_ptr());
        out.resize(start + isize, 0);
        let n = self
            .decompressor
            .get_or_insert_with(Decompressor::new)
            .gzip_decompress(member, &mut out[start..])
            .map_err(|e| {
                corrupt_member(
                    seq,
                    match e {
                        libdeflater::DecompressionError::BadData => {
                            "bad deflate data or CRC-32 mismatch"
                        }
                        libdeflater::DecompressionError::InsufficientSpace => {
                            "it inflates to more than its trailer says"
                        }
                    },
                )
            })?;
        if n != isize {
            return Err(corrupt_member(
                seq,
                "it inflates to less than its trailer says",
            ));
        }
        Ok(start)
    }
}

fn corrupt(seq: u64, offset: u64, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("gzip member {seq} (at stored byte {offset}) is corrupt: {why}"),
    )
}

fn corrupt_member(seq: u64, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("gzip member {seq} is corrupt: {why}"),
    )
}

/// Reads until `buf` is full or the stream ends; returns how many bytes were read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Counts what is written through it.
struct CountingWriter<'a> {
    inner: &'a mut dyn OutputSink,
    written: u64,
}

impl OutputSink for CountingWriter<'_> {
    fn put_owned(&mut self, out: Vec<u8>, start: usize) -> io::Result<Option<Vec<u8>>> {
        let len = out.len().saturating_sub(start) as u64;
        let back = self.inner.put_owned(out, start)?;
        self.written += len;
        Ok(back)
    }
}

impl Write for CountingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests;
