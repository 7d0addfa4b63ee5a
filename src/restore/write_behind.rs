//! Output writes on their own thread: a restore's reading, hashing and decompressing go on while
//! the previous megabytes are copied into the output. Writing a file costs the kernel about as much
//! CPU as inflating it does (measured in `docs/benchmarks.md`), so on the restoring thread it
//! would double the wall time.
//!
//! Chunks start at an [`ALIGN`]ed address, so a [`super::direct::DirectFile`] can hand them to the
//! disk without copying them into the page cache. A whole inflated member handed over with
//! [`OutputSink::put_owned`] goes to the writer as it is, without a copy, and its buffer comes back
//! for the next member.
//!
//! Memory stays bounded: at most [`QUEUED`] buffers (chunks of [`CHUNK`] bytes, or members) wait
//! for the writer, plus the one being filled and the one being written. The first write error
//! stops the writer; the next [`Write::write`] (or [`WriteBehind::finish`]) returns that error as
//! the output gave it, so a full disk still reads as a full disk.

use std::io::{self, Write};
use std::sync::mpsc;
use std::thread::JoinHandle;

use super::direct::{align_pad, ALIGN};
use super::sink::OutputSink;

/// Bytes handed to the writer thread at a time by [`Write::write`] (whole members go as they are).
pub const CHUNK: usize = 256 * 1024;
/// Buffers waiting for the writer thread at most: none, a buffer is handed over when the writer
/// takes it. The decoder's threads go on inflating meanwhile; a queue bought no speed in
/// `docs/benchmarks.md` and cost 1 MiB per place.
pub const QUEUED: usize = 0;

/// A [`Write`] that copies into chunks and writes them into `W` on a thread of its own.
pub struct WriteBehind<W: Write + Send + 'static> {
    /// The chunk being filled: its bytes start at `start`, the first [`ALIGN`]ed address.
    current: Vec<u8>,
    start: usize,
    /// Full chunks (and where their bytes start) to the writer; `None` once finished or failed.
    to_writer: Option<mpsc::SyncSender<(Vec<u8>, usize)>>,
    /// Written chunks coming back for reuse.
    emptied: mpsc::Receiver<Vec<u8>>,
    writer: Option<JoinHandle<io::Result<W>>>,
}

impl<W: Write + Send + 'static> std::fmt::Debug for WriteBehind<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBehind")
            .field("filling", &(self.current.len() - self.start))
            .field("running", &self.writer.is_some())
            .finish_non_exhaustive()
    }
}

impl<W: Write + Send + 'static> WriteBehind<W> {
    /// Starts the writer thread (named `name`) over `inner`.
    pub fn new(inner: W, name: &str) -> io::Result<Self> {
        let (to_writer, queue) = mpsc::sync_channel::<(Vec<u8>, usize)>(QUEUED);
        let (give_back, emptied) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let mut inner = inner;
                for (chunk, start) in queue {
                    inner.write_all(&chunk[start..])?;
                    // The filling side may be gone (finished or dropped): nothing to give back to.
                    let _ = give_back.send(chunk);
                }
                inner.flush()?;
                Ok(inner)
            })?;
        let (current, start) = aligned(Vec::with_capacity(CHUNK + ALIGN));
        Ok(Self {
            current,
            start,
            to_writer: Some(to_writer),
            emptied,
            writer: Some(writer),
        })
    }

    /// Writes what is left, waits for the writer thread and hands back the output (flushed), or
    /// the first error writing it returned.
    pub fn finish(mut self) -> io::Result<W> {
        self.send_current()?;
        self.to_writer = None;
        self.join()
    }

    /// Sends the chunk being filled (if any) to the writer thread.
    fn send_current(&mut self) -> io::Result<()> {
        if self.current.len() == self.start {
            return Ok(());
        }
        let (next, next_start) = aligned(self.emptied.try_recv().unwrap_or_default());
        let full = std::mem::replace(&mut self.current, next);
        let start = std::mem::replace(&mut self.start, next_start);
        self.send(full, start)
    }

    /// Queues `buf[start..]` for the writer thread (waiting while [`QUEUED`] buffers are queued).
    fn send(&mut self, buf: Vec<u8>, start: usize) -> io::Result<()> {
        let sent = match &self.to_writer {
            Some(tx) => tx.send((buf, start)).is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The writer stopped: it failed, and says why when joined.
        self.to_writer = None;
        match self.join() {
            Err(e) => Err(e),
            Ok(_) => Err(io::Error::other("the output writer stopped")),
        }
    }

    fn join(&mut self) -> io::Result<W> {
        let handle = self
            .writer
            .take()
            .ok_or_else(|| io::Error::other("the output writer stopped"))?;
        handle
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the output writer panicked")))
    }
}

impl<W: Write + Send + 'static> Write for WriteBehind<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.writer.is_none() {
            return Err(io::Error::other("the output writer stopped"));
        }
        let end = self.start + CHUNK;
        let n = buf.len().min(end - self.current.len());
        self.current.extend_from_slice(&buf[..n]);
        if self.current.len() == end {
            self.send_current()?;
        }
        Ok(n)
    }

    /// Hands the chunk being filled to the writer thread without waiting for it; only
    /// [`WriteBehind::finish`] knows that everything reached the output.
    fn flush(&mut self) -> io::Result<()> {
        self.send_current()
    }
}

