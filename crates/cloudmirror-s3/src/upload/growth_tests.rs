//! Part growth of unknown-length bodies: the schedule, and a scaled 40 GiB stream through the S3
//! fake in "count, don't store" mode (every size divided by 1024: 5 KiB first parts, 5 MiB largest,
//! a 40 MiB stream; the fake accepts parts down to 5 KiB).

use bytes::Bytes;
use cloudmirror_contract::Key;
use cloudmirror_fakes::s3::{FakeS3, FakeS3Options};
use futures::StreamExt;

use super::*;
use crate::config::{MAX_PART_SIZE, MIN_PART_SIZE};
use crate::S3Config;

const KIB: u64 = 1024;
const GIB: u64 = 1024 * MIB;
const TIB: u64 = 1024 * GIB;

#[test]
fn parts_double_every_thousand_up_to_the_cap() {
    let at = |n| part_size_at(16 * MIB, MAX_PART_SIZE, GROWTH_EVERY, n);
    assert_eq!(at(1), 16 * MIB);
    assert_eq!(at(1000), 16 * MIB);
    assert_eq!(at(1001), 32 * MIB);
    assert_eq!(at(3001), 128 * MIB);
    assert_eq!(at(9000), 4 * GIB);
    assert_eq!(at(9001), 5 * GIB, "capped at S3's 5 GiB");
    assert_eq!(at(10_000), 5 * GIB);
    // The default part size reaches S3's 5 TiB object limit within 10,000 parts; the 5 MiB
    // minimum nearly does (4.9 TiB); a lower max_part_size caps the object with memory.
    assert!(max_unknown_length(16 * MIB, MAX_PART_SIZE, GROWTH_EVERY) >= 5 * TIB);
    let from_min = max_unknown_length(MIN_PART_SIZE, MAX_PART_SIZE, GROWTH_EVERY);
    assert_eq!(from_min, 1000 * MIN_PART_SIZE * 1023);
    let capped = max_unknown_length(16 * MIB, 256 * MIB, GROWTH_EVERY);
    assert_eq!(capped, 1000 * MIB * (16 + 32 + 64 + 128) + 6000 * 256 * MIB);
    // Fixed parts (growth off) are what known lengths use.
    assert_eq!(
        part_size_at(16 * MIB, 16 * MIB, GROWTH_EVERY, 9999),
        16 * MIB
    );
}

/// `len` bytes of a repeating pattern, produced 1 MiB at a time (never held whole).
fn stream_of(len: u64) -> cloudmirror_contract::ByteStream {
    let piece = Bytes::from((0..MIB).map(|i| (i % 253) as u8).collect::<Vec<_>>());
    futures::stream::unfold(0u64, move |sent| {
        let piece = piece.clone();
        async move {
            (sent < len).then(|| {
                let n = (len - sent).min(MIB);
                (Ok(piece.slice(..n as usize)), sent + n)
            })
        }
    })
    .boxed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scaled_40_gib_stream_grows_its_parts_and_stays_within_10000() {
    let scale = 1024;
    let fake = FakeS3::start_with(FakeS3Options {
        min_part_size: (MIN_PART_SIZE / scale) as usize,
        count_only: true,
        ..FakeS3Options::default()
    })
    .await;
    let o = fake.options();
    let mut c = S3Config::new(o.bucket.clone());
    c.region = Some(o.region.clone());
    c.endpoint = Some(fake.uri());
    c.access_key_id = Some(o.access_key_id.clone());
    c.secret_access_key = Some(o.secret_access_key.clone().into());
    let client = Client::connect(&c).await.expect("client");
    let settings = UploadSettings {
        part_size: 5 * KIB,
        max_part_size: MAX_PART_SIZE / scale,
        growth_every: GROWTH_EVERY,
        parts_in_flight: 4,
        checksums: true,
    };
    let len = 40 * GIB / scale;
    let key = Key::parse("big/stream.bin").expect("key");
    let meta = upload(&client, &key, stream_of(len), None, settings)
        .await
        .expect("upload");
    assert_eq!(meta.size, len);
    let parts = fake
        .counted_upload("big/stream.bin")
        .expect("completed upload");
    assert!(parts.len() as u64 <= MAX_PARTS, "{} parts", parts.len());
    assert_eq!(
        parts.iter().sum::<u64>(),
        len,
        "the completed object's size"
    );
    let (last, whole) = parts.split_last().expect("parts");
    for (i, size) in whole.iter().enumerate() {
        let expected = part_size_at(5 * KIB, MAX_PART_SIZE / scale, GROWTH_EVERY, i as u64 + 1);
        assert_eq!(*size, expected, "part {}", i + 1);
    }
    assert!(
        *last
            <= part_size_at(
                5 * KIB,
                MAX_PART_SIZE / scale,
                GROWTH_EVERY,
                parts.len() as u64
            )
    );
    // Fixed 5 KiB parts would have needed 8,192 parts; growing ones need about 3,150.
    assert!(parts.len() < 3200, "{} parts", parts.len());
}
