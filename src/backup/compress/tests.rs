//! Tests of the compressors: round trips, determinism, levels, incompressible blocks.

use super::gzip::{incompressible, member_length, MEMBER_HEADER, PROBE};
use super::*;
use std::io::Read;

fn is_incompressible(data: &[u8]) -> bool {
    let mut probe = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(1).unwrap());
    incompressible(&mut probe, data)
}

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

/// Like a database export: JSON rows whose fields vary pseudo-randomly (xorshift), so the levels
/// compare as they do on real dumps (on [`sample`]'s regular rows libdeflate's 2 stores more than
/// its 1, and its 6 more than its 5).
fn export_rows(len: usize) -> Vec<u8> {
    const PLANS: [&str; 3] = ["free", "pro", "enterprise"];
    let mut out = Vec::with_capacity(len + 200);
    let mut x = 0x2545_F491_4F6C_DD1D_u64;
    for row in 0u64.. {
        if out.len() >= len {
            break;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(
            format!(
                "{{\"id\":{row},\"email\":\"u{}@org{}.example\",\"plan\":\"{}\",\"balance\":{}.{:02},\"seen\":\"2024-{:02}-{:02}T{:02}:{:02}Z\"}}\n",
                x % 1_000_003,
                (x >> 20) % 50,
                PLANS[((x >> 8) % 3) as usize],
                (x >> 12) % 100_000,
                (x >> 32) % 100,
                1 + (x >> 40) % 12,
                1 + (x >> 44) % 28,
                (x >> 50) % 24,
                (x >> 56) % 60,
            )
            .as_bytes(),
        );
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
    assert!(is_incompressible(&random));
    let stored = gz(&random, 6, 2, block, 10_000);
    assert_eq!(gunzip(&stored), random);
    assert!(stored.len() < random.len() + 200, "{}", stored.len());

    // Random first half, text second half: the middle sample sees text, so it is deflated.
    let mut mixed = noise(block / 2, 9);
    mixed.extend_from_slice(&sample(block / 2));
    assert!(!is_incompressible(&mixed));
    let stored = gz(&mixed, 6, 2, block, 10_000);
    assert_eq!(gunzip(&stored), mixed);
    assert!(stored.len() < block * 3 / 4, "{}", stored.len());

    assert!(!is_incompressible(&sample(block)));
    // Too short to sample: deflated as usual.
    assert!(!is_incompressible(&noise(3 * PROBE, 3)));
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

/// What `[backup] level` promises after mapping to libdeflate ([`gzip::libdeflate_level`]): no
/// more stored than zlib at the same level (one member per block, as ours), and never more at a
/// higher level.
#[test]
fn each_level_stores_no_more_than_zlib_at_that_level_nor_than_the_level_below() {
    let data = export_rows(2 * GZIP_BLOCK);
    let mut previous = usize::MAX;
    for level in 1..=9 {
        let ours = gz(&data, level, 2, GZIP_BLOCK, 65_536).len();
        // One zlib member per block, as ours (each starts with an empty window).
        let zlib: usize = data
            .chunks(GZIP_BLOCK)
            .map(|block| {
                let mut member =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
                member.write_all(block).unwrap();
                member.finish().unwrap().len()
            })
            .sum();
        assert!(ours <= zlib, "level {level}: {ours} bytes, zlib {zlib}");
        assert!(
            ours <= previous,
            "level {level}: {ours} bytes, level below {previous}"
        );
        previous = ours;
    }
}

#[test]
fn many_blocks_with_few_in_flight_round_trip() {
    // 300 blocks through 2 threads: the in-flight bound and reordering are exercised.
    let data = sample(300 * 1024);
    let stored = gz(&data, 1, 2, 1024, 333);
    assert_eq!(members(&stored), 300);
    assert_eq!(gunzip(&stored), data);
}

/// Copies its input; counts the output buffers it was handed that had never held anything.
struct CountFresh(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl pool::BlockWork for CountFresh {
    fn run(&mut self, _seq: u64, input: &[u8], out: &mut Vec<u8>) -> io::Result<usize> {
        if out.capacity() == 0 {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        out.clear();
        out.extend_from_slice(input);
        Ok(0)
    }
}

#[test]
fn the_block_pipeline_reuses_its_buffers() {
    let fresh = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut blocks = pool::OrderedBlocks::new(2, 2, "test", || CountFresh(fresh.clone()));
    let mut out = Vec::new();
    let mut inputs = 0;
    for i in 0..200u32 {
        let mut input = blocks.buffer();
        if input.capacity() == 0 {
            inputs += 1;
        }
        input.extend_from_slice(&i.to_le_bytes());
        blocks.submit(input, &mut pool::CopyInto(&mut out)).unwrap();
    }
    blocks.finish(&mut pool::CopyInto(&mut out)).unwrap();
    let expected: Vec<u8> = (0..200u32).flat_map(u32::to_le_bytes).collect();
    assert!(out == expected, "in order");
    // Two in flight, plus one each way coming back while the next is handed out.
    let outputs = fresh.load(std::sync::atomic::Ordering::Relaxed);
    assert!(outputs <= 3, "{outputs} output buffers for 200 blocks");
    assert!(inputs <= 3, "{inputs} input buffers for 200 blocks");
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

#[test]
fn every_member_header_records_its_own_length_and_flate2_agrees() {
    let data = sample(5 * 8192 + 100);
    let stored = gz(&data, 6, 2, 8192, 3000);
    // Walk the stream by the recorded lengths alone, then check each piece is one whole member.
    let mut at = 0;
    let mut walked = 0;
    while at < stored.len() {
        let header: &[u8; MEMBER_HEADER] = stored[at..at + MEMBER_HEADER].try_into().unwrap();
        let len = member_length(header).expect("a cloudmirror member header");
        let piece = &stored[at..at + len];
        let mut one = Vec::new();
        let mut dec = flate2::bufread::GzDecoder::new(piece);
        dec.read_to_end(&mut one).unwrap();
        assert!(
            dec.into_inner().is_empty(),
            "member {walked} is longer than recorded"
        );
        assert_eq!(
            one,
            data[walked * 8192..(data.len()).min((walked + 1) * 8192)]
        );
        at += len;
        walked += 1;
    }
    assert_eq!(at, stored.len());
    assert_eq!(walked, members(&stored));
    // Another tool's header is not taken for ours.
    let mut foreign = Vec::new();
    let mut enc = flate2::write::GzEncoder::new(&mut foreign, flate2::Compression::new(6));
    enc.write_all(&data).unwrap();
    enc.finish().unwrap();
    assert_eq!(
        member_length(foreign[..MEMBER_HEADER].try_into().unwrap()),
        None
    );
}
