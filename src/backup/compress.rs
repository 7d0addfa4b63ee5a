//! Compression of the stored bytes: parallel gzip (independent gzip members of fixed-size blocks,
//! deflated on all cores and written in order), multithreaded zstd, or none; level validation.
//!
//! Parallel gzip writes a multi-member stream: `gunzip`, `zcat` and restore (which uses
//! `MultiGzDecoder`) read it whole. The output depends only on the input, the level and
//! [`GZIP_BLOCK`], never on the number of threads or on how the input was split into writes.
//! Memory is bounded: at most `2 × threads + 1` blocks (input plus compressed output) exist at once.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use cloudmirror_contract::Digests;

use crate::backup::spool::SpoolWriter;

/// Source bytes per gzip member. 1 MiB keeps the ratio within about 0.1 % of one single stream
/// (each member restarts with an empty 32 KiB window) while leaving enough blocks to share out.
pub const GZIP_BLOCK: usize = 1024 * 1024;

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

/// A block of source bytes, its place in the stream and a buffer for its member.
type Job = (u64, Vec<u8>, Vec<u8>);
/// A compressed block (one gzip member) and its place in the stream, with the block's buffer
/// handed back for reuse.
type Done = (u64, io::Result<(Vec<u8>, Vec<u8>)>);

/// Worker threads deflating blocks.
struct Pool {
    jobs: Option<mpsc::Sender<Job>>,
    done: mpsc::Receiver<Done>,
    workers: Vec<JoinHandle<()>>,
}

/// A gzip encoder that splits its input into [`GZIP_BLOCK`]-byte blocks, deflates each as an
/// independent gzip member on a small thread pool and writes the members in order.
///
/// With one thread it compresses inline (same output). Dropping it without [`finish`] writes
/// nothing more (unlike `flate2`'s encoder, which writes a trailer on drop) and stops its threads.
///
/// [`finish`]: ParallelGzEncoder::finish
pub struct ParallelGzEncoder<W: Write> {
    inner: W,
    level: u32,
    block_size: usize,
    block: Vec<u8>,
    pool: Option<Pool>,
    /// Most blocks submitted but not yet written.
    max_in_flight: usize,
    /// Sequence number of the next block to submit.
    next_submit: u64,
    /// Sequence number of the next member to write.
    next_write: u64,
    /// Members that came back early, by sequence number.
    ready: BTreeMap<u64, Vec<u8>>,
    /// Emptied buffers, reused so memory stays put (no allocation churn across threads).
    spare: Vec<Vec<u8>>,
}

