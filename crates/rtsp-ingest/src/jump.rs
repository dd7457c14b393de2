//! Timestamp jump detection that tolerates B-frames: independent of retina (whose
//! enforcement refuses any timestamp that goes backwards, which every B-frame does). A
//! jump is a discontinuity, not an error: the stream is re-based so that its timestamps
//! go on from where they were, and the frame is flagged
//! ([`Frame::discontinuity`](crate::Frame::discontinuity)).

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
    /// The newest timestamp handed out (re-based).
    newest: Option<i64>,
    /// What a jumped frame follows the newest one by: one frame.
    step: i64,
    /// Added to the stream's timestamps: the sum of the jumps re-based away.
    offset: i64,
}

impl JumpCheck {
    /// A check for a stream with the given clock: forward jumps above `max_jump_secs`,
    /// backward steps above `backward_ms` (capped by `max_jump_secs`); a jumped frame
    /// follows the newest one by `step_ticks`.
    pub(crate) fn new(
        clock_hz: u32,
        max_jump_secs: NonZeroU32,
        backward_ms: u32,
        step_ticks: u32,
    ) -> Self {
        let max_forward = i64::from(clock_hz) * i64::from(max_jump_secs.get());
        let max_backward = (i64::from(clock_hz) * i64::from(backward_ms) / 1000).min(max_forward);
        Self {
            max_forward,
            max_backward,
            newest: None,
            step: i64::from(step_ticks),
            offset: 0,
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

    /// Places `pts` (the stream's clock) on the stream's re-based timeline: shifted by the
    /// jumps so far; at a new jump the stream is re-based so that this frame follows the
    /// newest one by one step. Returns the re-based timestamp and the jump's size (the
    /// timestamp minus the newest one), if it jumped.
    pub(crate) fn place(&mut self, pts: i64) -> (i64, Option<i64>) {
        let rebased = pts.saturating_add(self.offset);
        match self.check(rebased) {
            Ok(()) => (rebased, None),
            Err(delta) => {
                let next = rebased.saturating_sub(delta).saturating_add(self.step);
                self.offset = self.offset.saturating_add(next - rebased);
                self.newest = Some(next);
                (next, Some(delta))
            }
        }
    }

    /// Checks `pts`; on a jump returns its size (`pts` minus the newest timestamp seen).
    /// A jump does not move the newest timestamp.
    fn check(&mut self, pts: i64) -> Result<(), i64> {
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
        let mut c = JumpCheck::new(90_000, secs(10), 0, 3000);
        c.check(1_000).unwrap();
        c.check(1_000 + 900_000).unwrap(); // exactly 10 s: allowed
        assert_eq!(c.check(1_000 + 1_800_001), Err(900_001));
        // The jump did not move the newest timestamp.
        c.check(1_000 + 1_800_000).unwrap();
    }

    #[test]
    fn backward_within_tolerance_of_the_newest() {
        let mut c = JumpCheck::new(90_000, secs(10), VIDEO_REORDER_TOLERANCE_MS, 3000);
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
    fn a_jump_is_rebased_to_follow_the_newest_frame() {
        let mut c = JumpCheck::new(90_000, secs(10), VIDEO_REORDER_TOLERANCE_MS, 3000);
        assert_eq!(c.place(0), (0, None));
        assert_eq!(c.place(3000), (3000, None));
        // One hour ahead: re-based to one frame after 3000, and so is what follows.
        let hour = 3600 * 90_000;
        assert_eq!(c.place(hour + 6000), (6000, Some(hour + 3000)));
        assert_eq!(c.place(hour + 9000), (9000, None));
        // B-frames after the jump are still within the tolerance.
        assert_eq!(c.place(hour + 7500), (7500, None));
        // Three seconds back from there: re-based again.
        let back = hour + 9000 - 270_000;
        assert_eq!(c.place(back), (12_000, Some(-270_000)));
        assert_eq!(c.place(back + 3000), (15_000, None));
    }

    #[test]
    fn no_tolerance_means_any_step_back_is_a_jump() {
        let mut c = JumpCheck::new(48_000, secs(10), 0, 1024);
        c.check(1_024).unwrap();
        c.check(1_024).unwrap(); // equal: not backwards
        assert_eq!(c.check(1_023), Err(-1));
    }

    #[test]
    fn tolerance_is_capped_by_the_limit() {
        // A 1 s limit with a 5 s tolerance: 1 s both ways.
        let mut c = JumpCheck::new(1_000, secs(1), 5_000, 33);
        c.check(10_000).unwrap();
        c.check(9_000).unwrap();
        assert_eq!(c.check(8_999), Err(-1_001));
        c.check(11_000).unwrap();
        assert_eq!(c.check(12_001), Err(1_001));
    }
}
