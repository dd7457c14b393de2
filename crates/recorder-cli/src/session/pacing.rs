//! Receive pacing: while cameras stream, the runtime's thread naps each time it runs out of
//! work, before it waits for I/O, so that it wakes about 10 times a second whatever the
//! number of cameras, and each wake-up reads what every socket gathered meanwhile.
//!
//! Why: for one SD stream with AAC, packets arrive ~80 times a second, and each arrival
//! woke the process (`epoll_wait`, `readv`, a context switch): the wake-ups, not the
//! muxing, were most of the recorder's CPU time. Napping in the task itself (a timer per
//! batch) did not help much: the sockets are registered edge-triggered with `epoll`, so
//! every segment arriving during the timer still woke the thread. Napping outside
//! `epoll_wait` lets the events pile up in the kernel's ready list instead.
//!
//! Frames are timed by their RTP timestamps, so the delay changes nothing in the files.
//! The nap adapts to the busiest session's bit rate: it lasts as long as that session
//! takes to deliver [`TARGET_BATCH_BYTES`], at most [`MAX_NAP`] (see [`next_nap`]), so a
//! socket never holds much more than that between reads: a high bit rate stream gets
//! short naps (or none) and is not held back by a TCP receive window that has not grown
//! yet.
//!
//! Sessions over UDP turn the naps off while they stream ([`Streaming::start`] with
//! `batched: false`): a datagram socket's receive buffer (208 KiB by default on Linux) can
//! overflow during a nap when a large keyframe arrives, and overflow is loss; over TCP the
//! sender just waits.
//!
//! Installed with tokio's `on_thread_park` hook (the runtime has one thread); sessions
//! report to it through a [`Streaming`] guard.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Longest nap: the thread wakes at least 10 times a second.
pub const MAX_NAP: Duration = Duration::from_millis(100);

/// Shorter naps are not taken: not worth a system call.
pub const MIN_NAP: Duration = Duration::from_millis(2);

/// What the busiest session should deliver per nap.
pub const TARGET_BATCH_BYTES: usize = 32 << 10;

/// Sessions streaming now.
static STREAMING: AtomicUsize = AtomicUsize::new(0);
/// Sessions streaming now that must not wait for a nap (UDP).
static UNBATCHED: AtomicUsize = AtomicUsize::new(0);
/// Times the thread ran out of work: the start of each batch.
static PARKS: AtomicU64 = AtomicU64::new(0);
/// The most bytes one session received since the previous park.
static MAX_BATCH: AtomicUsize = AtomicUsize::new(0);

/// The nap after the busiest session received `bytes` in `elapsed` (from one park to the
/// next): the time that session takes to deliver [`TARGET_BATCH_BYTES`] at that rate,
/// at most [`MAX_NAP`]; zero when shorter than [`MIN_NAP`].
pub fn next_nap(bytes: usize, elapsed: Duration) -> Duration {
    if bytes == 0 {
        return MAX_NAP;
    }
    let nap = elapsed.mul_f64(TARGET_BATCH_BYTES as f64 / bytes as f64);
    match nap.min(MAX_NAP) {
        n if n < MIN_NAP => Duration::ZERO,
        n => n,
    }
}

/// The runtime thread's pacing state.
#[derive(Clone, Copy, Debug)]
struct Pacer {
    /// When the thread last ran out of work.
    last_park: Option<Instant>,
    /// The current nap.
    nap: Duration,
}

impl Pacer {
    const IDLE: Pacer = Pacer {
        last_park: None,
        nap: MAX_NAP,
    };

    /// The thread ran out of work at `now`; the busiest session received `bytes` since the
    /// last time. Returns the nap to take.
    fn park(&mut self, bytes: usize, now: Instant) -> Duration {
        if let Some(last) = self.last_park.replace(now)
            && bytes > 0
        {
            self.nap = next_nap(bytes, now.saturating_duration_since(last));
        }
        self.nap
    }
}

thread_local! {
    static PACER: Cell<Pacer> = const { Cell::new(Pacer::IDLE) };
}

/// The runtime's `on_thread_park` hook: naps while a session streams (none while a UDP
/// session streams).
pub fn before_park() {
    let nap = nap_at(Instant::now());
    if !nap.is_zero() {
        std::thread::sleep(nap);
    }
}

/// The nap [`before_park`] takes when the thread runs out of work at `now` (the state
/// advances as if it parked then).
fn nap_at(now: Instant) -> Duration {
    PARKS.fetch_add(1, Ordering::Relaxed);
    let bytes = MAX_BATCH.swap(0, Ordering::Relaxed);
    let streaming = STREAMING.load(Ordering::Relaxed) > 0;
    let unbatched = UNBATCHED.load(Ordering::Relaxed) > 0;
    PACER.with(|cell| {
        let mut pacer = cell.get();
        let nap = if streaming && !unbatched {
            pacer.park(bytes, now)
        } else {
            pacer = Pacer::IDLE;
            Duration::ZERO
        };
        cell.set(pacer);
        nap
    })
}