impl<W: Write> std::fmt::Debug for ParallelGzEncoder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParallelGzEncoder")
            .field("level", &self.level)
            .field("block_size", &self.block_size)
            .field(
                "threads",
                &self.pool.as_ref().map_or(1, |p| p.workers.len()),
            )
            .field("in_flight", &(self.next_submit - self.next_write))
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
        let threads = threads.max(1);
        let pool = (threads > 1).then(|| start_pool(threads, level));
        Self {
            inner,
            level,
            block_size,
            block: Vec::with_capacity(block_size),
            pool,
            max_in_flight: 2 * threads,
            next_submit: 0,
            next_write: 0,
            ready: BTreeMap::new(),
            spare: Vec::new(),
        }
    }

    /// The writer it writes into.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Compresses what is buffered, writes every remaining member (an empty member when the input
    /// was empty, so the output is always valid gzip) and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.block.is_empty() || self.next_submit == 0 {
            self.submit()?;
        }
        while self.next_write < self.next_submit {
            self.wait_one()?;
        }
        self.inner.flush()?;
        // Dropping the pool stops its (idle) threads.
        let Self { inner, .. } = self;
        Ok(inner)
    }

    /// Hands the current block to a worker (or compresses it inline), waiting while too many
    /// blocks are in flight.
    fn submit(&mut self) -> io::Result<()> {
        let next = self.buffer();
        let data = std::mem::replace(&mut self.block, next);
        let out = self.buffer();
        let seq = self.next_submit;
        self.next_submit += 1;
        let Some(pool) = &self.pool else {
            let member = gzip_member(&data, out, self.level)?;
            self.inner.write_all(&member)?;
            self.next_write += 1;
            self.recycle(data);
            self.recycle(member);
            return Ok(());
        };
        pool.jobs
            .as_ref()
            .ok_or_else(|| io::Error::other("the compression threads are stopped"))?
            .send((seq, data, out))
            .map_err(|_| io::Error::other("a compression thread failed"))?;
        // Write whatever is already done, then wait while the pipeline is full.
        while let Some(done) = self.pool.as_ref().and_then(|p| p.done.try_recv().ok()) {
            self.accept(done)?;
        }
        while self.next_submit - self.next_write >= self.max_in_flight as u64 {
            self.wait_one()?;
        }
        Ok(())
    }

    /// Waits for one compressed block and writes every member now in order.
    fn wait_one(&mut self) -> io::Result<()> {
        let pool = self
            .pool
            .as_ref()
            .ok_or_else(|| io::Error::other("no compression threads"))?;
        let done = pool
            .done
            .recv()
            .map_err(|_| io::Error::other("a compression thread failed"))?;
        self.accept(done)
    }

    fn accept(&mut self, (seq, done): Done) -> io::Result<()> {
        let (data, member) = done?;
        self.recycle(data);
        self.ready.insert(seq, member);
        while let Some(member) = self.ready.remove(&self.next_write) {
            self.inner.write_all(&member)?;
            self.next_write += 1;
            self.recycle(member);
        }
        Ok(())
    }

    /// An empty buffer big enough for a block or for a stored (worst case) member.
    fn buffer(&mut self) -> Vec<u8> {
        self.spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(member_capacity(self.block_size)))
    }

    fn recycle(&mut self, mut buf: Vec<u8>) {
        // Everything in flight plus one block being filled, for inputs and outputs.
        if self.spare.len() < 2 * self.max_in_flight + 2 {
            buf.clear();
            self.spare.push(buf);
        }
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

impl Drop for Pool {
    /// Closes the job queue and waits for the workers (each finishes at most its current block).
    fn drop(&mut self) {
        drop(self.jobs.take());
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn start_pool(threads: usize, level: u32) -> Pool {
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let workers = (0..threads)
        .map(|i| {
            let jobs = job_rx.clone();
            let done = done_tx.clone();
            std::thread::Builder::new()
                .name(format!("gzip-{i}"))
                .spawn(move || loop {
                    let job = match jobs.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((seq, data, out)) = job else { return };
                    // A panic becomes this block's error, so the writer never waits forever.
                    let member = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        gzip_member(&data, out, level)
                    }))
                    .unwrap_or_else(|_| Err(io::Error::other("a compression thread panicked")))
                    .map(|m| (data, m));
                    if done.send((seq, member)).is_err() {
                        return;
                    }
                })
        })
        .filter_map(Result::ok)
        .collect();
    Pool {
        jobs: Some(job_tx),
        done: done_rx,
        workers,
    }
}

/// Bytes of each sample [`incompressible`] deflates.
const PROBE: usize = 16 * 1024;

/// One complete gzip member holding `data`. A block that [`incompressible`] says will not shrink
/// is stored (level 0) instead of deflated: same size to within 0.01 %, a tenth of the CPU.
/// Written into `out` (emptied first), which is sized for the worst case already.
fn gzip_member(data: &[u8], mut out: Vec<u8>, level: u32) -> io::Result<Vec<u8>> {
    let level = if level > 0 && incompressible(data) {
        0
    } else {
        level
    };
    out.clear();
    out.reserve(member_capacity(data.len()));
    let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::new(level));
    enc.write_all(data)?;
    enc.finish()
}

/// Room for a member of `len` source bytes in the worst case (zlib's `deflateBound` plus the gzip
/// header and trailer), so a member buffer never grows.
fn member_capacity(len: usize) -> usize {
    len + len / 4096 + len / 16384 + 64
}

