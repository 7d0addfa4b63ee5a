//! An ordered block pipeline: blocks go to worker threads (deflating or inflating one gzip member
//! each) and their results are written in submission order, with a bounded number in flight.
//!
//! Shared by the gzip encoder (backup) and the member-parallel decoder (restore). Buffers are
//! recycled, inputs and outputs apart (a restore's members are small and its outputs large, a
//! backup's the other way round), so memory stays at the blocks in flight.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

/// What a worker does to one block: turn `input` (block number `seq`) into `out`. Each worker
/// thread owns its own value (libdeflate's state is per thread).
pub(crate) trait BlockWork: Send + 'static {
    /// Fills `out` from `input` and returns where in `out` the result starts (a worker may pad
    /// the front, to align it); `out` holds a recycled buffer's old bytes on entry. An error fails
    /// the whole stream.
    fn run(&mut self, seq: u64, input: &[u8], out: &mut Vec<u8>) -> io::Result<usize>;
}

/// Where the outputs go, in order: a [`Write`] that can also take a whole result buffer. The
/// restore's output thread keeps the buffer and writes it without a copy
/// (`restore::write_behind`); anything else copies it (the default).
pub trait OutputSink: Write {
    /// Writes `buf[start..]`, taking `buf`; hands back an emptied buffer to reuse when it has
    /// one. By default it copies, and hands `buf` itself back.
    fn put_owned(&mut self, buf: Vec<u8>, start: usize) -> io::Result<Option<Vec<u8>>> {
        self.write_all(&buf[start..])?;
        Ok(Some(buf))
    }
}

/// Any [`Write`] as an [`OutputSink`] that copies.
pub(crate) struct CopyInto<'a, W: Write + ?Sized>(pub &'a mut W);

impl<W: Write + ?Sized> Write for CopyInto<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<W: Write + ?Sized> OutputSink for CopyInto<'_, W> {}

/// A block, its place in the stream and an output buffer.
type Job = (u64, Vec<u8>, Vec<u8>);
/// A finished block (output and where its result starts) and its place in the stream, with the
/// input buffer handed back for reuse.
type Done = (u64, io::Result<(Vec<u8>, Vec<u8>, usize)>);

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
    /// Outputs that came back early (and where their results start), by sequence number.
    ready: BTreeMap<u64, (Vec<u8>, usize)>,
    /// Emptied input buffers, reused so memory stays put.
    spare_inputs: Vec<Vec<u8>>,
    /// Emptied output buffers, likewise.
    spare_outputs: Vec<Vec<u8>>,
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
    /// A pipeline on `threads` threads named `name-N`, each running its own `make()`, with at
    /// most `in_flight` blocks submitted and not yet written (at least `threads`).
    pub(crate) fn new<W: BlockWork>(
        threads: usize,
        in_flight: usize,
        name: &str,
        make: impl Fn() -> W,
    ) -> Self {
        let threads = threads.max(1);
        let (inline, pool) = if threads == 1 {
            (Some(Box::new(make()) as Box<dyn BlockWork>), None)
        } else {
            (None, Some(start_pool(threads, name, &make)))
        };
        Self {
            inline,
            pool,
            max_in_flight: in_flight.max(threads) as u64,
            next_submit: 0,
            next_write: 0,
            ready: BTreeMap::new(),
            spare_inputs: Vec::new(),
            spare_outputs: Vec::new(),
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

    /// An empty buffer for the next block's input (a recycled one when there is one).
    pub(crate) fn buffer(&mut self) -> Vec<u8> {
        let mut buf = self.spare_inputs.pop().unwrap_or_default();
        buf.clear();
        buf
    }

    /// Hands `input` to a worker (or runs it inline), puts every output now ready in order into
    /// `sink`, and waits while too many blocks are in flight.
    pub(crate) fn submit(&mut self, input: Vec<u8>, sink: &mut dyn OutputSink) -> io::Result<()> {
        let seq = self.next_submit;
        self.next_submit += 1;
        let mut out = self.spare_outputs.pop().unwrap_or_default();
        if let Some(work) = &mut self.inline {
            let start = work.run(seq, &input, &mut out)?;
            self.next_write += 1;
            self.recycle_input(input);
            let back = sink.put_owned(out, start)?;
            self.recycle_output(back);
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

    /// Waits for every block in flight and puts its output into `sink`.
    pub(crate) fn finish(&mut self, sink: &mut dyn OutputSink) -> io::Result<()> {
        while self.next_write < self.next_submit {
            self.wait_one(sink)?;
        }
        Ok(())
    }

    fn wait_one(&mut self, sink: &mut dyn OutputSink) -> io::Result<()> {
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

    fn accept(&mut self, (seq, done): Done, sink: &mut dyn OutputSink) -> io::Result<()> {
        let (input, out, start) = done?;
        self.recycle_input(input);
        self.ready.insert(seq, (out, start));
        while let Some((out, start)) = self.ready.remove(&self.next_write) {
            self.next_write += 1;
            let back = sink.put_owned(out, start)?;
            self.recycle_output(back);
        }
        Ok(())
    }

    /// Spares kept each way: no more than can be in flight, so the spares never hold more
    /// memory than the pipeline had in use, and nothing is allocated anew once it runs.
    fn spare_cap(&self) -> usize {
        self.max_in_flight as usize + 1
    }

    fn recycle_input(&mut self, buf: Vec<u8>) {
        if self.spare_inputs.len() < self.spare_cap() {
            self.spare_inputs.push(buf);
        }
    }

    fn recycle_output(&mut self, buf: Option<Vec<u8>>) {
        if let Some(buf) = buf.filter(|_| self.spare_outputs.len() < self.spare_cap()) {
            self.spare_outputs.push(buf);
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
                    .map(|start| (input, out, start));
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
