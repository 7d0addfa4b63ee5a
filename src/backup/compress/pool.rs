//! An ordered block pipeline: blocks go to worker threads (deflating or inflating one gzip member
//! each) and their results are written in submission order, with a bounded number in flight.
//!
//! Shared by the gzip encoder (backup) and the member-parallel decoder (restore). Buffers are
//! recycled, so memory stays at `2 × threads` blocks in flight plus a few spares.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

/// What a worker does to one block: turn `input` (block number `seq`) into `out` (empty on
/// entry). Each worker thread owns its own value (libdeflate's state is per thread).
pub(crate) trait BlockWork: Send + 'static {
    /// Fills `out` from `input`; an error fails the whole stream.
    fn run(&mut self, seq: u64, input: &[u8], out: &mut Vec<u8>) -> io::Result<()>;
}

/// A block, its place in the stream and an output buffer.
type Job = (u64, Vec<u8>, Vec<u8>);
/// A finished block and its place in the stream, with the input buffer handed back for reuse.
type Done = (u64, io::Result<(Vec<u8>, Vec<u8>)>);

/// Worker threads.
struct Pool {
    jobs: Option<mpsc::Sender<Job>>,
    done: mpsc::Receiver<Done>,
    workers: Vec<JoinHandle<()>>,
}

/// Runs [`BlockWork`] on `threads` threads (inline with one) and writes the outputs in order.
pub(crate) struct OrderedBlocks {
    /// The work itself when running inline (one thread).
    inline: Option<Box<dyn BlockWork>>,
    pool: Option<Pool>,
    /// Most blocks submitted but not yet written.
    max_in_flight: u64,
    /// Sequence number of the next block to submit.
    next_submit: u64,
    /// Sequence number of the next output to write.
    next_write: u64,
    /// Outputs that came back early, by sequence number.
    ready: BTreeMap<u64, Vec<u8>>,
    /// Emptied buffers, reused so memory stays put.
    spare: Vec<Vec<u8>>,
}

impl std::fmt::Debug for OrderedBlocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderedBlocks")
            .field("threads", &self.threads())
            .field("in_flight", &(self.next_submit - self.next_write))
            .finish_non_exhaustive()
    }
}

impl OrderedBlocks {
    /// A pipeline on `threads` threads named `name-N`, each running its own `make()`.
    pub(crate) fn new<W: BlockWork>(threads: usize, name: &str, make: impl Fn() -> W) -> Self {
        let threads = threads.max(1);
        let (inline, pool) = if threads == 1 {
            (Some(Box::new(make()) as Box<dyn BlockWork>), None)
        } else {
            (None, Some(start_pool(threads, name, &make)))
        };
        Self {
            inline,
            pool,
            max_in_flight: 2 * threads as u64,
            next_submit: 0,
            next_write: 0,
            ready: BTreeMap::new(),
            spare: Vec::new(),
        }
    }

    /// Worker threads (1: inline).
    pub(crate) fn threads(&self) -> usize {
        self.pool.as_ref().map_or(1, |p| p.workers.len())
    }

    /// Blocks submitted so far.
    pub(crate) fn submitted(&self) -> u64 {
        self.next_submit
    }

    /// An empty buffer for the next block (a recycled one when there is one).
    pub(crate) fn buffer(&mut self) -> Vec<u8> {
        self.spare.pop().unwrap_or_default()
    }

    /// Hands `input` to a worker (or runs it inline), writes every output now ready in order into
    /// `sink`, and waits while too many blocks are in flight.
    pub(crate) fn submit(&mut self, input: Vec<u8>, sink: &mut dyn Write) -> io::Result<()> {
        let seq = self.next_submit;
        self.next_submit += 1;
        let mut out = self.buffer();
        if let Some(work) = &mut self.inline {
            work.run(seq, &input, &mut out)?;
            sink.write_all(&out)?;
            self.next_write += 1;
            self.recycle(input);
            self.recycle(out);
            return Ok(());
        }
        let pool = self
            .pool
            .as_ref()
            .ok_or_else(|| io::Error::other("no worker threads"))?;
        pool.jobs
            .as_ref()
            .ok_or_else(|| io::Error::other("the worker threads are stopped"))?
            .send((seq, input, out))
            .map_err(|_| io::Error::other("a worker thread failed"))?;
        while let Some(done) = self.pool.as_ref().and_then(|p| p.done.try_recv().ok()) {
            self.accept(done, sink)?;
        }
        while self.next_submit - self.next_write >= self.max_in_flight {
            self.wait_one(sink)?;
        }
        Ok(())
    }

    /// Waits for every block in flight and writes its output.
    pub(crate) fn finish(&mut self, sink: &mut dyn Write) -> io::Result<()> {
        while self.next_write < self.next_submit {
            self.wait_one(sink)?;
        }
        Ok(())
    }

    fn wait_one(&mut self, sink: &mut dyn Write) -> io::Result<()> {
        let pool = self
            .pool
            .as_ref()
            .ok_or_else(|| io::Error::other("no worker threads"))?;
        let done = pool
            .done
            .recv()
            .map_err(|_| io::Error::other("a worker thread failed"))?;
        self.accept(done, sink)
    }

    fn accept(&mut self, (seq, done): Done, sink: &mut dyn Write) -> io::Result<()> {
        let (input, out) = done?;
        self.recycle(input);
        self.ready.insert(seq, out);
        while let Some(out) = self.ready.remove(&self.next_write) {
            sink.write_all(&out)?;
            self.next_write += 1;
            self.recycle(out);
        }
        Ok(())
    }

    fn recycle(&mut self, mut buf: Vec<u8>) {
        // Everything in flight plus the block being filled, inputs and outputs.
        if self.spare.len() < 2 * self.max_in_flight as usize + 2 {
            buf.clear();
            self.spare.push(buf);
        }
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

fn start_pool<W: BlockWork>(threads: usize, name: &str, make: &impl Fn() -> W) -> Pool {
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let workers = (0..threads)
        .map(|i| {
            let jobs = job_rx.clone();
            let done = done_tx.clone();
            let mut work = make();
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || loop {
                    let job = match jobs.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((seq, input, mut out)) = job else {
                        return;
                    };
                    // A panic becomes this block's error, so the writer never waits forever.
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        work.run(seq, &input, &mut out)
                    }))
                    .unwrap_or_else(|_| Err(io::Error::other("a worker thread panicked")))
                    .map(|()| (input, out));
                    if done.send((seq, result)).is_err() {
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