impl<W: Write + Send + 'static> OutputSink for WriteBehind<W> {
    /// Queues `buf` itself when no chunk is being filled (the bytes before it are on their way);
    /// otherwise copies, so the order holds. Hands back a buffer the writer is done with, if any.
    fn put_owned(&mut self, buf: Vec<u8>, start: usize) -> io::Result<Option<Vec<u8>>> {
        if self.writer.is_none() {
            return Err(io::Error::other("the output writer stopped"));
        }
        if self.current.len() != self.start {
            self.write_all(&buf[start..])?;
            return Ok(Some(buf));
        }
        if buf.len() <= start {
            return Ok(Some(buf));
        }
        self.send(buf, start)?;
        Ok(self.emptied.try_recv().ok())
    }
}

/// Empties `buf`, makes room for a chunk and pads it up to its first [`ALIGN`]ed address;
/// returns it and that offset.
fn aligned(mut buf: Vec<u8>) -> (Vec<u8>, usize) {
    buf.clear();
    // No move once filled: the chunk's bytes must stay where they were aligned.
    buf.reserve(CHUNK + ALIGN);
    let start = align_pad(buf.as_ptr());
    buf.resize(start, 0);
    (buf, start)
}

impl<W: Write + Send + 'static> Drop for WriteBehind<W> {
    /// Dropped unfinished (a failed restore): the writer writes what is queued (at most
    /// [`QUEUED`] chunks) and ends; it is waited for so no thread outlives the output.
    fn drop(&mut self) {
        self.to_writer = None;
        if let Some(handle) = self.writer.take() {
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    /// Collects what it is given; fails once `fail_after` bytes were written.
    #[derive(Clone, Debug, Default)]
    struct Sink {
        got: Arc<Mutex<Vec<u8>>>,
        /// Writes handed over at an address a direct write would refuse.
        misaligned: Arc<AtomicUsize>,
        /// Where each write's bytes were.
        addresses: Arc<Mutex<Vec<usize>>>,
        fail_after: Option<usize>,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if !buf.as_ptr().addr().is_multiple_of(ALIGN) {
                self.misaligned.fetch_add(1, Ordering::Relaxed);
            }
            self.addresses.lock().unwrap().push(buf.as_ptr().addr());
            let mut got = self.got.lock().unwrap();
            if self
                .fail_after
                .is_some_and(|limit| got.len() + buf.len() > limit)
            {
                return Err(io::Error::from_raw_os_error(28)); // ENOSPC
            }
            got.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn writes_everything_in_order() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 10 * CHUNK + 12_345] {
            let sink = Sink::default();
            let mut w = WriteBehind::new(sink.clone(), "test-write").unwrap();
            let data = pattern(len);
            // Uneven pieces, as the decoder hands them over.
            for piece in data.chunks(300_007) {
                w.write_all(piece).unwrap();
            }
            w.finish().unwrap();
            assert!(*sink.got.lock().unwrap() == data, "{len} bytes");
            assert_eq!(sink.misaligned.load(Ordering::Relaxed), 0, "{len} bytes");
        }
    }

    /// A buffer holding `data` from its first aligned address on, as the decoder makes them.
    fn member(data: &[u8]) -> (Vec<u8>, usize) {
        let mut buf: Vec<u8> = Vec::with_capacity(data.len() + ALIGN);
        let start = align_pad(buf.as_ptr());
        buf.resize(start, 0);
        buf.extend_from_slice(data);
        (buf, start)
    }

    #[test]
    fn whole_members_go_to_the_writer_without_a_copy_and_in_order() {
        let sink = Sink::default();
        let mut w = WriteBehind::new(sink.clone(), "test-write").unwrap();
        let data = pattern(5 * CHUNK + 777);
        let pieces = [
            &data[..CHUNK],
            &data[CHUNK..2 * CHUNK],
            &data[2 * CHUNK..2 * CHUNK + 100],
            &data[2 * CHUNK + 100..4 * CHUNK],
            &data[4 * CHUNK..],
        ];
        let mut owned_at = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            if i == 2 {
                // Bytes written the ordinary way in between: the next member is copied after them.
                w.write_all(piece).unwrap();
                continue;
            }
            let (buf, start) = member(piece);
            owned_at.push(buf[start..].as_ptr().addr());
            w.put_owned(buf, start).unwrap();
        }
        w.finish().unwrap();
        assert!(*sink.got.lock().unwrap() == data);
        let addresses = sink.addresses.lock().unwrap();
        // The first two members were written from their own buffers; the one after the copied
        // bytes was copied (its buffer came straight back), and so on.
        assert_eq!(addresses[..2], owned_at[..2], "members copied");
        assert_eq!(sink.misaligned.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_write_error_comes_back_as_the_output_gave_it() {
        let sink = Sink {
            fail_after: Some(3 * CHUNK),
            ..Sink::default()
        };
        let mut w = WriteBehind::new(sink, "test-write").unwrap();
        let data = pattern(20 * CHUNK);
        let err = w.write_all(&data).err().or_else(|| w.finish().err());
        let err = err.expect("the full output must fail the copy");
        assert_eq!(err.raw_os_error(), Some(28), "{err}");
    }

    #[test]
    fn an_error_at_the_last_chunk_fails_finish() {
        let sink = Sink {
            fail_after: Some(CHUNK / 2),
            ..Sink::default()
        };
        let mut w = WriteBehind::new(sink, "test-write").unwrap();
        w.write_all(&pattern(CHUNK - 1)).unwrap();
        let err = w.finish().expect_err("the last chunk did not fit");
        assert_eq!(err.raw_os_error(), Some(28), "{err}");
    }
}
