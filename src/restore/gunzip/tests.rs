//! Tests of the member-parallel gzip decoder: round trips, foreign and older gzip, corruption.

use std::io::Write;

use super::*;
use crate::backup::compress::ParallelGzEncoder;

/// JSON-ish lines: compressible but not trivial.
fn sample(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(format!("{{\"id\":{i},\"v\":{}}}\n", i * 7919 % 1000).as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
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

fn ours(data: &[u8], level: u32, block: usize) -> Vec<u8> {
    let mut enc = ParallelGzEncoder::with_block_size(Vec::new(), level, 2, block);
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// gzip as another tool (or cloudmirror before libdeflate) writes it: no member-length subfield.
fn foreign(data: &[u8], block: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in data.chunks(block.max(1)) {
        let mut enc = flate2::write::GzEncoder::new(&mut out, flate2::Compression::new(6));
        enc.write_all(piece).unwrap();
        enc.finish().unwrap();
    }
    if data.is_empty() {
        let enc = flate2::write::GzEncoder::new(&mut out, flate2::Compression::new(6));
        enc.finish().unwrap();
    }
    out
}

fn run(stored: &[u8], threads: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let n = decode(
        io::BufReader::with_capacity(7777, stored),
        &mut out,
        threads,
    )?;
    assert_eq!(n, out.len() as u64, "reported length");
    Ok(out)
}

#[test]
fn round_trips_at_every_level_and_size_on_any_thread_count() {
    let block = 64 * 1024;
    for len in [0, 1, block - 1, block, block + 1, 5 * block + 17] {
        let data = sample(len);
        for level in 0..=9 {
            let stored = ours(&data, level, block);
            for threads in [1, 2, 3] {
                assert!(
                    run(&stored, threads).unwrap() == data,
                    "len {len} level {level} threads {threads}"
                );
            }
        }
    }
}

#[test]
fn incompressible_blocks_round_trip() {
    let block = 256 * 1024;
    let mut data = noise(3 * block, 5);
    data.extend_from_slice(&sample(block));
    assert!(run(&ours(&data, 6, block), 2).unwrap() == data);
}

#[test]
fn foreign_and_older_gzip_streams_through_the_streaming_decoder() {
    let data = sample(300_000);
    // One big member (`gzip`, `pg_dump | gzip`), and 64 KiB members as older cloudmirror wrote.
    for stored in [
        foreign(&data, usize::MAX),
        foreign(&data, 65_536),
        foreign(&[], 1),
    ] {
        let expected = if stored.len() < 64 {
            Vec::new()
        } else {
            data.clone()
        };
        assert!(run(&stored, 2).unwrap() == expected);
    }
    // Ours followed by another tool's member (`cat a.gz b.gz`): both, in order.
    let mut both = ours(&data[..100_000], 6, 16_384);
    both.extend_from_slice(&foreign(&data[100_000..], usize::MAX));
    assert!(run(&both, 2).unwrap() == data);
}

#[test]
fn a_corrupt_member_is_an_error_naming_it() {
    let data = sample(8 * 16_384);
    let stored = ours(&data, 6, 16_384);
    // Find member 3's start by walking the recorded lengths.
    let mut at = 0;
    for _ in 0..3 {
        at += member_length(stored[at..at + MEMBER_HEADER].try_into().unwrap()).unwrap();
    }
    let len = member_length(stored[at..at + MEMBER_HEADER].try_into().unwrap()).unwrap();
    let mut bad = stored.clone();
    bad[at + len / 2] ^= 0x55;
    for threads in [1, 2] {
        let err = run(&bad, threads).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("gzip member 3"), "{err}");
    }
}

#[test]
fn impossible_lengths_are_refused_before_allocating() {
    let data = sample(40_000);
    let stored = ours(&data, 6, 16_384);
    // Recorded member length of 4 GiB - 1, then one shorter than a header.
    for len in [u32::MAX, 10] {
        let mut bad = stored.clone();
        bad[16..20].copy_from_slice(&len.to_le_bytes());
        let err = run(&bad, 2).unwrap_err();
        assert!(err.to_string().contains("impossible length"), "{err}");
    }
    // An ISIZE far over the limit in the first member's trailer.
    let first = member_length(stored[..MEMBER_HEADER].try_into().unwrap()).unwrap();
    let mut bad = stored.clone();
    bad[first - 4..first].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = run(&bad, 2).unwrap_err();
    assert!(err.to_string().contains("over the"), "{err}");
}

#[test]
fn truncation_anywhere_is_an_error_or_a_prefix_never_a_panic() {
    let data = sample(6 * 4096 + 100);
    let stored = ours(&data, 6, 4096);
    let boundaries: Vec<usize> = {
        let mut at = 0;
        let mut v = vec![0];
        while at < stored.len() {
            at += member_length(stored[at..at + MEMBER_HEADER].try_into().unwrap()).unwrap();
            v.push(at);
        }
        v
    };
    for cut in (1..stored.len())
        .step_by(37)
        .chain(boundaries[1..].iter().copied())
    {
        match run(&stored[..cut], 2) {
            // Cut exactly between members: the members before it (the SHA-256 check catches it).
            Ok(out) => {
                assert!(boundaries.contains(&cut), "cut at {cut} decoded");
                assert!(data.starts_with(&out));
            }
            // Inside a member: ours; inside a header: the streaming decoder's end-of-file, as before.
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
                ),
                "cut at {cut}: {e}"
            ),
        }
    }
    let err = run(&stored[..boundaries[2] + 30], 2).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn bytes_after_the_last_member_are_an_error_as_before() {
    let data = sample(30_000);
    let mut stored = ours(&data, 6, 8192);
    stored.extend_from_slice(b"trailing garbage that is not gzip");
    assert!(run(&stored, 2).is_err());
}

#[test]
fn members_written_by_an_independent_encoder_decode_on_the_member_path() {
    // fuzz/seeds/gunzip holds members made by a few lines of Python (zlib raw deflate plus the
    // RFC 1952 header with the `CM` subfield): the format, not just this encoder, is understood.
    let seeds = [
        &include_bytes!("../../../fuzz/seeds/gunzip/three-members.gz")[..],
        &include_bytes!("../../../fuzz/seeds/gunzip/empty-member.gz")[..],
        &include_bytes!("../../../fuzz/seeds/gunzip/ours-then-foreign.gz")[..],
    ];
    for seed in seeds {
        assert!(member_length(seed[..MEMBER_HEADER].try_into().unwrap()).is_some());
        let mut expected = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(seed), &mut expected)
            .unwrap();
        assert!(run(seed, 2).unwrap() == expected);
    }
    // Corrupting the Python-made first member's data is caught on the member path.
    let mut bad = seeds[0].to_vec();
    bad[40] ^= 0x10;
    let err = run(&bad, 2).unwrap_err();
    assert!(err.to_string().contains("gzip member 0"), "{err}");
}

/// Records where each whole member handed over starts; copies like any writer.
#[derive(Default)]
struct Starts {
    out: Vec<u8>,
    misaligned: usize,
    owned: usize,
}

impl Write for Starts {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl OutputSink for Starts {
    fn put_owned(&mut self, buf: Vec<u8>, start: usize) -> io::Result<Option<Vec<u8>>> {
        self.owned += 1;
        if !buf[start..].as_ptr().addr().is_multiple_of(ALIGN) {
            self.misaligned += 1;
        }
        self.out.extend_from_slice(&buf[start..]);
        Ok(Some(buf))
    }
}

#[test]
fn members_reach_the_output_whole_and_aligned_for_direct_writes() {
    let block = 64 * 1024;
    let data = sample(7 * block + 1234);
    let stored = ours(&data, 6, block);
    for threads in [1, 2] {
        let mut sink = Starts::default();
        let n = decode(stored.as_slice(), &mut sink, threads).unwrap();
        assert_eq!(n, data.len() as u64);
        assert!(sink.out == data, "threads {threads}");
        assert_eq!(
            sink.owned, 8,
            "members handed over whole, threads {threads}"
        );
        assert_eq!(sink.misaligned, 0, "threads {threads}");
    }
}