/// Held by a session while it receives media; tells the pacing how much it receives.
#[derive(Debug)]
pub struct Streaming {
    /// False for a session that turns the naps off.
    batched: bool,
    /// Value of [`PARKS`] when `bytes` started counting.
    batch: u64,
    /// Bytes received since the start of the batch.
    bytes: usize,
}

impl Streaming {
    /// A session starts streaming: the thread naps from now on; with `batched` false (a
    /// UDP session), no nap is taken until it stops.
    pub fn start(batched: bool) -> Self {
        STREAMING.fetch_add(1, Ordering::Relaxed);
        if !batched {
            UNBATCHED.fetch_add(1, Ordering::Relaxed);
        }
        Self {
            batched,
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
        MAX_BATCH.fetch_max(self.bytes, Ordering::Relaxed);
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        STREAMING.fetch_sub(1, Ordering::Relaxed);
        if !self.batched {
            UNBATCHED.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn nap_lasts_until_the_busiest_session_delivers_the_target() {
        // An SD camera, ~200 kB/s: 20 kB in 100 ms; 32 KiB would take 164 ms: capped.
        assert_eq!(next_nap(20_000, 100 * MS), MAX_NAP);
        // 1 MB/s (8 Mbit/s): 32 KiB take 32.8 ms.
        let nap = next_nap(100_000, 100 * MS);
        assert!(nap > 32 * MS && nap < 33 * MS, "{nap:?}");
        // 10 MB/s: 3.3 ms.
        let nap = next_nap(1_000_000, 100 * MS);
        assert!(nap > 3 * MS && nap < 4 * MS, "{nap:?}");
        // 100 MB/s: under MIN_NAP, no nap.
        assert_eq!(next_nap(10_000_000, 100 * MS), Duration::ZERO);
        // Nothing received: the longest nap.
        assert_eq!(next_nap(0, 100 * MS), MAX_NAP);
    }

    #[test]
    fn the_pacer_measures_the_rate_from_park_to_park() {
        let t0 = Instant::now();
        let mut p = Pacer::IDLE;
        assert_eq!(p.park(0, t0), MAX_NAP, "first park: the longest nap");
        // 100 kB in the next 100 ms (1 MB/s).
        let nap = p.park(100_000, t0 + 100 * MS);
        assert!(nap > 32 * MS && nap < 33 * MS, "{nap:?}");
        // An empty park (a timer) keeps the nap.
        assert_eq!(p.park(0, t0 + 140 * MS), nap);
        // The rate falls to 100 kB/s: 1 kB in 10 ms -> the longest nap again.
        assert_eq!(p.park(1_000, t0 + 150 * MS), MAX_NAP);
    }

    /// One test drives the global state (tests run one per process under nextest, and no
    /// other test of this crate starts a session). It asks for the nap at chosen instants
    /// (`nap_at`) instead of timing `before_park`, so a loaded machine cannot fail it.
    #[test]
    fn naps_only_while_streaming_over_tcp() {
        let t0 = Instant::now();
        assert_eq!(nap_at(t0), Duration::ZERO, "no session: no nap");

        let mut s = Streaming::start(true);
        assert_eq!(nap_at(t0), MAX_NAP, "streaming: the longest nap at first");
        s.received(1000);
        assert_eq!(
            nap_at(t0 + 100 * MS),
            MAX_NAP,
            "1 kB in 100 ms: the longest nap"
        );
        // 1 MB in the next 100 ms: 10 MB/s, 32 KiB in 3.3 ms.
        s.received(1_000_000);
        let nap = nap_at(t0 + 200 * MS);
        assert!(
            nap > 3 * MS && nap < 4 * MS,
            "a high rate: a short nap, got {nap:?}"
        );
        // An empty park (a timer) keeps the nap.
        assert_eq!(nap_at(t0 + 203 * MS), nap);

        // A UDP session turns the naps off while it streams.
        let udp = Streaming::start(false);
        assert_eq!(
            nap_at(t0 + 210 * MS),
            Duration::ZERO,
            "a UDP session streams"
        );
        drop(udp);
        assert_eq!(
            nap_at(t0 + 220 * MS),
            MAX_NAP,
            "the UDP session ended: nap again"
        );

        drop(s);
        assert_eq!(
            nap_at(t0 + 230 * MS),
            Duration::ZERO,
            "the session ended: no nap"
        );
    }
}