/// Whether deflate would not shrink `data`: three samples (start, middle, end) each keep at least
/// 99 % of their size at level 1. Compressible data stops at the first sample, so this costs
/// about 1.5 % of the block's size at the fastest level. Blocks under four samples are never
/// called incompressible. Depends only on `data`, so the output stays deterministic.
fn incompressible(data: &[u8]) -> bool {
    if data.len() < 4 * PROBE {
        return false;
    }
    let starts = [0, data.len() / 2 - PROBE / 2, data.len() - PROBE];
    starts.iter().all(|&at| {
        let sample = &data[at..at + PROBE];
        let mut deflate = flate2::Compress::new(flate2::Compression::fast(), false);
        let mut out = Vec::with_capacity(PROBE + PROBE / 8);
        match deflate.compress_vec(sample, &mut out, flate2::FlushCompress::Finish) {
            // A full output buffer means it grew: incompressible too.
            Ok(_) => out.len() * 100 >= sample.len() * 99,
            Err(_) => false,
        }
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Compressible but not trivial: JSON-ish lines with varying numbers.
    fn sample(len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 100);
        let mut i = 0u64;
        while out.len() < len {
            out.extend_from_slice(
                format!(
                    "{{\"id\":{i},\"v\":{},\"name\":\"n{}\"}}\n",
                    i * 7919 % 1000,
                    i % 97
                )
                .as_bytes(),
            );
            i += 1;
        }
        out.truncate(len);
        out
    }

    fn gz(data: &[u8], level: u32, threads: usize, block: usize, write_size: usize) -> Vec<u8> {
        let mut enc = ParallelGzEncoder::with_block_size(Vec::new(), level, threads, block);
        for piece in data.chunks(write_size.max(1)) {
            enc.write_all(piece).unwrap();
        }
        enc.finish().unwrap()
    }

    fn gunzip(stored: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(stored)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn read_spool(readers: &crate::backup::spool::SpoolReaders) -> Result<Vec<u8>, String> {
        use futures::TryStreamExt;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let parts: Vec<bytes::Bytes> = readers
                .reader()
                .try_collect()
                .await
                .map_err(|e| e.to_string())?;
            Ok(parts.concat())
        })
    }

    fn members(stored: &[u8]) -> usize {
        // Count members by decoding them one at a time with the single-member decoder.
        let mut rest = stored;
        let mut n = 0;
        while !rest.is_empty() {
            let mut dec = flate2::bufread::GzDecoder::new(rest);
            std::io::copy(&mut dec, &mut std::io::sink()).unwrap();
            rest = dec.into_inner();
            n += 1;
        }
        n
    }

    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn incompressible_blocks_are_stored_and_mixed_ones_deflated() {
        let block = 256 * 1024;
        let random = noise(block, 7);
        assert!(incompressible(&random));
        let stored = gz(&random, 6, 2, block, 10_000);
        assert_eq!(gunzip(&stored), random);
        assert!(stored.len() < random.len() + 200, "{}", stored.len());

        // Random first half, text second half: the middle sample sees text, so it is deflated.
        let mut mixed = noise(block / 2, 9);
        mixed.extend_from_slice(&sample(block / 2));
        assert!(!incompressible(&mixed));
        let stored = gz(&mixed, 6, 2, block, 10_000);
        assert_eq!(gunzip(&stored), mixed);
        assert!(stored.len() < block * 3 / 4, "{}", stored.len());

        assert!(!incompressible(&sample(block)));
        // Too short to sample: deflated as usual.
        assert!(!incompressible(&noise(3 * PROBE, 3)));
    }

    #[test]
    fn round_trips_at_and_around_block_boundaries() {
        let block = 4096;
        for len in [
            1,
            block - 1,
            block,
            block + 1,
            2 * block,
            3 * block - 1,
            10 * block + 17,
        ] {
            let data = sample(len);
            for threads in [1, 2, 3] {
                let stored = gz(&data, 6, threads, block, 1000);
                assert_eq!(gunzip(&stored), data, "len {len}, {threads} threads");
                assert_eq!(members(&stored), len.div_ceil(block), "len {len}");
            }
        }
    }

    #[test]
    fn empty_input_is_one_valid_empty_member() {
        for threads in [1, 2] {
            let stored = gz(&[], 6, threads, 4096, 1);
            assert!(!stored.is_empty());
            assert_eq!(members(&stored), 1);
            assert!(gunzip(&stored).is_empty());
        }
    }

    #[test]
    fn plain_gz_decoder_stops_after_the_first_member_and_multi_reads_all() {
        let data = sample(50_000);
        let stored = gz(&data, 6, 2, 8192, 4096);
        let mut first = Vec::new();
        flate2::read::GzDecoder::new(&stored[..])
            .read_to_end(&mut first)
            .unwrap();
        assert_eq!(first, data[..8192]);
        assert_eq!(gunzip(&stored), data);
    }

    #[test]
    fn output_depends_on_neither_threads_nor_write_sizes() {
        let data = sample(300_000);
        let reference = gz(&data, 6, 1, 16_384, 300_000);
        for (threads, write_size) in [(2, 1), (3, 7_000), (4, 16_384), (8, 100_001)] {
            assert_eq!(
                gz(&data, 6, threads, 16_384, write_size),
                reference,
                "{threads} threads, writes of {write_size}"
            );
        }
    }

    #[test]
    fn every_level_round_trips_and_higher_levels_shrink_compressible_data() {
        let data = sample(200_000);
        let stored_1 = gz(&data, 1, 2, 65_536, 10_000);
        let stored_9 = gz(&data, 9, 2, 65_536, 10_000);
        for level in 0..=9 {
            assert_eq!(gunzip(&gz(&data, level, 2, 65_536, 10_000)), data);
        }
        assert!(stored_9.len() < stored_1.len());
        assert!(gz(&data, 0, 2, 65_536, 10_000).len() > data.len());
    }

    #[test]
    fn many_blocks_with_few_in_flight_round_trip() {
        // 300 blocks through 2 threads: the in-flight bound and reordering are exercised.
        let data = sample(300 * 1024);
        let stored = gz(&data, 1, 2, 1024, 333);
        assert_eq!(members(&stored), 300);
        assert_eq!(gunzip(&stored), data);
    }

    #[test]
    fn dropping_an_unfinished_encoder_writes_nothing_more() {
        let mut out = Vec::new();
        {
            let mut enc = ParallelGzEncoder::with_block_size(&mut out, 6, 2, 1024);
            enc.write_all(&sample(500)).unwrap();
        }
        assert!(out.is_empty());
    }

    #[test]
    fn levels_are_checked_per_compression_and_name_the_field() {
        assert_eq!(resolve_level(Compression::Gzip, None), Ok(6));
        assert_eq!(resolve_level(Compression::Zstd, None), Ok(3));
        assert_eq!(resolve_level(Compression::Zstd, Some(19)), Ok(19));
        assert_eq!(resolve_level(Compression::Gzip, Some(0)), Ok(0));
        let err = resolve_level(Compression::Gzip, Some(10)).unwrap_err();
        assert!(err.contains("backup.level") && err.contains("0-9"), "{err}");
        let err = resolve_level(Compression::Zstd, Some(0)).unwrap_err();
        assert!(err.contains("1-22") && err.contains("zstd"), "{err}");
        assert!(resolve_level(Compression::Zstd, Some(23)).is_err());
    }

    #[test]
    fn zstd_spool_encoder_round_trips_and_is_deterministic_across_threads() {
        let data = sample(3_000_000);
        let mut outputs = Vec::new();
        for threads in [1, 2, 3] {
            let (w, readers) = crate::backup::spool::create(None).unwrap();
            let mut enc = spool_encoder(Compression::Zstd, 3, threads, w).unwrap();
            for piece in data.chunks(100_000) {
                enc.write_all(piece).unwrap();
            }
            let digests = enc.finish_all().unwrap();
            let stored = read_spool(&readers).unwrap();
            assert_eq!(digests.len, stored.len() as u64);
            let back = zstd::stream::decode_all(&stored[..]).unwrap();
            assert_eq!(back, data);
            outputs.push(stored);
        }
        // zstd's multithreaded output does not depend on the number of workers (>= 1).
        assert_eq!(outputs[1], outputs[2]);
    }

    #[test]
    fn gzip_spool_encoder_hashes_what_it_stores_and_abort_fails_readers() {
        let data = sample(2_500_000);
        let (w, readers) = crate::backup::spool::create(None).unwrap();
        let mut enc = spool_encoder(Compression::Gzip, 6, 2, w).unwrap();
        enc.write_all(&data).unwrap();
        let digests = enc.finish_all().unwrap();
        let stored = read_spool(&readers).unwrap();
        assert_eq!(digests.len, stored.len() as u64);
        assert_eq!(
            digests.sha256,
            cloudmirror_contract::Digests::of(&stored).sha256
        );
        assert_eq!(gunzip(&stored), data);

        let (w, readers) = crate::backup::spool::create(None).unwrap();
        let mut enc = spool_encoder(Compression::Gzip, 6, 2, w).unwrap();
        enc.write_all(&data).unwrap();
        enc.abort("source died");
        drop(enc);
        let err = read_spool(&readers).unwrap_err();
        assert!(err.contains("source died"), "{err}");
    }
}
