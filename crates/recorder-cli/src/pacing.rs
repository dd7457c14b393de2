//! Receive pacing: while cameras stream, the runtime's thread naps [`NAP`] each time it
//! runs out of work, before it waits for I/O, so that it wakes about 20 times a second
//! whatever the number of cameras, and each wake-up reads what every socket gathered
//! meanwhile.
//!
//! Why: for one SD stream with AAC, packets arrive ~80 times a second, and each arrival
//! woke the process (`epoll_wait`, `readv`, a context switch): the wake-ups, not the
//! muxing, were most of the recorder's CPU time. Napping in the task itself (a timer per
//! batch) did not help much: the sockets are registered edge-triggered with `epoll`, so
//! every segment arriving during the timer still woke the thread. Napping outside
//! `epoll_wait` lets the events pile up in the kernel's ready list instead.
//!
//! Frames are timed by their RTP timestamps, so the delay changes nothing in the files.
//! A session that received [`BURST_BYTES`] or more since the thread last ran out of work
//! skips the next nap: at high bit rates a nap would buy little and could hold the sender
//! back on a TCP receive window that has not grown yet.
//!
//! Installed with tokio's `on_thread_park` hook (the runtime has one thread); sessions
//! report to it through a [`Streaming`] guard.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// How long the thread naps before waiting for I/O while some session streams.
pub const NAP: Duration = Duration::from_millis(50);

/// Bytes received by one session since the previous park that skip the next nap.
pub const BURST_BYTES: usize = 64 << 10;

/// Sessions streaming now.
static STREAMING: AtomicUsize = AtomicUsize::new(0);
/// Some session received [`BURST_BYTES`] since the previous park.
static BURST: AtomicBool = AtomicBool::new(false);
/// Times the thread ran out of work: the start of each batch.
static PARKS: AtomicU64 = AtomicU64::new(0);

/// The runtime's `on_thread_park` hook: naps [`NAP`] while a session streams, unless one
/// just received a burst.
pub fn before_park() {
    PARKS.fetch_add(1, Ordering::Relaxed);
    let burst = BURST.swap(false, Ordering::Relaxed);
    if STREAMING.load(Ordering::Relaxed) > 0 && !burst {
        std::thread::sleep(NAP);
    }
}

/// Held by a session while it receives media; tells the pacing how much it receives.
#[derive(Debug)]
pub struct Streaming {
    /// Value of [`PARKS`] when `bytes` started counting.
    batch: u64,
    /// Bytes received since the start of the batch.
    bytes: usize,
}

impl Streaming {
    /// A session starts streaming: the thread naps from now on.
    pub fn start() -> Self {
        STREAMING.fetch_add(1, Ordering::Relaxed);
        Self {
            batch: PARKS.load(Ordering::Relaxed),
            bytes: 0,
        }
    }

    /// The session received a frame of `bytes`.
    pub fn received(&mut self, bytes: usize) {
        let batch = PARKS.load(Ordering::Relaxed);
        if batch != self.batch {
            self.batch = batch;
            self.bytes = 0;
        }
        self.bytes += bytes;
        if self.bytes >= BURST_BYTES {
            BURST.store(true, Ordering::Relaxed);
        }
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        STREAMING.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// One test drives the global state, so nothing else runs against it in this process's
    /// test threads (no other test uses this module).
    #[test]
    fn naps_only_while_streaming_and_not_after_a_burst() {
        let timed = || {
            let t = Instant::now();
            before_park();
            t.elapsed()
        };
        assert!(timed() < NAP / 2, "no session: no nap");

        let mut s = Streaming::start();
        assert!(timed() >= NAP, "streaming: nap");
        s.received(1000);
        assert!(timed() >= NAP, "a small batch: nap");
        s.received(BURST_BYTES / 2);
        s.received(BURST_BYTES / 2);
        assert!(timed() < NAP / 2, "a burst of {BURST_BYTES} bytes: no nap");
        // The count restarts at each park: half a burst in this batch naps again.
        s.received(BURST_BYTES / 2);
        assert!(timed() >= NAP, "half a burst since the last park: nap");

        drop(s);
        assert!(timed() < NAP / 2, "the session ended: no nap");
    }
}
