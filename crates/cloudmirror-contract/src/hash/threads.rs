//! [`DigestThreads`]: each digest of a [`DigestSet`] on a thread of its own, so the thread that
//! feeds them (a backup's ordered writer, the one stage that cannot be split) pays one copy per
//! chunk instead of every digest's pass. MD5 alone costs about 1.5 CPU s per GiB; with it off the
//! writer, a destination that asks for it (Drive, Azure) no longer lengthens the backup while a
//! core is free.

use std::io;
use std::sync::mpsc;
use std::thread::JoinHandle;

use bytes::Bytes;

use super::{DigestSet, Digests, Hashes};

/// Chunks queued for each digest thread at most (a chunk is whatever one `update` received).
const QUEUED: usize = 4;

/// Digests computed on background threads, one per digest; fed like [`Hashes`].
pub struct DigestThreads {
    workers: Vec<Worker>,
    len: u64,
}

struct Worker {
    /// `None` once finished.
    chunks: Option<mpsc::SyncSender<Bytes>>,
    handle: Option<JoinHandle<Digests>>,
}

impl std::fmt::Debug for DigestThreads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestThreads")
            .field("threads", &self.workers.len())
            .field("len", &self.len)
            .finish()
    }
}

impl DigestThreads {
    /// Starts one thread per digest in `set` (none for an empty set: only the length is counted).
    pub fn spawn(set: DigestSet) -> io::Result<Self> {
        let mut workers = Vec::new();
        for (wanted, one, name) in [
            (set.sha256, DigestSet::SHA256, "digest-sha256"),
            (set.md5, DigestSet::MD5, "digest-md5"),
            (set.dropbox, DigestSet::DROPBOX, "digest-dropbox"),
        ] {
            if !wanted {
                continue;
            }
            let (tx, rx) = mpsc::sync_channel::<Bytes>(QUEUED);
            let handle = std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || {
                    let mut hashes = Hashes::with(one);
                    for chunk in rx {
                        hashes.update(&chunk);
                    }
                    hashes.finish()
                })?;
            workers.push(Worker {
                chunks: Some(tx),
                handle: Some(handle),
            });
        }
        Ok(Self { workers, len: 0 })
    }

    /// Feeds more content (copied once, shared by every digest thread; waits while a thread is
    /// [`QUEUED`] chunks behind).
    pub fn update(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.len += data.len() as u64;
        let chunk = Bytes::copy_from_slice(data);
        for w in &mut self.workers {
            // A thread that is gone panicked: `finish` reports it.
            if let Some(tx) = &w.chunks {
                if tx.send(chunk.clone()).is_err() {
                    w.chunks = None;
                }
            }
        }
    }

    /// Waits for every digest thread and merges their digests; an error if one of them failed
    /// (never a digest computed over less than was fed).
    pub fn finish(mut self) -> io::Result<Digests> {
        let mut all = Digests {
            sha256: String::new(),
            md5: String::new(),
            dropbox_content_hash: String::new(),
            len: self.len,
        };
        for w in &mut self.workers {
            w.chunks = None;
            let done = w
                .handle
                .take()
                .and_then(|h| h.join().ok())
                .filter(|d| d.len == self.len)
                .ok_or_else(|| io::Error::other("a digest thread failed"))?;
            for (mine, theirs) in [
                (&mut all.sha256, done.sha256),
                (&mut all.md5, done.md5),
                (&mut all.dropbox_content_hash, done.dropbox_content_hash),
            ] {
                if !theirs.is_empty() {
                    *mine = theirs;
                }
            }
        }
        Ok(all)
    }
}

impl Drop for DigestThreads {
    /// Unfinished (a failed backup): the threads end once their queue is drained.
    fn drop(&mut self) {
        for w in &mut self.workers {
            w.chunks = None;
            if let Some(h) = w.handle.take() {
                let _ = h.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_digests_as_one_thread_whatever_the_set() {
        let data: Vec<u8> = (0..super::super::DROPBOX_BLOCK_SIZE * 2 + 12_345)
            .map(|i| (i * 13 % 241) as u8)
            .collect();
        for set in [
            DigestSet::ALL,
            DigestSet::SHA256,
            DigestSet::MD5,
            DigestSet::DROPBOX,
            DigestSet {
                sha256: true,
                md5: true,
                dropbox: false,
            },
        ] {
            let mut inline = Hashes::with(set);
            let mut threads = DigestThreads::spawn(set).unwrap();
            for piece in data.chunks(777_777) {
                inline.update(piece);
                threads.update(piece);
            }
            threads.update(&[]);
            assert_eq!(threads.finish().unwrap(), inline.finish(), "{set:?}");
        }
    }

    #[test]
    fn nothing_fed_is_the_digest_of_nothing() {
        let got = DigestThreads::spawn(DigestSet::ALL)
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(got, Digests::of(b""));
    }
}
