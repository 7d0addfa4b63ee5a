//! Flow control of a bounded spool: where each reader is, how far the writer may run ahead of
//! the slowest live one, and how long the writer waited for whom (the report's "paced by").

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long the writer sleeps between re-checks while it waits (readers also wake it).
const WAIT_SLICE: Duration = Duration::from_millis(100);
/// The writer releases consumed bytes in steps of at least this much (fewer `fallocate` calls),
/// or whenever it has no room left.
const RELEASE_STEP: u64 = 1024 * 1024;

/// Waits shorter than this are not reported: a destination that lags for a moment is not what
/// paces a backup.
const NOTABLE_WAIT: Duration = Duration::from_secs(1);

/// One reader's place.
#[derive(Debug)]
struct Slot {
    label: String,
    offset: u64,
    /// False once the reader is dropped (its upload ended, failed or was cancelled).
    live: bool,
    waited: Duration,
}

#[derive(Debug, Default)]
struct State {
    readers: Vec<Slot>,
    /// Bytes before this offset are no longer on disk.
    released: u64,
}

/// Shared by the writer and every reader of one spool.
#[derive(Debug)]
pub(super) struct Flow {
    /// The bound; `None` for an unlimited spool (no waiting, nothing released).
    limit: Option<u64>,
    state: Mutex<State>,
    cond: Condvar,
}

/// How long the writer waited because of one destination.
#[derive(Debug, Clone, PartialEq)]
pub struct Paced {
    /// The reader's label (the destination's name).
    pub destination: String,
    /// Total time the compressor waited while this destination was the slowest.
    pub waited: Duration,
}

impl Flow {
    pub(super) fn new(limit: Option<u64>) -> Self {
        Self {
            limit,
            state: Mutex::new(State::default()),
            cond: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking holder leaves only plain numbers behind: keep going with them.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a reader starting at offset 0; fails once bytes have been released (it would
    /// read holes).
    pub(super) fn register(&self, label: &str) -> Result<usize, String> {
        let mut st = self.lock();
        if st.released > 0 {
            return Err(format!(
                "{label}: the spool already released its first {} bytes; readers must start \
                 before the writer runs ahead",
                st.released
            ));
        }
        st.readers.push(Slot {
            label: label.to_owned(),
            offset: 0,
            live: true,
            waited: Duration::ZERO,
        });
        Ok(st.readers.len() - 1)
    }

    /// A reader consumed everything before `offset`.
    pub(super) fn advance(&self, id: usize, offset: u64) {
        let mut st = self.lock();
        if let Some(slot) = st.readers.get_mut(id) {
            slot.offset = offset;
        }
        drop(st);
        self.cond.notify_all();
    }

    /// A reader is gone: it no longer holds the writer back.
    pub(super) fn leave(&self, id: usize) {
        let mut st = self.lock();
        if let Some(slot) = st.readers.get_mut(id) {
            slot.live = false;
        }
        drop(st);
        self.cond.notify_all();
    }

    /// For the writer at `written`: how many bytes it may write now. Bounded, it first releases
    /// what every live reader consumed (through `release(from, to)`, which returns the new start
    /// of what is on disk) and, while there is no room, publishes what it wrote (`publish`) and
    /// waits for the slowest live reader, charging the wait to it.
    pub(super) fn room(
        &self,
        written: u64,
        want: u64,
        release: &mut dyn FnMut(u64, u64) -> std::io::Result<u64>,
        publish: &mut dyn FnMut(),
    ) -> std::io::Result<u64> {
        let Some(limit) = self.limit else {
            return Ok(want);
        };
        let mut st = self.lock();
        let mut published = false;
        loop {
            let slowest = slowest(&st);
            let min = slowest.map_or(written, |(_, off)| off);
            let room = limit.saturating_sub(written - st.released);
            if min > st.released && (room < want || min - st.released >= RELEASE_STEP) {
                st.released = release(st.released, min)?;
            }
            let room = limit.saturating_sub(written - st.released);
            if room > 0 {
                return Ok(room.min(want));
            }
            if !published {
                // Readers only see published bytes: show them everything before waiting on them.
                publish();
                published = true;
            }
            let started = Instant::now();
            let (next, _) = self
                .cond
                .wait_timeout(st, WAIT_SLICE)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            st = next;
            if let Some((id, _)) = slowest {
                if let Some(slot) = st.readers.get_mut(id) {
                    slot.waited += started.elapsed();
                }
            }
        }
    }

    /// Every destination the writer waited for at least [`NOTABLE_WAIT`], longest wait first.
    pub(super) fn pacing(&self) -> Vec<Paced> {
        let st = self.lock();
        let mut out: Vec<Paced> = st
            .readers
            .iter()
            .filter(|s| s.waited >= NOTABLE_WAIT)
            .map(|s| Paced {
                destination: s.label.clone(),
                waited: s.waited,
            })
            .collect();
        out.sort_by_key(|p| std::cmp::Reverse(p.waited));
        out
    }
}

/// The live reader furthest behind, and its offset.
fn slowest(st: &State) -> Option<(usize, u64)> {
    st.readers
        .iter()
        .enumerate()
        .filter(|(_, s)| s.live)
        .map(|(i, s)| (i, s.offset))
        .min_by_key(|&(_, off)| off)
}
