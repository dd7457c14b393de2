//! Timestamp jump detection that tolerates B-frames: independent of retina (whose
//! enforcement refuses any timestamp that goes backwards, which every B-frame does).

use std::num::NonZeroU32;

/// How far (at most) a video frame may be presented before the newest frame seen so far
/// without being a jump: B-frames arrive after the later frames they refer to, a few frame
/// intervals at most. One second covers any real reorder depth (16 frames at 16 fps);
/// capped by the forward limit.
pub(crate) const VIDEO_REORDER_TOLERANCE_MS: u32 = 1000;

/// One stream's check: a timestamp more than `max_forward` after the newest seen so far,
/// or more than `max_backward` before it, is a jump.
#[derive(Debug)]
pub(crate) struct JumpCheck {
    max_forward: i64,
    max_backward: i64,
    newest: Option<i64>,
}

impl JumpCheck {
    /// A check for a stream with the given clock: forward jumps above `max_jump_secs`,
    /// backward steps above `backward_ms` (capped by `max_jump_secs`).
    pub(crate) fn new(clock_hz: u32, max_jump_secs: NonZeroU32, backward_ms: u32) -> Self {
        let max_forward = i64::from(clock_hz) * i64::from(max_jump_secs.get());
        let max_backward = (i64::from(clock_hz) * i64::from(backward_ms) / 1000).min(max_forward);
        Self {
            max_forward,
            max_backward,
            newest: None,
        }
    }

    /// The largest forward step allowed, in clock units.
    pub(crate) fn max_forward_ticks(&self) -> i64 {
        self.max_forward
    }

    /// The largest backward step allowed, in clock units.
    pub(crate) fn max_backward_ticks(&self) -> i64 {
        self.max_backward
    }

    /// Checks `pts`; on a jump returns its size (`pts` minus the newest timestamp seen).
    /// A jump does not move the newest timestamp.
    pub(crate) fn check(&mut self, pts: i64) -> Result<(), i64> {
        let Some(newest) = self.newest else {
            self.newest = Some(pts);
            return Ok(());
        };
        let delta = pts.saturating_sub(newest);
        if delta > self.max_forward || delta < -self.max_backward {
            return Err(delta);
        }
        self.newest = Some(newest.max(pts));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u32) -> NonZeroU32 {
        NonZeroU32::new(s).unwrap()
    }

    #[test]
    fn forward_limit_is_inclusive() {
        let mut c = JumpCheck::new(90_000, secs(10), 0);
        c.check(1_000).unwrap();
        c.check(1_000 + 900_000).unwrap(); // exactly 10 s: allowed
        assert_eq!(c.check(1_000 + 1_800_001), Err(900_001));
        // The jump did not move the newest timestamp.
        c.check(1_000 + 1_800_000).unwrap();
    }

    #[test]
    fn backward_within_tolerance_of_the_newest() {
        let mut c = JumpCheck::new(90_000, secs(10), VIDEO_REORDER_TOLERANCE_MS);
        c.check(900_000).unwrap();
        // B-frames: earlier than the newest, by up to 1 s.
        c.check(897_000).unwrap();
        c.check(810_000).unwrap(); // exactly 1 s back
        assert_eq!(c.check(809_999), Err(-90_001));
        // The tolerance counts from the newest, not from the previous frame.
        c.check(906_000).unwrap();
        c.check(816_000).unwrap();
        assert_eq!(c.check(815_999), Err(-90_001));
        // Three seconds back: a jump.
        assert_eq!(c.check(906_000 - 270_000), Err(-270_000));
    }

    #[test]
    fn no_tolerance_means_any_step_back_is_a_jump() {
        let mut c = JumpCheck::new(48_000, secs(10), 0);
        c.check(1_024).unwrap();
        c.check(1_024).unwrap(); // equal: not backwards
        assert_eq!(c.check(1_023), Err(-1));
    }

    #[test]
    fn tolerance_is_capped_by_the_limit() {
        // A 1 s limit with a 5 s tolerance: 1 s both ways.
        let mut c = JumpCheck::new(1_000, secs(1), 5_000);
        c.check(10_000).unwrap();
        c.check(9_000).unwrap();
        assert_eq!(c.check(8_999), Err(-1_001));
        c.check(11_000).unwrap();
        assert_eq!(c.check(12_001), Err(1_001));
    }
}
