//! Reconnection delays: exponential backoff with jitter. Pure logic; the seed is the only
//! input from outside.
//!
//! The nominal delay before the `n`-th attempt in a row (from 0) is `1 s * 2^n`, capped at
//! 30 s: 1, 2, 4, 8, 16, 30, 30, ... Each delay is the nominal one times a random factor
//! in `[0.8, 1.2)`, so that cameras that went away together do not come back in lockstep.

use std::time::Duration;

/// First delay.
pub const INITIAL: Duration = Duration::from_secs(1);
/// Longest nominal delay.
pub const CAP: Duration = Duration::from_secs(30);
/// Relative spread of the jitter: delays are within `±JITTER` of the nominal one.
pub const JITTER: f64 = 0.2;

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct Backoff {
    attempt: u32,
    rng: XorShift64,
}

impl Backoff {
    /// A schedule whose jitter comes from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            attempt: 0,
            rng: XorShift64::new(seed),
        }
    }

    /// A schedule seeded from the clock, the process id and `salt` (e.g. a camera index).
    pub fn from_entropy(salt: u64) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let pid = u64::from(std::process::id());
        Self::new(nanos ^ pid.rotate_left(32) ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// The nominal (jitter-free) delay before attempt `attempt` (0-based).
    pub fn nominal(attempt: u32) -> Duration {
        INITIAL
            .checked_mul(1u32.checked_shl(attempt).unwrap_or(u32::MAX))
            .map_or(CAP, |d| d.min(CAP))
    }

    /// The delay before the next attempt; each call moves one step up the schedule.
    pub fn next_delay(&mut self) -> Duration {
        let nominal = Self::nominal(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        let factor = 1.0 - JITTER + 2.0 * JITTER * self.rng.next_unit();
        nominal.mul_f64(factor)
    }

    /// Back to the first step (after a session that worked).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Marsaglia's xorshift64*: cheap, good enough for jitter.
#[derive(Debug, Clone)]
struct XorShift64(u64);

impl XorShift64 {
    fn new(seed: u64) -> Self {
        // Zero is a fixed point of xorshift; any other seed works.
        Self(if seed == 0 {
            0x2545_F491_4F6C_DD1D
        } else {
            seed
        })
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)`.
    fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nominal_schedule_doubles_to_the_cap() {
        let secs: Vec<u64> = (0..9).map(|n| Backoff::nominal(n).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 30, 30, 30, 30]);
        assert_eq!(Backoff::nominal(31), CAP);
        assert_eq!(Backoff::nominal(u32::MAX), CAP);
    }

    #[test]
    fn jitter_stays_within_twenty_percent_and_spreads() {
        for seed in [0, 1, 42, u64::MAX] {
            let mut b = Backoff::new(seed);
            for n in 0..200u32 {
                let nominal = Backoff::nominal(n).as_secs_f64();
                let d = b.next_delay().as_secs_f64();
                assert!(
                    d >= nominal * 0.8 - 1e-9 && d < nominal * 1.2 + 1e-9,
                    "seed {seed}, attempt {n}: {d} s for nominal {nominal} s"
                );
            }
        }
        // The factors cover the range: 1000 first delays (1 s nominal) from distinct seeds
        // fall in every tenth of [0.8, 1.2).
        let mut buckets = [0u32; 10];
        for seed in 1..=1000u64 {
            let d = Backoff::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)).next_delay();
            let k = ((d.as_secs_f64() - 0.8) / 0.04).floor() as usize;
            buckets[k.min(9)] += 1;
        }
        assert!(buckets.iter().all(|&n| n >= 50), "{buckets:?}");
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::new(7);
        for _ in 0..6 {
            b.next_delay();
        }
        assert!(b.next_delay() >= Duration::from_secs(24));
        b.reset();
        let d = b.next_delay();
        assert!(
            d >= Duration::from_millis(800) && d < Duration::from_millis(1200),
            "{d:?}"
        );
        let d = b.next_delay();
        assert!(
            d >= Duration::from_millis(1600) && d < Duration::from_millis(2400),
            "{d:?}"
        );
    }

    #[test]
    fn same_seed_same_delays() {
        let (mut a, mut b) = (Backoff::new(99), Backoff::new(99));
        for _ in 0..10 {
            assert_eq!(a.next_delay(), b.next_delay());
        }
    }
}
