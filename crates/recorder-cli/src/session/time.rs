//! Media time: the one type for instants on a recording's timeline.

use std::time::Duration;

/// A media time: ticks of a clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaTime {
    /// Ticks since the recording's zero.
    pub ticks: u64,
    /// Ticks per second.
    pub clock_hz: u32,
}

impl MediaTime {
    /// `self >= other + d`, exactly.
    pub fn at_least_after(self, other: MediaTime, d: Duration) -> bool {
        let (a, ah) = (u128::from(self.ticks), u128::from(self.clock_hz));
        let (b, bh) = (u128::from(other.ticks), u128::from(other.clock_hz));
        let lhs = a * bh * 1_000_000_000;
        let rhs = (b * ah * 1_000_000_000).saturating_add(d.as_nanos().saturating_mul(ah * bh));
        lhs >= rhs
    }

    /// `self < other`, exactly.
    pub fn before(self, other: MediaTime) -> bool {
        u128::from(self.ticks) * u128::from(other.clock_hz)
            < u128::from(other.ticks) * u128::from(self.clock_hz)
    }

    /// This time relative to `zero` (which must not be later), in this time's clock,
    /// rounded down: strictly increasing times of one clock stay strictly increasing.
    pub fn since(self, zero: MediaTime) -> u64 {
        let num = u128::from(self.ticks) * u128::from(zero.clock_hz)
            - (u128::from(zero.ticks) * u128::from(self.clock_hz))
                .min(u128::from(self.ticks) * u128::from(zero.clock_hz));
        u64::try_from(num / u128::from(zero.clock_hz)).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(ticks: u64) -> MediaTime {
        MediaTime {
            ticks,
            clock_hz: 90_000,
        }
    }

    fn a(ticks: u64) -> MediaTime {
        MediaTime {
            ticks,
            clock_hz: 48_000,
        }
    }

    #[test]
    fn exact_time_arithmetic_across_clocks() {
        assert!(v(90_000).at_least_after(v(0), Duration::from_secs(1)));
        assert!(!v(89_999).at_least_after(v(0), Duration::from_secs(1)));
        assert!(a(96_000).at_least_after(v(90_000), Duration::from_secs(1)));
        assert!(!a(95_999).at_least_after(v(90_000), Duration::from_secs(1)));
        assert!(a(47_999).before(v(90_000)));
        assert!(!a(48_000).before(v(90_000)));
        // 1.5 s at 48 kHz since 1 s at 90 kHz: 0.5 s = 24_000 ticks.
        assert_eq!(a(72_000).since(v(90_000)), 24_000);
        // Non-integral zero in the other clock: 1 video tick = 0.53 audio ticks.
        assert_eq!(a(1).since(v(1)), 0);
        assert_eq!(a(2).since(v(1)), 1);
        assert!(v(u64::MAX).at_least_after(v(0), Duration::from_secs(1)));
        assert!(!v(0).at_least_after(v(0), Duration::MAX));
    }
}
