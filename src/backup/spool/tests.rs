//! Tests of the spool: readers following the writer, failures, cleanup, the bound.

use super::*;
use futures::TryStreamExt;

async fn collect(s: ByteStream) -> Result<Vec<u8>, StoreError> {
    let parts: Vec<bytes::Bytes> = s.try_collect().await?;
    Ok(parts.concat())
}

#[tokio::test]
async fn readers_follow_the_writer_and_see_everything() {
    let (mut w, readers) = create(None).unwrap();
    let early = tokio::spawn(collect(readers.reader()));
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let d2 = data.clone();
    let digests = tokio::task::spawn_blocking(move || {
        for piece in d2.chunks(70_000) {
            w.write_all(piece).unwrap();
        }
        w.finish().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(digests.len, data.len() as u64);
    assert_eq!(early.await.unwrap().unwrap(), data);
    let late = collect(readers.reader()).await.unwrap();
    assert_eq!(late, data);
}

#[tokio::test]
async fn a_failed_or_dropped_writer_fails_readers() {
    let (mut w, readers) = create(None).unwrap();
    w.write_all(&vec![1; 2_000_000]).unwrap();
    w.fail("source died");
    let err = collect(readers.reader()).await.unwrap_err();
    assert!(err.to_string().contains("source died"), "{err}");

    let (w, readers) = create(None).unwrap();
    drop(w);
    assert!(collect(readers.reader()).await.is_err());
}

#[tokio::test]
async fn spool_file_is_removed_when_done() {
    let dir = tempfile::tempdir().unwrap();
    let (w, readers) = create(Some(dir.path())).unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    w.finish().unwrap();
    drop(readers);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// Disk blocks in use under `dir` (what the spool really occupies, holes excluded).
fn disk_use(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            total += disk_use(&entry.path());
        } else {
            total += meta.blocks() * 512;
        }
    }
    total
}

fn bounded(dir: &Path, limit: u64, mode: SpoolMode) -> (SpoolWriter, SpoolReaders) {
    let options = SpoolOptions {
        dir: Some(dir.to_path_buf()),
        limit: SpoolLimit::Bytes(limit),
        mode,
    };
    let sha_only = DigestSet {
        sha256: true,
        md5: false,
        dropbox: false,
    };
    create_spool(&options, None, sha_only).unwrap()
}

fn pattern(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Reads `body`, sleeping `pause` after each piece.
async fn slow_collect(mut body: ByteStream, pause: std::time::Duration) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(piece) = body.try_next().await.unwrap() {
        out.extend_from_slice(&piece);
        tokio::time::sleep(pause).await;
    }
    out
}

async fn disk_stays_bounded(mode: SpoolMode) {
    let dir = tempfile::tempdir().unwrap();
    let limit = 4 * READ_PIECE;
    let (mut w, readers) = bounded(dir.path(), limit, mode);
    assert_eq!(readers.is_segmented(), mode == SpoolMode::Segments);
    let fast = tokio::spawn(collect(readers.reader_for("fast")));
    let slow = tokio::spawn(slow_collect(
        readers.reader_for("slow"),
        std::time::Duration::from_millis(80),
    ));
    let pacing = readers.pacing();
    drop(readers);
    let data = pattern(48 * READ_PIECE as usize);
    let d2 = data.clone();
    let writer = std::thread::spawn(move || {
        for piece in d2.chunks(300_000) {
            w.write_all(piece).unwrap();
        }
        w.finish().unwrap()
    });
    let mut peak = 0;
    while !writer.is_finished() {
        peak = peak.max(disk_use(dir.path()));
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let digests = writer.join().unwrap();
    assert_eq!(digests.len, data.len() as u64);
    assert!(
        peak <= limit + READ_PIECE,
        "{mode:?}: the spool used {peak} bytes of disk with a limit of {limit}"
    );
    assert!(peak > 0, "the sampler saw the spool");
    assert_eq!(fast.await.unwrap().unwrap(), data);
    assert_eq!(slow.await.unwrap(), data);
    let paced = pacing.paced();
    assert_eq!(
        paced.first().map(|p| p.destination.as_str()),
        Some("slow"),
        "{paced:?}"
    );
    assert!(paced.iter().all(|p| p.destination != "fast"), "{paced:?}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_spool_punches_holes_behind_the_slowest_reader() {
    disk_stays_bounded(SpoolMode::Auto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_spool_of_segments_deletes_consumed_segments() {
    disk_stays_bounded(SpoolMode::Segments).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_reader_holds_the_writer_until_it_is_dropped() {
    for mode in [SpoolMode::Auto, SpoolMode::Segments] {
        let dir = tempfile::tempdir().unwrap();
        let limit = 2 * READ_PIECE;
        let (mut w, readers) = bounded(dir.path(), limit, mode);
        let mut active = readers.reader_for("active");
        let idle = readers.reader_for("idle");
        let data = pattern(10 * READ_PIECE as usize);
        let d2 = data.clone();
        let writer = std::thread::spawn(move || {
            w.write_all(&d2).unwrap();
            w.finish().unwrap()
        });
        // The active reader gets the first `limit` bytes, no more, while `idle` reads nothing.
        let mut got = Vec::new();
        while (got.len() as u64) < limit {
            got.extend_from_slice(&active.try_next().await.unwrap().unwrap());
        }
        assert_eq!(got.len() as u64, limit, "{mode:?}");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(
            !writer.is_finished(),
            "{mode:?}: the writer ran past the limit"
        );
        // A failed upload drops its body: the writer goes on at once.
        drop(idle);
        let rest = tokio::time::timeout(std::time::Duration::from_mins(1), async {
            while let Some(piece) = active.try_next().await.unwrap() {
                got.extend_from_slice(&piece);
            }
        });
        rest.await
            .expect("a dropped reader still held the writer back");
        assert_eq!(got, data, "{mode:?}");
        writer.join().unwrap();
        // A reader that arrives after bytes were released fails instead of reading holes.
        let err = collect(readers.reader_for("late")).await.unwrap_err();
        assert!(err.to_string().contains("already released"), "{err}");
    }
}

#[tokio::test]
async fn an_unlimited_spool_keeps_everything_for_late_readers() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, readers) = create(Some(dir.path())).unwrap();
    let data = pattern(6 * READ_PIECE as usize);
    w.write_all(&data).unwrap();
    w.finish().unwrap();
    assert!(disk_use(dir.path()) >= data.len() as u64);
    assert_eq!(collect(readers.reader()).await.unwrap(), data);
    assert!(readers.pacing().paced().is_empty());
}
